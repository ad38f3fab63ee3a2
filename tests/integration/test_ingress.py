"""The HTTP ingress as a real server (uvicorn on a free port) in front of the real broker and registry.

Every error class is checked to publish nothing: the end offsets of the topics are the same before and after.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bus.cloudevents import parse_kafka_headers
from bus.events import EVENT_TYPES, DossierSynced
from bus.registry import SchemaRegistryClient, record_subject, register_schemas
from bus.schema_drift import UnknownVersion, unknown_latest
from bus.schemas import load_schema
from bus.settings import Settings
from bus.topics import ensure_topics, topic_for
from producers.ingress.app import create_app
from producers.ingress.auth import ApiKeyStore
from tests import publishing_samples as samples
from tests.integration.kafka_read import end_offsets, read_all
from tests.integration.kafka_relay import KafkaRelay

pytestmark = pytest.mark.integration

SINGLE = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}


@dataclass
class Running:
    client: httpx.AsyncClient
    token: str
    settings: Settings
    topics: Sequence[str]

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        sent = {"authorization": f"Bearer {self.token}", **SINGLE, **(headers or {})}
        return await self.client.post(path, content=content, headers=sent)


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The ingress under uvicorn on 127.0.0.1 and a port the OS picks; yields its base URL."""
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the ingress stopped during startup")
        await asyncio.sleep(0.02)  # polls the server's own readiness flag
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def ingress_settings(settings: Settings, topic_prefix: str, tmp_path: Path) -> Settings:
    settings.topics.prefix = topic_prefix
    settings.topics.partitions = 3
    settings.registry.auto_register = True
    settings.ingress.api_keys_file = tmp_path / "keys.json"
    settings.ingress.max_body_bytes = 1024 * 1024
    return settings


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Running]:
    await ensure_topics(settings)
    store = ApiKeyStore()
    token = store.add_key(samples.HCMC)
    store.save(settings.ingress.api_keys_file)
    topics = sorted({topic_for(t, prefix=settings.topics.prefix) for t in EVENT_TYPES.values()})
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield Running(client, token, settings, topics)


@pytest.fixture
async def ingress(ingress_settings: Settings) -> AsyncIterator[Running]:
    async with running(ingress_settings) as ingress:
        yield ingress


