"""The bad-input corpus against the ingress app in-process, with a recording publisher: no broker, seconds.

The same cases and the same judgement as ``test_ingress_bad_input.py`` (which runs them against a real
``lgsp ingress`` and real Kafka), for a fast signal while changing the ingress or the event contracts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass, field

import httpx
import pytest

from bus.authz import Principal
from bus.events import EVENT_TYPES, Event
from bus.events.record import EventRecord
from bus.publisher import Delivery
from bus.settings import Settings
from bus.topics import topic_for
from producers.ingress.app import create_app
from producers.ingress.auth import ApiKeyStore
from producers.ingress.routes import FixedKeys
from producers.ingress.service import Check
from tests.faults import rawhttp
from tests.faults.badinput import INGRESS_LIMITS, MAX_BATCH_EVENTS, MAX_BODY_BYTES, bases, judge
from tests.faults.corpus import VALID_KEY, Case, Corpus, spoofable_source
from tests.faults.ingress_client import GOV_OFFICE

pytestmark = pytest.mark.unit


@dataclass
class RecordingPublisher:
    """Confirms everything it is given, and remembers it (nothing may reach it)."""

    published: list[EventRecord] = field(default_factory=list)

    async def publish_records(
        self, events: Sequence[EventRecord], *, on_behalf: Sequence[Principal] | None = None
    ) -> list[Delivery]:
        self.published.extend(events)
        return [Delivery(e.event_id, "t", 0, i) for i, e in enumerate(events)]

    async def prepare(self, types: Iterable[type[Event]] = ()) -> None:
        return None

    async def present_topics(self, topics: Collection[str], timeout_s: float) -> set[str]:
        return set(topics)

    async def cluster_topics(self, timeout_s: float) -> set[str]:  # the earlier name of the probe
        return {topic_for(t) for t in EVENT_TYPES.values()}


@dataclass(frozen=True)
class App:
    client: httpx.AsyncClient
    token: str
    publisher: RecordingPublisher
    cases: list[Case]


@pytest.fixture(scope="module")
async def app() -> AsyncIterator[App]:
    valid = bases()
    granted = {e.meta.source for e in valid} | {GOV_OFFICE}
    keys = ApiKeyStore()
    token = keys.add_key(GOV_OFFICE, grants=sorted(granted - {GOV_OFFICE}))
    settings = Settings.model_validate({"ingress": INGRESS_LIMITS})

    async def registry_ok(_timeout: float) -> Check:
        return Check(True, "reachable")

    publisher = RecordingPublisher()
    ingress = create_app(settings, publisher=publisher, keys=FixedKeys(keys), registry_probe=registry_ok)
    transport = httpx.ASGITransport(app=ingress, raise_app_exceptions=False)
    cases = Corpus(valid, spoofable_source(granted), MAX_BODY_BYTES, MAX_BATCH_EVENTS).build()
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
        yield App(client, token, publisher, cases)


async def answer(app: App, case: Case) -> rawhttp.Answer:
    headers: dict[bytes, bytes] = {}
    if case.content_type is not None:
        headers[b"content-type"] = case.content_type.encode()
    if case.authorization == VALID_KEY:
        headers[b"authorization"] = f"Bearer {app.token}".encode()
    elif case.authorization is not None:
        headers[b"authorization"] = case.authorization.encode()
    response = await app.client.request(case.method, case.path, content=case.body, headers=headers)
    return rawhttp.Answer(response.status_code, dict(response.headers), response.content)


async def wrong_answers(app: App, cases: Sequence[Case]) -> list[str]:
    before = len(app.publisher.published)
    problems = [p for case in cases if (p := judge(case, await answer(app, case))) is not None]
    if len(app.publisher.published) != before:
        problems.append(f"{len(app.publisher.published) - before} events were handed to the publisher")
    return problems


async def test_the_corpus_gets_clear_refusals_in_process(app: App) -> None:
    cases = app.cases
    assert len(cases) >= 300
    problems = await wrong_answers(app, cases)
    assert problems == [], "\n".join(problems[:30])
