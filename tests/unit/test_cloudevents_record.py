"""``bus.cloudevents_record.structured_record`` never decides what is valid: it gives a record only for a line
the model path (``from_structured``) accepts, and then exactly the record the model path gives."""

from __future__ import annotations

import copy
import json
import unicodedata
from datetime import date, datetime
from enum import Enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.cloudevents import format_time, from_structured, to_json
from bus.cloudevents_record import _NotCanonicalError, compile_plan, structured_record
from bus.errors import LgspError
from bus.events import Event
from bus.events.record import EventRecord, record_of
from tests.strategies import events
from tests.unit.test_events_decode import BREAKERS

pytestmark = pytest.mark.unit

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def canonical(event: Event) -> dict[str, Any]:
    line: dict[str, Any] = json.loads(to_json(event))
    return line


def by_model(obj: Any) -> EventRecord | None:
    try:
        return record_of(from_structured(obj))
    except (LgspError, OverflowError):
        return None


@SETTINGS
@given(event=events())
def test_a_canonical_line_becomes_the_record_the_model_path_gives(event: Event) -> None:
    line = canonical(event)
    record = structured_record(line)
    assert record is not None
    assert record == by_model(line) == record_of(event)


def _first_text(data: dict[str, Any]) -> str | None:
    return next((k for k, v in data.items() if isinstance(v, str) and not v.isascii()), None)


def _first_enum(event: Event) -> str | None:
    return next((k for k, v in event.__dict__.items() if isinstance(v, Enum)), None)


def _mutations(key: str, enum_field: str | None) -> dict[str, Any]:
    """Each changes one thing a sender might: the model accepts some (normalising), refuses others. Up to
    three are applied in any order, so each one that reads a member tolerates another having removed it."""
    return {
        "offset time": lambda o: o.update(time=o["time"].replace("Z", "+07:00")),
        "no Z": lambda o: o.update(time=o["time"].removesuffix("Z")),
        "microseconds": lambda o: o.update(time=o["time"].replace("Z", "123Z")),
        "seconds only": lambda o: o.update(time=o["time"][:19] + "Z"),
        "bad day": lambda o: o.update(time="2025-02-30T00:00:00.000Z"),
        "published": lambda o: o.update(lgsppublishedat="2025-07-01T00:00:00.000Z"),
        "published bad": lambda o: o.update(lgsppublishedat="yesterday"),
        "correlation": lambda o: o.update(correlationid="corr-9"),
        "correlation number": lambda o: o.update(correlationid=9),
        "no subject": lambda o: o.pop("subject"),
        "wrong subject": lambda o: "subject" in o and o.update(subject=o["subject"] + "x"),
        "charset": lambda o: o.update(datacontenttype="application/json; charset=utf-8"),
        "xml": lambda o: o.update(datacontenttype="application/xml"),
        "specversion": lambda o: o.update(specversion="0.3"),
        "no id": lambda o: o.pop("id"),
        "upper id": lambda o: "id" in o and o.update(id=o["id"].upper()),
        "extension": lambda o: o.update(lgspfoo="bar"),
        "data meta": lambda o: o["data"].update(meta={}),
        "extra field": lambda o: o["data"].update(extra=1),
        "missing key": lambda o: o["data"].pop(key, None),
        "nfd text": lambda o: (
            None
            if (name := _first_text(o["data"])) is None
            else o["data"].update({name: unicodedata.normalize("NFD", o["data"][name])})
        ),
        "unknown symbol": lambda o: None if enum_field is None else o["data"].update({enum_field: "UNKNOWN"}),
        "lower symbol": lambda o: None if enum_field is None else o["data"].update({enum_field: "online"}),
        "symbol as list": lambda o: (
            None if enum_field is None else o["data"].update({enum_field: ["ONLINE"]})
        ),
        "symbol as object": lambda o: None if enum_field is None else o["data"].update({enum_field: {}}),
        "key as list": lambda o: o["data"].update({key: [1]}),
        "lone surrogate": lambda o: (
            None
            if (name := _first_text(o["data"])) is None
            else o["data"].update({name: o["data"][name] + "\ud800"})
        ),
        "surrogate correlation": lambda o: o.update(correlationid="corr-\udfff-é"),
        "text as object": lambda o: o.update(source={"code": o["source"]}),
        "key as number": lambda o: o["data"].update({key: 12}),
        "nulls dropped": lambda o: o.update(data={k: v for k, v in o["data"].items() if v is not None}),
        "data base64": lambda o: o.update(data_base64="AAAA"),
    }


