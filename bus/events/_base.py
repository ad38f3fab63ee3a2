"""Base classes and field types of the event models.

Field types carry what the Avro schema says (:class:`AvroType` metadata: ``long`` vs ``int``, logical types)
so a drift test can derive each model's schema and compare it with the ``.avsc`` file. Their limits and rules
are rows of the rule table (:mod:`bus.events.rules`), put in the annotations; the rules across fields run in
:class:`Event`'s one model validator. Broken rules raise :func:`~bus.events.rules.rule_error`, whose context
names the rule and, for rules across fields, the field.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Self, TypeVar

import pydantic
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from bus import errors
from bus.agencies import load_catalog
from bus.avro_plain import plain_writer
from bus.events.problems import problems_of, validation_error
from bus.events.rules import (
    AGENCY_CODE,
    CORRELATION_ID,
    EARLIEST,
    FINITE,
    FIRST_DATE,
    IDENTIFIER,
    INT32,
    INT64,
    LAST_DATE,
    LATEST,
    LONG_TEXT,
    MULTI_LINE,
    NFC,
    RECORD_RULES,
    SINGLE_LINE,
    TEXT,
    catalog_of,
    first_violation,
    rule_error,
)
from bus.types import AgencyCode

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class AvroType:
    """Metadata on a field type: the Avro primitive and logical type it maps to."""

    primitive: str
    logical: str | None = None


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})?", re.ASCII
)


def _datetime_input(value: Any) -> Any:
    # Lax pydantic would read "1751364000", 1751364000 or "2025-07-01 10:00:00Z" as times: a sender's mistake
    # (seconds vs milliseconds, a local format) must be refused, not guessed. Only what OpenAPI's date-time
    # means (RFC 3339) or a datetime object passes on to pydantic's own parsing; a missing offset is left to
    # pydantic too, whose "timezone_aware" error says exactly that.
    if isinstance(value, datetime):
        return value
    return _formatted(value, _RFC3339, "timestamp", "an RFC 3339 date-time")


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _date_input(value: Any) -> Any:
    # As for times: 20250701 or "01/07/2025" is refused, not read as a Unix time or a guess at the format.
    if type(value) is date:  # not a datetime: that is a date too, and would lose its time silently
        return value
    return _formatted(value, _ISO_DATE, "date", "an RFC 3339 full-date (YYYY-MM-DD)")


def _formatted(value: Any, pattern: re.Pattern[str], rule: str, what: str) -> str:
    """``value`` if it is a string in ``pattern``; else the error ``<rule>.format`` or ``<rule>.type``."""
    if type(value) is str:
        if pattern.fullmatch(value):
            return value
        raise rule_error(f"{rule}.format", f"{value[:64]!r} is not {what}")
    raise rule_error(f"{rule}.type", f"{what} must be a string, not {type(value).__name__}")


def _utc_millis(value: datetime) -> datetime:
    # Avro timestamp-millis keeps milliseconds; truncating here makes model -> bytes -> model the identity.
    if value.tzinfo is not UTC:
        try:
            value = value.astimezone(UTC)
        except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
            raise rule_error("timestamp.range", f"{value.isoformat()} is outside {_TIME_RANGE}") from None
    if value.microsecond % 1000:
        value = value.replace(microsecond=value.microsecond // 1000 * 1000)
    if not EARLIEST <= value < LATEST:
        raise rule_error("timestamp.range", f"{value.isoformat()} is outside {_TIME_RANGE}")
    return value


_TIME_RANGE = f"{EARLIEST.year}..{LATEST.year - 1}"
_DATE_RANGE = f"{FIRST_DATE.year}..{LAST_DATE.year}"


def _plausible_date(value: date) -> date:
    if not FIRST_DATE <= value <= LAST_DATE:
        raise rule_error("date.range", f"{value.isoformat()} is outside {_DATE_RANGE}")
    return value


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid_text(value: Any) -> Any:
    if type(value) is uuid.UUID:  # what fastavro decodes: str(value), without UUID.__str__'s Python frame
        raw = value.int.to_bytes(16)
        return f"{raw[:4].hex()}-{raw[4:10].hex('-', 2)}-{raw[10:].hex()}"
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        if type(value) is str and _CANONICAL_UUID.fullmatch(value):  # already what str(UUID(value)) gives
            return value
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise rule_error("uuid.format", f"{value!r} is not a UUID") from None
    return value


# Strict: true, "7" or 7.0 for a count is a sender's bug that lax coercion would hide.
Int = Annotated[int, AvroType("int"), Field(ge=INT32[0], le=INT32[1], strict=True)]
Long = Annotated[int, AvroType("long"), Field(ge=INT64[0], le=INT64[1], strict=True)]
Bool = Annotated[bool, Field(strict=True)]
Double = Annotated[float, AvroType("double"), FINITE]
# The text kinds: every text field is one of these, so every one is NFC and free of hidden characters.
Text = Annotated[str, AvroType("string"), TEXT, NFC, SINGLE_LINE]
LongText = Annotated[str, AvroType("string"), LONG_TEXT, NFC, MULTI_LINE]
Identifier = Annotated[str, AvroType("string"), IDENTIFIER, NFC, SINGLE_LINE]
UuidText = Annotated[str, AvroType("string", "uuid"), BeforeValidator(_uuid_text)]
UtcDatetime = Annotated[
    AwareDatetime,
    AvroType("long", "timestamp-millis"),
    BeforeValidator(_datetime_input),
    AfterValidator(_utc_millis),
]
Date = Annotated[date, AvroType("int", "date"), BeforeValidator(_date_input), AfterValidator(_plausible_date)]
KnownAgencyCode = Annotated[AgencyCode, AvroType("string"), AGENCY_CODE]


class AvroRecord(BaseModel):
    """A frozen model that is one Avro record (``AVRO_NAME`` is its full name)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    AVRO_NAME: ClassVar[str]