def _dossiers(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [samples.dossier(start + i) for i in range(count)]


async def test_a_batch_of_500_lands_complete_and_in_order(ingress: Running) -> None:
    events = _dossiers(500)
    response = await ingress.post("/v1/events:batch", events, BATCH)
    assert response.status_code == 202, response.text
    deliveries = response.json()["events"]
    assert [d["id"] for d in deliveries] == [e["id"] for e in events]

    records = await read_all(ingress.settings.kafka.bootstrap_servers, ingress.topics)
    at = {(r.topic, r.partition, r.offset): parse_kafka_headers(r.headers)["id"] for r in records}
    assert len(records) == 500
    assert all(at[(d["topic"], d["partition"], d["offset"])] == d["id"] for d in deliveries)
    by_partition: dict[tuple[str, int], list[int]] = {}
    for d in deliveries:
        by_partition.setdefault((d["topic"], d["partition"]), []).append(d["offset"])
    assert all(offsets == sorted(offsets) for offsets in by_partition.values())


async def test_one_event_is_acknowledged_with_where_kafka_stored_it(ingress: Running) -> None:
    event = samples.dossier(1)
    response = await ingress.post("/v1/events", event)
    assert response.status_code == 202
    delivery = response.json()
    assert delivery["id"] == event["id"]
    assert delivery["topic"] == topic_for("DossierSynced", prefix=ingress.settings.topics.prefix)


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def test_every_client_error_publishes_nothing(ingress: Running) -> None:
    before = await end_offsets(ingress.settings.kafka.bootstrap_servers, ingress.topics)
    good = _dossiers(3)

    # 400: not JSON, not UTF-8, not the expected shape
    _problem(await ingress.post("/v1/events", b'{"specversion": "1.0",'), 400)
    _problem(await ingress.post("/v1/events", b"\xff\xfe\x00{"), 400)
    _problem(await ingress.post("/v1/events:batch", good[0], BATCH), 400)
    # 401: no key, a wrong key
    unauthenticated = await ingress.client.post("/v1/events", json=good[0])
    assert "www-authenticate" in unauthenticated.headers
    _problem(unauthenticated, 401)
    _problem(
        await ingress.post("/v1/events", good[0], {"authorization": "Bearer lgsp_000000000000_" + "a" * 43}),
        401,
    )
    # 403: a source outside the key's responsibility, even beside good events
    _problem(await ingress.post("/v1/events:batch", [*good, samples.report(1)], BATCH), 403)
    # 413: declared too large, a batch over the count
    big = json.dumps([samples.dossier(i) for i in range(1200)]).encode()
    _problem(await ingress.post("/v1/events:batch", big, BATCH), 413)
    _problem(await ingress.post("/v1/events:batch", _dossiers(1001), BATCH), 413)
    # 415
    _problem(await ingress.post("/v1/events", good[0], {"content-type": "text/plain"}), 415)
    # 422: unknown type, missing field, unknown agency, impossible dates, bad event in a batch, duplicate ids
    missing = samples.dossier(5)
    del missing["data"]["status"]
    impossible = samples.dossier(6)
    impossible["data"]["received_at"] = "2025-02-30T10:00:00Z"
    backwards = samples.dossier(7)
    backwards["data"]["finished_at"] = "2019-01-01T00:00:00Z"
    for bad in (
        samples.dossier(4) | {"type": "vn.gov.lgsp.Unknown"},
        missing,
        samples.dossier(8) | {"source": "000.00.00.H99"},
        impossible,
        backwards,
    ):
        body = _problem(await ingress.post("/v1/events:batch", [*good, bad], BATCH), 422)
        assert body["errors"][0]["field"].startswith("[3]")
    duplicate = _problem(await ingress.post("/v1/events:batch", [*good, good[0]], BATCH), 422)
    assert duplicate["errors"][0]["rule"] == "unique"

    assert await end_offsets(ingress.settings.kafka.bootstrap_servers, ingress.topics) == before


async def test_kafka_unreachable_is_503_and_publishes_nothing(ingress_settings: Settings) -> None:
    real = ingress_settings.kafka.bootstrap_servers
    host, _, port = real.rpartition(":")
    relay = KafkaRelay(host, int(port))
    await relay.start()
    ingress_settings.kafka.bootstrap_servers = relay.bootstrap
    ingress_settings.producer.delivery_timeout_s = 3.0
    try:
        async with running(ingress_settings) as ingress:
            before = await end_offsets(real, ingress.topics)
            assert (await ingress.client.get("/readyz")).status_code == 200
            await relay.cut()
            response = await ingress.post("/v1/events:batch", _dossiers(10), BATCH)
            body = _problem(response, 503)
            assert "Kafka" in body["detail"]
            assert response.headers["retry-after"] == str(ingress_settings.ingress.retry_after_s)
            ready = await ingress.client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["kafka"]["ok"] is False
            assert await end_offsets(real, ingress.topics) == before
    finally:
        await relay.cut()


async def test_the_registry_unreachable_is_503_and_publishes_nothing(
    ingress_settings: Settings, unused_tcp_port: int
) -> None:
    ingress_settings.registry.url = f"http://127.0.0.1:{unused_tcp_port}/apis/ccompat/v7"
    ingress_settings.registry.max_retries = 0
    async with running(ingress_settings) as ingress:
        before = await end_offsets(ingress_settings.kafka.bootstrap_servers, ingress.topics)
        response = await ingress.post("/v1/events", samples.dossier(1))
        _problem(response, 503)
        assert "retry-after" in response.headers
        assert (await ingress.client.get("/readyz")).json()["checks"]["registry"]["ok"] is False
        assert await end_offsets(ingress_settings.kafka.bootstrap_servers, ingress.topics) == before


async def test_too_many_publishes_in_flight_is_429_and_publishes_nothing_more(
    ingress_settings: Settings,
) -> None:
    real = ingress_settings.kafka.bootstrap_servers
    host, _, port = real.rpartition(":")
    relay = KafkaRelay(host, int(port))
    await relay.start()
    ingress_settings.kafka.bootstrap_servers = relay.bootstrap
    ingress_settings.ingress.max_in_flight = 1
    try:
        async with running(ingress_settings) as ingress:
            assert (await ingress.post("/v1/events", samples.dossier(0))).status_code == 202  # warm
            before = await end_offsets(real, ingress.topics)
            relay.pause()  # the first publish now waits for Kafka
            first = asyncio.create_task(ingress.post("/v1/events", samples.dossier(1)))
            await _until_in_flight(ingress, 1)
            response = _problem(await ingress.post("/v1/events:batch", _dossiers(5, start=10), BATCH), 429)
            assert response["status"] == 429
            assert not first.done()
            relay.resume()
            assert (await first).status_code == 202
            after = await end_offsets(real, ingress.topics)
            assert sum(after.values()) - sum(before.values()) == 1
    finally:
        await relay.cut()


async def _until_in_flight(ingress: Running, count: int) -> None:
    """Poll the ingress's own in-flight gauge until ``count`` publishes are running."""
    wanted = f"lgsp_ingress_in_flight_requests {float(count)}"
    for _ in range(3000):
        if wanted in (await ingress.client.get("/metrics")).text:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never {count} publishes in flight")


async def test_readiness_and_metrics_on_the_real_stack(ingress: Running) -> None:
    ready = await ingress.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    await ingress.post("/v1/events", samples.dossier(1))
    text = (await ingress.client.get("/metrics")).text
    assert 'lgsp_ingress_requests_total{route="/v1/events",status="202"} 1.0' in text
    assert "lgsp_events_published_total" in text
    assert "process_cpu_seconds_total" in text


def _later_version(name: str) -> dict[str, Any]:
    """What a later release would register: this release's latest schema plus an optional field."""
    schema = copy.deepcopy(load_schema(name))
    schema["fields"].append({"name": "later_field", "type": ["null", "string"], "default": None})
    return schema


async def _delete_version(settings: Settings, subject: str, version: int) -> None:
    """Soft then hard delete of one subject version (the session's registry is shared by every test)."""
    async with httpx.AsyncClient(base_url=settings.registry.url.rstrip("/") + "/", timeout=30) as http:
        path = f"subjects/{subject}/versions/{version}"
        (await http.delete(path)).raise_for_status()
        (await http.delete(path, params={"permanent": "true"})).raise_for_status()


async def test_a_later_releases_schema_is_logged_and_refused_until_the_ingress_runs_that_release(
    ingress_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # #19 item 4 as documented (docs/integrators.md, "Adding a version"): a running ingress cannot validate
    # a field its models lack, so it refuses it and its OpenAPI lacks it; it tells what to redeploy.
    ingress_settings.registry.auto_register = False  # the subject holds this release's versions, nothing else
    subject = record_subject(DossierSynced.AVRO_NAME)
    async with SchemaRegistryClient(ingress_settings.registry) as registry:
        await register_schemas(registry, sorted(EVENT_TYPES))
        # the real registry's answers match the installed files: no false alarm on every ingress
        assert await unknown_latest(registry, EVENT_TYPES.values()) == []
        await registry.register(subject, _later_version(DossierSynced.AVRO_NAME))
        version = int((await registry.get_version(subject))["version"])
        try:
            with caplog.at_level(logging.WARNING, logger="producers.ingress.app"):
                async with running(ingress_settings) as ingress:
                    for _ in range(500):  # the watch's first round runs at start
                        told = [r.getMessage() for r in caplog.records if "subject version" in r.getMessage()]
                        if told:
                            break
                        await asyncio.sleep(0.02)
                    expected = UnknownVersion(DossierSynced.AVRO_NAME, version, DossierSynced.SCHEMA_VERSION)
                    assert told == [expected.advice()]
                    event = samples.dossier(1)
                    event["data"]["later_field"] = "sent by a client of the later release"
                    body = (await ingress.post("/v1/events", event)).json()
                    assert [(e["field"], e["rule"]) for e in body["errors"]] == [
                        ("data.later_field", "extra_forbidden")
                    ]
                    assert "later_field" not in (await ingress.client.get("/openapi.json")).text
                    assert (await ingress.post("/v1/events", samples.dossier(2))).status_code == 202
        finally:
            await _delete_version(ingress_settings, subject, version)
        assert await unknown_latest(registry, EVENT_TYPES.values()) == []  # the registry as it was
