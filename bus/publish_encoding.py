"""Step 1 of publishing (:mod:`bus.publisher`): events or records become Kafka records ready to send.

Two inputs, one output. A typed event (a pydantic model, the SDK's usual input) and an
:class:`~bus.events.record.EventRecord` (the plain form the views read and ``lgsp publish FILE`` builds from
JSON lines without a model) are encoded alike: the topic of the type (settings prefix + topic catalog), the
entity key (the type's ``ENTITY_KEY`` field), the Confluent-framed Avro value with ``meta.published_at``
stamped, the CloudEvents binary-mode headers, and the signing leaf when the Publisher signs. A record is
written with its schema's plain twin straight from its fields; a model's fields are converted first
(:mod:`bus.avro_plain`). Both give the same bytes and headers for the same event (a unit test checks).

Records are checked before they get here (:func:`checked_records`): by their type's compiled contract, and
through the model only for a record the check refuses, which then raises the model's own error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from bus.cloudevents import (
    AVRO_CONTENT_TYPE,
    CONTENT_TYPE_HEADER,
    CORRELATION_ID,
    HEADER_PREFIX,
    PUBLISHED_AT,
    SPECVERSION,
    format_epoch_millis,
    format_time,
)
from bus.errors import SerializationError, ValidationError
from bus.events import EVENT_TYPES, Event
from bus.events.contract import RecordCheck, check_for
from bus.events.record import CheckedRecord, EventRecord, event_of, record_of
from bus.events.rules.limits import millis_of
from bus.handover import Record
from bus.serde import AvroSerializer, SerializationContext
from bus.signing.tree import full_leaf_hash
from bus.topics import topic_for


class EventEncodingError(SerializationError):
    """One event of a batch could not be encoded (its values do not fit its Avro schema); nothing was sent."""

    def __init__(self, message: str, *, index: int, event_id: str) -> None:
        super().__init__(message)
        self.index = index
        self.event_id = event_id


class Stamp:
    """The published-at instant of one call: as a model's value, as a record's epoch milliseconds and as its
    CloudEvents header."""

    __slots__ = ("header", "millis", "published_at")

    def __init__(self, published_at: datetime) -> None:
        self.published_at = published_at
        self.millis = millis_of(published_at)
        self.header = (HEADER_PREFIX + PUBLISHED_AT, format_time(published_at).encode())


_SPECVERSION_HEADER: Final = ("ce_specversion", SPECVERSION.encode())
_CONTENT_TYPE: Final = (CONTENT_TYPE_HEADER, AVRO_CONTENT_TYPE.encode())
_CORRELATION_ID_HEADER: Final = HEADER_PREFIX + CORRELATION_ID
_SOURCE_HEADERS_LIMIT: Final = 10_000
_HEADERS_BOUND: Final = 8_192
"""More than a record's headers and framing can take (ids, agency code, type name, times, correlation id)."""


@dataclass(frozen=True, slots=True)
class _Target:
    """What one event type's records share: topic, serialization context and ``ce_type`` header."""

    topic: str
    ctx: SerializationContext
    type_header: tuple[str, bytes]


def check_event_type(index: int, event: object) -> None:
    """A ``ValidationError`` unless ``event`` is an instance of a registered bus event type."""
    if not isinstance(event, Event) or EVENT_TYPES.get(type(event).AVRO_NAME) is not type(event):
        raise ValidationError(
            f"item {index}: {type(event).__name__} is not a bus event type",
            field=f"[{index}]",
            rule="known-type",
        )


def checked_records(records: Sequence[EventRecord]) -> tuple[list[type[Event]], list[EventRecord]]:
    """The model type of each record, and the records to publish (a record only the model accepts, after
    normalising a value, is replaced by the model's record); the first invalid record's ``ValidationError``
    (its item index, field and rule) otherwise."""
    models: list[type[Event]] = []
    checked: list[EventRecord] = []
    for index, record in enumerate(records):
        model = EVENT_TYPES.get(record.name) if isinstance(record, EventRecord) else None
        check = None if model is None else check_for(model.AVRO_NAME)
        if model is None or check is None:
            what = record.name if isinstance(record, EventRecord) else type(record).__name__
            raise ValidationError(
                f"item {index}: {what} is not a bus event record", field=f"[{index}]", rule="known-type"
            )
        models.append(model)
        ok = type(record) is CheckedRecord or _passes(check, record.avro)
        checked.append(record if ok else _through_model(index, model, record))
    return models, checked


def _passes(check: RecordCheck, avro: Mapping[str, Any]) -> bool:
    try:
        return check(avro)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RecursionError):
        # The check was written for what an Avro reader hands out; a record made by hand can hold anything
        # (a list where a symbol belongs does not even hash). The model names what is wrong.
        return False


