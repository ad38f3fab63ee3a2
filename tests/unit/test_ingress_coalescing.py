"""The ingress's request path beyond the routes: single events of concurrent requests published together,
each still answered on its own, and admission decided before the body is read."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from bus.authz import Principal
from bus.cloudevents import from_structured
from bus.errors import PublishError
from bus.events import Event
from bus.events.record import EventRecord, record_of
from bus.publisher import Delivery, EventEncodingError
from bus.settings import Settings
from producers.ingress import app as ingress_app
from producers.ingress.app import create_app, front
from producers.ingress.auth import ApiKeyStore
from producers.ingress.problems import ProblemError, ProblemKind
from producers.ingress.routes import FixedKeys
from producers.ingress.service import (
    CachedProbe,
    Check,
    Coalescer,
    PublishService,
    ingress_publisher_settings,
)
from producers.ingress.workers import worker_count
from tests import publishing_samples as samples

pytestmark = pytest.mark.unit


@dataclass
class Recorder:
    """Acknowledges every call (offsets count up), remembering each call's event ids; ``bad`` ids do not
    encode; ``broken`` makes a call of several events fail mid-publish."""

    calls: list[list[str]] = field(default_factory=list)
    bad: set[str] = field(default_factory=set)
    broken: bool = False

    async def publish_records(
        self, events: Sequence[EventRecord], *, on_behalf: Sequence[Principal] | None = None
    ) -> list[Delivery]:
        ids = [e.event_id for e in events]
        self.calls.append(ids)
        for index, event_id in enumerate(ids):
            if event_id in self.bad:
                raise EventEncodingError("does not fit", index=index, event_id=event_id)
        if self.broken and len(ids) > 1:
            error = PublishError(
                "not confirmed", unconfirmed=ids[1:], deliveries=[Delivery(ids[0], "lgsp.x", 0, 0)]
            )
            error.__cause__ = TimeoutError("no ack")
            raise error
        return [Delivery(event_id, "lgsp.x", 0, index) for index, event_id in enumerate(ids)]

    async def prepare(self, types: Iterable[type[Event]] = ()) -> None:
        return None

    async def present_topics(self, topics: Collection[str], timeout_s: float) -> set[str]:
        return set(topics)


def _events(count: int) -> list[EventRecord]:
    return [record_of(from_structured(samples.dossier(n))) for n in range(count)]


async def test_concurrent_single_events_share_one_publish_and_each_gets_its_delivery() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder)
    events = _events(5)
    deliveries = await asyncio.gather(*(coalescer.publish(e) for e in events))
    assert recorder.calls == [[e.event_id for e in events]]
    assert [d.id for d in deliveries] == [e.event_id for e in events]


async def test_a_lone_event_is_published_alone() -> None:
    recorder = Recorder()
    (event,) = _events(1)
    delivery = await Coalescer(recorder).publish(event)
    assert recorder.calls == [[event.event_id]]
    assert delivery.id == event.event_id


async def test_an_event_that_does_not_encode_fails_only_its_own_request() -> None:
    events = _events(3)
    recorder = Recorder(bad={events[1].event_id})
    coalescer = Coalescer(recorder)
    outcomes = await asyncio.gather(*(coalescer.publish(e) for e in events), return_exceptions=True)
    assert isinstance(outcomes[1], EventEncodingError)
    assert [d.id for d in outcomes if isinstance(d, Delivery)] == [
        events[0].event_id,
        events[2].event_id,
    ]
    assert len(recorder.calls) == 4  # the shared call, then each event alone (nothing of the shared one sent)


async def test_a_shared_publish_failing_names_each_requests_own_event_unconfirmed() -> None:
    events = _events(3)
    coalescer = Coalescer(Recorder(broken=True))
    outcomes = await asyncio.gather(*(coalescer.publish(e) for e in events), return_exceptions=True)
    # Kafka confirmed the first event before the call failed: that request succeeded.
    assert outcomes[0] == Delivery(events[0].event_id, "lgsp.x", 0, 0)
    for event, outcome in zip(events[1:], outcomes[1:], strict=True):
        assert isinstance(outcome, PublishError)
        assert outcome.unconfirmed == [event.event_id]
        assert isinstance(outcome.__cause__, TimeoutError)


async def test_events_arriving_in_different_turns_within_the_linger_share_one_publish() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder, linger_s=30.0, max_events=3)
    events = _events(3)

    async def arriving(event: EventRecord, delay_s: float) -> Delivery:
        await asyncio.sleep(delay_s)
        return await coalescer.publish(event)

    # The third event fills the group: it goes then, not after the 30 s linger.
    deliveries = await asyncio.wait_for(
        asyncio.gather(*(arriving(e, 0.01 * i) for i, e in enumerate(events))), timeout=10
    )
    assert recorder.calls == [[e.event_id for e in events]]
    assert [d.id for d in deliveries] == [e.event_id for e in events]


async def test_a_lone_event_waits_the_linger_for_company() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder, linger_s=0.05)
    (event,) = _events(1)
    request = asyncio.create_task(coalescer.publish(event))
    for _ in range(5):
        await asyncio.sleep(0)
    assert recorder.calls == []  # a linger of 0 would have published it by now
    assert (await request).id == event.event_id
    assert recorder.calls == [[event.event_id]]


def test_the_ingress_publisher_does_not_linger_again() -> None:
    settings = Settings()
    settings.producer.linger_ms = 25
    own = ingress_publisher_settings(settings)
    assert own.producer.linger_ms == 0
    assert settings.producer.linger_ms == 25
    assert own.producer.model_dump(exclude={"linger_ms"}) == settings.producer.model_dump(
        exclude={"linger_ms"}
    )
    assert own.model_dump(exclude={"producer"}) == settings.model_dump(exclude={"producer"})


async def test_single_event_requests_wait_the_producer_linger_together() -> None:
    settings = Settings()
    settings.producer.linger_ms = 30_000
    settings.ingress.max_batch_events = 2  # the second request fills the group
    store = ApiKeyStore()
    token = store.add_key(samples.HCMC)
    recorder = Recorder()
    app = create_app(
        settings, publisher=recorder, keys=FixedKeys(store), registry=CollectorRegistry(),
        registry_probe=lambda _t: _ok(),
    )  # fmt: skip
    events = [samples.dossier(n) for n in (1, 2)]
    bodies = [json.dumps(event).encode() for event in events]

    async def request(body: bytes, delay_s: float) -> int:
        await asyncio.sleep(delay_s)
        return (await _call(app, token, body))[0]

    statuses = await asyncio.wait_for(asyncio.gather(request(bodies[0], 0), request(bodies[1], 0.02)), 10)
    assert list(statuses) == [202, 202]
    assert recorder.calls == [[event["id"] for event in events]]


def _service(publisher: Recorder, *, max_in_flight: int, kafka: Check | None = None) -> PublishService:
    async def probe(_timeout: float) -> Check:
        return kafka or Check(True, "reachable")

    return PublishService(publisher, gate=CachedProbe(probe), max_in_flight=max_in_flight, retry_after_s=3)


async def test_admission_holds_a_place_until_the_request_is_done() -> None:
    service = _service(Recorder(), max_in_flight=1)
    with service.admit("000.00.00.H29"):
        assert service.in_flight == 1
        with pytest.raises(ProblemError) as refused, service.admit("000.00.00.H29"):
            pass
    assert refused.value.kind is ProblemKind.OVERLOADED
    assert refused.value.headers == {"Retry-After": "3"}
    assert service.in_flight == 0
    with service.admit("000.00.00.H29"):  # the place is free again
        assert service.in_flight == 1


async def test_admission_is_503_once_kafka_is_known_down() -> None:
    service = _service(Recorder(), max_in_flight=4, kafka=Check(False, "unreachable"))
    await service._gate.get()  # the probe has answered
    with pytest.raises(ProblemError) as refused, service.admit("000.00.00.H29"):
        pass
    assert refused.value.kind is ProblemKind.UNAVAILABLE
    assert service.in_flight == 0


async def test_a_full_ingress_refuses_before_reading_the_body() -> None:
    settings = Settings()
    settings.ingress.max_in_flight = 1
    store = ApiKeyStore()
    token = store.add_key(samples.HCMC)
    entered, release = asyncio.Event(), asyncio.Event()

    class Waiting(Recorder):
        async def publish_records(
            self, events: Sequence[EventRecord], *, on_behalf: Sequence[Principal] | None = None
        ) -> list[Delivery]:
            entered.set()
            await release.wait()
            return await super().publish_records(events)

    app = create_app(
        settings, publisher=Waiting(), keys=FixedKeys(store), registry=CollectorRegistry(),
        registry_probe=lambda _t: _ok(),
    )  # fmt: skip
    first = asyncio.create_task(_call(app, token, json.dumps(samples.dossier(1)).encode()))
    await entered.wait()  # the first request holds the only place while Kafka "acknowledges"
    reads: list[bytes] = []
    status, headers = await _call(app, token, b"{", reads=reads)
    assert status == 429
    assert headers[b"retry-after"] == b"2"
    assert reads == []  # the refused request's body was never asked for
    release.set()
    assert (await first)[0] == 202


async def _ok() -> Check:
    return Check(True, "reachable")


async def _call(
    app: Any, token: str, body: bytes, *, reads: list[bytes] | None = None
) -> tuple[int, dict[bytes, bytes]]:
    """One request straight through ASGI, noting in ``reads`` each time the app asks for the body."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/events", "raw_path": b"/v1/events", "query_string": b"", "root_path": "",
        "headers": [
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/cloudevents+json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    answer: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        if reads is not None:
            reads.append(body)
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = dict(message["headers"])

    await app(scope, receive, send)
    return answer["status"], answer["headers"]


def test_zero_workers_means_one_per_cpu() -> None:
    assert worker_count(3) == 3
    assert worker_count(0) >= 1


async def test_the_served_front_answers_and_counts_like_the_app() -> None:
    store = ApiKeyStore()
    token = store.add_key(samples.HCMC)
    metrics = CollectorRegistry()
    app = create_app(
        Settings(), publisher=Recorder(), keys=FixedKeys(store), registry=metrics,
        registry_probe=lambda _t: _ok(),
    )  # fmt: skip
    headers = {"authorization": f"Bearer {token}", "content-type": "application/cloudevents+json"}
    transport = httpx.ASGITransport(app=front(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress.test") as client:
        event = samples.dossier(1)
        accepted = await client.post("/v1/events", json=event, headers=headers)
        malformed = await client.post("/v1/events", content=b"{", headers=headers)
        wrong_method = await client.get("/v1/events")
        healthy = await client.get("/healthz")
    assert accepted.status_code == 202
    assert accepted.json()["id"] == event["id"]
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == "application/problem+json"
    assert wrong_method.status_code == 405
    assert healthy.status_code == 200
    for status in ("202", "400", "405"):
        value = metrics.get_sample_value(
            "lgsp_ingress_requests_total", {"route": "/v1/events", "status": status}
        )
        assert value == 1.0, status


@pytest.mark.parametrize("freeze", [True, False])
async def test_a_served_ingress_freezes_what_start_up_built(
    monkeypatch: pytest.MonkeyPatch, freeze: bool
) -> None:
    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))  # the real one would pin the test's heap
    app = create_app(
        Settings(), publisher=Recorder(), keys=FixedKeys(ApiKeyStore()), registry=CollectorRegistry(),
        registry_probe=lambda _t: _ok(), freeze_gc=freeze,
    )  # fmt: skip
    async with app.router.lifespan_context(app):
        assert frozen == ([True] if freeze else [])


def test_serve_asks_the_app_to_freeze(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[bool] = []

    def recording_create_app(settings: Settings, **kwargs: Any) -> Any:
        asked.append(kwargs.get("freeze_gc", False))
        return create_app(
            settings, publisher=Recorder(), keys=FixedKeys(ApiKeyStore()), registry=CollectorRegistry()
        )

    monkeypatch.setattr(ingress_app, "create_app", recording_create_app)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    settings = Settings()
    settings.ingress.workers = 1
    assert ingress_app.serve(settings, host="127.0.0.1", port=0) == 0
    assert asked == [True]
