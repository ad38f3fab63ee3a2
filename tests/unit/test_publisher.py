"""bus.Publisher with a fake producer and an in-memory registry: batching, errors, headers, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import CollectorRegistry

import bus
from bus.cloudevents import parse_kafka_headers
from bus.errors import BrokerError, BrokerUnavailableError, PublishError, ValidationError
from bus.events import Event
from bus.events.record import record_of
from bus.metrics import PublisherMetrics
from bus.producer_port import RecordBatchLike
from bus.publisher import Delivery, EventEncodingError, Publisher
from bus.registry import SchemaRegistryClient
from bus.serde import AvroSerializer, SerializationContext
from bus.settings import Settings
from bus.signing import create_agency_key, load_private_key
from bus.signing.envelope import read_envelope
from bus.signing.keyring import Keyring
from bus.signing.signer import BatchSigner, KeyChain
from bus.signing.verify import Verifier
from tests import publishing_samples as samples
from tests.unit.registry_fake import FakeRegistry
from tests.unit.runner_fakes import Record as ConsumedRecord

pytestmark = pytest.mark.unit

PREFIX = "t."


@dataclass(frozen=True)
class Meta:
    topic: str
    partition: int
    offset: int


@dataclass
class Sent:
    """One record as the producer got it; records of one batch share its future (``position`` in it)."""

    topic: str
    value: bytes
    key: bytes
    headers: list[tuple[str, bytes]]
    partition: int | None = None
    future: asyncio.Future[Any] | None = None
    position: int = 0


@dataclass
class FakeBatch:
    """aiokafka's BatchBuilder as the Publisher uses it: full after ``capacity`` records."""

    capacity: int
    records: list[Sent] = field(default_factory=list)
    closed: bool = False

    def append(
        self, *, timestamp: int | None, key: bytes | None, value: bytes | None, headers: Sequence[Any]
    ) -> object | None:
        if self.closed or len(self.records) >= self.capacity:
            return None
        assert key is not None
        assert value is not None
        self.records.append(Sent("", value, key, list(headers)))
        return object()

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeProducer:
    """Records sends; acknowledges them soon (``auto_ack``) or only when a test says.

    A record's offset is its index in ``sent``; a batch's future gives its first record's.
    """

    auto_ack: bool = True
    fail_send_after: int | None = None
    partition_count: int = 1
    batch_capacity: int = 1000
    sent: list[Sent] = field(default_factory=list)
    batches: list[list[Sent]] = field(default_factory=list)
    pending_at_first_ack: int | None = None
    started: bool = False
    closed: bool = False
    sent_event: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_sent(self, count: int) -> None:
        while len(self.sent) < count:
            self.sent_event.clear()
            await self.sent_event.wait()

    async def start(self) -> None:
        self.started = True

    def _check_buffer(self) -> None:
        if self.fail_send_after is not None and len(self.sent) >= self.fail_send_after:
            raise KafkaTimeoutError("buffer full")

    def _add(self, records: list[Sent]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        for position, record in enumerate(records):
            record.future, record.position = future, position
        self.sent += records
        self.sent_event.set()
        if self.auto_ack:
            asyncio.get_running_loop().call_soon(self.ack_all)
        return future

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes,
        headers: list[tuple[str, bytes]],
        partition: int | None = None,
    ) -> Any:
        self._check_buffer()
        return self._add([Sent(topic, value, key, headers, partition)])

    async def partitions(self, topic: str) -> list[int]:
        return list(range(self.partition_count))

    def create_batch(self) -> RecordBatchLike:
        return FakeBatch(self.batch_capacity)

    async def send_batch(self, batch: RecordBatchLike, topic: str, *, partition: int) -> Any:
        self._check_buffer()
        assert isinstance(batch, FakeBatch)
        assert batch.closed, "the Publisher closes a batch before sending it"
        for record in batch.records:
            record.topic, record.partition = topic, partition
        self.batches.append(batch.records)
        return self._add(batch.records)

    def futures(self) -> list[asyncio.Future[Any]]:
        """Every delivery future, once each, in the order they were handed out."""
        unique: dict[int, asyncio.Future[Any]] = {}
        for record in self.sent:
            assert record.future is not None
            unique.setdefault(id(record.future), record.future)
        return list(unique.values())

    def ack_all(self) -> None:
        pending = [s for s in self.sent if s.future is not None and not s.future.done()]
        if self.pending_at_first_ack is None and pending:
            self.pending_at_first_ack = len(pending)
        for future in self.futures():
            if not future.done():
                self.ack(future)

    def ack(self, future: asyncio.Future[Any]) -> None:
        first = next(i for i, s in enumerate(self.sent) if s.future is future)
        record = self.sent[first]
        future.set_result(Meta(record.topic, record.partition or 0, first))

    def event_ids(self) -> list[str]:
        return [parse_kafka_headers(s.headers)["id"] for s in self.sent]

    async def close(self, timeout_s: float) -> None:
        self.closed = True

    async def present_topics(self, topics: Collection[str], timeout_s: float) -> set[str]:
        return set(topics)


