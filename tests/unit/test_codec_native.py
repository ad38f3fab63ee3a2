"""The C Avro writer and murmur2 (``bus/_codec.c``) against their Python definitions.

``bus.avro_writer`` and ``bus.partitioner`` use the C module when the install built it (``hatch_build.py``).
These tests build it themselves with the hook's own compile step: where that works, the install must have
built it too (a silent fallback costs about 4.5 µs per published event), and the C functions must give the
Python code's bytes and numbers for every input, refuse what the Python code refuses, and refuse a
malformed program instead of reading past it.
"""

from __future__ import annotations

import struct
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hatch_build
from bus import avro_writer, partitioner
from bus.avro_plain import plain_schema
from bus.events import EVENT_TYPES, Event
from bus.events.record import record_of
from tests.native import compiled
from tests.strategies import events
from tests.unit.test_avro_writer import _VALID, SYNTHETIC, SYNTHETIC_RECORDS

pytestmark = pytest.mark.unit

REFUSED = (TypeError, ValueError, KeyError, OverflowError)
"""What the C writer raises for a value that does not fit: what the Publisher's encoder turns into an
``EventEncodingError`` naming the event."""


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> ModuleType | None:
    """The C module compiled from this tree by the build hook; None where this machine cannot compile it."""
    return compiled(hatch_build.CODEC, tmp_path_factory.mktemp("codec"))


def test_the_install_uses_the_c_codec_wherever_it_can_be_built(native: ModuleType | None) -> None:
    assert avro_writer.NATIVE is (native is not None), (
        "the hook can build the C writer here, but the install has not"
    )
    assert partitioner.NATIVE is (native is not None)
    if native is not None:
        from bus import _codec

        assert native.KINDS == _codec.KINDS  # the programs are numbered by the installed module
        assert avro_writer.WRITER == "c"


def _built(native: ModuleType | None) -> ModuleType | None:
    """``native``; where nothing compiles, there is nothing to compare: the Python code must be in use."""
    if native is None:
        assert partitioner.murmur2 is partitioner.python_murmur2
        assert avro_writer.WRITER == "python"
    return native


def _both(native: ModuleType, schema: Any) -> tuple[Any, Any]:
    program = avro_writer.writer_program(schema)
    python = avro_writer.compile_python_writer(schema)
    assert program is not None
    assert python is not None
    return (lambda record: native.encode(program, record)), python


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events())
def test_the_c_writer_writes_every_event_as_the_python_writer(
    native: ModuleType | None, event: Event
) -> None:
    if (c := _built(native)) is not None:
        encode, python = _both(c, plain_schema(type(event).avro_schema_source()))
        record = dict(record_of(event).avro)
        assert encode(record) == python(record)


def test_every_event_type_has_a_program() -> None:
    for model in EVENT_TYPES.values():
        assert avro_writer.writer_program(plain_schema(model.avro_schema_source())) is not None


@settings(max_examples=200, deadline=None)
@given(record=SYNTHETIC_RECORDS)
def test_the_c_writer_writes_every_construct_as_the_python_writer(
    native: ModuleType | None, record: dict[str, Any]
) -> None:
    if (c := _built(native)) is not None:
        encode, python = _both(c, SYNTHETIC)
        assert encode(record) == python(record)


def test_the_c_writer_grows_its_buffer_at_every_boundary(native: ModuleType | None) -> None:
    """Every record size from empty to past the third doubling of the writer's buffer (512 bytes at first),
    so that each kind of write (a string, bytes, a 10-byte varint) ends exactly at, one short of and one past
    the buffer's end somewhere: an off-by-one there writes past the buffer, which the sanitizer run of this
    file (``test_native_sanitized``) reports even where the bytes come out right."""
    if (c := _built(native)) is None:
        return
    encode, python = _both(c, SYNTHETIC)
    for size in range(2_100):
        for record in (
            {**_VALID, "s": "x" * size},
            {**_VALID, "raw": b"\xff" * size, "l": -(2**63)},
            {**_VALID, "m": {f"{n:05}": 2**62 for n in range(size // 16)}, "s": "x" * (size % 16)},
        ):
            assert encode(record) == python(record), size


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("l", 2**63),
        ("i", 2**31),
        ("l", "1"),
        ("l", 1.5),
        ("d", "x"),
        ("f", 1e300),
        ("e", "PURPLE"),
        ("e", ["RED"]),
        ("fx", b"12345"),
        ("s", 5),
        ("s", "\ud800"),
        ("a", [{}]),
        ("a", [{"k": "x"}]),
        ("m", {1: 2}),
        ("later", 7),
    ],
)
def test_the_c_writer_refuses_what_the_python_writer_refuses(
    native: ModuleType | None, field: str, value: Any
) -> None:
    if (c := _built(native)) is None:
        return
    encode, python = _both(c, SYNTHETIC)
    assert encode(_VALID) == python(_VALID)
    record = {**_VALID, field: value}
    with pytest.raises(REFUSED):
        encode(record)
    # the Python writer also raises AttributeError (str.encode of a non-str) and struct.error (a str packed
    # as a double), which the C writer raises as TypeError
    with pytest.raises((*REFUSED, AttributeError, struct.error)):
        python(record)


def test_the_c_writer_reads_any_mapping_and_names_a_missing_field(native: ModuleType | None) -> None:
    if (c := _built(native)) is None:
        return
    encode, python = _both(c, SYNTHETIC)
    from types import MappingProxyType

    assert encode(MappingProxyType(_VALID)) == python(_VALID)
    with pytest.raises(KeyError, match="'s'"):
        encode({k: v for k, v in _VALID.items() if k != "s"})
    with pytest.raises(TypeError):
        encode([1, 2])


def test_the_c_writer_refuses_a_malformed_program(native: ModuleType | None) -> None:
    if (c := _built(native)) is None:
        return
    kinds = {name: i for i, name in enumerate(c.KINDS)}
    union, record, enum = kinds["union"], kinds["record"], kinds["enum"]
    for program, value in [
        ((99,), 1),
        (("long",), 1),
        ((), 1),
        ("long", 1),
        ((record, "fields"), {}),
        ((record, (("a",),)), {"a": 1}),
        ((enum, ["RED"]), "RED"),
        ((union, 2, (kinds["long"],)), 1),
        ((union,), 1),
        ((kinds["fixed"], "four"), b"abcd"),
    ]:
        with pytest.raises(ValueError, match="malformed writer program"):
            c.encode(program, value)
    deep: tuple[Any, ...] = (kinds["long"],)
    for _ in range(100):
        deep = (union, 0, deep)
    with pytest.raises(ValueError, match="nested too deeply"):
        c.encode(deep, 1)
    with pytest.raises(TypeError, match="a program and a record"):
        c.encode((kinds["long"],))


@given(st.binary(max_size=300))
def test_the_c_murmur2_is_the_python_murmur2(native: ModuleType | None, data: bytes) -> None:
    if (c := _built(native)) is not None:
        assert c.murmur2(data) == partitioner.python_murmur2(data)


def test_the_c_murmur2_takes_bytes_only(native: ModuleType | None) -> None:
    if (c := _built(native)) is None:
        return
    for bad in ("text", bytearray(b"x"), memoryview(b"x"), 5):
        with pytest.raises(TypeError, match="takes bytes"):
            c.murmur2(bad)
