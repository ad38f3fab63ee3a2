"""The ingress app end to end in-process (httpx ASGI transport) with a fake publisher: every answer class."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from bus.authz import Principal
from bus.errors import BrokerUnavailableError, PublishError, RegistryUnavailableError
from bus.events import Event
from bus.events.record import EventRecord
from bus.publisher import Delivery, EventEncodingError
from bus.settings import Settings
from producers.ingress.app import create_app
from producers.ingress.audit import AuditSink
from producers.ingress.auth import ApiKeyStore, KeyRefusal
from producers.ingress.routes import FixedKeys
from producers.ingress.service import Check
from tests import publishing_samples as samples

pytestmark = pytest.mark.unit

TOPICS = {"lgsp.documents", "lgsp.dossiers", "lgsp.reports"}
JSON = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}


@dataclass
class FakePublisher:
    """Acknowledges every event (offsets count up) unless told to fail or to wait."""

    published: list[list[EventRecord]] = field(default_factory=list)
    fail_with: Exception | None = None
    kafka_down: bool = False
    gate: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def publish_records(
        self, events: Sequence[EventRecord], *, on_behalf: Sequence[Principal] | None = None
    ) -> list[Delivery]:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append(list(events))
        base = sum(len(b) for b in self.published) - len(events)
        return [Delivery(e.event_id, "lgsp.x", 0, base + i) for i, e in enumerate(events)]

    async def prepare(self, types: Iterable[type[Event]] = ()) -> None:
        return None

    async def present_topics(self, topics: Collection[str], timeout_s: float) -> set[str]:
        if self.kafka_down:
            raise BrokerUnavailableError("Kafka did not answer")
        return set(topics) & TOPICS


@dataclass
class Probe:
    ok: bool = True

    async def __call__(self, timeout_s: float) -> Check:
        if not self.ok:
            raise RegistryUnavailableError("registry unreachable")
        return Check(True, "reachable")


def fake_ingress(
    settings: Settings | None = None,
    store: ApiKeyStore | None = None,
    *,
    probe: Probe | None = None,
    audit: AuditSink | None = None,
) -> FastAPI:
    """The ingress app on fakes: a :class:`FakePublisher`, the keys of ``store`` (none by default), metrics
    of its own and a registry probe (reachable by default)."""
    return create_app(
        settings or Settings(),
        publisher=FakePublisher(),
        keys=FixedKeys(store or ApiKeyStore()),
        registry=CollectorRegistry(),
        registry_probe=probe or Probe(),
        audit=audit,
    )


@dataclass
class Ingress:
    app: FastAPI
    client: httpx.AsyncClient
    publisher: FakePublisher
    registry_probe: Probe
    metrics: CollectorRegistry
    token: str
    settings: Settings

    async def post(
        self, path: str, body: Any, headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"authorization": f"Bearer {self.token}", **JSON, **(headers or {})}
        return await self.client.post(path, content=content, headers=sent, **kw)


@pytest.fixture
async def ingress() -> AsyncIterator[Ingress]:
    settings = Settings()
    settings.ingress.max_batch_events = 20
    settings.ingress.max_body_bytes = 64 * 1024
    settings.ingress.max_in_flight = 1
    store = ApiKeyStore()
    token = store.add_key(samples.HCMC, grants=[samples.GOV_OFFICE])
    publisher, probe, metrics = FakePublisher(), Probe(), CollectorRegistry()
    app = create_app(
        settings, publisher=publisher, keys=FixedKeys(store), registry=metrics, registry_probe=probe
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ingress.test"
    ) as client:
        yield Ingress(app, client, publisher, probe, metrics, token, settings)


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == status
    return body


async def test_one_event_is_accepted_with_its_delivery(ingress: Ingress) -> None:
    event = samples.dossier(1)
    response = await ingress.post("/v1/events", event)
    assert response.status_code == 202
    assert response.json() == {"id": event["id"], "topic": "lgsp.x", "partition": 0, "offset": 0}
    assert [e.event_id for e in ingress.publisher.published[0]] == [event["id"]]


async def test_plain_json_is_accepted_too(ingress: Ingress) -> None:
    response = await ingress.post("/v1/events", samples.dossier(1), {"content-type": "application/json"})
    assert response.status_code == 202


async def test_a_batch_is_accepted_whole_with_deliveries_in_request_order(ingress: Ingress) -> None:
    events = [samples.dossier(i) for i in range(5)] + [samples.document_sent(9)]  # G22 is granted
    response = await ingress.post("/v1/events:batch", events, BATCH)
    assert response.status_code == 202
    body = response.json()
    assert body["count"] == 6
    assert [d["id"] for d in body["events"]] == [e["id"] for e in events]
    assert len(ingress.publisher.published) == 1


async def test_no_key_is_401_with_a_bearer_challenge(ingress: Ingress) -> None:
    response = await ingress.client.post("/v1/events", content=json.dumps(samples.dossier(1)), headers=JSON)
    _problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="lgsp-ingress"'
    assert ingress.publisher.published == []


async def test_a_wrong_key_is_401_invalid_token(ingress: Ingress) -> None:
    response = await ingress.post(
        "/v1/events", samples.dossier(1), {"authorization": "Bearer lgsp_0123456789ab_" + "x" * 43}
    )
    _problem(response, 401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "unknown" in response.headers["www-authenticate"]


async def test_a_revoked_key_is_told_apart_from_an_unknown_one(ingress: Ingress) -> None:
    """RFC 6750 error_description: "revoked" (ask for the current key) vs "unknown" (a wrong key)."""
    store = ingress.app.state.ingress.keys.current()
    store.revoke(samples.HCMC)
    revoked = await ingress.post("/v1/events", samples.dossier(1))
    assert _problem(revoked, 401)["detail"] == KeyRefusal.REVOKED.value
    challenge = revoked.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="lgsp-ingress", error="invalid_token", error_description="')
    assert "revoked" in challenge
    malformed = await ingress.post("/v1/events", samples.dossier(1), {"authorization": "Bearer nonsense"})
    assert _problem(malformed, 401)["detail"] == KeyRefusal.MALFORMED.value
    assert ingress.publisher.published == []


async def test_a_source_not_covered_by_the_key_is_403_and_nothing_is_published(ingress: Ingress) -> None:
    events = [samples.dossier(1), samples.report(2)]  # the Ministry of Finance is not HCMC's to speak for
    body = _problem(await ingress.post("/v1/events:batch", events, BATCH), 403)
    refused = f"{samples.HCMC} may not publish for {samples.FINANCE}"
    assert body["errors"] == [
        {"field": "[1].source", "rule": "source-allowed", "message": refused},
        {"field": "[1].data.reporting_agency", "rule": "agency-allowed", "message": refused},
    ]
    assert ingress.publisher.published == []


async def test_a_department_of_the_province_may_be_published_for(ingress: Ingress) -> None:
    response = await ingress.post("/v1/events", samples.dossier(1, source=samples.HCMC_JUSTICE))
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/v1/events", "text/plain"), ("/v1/events", "application/cloudevents-batch+json"),
     ("/v1/events:batch", "application/cloudevents+json"), ("/v1/events", "application/xml")],
)  # fmt: skip
async def test_a_wrong_content_type_is_415(ingress: Ingress, path: str, content_type: str) -> None:
    body = [samples.dossier(1)] if path.endswith("batch") else samples.dossier(1)
    _problem(await ingress.post(path, body, {"content-type": content_type}), 415)
    assert ingress.publisher.published == []


async def test_a_declared_length_over_the_limit_is_413(ingress: Ingress) -> None:
    response = await ingress.post("/v1/events", b"{}", {"content-length": str(10**9)})
    _problem(response, 413)


async def test_a_streamed_body_over_the_limit_is_413(ingress: Ingress) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    headers = {"authorization": f"Bearer {ingress.token}", **BATCH}
    response = await ingress.client.post("/v1/events:batch", content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    _problem(response, 413)


async def test_too_many_events_in_a_batch_is_413(ingress: Ingress) -> None:
    body = _problem(
        await ingress.post("/v1/events:batch", [samples.dossier(i) for i in range(21)], BATCH), 413
    )
    assert body["errors"][0]["rule"] == "max-events"
    assert ingress.publisher.published == []


@pytest.mark.parametrize("body", [b"{not json", b"\xc3\x28{}", b"[1, 2]", b'"text"'])
async def test_malformed_bodies_are_400(ingress: Ingress, body: bytes) -> None:
    _problem(await ingress.post("/v1/events", body), 400)
    assert ingress.publisher.published == []


async def test_one_bad_event_fails_the_whole_batch_with_422(ingress: Ingress) -> None:
    bad = samples.dossier(3)
    bad["data"]["due_at"] = "2025-06-01T00:00:00Z"  # before received_at
    events = [samples.dossier(1), samples.dossier(2), bad]
    body = _problem(await ingress.post("/v1/events:batch", events, BATCH), 422)
    assert body["errors"][0]["field"] == "[2].data.due_at"
    assert body["errors"][0]["rule"] == "dossier.due_after_received"
    assert ingress.publisher.published == []


async def test_document_v2_fields_are_accepted_and_published(ingress: Ingress) -> None:
    reply, revocation = samples.document_sent(4), samples.document_revoked(4)
    assert (await ingress.post("/v1/events:batch", [reply, revocation], BATCH)).status_code == 202
    (published,) = ingress.publisher.published
    sent, revoked = (e.avro for e in published)
    assert (sent["response_for"], sent["signing_authority"]) == (reply["data"]["response_for"], "ON_BEHALF")
    assert revoked["business_type"] == "REVOKE"
    assert revoked["referenced_document_id"] == reply["data"]["document_id"]
    assert revoked["business_reason"] == revocation["data"]["business_reason"]


async def test_a_new_document_giving_a_revocation_reason_is_422_naming_the_rule(ingress: Ingress) -> None:
    wrong = samples.document_sent(5)
    wrong["data"]["business_reason"] = "Sai sót"
    body = _problem(await ingress.post("/v1/events", wrong), 422)
    assert (body["errors"][0]["field"], body["errors"][0]["rule"]) == (
        "data.business_reason",
        "document.business_reason",
    )
    assert ingress.publisher.published == []


async def test_unknown_type_is_422_naming_type(ingress: Ingress) -> None:
    body = _problem(await ingress.post("/v1/events", samples.dossier(1) | {"type": "com.example.Nope"}), 422)
    assert body["errors"][0]["field"] == "type"
    assert body["errors"][0]["rule"] == "known-type"


async def test_five_independent_mistakes_are_five_entries_each_naming_its_field_and_a_fix(
    ingress: Ingress,
) -> None:
    # #19's acceptance over HTTP: an envelope error and four data errors of different kinds in one request,
    # all answered at once, so the integrator fixes them in one round trip
    event = samples.dossier(1)
    event["time"] = "2025-07-03T09:30:00"  # no UTC offset
    data = event["data"]
    del data["status"]
    data["channel"] = "online"
    data["received_at"] = "20250701083000"  # the portal's yyyyMMddHHmmss
    data["sectr_name"] = "Hộ tịch"  # a field this type does not have (a misspelt name is two entries:
    # the unknown field and the missing one)
    body = _problem(await ingress.post("/v1/events", event), 422)
    rules = {entry["field"]: entry["rule"] for entry in body["errors"]}
    assert len(body["errors"]) == len(rules), "one entry per field here"
    assert rules == {
        "time": "timezone_aware",
        "data.status": "missing",
        "data.channel": "enum",
        "data.received_at": "timestamp.format",
        "data.sectr_name": "extra_forbidden",
    }
    fixes = {entry["field"]: entry["hint"] for entry in body["errors"]}
    assert "2025-07-03T09:30:00+07:00" in fixes["time"]  # this very time, with an offset
    assert fixes["data.status"] == "add data.status"
    assert fixes["data.channel"] == "did you mean 'ONLINE'?"
    assert "2025-07-01T08:30:00+07:00" in fixes["data.received_at"]  # the portal form, converted
    assert "'sector_name'" in fixes["data.sectr_name"]
    assert all(entry["message"] for entry in body["errors"])
    assert ingress.publisher.published == []


async def test_duplicate_ids_in_a_batch_are_422(ingress: Ingress) -> None:
    first = samples.dossier(1)
    body = _problem(
        await ingress.post("/v1/events:batch", [first, samples.dossier(2) | {"id": first["id"]}], BATCH), 422
    )
    assert body["errors"][0]["rule"] == "unique"


async def test_an_event_that_does_not_encode_is_422_naming_its_index(ingress: Ingress) -> None:
    ingress.publisher.fail_with = EventEncodingError("does not fit", index=1, event_id="x")
    body = _problem(
        await ingress.post("/v1/events:batch", [samples.dossier(1), samples.dossier(2)], BATCH), 422
    )
    assert body["errors"][0]["field"] == "[1]"


async def test_too_many_publishes_in_flight_is_429_with_retry_after(ingress: Ingress) -> None:
    ingress.publisher.gate = asyncio.Event()
    first = asyncio.create_task(ingress.post("/v1/events", samples.dossier(1)))
    await ingress.publisher.entered.wait()
    response = await ingress.post("/v1/events", samples.dossier(2))
    _problem(response, 429)
    assert response.headers["retry-after"] == str(ingress.settings.ingress.retry_after_s)
    ingress.publisher.gate.set()
    assert (await first).status_code == 202
    assert len(ingress.publisher.published) == 1


async def test_kafka_known_down_is_503_and_nothing_is_handed_to_the_producer(ingress: Ingress) -> None:
    ingress.publisher.kafka_down = True
    assert (await ingress.client.get("/readyz")).status_code == 503  # the probe has seen it down
    response = await ingress.post("/v1/events", samples.dossier(1))
    _problem(response, 503)
    assert "retry-after" in response.headers
    assert not ingress.publisher.entered.is_set()


async def test_kafka_failing_mid_publish_is_503_naming_the_unconfirmed(ingress: Ingress) -> None:
    events = [samples.dossier(1), samples.dossier(2)]
    ingress.publisher.fail_with = PublishError("not confirmed", unconfirmed=[events[1]["id"]], confirmed=1)
    body = _problem(await ingress.post("/v1/events:batch", events, BATCH), 503)
    assert body["unconfirmed"] == [events[1]["id"]]
    assert body["confirmed"] == 1


async def test_the_registry_unavailable_is_503(ingress: Ingress) -> None:
    ingress.publisher.fail_with = RegistryUnavailableError("registry timed out")
    response = await ingress.post("/v1/events", samples.dossier(1))
    _problem(response, 503)
    assert "retry-after" in response.headers


async def test_health_and_readiness(ingress: Ingress) -> None:
    assert (await ingress.client.get("/healthz")).json() == {"status": "ok"}
    ready = await ingress.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["kafka"]["ok"] is True


async def test_not_ready_when_the_registry_does_not_answer() -> None:
    settings = Settings()
    app = fake_ingress(settings, probe=Probe(ok=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/readyz")
    assert response.status_code == 503  # no lifespan ran: no schema id was resolved
    assert response.json()["checks"]["registry"] == {
        "ok": False,
        "detail": "registry unreachable",
        "schemas_cached": False,
    }


async def test_ready_but_degraded_when_the_registry_is_down_after_every_schema_id_was_cached() -> None:
    settings = Settings()
    app = fake_ingress(settings, probe=Probe(ok=False))
    async with (
        app.router.lifespan_context(app),  # the warm-up resolves every schema id
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["registry"]["schemas_cached"] is True


async def test_not_ready_when_a_topic_is_missing() -> None:
    settings = Settings()
    settings.topics.prefix = "elsewhere."
    app = fake_ingress(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert "elsewhere.lgsp.dossiers" in response.json()["checks"]["kafka"]["detail"]


async def test_unknown_paths_and_methods_are_problems(ingress: Ingress) -> None:
    _problem(await ingress.client.get("/v2/events"), 404)
    _problem(await ingress.client.get("/v1/events"), 405)


async def test_each_problem_type_is_documented_at_its_uri(ingress: Ingress) -> None:
    response = await ingress.client.get("/problems/invalid-event")
    assert response.json()["status"] == 422
    _problem(await ingress.client.get("/problems/nope"), 404)


async def test_metrics_count_requests_by_route_template_never_raw_paths(ingress: Ingress) -> None:
    await ingress.post("/v1/events", samples.dossier(1))
    await ingress.post("/v1/events", b"{")
    await ingress.client.get("/problems/too-large")
    await ingress.client.get("/no/such/thing/123")
    text = (await ingress.client.get("/metrics")).text
    assert 'lgsp_ingress_requests_total{route="/v1/events",status="202"} 1.0' in text
    assert 'lgsp_ingress_requests_total{route="/v1/events",status="400"} 1.0' in text
    assert 'route="/problems/{slug}"' in text
    routes = set(re.findall(r'lgsp_ingress_request[^{]*\{[^}]*route="([^"]+)"', text))
    # The user-facing routes exist from start-up (their 5xx series at 0), whether called or not.
    assert routes == {"/v1/events", "/v1/events:batch", "/problems/{slug}", "<unmatched>"}
    assert 'lgsp_ingress_requests_total{route="/v1/events:batch",status="503"} 0.0' in text
    assert 'lgsp_publish_errors_total{reason="unavailable",topic="unknown"} 0.0' in text
    assert 'lgsp_dependency_up{dependency="kafka"} 1.0' in text
    assert (
        ingress.metrics.get_sample_value(
            "lgsp_ingress_request_duration_seconds_count", {"route": "/v1/events"}
        )
        == 2
    )


async def test_the_documented_example_is_accepted(ingress: Ingress) -> None:
    spec = (await ingress.client.get("/openapi.json")).json()
    example = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert (await ingress.post("/v1/events", example)).status_code == 202


async def test_openapi_documents_the_envelope_with_data_per_event_type(ingress: Ingress) -> None:
    spec = (await ingress.client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/cloudevents+json", "application/json"}
    assert len(schemas["CloudEvent"]["oneOf"]) == 4
    assert "HTTPValidationError" not in schemas
    resource = Resource.from_contents({"components": {"schemas": schemas}}, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:lgsp", resource)
    validator = jsonschema.Draft202012Validator(
        {"$ref": "urn:lgsp#/components/schemas/CloudEvent"}, registry=registry
    )
    for event in samples.mixed(4):
        validator.validate(event)
    broken = samples.dossier(1)
    del broken["data"]["dossier_code"]
    assert not validator.is_valid(broken)
    docs = await ingress.client.get("/docs")
    assert docs.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in docs.text  # served here, not from a CDN
    assert (await ingress.client.get("/docs/assets/swagger-ui-bundle.js")).status_code == 200
