"""The compiled contract of an event type: one plain-code check, built once from its ``.avsc`` and the rules.

The views' decode path reads records without logical types (times in epoch milliseconds, dates in epoch
days, UUIDs as text) and must not build a pydantic model per event: that was most of a rebuild's cost. For
each event type :func:`compile_check` generates, once, a Python function over such a record:

* the structure comes from the ``.avsc`` (fields, Avro types, enum symbols, nested records, unions, arrays);
* each field's limits and rules come from the model's annotations, which are rows of the rule table
  (:mod:`bus.events.rules`): :class:`~bus.events.rules.Limits` (read back as the constraints pydantic itself
  enforces), :class:`~bus.events.rules.FieldRule` (called), :data:`~bus.events.rules.NFC`;
* the rules across fields are the table's :data:`~bus.events.rules.RECORD_RULES`, the very functions the
  models run.

The function answers True only when the model would accept the record *unchanged* (same values: canonical
UUIDs, NFC text). It is generated as source (see :func:`check_source`) rather than composed of closures: one
function per record type with the checks inline is as fast as the hand-written checks it replaces. A record it
refuses goes through the model, which says precisely which rule broke (``tests/unit/test_event_record.py``
holds the check to "never less strict than the model" on generated events and on every broken rule).
"""

from __future__ import annotations

import math
import re
import typing
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import annotated_types as at

from bus.agencies import load_catalog
from bus.events._base import AvroRecord, Event
from bus.events.rules import (
    EARLIEST_MS,
    FIRST_DAY,
    LAST_DAY,
    LATEST_MS,
    RECORD_RULES,
    FieldRule,
    Nfc,
    first_violation,
)
from bus.schemas import full_name

RecordCheck = Callable[[Mapping[str, Any]], bool]

_CANONICAL_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_WIDTHS = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


@dataclass
class _Constraints:
    """What the annotations of one value say, later metadata overriding earlier (as in pydantic)."""

    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    ge: int | None = None
    le: int | None = None
    nfc: bool = False
    rules: list[FieldRule] = field(default_factory=list)

    def add(self, item: Any) -> None:
        if isinstance(item, FieldRule):
            self.rules.append(item)
        elif isinstance(item, Nfc):
            self.nfc = True
        elif isinstance(item, at.GroupedMetadata):  # our Limits rows, pydantic's Field(...) and the like
            for part in item:
                self.add(part)
        elif hasattr(item, "metadata") and isinstance(item.metadata, list):  # a FieldInfo
            for part in item.metadata:
                self.add(part)
        elif isinstance(item, at.MinLen):
            self.min_length = item.min_length
        elif isinstance(item, at.MaxLen):
            self.max_length = item.max_length
        elif isinstance(item, at.Ge):
            self.ge = int(item.ge)  # type: ignore[call-overload]  # our bounds are ints
        elif isinstance(item, at.Le):
            self.le = int(item.le)  # type: ignore[call-overload]
        elif getattr(item, "pattern", None) is not None:  # pydantic's general metadata
            self.pattern = str(item.pattern)


def _unwrap(annotation: Any) -> tuple[Any, _Constraints]:
    """The bare type under ``Annotated`` layers, and the constraints of those layers (outermost last)."""
    layers: list[list[Any]] = []
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *metadata = typing.get_args(annotation)
        layers.append(metadata)
    constraints = _Constraints()
    for metadata in reversed(layers):  # innermost first: the outer ones override
        for item in metadata:
            constraints.add(item)
    return annotation, constraints


