"""The one form of a decoded event downstream of decoding: :class:`EventRecord`.

Building a pydantic model per consumed event was most of a view rebuild's cost (the models validate every
field generically and convert timestamps to ``datetime``). So the consumer's decoder
(:mod:`bus.consumer.decode`) hands out records instead, whatever its deserializer returns:

* the real one (``AvroDeserializer.deserialize_record``) reads the bytes with a schema stripped of its logical
  types (:func:`bus.avro_plain.plain_schema`: fastavro then hands out epoch milliseconds for
  ``timestamp-millis``, epoch days for ``date`` and strings for ``uuid``) and checks the result with the event
  type's compiled contract (:func:`bus.events.contract.check_for`), True only when the model would accept the
  record *unchanged*. A record the check refuses goes through the model, which either accepts it or raises the
  precise ``ValidationError`` (field, rule) that names the dead letter;
* a model (from a custom deserializer, or read because the check refused its record) becomes a record through
  :func:`record_of`, the one conversion.

Admission, signature verification, telemetry, the views and ``lgsp views explain`` read only this form.
Models stay where they earn their place: the HTTP ingress (OpenAPI, precise error shapes) and the SDK's
``bus.Publisher`` input (docs/design/event-record.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple

from bus.events.rules import EPOCH_DAY
from bus.events.rules.limits import millis_of

if TYPE_CHECKING:
    from bus.events._base import Event


class EventRecord(NamedTuple):
    """One decoded, valid event: its Avro full name and its Avro record without logical types.

    ``avro`` holds every field of the record, ``meta`` included (so not CloudEvents' ``data``, which leaves
    the envelope out). Times are UTC epoch milliseconds, dates epoch days, enums their symbols, UUIDs text,
    nested records dicts. Only records that passed their type's check (or the model) are made into one:
    treat them as valid, and never change them — the type says ``Mapping``; a copy per record to enforce it
    at run time would cost the rebuild more than the record itself (a NamedTuple: cheap to build, to pickle
    between the decode workers and the consumer, and immutable itself).
    """

    name: str
    """The Avro full name (``vn.gov.lgsp.document.DocumentSent``)."""
    avro: Mapping[str, Any]

    @property
    def short_name(self) -> str:
        """The record name without its namespace (``DocumentSent``): what topics list as their types."""
        return _short_name(self.name)

    @property
    def event_id(self) -> str:
        """``meta.event_id``."""
        event_id: str = self.avro["meta"]["event_id"]
        return event_id

    @property
    def source(self) -> str:
        """``meta.source``: the code of the agency that publishes the event."""
        source: str = self.avro["meta"]["source"]
        return source

    @property
    def occurred_ms(self) -> int:
        """``meta.occurred_at`` in epoch milliseconds."""
        occurred: int = self.avro["meta"]["occurred_at"]
        return occurred

    @property
    def published_ms(self) -> int | None:
        """``meta.published_at`` in epoch milliseconds; None when the event was never stamped."""
        published: int | None = self.avro["meta"].get("published_at")
        return published


class CheckedRecord(EventRecord):
    """An :class:`EventRecord` its type's compiled check accepted as it was made
    (:func:`bus.cloudevents_record.structured_record` makes them), so that ``Publisher.publish_records``
    does not run the same check twice: on a ``lgsp publish FILE`` line the check is the largest single
    cost. Equal to the :class:`EventRecord` of the same values. Making one by hand skips the Publisher's
    contract check (not its authorization); the views check every record they read all the same."""

    __slots__ = ()


def record_of(event: Event) -> EventRecord:
    """``event`` as an :class:`EventRecord`: the record the fast path would have read from its bytes."""
    return EventRecord(event.AVRO_NAME, plain_value(event.to_avro()))


def event_of(model: type[Event], avro: Mapping[str, Any]) -> Event:
    """The ``model`` event of a plain record (``EventRecord.avro``) its type's compiled check refused: the
    model's precise :class:`~bus.errors.ValidationError` (field, rule) when the record breaks a rule, or the
    event when the check was only more cautious than the model (the model may normalise a value).

    The record's logical types are restored first (:func:`bus.avro_plain.logical_restorer`): the model then
    reads what a decoder would hand it, and a value of the wrong type reaches it unchanged, to be named.
    """
    from bus.errors import ValidationError

    restore = _RESTORERS.get(model)
    if restore is None:
        from bus.avro_plain import logical_restorer

        restore = logical_restorer(model.avro_schema_source())
        if restore is None:  # none of the bus's schemas (a unit test of avro_plain checks)
            raise TypeError(f"{model.__name__}: its schema has no plain form")
        _RESTORERS[model] = restore
    if not isinstance(avro, Mapping):
        raise ValidationError(
            f"a {model.AVRO_NAME} record must be a mapping of its fields, not {type(avro).__name__}",
            field="<root>",
            rule="record.type",
        )
    return model.from_avro(restore(dict(avro)))


def plain_value(value: Any) -> Any:
    """A model dump or logically-typed Avro value in :class:`EventRecord` form (recursively)."""
    if isinstance(value, dict):
        return {key: plain_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(item) for item in value]
    if isinstance(value, datetime):
        return millis_of(value)
    if isinstance(value, date):
        return (value - EPOCH_DAY).days
    if isinstance(value, Enum):
        return value.value
    if type(value).__name__ == "UUID":
        return str(value)
    return value


def _short_name(name: str) -> str:
    short = _SHORT_NAMES.get(name)
    if short is None:
        short = _SHORT_NAMES[name] = name.rsplit(".", 1)[-1]
    return short


_SHORT_NAMES: dict[str, str] = {}
_RESTORERS: dict[type[Event], Any] = {}  # a handful of type names, looked up once per record
