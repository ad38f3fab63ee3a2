"""Write Avro records with their logical types already in primitive form: the same bytes, less work.

fastavro looks up and applies a logical type's conversion (``timestamp-millis``, ``date``, ``uuid``...) for
every such value it writes, inside its per-field dispatch; on the publish hot path that costs more than the
conversion itself. :func:`plain_writer` compiles, once per schema, a converter that applies the very same
conversion functions fastavro uses (``fastavro.write.LOGICAL_WRITERS``) to exactly the fields that carry a
logical type, plus a copy of the schema without those logical types. A logical type only annotates its
primitive (``timestamp-millis`` is a ``long`` on the wire), so writing ``convert(record)`` with the plain
schema gives the bytes fastavro writes for ``record`` with the original schema (a unit test checks it for
every event type and edge values).

Schemas this does not cover (a union with more than one branch that needs converting or that cannot be
told apart, a recursive record) get ``None``: the caller then writes with the original schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from fastavro import parse_schema
from fastavro.write import LOGICAL_WRITERS

Step = tuple[Callable[[Any, Any], Any], Any]
"""How to convert one value: ``function(value, argument)``. None values are never converted (fastavro's
conversions hand None back as it is, and None is what an optional field's null branch holds)."""
Plan = tuple[tuple[str, Callable[[Any, Any], Any], Any], ...]
"""A record's fields that need converting: ``(name, function, argument)``."""

_PRIMITIVES: Final = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED: Final = frozenset({"record", "error", "enum", "fixed"})


@dataclass(frozen=True, slots=True)
class PlainWriter:
    """A parsed logical-type-free schema and the converters to its records.

    ``convert``: from a ``to_avro()`` record (a mapping; never modified: the records it changes values in
    are copied). ``from_model``: straight from a pydantic model whose fields are the record's fields, nested
    records being models too (what ``model_dump()`` would give, converted, without building that first).
    """

    schema: Any
    convert: Callable[[Mapping[str, Any]], dict[str, Any]]
    from_model: Callable[[Any], dict[str, Any]]


def plain_writer(source: Mapping[str, Any]) -> PlainWriter | None:
    """The plain writer of the self-contained record schema ``source`` (JSON form), or None if unsupported."""
    records, models = _Compiler(from_models=False), _Compiler(from_models=True)
    plan, model_plan = records.plan(source, None), models.plan(source, None)
    if records.unsupported is not None or models.unsupported is not None:
        return None
    return PlainWriter(
        parse_schema(plain_schema(source)),
        partial(_convert_record, plan=plan),
        partial(_model_record, plan=model_plan),
    )


def logical_restorer(source: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], Any] | None:
    """The inverse of :attr:`PlainWriter.convert` for the record schema ``source``: a plain record (an
    :class:`~bus.events.record.EventRecord`'s ``avro``) with its logical types back, as fastavro's reader
    would hand it to a model (epoch milliseconds -> aware UTC ``datetime``, epoch days -> ``date``; UUID text
    stays text, which the models read). None where :func:`plain_writer` is.

    Only for records that may be wrong: a value of the wrong type is left as it is (not a dict where a record
    belongs, a string where epoch milliseconds do), so that the model names its field and rule.
    """
    compiler = _Compiler(from_models=False, restoring=True)
    plan = compiler.plan(source, None)
    if compiler.unsupported is not None:
        return None
    return partial(_restore_record, plan=plan)


def _logical_key(node: Mapping[str, Any]) -> str | None:
    """fastavro's key for a logical type node (``long-timestamp-millis``), if it has one."""
    logical, primitive = node.get("logicalType"), node.get("type")
    if isinstance(logical, str) and isinstance(primitive, str):
        return f"{primitive}-{logical}"
    return None


