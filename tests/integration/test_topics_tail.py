"""``lgsp topics tail`` as a user runs it (a subprocess) on events published to the real broker."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from bus.publisher import Publisher
from bus.settings import Settings
from bus.topics import ensure_topics, topic_for
from tests import publishing_samples as samples

pytestmark = pytest.mark.integration

LGSP = str(Path(sys.executable).with_name("lgsp"))


async def lgsp_tail(settings: Settings, *args: str) -> tuple[int, str, str]:
    environment = {
        **os.environ,
        "LGSP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "LGSP_REGISTRY__URL": settings.registry.url,
        "LGSP_TOPICS__PREFIX": settings.topics.prefix,
    }
    process = await asyncio.create_subprocess_exec(
        LGSP, "topics", "tail", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=environment,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
async def published(settings: Settings, topic_prefix: str) -> tuple[Settings, list[dict[str, Any]]]:
    """Five dossier events (the third and fifth of one dossier) and then a record that is not Avro."""
    settings.topics.prefix = topic_prefix
    settings.topics.partitions = 3
    settings.registry.auto_register = True
    await ensure_topics(settings)
    objs = [samples.dossier(1), samples.dossier(2), samples.dossier(3), samples.dossier(4)]
    objs.append(samples.dossier(3, version=2))
    async with Publisher(settings) as publisher:
        for obj in objs:  # one by one: the records' timestamps keep this order
            await publisher.publish(samples.event(obj))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic_for("DossierSynced", prefix=topic_prefix), b"not avro", key=b"junk"
        )
    finally:
        await producer.stop()
    return settings, objs


async def test_tail_prints_the_last_events_decoded_oldest_first(
    published: tuple[Settings, list[dict[str, Any]]],
) -> None:
    settings, objs = published
    code, out, err = await lgsp_tail(settings, "dossiers", "--json", "-n", "3")
    assert code == 0, err
    lines = _lines(out)
    assert [line.get("event", {}).get("id") for line in lines[:2]] == [objs[3]["id"], objs[4]["id"]]
    assert lines[1]["event"]["data"]["version"] == 2
    assert lines[1]["event"]["data"]["dossier_code"] == objs[4]["data"]["dossier_code"]
    assert lines[1]["event"]["type"] == "vn.gov.lgsp.dossier.DossierSynced"
    assert lines[2]["key"] == "junk"
    assert "event" not in lines[2]
    assert lines[2]["error"].startswith("SerializationError")


async def test_tail_from_the_beginning_and_by_key(published: tuple[Settings, list[dict[str, Any]]]) -> None:
    settings, objs = published
    code, out, err = await lgsp_tail(settings, "lgsp.dossiers", "--from-beginning", "-n", "2", "--json")
    assert code == 0, err
    assert [line["event"]["id"] for line in _lines(out)] == [objs[0]["id"], objs[1]["id"]]
    key = objs[2]["data"]["dossier_code"]
    code, out, err = await lgsp_tail(settings, "dossiers", "--key", key, "--json")
    assert code == 0, err
    assert [line["event"]["id"] for line in _lines(out)] == [objs[2]["id"], objs[4]["id"]]
    assert {line["key"] for line in _lines(out)} == {key}


async def test_tail_text_and_a_missing_topic(published: tuple[Settings, list[dict[str, Any]]]) -> None:
    settings, objs = published
    code, out, err = await lgsp_tail(
        settings, "dossiers", "-n", "1", "--key", objs[0]["data"]["dossier_code"]
    )
    assert code == 0, err
    assert out.startswith(topic_for("DossierSynced", prefix=settings.topics.prefix))
    assert objs[0]["id"] in out
    assert "1 event from" in err
    code, _, err = await lgsp_tail(settings, "no.such.topic")
    assert code == 1
    assert "does not exist" in err