@pytest.fixture
def settings() -> Settings:
    settings = Settings()
    settings.topics.prefix = PREFIX
    settings.registry.auto_register = True
    settings.producer.delivery_timeout_s = 0.2
    return settings


@pytest.fixture
async def registry_client() -> AsyncIterator[SchemaRegistryClient]:
    settings = Settings().registry.model_copy(update={"url": "http://registry.test/apis/ccompat/v7"})
    async with SchemaRegistryClient(settings, transport=FakeRegistry().transport()) as client:
        yield client


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
def prom() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(prom: CollectorRegistry) -> PublisherMetrics:
    return PublisherMetrics(prom)


@pytest.fixture
async def publisher(
    settings: Settings,
    registry_client: SchemaRegistryClient,
    producer: FakeProducer,
    metrics: PublisherMetrics,
) -> AsyncIterator[Publisher]:
    async with Publisher(
        settings, registry=registry_client, metrics=metrics, producer_factory=lambda _s: producer
    ) as publisher:
        yield publisher


def _events(count: int) -> list[Event]:
    return [samples.event(obj) for obj in samples.mixed(count)]


def _value(prom: CollectorRegistry, name: str, **labels: str) -> float:
    return float(prom.get_sample_value(name, labels) or 0.0)


def test_publisher_is_exported_from_bus() -> None:
    assert bus.Publisher is Publisher
    assert bus.Delivery is Delivery


async def test_publish_many_sends_every_record_before_waiting_for_any(
    publisher: Publisher, producer: FakeProducer
) -> None:
    events = _events(40)
    deliveries = await publisher.publish_many(events)
    assert producer.pending_at_first_ack == 40
    assert [d.id for d in deliveries] == [e.meta.event_id for e in events]
    # a delivery's offset is where its record went: its batch's base offset plus its place in the batch
    sent_ids = producer.event_ids()
    assert [d.offset for d in deliveries] == [sent_ids.index(e.meta.event_id) for e in events]


async def test_records_are_keyed_by_entity_with_cloudevents_headers_on_the_catalog_topic(
    publisher: Publisher, producer: FakeProducer
) -> None:
    events = _events(4)
    await publisher.publish_many(events)
    by_id = dict(zip(producer.event_ids(), producer.sent, strict=True))
    for event in events:
        sent = by_id[event.meta.event_id]
        assert sent.key == event.entity_key().encode()
        assert sent.topic.startswith(PREFIX + "lgsp.")
        attributes = parse_kafka_headers(sent.headers)
        assert (attributes["id"], attributes["type"], attributes["source"]) == (
            event.meta.event_id,
            event.AVRO_NAME,
            event.meta.source,
        )
        assert "lgsppublishedat" in attributes
        assert sent.value[0] == 0  # Confluent framing


async def test_published_at_is_stamped_once_per_call(publisher: Publisher, producer: FakeProducer) -> None:
    await publisher.publish_many(_events(8))
    stamps = {parse_kafka_headers(s.headers)["lgsppublishedat"] for s in producer.sent}
    assert len(stamps) == 1


async def test_an_event_published_before_gets_one_new_published_at(
    publisher: Publisher, producer: FakeProducer
) -> None:
    replayed = _events(1)[0].with_published_at(datetime(2024, 1, 1, tzinfo=UTC))
    await publisher.publish(replayed)
    names = [name for name, _ in producer.sent[0].headers]
    assert names.count("ce_lgsppublishedat") == 1
    assert parse_kafka_headers(producer.sent[0].headers)["lgsppublishedat"] != "2024-01-01T00:00:00.000Z"


async def test_an_item_that_is_not_an_event_raises_before_anything_is_sent(
    publisher: Publisher, producer: FakeProducer
) -> None:
    events: list[Any] = [*_events(3), {"type": "dict"}, *_events(2)]
    with pytest.raises(ValidationError) as caught:
        await publisher.publish_many(events)
    assert (caught.value.field, caught.value.rule) == ("[3]", "known-type")
    assert producer.sent == []