def _through_model(index: int, model: type[Event], record: EventRecord) -> EventRecord:
    try:
        return record_of(event_of(model, record.avro))
    except ValidationError as exc:
        raise ValidationError(
            f"item {index}: {exc}", field=exc.field, rule=exc.rule, problems=exc.problems
        ) from exc


class Encoder:
    """Encodes one Publisher's events and records (the per-type targets and source headers are built once)."""

    def __init__(self, prefix: str, max_request_size: int, *, leaves: bool) -> None:
        self._prefix = prefix
        self._max_request_size = max_request_size
        self._leaves = leaves
        self._targets: dict[type[Event], _Target] = {}
        self._source_headers: dict[str, tuple[str, bytes]] = {}

    def topic_of(self, model: type[Event]) -> str:
        return self._target(model).topic

    def event(self, index: int, event: Event, stamp: Stamp, serializer: AvroSerializer) -> Record:
        # The hot path of the SDK: the stamp goes into the Avro record and the headers directly, so the model
        # is never copied; the headers equal ``kafka_headers`` of the stamped event.
        model = type(event)
        target = self._target(model)
        meta = event.meta
        event_id = meta.event_id
        try:
            value = serializer.serialize_stamped(event, target.ctx, stamp.published_at)
            time = format_time(meta.occurred_at)
            key = event.entity_key()
        except (SerializationError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _failed(index, event_id, model, exc) from exc
        return self._finish(
            index, event_id, model, target, key, value, stamp, meta.source, time, meta.correlation_id
        )

    def record(
        self, index: int, record: EventRecord, model: type[Event], stamp: Stamp, serializer: AvroSerializer
    ) -> Record:
        """``record`` (checked by :func:`checked_records`) encoded as :meth:`event` encodes its model."""
        target = self._target(model)
        avro = record.avro
        meta = avro["meta"]
        event_id: str = meta["event_id"]
        try:
            value = serializer.serialize_plain_stamped(model, avro, target.ctx, stamp.millis)
            time = format_epoch_millis(meta["occurred_at"])
            key = avro[model.ENTITY_KEY]
        except (SerializationError, ValueError, TypeError, KeyError, OverflowError) as exc:
            raise _failed(index, event_id, model, exc) from exc
        correlation = meta.get("correlation_id")
        return self._finish(
            index, event_id, model, target, key, value, stamp, meta["source"], time, correlation
        )

    def _finish(
        self,
        index: int,
        event_id: str,
        model: type[Event],
        target: _Target,
        entity_key: str,
        value: bytes,
        stamp: Stamp,
        source: str,
        time: str,
        correlation_id: str | None,
    ) -> Record:
        source_header = self._source_headers.get(source) or self._source_header(source)
        id_header = ("ce_id", event_id.encode())
        time_header = ("ce_time", time.encode())
        headers = [
            _SPECVERSION_HEADER,
            id_header,
            source_header,
            target.type_header,
            time_header,
            _CONTENT_TYPE,
            stamp.header,
        ]
        if correlation_id is not None:
            headers.append((_CORRELATION_ID_HEADER, correlation_id.encode()))
        key = entity_key.encode()
        # What a signature binds, from the values at hand (``leaf_of`` would find them in the headers)
        leaf = (
            full_leaf_hash(key, id_header[1], source_header[1], target.type_header[1], time_header[1], value)
            if self._leaves
            else None
        )
        # aiokafka's send() refuses such a record; a batch would take it and the broker refuse the batch. The
        # exact estimate only for records near the limit: the headers are a few hundred bytes at most.
        if len(value) + len(key) + _HEADERS_BOUND >= self._max_request_size:
            size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
            if size > self._max_request_size:
                raise EventEncodingError(
                    f"event {event_id} ({model.AVRO_NAME}) is {size} bytes as a Kafka record, more than "
                    f"producer.max_request_size ({self._max_request_size})",
                    index=index,
                    event_id=event_id,
                )
        return Record(event_id, model.AVRO_NAME, target.topic, key, value, headers, leaf)

    def _target(self, model: type[Event]) -> _Target:
        target = self._targets.get(model)
        if target is None:
            topic = topic_for(model, prefix=self._prefix)
            target = self._targets[model] = _Target(
                topic, SerializationContext(topic, "value"), ("ce_type", model.AVRO_NAME.encode())
            )
        return target

    def _source_header(self, source: str) -> tuple[str, bytes]:
        # Sources are catalog agency codes: a bounded set, each header built once.
        if len(self._source_headers) >= _SOURCE_HEADERS_LIMIT:
            self._source_headers.clear()
        header = self._source_headers[source] = ("ce_source", source.encode())
        return header


def _failed(index: int, event_id: str, model: type[Event], exc: Exception) -> EventEncodingError:
    return EventEncodingError(
        f"event {event_id} ({model.AVRO_NAME}) could not be encoded: {exc}", index=index, event_id=event_id
    )