def plain_schema(schema: Any) -> Any:
    """A copy of a (JSON) schema without the logical types fastavro converts (others stay as they are).

    The one stripper of the bus: the plain writers write with it, and the views' decode path reads with it
    (fastavro then hands out epoch milliseconds, epoch days and UUID text without converting). fastavro
    converts the same logical types on reading as on writing (``LOGICAL_READERS`` has the keys of
    ``LOGICAL_WRITERS``).
    """
    if isinstance(schema, list):
        return [plain_schema(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    stripped = {
        key: plain_schema(value) if key in ("type", "items", "values", "fields") else value
        for key, value in schema.items()
    }
    key = _logical_key(schema)
    if key is not None and key in LOGICAL_WRITERS:
        del stripped["logicalType"]
    return stripped


def full_name(schema: Mapping[str, Any], namespace: str | None) -> str:
    """The full name of named type ``schema`` defined inside ``namespace`` (Avro's name resolution)."""
    name = str(schema["name"])
    if "." in name:
        return name
    own = schema.get("namespace", namespace)
    return f"{own}.{name}" if own else name


def _convert_record(value: Mapping[str, Any], plan: Plan) -> dict[str, Any]:
    copy = dict(value)
    for name, function, argument in plan:
        item = copy.get(name)
        if item is not None:
            copy[name] = function(item, argument)
    return copy


def _model_record(value: Any, plan: Plan) -> dict[str, Any]:
    # A pydantic model's __dict__ holds exactly its fields (bus models forbid extras; private attributes live
    # elsewhere): one C-level copy instead of model_dump's walk.
    copy = dict(value.__dict__)
    for name, function, argument in plan:
        item = copy.get(name)
        if item is not None:
            copy[name] = function(item, argument)
    return copy


def _convert_items(values: Any, step: Step) -> list[Any]:
    function, argument = step
    return [None if value is None else function(value, argument) for value in values]


def _convert_values(mapping: Any, step: Step) -> dict[str, Any]:
    function, argument = step
    return {k: None if v is None else function(v, argument) for k, v in mapping.items()}


def _restore_record(value: Any, plan: Plan) -> Any:
    return _convert_record(value, plan) if type(value) is dict else value


def _restore_items(values: Any, step: Step) -> Any:
    return _convert_items(values, step) if type(values) in (list, tuple) else values


def _restore_values(mapping: Any, step: Step) -> Any:
    return _convert_values(mapping, step) if type(mapping) is dict else mapping


def _datetime_of_millis(value: Any, _schema: Any) -> Any:
    from bus.events.rules.limits import datetime_of_millis  # bus.events imports this module

    try:
        return datetime_of_millis(value) if type(value) is int else value
    except OverflowError:  # beyond datetime's range: the model names the value as it is
        return value


def _date_of_days(value: Any, _schema: Any) -> Any:
    from bus.events.rules.limits import date_of_days

    try:
        return date_of_days(value) if type(value) is int else value
    except OverflowError:
        return value


_RESTORERS: Final[Mapping[str, Callable[[Any, Any], Any]]] = {
    "long-timestamp-millis": _datetime_of_millis,
    "int-date": _date_of_days,
}
"""The plain forms :mod:`bus.events.record` documents, back to what the models read (UUIDs stay text)."""


class _Compiler:
    """Builds conversion steps; named records are compiled once and found by full name after."""

    def __init__(self, *, from_models: bool, restoring: bool = False) -> None:
        self._from_models = from_models
        # restoring: the inverse direction (plain -> logical), tolerant of values of the wrong type
        self._conversions: Mapping[str, Callable[[Any, Any], Any]] = (
            _RESTORERS if restoring else LOGICAL_WRITERS
        )
        self._record_step = _restore_record if restoring else _convert_record
        self._items_step = _restore_items if restoring else _convert_items
        self._values_step = _restore_values if restoring else _convert_values
        self._named: dict[str, Step | None] = {}
        self._compiling: set[str] = set()
        self.unsupported: str | None = None
        """Why the schema is not covered (then the steps built are not to be used)."""

    def plan(self, schema: Mapping[str, Any], namespace: str | None) -> Plan:
        """The conversion plan of record ``schema``."""
        name = full_name(schema, namespace)
        self._compiling.add(name)
        own_namespace = name.rpartition(".")[0] or None
        plan = []
        for field in schema["fields"]:
            step = self.step(field["type"], own_namespace)
            if step is not None:
                plan.append((str(field["name"]), *step))
        self._compiling.discard(name)
        result = tuple(plan)
        if self._from_models:  # every nested model becomes a dict, converted or not
            self._named[name] = (_model_record, result)
        else:
            self._named[name] = (self._record_step, result) if result else None
        return result

    def step(self, schema: Any, namespace: str | None) -> Step | None:
        """How to convert values of ``schema``, or None when they are written as they are."""
        if isinstance(schema, str):
            return self._reference(schema, namespace)
        if isinstance(schema, list):
            return self._union(schema, namespace)
        kind = schema["type"]
        key = _logical_key(schema)
        if key is not None and key in LOGICAL_WRITERS:
            conversion = self._conversions.get(key)
            return None if conversion is None else (conversion, dict(schema))
        if kind in ("record", "error"):
            self.plan(schema, namespace)
            return self._named[full_name(schema, namespace)]
        if kind in _NAMED:
            self._named[full_name(schema, namespace)] = None
            return None
        if kind == "array":
            items = self.step(schema["items"], namespace)
            return None if items is None else (self._items_step, items)
        if kind == "map":
            values = self.step(schema["values"], namespace)
            return None if values is None else (self._values_step, values)
        if isinstance(kind, list | Mapping):
            return self.step(kind, namespace)
        return self._reference(kind, namespace)

    def _reference(self, name: str, namespace: str | None) -> Step | None:
        if name in _PRIMITIVES:
            return None
        full = name if "." in name or not namespace else f"{namespace}.{name}"
        for candidate in (full, name):
            if candidate in self._compiling:
                self.unsupported = f"recursive type {candidate}"
                return None
            if candidate in self._named:
                return self._named[candidate]
        self.unsupported = f"unknown type {name}"
        return None

    def _union(self, branches: list[Any], namespace: str | None) -> Step | None:
        steps = [self.step(branch, namespace) for branch in branches]
        needed = [step for step in steps if step is not None]
        if not needed:
            return None
        # With one non-null branch the value's branch is known; with more, fastavro picks it by looking at
        # the value, which a converted value could change.
        if len(branches) - branches.count("null") > 1:
            self.unsupported = "a union of several branches, one of which needs converting"
            return None
        return needed[0]
