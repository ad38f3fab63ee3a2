"""What a fault test offered, what the Publisher confirmed or reported unconfirmed, and what Kafka holds.

The ledger is the test's side of the contract: every offered event must come back either confirmed (a
:class:`~bus.publisher.Delivery`, or counted as confirmed by a ``PublishError``) or named in
``PublishError.unconfirmed`` — an event that is neither was dropped silently, and :meth:`Ledger.record_error`
fails the test. :func:`scan_topics` reads back every record so each confirmation can be checked against
what Kafka stored.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bus.cloudevents import parse_kafka_headers
from bus.errors import PublishError
from bus.events import Event
from bus.publisher import Delivery, Publisher
from tests.integration.kafka_read import Kafka, end_offsets, read_all


@dataclass
class Ledger:
    """Per event id: offered, confirmed (with where, when known), reported unconfirmed."""

    offered: dict[str, Event] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    reported_unconfirmed: set[str] = field(default_factory=set)
    resent: set[str] = field(default_factory=set)
    chunks_ok: int = 0
    chunks_failed: int = 0
    partial_failures: int = 0
    in_flight: bool = False
    errors: list[str] = field(default_factory=list)

    def offer(self, events: Iterable[Event]) -> list[str]:
        ids = []
        for event in events:
            event_id = str(event.meta.event_id)
            self.offered.setdefault(event_id, event)
            ids.append(event_id)
        return ids

    def record_ok(self, deliveries: Sequence[Delivery], ids: Sequence[str]) -> None:
        if [d.id for d in deliveries] != list(ids):
            raise AssertionError("the Publisher returned deliveries that do not match the events, in order")
        for delivery in deliveries:
            self.deliveries[delivery.id] = delivery
        self.confirmed.update(ids)
        self.pending.difference_update(ids)
        self.chunks_ok += 1

    def record_error(self, exc: PublishError, ids: Sequence[str]) -> None:
        unconfirmed = set(exc.unconfirmed)
        if not unconfirmed <= set(ids):
            raise AssertionError(
                f"PublishError names ids that were not in the call: {unconfirmed - set(ids)}"
            )
        if exc.confirmed + len(unconfirmed) != len(ids):
            raise AssertionError(
                f"PublishError accounts for {exc.confirmed} confirmed + {len(unconfirmed)} unconfirmed "
                f"of {len(ids)} events: some were neither confirmed nor reported"
            )
        now_confirmed = set(ids) - unconfirmed
        self.confirmed.update(now_confirmed)
        self.pending.difference_update(now_confirmed)
        self.pending.update(unconfirmed - self.confirmed)
        self.reported_unconfirmed.update(unconfirmed)
        self.chunks_failed += 1
        if exc.confirmed:
            self.partial_failures += 1
        self.errors.append(str(exc)[:300])

    def events(self, ids: Iterable[str]) -> list[Event]:
        return [self.offered[i] for i in ids]

    def confirmed_events(self) -> list[Event]:
        """The confirmed events, in the order they were offered."""
        return [event for event_id, event in self.offered.items() if event_id in self.confirmed]


async def publish_chunk(publisher: Publisher, ledger: Ledger, chunk: Sequence[Event]) -> bool:
    """Publish one chunk and book the outcome; True if all of it was confirmed."""
    ids = ledger.offer(chunk)
    ledger.in_flight = True
    try:
        deliveries = await publisher.publish_many(chunk)
    except PublishError as exc:
        ledger.record_error(exc, ids)
        return False
    finally:
        ledger.in_flight = False
    ledger.record_ok(deliveries, ids)
    return True


async def resend_pending(publisher: Publisher, ledger: Ledger, *, attempts: int = 5, size: int = 500) -> None:
    """Resend every unconfirmed event unchanged (same ids), as the Publisher's contract tells callers to."""
    for _ in range(attempts):
        if not ledger.pending:
            return
        pending = [i for i in ledger.offered if i in ledger.pending]
        ledger.resent.update(pending)
        for start in range(0, len(pending), size):
            await publish_chunk(publisher, ledger, ledger.events(pending[start : start + size]))
    if ledger.pending:
        raise AssertionError(f"{len(ledger.pending)} events still unconfirmed after {attempts} resends")


@dataclass(frozen=True)
class TopicScan:
    """Every record of the scanned topics: event id → copies, and (topic, partition, offset) → event id."""

    copies: Counter[str]
    at: dict[tuple[str, int, int], str]
    records: int

    def missing(self, ids: Iterable[str]) -> set[str]:
        return {i for i in ids if self.copies[i] == 0}

    def duplicated(self, ids: Iterable[str]) -> set[str]:
        return {i for i in ids if self.copies[i] > 1}

    def misplaced(self, deliveries: Iterable[Delivery]) -> list[Delivery]:
        """Deliveries whose (topic, partition, offset) does not hold their event."""
        return [d for d in deliveries if self.at.get((d.topic, d.partition, d.offset)) != d.id]


async def scan_topics(bootstrap: Kafka, topics: Sequence[str]) -> TopicScan:
    """Read every record of ``topics`` and index it by CloudEvents id."""
    records: list[Any] = await read_all(bootstrap, topics)
    copies: Counter[str] = Counter()
    at: dict[tuple[str, int, int], str] = {}
    for record in records:
        event_id = parse_kafka_headers(record.headers).get("id", "")
        copies[event_id] += 1
        at[(record.topic, record.partition, record.offset)] = event_id
    return TopicScan(copies, at, len(records))


async def topic_ends(bootstrap: Kafka, topics: Sequence[str]) -> dict[tuple[str, int], int]:
    """End offset per (topic, partition)."""
    ends = await end_offsets(bootstrap, topics)
    return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}


async def feed(
    publisher: Publisher, ledger: Ledger, batches: Sequence[Sequence[Event]], *, pace_s: float = 0.0
) -> None:
    """Publish ``batches`` one after another, booking each outcome; failures do not stop the feed.

    ``pace_s`` spreads the traffic over time, so that a fault injected meanwhile lands mid-stream.
    """
    for batch in batches:
        await publish_chunk(publisher, ledger, batch)
        if pace_s:
            await asyncio.sleep(pace_s)