def _check_record_rules(name: str, plain: Mapping[str, Any], info: ValidationInfo) -> None:
    """Raise the error of the first of ``RECORD_RULES[name]`` that the record (in plain form) breaks."""
    catalog = load_catalog() if info.context is None else catalog_of(info)
    broken = first_violation(name, plain, catalog)
    if broken is not None:
        rule, violation = broken
        raise rule_error(rule.name, violation.message, field=violation.field or rule.field)


class AgencyRef(AvroRecord):
    """An agency as a message names it: catalog code plus the name the message gives (cơ quan)."""

    AVRO_NAME: ClassVar[str] = "vn.gov.lgsp.common.AgencyRef"

    code: KnownAgencyCode
    name: Text

    @model_validator(mode="after")
    def _record_rules(self, info: ValidationInfo) -> Self:
        # Rule agency_name.matches_catalog; the plain form of a reference is its two strings.
        _check_record_rules(self.AVRO_NAME, {"code": self.code, "name": self.name}, info)
        return self


def _reused(data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    # The same few hundred agencies appear in nearly every event, and validating a reference depends on
    # nothing but its two strings and the catalog: a reference validated before against the packaged catalog
    # is handed out again (instances are frozen). Anything else is validated as usual.
    if info.context is not None or type(data) is not dict or len(data) != 2:
        return handler(data)
    code, name = data.get("code"), data.get("name")
    if type(code) is not str or type(name) is not str:
        return handler(data)
    key = (code, name)
    known = _REUSED.get(key)
    if known is None:
        known = handler(data)
        if len(_REUSED) >= _REUSE_LIMIT:
            _REUSED.clear()
        _REUSED[key] = known
    return known


_REUSE_LIMIT = 4096
_REUSED: dict[tuple[str, str], AgencyRef] = {}

ReusedAgencyRef = Annotated[AgencyRef, WrapValidator(_reused)]
"""An :class:`AgencyRef` field of an event (equal references may be one shared instance)."""


class EventMeta(AvroRecord):
    """Metadata every event carries; ``published_at`` is set by the Publisher."""

    AVRO_NAME: ClassVar[str] = "vn.gov.lgsp.common.EventMeta"

    event_id: UuidText
    source: KnownAgencyCode
    occurred_at: UtcDatetime
    published_at: UtcDatetime | None = None
    correlation_id: Annotated[Text, CORRELATION_ID] | None = None

    @classmethod
    def new(
        cls, source: str, *, occurred_at: datetime | None = None, correlation_id: str | None = None
    ) -> Self:
        """Fresh metadata: a random event id, ``occurred_at`` now unless given."""
        return cls.model_validate(
            {
                "event_id": str(uuid.uuid4()),
                "source": source,
                "occurred_at": occurred_at or datetime.now(UTC),
                "correlation_id": correlation_id,
            }
        )


class Event(AvroRecord):
    """Base of the four events. ``AVRO_NAME`` is the CloudEvents ``type`` and the registry subject."""

    SCHEMA_VERSION: ClassVar[int]
    """Version of the ``.avsc`` this model reads and writes (the latest; a test checks)."""

    ENTITY_KEY: ClassVar[str]
    """The field holding the id of the entity the event is about: the Kafka key and the CloudEvents
    ``subject``, read from models (:meth:`entity_key`) and records (``record.avro[ENTITY_KEY]``) alike."""

    meta: EventMeta

    def entity_key(self) -> str:
        """The Kafka key: the id of the entity this event is about."""
        key: str = getattr(self, self.ENTITY_KEY)
        return key

    def to_avro(self) -> dict[str, Any]:
        """The record for fastavro ``schemaless_writer`` with :meth:`avro_schema`."""
        return self.model_dump()

    @model_validator(mode="after")
    def _record_rules(self, info: ValidationInfo) -> Self:
        # The rules across fields of the rule table, on the record's plain form: the very functions the
        # compiled checks of the decode path call (one call from pydantic per event, not one per rule).
        if self.AVRO_NAME in RECORD_RULES:
            _check_record_rules(self.AVRO_NAME, plain_view(self), info)
        return self

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> Self:
        """The event from a fastavro reader's output (reader schema :meth:`avro_schema`).

        Raises :class:`~bus.errors.ValidationError` (``field`` a dotted path) when a rule is broken.
        """
        return validate(cls, record)

    @classmethod
    def avro_schema(cls) -> dict[str, Any]:
        """The fastavro-parsed, self-contained schema of this model (shared: do not mutate)."""
        return _parsed_schema(cls.AVRO_NAME, cls.SCHEMA_VERSION)

    @classmethod
    def avro_schema_source(cls) -> dict[str, Any]:
        """The self-contained schema as JSON-able data, docs included (what a registry should get)."""
        from bus.schemas import load_schema

        return load_schema(cls.AVRO_NAME, cls.SCHEMA_VERSION)

    def with_published_at(self, published_at: datetime) -> Self:
        """A copy whose ``meta.published_at`` is ``published_at`` (UTC, milliseconds)."""
        meta = self.meta.model_copy(update={"published_at": _utc_millis(published_at)})
        return self.model_copy(update={"meta": meta})


def plain_view(event: Event) -> dict[str, Any]:
    """``event``'s record in plain form (times in epoch ms, dates in epoch days, nested records as dicts)."""
    model = type(event)
    to_plain = _PLAIN_VIEWS.get(model)
    if to_plain is None:
        writer = plain_writer(model.avro_schema_source())
        if writer is None:  # a schema avro_plain does not cover: none of the bus's (a unit test checks)
            raise TypeError(f"{model.__name__}: its schema has no plain form")
        to_plain = _PLAIN_VIEWS[model] = writer.from_model
    return to_plain(event)


_PLAIN_VIEWS: dict[type[Event], Any] = {}


@lru_cache(maxsize=64)
def _parsed_schema(name: str, version: int) -> dict[str, Any]:
    from fastavro import parse_schema

    from bus.schemas import load_schema

    parsed = parse_schema(load_schema(name, version))
    if not isinstance(parsed, dict):  # parse_schema returns the type of its input: a record dict here
        raise TypeError(f"{name} v{version} did not parse to a record")
    return parsed


def validate(model: type[M], data: Mapping[str, Any], *, prefix: str = "", context: Any = None) -> M:
    """``model.model_validate(data)``, pydantic's errors turned into :class:`bus.errors.ValidationError`."""
    try:
        # what model_validate calls, minus its Python frame and keyword handling (once per decoded event)
        return model.__pydantic_validator__.validate_python(data, context=context)  # type: ignore[no-any-return]
    except pydantic.ValidationError as exc:
        raise to_lgsp_error(exc, prefix=prefix, model=model) from exc


def to_lgsp_error(
    exc: pydantic.ValidationError, *, prefix: str = "", model: type[BaseModel] | None = None
) -> errors.ValidationError:
    """``exc`` as our ValidationError: one problem per broken rule (UnknownAgencyError when the first is an
    unknown agency); ``field`` and ``rule`` are the first's, a dotted path (``data.recipients[0].code``) under
    ``prefix``; the message lists every problem."""
    return validation_error(problems_of(exc, prefix=prefix, model=model))
