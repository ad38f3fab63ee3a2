"""Structured-mode CloudEvents JSON straight to an :class:`~bus.events.record.EventRecord`, without a model.

``lgsp publish FILE`` reads JSON lines that are, nearly always, what :func:`bus.cloudevents.to_json` writes:
every attribute present, times in ``2025-07-01T08:30:00.000Z`` form, every data field written. For such a
line, building a pydantic model only to turn it into the record the Publisher writes is most of the work.
:func:`structured_record` builds the record directly, converting only the canonical forms (times, dates) and
checking it with the type's compiled contract (:func:`bus.events.contract.check_for`). Anything else (another
time format, a missing field, an extra one, a ``subject`` or content type to compare, UNKNOWN symbols, a
value the check refuses) gives None, and the caller takes :func:`bus.cloudevents.from_structured`, which
raises the precise error or returns the event. So this path never decides what is valid: it only recognises
what the model path accepts unchanged, and then gives the record the model path gives (a property test
compares both on generated and mutated lines).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

from bus.avro_plain import full_name
from bus.cloudevents import CORRELATION_ID, JSON_CONTENT_TYPE, PUBLISHED_AT, SPECVERSION
from bus.events import EVENT_TYPES, Event
from bus.events.contract import check_for
from bus.events.record import CheckedRecord, EventRecord
from bus.events.rules.limits import EPOCH_DAY, millis_of

Convert = Callable[[Any], Any]
"""JSON value -> plain record value; raises :class:`_NotCanonicalError` for anything else."""

_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3}(?:000)?)?Z", re.ASCII)
"""UTC to the second or millisecond: ``format_time`` writes ``.123Z``, pydantic's JSON ``.123000Z``."""
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_UNKNOWN: Final = "UNKNOWN"
"""The symbol only readers may see (``from_structured`` refuses it from a producer)."""


class _NotCanonicalError(Exception):
    """Internal: leave this line to the model path."""


def structured_record(obj: object) -> EventRecord | None:
    """The record of a canonical structured-mode CloudEvent that the model path accepts unchanged, or None
    (the caller then takes :func:`bus.cloudevents.from_structured`)."""
    if type(obj) is not dict or obj.get("specversion") != SPECVERSION or "data_base64" in obj:
        return None
    name = obj.get("type")
    model = EVENT_TYPES.get(name) if type(name) is str else None
    data = obj.get("data")
    if model is None or type(data) is not dict:
        return None
    content_type = obj.get("datacontenttype")
    if content_type is not None and content_type != JSON_CONTENT_TYPE:
        return None
    plan = _PLANS.get(model) or _plan_for(model)
    check = check_for(model.AVRO_NAME)
    try:
        record = plan(data)
        record["meta"] = _meta(obj)
        if check is None or not check(record):
            return None
    except _NotCanonicalError:
        return None
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RecursionError):
        # The compiled check was written for what an Avro reader hands out; JSON can hold anything. Whatever
        # trips it is not canonical: the model path says what is wrong (the hostile corpus tests this).
        return None
    subject = obj.get("subject")
    if subject is not None and subject != record[model.ENTITY_KEY]:
        return None
    return CheckedRecord(model.AVRO_NAME, record)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    event_id, source = obj.get("id"), obj.get("source")
    if type(event_id) is not str or type(source) is not str:
        raise _NotCanonicalError
    published = obj.get(PUBLISHED_AT)
    correlation = obj.get(CORRELATION_ID)
    if correlation is not None and type(correlation) is not str:
        raise _NotCanonicalError
    return {
        "event_id": event_id,
        "source": source,
        "occurred_at": _millis(obj.get("time")),
        "published_at": None if published is None else _millis(published),
        "correlation_id": _text(correlation),
    }


def _millis(value: Any) -> int:
    if type(value) is not str or not _TIME.fullmatch(value):
        raise _NotCanonicalError
    try:
        return millis_of(datetime.fromisoformat(value))
    except ValueError:  # 2025-02-30, 24:00: the model path says what is wrong
        raise _NotCanonicalError from None


def _days(value: Any) -> int:
    if type(value) is not str or not _DATE.fullmatch(value):
        raise _NotCanonicalError
    try:
        return (date.fromisoformat(value) - EPOCH_DAY).days
    except ValueError:
        raise _NotCanonicalError from None


def _text(value: Any) -> Any:
    # JSON can escape a lone surrogate ("\ud800"), which the models refuse (not Unicode text) and the
    # compiled check, written for what an Avro reader hands out (strict UTF-8), does not look for.
    if type(value) is str and not value.isascii() and _SURROGATE.search(value):
        raise _NotCanonicalError
    return value


# --- the plan of each event type, compiled from its Avro schema -------------------------------------------


def _plan_for(model: type[Event]) -> Convert:
    schema = model.avro_schema_source()
    plan = compile_plan([field for field in schema["fields"] if field["name"] != "meta"])
    _PLANS[model] = plan
    return plan


