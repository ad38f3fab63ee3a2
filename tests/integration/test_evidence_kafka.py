"""Evidence behind every number, against the real broker and registry: signed events published with the SDK,
the views built, the endpoint and ``lgsp views explain --verify`` listing and re-verifying the records behind
a dossier and a province; a tampered copy written straight to Kafka is in no evidence, and a store whose
evidence is made to point at it is reported by ``--verify``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from bus.events import Event
from bus.metrics import ViewMetrics
from bus.publisher import Publisher
from bus.settings import Settings
from bus.signing import create_agency_key
from bus.signing.keyring import publish_entries
from bus.topics import ensure_topics
from consumers.api import create_app
from consumers.service import run_views
from consumers.store import SqliteStore
from consumers.viewset import ViewSet
from lgsp.cli import app
from tests import views_samples as s
from tests.integration.kafka_read import read_all
from tests.integration.test_runner_poison import views_settings

pytestmark = pytest.mark.integration
D1 = s.code(1)


def _explain(config: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("LGSP_KAFKA__BOOTSTRAP_SERVERS", config.kafka.bootstrap_servers)
    monkeypatch.setenv("LGSP_REGISTRY__URL", config.registry.url)
    monkeypatch.setenv("LGSP_TOPICS__PREFIX", config.topics.prefix)
    monkeypatch.setenv("LGSP_STORE__URL", config.store.url)
    result = CliRunner().invoke(app, ["views", "explain", *args, "--verify", "--json"])
    return result.exit_code, json.loads(result.stdout)


async def test_the_records_behind_a_row_are_listed_and_reverified(
    settings: Settings, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = views_settings(settings, topic_prefix, tmp_path)
    config.views.require_signatures = True
    await ensure_topics(config, prefix=topic_prefix)
    topic = f"{topic_prefix}lgsp.dossiers"
    hcmc = create_agency_key(s.HCMC, tmp_path / "keys")
    await publish_entries(config, [hcmc.entry])
    signing = config.signing.model_copy(
        update={"key_file": hcmc.private_key_file, "key_id": hcmc.entry.key_id, "key_dir": None}
    )
    as_hcmc = config.model_copy(update={"signing": signing})
    events: list[Event] = [
        s.dossier(D1, 1),
        s.dossier(D1, 2, status="RESOLVED", finished_days=1),
        s.dossier(s.code(2), 1),
        s.report(s.HCMC),
    ]
    async with Publisher(as_hcmc) as publisher:
        await publisher.publish_many(events)
    # A tampered copy of D1's first snapshot straight to Kafka: same key and envelope, one byte changed.
    records = await read_all(config.kafka.bootstrap_servers, [topic])
    original = min((r for r in records if D1.encode() in r.value), key=lambda r: r.offset)
    tampered_value = original.value.replace(D1.encode(), s.code(7).encode(), 1)
    assert tampered_value != original.value
    producer = AIOKafkaProducer(bootstrap_servers=config.kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic,
            tampered_value,
            key=original.key,
            headers=list(original.headers),
            partition=original.partition,
        )
    finally:
        await producer.stop()

    stats = await run_views(config, stop=asyncio.Event(), until_caught_up=True)
    assert (stats.applied, stats.dead_lettered) == (4, 1)

    views = ViewSet.from_settings(config)
    try:
        dossier = views.evidence("dossiers", D1)
        assert [r.event_id for r in dossier.records] == [str(e.meta.event_id) for e in events[:2]]
        assert {r.signer for r in dossier.records} == {hcmc.entry.key_id}
        assert {(r.topic, r.partition) for r in dossier.records} == {(topic, original.partition)}
        province = views.evidence("scoreboard", "79")
        assert sorted(r.event_id for r in province.records) == sorted(str(e.meta.event_id) for e in events)
        tampered_at = (topic, sent.partition, sent.offset)
        assert tampered_at not in {(r.topic, r.partition, r.offset) for r in province.records}
        registry = CollectorRegistry()
        transport = httpx.ASGITransport(app=create_app(views, registry, ViewMetrics(registry)))
        async with httpx.AsyncClient(transport=transport, base_url="http://views.test") as http:
            answer = await http.get(f"/v1/views/dossiers/{quote(D1, safe='')}/evidence")
            board = (await http.get("/v1/views/scoreboard")).json()
        assert answer.status_code == 200
        assert [r["offset"] for r in answer.json()["records"]] == [r.offset for r in dossier.records]
        (hcmc_row,) = [row for row in board["rows"] if row["province"] == "79"]
        assert hcmc_row["evidence"] == "/v1/views/scoreboard/79/evidence"
    finally:
        views.close()

    code, listed = await asyncio.to_thread(_explain, config, monkeypatch, "dossiers", D1)
    assert code == 0, listed
    assert [(r["event_id"], r["verified"]) for r in listed["records"]] == [
        (str(e.meta.event_id), "ok") for e in events[:2]
    ]

    # Someone edits the store so that D1's first record points at the tampered copy: --verify reports it.
    store = SqliteStore(str(config.store.url).removeprefix("sqlite:///"))
    try:
        with store.transaction() as txn:
            txn.execute(
                "UPDATE view_evidence SET offset_no = ?"
                " WHERE topic = ? AND partition_no = ? AND offset_no = ?",
                (sent.offset, topic, original.partition, original.offset),
            )
    finally:
        store.close()
    code, listed = await asyncio.to_thread(_explain, config, monkeypatch, "dossiers", D1)
    assert code == 1
    verdicts = {r["offset"]: r["verified"] for r in listed["records"]}
    assert verdicts[sent.offset] == "signature.invalid"
    assert list(verdicts.values()).count("ok") == 1
