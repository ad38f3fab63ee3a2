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
from io import BytesIO
from typing import Any, Final, Literal

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from bus.errors import (
    LgspError,
    RegistryError,
    SerializationError,
    UnknownRecordError,
    UnknownSchemaError,
)
from bus.events import EVENT_TYPES, Event
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


class AvroSerializer:
    """Event -> Confluent wire format, with the schema id of the event's own schema."""

    def __init__(self, registry: SchemaRegistryClient, *, auto_register: bool = False) -> None:
        self._registry = registry
        self._auto_register = auto_register
        # Per model type: (5-byte header, parsed schema); one dict lookup per record on the hot path.
        self._writers: dict[type[Event], tuple[bytes, Any]] = {}

    async def prepare(self, types: Iterable[type[Event]]) -> None:
        """Resolve the schema id of each type (registering it when ``auto_register``); cached."""
        for model in types:
            if model not in self._writers:
                self._writers[model] = await self._writer_for(model)

    async def _writer_for(self, model: type[Event]) -> tuple[bytes, Any]:
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
        return HEADER.pack(MAGIC_BYTE, schema_id), parsed

    def serialize(self, event: Event, ctx: SerializationContext) -> bytes:
        """The event's bytes: header + Avro binary of ``event.to_avro()`` under the model's schema."""
        return self.serialize_record(type(event), event.to_avro(), ctx)

    def serialize_record(
        self, model: type[Event], record: Mapping[str, Any], ctx: SerializationContext
    ) -> bytes:
        """Like :meth:`serialize`, from a ``model.to_avro()`` record the caller may have adjusted.

        The Publisher stamps ``meta.published_at`` into the record rather than copying the model twice.
        """
        writer = self._writers.get(model)
        if writer is None:
            raise SerializationError(f"{model.__name__} was not prepared; await prepare() first")
        header, schema = writer
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


class AvroDeserializer:
    """Confluent wire format -> event, resolving the writer's schema to the reader model's schema."""

    def __init__(
        self, registry: SchemaRegistryClient, *, reader_types: Mapping[str, type[Event]] | None = None
    ) -> None:
        self._registry = registry
        self._types = dict(EVENT_TYPES if reader_types is None else reader_types)
        self._reader_schemas: dict[str, Any] = {}
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
        return _Reader(schema_id, model, writer_parsed, None if same else reader_parsed)

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
