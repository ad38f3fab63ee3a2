"""The ingress's audit trail without a broker: one record per event request (published or refused) with its
agency, API key id, client and event ids; a full queue drops (counted) instead of holding a request back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import CollectorRegistry

from bus.metrics import IngressMetrics
from bus.settings import Settings
from bus.topics import audit_topic_plan
from producers.ingress.audit import PUBLISHED, REFUSED, AuditRecord, AuditTrail
from producers.ingress.auth import ApiKeyStore
from tests import publishing_samples as samples
from tests.unit.test_ingress_app import BATCH, JSON, fake_ingress

pytestmark = pytest.mark.unit


@dataclass
class Audited:
    client: httpx.AsyncClient
    records: list[AuditRecord]
    token: str


class ListSink(list[AuditRecord]):
    def append(self, record: AuditRecord) -> None:
        super().append(record)


@pytest.fixture
async def audited() -> AsyncIterator[Audited]:
    store = ApiKeyStore()
    token = store.add_key(samples.HCMC)
    records = ListSink()
    app = fake_ingress(store=store, audit=records)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress.test") as client:
        yield Audited(client, records, token)


async def _post(audited: Audited, path: str, body: object, *, token: str | None = None) -> int:
    headers = {**(JSON if path == "/v1/events" else BATCH)}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    answer = await audited.client.post(path, content=json.dumps(body).encode(), headers=headers)
    return answer.status_code


async def test_every_event_request_leaves_one_record(audited: Audited) -> None:
    key_id = audited.token.split("_")[1]
    batch = [samples.dossier(1), samples.dossier(2)]
    assert (await _post(audited, "/v1/events:batch", batch, token=audited.token)) == 202
    forged = samples.dossier(3, source=samples.GOV_OFFICE)  # HCMC's key may not speak for the Office
    assert (await _post(audited, "/v1/events", forged, token=audited.token)) == 403
    assert (await _post(audited, "/v1/events", samples.dossier(4))) == 401
    broken = {**samples.dossier(5), "time": "yesterday"}
    assert (await _post(audited, "/v1/events", broken, token=audited.token)) == 422
    published, refused, anonymous, invalid = audited.records
    assert (published.outcome, published.status, published.path) == (PUBLISHED, 202, "/v1/events:batch")
    assert published.event_ids == tuple(e["id"] for e in batch)
    assert (published.agency, published.api_key_id, published.client) == (samples.HCMC, key_id, "192.0.2.7")
    assert (refused.outcome, refused.status, refused.problem) == (REFUSED, 403, "source-not-allowed")
    assert refused.event_ids == (forged["id"],)
    assert (anonymous.status, anonymous.agency, anonymous.api_key_id, anonymous.event_ids) == (
        401,
        None,
        None,
        (),
    )
    assert (invalid.status, invalid.event_ids) == (422, (broken["id"],))  # the ids the body had
    assert json.loads(json.dumps(published.to_json()))["outcome"] == "published"


async def test_a_full_queue_drops_and_counts_without_waiting() -> None:
    settings = Settings()
    settings.audit.queue_max = 3
    registry = CollectorRegistry()
    trail = AuditTrail(settings, IngressMetrics(registry))  # never started: nothing drains the queue
    record = AuditRecord(0, "/v1/events", 202, None, samples.HCMC, "k", "127.0.0.1", ("e",))
    started = time.perf_counter()
    for _ in range(10):
        trail.append(record)
    assert time.perf_counter() - started < 0.05
    assert trail.dropped == 7
    dropped = registry.get_sample_value("lgsp_ingress_audit_dropped_total", {"reason": "queue-full"})
    assert dropped == 7.0
    await trail.close()  # closing a trail that never reached Kafka drops what is left, counted
    assert registry.get_sample_value("lgsp_ingress_audit_dropped_total", {"reason": "kafka"}) == 3.0


async def test_an_unreachable_broker_never_holds_a_request_back() -> None:
    settings = Settings()
    settings.kafka.bootstrap_servers = "127.0.0.1:1"  # nothing listens: the trail keeps retrying
    trail = AuditTrail(settings)
    await trail.start()
    try:
        record = AuditRecord(0, "/v1/events", 202, None, samples.HCMC, "k", None, ())
        started = time.perf_counter()
        for _ in range(100):
            trail.append(record)
        assert time.perf_counter() - started < 0.05
        await asyncio.sleep(0.1)
        assert trail.written == 0
    finally:
        await trail.close()
    assert trail.dropped == 100


def test_the_audit_topic_keeps_records_for_the_configured_days() -> None:
    settings = Settings()
    settings.audit.retention_days = 30
    plan = audit_topic_plan(settings, prefix="p.")
    assert plan.name == "p.lgsp.audit"
    assert plan.configs["retention.ms"] == str(30 * 86_400_000)
    assert plan.configs["cleanup.policy"] == "delete"
    assert plan.configs["message.timestamp.type"] == "LogAppendTime"
