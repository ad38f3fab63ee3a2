"""The SDK publisher: typed events to Kafka with acks=all and the idempotent producer.

What happens to the events of one :meth:`Publisher.publish_many` call (or the records of one
:meth:`Publisher.publish_records` call, checked by their compiled contract: :mod:`bus.publish_encoding`), in
order:

1. **Check and encode all of them** (nothing is sent yet): each must be an instance of a bus event type; the
   Publisher stamps ``meta.published_at`` (UTC, millisecond precision, one instant per call), picks the topic
   from the topic catalog (``settings.topics.prefix`` + catalog name), keys the record by
   ``event.entity_key()`` so one entity's events stay in one partition and in order, adds the CloudEvents
   binary-mode headers, and serializes with the injected :class:`~bus.serde.AvroSerializer` (Confluent wire
   format; each event type's schema id is resolved once). Any :class:`~bus.errors.ValidationError`,
   :class:`~bus.errors.SerializationError` or registry error raises here, before a single record is sent.
2. **Send all** (:mod:`bus.handover`): each record's partition is Kafka's default one for its key
   (:mod:`bus.partitioner`, the same murmur2 choice as aiokafka's and Java's default partitioner). A
   partition's records of the call go to aiokafka as whole record batches (``create_batch``/``send_batch``:
   one delivery future per batch, a record's offset is the batch's base offset plus its index), a partition
   with fewer than ``BATCH_MIN_RECORDS`` records record by record (``send()``, so that small concurrent calls
   still share lingering batches). aiokafka applies acks=all and the idempotent producer's sequence numbers
   to both alike. Then wait for all futures together.
3. **Confirm or fail**: aiokafka's idempotent producer retries broker errors by itself without duplicating
   records; this class bounds the whole of steps 2–3 by ``settings.producer.delivery_timeout_s``. Records
   acknowledged by Kafka (acks=all) become :class:`Delivery` values. If any record is not acknowledged by the
   deadline, or failed, :class:`~bus.errors.PublishError` names the event ids not confirmed and the count that
   were. An unconfirmed record may still land later (the producer keeps retrying until it is closed), so the
   caller may resend the same events: consumers drop duplicates by event id and entity version.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, RequestTimedOutError
from prometheus_client import CollectorRegistry

from bus.agencies import load_catalog
from bus.aiokafka_adapter import CLOSE_GRACE_S, AiokafkaProducerPort
from bus.authz import Principal, Refusal, event_refusals, record_refusals
from bus.errors import BrokerError, BrokerUnavailableError, ForbiddenError, PublishError
from bus.events import EVENT_TYPES, Event
from bus.events.record import EventRecord
from bus.handover import Placed, Placement, Record, hand_over, partition_order, placement
from bus.metrics import PublisherMetrics, PublishErrorReason
from bus.producer_port import ProducerFactory, ProducerPort, RecordMetadataLike
from bus.publish_encoding import Encoder, Stamp, check_event_type, checked_records
from bus.publish_encoding import EventEncodingError as EventEncodingError  # re-exported, as before
from bus.registry import SchemaRegistryClient
from bus.serde import AvroSerializer
from bus.settings import Settings
from bus.signing.keys import principal_of_settings
from bus.signing.records import attest_records, sign_records
from bus.signing.signer import KeyChain
from bus.topics import TOPICS
from bus.types import Delivery as Delivery  # re-exported: where SDK users have imported it from
from bus.wording import of_total

log = logging.getLogger(__name__)


class Publisher:
    """Publish bus events to Kafka; an async context manager (see the module docstring for the guarantees).

    ``principal`` is who publishes: every event's ``source`` and the agencies its data asserts must be ones it
    may publish for (:mod:`bus.authz`), else :class:`~bus.errors.ForbiddenError` before anything is sent. By
    default it is the agency of the configured signing key (``LGSP_SIGNING__KEY_ID``); without one, a tool
    publishing for many agencies (the simulator) is not checked here, and the views' signature check decides.

    ``keychain`` holds the keys the Publisher signs with (by default from ``LGSP_SIGNING__*``): each call's
    records are signed per key as one batch (header ``lgsp_sig``, docs/security.md); an event whose source no
    key may sign for is refused before anything is sent. Without keys, records go unsigned.

    ``registry`` is the schema registry client to share (one id cache per process); without it the Publisher
    opens and closes its own. ``metrics`` holds the Prometheus metrics (its ``CollectorRegistry`` is the
    caller's); without it they go to a private registry. ``serializer`` and ``producer_factory`` exist for
    tests and tools that bring their own.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        registry: SchemaRegistryClient | None = None,
        metrics: PublisherMetrics | None = None,
        serializer: AvroSerializer | None = None,
        producer_factory: ProducerFactory | None = None,
        principal: Principal | None = None,
        keychain: KeyChain | None = None,
    ) -> None:
        self._settings = settings
        self._principal = principal if principal is not None else principal_of_settings(settings)
        self._keychain = keychain if keychain is not None else KeyChain.from_settings(settings.signing)
        self._registry = registry
        self._owns_registry = registry is None and serializer is None
        self._serializer = serializer
        self._metrics = metrics if metrics is not None else PublisherMetrics(CollectorRegistry())
        self._metrics.declare(settings.topics.prefix + name for name in TOPICS)
        self._producer_factory = producer_factory or AiokafkaProducerPort
        self._producer: ProducerPort | None = None
        self._prepared: set[type[Event]] = set()
        self._published_children: dict[tuple[str, str], Any] = {}
        # One publish_many's records are handed to the producer before the next one's, so one entity's events
        # keep their order even when calls overlap (their encoding and acknowledgements still overlap).
        self._send_lock = asyncio.Lock()
        self._timeout = settings.producer.delivery_timeout_s
        self._encoder = Encoder(
            settings.topics.prefix, settings.producer.max_request_size, leaves=self._keychain is not None
        )

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect to Kafka (bounded by the delivery timeout); ``BrokerUnavailableError`` if it cannot."""
        if self._producer is not None:
            return
        if self._serializer is None:
            if self._registry is None:
                self._registry = SchemaRegistryClient(self._settings.registry)
            self._serializer = AvroSerializer(
                self._registry, auto_register=self._settings.registry.auto_register
            )
        producer = self._producer_factory(self._settings)
        try:
            await asyncio.wait_for(producer.start(), timeout=self._timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._abandon(producer)
            raise BrokerUnavailableError(
                f"cannot connect to Kafka at {self._settings.kafka.bootstrap_servers}: {exc!r}"
            ) from exc
        except asyncio.CancelledError:
            # Cancelled while connecting (a stopping ingress cancels its retries): close what was opened,
            # shielded so that the cancellation cannot cut the close short, then let it through.
            await asyncio.shield(self._abandon(producer))
            raise
        self._producer = producer

    async def _abandon(self, producer: ProducerPort) -> None:
        await producer.close(CLOSE_GRACE_S)
        await self._close_registry()

    async def close(self) -> None:
        """Flush what is pending (bounded by the delivery timeout), then disconnect."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.close(self._timeout)
        await self._close_registry()

    async def _close_registry(self) -> None:
        if self._owns_registry and self._registry is not None:
            registry, self._registry = self._registry, None
            self._serializer = None
            await registry.aclose()

    # --- publishing --------------------------------------------------------------------------------------

    async def publish(self, event: Event) -> Delivery:
        """Publish one event; its :class:`Delivery` once Kafka acknowledged it."""
        return (await self.publish_many([event]))[0]

    async def publish_many(
        self, events: Sequence[Event], *, on_behalf: Sequence[Principal] | None = None
    ) -> list[Delivery]:
        """Publish events in one go; their deliveries in the same order, once Kafka acknowledged all.

        ``on_behalf`` (the ingress): the authenticated principal of each event; the records are signed with
        the keychain's attester key as ``ingress``-attested for that agency (docs/security.md).

        Raises ``ValidationError``/``SerializationError``/``RegistryError`` before anything is sent, or
        ``PublishError`` (naming the unconfirmed event ids) after the delivery timeout.
        """
        if not events:
            return []
        started = time.perf_counter()
        try:
            records = await self._encode_events(events, on_behalf)
            return await self._send_all(records, [event.meta.source for event in events], on_behalf)
        finally:
            self._metrics.publish_duration.observe(time.perf_counter() - started)

    async def publish_records(
        self, records: Sequence[EventRecord], *, on_behalf: Sequence[Principal] | None = None
    ) -> list[Delivery]:
        """:meth:`publish_many` for :class:`~bus.events.record.EventRecord` values (the plain form the views
        read, and ``lgsp publish FILE`` builds from JSON lines without a model): the same checks, bytes,
        headers, signatures and errors, for less work per event.

        Each record is checked by its type's compiled contract; one the check refuses goes through its
        model, which raises the precise ``ValidationError`` (``item N: ...``, field, rule), or accepts it
        after normalising a value (the model's record is then what is published).
        """
        if not records:
            return []
        started = time.perf_counter()
        try:
            encoded, sources = await self._encode_records(records, on_behalf)
            return await self._send_all(encoded, sources, on_behalf)
        finally:
            self._metrics.publish_duration.observe(time.perf_counter() - started)

    async def prepare(self, types: Iterable[type[Event]] = ()) -> None:
        """Resolve the schema ids of ``types`` (all event types by default) now rather than on first use."""
        await self._prepare(set(types) or set(EVENT_TYPES.values()))

    async def present_topics(self, topics: Collection[str], timeout_s: float) -> set[str]:
        """Which of ``topics`` Kafka has, asked afresh (a reachability probe); ``BrokerUnavailableError`` if
        Kafka does not answer. Only these topics are asked about: a cluster may hold thousands."""
        producer = self._require_producer()
        try:
            return await producer.present_topics(topics, timeout_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise BrokerUnavailableError(f"Kafka did not answer a metadata request: {exc!r}") from exc

    def topic_of(self, event_type: type[Event]) -> str:
        """The real topic for an event type: the settings' prefix + the catalog's topic."""
        return self._encoder.topic_of(event_type)

    # --- step 1: check and encode (bus.publish_encoding) ---------------------------------------------------

    async def _encode_events(
        self, events: Sequence[Event], on_behalf: Sequence[Principal] | None
    ) -> list[Record]:
        types: set[type[Event]] = set()
        for index, event in enumerate(events):
            event_type = type(event)
            if event_type not in types:
                check_event_type(index, event)
                types.add(event_type)
        if self._principal is not None:
            principal, catalog = self._principal, load_catalog()
            _authorize(principal, [event_refusals(principal, event, catalog) for event in events])
        await self._prepare(types)
        stamp, serializer, encode = Stamp(_now_millis()), self._require_serializer(), self._encoder.event
        return [encode(index, event, stamp, serializer) for index, event in enumerate(events)]

    async def _encode_records(
        self, records: Sequence[EventRecord], on_behalf: Sequence[Principal] | None
    ) -> tuple[list[Record], list[str]]:
        """The records, and each one's ``source`` (the checked record's: a model may normalise it)."""
        models, checked = checked_records(records)
        if self._principal is not None:
            principal, catalog = self._principal, load_catalog()
            _authorize(principal, [record_refusals(principal, record, catalog) for record in checked])
        await self._prepare(set(models))
        stamp, serializer, encode = Stamp(_now_millis()), self._require_serializer(), self._encoder.record
        encoded = [
            encode(index, record, model, stamp, serializer)
            for index, (record, model) in enumerate(zip(checked, models, strict=True))
        ]
        return encoded, [record.source for record in checked]

    def _sign(
        self,
        records: list[Record],
        sources: list[str],
        on_behalf: Sequence[Principal] | None,
        groups: Placement,
    ) -> None:
        if self._keychain is None:
            return
        # Partition by partition: LZ4 finds the hashes neighbours share (a fifth fewer bytes per signed record
        # sent), and the views' verifier, reading a partition in order, meets an authenticated node sooner.
        order = partition_order(groups)
        if on_behalf is not None and self._keychain.attester is not None:
            attest_records(self._keychain.attester, on_behalf, records, order)
        else:
            sign_records(self._keychain, sources, records, order)

    async def _prepare(self, types: set[type[Event]]) -> None:
        missing = types - self._prepared
        if missing:
            await self._require_serializer().prepare(missing)
            self._prepared |= missing

    # --- steps 2 and 3: send all, then confirm -----------------------------------------------------------

    async def _send_all(
        self, records: list[Record], sources: list[str], on_behalf: Sequence[Principal] | None
    ) -> list[Delivery]:
        """Place, sign and hand over ``records`` (``sources``: each one's event source), then confirm them."""
        producer = self._require_producer()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        placed: list[Placed | None] = [None] * len(records)
        send_error: BaseException | None = None
        try:
            async with asyncio.timeout_at(deadline), self._send_lock:
                groups = await placement(producer, records)
                self._sign(records, sources, on_behalf, groups)
                await hand_over(producer, records, groups, placed)
        except (KafkaError, TimeoutError) as exc:
            send_error = exc
        futures = {slot[0] for slot in placed if slot is not None}
        if futures:
            await asyncio.wait(futures, timeout=max(0.0, deadline - loop.time()))
        return self._confirm(records, placed, send_error)

    def _confirm(
        self, records: list[Record], placed: list[Placed | None], send_error: BaseException | None
    ) -> list[Delivery]:
        deliveries: list[Delivery] = []
        unconfirmed: list[str] = []
        published: dict[tuple[str, str], int] = {}
        errors: Counter[tuple[str, str]] = Counter()
        abandoned: set[asyncio.Future[RecordMetadataLike]] = set()
        cause = send_error
        # A future is one partition's batch, shared by many records: its outcome is read once.
        outcomes: dict[asyncio.Future[RecordMetadataLike], RecordMetadataLike | None] = {}
        for record, slot in zip(records, placed, strict=True):
            future, position = (None, 0) if slot is None else slot
            if future is None:
                meta = None
            elif future in outcomes:
                meta = outcomes[future]
            else:
                meta = outcomes[future] = _metadata_of(future)
            if meta is not None:
                deliveries.append(
                    Delivery(record.event_id, meta.topic, meta.partition, meta.offset + position)
                )
                kind = (record.topic, record.type_name)
                published[kind] = published.get(kind, 0) + 1
                continue
            failure = _failure_of(future, send_error)
            cause = cause or failure
            unconfirmed.append(record.event_id)
            errors[(record.topic, _reason(failure))] += 1
            if future is not None and not future.done() and future not in abandoned:
                abandoned.add(future)
                future.add_done_callback(_retrieve)
        for kind, count in published.items():
            self._published_counter(kind).inc(count)
        if unconfirmed:
            self._count_errors(errors)
            raise PublishError(
                f"{of_total(len(unconfirmed), len(records), 'event')} not confirmed by Kafka within "
                f"{self._timeout:g} s ({cause!r})",
                unconfirmed=unconfirmed,
                deliveries=deliveries,
            ) from cause
        return deliveries

    def _published_counter(self, kind: tuple[str, str]) -> Any:
        # prometheus_client's labels() takes a lock and builds a key each time; keep the few children.
        counter = self._published_children.get(kind)
        if counter is None:
            topic, type_name = kind
            counter = self._published_children[kind] = self._metrics.events_published.labels(
                topic=topic, type=type_name
            )
        return counter

    def _count_errors(self, counts: Counter[tuple[str, str]]) -> None:
        for (topic, reason), count in counts.items():
            self._metrics.publish_errors.labels(topic=topic, reason=reason).inc(count)

    def _require_producer(self) -> ProducerPort:
        if self._producer is None:
            raise BrokerError("the Publisher is not started; use `async with Publisher(...)`")
        return self._producer

    def _require_serializer(self) -> AvroSerializer:
        if self._serializer is None:
            raise BrokerError("the Publisher is not started; use `async with Publisher(...)`")
        return self._serializer


def _authorize(principal: Principal, per_item: Sequence[list[Refusal]]) -> None:
    """:class:`ForbiddenError` naming every item and field ``principal`` may not assert (the SDK is an entry
    too: the same rules as the ingress)."""
    refused = [(index, refusal) for index, found in enumerate(per_item) for refusal in found]
    if refused:
        first_index, first = refused[0]
        raise ForbiddenError(
            f"{principal.agency} may not publish "
            f"{of_total(len({i for i, _ in refused}), len(per_item), 'event')} "
            f"(first: item {first_index} {first.field}: {first.message}); nothing was sent",
            refusals=refused,
        )


def _now_millis() -> datetime:
    # Avro carries timestamp-millis; truncating here makes the model equal what consumers will read.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _metadata_of(future: asyncio.Future[RecordMetadataLike]) -> RecordMetadataLike | None:
    """Where Kafka stored the batch of ``future``, or None if it was not (yet) stored."""
    if future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    return None


def _failure_of(future: asyncio.Future[Any] | None, send_error: BaseException | None) -> BaseException:
    if future is None:
        return send_error or TimeoutError("not sent before the delivery timeout")
    if not future.done() or future.cancelled():
        return TimeoutError("not acknowledged before the delivery timeout")
    return future.exception() or TimeoutError("no result")


def _reason(failure: BaseException) -> str:
    """A low-cardinality label for why an event was not confirmed."""
    if isinstance(failure, TimeoutError | KafkaTimeoutError | RequestTimedOutError):
        return PublishErrorReason.TIMEOUT.value
    if isinstance(failure, KafkaConnectionError) or getattr(failure, "retriable", False):
        return PublishErrorReason.UNAVAILABLE.value
    return PublishErrorReason.REJECTED.value


def _retrieve(future: asyncio.Future[Any]) -> None:
    # A record we gave up waiting for may still fail later; reading its exception keeps asyncio quiet.
    if not future.cancelled():
        future.exception()
