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
from collections.abc import Callable, Mapping
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


def _symbol(value: Any) -> Any:
    # the compiled check looks symbols up in a set: a list or an object from JSON would not even hash
    if type(value) is not str or value == _UNKNOWN:
        raise _NotCanonicalError
    return value


def _same(value: Any) -> Any:
    return value  # the compiled check decides whether it is right


def _text(value: Any) -> Any:
    # JSON can escape a lone surrogate ("\ud800"), which the models refuse (not Unicode text) and the
    # compiled check, written for what an Avro reader hands out (strict UTF-8), does not look for.
    if type(value) is str and not value.isascii() and _SURROGATE.search(value):
        raise _NotCanonicalError
    return value


# --- the plan of each event type, compiled from its Avro schema -------------------------------------------


def _plan_for(model: type[Event]) -> Convert:
    schema = model.avro_schema_source()
    plan = _record([field for field in schema["fields"] if field["name"] != "meta"], {})
    _PLANS[model] = plan
    return plan


def _record(fields: list[Mapping[str, Any]], named: dict[str, Convert]) -> Convert:
    steps = [(str(field["name"]), _step(field["type"], named)) for field in fields]
    names = frozenset(name for name, _ in steps)

    def convert(value: Any) -> dict[str, Any]:
        # every field written, none extra: a missing field's default is the model's business
        if type(value) is not dict or value.keys() != names:
            raise _NotCanonicalError
        return {name: step(value[name]) for name, step in steps}

    return convert


def _step(schema: Any, named: dict[str, Convert]) -> Convert:
    if isinstance(schema, str):  # a primitive, or a named type defined before
        return named.get(schema, _text if schema == "string" else _same)
    if isinstance(schema, list):  # the bus's unions are ["null", X]
        branches = [branch for branch in schema if branch != "null"]
        if len(branches) != 1:
            return _refuse
        inner = _step(branches[0], named)
        return lambda value: None if value is None else inner(value)
    logical = (schema.get("type"), schema.get("logicalType"))
    if logical == ("long", "timestamp-millis"):
        return _millis
    if logical == ("int", "date"):
        return _days
    kind = schema["type"]
    if kind == "record":
        convert = _record(list(schema["fields"]), named)
        named[schema["name"]] = named[full_name(schema, None)] = convert
        return convert
    if kind == "enum":
        named[schema["name"]] = named[full_name(schema, None)] = _symbol
        return _symbol
    if kind == "array":
        items = _step(schema["items"], named)

        def array(value: Any) -> list[Any]:
            if type(value) is not list:
                raise _NotCanonicalError
            return [items(item) for item in value]

        return array
    return _step(kind, named)  # {"type": "string"}, {"type": ["null", ...]} and the like


def _refuse(value: Any) -> Any:
    raise _NotCanonicalError


_PLANS: dict[type[Event], Convert] = {}