@SETTINGS
@given(event=events(), data=st.data())
def test_a_changed_line_is_left_to_the_model_or_read_as_the_model_reads_it(
    event: Event, data: st.DataObject
) -> None:
    mutations = _mutations(event.ENTITY_KEY, _first_enum(event))
    chosen = data.draw(st.lists(st.sampled_from(sorted(mutations)), min_size=1, max_size=3, unique=True))
    line = canonical(event)
    for name in chosen:
        mutations[name](line)
    fast = structured_record(copy.deepcopy(line))
    if fast is not None:
        assert fast == by_model(line), chosen


@pytest.mark.parametrize("name", sorted(_mutations("key", None)))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events())
def test_each_change_alone_is_left_to_the_model_or_read_as_the_model_reads_it(
    name: str, event: Event
) -> None:
    line = canonical(event)
    _mutations(event.ENTITY_KEY, _first_enum(event))[name](line)
    fast = structured_record(copy.deepcopy(line))
    if fast is not None:
        assert fast == by_model(line)


def _json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


@pytest.mark.parametrize("name", sorted(BREAKERS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_line_that_breaks_a_rule_is_never_read_without_the_model(name: str, data: st.DataObject) -> None:
    broken = BREAKERS[name](data.draw)  # type: ignore[arg-type]  # DataObject.draw draws like a DrawFn
    line = canonical(broken.event)
    meta = broken.record["meta"]
    line.update(id=str(meta["event_id"]), source=meta["source"], time=_json_value(meta["occurred_at"]))
    line["data"] = _json_value({k: v for k, v in broken.record.items() if k != "meta"})
    line.pop("subject")
    assert by_model(line) is None, "the model path accepts it: not a broken line"
    assert structured_record(line) is None


_CONSTRUCTS: list[dict[str, Any]] = [
    {"name": "s", "type": "string"},
    {"name": "n", "type": "long"},
    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}]},
    {"name": "e", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "UNKNOWN"]}},
    {"name": "e2", "type": ["null", "Colour"]},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "ns", "type": {"type": "array", "items": "long"}},
    {"name": "sub", "type": {"type": "record", "name": "Sub", "namespace": "t", "fields": [
        {"name": "x", "type": ["null", "string"]}]}},
    {"name": "subs", "type": {"type": "array", "items": "t.Sub"}},
]  # fmt: skip
_GOOD = {
    "s": "Hà Nội", "n": 7, "at": "1970-01-01T00:00:01.500Z", "day": "1970-01-03", "e": "RED", "e2": None,
    "tags": ["a"], "ns": [1, 2], "sub": {"x": None}, "subs": [{"x": "y"}],
}  # fmt: skip


def test_the_compiled_plan_converts_every_construct() -> None:
    plan = compile_plan(_CONSTRUCTS)
    assert plan(_GOOD) == {**_GOOD, "at": 1500, "day": 2}
    converted = plan(_GOOD)
    # arrays are copied, as the record owns its values
    assert converted["tags"] is not _GOOD["tags"]
    assert converted["ns"] is not _GOOD["ns"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("s", "\ud800"),  # a lone surrogate: not Unicode text
        ("at", "1970-01-01T00:00:01+00:00"),  # not the canonical form
        ("at", "1970-02-30T00:00:00Z"),
        ("day", "1970-1-3"),
        ("e", "UNKNOWN"),  # only readers may see it
        ("e2", ["RED"]),
        ("tags", "a"),
        ("tags", ["\udfff"]),
        ("sub", {"x": None, "y": 1}),  # a field too many
        ("sub", {}),  # a field missing
        ("subs", [{"x": 1}, "no"]),
    ],
)
def test_the_compiled_plan_leaves_anything_else_to_the_model(field: str, value: Any) -> None:
    plan = compile_plan(_CONSTRUCTS)
    with pytest.raises(_NotCanonicalError):
        plan({**_GOOD, field: value})


def test_a_union_of_two_types_is_left_to_the_model() -> None:
    plan = compile_plan([{"name": "u", "type": ["null", "string", "long"]}])
    for value in (None, "a", 1):
        with pytest.raises(_NotCanonicalError):
            plan({"u": value})