async def test_an_event_that_does_not_encode_raises_with_its_index_before_anything_is_sent(
    settings: Settings, registry_client: SchemaRegistryClient, producer: FakeProducer
) -> None:
    events = _events(6)
    bad_id = events[4].meta.event_id

    class Picky(AvroSerializer):
        def serialize_stamped(self, event: Any, ctx: SerializationContext, published_at: datetime) -> bytes:
            if event.meta.event_id == bad_id:
                raise ValueError("value out of range")
            return super().serialize_stamped(event, ctx, published_at)

    serializer = Picky(registry_client, auto_register=True)
    async with Publisher(settings, serializer=serializer, producer_factory=lambda _s: producer) as publisher:
        with pytest.raises(EventEncodingError) as caught:
            await publisher.publish_many(events)
    assert (caught.value.index, caught.value.event_id) == (4, bad_id)
    assert producer.sent == []


async def test_nothing_acknowledged_in_time_names_every_event(
    publisher: Publisher, producer: FakeProducer, prom: CollectorRegistry
) -> None:
    producer.auto_ack = False
    events = _events(5)
    with pytest.raises(PublishError) as caught:
        await publisher.publish_many(events)
    assert caught.value.unconfirmed == [e.meta.event_id for e in events]
    assert caught.value.confirmed == 0
    assert _value(prom, "lgsp_publish_errors_total", topic=PREFIX + "lgsp.dossiers", reason="timeout") == 2
    assert _value(prom, "lgsp_publish_duration_seconds_count") == 1


async def test_a_partial_failure_reports_the_unconfirmed_and_counts_the_confirmed(
    publisher: Publisher, producer: FakeProducer, prom: CollectorRegistry
) -> None:
    producer.auto_ack = False
    events = _events(8)  # two of each type, each its own record (fewer than a batch's minimum)
    task = asyncio.create_task(publisher.publish_many(events))
    await producer.wait_sent(8)
    failing = {e.meta.event_id for e in events[1::2]}
    for index, (event_id, sent) in enumerate(zip(producer.event_ids(), producer.sent, strict=True)):
        assert sent.future is not None
        if event_id in failing:
            sent.future.set_exception(KafkaConnectionError("connection lost"))
        else:
            sent.future.set_result(Meta(sent.topic, 1, index))
    with pytest.raises(PublishError) as caught:
        await task
    assert caught.value.unconfirmed == [e.meta.event_id for e in events[1::2]]
    assert caught.value.confirmed == 4
    assert isinstance(caught.value.__cause__, KafkaConnectionError)
    dossiers = PREFIX + "lgsp.dossiers"
    assert _value(prom, "lgsp_events_published_total", topic=dossiers, type=events[0].AVRO_NAME) == 2
    assert (
        _value(prom, "lgsp_publish_errors_total", topic=PREFIX + "lgsp.documents", reason="unavailable") == 2
    )
    assert _value(prom, "lgsp_publish_errors_total", topic=PREFIX + "lgsp.reports", reason="unavailable") == 2


async def test_a_rejected_record_is_reported_as_rejected(
    publisher: Publisher, producer: FakeProducer, prom: CollectorRegistry
) -> None:
    producer.auto_ack = False
    task = asyncio.create_task(publisher.publish(samples.event(samples.report(1))))
    await producer.wait_sent(1)
    assert producer.sent[0].future is not None
    producer.sent[0].future.set_exception(MessageSizeTooLargeError())
    with pytest.raises(PublishError):
        await task
    assert _value(prom, "lgsp_publish_errors_total", topic=PREFIX + "lgsp.reports", reason="rejected") == 1


async def test_records_never_sent_are_unconfirmed_too(publisher: Publisher, producer: FakeProducer) -> None:
    producer.fail_send_after = 3
    events = _events(6)
    with pytest.raises(PublishError) as caught:
        await publisher.publish_many(events)
    sent = set(producer.event_ids())
    assert len(sent) == 3
    assert caught.value.unconfirmed == [e.meta.event_id for e in events if e.meta.event_id not in sent]
    assert caught.value.confirmed == 3


async def test_schema_ids_are_resolved_once_per_type(settings: Settings, producer: FakeProducer) -> None:
    fake = FakeRegistry()
    registry_settings = settings.registry.model_copy(update={"url": "http://registry.test/apis/ccompat/v7"})
    async with (
        SchemaRegistryClient(registry_settings, transport=fake.transport()) as client,
        Publisher(settings, registry=client, producer_factory=lambda _s: producer) as publisher,
    ):
        await publisher.publish_many(_events(8))
        await publisher.publish_many(_events(8))
    assert len(fake.requests) == 4