class _Compiler:
    """Generates the source of one check function per record type, and the namespace it runs in."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {
            "_is_normalized": unicodedata.is_normalized,
            "_isfinite": math.isfinite,
            "_first_violation": first_violation,
        }
        self._functions: dict[str, str] = {}  # record full name -> its function's name
        self._named: dict[str, Any] = {}  # named Avro types defined so far, by full name
        self._count = 0

    def constant(self, value: Any, stem: str) -> str:
        self._count += 1
        name = f"_{stem}{self._count}"
        self.namespace[name] = value
        return name

    def record(self, schema: Mapping[str, Any], model: type[AvroRecord], namespace: str | None) -> str:
        """The name of the function that checks records of ``schema`` (read as ``model`` reads them)."""
        name = full_name(dict(schema), namespace)
        self._named[name] = schema
        if name in self._functions:
            return self._functions[name]
        function = self._functions[name] = f"_check_{name.replace('.', '_')}"
        hints = typing.get_type_hints(model, include_extras=True)
        own_namespace = name.rpartition(".")[0] or None
        body = [f"if type(r) is not dict or len(r) != {len(schema['fields'])}: return False"]
        for index, avro_field in enumerate(schema["fields"]):
            var = f"v{index}"
            body.append(f"{var} = r.get({avro_field['name']!r})")
            self.value(avro_field["type"], hints[avro_field["name"]], var, body, own_namespace)
        if name in RECORD_RULES:
            body.append(f"if _first_violation({name!r}, r, cat) is not None: return False")
        body.append("return True")
        self.lines += [f"def {function}(r, cat):", *(f"    {line}" for line in body), ""]
        return function

    def value(self, schema: Any, annotation: Any, var: str, out: list[str], namespace: str | None) -> None:
        """Append to ``out`` the statements returning False when ``var`` breaks ``schema``/``annotation``."""
        bare, constraints = _unwrap(annotation)
        if isinstance(schema, str) and schema in self._named:
            schema = self._named[schema]
        elif (
            isinstance(schema, str)
            and "." not in schema
            and namespace
            and f"{namespace}.{schema}" in self._named
        ):
            schema = self._named[f"{namespace}.{schema}"]
        if isinstance(schema, list):
            self._optional(schema, bare, var, out, namespace)
            return
        if isinstance(schema, str):
            schema = {"type": schema}
        kind, logical = schema["type"], schema.get("logicalType")
        if kind in ("record", "error"):
            self._named[full_name(schema, namespace)] = schema
            function = self.record(schema, bare, namespace)
            out.append(f"if not {function}({var}, cat): return False")
        elif kind == "enum":
            self._named[full_name(schema, namespace)] = schema
            symbols = self.constant(frozenset(schema["symbols"]), "symbols")
            out.append(f"if {var} not in {symbols}: return False")
        elif kind == "array":
            self._array(schema, bare, constraints, var, out, namespace)
        elif logical == "timestamp-millis":
            out.append(f"if type({var}) is not int or not {EARLIEST_MS} <= {var} < {LATEST_MS}: return False")
        elif logical == "date":
            out.append(f"if type({var}) is not int or not {FIRST_DAY} <= {var} <= {LAST_DAY}: return False")
        elif logical == "uuid":
            uuid = self.constant(re.compile(_CANONICAL_UUID).fullmatch, "uuid")
            out.append(f"if type({var}) is not str or {uuid}({var}) is None: return False")
        else:
            self._primitive(kind, constraints, var, out)

    def _optional(
        self, branches: list[Any], bare: Any, var: str, out: list[str], namespace: str | None
    ) -> None:
        others = [branch for branch in branches if branch != "null"]
        arguments = [a for a in typing.get_args(bare) if a is not type(None)]
        if len(branches) != 2 or len(others) != 1 or len(arguments) != 1:
            raise TypeError(f"only ['null', X] unions read as `X | None` are compiled, not {branches}")
        inner: list[str] = []
        self.value(others[0], arguments[0], var, inner, namespace)
        out.append(f"if {var} is not None:")
        out += [f"    {line}" for line in inner]

    def _array(
        self,
        schema: Mapping[str, Any],
        bare: Any,
        constraints: _Constraints,
        var: str,
        out: list[str],
        namespace: str | None,
    ) -> None:
        item_type, ellipsis = typing.get_args(bare)
        if ellipsis is not Ellipsis:
            raise TypeError(f"an Avro array reads as tuple[X, ...], not {bare}")
        out.append(f"if type({var}) is not list{self._length(constraints, var)}: return False")
        item = f"{var}i"
        inner: list[str] = []
        self.value(schema["items"], item_type, item, inner, namespace)
        out.append(f"for {item} in {var}:")
        out += [f"    {line}" for line in inner]

    def _primitive(self, kind: str, constraints: _Constraints, var: str, out: list[str]) -> None:
        if kind == "string":
            test = f"type({var}) is not str{self._length(constraints, var)}"
            if constraints.pattern is not None:
                # Python's \s covers at least what pydantic's (Rust) regex calls whitespace: never more
                # permissive than the model.
                match = self.constant(_fullmatch(constraints.pattern), "pattern")
                test += f" or {match}({var}) is None"
            if constraints.nfc:
                test += f' or not _is_normalized("NFC", {var})'
            out.append(f"if {test}: return False")
        elif kind in _WIDTHS:
            low, high = _WIDTHS[kind]
            low = low if constraints.ge is None else max(low, constraints.ge)
            high = high if constraints.le is None else min(high, constraints.le)
            out.append(f"if type({var}) is not int or not {low} <= {var} <= {high}: return False")
        elif kind == "boolean":
            out.append(f"if type({var}) is not bool: return False")
        elif kind == "double":
            out.append(f"if type({var}) is not float: return False")
        else:
            raise TypeError(f"Avro type {kind!r} is not compiled (no bus event uses it)")
        for rule in constraints.rules:
            out.append(f"if {self.constant(rule.check, 'rule')}({var}, cat) is not None: return False")

    @staticmethod
    def _length(constraints: _Constraints, var: str) -> str:
        low, high = constraints.min_length, constraints.max_length
        if low is None and high is None:
            return ""
        bounds = f"{low or 0} <= len({var})" + ("" if high is None else f" <= {high}")
        return f" or not {bounds}"


def _fullmatch(pattern: str) -> Callable[[str], Any]:
    # pydantic's patterns are anchored (^...$); Python's $ also matches before a final newline, so the
    # anchors become fullmatch.
    if not (pattern.startswith("^") and pattern.endswith("$")):
        raise TypeError(f"pattern {pattern!r} of the rule table is not anchored (^...$)")
    return re.compile(pattern[1:-1]).fullmatch


def check_source(model: type[Event]) -> tuple[str, dict[str, Any]]:
    """The generated source of ``model``'s check (function ``check``) and the namespace it needs."""
    compiler = _Compiler()
    top = compiler.record(model.avro_schema_source(), model, None)
    compiler.namespace["_catalog"] = load_catalog
    compiler.lines += ["def check(r):", f"    return {top}(r, _catalog())", ""]
    return "\n".join(compiler.lines), compiler.namespace


def compile_check(model: type[Event]) -> RecordCheck:
    """``model``'s compiled check: True when ``model.from_avro`` would accept the plain record unchanged."""
    source, namespace = check_source(model)
    exec(compile(source, f"<contract {model.AVRO_NAME}>", "exec"), namespace)  # noqa: S102 - our own source
    check: RecordCheck = namespace["check"]
    return check


def check_for(name: str) -> RecordCheck | None:
    """The compiled check of records of Avro type ``name``, compiled on first use; None for a type the bus
    does not carry."""
    check = _CHECKS.get(name)
    if check is None:
        from bus.events import EVENT_TYPES  # the event modules import this one

        model = EVENT_TYPES.get(name)
        if model is None:
            return None
        check = _CHECKS[name] = compile_check(model)
    return check


_CHECKS: dict[str, RecordCheck] = {}
