"""Avro binary encoding compiled per schema: the bytes fastavro writes, about three times faster.

fastavro's writer walks the schema for every record it writes (a dispatch on each field's type, union branch
matching, named-type lookups); on the publish path that was the largest single cost of ``bus.Publisher``
(16 µs of a DossierSynced record, against 5.5 µs here, timeit on this machine). :func:`compile_writer`
generates, once per schema, straight-line Python that writes a record's fields in order with the Avro
specification's encodings (zig-zag varints, length-prefixed UTF-8, enum indexes, ``["null", X]`` unions,
arrays and maps as one block then 0) and returns the bytes.

It is written for plain records (:mod:`bus.avro_plain`: logical types already in primitive form) that were
checked first (the compiled contract, or the model): it does not validate beyond what encoding itself
refuses. A value of the wrong type still fails (``TypeError``, ``AttributeError``, ``KeyError``,
``ValueError``, ``struct.error``), as it does in fastavro, and ``int``/``long`` values out of their range
raise ``ValueError``. Schemas outside what it covers (unions of several non-null branches, recursive types)
get ``None``: the caller writes those with fastavro. ``tests/unit/test_avro_writer.py`` compares the bytes
with fastavro's for every event type over generated events and for every construct on synthetic schemas.

Where the install built ``bus/_codec.c`` (``hatch_build.py``), :func:`compile_writer` hands the C writer a
program instead (:func:`writer_program`: the same walk of the schema, as steps rather than source): 1.2
instead of 4.2 µs per DossierSynced record. The generated Python (:func:`compile_python_writer`) stays the
definition; ``tests/unit/test_codec_native.py`` holds the C writer to its bytes and its refusals.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Mapping
from typing import Any, Final

from bus.avro_plain import full_name

Encode = Callable[[Mapping[str, Any]], bytes]
Op = tuple[Any, ...]
"""One step of a writer program: ``(kind, *arguments)``, the kinds numbered as ``bus._codec.KINDS``."""

# NATIVE: whether compile_writer hands the C writer (bus/_codec.c) a program instead of generating Python
# (the same bytes; tests/unit/test_codec_native.py compares them).
_native_encode: Callable[[Op, Mapping[str, Any]], bytes] | None = None
_KINDS: dict[str, int] = {}
try:
    from bus import _codec
except ImportError:  # not built: no compiler or Python headers at install time (hatch_build.py said so)
    NATIVE = False
else:
    NATIVE = True
    _native_encode = _codec.encode
    _KINDS = {name: i for i, name in enumerate(_codec.KINDS)}
WRITER: Final = "c" if NATIVE else "python"
"""Which code writes Avro, as ``lgsp_build_info{avro_writer}`` and the bench reports name it."""

_INT_MIN: Final = -(2**31)
_INT_MAX: Final = 2**31 - 1
_LONG_MIN: Final = -(2**63)
_LONG_MAX: Final = 2**63 - 1
_PRIMITIVES: Final = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def zigzag(value: int) -> bytes:
    """An Avro ``long`` (or ``int``): zig-zag, then a little-endian base-128 varint."""
    if not _LONG_MIN <= value <= _LONG_MAX:
        raise ValueError(f"{value} is out of the range of an Avro long")
    code = (value << 1) ^ (value >> 63)
    if code < 0x80:
        return _ONE_BYTE[code]
    if code < 0x4000:
        return bytes((code & 0x7F | 0x80, code >> 7))
    if 0x800000000 <= code < 0x40000000000:
        # Six groups: every timestamp-millis from 1971 to 2039, a few per event; unrolled, it costs a
        # quarter less than the loop below.
        return bytes(
            (
                code & 0x7F | 0x80,
                code >> 7 & 0x7F | 0x80,
                code >> 14 & 0x7F | 0x80,
                code >> 21 & 0x7F | 0x80,
                code >> 28 & 0x7F | 0x80,
                code >> 35,
            )
        )
    out = bytearray()
    while code >= 0x80:
        out.append((code & 0x7F) | 0x80)
        code >>= 7
    out.append(code)
    return bytes(out)


def _int(value: int) -> bytes:
    if not _INT_MIN <= value <= _INT_MAX:
        raise ValueError(f"{value} is out of the range of an Avro int")
    return zigzag(value)


_ONE_BYTE: Final = tuple(bytes((code,)) for code in range(0x80))
_LENGTHS: Final = tuple(zigzag(length) for length in range(4096))
"""The encoded lengths of short strings and arrays: a lookup instead of an encoding per value."""


class _UnsupportedError(Exception):
    """Internal: the schema uses something this compiler does not cover."""


class _Compiler:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {
            "_long": zigzag,
            "_int": _int,
            "_lengths": _LENGTHS,
            "_double": struct.Struct("<d").pack,
            "_float": struct.Struct("<f").pack,
        }
        self._named: dict[str, Mapping[str, Any]] = {}
        self._compiling: set[str] = set()
        self._count = 0

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}{self._count}"

    def value(self, schema: Any, var: str, out: list[str], pad: str, namespace: str | None) -> Op:
        """Lines appending the encoding of ``var`` (of ``schema``) to the parts list ``a``; the same as a
        program step."""
        if isinstance(schema, str):
            return self._named_or_primitive(schema, var, out, pad, namespace)
        if isinstance(schema, list):
            return self._union(schema, var, out, pad, namespace)
        if isinstance(schema, Mapping):
            return self._complex(schema, var, out, pad, namespace)
        raise _UnsupportedError(f"schema {schema!r}")

    def _named_or_primitive(self, name: str, var: str, out: list[str], pad: str, namespace: str | None) -> Op:
        if name in _PRIMITIVES:
            return self._primitive(name, var, out, pad)
        full = name if "." in name or not namespace else f"{namespace}.{name}"
        for candidate in (full, name):
            if candidate in self._compiling:
                raise _UnsupportedError(f"recursive type {candidate}")
            if candidate in self._named:
                found = self._named[candidate]
                return self._complex(found, var, out, pad, _namespace_of(found, namespace), defined=True)
        raise _UnsupportedError(f"unknown type {name}")

    @staticmethod
    def op(kind: str, *arguments: Any) -> Op:
        return (_KINDS.get(kind, kind), *arguments)

    def _primitive(self, kind: str, var: str, out: list[str], pad: str) -> Op:
        if kind == "null":
            out.append(f"{pad}if {var} is not None: raise TypeError('not null: %r' % ({var},))")
        elif kind == "boolean":
            out.append(f"{pad}a(b'\\x01' if {var} else b'\\x00')")
        elif kind == "int":
            out.append(f"{pad}a(_int({var}))")
        elif kind == "long":
            out.append(f"{pad}a(_long({var}))")
        elif kind == "float":
            out.append(f"{pad}a(_float({var}))")
        elif kind == "double":
            out.append(f"{pad}a(_double({var}))")
        else:  # string, bytes
            data = self.fresh("b")
            encoded = f"{var}.encode()" if kind == "string" else f"bytes({var})"
            out.append(f"{pad}{data} = {encoded}")
            out.append(f"{pad}n = len({data}); a(_lengths[n] if n < 4096 else _long(n)); a({data})")
        return self.op(kind)

    def _union(self, branches: list[Any], var: str, out: list[str], pad: str, namespace: str | None) -> Op:
        others = [branch for branch in branches if branch != "null"]
        if len(others) != 1 or len(branches) != 2:
            raise _UnsupportedError("a union other than [null, X] or [X, null]")
        null_index = branches.index("null")
        out.append(f"{pad}if {var} is None:")
        out.append(f"{pad}    a({zigzag(null_index)!r})")
        out.append(f"{pad}else:")
        out.append(f"{pad}    a({zigzag(1 - null_index)!r})")
        return self.op("union", null_index, self.value(others[0], var, out, pad + "    ", namespace))

    def _complex(
        self,
        schema: Mapping[str, Any],
        var: str,
        out: list[str],
        pad: str,
        namespace: str | None,
        *,
        defined: bool = False,
    ) -> Op:
        kind = schema["type"]
        if kind in ("record", "error", "enum", "fixed") and not defined:
            self._define(schema, namespace)
        own = _namespace_of(schema, namespace)
        if kind in ("record", "error"):
            name = full_name(schema, namespace)
            self._compiling.add(name)
            fields = []
            for field in schema["fields"]:
                item = self.fresh("v")
                out.append(f"{pad}{item} = {var}[{str(field['name'])!r}]")
                fields.append((str(field["name"]), self.value(field["type"], item, out, pad, own)))
            self._compiling.discard(name)
            return self.op("record", tuple(fields))
        if kind == "enum":
            table = self.fresh("symbols")
            self.namespace[table] = {symbol: zigzag(i) for i, symbol in enumerate(schema["symbols"])}
            out.append(f"{pad}a({table}[{var}])")
            return self.op("enum", {symbol: i for i, symbol in enumerate(schema["symbols"])})
        if kind == "fixed":
            size = int(schema["size"])
            out.append(f"{pad}if len({var}) != {size}: raise ValueError('fixed of {size} bytes')")
            out.append(f"{pad}a(bytes({var}))")
            return self.op("fixed", size)
        if kind in ("array", "map"):
            return self._collection(schema, kind, var, out, pad, own)
        if isinstance(kind, str | list | Mapping):
            return self.value(kind, var, out, pad, namespace)  # {"type": "string"} and the like
        raise _UnsupportedError(f"type {kind!r}")

    def _collection(
        self, schema: Mapping[str, Any], kind: str, var: str, out: list[str], pad: str, namespace: str | None
    ) -> Op:
        # One block of all the items, then the empty block: what fastavro writes
        item = self.fresh("i")
        out.append(f"{pad}if {var}:")
        out.append(f"{pad}    n = len({var}); a(_lengths[n] if n < 4096 else _long(n))")
        if kind == "array":
            out.append(f"{pad}    for {item} in {var}:")
            items = self.value(schema["items"], item, out, pad + "        ", namespace)
        else:
            key = self.fresh("k")
            out.append(f"{pad}    for {key}, {item} in {var}.items():")
            self._primitive("string", key, out, pad + "        ")
            items = self.value(schema["values"], item, out, pad + "        ", namespace)
        out.append(f"{pad}a(b'\\x00')")
        return self.op(kind, items)

    def _define(self, schema: Mapping[str, Any], namespace: str | None) -> None:
        full = full_name(schema, namespace)
        self._named[full] = schema
        self._named.setdefault(str(schema["name"]), schema)


def compile_writer(schema: Mapping[str, Any]) -> Encode | None:
    """The encoder of record ``schema`` (JSON form, self-contained, logical types stripped or not: an
    annotation does not change the encoding of its primitive), or None if it uses what is not covered: the
    C writer with the schema's program where the install built it, else :func:`compile_python_writer`'s."""
    if _native_encode is None:
        return compile_python_writer(schema)
    program = writer_program(schema)
    return None if program is None else functools.partial(_native_encode, program)


def writer_program(schema: Mapping[str, Any]) -> Op | None:
    """The program of record ``schema`` for ``bus._codec.encode`` (the steps the generated Python takes, in
    the same walk), or None if the schema uses what is not covered."""
    try:
        return _Compiler().value(schema, "r", [], "    ", None)
    except _UnsupportedError:
        return None


def compile_python_writer(schema: Mapping[str, Any]) -> Encode | None:
    """The encoder of record ``schema`` as generated Python (the definition of the C writer's bytes)."""
    compiler = _Compiler()
    lines: list[str] = []
    try:
        compiler.value(schema, "r", lines, "    ", None)
    except _UnsupportedError:
        return None
    source = "\n".join(
        ["def encode(r):", "    parts = []", "    a = parts.append", *lines, "    return b''.join(parts)"]
    )
    namespace = compiler.namespace
    exec(compile(source, f"<avro writer {schema.get('name')}>", "exec"), namespace)  # noqa: S102 - our own source
    encode: Encode = namespace["encode"]
    return encode


def _namespace_of(schema: Mapping[str, Any], namespace: str | None) -> str | None:
    if schema.get("type") not in ("record", "error", "enum", "fixed"):
        return namespace
    return full_name(schema, namespace).rpartition(".")[0] or None
