"""Poison on the real broker and registry.

Garbage bytes, an unknown schema id and a schema-valid event from an unknown agency each land in
``<topic>.dlq`` with their reason; the builder carries on; the counts add up; ``lgsp dlq show`` lists them
and ``lgsp dlq replay`` sends them back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner, Result

from bus.consumer.dlq_tools import read_dead_letters
from bus.events import DossierSynced
from bus.publisher import Publisher
from bus.registry import SchemaRegistryClient
from bus.serde import AvroSerializer, SerializationContext
from bus.settings import Settings
from bus.topics import ensure_topics
from consumers.base import Grain, Level, ViewQuery
from consumers.service import run_views
from consumers.viewset import ViewSet
from lgsp.cli import app
from tests import views_samples as s

pytestmark = pytest.mark.integration


def views_settings(settings: Settings, prefix: str, tmp_path: Path, decode_workers: int = 0) -> Settings:
    return settings.model_copy(
        update={
            "topics": settings.topics.model_copy(update={"prefix": prefix, "partitions": 2}),
            "store": settings.store.model_copy(update={"url": f"sqlite:///{tmp_path}/views.db"}),
            "views": settings.views.model_copy(
                update={
                    "group_id": f"{prefix}views",
                    "poll_timeout_ms": 200,
                    "decode_workers": decode_workers,
                }
            ),
            "registry": settings.registry.model_copy(update={"auto_register": True}),
        }
    )


async def unknown_agency_bytes(settings: Settings, topic: str) -> bytes:
    """A DossierSynced that fits its Avro schema but names an agency missing from the catalog."""
    valid = s.dossier(s.code(9999), 1)
    meta = valid.meta.model_copy(update={"source": "000.00.00.G99"})
    bad = valid.model_copy(update={"meta": meta})  # model_copy skips validation, as a foreign producer would
    async with SchemaRegistryClient(settings.registry) as registry:
        serializer = AvroSerializer(registry, auto_register=True)
        await serializer.prepare([DossierSynced])
        return serializer.serialize(bad, SerializationContext(topic))


@pytest.mark.parametrize("decode_workers", [0, 2], ids=["in-process", "decode-workers"])
async def test_poison_goes_to_the_dlq_and_the_builder_goes_on(
    settings: Settings,
    topic_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    decode_workers: int,
) -> None:
    """The same verdicts whatever ``views.decode_workers`` says: with workers, the views' checks (the keyring
    among them) go with the records into the worker processes."""
    caplog.set_level(logging.INFO, logger="bus.consumer.service")
    config = views_settings(settings, topic_prefix, tmp_path, decode_workers)
    await ensure_topics(config, prefix=topic_prefix)
    topic = f"{topic_prefix}lgsp.dossiers"
    good = [s.dossier(s.code(n), 1, status="RESOLVED", finished_days=1) for n in range(30)]
    async with Publisher(config) as publisher:
        await publisher.publish_many(good[:15])
        poison = [
            b"this is not avro",
            struct.pack(">bI", 0, 2_000_000_000) + b"\x02\x04",  # framing fine, id unknown to the registry
            await unknown_agency_bytes(config, topic),
        ]
        producer = AIOKafkaProducer(bootstrap_servers=config.kafka.bootstrap_servers, acks="all")
        await producer.start()
        try:
            for n, value in enumerate(poison):
                await producer.send_and_wait(
                    topic, value=value, key=f"P-{n}".encode(), headers=[("ce_id", b"p")]
                )
        finally:
            await producer.stop()
        await publisher.publish_many(good[15:])

    stats = await run_views(config, stop=asyncio.Event(), until_caught_up=True)

    assert (stats.records, stats.applied, stats.dead_lettered) == (33, 30, 3)
    assert not [r for r in caplog.records if "not used" in r.getMessage()]
    in_workers = [r for r in caplog.records if "decodes and checks in 2 worker processes" in r.getMessage()]
    assert len(in_workers) == (1 if decode_workers else 0)
    letters = await read_dead_letters(config, [f"{topic}.dlq"])
    assert sorted(letter.reason for letter in letters) == [
        "bad-wire-format",
        "unknown-agency",
        "unknown-schema",
    ]
    for letter in letters:
        assert letter.info["topic"] == topic
        assert letter.info["group"] == f"{topic_prefix}views"
        assert letter.original_headers == [("ce_id", b"p")]
        assert letter.value in poison
    (agency_letter,) = [x for x in letters if x.reason == "unknown-agency"]
    assert agency_letter.info["error_class"] == "UnknownAgencyError"
    assert "G99" in agency_letter.info["message"]

    views = ViewSet.from_settings(config)
    try:
        (nation,) = views.query("dossiers", ViewQuery(level=Level.NATION, grain=Grain.ALL)).rows
        assert (nation["received"], nation["resolved"]) == (30, 30)
        assert sum(views.offsets().values()) == 33  # every record dealt with, the poison included
    finally:
        views.close()

    # The CLI reads the same letters, and a replay sends them back to be judged again.
    monkeypatch.setenv("LGSP_KAFKA__BOOTSTRAP_SERVERS", config.kafka.bootstrap_servers)
    monkeypatch.setenv("LGSP_REGISTRY__URL", config.registry.url)
    monkeypatch.setenv("LGSP_TOPICS__PREFIX", topic_prefix)
    monkeypatch.setenv("LGSP_STORE__URL", config.store.url)
    monkeypatch.setenv("LGSP_VIEWS__GROUP_ID", f"{topic_prefix}views")
    runner = CliRunner()

    async def cli(*args: str) -> Result:  # the CLI runs its own event loop: give it a thread
        return await asyncio.to_thread(lambda: runner.invoke(app, list(args)))

    shown = await cli("dlq", "show", "--topic", "lgsp.dossiers", "--json")
    assert shown.exit_code == 0, shown.output
    assert sorted(json.loads(line)["reason"] for line in shown.output.splitlines()) == [
        "bad-wire-format",
        "unknown-agency",
        "unknown-schema",
    ]
    table = await cli("dlq", "show", "--topic", "lgsp.dossiers")
    assert table.exit_code == 0, table.output
    assert max(len(line) for line in table.output.splitlines()) <= 100, table.output
    assert "unknown-agency" in table.output
    assert "source agency" in table.output

    # The agency is still unknown: judged again, the letter would fail again, so it is not sent.
    group = ["--group", f"{topic_prefix}replay"]
    dry = await cli("dlq", "replay", "--reason", "unknown-agency", "--dry-run", *group)
    assert dry.exit_code == 0, dry.output
    assert "would replay 0 of 3" in dry.output
    assert "1 would still be dead-lettered (unknown-agency: 1)" in dry.output
    kept = await cli("dlq", "replay", "--reason", "unknown-agency", *group)
    assert "replayed 0 of 3" in kept.output, kept.output
    forced = await cli("dlq", "replay", "--reason", "unknown-agency", "--force", *group)
    assert "replayed 1 of 3" in forced.output, forced.output
    # Never the same letter twice: the forced one is remembered, the two left out by --reason stay pending.
    twice = await cli("dlq", "replay", "--reason", "unknown-agency", "--force", "--dry-run", *group)
    assert "would replay 0 of 3" in twice.output, twice.output
    assert "1 were replayed before" in twice.output, twice.output

    again = await run_views(config, stop=asyncio.Event(), until_caught_up=True)
    assert (again.records, again.applied, again.dead_lettered) == (1, 0, 1)  # still poison: back to the DLQ
    assert len(await read_dead_letters(config, [f"{topic}.dlq"])) == 4
