"""bus.avro_plain: converted records under the plain schema are byte for byte what fastavro writes."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.avro_plain import plain_writer
from bus.events import EVENT_TYPES, Event
from bus.registry import SchemaRegistryClient
from bus.serde import AvroSerializer, SerializationContext
from bus.settings import Settings
from tests import publishing_samples as samples
from tests.strategies import EVENT_STRATEGIES
from tests.unit.registry_fake import FakeRegistry

pytestmark = pytest.mark.unit

_EDGE_TIMES = (
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
    datetime(2099, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    datetime(2025, 7, 1, 7, 0, tzinfo=timezone(timedelta(hours=7))),
)
_EDGE_DATES = (date(1900, 1, 1), date(1969, 12, 31), date(1970, 1, 1), date(2099, 12, 31))


def _logical_bytes(schema: Any, record: Any) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(schema), record)
    return buffer.getvalue()


def _plain_bytes(source: dict[str, Any], record: Any) -> bytes:
    writer = plain_writer(source)
    assert writer is not None
    buffer = io.BytesIO()
    schemaless_writer(buffer, writer.schema, writer.convert(record))
    return buffer.getvalue()


def _with_times(record: Any, when: datetime, day: date) -> Any:
    """``record`` with every datetime set to ``when`` and every date to ``day`` (None stays None)."""
    if isinstance(record, dict):
        return {key: _with_times(value, when, day) for key, value in record.items()}
    if isinstance(record, list | tuple):
        return [_with_times(value, when, day) for value in record]
    if isinstance(record, datetime):
        return when
    if isinstance(record, date):
        return day
    return record


@pytest.mark.parametrize("model", list(EVENT_TYPES.values()), ids=lambda m: m.__name__)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_event_type_writes_the_same_bytes(model: type[Event], data: st.DataObject) -> None:
    event = data.draw(EVENT_STRATEGIES[model])
    source = model.avro_schema_source()
    record = event.to_avro()
    assert _plain_bytes(source, record) == _logical_bytes(source, record)


@pytest.mark.parametrize("model", list(EVENT_TYPES.values()), ids=lambda m: m.__name__)
@pytest.mark.parametrize("when", _EDGE_TIMES, ids=str)
@pytest.mark.parametrize("day", _EDGE_DATES, ids=str)
def test_edge_times_and_dates_write_the_same_bytes(model: type[Event], when: datetime, day: date) -> None:
    event = _sample(model)
    source = model.avro_schema_source()
    record = _with_times(event.to_avro(), when, day)
    record["meta"]["published_at"] = when
    assert _plain_bytes(source, record) == _logical_bytes(source, record)


def _sample(model: type[Event]) -> Event:
    builders = {b(0)["type"]: b for b in samples.BUILDERS}
    return samples.event(builders[model.AVRO_NAME](3))


def test_the_converter_leaves_its_argument_alone() -> None:
    event = _sample(EVENT_TYPES["vn.gov.lgsp.dossier.DossierSynced"])
    record = event.to_avro()
    before = repr(record)
    writer = plain_writer(type(event).avro_schema_source())
    assert writer is not None
    converted = writer.convert(record)
    assert repr(record) == before
    assert converted["meta"]["occurred_at"] == (
        event.meta.occurred_at - datetime(1970, 1, 1, tzinfo=UTC)
    ) // (timedelta(milliseconds=1))


_SHAPES: dict[str, Any] = {
    "type": "record",
    "name": "t.Shapes",
    "fields": [
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "micros", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}], "default": None},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "days", "type": {"type": "array", "items": {"type": "int", "logicalType": "date"}}},
        {"name": "by_name", "type": {"type": "map", "values": {"type": "int", "logicalType": "date"}}},
        {
            "name": "inner",
            "type": {
                "type": "record",
                "name": "Inner",
                "fields": [
                    {"name": "when", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
                    {"name": "odd", "type": {"type": "string", "logicalType": "not-a-known-one"}},
                ],
            },
        },
        {"name": "again", "type": {"type": "array", "items": "Inner"}},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "kinds", "type": {"type": "array", "items": "t.Kind"}},
    ],
}


def test_other_logical_types_and_shapes_write_the_same_bytes() -> None:
    when = datetime(2031, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
    inner = {"when": when, "odd": "x"}
    record = {
        "at": when,
        "micros": when,
        "day": date(2000, 2, 29),
        "id": uuid.UUID("6f1c1a8e-9a53-4c3e-9a77-2f1f5f3b8d10"),
        "amount": Decimal("-1234.50"),
        "days": [date(1999, 12, 31), date(1970, 1, 2)],
        "by_name": {"a": date(2001, 1, 1)},
        "inner": inner,
        "again": [inner, {"when": None, "odd": "y"}],
        "kind": "B",
        "kinds": ["A", "B"],
    }
    assert _plain_bytes(_SHAPES, record) == _logical_bytes(_SHAPES, record)
    assert _plain_bytes(_SHAPES, {**record, "day": None}) == _logical_bytes(_SHAPES, {**record, "day": None})


@pytest.mark.parametrize(
    "field_type",
    [
        ["null", "string", {"type": "long", "logicalType": "timestamp-millis"}],
        [{"type": "int", "logicalType": "date"}, {"type": "long", "logicalType": "timestamp-millis"}],
    ],
    ids=["string-or-time", "date-or-time"],
)
def test_a_union_whose_branch_the_value_decides_is_left_to_fastavro(field_type: list[Any]) -> None:
    schema = {"type": "record", "name": "t.U", "fields": [{"name": "x", "type": field_type}]}
    assert plain_writer(schema) is None


def test_a_recursive_record_is_left_to_fastavro() -> None:
    schema = {
        "type": "record",
        "name": "t.Node",
        "fields": [
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "next", "type": ["null", "Node"], "default": None},
        ],
    }
    assert plain_writer(schema) is None


@pytest.mark.parametrize("model", list(EVENT_TYPES.values()), ids=lambda m: m.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_record_from_the_models_fields_writes_the_same_bytes(
    model: type[Event], data: st.DataObject
) -> None:
    event = data.draw(EVENT_STRATEGIES[model])
    source = model.avro_schema_source()
    writer = plain_writer(source)
    assert writer is not None
    buffer = io.BytesIO()
    schemaless_writer(buffer, writer.schema, writer.from_model(event))
    assert buffer.getvalue() == _logical_bytes(source, event.to_avro())


@pytest.fixture
async def serializer() -> AsyncIterator[AvroSerializer]:
    registry_settings = Settings().registry.model_copy(update={"url": "http://registry.test/apis/ccompat/v7"})
    async with SchemaRegistryClient(registry_settings, transport=FakeRegistry().transport()) as client:
        serializer = AvroSerializer(client, auto_register=True)
        await serializer.prepare(EVENT_TYPES.values())
        yield serializer


@pytest.mark.parametrize("model", list(EVENT_TYPES.values()), ids=lambda m: m.__name__)
@pytest.mark.parametrize("stamp", [None, *_EDGE_TIMES], ids=str)
async def test_the_serializer_stamps_published_at_as_a_stamped_copy_would_be_written(
    serializer: AvroSerializer, model: type[Event], stamp: datetime | None
) -> None:
    event = _sample(model)
    ctx = SerializationContext("t")
    stamped = event if stamp is None else event.with_published_at(stamp)
    expected = _logical_bytes(model.avro_schema_source(), stamped.to_avro())
    if stamp is not None:
        assert serializer.serialize_stamped(event, ctx, stamp)[5:] == expected
    assert serializer.serialize(stamped, ctx)[5:] == expected
    assert serializer.serialize_record(model, stamped.to_avro(), ctx)[5:] == expected
