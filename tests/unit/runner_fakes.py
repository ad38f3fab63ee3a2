"""In-memory stand-ins for the runner's collaborators: a consumer group member, a deserializer, a DLQ producer
and a transactional sink. Each records what happened, in one shared ``log``, so tests can check order."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaConnectionError

from bus.consumer.types import Batch, Partition
from bus.errors import (
    LgspError,
    RegistryUnavailableError,
    SerializationError,
    UnknownAgencyError,
    UnknownSchemaError,
    ValidationError,
)
from bus.events import Event
from bus.events.record import EventRecord
from bus.types import SchemaId

GOOD_ID = 7
UNKNOWN_ID = 404


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp: int = field(default_factory=lambda: int(time.time() * 1000))
    timestamp_type: int = 0


def wire(schema_id: int, payload: bytes) -> bytes:
    """Confluent framing around a fake payload."""
    return struct.pack(">bI", 0, schema_id) + payload


class FakeDeserializer:
    """Payloads: ``#<n>`` is ``events[n]``; ``!invalid`` and ``!agency`` raise validation errors."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = list(events)
        self.outages = 0
        """How many coming ``prepare_ids`` calls answer with a registry outage for every id."""
        self.prepared: set[int] = set()

    @staticmethod
    def schema_id_of(data: bytes) -> SchemaId:
        if len(data) < 5 or data[0] != 0:
            raise SerializationError("not Confluent framing")
        return SchemaId(struct.unpack_from(">I", data, 1)[0])

    async def prepare_ids(self, ids: Iterable[SchemaId]) -> dict[SchemaId, LgspError]:
        wanted = set(ids)
        if self.outages > 0 and wanted:
            self.outages -= 1
            return {i: RegistryUnavailableError("registry down") for i in wanted}
        failed: dict[SchemaId, LgspError] = {}
        for schema_id in wanted:
            if schema_id == UNKNOWN_ID:
                failed[schema_id] = UnknownSchemaError(f"schema id {schema_id} is unknown")
            else:
                self.prepared.add(schema_id)
        return failed

    def deserialize(self, data: bytes, ctx: Any) -> Event:
        schema_id = self.schema_id_of(data)
        if schema_id not in self.prepared:
            raise SerializationError("not prepared")
        payload = data[5:]
        if payload == b"!invalid":
            raise ValidationError("data.due_at: before received_at", field="data.due_at", rule="dossier.due")
        if payload == b"!agency":
            raise UnknownAgencyError("meta.source: agency not in the catalog", field="meta.source")
        if not payload.startswith(b"#"):
            raise SerializationError("bytes do not decode")
        return self.events[int(payload[1:])]


class FakeProducer:
    """A DLQ producer whose sends are acknowledged unless ``failures`` is still positive."""

    def __init__(self, log: list[str]) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
        self.failures = 0
        self._log = log

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.failures > 0:
            self.failures -= 1
            future.set_exception(KafkaConnectionError("broker away"))
            self._log.append("dlq-failed")
        else:
            self.sent.append((topic, key, value, list(headers or ())))
            future.set_result(None)
            self._log.append("dlq-acked")
        return future


@dataclass
class FakeSink:
    """A store: ``apply`` records events and offsets atomically, or fails as told."""

    log: list[str]
    offsets: dict[Partition, int] = field(default_factory=dict)
    applied: list[EventRecord] = field(default_factory=list)
    failures: list[LgspError] = field(default_factory=list)
    """Errors the next ``apply`` calls raise, one each."""
    load_failures: list[LgspError] = field(default_factory=list)
    gate: asyncio.Event | None = None
    """If set, ``apply`` waits for it (to hold a batch "in hand")."""
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    before_failure: Callable[[], None] | None = None
    """Called just before a failure is raised (e.g. another member commits meanwhile)."""

    async def load_offsets(self) -> dict[Partition, int]:
        if self.load_failures:
            raise self.load_failures.pop(0)
        return dict(self.offsets)

    async def apply(self, batch: Batch) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.log.append("store-failed")
            if self.before_failure is not None:
                self.before_failure()
            raise self.failures.pop(0)
        for events in batch.events.values():
            self.applied.extend(events)
        self.offsets.update(batch.next_offsets)
        self.log.append("store-committed")


class FakeConsumer:
    """One member of a consumer group over in-memory partition logs."""

    def __init__(
        self, logs: Mapping[TopicPartition, list[Record]], *, group_offsets: Mapping[Any, int] | None = None
    ) -> None:
        self.logs = dict(logs)
        self.positions: dict[TopicPartition, int] = {}
        self.group_offsets = dict(group_offsets or {})
        """What Kafka's group would say; the runner must ignore it in favour of the store."""
        self.committed: dict[TopicPartition, int] = {}
        self.assigned: set[TopicPartition] = set()
        self.paused: set[TopicPartition] = set()
        self.listener: ConsumerRebalanceListener | None = None
        self.stopped = False
        self.before_return: Callable[[], Awaitable[None]] | None = None
        """Runs inside ``getmany`` after records are taken and before they are returned (rebalance races)."""
        self.before_take: Callable[[], Awaitable[None]] | None = None
        """Runs inside ``getmany`` before records are taken: they then come from the positions it set."""

    def subscribe(self, topics: Sequence[str], *, listener: ConsumerRebalanceListener) -> None:
        self.listener = listener

    def assign(self, partitions: list[TopicPartition]) -> None:
        """Manual assignment: these partitions, no group, no listener."""
        self.assigned = set(partitions)
        for tp in partitions:
            self.positions[tp] = self.group_offsets.get(tp, 0)

    async def start(self) -> None:
        if self.listener is not None:  # subscribed; a manual assignment is in place already
            await self.rebalance(set(self.logs))

    async def rebalance(self, assignment: set[TopicPartition]) -> None:
        """Revoke everything, then assign ``assignment`` (the eager protocol aiokafka uses)."""
        assert self.listener is not None
        await self.listener.on_partitions_revoked(set(self.assigned))
        self.assigned = set(assignment)
        for tp in assignment:  # a new owner starts from the group's committed offset
            self.positions[tp] = self.group_offsets.get(tp, 0)
        await self.listener.on_partitions_assigned(set(assignment))

    async def stop(self) -> None:
        self.stopped = True

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Record]]:
        await asyncio.sleep(0)
        if self.before_take is not None:
            hook, self.before_take = self.before_take, None
            await hook()
        budget = max_records or 1_000_000
        out: dict[TopicPartition, list[Record]] = {}
        for tp in sorted(self.assigned - self.paused):
            log = self.logs[tp]
            start = self.positions[tp]
            taken = log[start : start + budget]
            if taken:
                out[tp] = taken
                self.positions[tp] = start + len(taken)
                budget -= len(taken)
        if self.before_return is not None:
            hook, self.before_return = self.before_return, None
            await hook()
        return out

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.positions[partition] = offset

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self.positions[tp] = 0

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def highwater(self, partition: TopicPartition) -> int | None:
        return len(self.logs[partition])

    async def position(self, partition: TopicPartition) -> int:
        return self.positions[partition]

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self.committed.update(offsets)

    async def topics(self) -> set[str]:
        return {tp.topic for tp in self.logs}

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {tp.partition for tp in self.logs if tp.topic == topic} or None

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.logs[tp]) for tp in partitions}

    async def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 0)

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(partitions)