async def test_empty_batch_sends_nothing(publisher: Publisher, producer: FakeProducer) -> None:
    assert await publisher.publish_many([]) == []
    assert producer.sent == []


async def test_publishing_before_start_is_an_error(settings: Settings) -> None:
    publisher = Publisher(settings, producer_factory=lambda _s: FakeProducer())
    with pytest.raises(BrokerError, match="not started"):
        await publisher.publish_many(_events(1))


async def test_a_broker_that_cannot_be_reached_at_start_is_unavailable(settings: Settings) -> None:
    class Unreachable(FakeProducer):
        async def start(self) -> None:
            raise KafkaConnectionError("Unable to bootstrap")

    producer = Unreachable()
    with pytest.raises(BrokerUnavailableError, match="cannot connect"):
        async with Publisher(settings, producer_factory=lambda _s: producer):
            pass
    assert producer.closed


async def test_a_start_cancelled_while_connecting_closes_the_producer(settings: Settings) -> None:
    # The ingress cancels its retrying start when it stops: the producer it was connecting must not be left
    # open (aiokafka warns "Unclosed AIOKafkaProducer" and keeps its connections).
    connecting = asyncio.Event()

    class Slow(FakeProducer):
        async def start(self) -> None:
            connecting.set()
            await asyncio.Event().wait()

    producer = Slow()
    publisher = Publisher(settings, producer_factory=lambda _s: producer)
    task = asyncio.create_task(publisher.start())
    await connecting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert producer.closed
    with pytest.raises(BrokerError, match="not started"):
        await publisher.publish_many(_events(1))


async def test_close_closes_the_producer(
    settings: Settings, registry_client: SchemaRegistryClient, producer: FakeProducer
) -> None:
    async with Publisher(settings, registry=registry_client, producer_factory=lambda _s: producer):
        assert producer.started
    assert producer.closed


def _dossiers(count: int, *, first: int = 0) -> list[Event]:
    return [samples.event(samples.dossier(first + n)) for n in range(count)]


async def test_a_partitions_records_go_as_batches_split_when_full_with_per_record_offsets(
    publisher: Publisher, producer: FakeProducer
) -> None:
    producer.batch_capacity = 7
    versions = [
        samples.event(samples.dossier(5, version=v)) for v in range(1, 31)
    ]  # one entity: one partition
    deliveries = await publisher.publish_many(versions)
    assert [len(batch) for batch in producer.batches] == [7, 7, 7, 7, 2]
    assert producer.event_ids() == [e.meta.event_id for e in versions]  # in order, across the batches
    assert [d.offset for d in deliveries] == list(range(30))
    assert len({d.partition for d in deliveries}) == 1


async def test_each_record_goes_to_the_default_partitioners_choice_for_its_key(
    publisher: Publisher, producer: FakeProducer
) -> None:
    producer.partition_count = 6
    events = [*_dossiers(60), *_events(6)]  # batches for the dossiers, single records for the few others
    deliveries = await publisher.publish_many(events)
    default = DefaultPartitioner()
    for event, delivery in zip(events, deliveries, strict=True):
        key = event.entity_key().encode()
        assert delivery.partition == default(key, list(range(6)), list(range(6)))
    in_batches = {id(s) for batch in producer.batches for s in batch}
    singles = [s for s in producer.sent if id(s) not in in_batches]
    assert singles
    assert all(s.partition is not None for s in singles)  # send() is told the partition too
    assert producer.batches


async def test_a_failed_batch_fails_exactly_its_events(
    publisher: Publisher, producer: FakeProducer, prom: CollectorRegistry
) -> None:
    producer.auto_ack = False
    producer.partition_count = 2
    events = _dossiers(40)
    task = asyncio.create_task(publisher.publish_many(events))
    await producer.wait_sent(40)
    failed, *others = producer.batches
    for future in producer.futures():
        if future is failed[0].future:
            future.set_exception(KafkaConnectionError("connection lost"))
        else:
            producer.ack(future)
    with pytest.raises(PublishError) as caught:
        await task
    failed_ids = {parse_kafka_headers(s.headers)["id"] for s in failed}
    assert caught.value.unconfirmed == [e.meta.event_id for e in events if e.meta.event_id in failed_ids]
    assert caught.value.confirmed == 40 - len(failed)
    assert others
    dossiers = PREFIX + "lgsp.dossiers"
    assert _value(prom, "lgsp_publish_errors_total", topic=dossiers, reason="unavailable") == len(failed)


