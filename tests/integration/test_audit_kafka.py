"""The ingress's audit trail on the real broker: a published batch, a refusal and an unauthenticated request
each leave one record on ``lgsp.audit`` (created with its retention), with agency, key id, client and ids."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry

from bus.metrics import IngressMetrics
from bus.publisher import Publisher
from bus.settings import Settings
from bus.topics import admin_kwargs, ensure_topics
from producers.ingress.app import create_app
from producers.ingress.audit import AuditTrail
from producers.ingress.auth import ApiKeyStore
from producers.ingress.routes import FixedKeys
from tests import publishing_samples as samples
from tests.integration.kafka_read import read_all
from tests.integration.test_topics import topic_configs
from tests.unit.test_ingress_app import BATCH, JSON, Probe

pytestmark = pytest.mark.integration


async def test_publishes_and_refusals_are_appended_to_the_audit_topic(
    settings: Settings, topic_prefix: str, tmp_path: Path
) -> None:
    config = settings.model_copy(deep=True)
    config.topics.prefix = topic_prefix
    config.topics.partitions = 1
    config.registry.auto_register = True
    config.audit.retention_days = 30
    await ensure_topics(config, prefix=topic_prefix)
    store = ApiKeyStore()
    token = store.add_key(samples.HCMC)
    registry = CollectorRegistry()
    trail = AuditTrail(config, IngressMetrics(registry))
    await trail.start()
    batch = [samples.dossier(1), samples.dossier(2)]
    forged = samples.dossier(3, source=samples.GOV_OFFICE)
    try:
        async with Publisher(config) as publisher:
            app = create_app(
                config,
                publisher=publisher,
                keys=FixedKeys(store),
                registry=CollectorRegistry(),
                registry_probe=Probe(),
                audit=trail,
            )
            transport = httpx.ASGITransport(app=app, client=("192.0.2.9", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://ingress.test") as http:
                auth = {"authorization": f"Bearer {token}"}
                published = await http.post(
                    "/v1/events:batch", content=json.dumps(batch), headers={**BATCH, **auth}
                )
                refused = await http.post("/v1/events", content=json.dumps(forged), headers={**JSON, **auth})
                anonymous = await http.post(
                    "/v1/events", content=json.dumps(samples.dossier(4)), headers=JSON
                )
        assert (published.status_code, refused.status_code, anonymous.status_code) == (202, 403, 401)
    finally:
        await trail.close()
    assert (trail.written, trail.dropped) == (3, 0)
    assert registry.get_sample_value("lgsp_ingress_audit_written_total") == 3.0

    topic = f"{topic_prefix}lgsp.audit"
    records = await read_all(config.kafka.bootstrap_servers, [topic])
    trail_records = [(r.key, json.loads(r.value)) for r in sorted(records, key=lambda r: r.offset)]
    key_id = token.split("_")[1]
    assert [(key, body["status"], body["outcome"]) for key, body in trail_records] == [
        (samples.HCMC.encode(), 202, "published"),
        (samples.HCMC.encode(), 403, "refused"),
        (b"-", 401, "refused"),
    ]
    first = trail_records[0][1]
    assert first["event_ids"] == [e["id"] for e in batch]
    assert (first["agency"], first["api_key_id"], first["client"]) == (samples.HCMC, key_id, "192.0.2.9")
    assert trail_records[1][1]["event_ids"] == [forged["id"]]
    assert all(r.timestamp_type == 1 for r in records)  # the broker's append time
    admin = AIOKafkaAdminClient(**admin_kwargs(config.kafka))
    await admin.start()
    try:
        configs = await topic_configs(admin, topic)
    finally:
        await admin.close()
    assert configs["retention.ms"] == str(30 * 86_400_000)
    assert configs["cleanup.policy"] == "delete"