def compile_plan(fields: Sequence[Mapping[str, Any]]) -> Convert:
    """The converter of a record with ``fields``: generated straight-line Python, one function per record type
    (a field costs a dictionary read and, for a string, a type test, instead of a call; the per-field calls
    were half of the conversion). Every field written, none extra; strings, symbols, times, dates, unions
    ``["null", X]``, arrays and nested records as described in the module docstring."""
    compiler = _PlanCompiler()
    top = compiler.record(fields)
    source = "\n".join(compiler.lines)
    exec(compile(source, "<cloudevents record plan>", "exec"), compiler.namespace)  # noqa: S102 - our own source
    convert: Convert = compiler.namespace[top]
    return convert


class _PlanCompiler:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {
            "_NC": _NotCanonicalError,
            "_millis": _millis,
            "_days": _days,
            "_surrogate": _SURROGATE.search,
            "_UNKNOWN": _UNKNOWN,
        }
        self.lines: list[str] = []
        self._named: dict[str, str] = {}
        """Named type -> ``record`` (a function's name) or ``enum``."""
        self._count = 0

    def _fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}{self._count}"

    def record(self, fields: Sequence[Mapping[str, Any]]) -> str:
        """Defines the function converting a record with ``fields``; its name."""
        body: list[str] = []
        names: list[str] = []
        for field in fields:
            name = str(field["name"])
            var = f"f{len(names)}"
            body.append(f"    {var} = value[{name!r}]")
            self.steps(field["type"], var, body, "    ")
            names.append(name)
        function, keys = self._fresh("_record"), self._fresh("_names")
        self.namespace[keys] = frozenset(names)
        items = ", ".join(f"{name!r}: f{i}" for i, name in enumerate(names))
        self.lines += [
            f"def {function}(value):",
            # every field written, none extra: a missing field's default is the model's business
            f"    if type(value) is not dict or value.keys() != {keys}: raise _NC",
            *body,
            f"    return {{{items}}}",
            "",
        ]
        return function

    def steps(self, schema: Any, var: str, out: list[str], pad: str) -> None:
        """Lines turning ``var`` (JSON, of ``schema``) into its record value in place, or raising _NC."""
        if isinstance(schema, str):  # a primitive, or a named type defined before
            kind = self._named.get(schema)
            if kind == "enum":
                self._symbol(var, out, pad)
            elif kind is not None:
                out.append(f"{pad}{var} = {kind}({var})")
            elif schema == "string":
                # JSON can escape a lone surrogate ("\ud800"), which the models refuse (not Unicode text)
                # and the compiled check, written for what an Avro reader hands out (strict UTF-8), does
                # not look for.
                out.append(
                    f"{pad}if type({var}) is str and not {var}.isascii() and _surrogate({var}): raise _NC"
                )
            # any other primitive as it is: the compiled check decides whether it is right
            return
        if isinstance(schema, list):  # the bus's unions are ["null", X]
            branches = [branch for branch in schema if branch != "null"]
            if len(branches) != 1:
                out.append(f"{pad}raise _NC")
                return
            inner: list[str] = []
            self.steps(branches[0], var, inner, pad + "    ")
            if inner:
                out.append(f"{pad}if {var} is not None:")
                out += inner
            return
        logical = (schema.get("type"), schema.get("logicalType"))
        if logical == ("long", "timestamp-millis"):
            out.append(f"{pad}{var} = _millis({var})")
            return
        if logical == ("int", "date"):
            out.append(f"{pad}{var} = _days({var})")
            return
        kind = schema["type"]
        if kind == "record":
            function = self.record(list(schema["fields"]))
            self._name(schema, function)
            out.append(f"{pad}{var} = {function}({var})")
        elif kind == "enum":
            self._name(schema, "enum")
            self._symbol(var, out, pad)
        elif kind == "array":
            item: list[str] = []
            self.steps(schema["items"], "item", item, "    ")
            out.append(f"{pad}if type({var}) is not list: raise _NC")
            if item:
                function = self._fresh("_item")
                self.lines += [f"def {function}(item):", *item, "    return item", ""]
                out.append(f"{pad}{var} = [{function}(item) for item in {var}]")
            else:
                out.append(f"{pad}{var} = list({var})")
        else:
            self.steps(kind, var, out, pad)  # {"type": "string"}, {"type": ["null", ...]} and the like

    def _symbol(self, var: str, out: list[str], pad: str) -> None:
        # the compiled check looks symbols up in a set: a list or an object from JSON would not even hash
        out.append(f"{pad}if type({var}) is not str or {var} == _UNKNOWN: raise _NC")

    def _name(self, schema: Mapping[str, Any], kind: str) -> None:
        self._named[str(schema["name"])] = self._named[full_name(schema, None)] = kind


_PLANS: dict[type[Event], Convert] = {}
