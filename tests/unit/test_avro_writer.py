"""bus.avro_writer: the compiled encoder writes exactly fastavro's bytes, for every event type
and construct."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.avro_plain import plain_schema, plain_writer
from bus.avro_writer import compile_writer, zigzag
from bus.events import EVENT_TYPES, Event
from bus.events.record import record_of
from tests.strategies import events

pytestmark = pytest.mark.unit


def fastavro_bytes(schema: Any, record: Any) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), record)
    return buffer.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events())
def test_every_event_is_written_as_fastavro_writes_it(event: Event) -> None:
    schema = plain_schema(type(event).avro_schema_source())
    encode = compile_writer(schema)
    assert encode is not None
    record = dict(record_of(event).avro)
    assert encode(record) == fastavro_bytes(schema, record)


def test_every_event_type_has_a_compiled_writer() -> None:
    assert all(compile_writer(plain_schema(m.avro_schema_source())) is not None for m in EVENT_TYPES.values())


SYNTHETIC = {
    "type": "record",
    "name": "All",
    "namespace": "t.ns",
    "fields": [
        {"name": "i", "type": "int"},
        {"name": "l", "type": "long"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "b", "type": "boolean"},
        {"name": "raw", "type": "bytes"},
        {"name": "s", "type": "string"},
        {"name": "e", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN", "BLUE"]}},
        {"name": "e2", "type": "Colour"},
        {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
        {"name": "m", "type": {"type": "map", "values": "long"}},
        {"name": "a", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
            {"name": "k", "type": "string"}, {"name": "v", "type": ["null", "double"]}]}}},
        {"name": "later", "type": ["string", "null"]},
        {"name": "items", "type": {"type": "array", "items": "t.ns.Item"}},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}  # fmt: skip

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
_items = st.lists(
    st.fixed_dictionaries({"k": _text, "v": st.none() | st.floats(allow_nan=False)}), max_size=5
)


SYNTHETIC_RECORDS = st.fixed_dictionaries(
    {
        "i": st.integers(-(2**31), 2**31 - 1),
        "l": st.integers(-(2**63), 2**63 - 1),
        "f": st.floats(width=32, allow_nan=False),
        "d": st.floats(allow_nan=False),
        "b": st.booleans(),
        "raw": st.binary(max_size=20),
        "s": st.text(max_size=5000).filter(lambda t: not any("\ud800" <= c <= "\udfff" for c in t)),
        "e": st.sampled_from(["RED", "GREEN", "BLUE"]),
        "e2": st.sampled_from(["RED", "GREEN", "BLUE"]),
        "fx": st.binary(min_size=4, max_size=4),
        "m": st.dictionaries(_text, st.integers(-(2**63), 2**63 - 1), max_size=5),
        "a": _items,
        "later": st.none() | _text,
        "items": _items,
        "ts": st.integers(0, 2**45),
    }
)
"""Records of ``SYNTHETIC``: every construct the writers cover, with values at their edges."""


@settings(max_examples=200, deadline=None)
@given(record=SYNTHETIC_RECORDS)
def test_every_construct_is_written_as_fastavro_writes_it(record: dict[str, Any]) -> None:
    encode = compile_writer(SYNTHETIC)
    assert encode is not None
    assert encode(record) == fastavro_bytes(SYNTHETIC, record)


_VALID: dict[str, Any] = {
    "i": 1, "l": 2, "f": 0.5, "d": 1.5, "b": True, "raw": b"", "s": "", "e": "RED", "e2": "BLUE",
    "fx": b"abcd", "m": {}, "a": [], "later": None, "items": [], "ts": 0,
}  # fmt: skip
_REFUSED = (ValueError, TypeError, KeyError, AttributeError, OverflowError)


@pytest.mark.parametrize(
    ("field", "value"), [("l", 2**63), ("e", "PURPLE"), ("fx", b"12345"), ("s", 5), ("l", "1"), ("a", [{}])]
)
def test_a_value_it_cannot_encode_raises_as_fastavro_does(field: str, value: Any) -> None:
    encode = compile_writer(SYNTHETIC)
    assert encode is not None
    assert encode(_VALID) == fastavro_bytes(SYNTHETIC, _VALID)
    record = {**_VALID, field: value}
    with pytest.raises(_REFUSED):
        encode(record)
    with pytest.raises(_REFUSED):
        fastavro_bytes(SYNTHETIC, record)


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1])
def test_an_int_out_of_its_range_is_refused_where_fastavro_writes_a_long(value: int) -> None:
    """fastavro writes it as a longer varint that a reader of an ``int`` cannot read back; refused here."""
    encode = compile_writer(SYNTHETIC)
    assert encode is not None
    with pytest.raises(ValueError, match="range of an Avro int"):
        encode({**_VALID, "i": value})


@pytest.mark.parametrize(
    "field_type",
    [
        ["null", "string", "long"],
        ["string", "long"],
        {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]},
    ],
)
def test_a_schema_it_does_not_cover_gets_none(field_type: Any) -> None:
    schema = {"type": "record", "name": "R", "fields": [{"name": "x", "type": field_type}]}
    assert compile_writer(schema) is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events())
def test_a_models_fields_are_written_as_fastavro_writes_its_record(event: Event) -> None:
    """The Publisher's model path: the fields converted straight from the model (enum members, tuples,
    nested models) give the bytes fastavro writes for ``to_avro()`` under the schema with logical types."""
    source = type(event).avro_schema_source()
    encode, plain = compile_writer(plain_schema(source)), plain_writer(source)
    assert encode is not None
    assert plain is not None
    assert encode(plain.from_model(event)) == fastavro_bytes(source, event.to_avro())


_LONGS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    # every varint length (1 to 10 bytes) at both of its ends, where an unrolled case could be off by one
    st.integers(min_value=0, max_value=9).flatmap(
        lambda groups: st.sampled_from([2 ** (7 * groups) - 1, 2 ** (7 * groups), -(2 ** (7 * groups))])
    ),
    st.integers(min_value=0, max_value=2**42),  # timestamp-millis of any year to 2109
)


@settings(max_examples=500, deadline=None)
@given(value=_LONGS)
def test_every_long_is_the_varint_fastavro_writes(value: int) -> None:
    value = max(-(2**63), min(2**63 - 1, value))
    assert zigzag(value) == fastavro_bytes("long", value)
