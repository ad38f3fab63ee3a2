"""Avro values in the Confluent wire format: ``0x00``, the schema id (4 bytes, big-endian), Avro binary.

The registry client is injected (one client, one id cache per process, a fake in unit tests). Both classes
do their registry work in an ``async`` prepare step, so that the per-record calls are synchronous and pure
CPU: :meth:`AvroSerializer.prepare` before the first :meth:`~AvroSerializer.serialize` of a type, and
:meth:`AvroDeserializer.prepare_ids` for the ids of a batch before :meth:`~AvroDeserializer.deserialize`.

Writers write with their model's own schema. Readers fetch the writer's schema by id and let fastavro
resolve it to their model's schema (Avro schema resolution), so an old consumer reads a new event and a new
consumer an old one within the record's compatibility level. Subjects follow RecordNameStrategy: the subject
of a record is its Avro full name, whatever the topic (:func:`bus.registry.record_subject`).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any, Final, Literal

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.schema import to_parsing_canonical_form
from fastavro.write import LOGICAL_WRITERS

from bus.avro_plain import PlainWriter, plain_schema, plain_writer
from bus.avro_writer import Encode, compile_writer
from bus.errors import (
    LgspError,
    RegistryError,
    SerializationError,
    UnknownRecordError,
    UnknownSchemaError,
)
from bus.events import EVENT_TYPES, Event
from bus.events.contract import RecordCheck, check_for
from bus.events.record import EventRecord, record_of
from bus.registry import SchemaRegistryClient, is_not_found, record_subject
from bus.types import SchemaId, Subject

MAGIC_BYTE: Final = 0
HEADER: Final = struct.Struct(">bI")
"""Magic byte and schema id; ``HEADER.size`` (5) bytes in front of the Avro binary."""
_MAX_CONCURRENT_FETCHES: Final = 8

# What fastavro raises on bytes or records that do not fit the schema (checked with fastavro 1.13).
_AVRO_ERRORS: Final = (
    EOFError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    OverflowError,
    struct.error,
    SchemaResolutionError,
)
_new_record: Final = tuple.__new__
"""Builds an :class:`EventRecord` from ``(name, avro)`` without its Python-level ``__new__``."""


@dataclass(frozen=True)
class SerializationContext:
    """Where the bytes go or come from (the contract of confluent-kafka's serializers)."""

    topic: str
    field: Literal["key", "value"] = "value"
    headers: Sequence[tuple[str, bytes]] = ()


def subject_for(model: type[Event] | str) -> Subject:
    """Registry subject of a model or Avro full name (RecordNameStrategy: the full name itself)."""
    return record_subject(model if isinstance(model, str) else model.AVRO_NAME)


def parsed_schema(schema: Mapping[str, Any], what: str) -> Any:
    """fastavro's parsed form of ``schema``; a ``SerializationError`` naming ``what`` if it is no Avro."""
    try:
        return parse_schema(dict(schema))
    except Exception as exc:  # fastavro raises a zoo of types for a bad schema; all mean the same here
        raise SerializationError(f"{what} is not a valid Avro schema: {exc}") from exc


@dataclass(frozen=True, slots=True)
class _Writer:
    header: bytes  # magic byte and schema id
    schema: Any  # the model's schema, parsed
    plain: PlainWriter | None  # its logical-type-free twin, when bus.avro_plain covers the schema
    encode: Encode | None  # the plain twin's compiled encoder (bus.avro_writer), when it covers the schema


class AvroSerializer:
    """Event -> Confluent wire format, with the schema id of the event's own schema."""

    def __init__(self, registry: SchemaRegistryClient, *, auto_register: bool = False) -> None:
        self._registry = registry
        self._auto_register = auto_register
        # Per model type: one dict lookup per record on the hot path.
        self._writers: dict[type[Event], _Writer] = {}

    async def prepare(self, types: Iterable[type[Event]]) -> None:
        """Resolve the schema id of each type (registering it when ``auto_register``); cached."""
        for model in types:
            if model not in self._writers:
                self._writers[model] = await self._writer_for(model)

    async def _writer_for(self, model: type[Event]) -> _Writer:
        # The registry gets the JSON source (docs included); fastavro writes with the same schema, parsed.
        schema = model.avro_schema_source()
        parsed = parsed_schema(model.avro_schema(), f"the schema of {model.__name__}")
        if parsed["name"] != model.AVRO_NAME:
            raise SerializationError(
                f"{model.__name__}.AVRO_NAME is {model.AVRO_NAME}, its schema {parsed['name']}"
            )
        subject = subject_for(model)
        try:
            if self._auto_register:
                schema_id = await self._registry.register(subject, schema)
            else:
                schema_id = await self._registry.lookup(subject, schema)
        except RegistryError as exc:
            if is_not_found(exc):
                raise SerializationError(
                    f"the schema of {model.AVRO_NAME} is not registered under subject {subject} at "
                    f"{self._registry.url}; run `lgsp schemas register` (or set registry.auto_register)"
                ) from exc
            raise
        plain = plain_writer(schema)
        encode = None if plain is None else compile_writer(plain_schema(schema))
        return _Writer(HEADER.pack(MAGIC_BYTE, schema_id), parsed, plain, encode)

    def serialize(self, event: Event, ctx: SerializationContext) -> bytes:
        """The event's bytes: header + Avro binary of ``event.to_avro()`` under the model's schema.

        Where the schema allows, the record is taken from the model's fields directly with its logical types
        converted, and written with the schema's plain twin (:mod:`bus.avro_plain`): the same bytes as
        ``to_avro()`` under the schema, cheaper. One path for every model: a record made some other way is
        written with :meth:`serialize_record`.
        """
        return self._serialize(event, ctx, None)

    def serialize_stamped(self, event: Event, ctx: SerializationContext, published_at: datetime) -> bytes:
        """:meth:`serialize` of ``event`` with ``meta.published_at`` replaced by ``published_at``.

        The Publisher stamps every event of a call so, without copying the models.
        """
        return self._serialize(event, ctx, published_at)

    def _serialize(self, event: Event, ctx: SerializationContext, published_at: datetime | None) -> bytes:
        model = type(event)
        writer = self._writer(model)
        plain = writer.plain
        if plain is None:  # a schema bus.avro_plain does not cover (none of the bus's own)
            record = event.to_avro()
            if published_at is not None:
                record = {**record, "meta": {**record["meta"], "published_at": published_at}}
            return self.serialize_record(model, record, ctx)
        try:
            record = plain.from_model(event)
            if published_at is not None:
                record["meta"]["published_at"] = _TIMESTAMP_MILLIS(published_at, _TIMESTAMP_NODE)
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
            raise SerializationError(
                f"{model.AVRO_NAME} for topic {ctx.topic} is not a record: {exc}"
            ) from exc
        return _write(writer.header, plain.schema, record, model, ctx, writer.encode)

    def serialize_plain_stamped(
        self, model: type[Event], record: Mapping[str, Any], ctx: SerializationContext, published_ms: int
    ) -> bytes:
        """The bytes of a plain record (an :class:`~bus.events.record.EventRecord`'s ``avro``, checked) with
        ``meta.published_at`` set to ``published_ms``: written with the schema's plain twin as it is, so the
        same bytes as :meth:`serialize_stamped` of its model. ``record`` is not modified."""
        writer = self._writer(model)
        if writer.plain is None:  # none of the bus's schemas (a unit test of avro_plain checks)
            raise SerializationError(f"{model.AVRO_NAME}: its schema has no plain form to write records with")
        stamped = {**record, "meta": {**record["meta"], "published_at": published_ms}}
        return _write(writer.header, writer.plain.schema, stamped, model, ctx, writer.encode)

    def serialize_record(
        self, model: type[Event], record: Mapping[str, Any], ctx: SerializationContext
    ) -> bytes:
        """Like :meth:`serialize`, from a ``model.to_avro()`` record the caller may have adjusted.

        ``record`` is not modified; its logical-type values are converted as :meth:`serialize` does.
        """
        writer = self._writer(model)
        plain = writer.plain
        if plain is None:
            return _write(writer.header, writer.schema, record, model, ctx)
        return _write(writer.header, plain.schema, plain.convert(record), model, ctx)

    def _writer(self, model: type[Event]) -> _Writer:
        writer = self._writers.get(model)
        if writer is None:
            raise SerializationError(f"{model.__name__} was not prepared; await prepare() first")
        return writer


_TIMESTAMP_MILLIS: Final = LOGICAL_WRITERS["long-timestamp-millis"]
_TIMESTAMP_NODE: Final = {"type": "long", "logicalType": "timestamp-millis"}
"""fastavro's own datetime -> timestamp-millis conversion (the one it applies writing the logical type)."""


def _write(
    header: bytes,
    schema: Any,
    record: Mapping[str, Any],
    model: type[Event],
    ctx: SerializationContext,
    encode: Encode | None = None,
) -> bytes:
    """Header + the record's Avro bytes: by ``encode`` (compiled for ``schema``, the same bytes) if given,
    else by fastavro."""
    if encode is not None:
        try:
            return header + encode(record)
        except (*_AVRO_ERRORS, AttributeError) as exc:  # a str where a record belongs has no .encode
            raise SerializationError(
                f"{model.AVRO_NAME} for topic {ctx.topic} does not fit its schema: {exc}"
            ) from exc
    buffer = BytesIO(header)
    buffer.seek(HEADER.size)
    try:
        schemaless_writer(buffer, schema, record)
    except _AVRO_ERRORS as exc:
        raise SerializationError(
            f"{model.AVRO_NAME} for topic {ctx.topic} does not fit its schema: {exc}"
        ) from exc
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class _Reader:
    schema_id: SchemaId
    model: type[Event]
    writer_schema: Any
    reader_schema: Any  # None when identical to the writer's: fastavro then skips resolution
    plain_writer: Any  # the same two without logical types, for deserialize_record
    plain_reader: Any  # None when the bare types match (Parsing Canonical Form): no resolution either
    check: RecordCheck | None


class AvroDeserializer:
    """Confluent wire format -> event, resolving the writer's schema to the reader model's schema."""

    def __init__(
        self, registry: SchemaRegistryClient, *, reader_types: Mapping[str, type[Event]] | None = None
    ) -> None:
        self._registry = registry
        self._types = dict(EVENT_TYPES if reader_types is None else reader_types)
        self._reader_schemas: dict[str, Any] = {}
        self._plain_readers: dict[str, tuple[Any, str]] = {}
        self._readers: dict[int, _Reader] = {}
        self._by_header: dict[bytes, _Reader] = {}

    @staticmethod
    def schema_id_of(data: bytes) -> SchemaId:
        """The schema id in the header of ``data``; ``SerializationError`` if there is no valid header."""
        if len(data) < HEADER.size:
            raise SerializationError(f"{len(data)} bytes are too short for the Confluent wire format header")
        magic, schema_id = HEADER.unpack_from(data)
        if magic != MAGIC_BYTE:
            raise SerializationError(
                f"unknown magic byte {magic} (expected {MAGIC_BYTE}): not Confluent framing"
            )
        return SchemaId(schema_id)

    async def prepare_ids(self, ids: Iterable[SchemaId]) -> dict[SchemaId, LgspError]:
        """Fetch and prepare every id not seen yet; returns the ids that failed, with why.

        An ``UnknownSchemaError`` or ``UnknownRecordError`` is permanent for that record; a
        ``RegistryUnavailableError`` (``retriable``) is not. Failures are not cached: the next call asks
        again.
        """
        missing = sorted({SchemaId(i) for i in ids if i not in self._readers})
        # Bounded: a batch of garbage with many distinct "ids" must not queue on the connection pool until
        # its timeout, which would read as a registry outage and retry the batch forever.
        limit = asyncio.Semaphore(_MAX_CONCURRENT_FETCHES)
        outcomes = await asyncio.gather(*(self._prepare_one(i, limit) for i in missing))
        return {i: error for i, error in zip(missing, outcomes, strict=True) if error is not None}

    async def _prepare_one(self, schema_id: SchemaId, limit: asyncio.Semaphore) -> LgspError | None:
        try:
            async with limit:
                reader = await self._reader_for(schema_id)
        except LgspError as exc:
            return exc
        self._readers[schema_id] = reader
        self._by_header[HEADER.pack(MAGIC_BYTE, schema_id)] = reader
        return None

    async def _reader_for(self, schema_id: SchemaId) -> _Reader:
        try:
            writer = await self._registry.get_by_id(schema_id)
        except RegistryError as exc:
            if is_not_found(exc):
                raise UnknownSchemaError(f"schema id {schema_id} is unknown to {self._registry.url}") from exc
            raise
        writer_parsed = parsed_schema(writer, f"schema id {schema_id}")
        name = writer_parsed.get("name") if isinstance(writer_parsed, dict) else None
        model = self._types.get(name) if isinstance(name, str) else None
        if model is None:
            raise UnknownRecordError(
                f"schema id {schema_id} writes {name}, which this reader has no model for"
            )
        reader_parsed = self._reader_schema(model)
        same = writer_parsed == reader_parsed
        plain_writer = parsed_schema(plain_schema(writer), f"schema id {schema_id}")
        plain_reader, reader_form = self._plain_reader(model)
        plain_same = to_parsing_canonical_form(plain_writer) == reader_form
        return _Reader(
            schema_id,
            model,
            writer_parsed,
            None if same else reader_parsed,
            plain_writer,
            None if plain_same else plain_reader,
            # the checks encode the rules of the bus's own models; another reader model reads through itself
            check_for(model.AVRO_NAME) if EVENT_TYPES.get(model.AVRO_NAME) is model else None,
        )

    def _plain_reader(self, model: type[Event]) -> tuple[Any, str]:
        """The model's schema without logical types, parsed, and its Parsing Canonical Form."""
        found = self._plain_readers.get(model.AVRO_NAME)
        if found is None:
            parsed = parsed_schema(
                plain_schema(model.avro_schema_source()), f"the schema of {model.__name__}"
            )
            found = self._plain_readers[model.AVRO_NAME] = (parsed, to_parsing_canonical_form(parsed))
        return found

    def _reader_schema(self, model: type[Event]) -> Any:
        parsed = self._reader_schemas.get(model.AVRO_NAME)
        if parsed is None:
            parsed = parsed_schema(model.avro_schema(), f"the schema of {model.__name__}")
            self._reader_schemas[model.AVRO_NAME] = parsed
        return parsed

    def deserialize(self, data: bytes, ctx: SerializationContext) -> Event:
        """The event in ``data``; every id in it must have gone through :meth:`prepare_ids`.

        Raises ``SerializationError`` (bad framing, bytes that do not decode, an id not prepared) or the
        model's ``ValidationError`` (decoded but semantically invalid).
        """
        # One lookup by the 5 header bytes checks length, magic byte and id at once for every prepared id.
        reader = self._by_header.get(data[: HEADER.size])
        if reader is None:
            schema_id = self.schema_id_of(data)  # raises on bad framing
            raise SerializationError(f"schema id {schema_id} was not prepared; await prepare_ids() first")
        schema_id = reader.schema_id
        buffer = BytesIO(data)  # shares the bytes object: no copy
        buffer.seek(HEADER.size)
        try:
            record = schemaless_reader(buffer, reader.writer_schema, reader.reader_schema)
        except _AVRO_ERRORS as exc:
            raise SerializationError(
                f"bytes from {ctx.topic} do not decode with schema id {schema_id}: {exc!r}"
            ) from exc
        if buffer.tell() != len(data):
            raise SerializationError(
                f"{len(data) - buffer.tell()} bytes left after decoding id {schema_id} from {ctx.topic}"
            )
        if not isinstance(record, dict):
            raise SerializationError(f"schema id {schema_id} does not decode to a record")
        return reader.model.from_avro(record)

    def deserialize_record(self, data: bytes, ctx: SerializationContext) -> EventRecord:
        """The event in ``data`` as an :class:`~bus.events.record.EventRecord`: what :meth:`deserialize`
        accepts, with the same errors, for a fraction of its cost.

        The record is read without logical types and checked by its type's compiled contract; a record
        the check refuses (or that does not read) goes through :meth:`deserialize`, which raises the precise
        error, or returns the model (made into the record) when the check was merely more cautious.
        """
        reader = self._by_header.get(data[: HEADER.size])
        if reader is not None and reader.check is not None:
            buffer = BytesIO(data)
            buffer.seek(HEADER.size)
            try:
                record = schemaless_reader(buffer, reader.plain_writer, reader.plain_reader)
            except _AVRO_ERRORS:
                record = None
            if type(record) is dict and buffer.tell() == len(data) and reader.check(record):
                # tuple.__new__ is one C call; EventRecord(...) goes through the NamedTuple's Python-level
                # __new__ (158 vs 286 ns a record, timeit: docs/design/event-record.md)
                return _new_record(EventRecord, (reader.model.AVRO_NAME, record))
        return record_of(self.deserialize(data, ctx))