async def test_a_record_over_the_request_size_raises_before_anything_is_sent(
    settings: Settings, registry_client: SchemaRegistryClient, producer: FakeProducer
) -> None:
    settings.producer.max_request_size = 2_000
    events = _events(4)
    big = samples.event(
        samples.dossier(9) | {"data": samples.dossier(9)["data"] | {"procedure_name": "x" * 3000}}
    )
    async with Publisher(
        settings, registry=registry_client, producer_factory=lambda _s: producer
    ) as publisher:
        with pytest.raises(EventEncodingError, match="max_request_size") as caught:
            await publisher.publish_many([*events, big])
    assert caught.value.index == 4
    assert producer.sent == []


async def test_a_topic_without_known_partitions_leaves_every_event_unconfirmed(
    publisher: Publisher, producer: FakeProducer
) -> None:
    producer.partition_count = 0
    events = _events(3)
    with pytest.raises(PublishError) as caught:
        await publisher.publish_many(events)
    assert caught.value.unconfirmed == [e.meta.event_id for e in events]
    assert producer.sent == []


async def test_what_the_publisher_signs_verifies_from_the_headers_it_sends(
    settings: Settings, registry_client: SchemaRegistryClient, producer: FakeProducer, tmp_path: Path
) -> None:
    """The Publisher hashes each record's signing leaf from the values it puts in the headers, not from the
    headers: a verifier that reads the sent headers (with and without a correlation id) must agree."""
    events = _events(12)
    events[3] = events[3].model_copy(
        update={"meta": events[3].meta.model_copy(update={"correlation_id": "corr-3"})}
    )
    made = {source: create_agency_key(source, tmp_path) for source in {e.meta.source for e in events}}
    signers = [
        BatchSigner(load_private_key(k.private_key_file), k.entry.key_id, k.entry.agency)
        for k in made.values()
    ]
    async with Publisher(
        settings,
        registry=registry_client,
        producer_factory=lambda _s: producer,
        keychain=KeyChain(signers),
    ) as publisher:
        await publisher.publish_many(events)
    verifier = Verifier(Keyring(k.entry for k in made.values()))
    by_id = {e.meta.event_id: e for e in events}
    verdicts = []
    for offset, sent in enumerate(producer.sent):
        headers = dict(sent.headers)
        event = by_id[headers["ce_id"].decode()]
        record = ConsumedRecord(sent.topic, 0, offset, sent.key, sent.value, tuple(sent.headers))
        rejection = verifier(record, record_of(event))
        verdicts.append(None if rejection is None else rejection.message)
    assert len(verdicts) == len(events)
    assert verdicts == [None] * len(events)
    assert any(name == "ce_correlationid" for s in producer.sent for name, _ in s.headers)


async def test_each_signer_takes_a_partitions_records_as_neighbours_in_its_tree(
    settings: Settings, registry_client: SchemaRegistryClient, producer: FakeProducer, tmp_path: Path
) -> None:
    """A signer's records in one partition hold consecutive leaves of its tree, in the order they are sent
    (their proofs then share all but their lowest hashes), and every leaf of every tree is used once."""
    producer.partition_count = 4
    events = _events(60)
    made = {source: create_agency_key(source, tmp_path) for source in {e.meta.source for e in events}}
    signers = [
        BatchSigner(load_private_key(k.private_key_file), k.entry.key_id, k.entry.agency)
        for k in made.values()
    ]
    async with Publisher(
        settings, registry=registry_client, producer_factory=lambda _s: producer, keychain=KeyChain(signers)
    ) as publisher:
        await publisher.publish_many(events)
    runs: dict[tuple[bytes, str, int | None], list[int]] = {}
    for sent in producer.sent:
        jws, index, _path = read_envelope(dict(sent.headers)["lgsp_sig"])
        runs.setdefault((jws, sent.topic, sent.partition), []).append(index)
    assert len({partition for _, _, partition in runs}) == 4
    trees: dict[bytes, list[int]] = {}
    for (jws, _, _), indexes in runs.items():
        assert indexes == list(range(indexes[0], indexes[0] + len(indexes)))
        trees.setdefault(jws, []).extend(indexes)
    assert sorted(len(t) for t in trees.values()) == sorted(
        sum(1 for e in events if e.meta.source == s) for s in made
    )
    assert all(sorted(indexes) == list(range(len(indexes))) for indexes in trees.values())
