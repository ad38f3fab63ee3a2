"""Talking to a real ``lgsp ingress``: an API key that covers the test's sources, and posting events."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import httpx

from bus.cloudevents import to_structured
from bus.events import Event
from bus.publisher import Delivery
from producers.ingress.auth import ApiKeyStore
from tests.faults.ledger import Ledger

GOV_OFFICE: Final = "000.00.00.G22"
SINGLE: Final = "application/cloudevents+json"
BATCH: Final = "application/cloudevents-batch+json"


def issue_key(path: Path, sources: Iterable[str], *, agency: str = GOV_OFFICE) -> str:
    """A key for ``agency`` granted every one of ``sources`` (what ``lgsp ingress keys add --grant`` does)."""
    store = ApiKeyStore.load_or_empty(path)
    token = store.add_key(agency, grants=sorted(set(sources) - {agency}))
    store.save(path)
    return token


def body_of(events: Sequence[Event], *, batch: bool) -> bytes:
    items = [to_structured(event) for event in events]
    return json.dumps(items if batch else items[0], ensure_ascii=False).encode()


async def post(
    client: httpx.AsyncClient, token: str, events: Sequence[Event], *, batch: bool
) -> httpx.Response:
    """POST ``events`` (one, or a batch) with the key; the raw response."""
    path = "/v1/events:batch" if batch else "/v1/events"
    headers = {"authorization": f"Bearer {token}", "content-type": BATCH if batch else SINGLE}
    return await client.post(path, content=body_of(events, batch=batch), headers=headers)


def deliveries_of(response: httpx.Response) -> list[Delivery]:
    """The deliveries of a 202 answer (one event or a batch)."""
    body: dict[str, Any] = response.json()
    items = body.get("events", [body])
    return [Delivery(str(i["id"]), str(i["topic"]), int(i["partition"]), int(i["offset"])) for i in items]


def book(ledger: Ledger, events: Sequence[Event], response: httpx.Response) -> bool:
    """Book an HTTP publish in the ledger: 202 confirms every event; any refusal reports all unconfirmed."""
    ids = ledger.offer(events)
    if response.status_code == 202:
        ledger.record_ok(deliveries_of(response), ids)
        return True
    ledger.pending.update(set(ids) - ledger.confirmed)
    ledger.reported_unconfirmed.update(ids)
    return False
