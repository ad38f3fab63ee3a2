"""Events as the views read them: the Avro record without logical types, checked by the compiled contract.

Building a pydantic model per consumed event was most of a view rebuild's cost (the models validate every
field generically and convert timestamps to ``datetime``). The decode path of the view builder uses instead:

* :func:`bus.avro_plain.plain_schema`: a copy of a schema without its logical types, so fastavro hands out
  epoch milliseconds (``timestamp-millis``), epoch days (``date``) and strings (``uuid``) without converting;
* :func:`raw_check`: the compiled contract of the event type (:mod:`bus.events.contract`, built from the
  ``.avsc`` and the rule table), True only when the model would accept the record *unchanged*. A refused
  record goes through the model, which then either accepts it or raises the precise ``ValidationError``
  (field, rule) that names the dead letter;
* :class:`RawEvent`: the record with its type name, what a view applies. :func:`raw_of` turns a model into
  the same form (tests, and records that needed the model).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple

from bus.events.rules import EPOCH, EPOCH_DAY

if TYPE_CHECKING:
    from bus.events._base import Event
    from bus.events.contract import RawCheck

Record = dict[str, Any]


class RawEvent(NamedTuple):
    """One event as the views apply it: its Avro full name and its record without logical types.

    Times are UTC epoch milliseconds, dates epoch days, enums their symbols, nested records dicts. Only
    records that passed their type's check (or the model) are made into one: treat them as valid.
    """

    name: str
    record: Record

    @property
    def occurred_ms(self) -> int:
        """``meta.occurred_at`` in epoch milliseconds."""
        return int(self.record["meta"]["occurred_at"])


def raw_value(value: Any) -> Any:
    """A model dump or logically-typed Avro record in :class:`RawEvent` form (recursively)."""
    if isinstance(value, dict):
        return {key: raw_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [raw_value(item) for item in value]
    if isinstance(value, datetime):
        return (value - EPOCH) // _MS
    if isinstance(value, date):
        return (value - EPOCH_DAY).days
    if isinstance(value, Enum):
        return value.value
    if type(value).__name__ == "UUID":
        return str(value)
    return value


def raw_of(event: Event) -> RawEvent:
    """``event`` as a :class:`RawEvent` (what the fast path would have produced from its bytes)."""
    return RawEvent(event.AVRO_NAME, raw_value(event.to_avro()))


def raw_check(name: str) -> RawCheck | None:
    """The compiled check for records of Avro type ``name``; None for a type the bus does not carry."""
    check = _CHECKS.get(name)
    if check is None:
        from bus.events import EVENT_TYPES
        from bus.events.contract import compile_check

        model = EVENT_TYPES.get(name)
        if model is None:
            return None
        check = _CHECKS[name] = compile_check(model)
    return check


_CHECKS: dict[str, RawCheck] = {}
_MS = timedelta(milliseconds=1)
