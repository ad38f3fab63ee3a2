"""Events as the views read them: the Avro record without logical types, checked by plain code.

Building a pydantic model per consumed event was most of a view rebuild's cost (the models validate every
field generically and convert timestamps to ``datetime``). The decode path of the view builder uses instead:

* :func:`strip_logical`: a copy of a schema without ``logicalType``, so fastavro hands out epoch
  milliseconds (``timestamp-millis``), epoch days (``date``) and strings (``uuid``) without converting;
* :data:`RAW_CHECKS`: one function per event type that applies the models' rules to such a record and
  answers True only when the model would accept it *unchanged* (same values: canonical UUIDs, NFC text).
  A check may refuse more than the model does, never less: a refused record goes through the model, which
  then either accepts it or raises the precise ``ValidationError`` (field, rule) that names the dead letter.
  ``tests/unit/test_events_raw.py`` holds them to that, on generated events and on every broken rule;
* :class:`RawEvent`: the record with its type name, what a view applies. :func:`raw_of` turns a model into
  the same form (tests, and records that needed the model).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Container, Mapping
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from bus.agencies import load_catalog
from bus.events._base import EARLIEST, LATEST
from bus.events.codes import (
    ApplicantType,
    BusinessType,
    DocumentForm,
    DocumentStatus,
    DossierStatus,
    OnlineLevel,
    PeriodType,
    Priority,
    SubmissionChannel,
)
from bus.events.document import DocumentSent, DocumentStatusChanged, parse_document_id
from bus.events.dossier import PROCEDURE_CODE_PATTERN, DossierSynced
from bus.events.periods import PERIODS_PER_YEAR
from bus.events.report import ReportFiled

if TYPE_CHECKING:
    from bus.events._base import Event

Record = dict[str, Any]
RawCheck = Callable[[Record], bool]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1)
_MS = timedelta(milliseconds=1)
_EARLIEST_MS: Final = (EARLIEST - _EPOCH) // _MS
_LATEST_MS: Final = (LATEST - _EPOCH) // _MS
_FIRST_DAY: Final = (date(1900, 1, 1) - _EPOCH_DAY).days
_LAST_DAY: Final = (date(2099, 12, 31) - _EPOCH_DAY).days
_LONG_MAX: Final = 2**63 - 1
_INT_MAX: Final = 2**31 - 1

# Python's \s covers at least what pydantic's (Rust) regex calls whitespace: never more permissive.
_IDENTIFIER = re.compile(r"\S+").fullmatch
_CODE_NUMBER = re.compile(r"[^/\s]+").fullmatch
_PROCEDURE_CODE = re.compile(PROCEDURE_CODE_PATTERN).fullmatch
_PROVINCE_CODE = re.compile(r"[0-9]{2}").fullmatch
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch
_is_normalized = unicodedata.is_normalized
_FINISHED = frozenset(status.value for status in DossierStatus if status.is_finished)
_PERIODS = {kind.value: count for kind, count in PERIODS_PER_YEAR.items()}


def _values(enum: type[Enum]) -> frozenset[str]:
    return frozenset(str(member.value) for member in enum)


# Avro already restricts an enum to its schema's symbols (which the drift test ties to the model's members);
# checking them again costs a set lookup and keeps the checks independent of where a record came from.
_SENT_ENUMS = {
    "priority": _values(Priority),
    "business_type": _values(BusinessType),
    "form": _values(DocumentForm),
}
_STATUSES = _values(DocumentStatus)
_DOSSIER_ENUMS = {
    "applicant_type": _values(ApplicantType),
    "channel": _values(SubmissionChannel),
    "online_level": _values(OnlineLevel),
    "status": _values(DossierStatus),
}
_PERIOD_SYMBOLS = _values(PeriodType)
_SENT_FIELDS = len(DocumentSent.model_fields)
_STATUS_FIELDS = len(DocumentStatusChanged.model_fields)
_DOSSIER_FIELDS = len(DossierSynced.model_fields)
_REPORT_FIELDS = len(ReportFiled.model_fields)


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


def strip_logical(schema: Any) -> Any:
    """A copy of a (JSON) Avro schema without any ``logicalType``: fastavro then reads the bare types."""
    if isinstance(schema, list):
        return [strip_logical(branch) for branch in schema]
    if isinstance(schema, dict):
        return {key: strip_logical(value) for key, value in schema.items() if key != "logicalType"}
    return schema


def raw_value(value: Any) -> Any:
    """A model dump or logically-typed Avro record in :class:`RawEvent` form (recursively)."""
    if isinstance(value, dict):
        return {key: raw_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [raw_value(item) for item in value]
    if isinstance(value, datetime):
        return (value - _EPOCH) // _MS
    if isinstance(value, date):
        return (value - _EPOCH_DAY).days
    if isinstance(value, Enum):
        return value.value
    if type(value).__name__ == "UUID":
        return str(value)
    return value


def raw_of(event: Event) -> RawEvent:
    """``event`` as a :class:`RawEvent` (what the fast path would have produced from its bytes)."""
    return RawEvent(event.AVRO_NAME, raw_value(event.to_avro()))


def raw_check(name: str) -> RawCheck | None:
    """The check for records of Avro type ``name``; None for a type without one (use the model)."""
    return RAW_CHECKS.get(name)


# -- field rules (each one at least as strict as the model's) ---------------------------------------------


def _text(value: Any, longest: int = 1000) -> bool:
    return type(value) is str and 0 < len(value) <= longest and _is_normalized("NFC", value)


def _identifier(value: Any, longest: int = 200) -> bool:
    return _text(value, longest) and _IDENTIFIER(value) is not None


def _time(value: Any) -> bool:
    return type(value) is int and _EARLIEST_MS <= value < _LATEST_MS


def _optional_time(value: Any) -> bool:
    return value is None or _time(value)


def _day(value: Any) -> bool:
    return type(value) is int and _FIRST_DAY <= value <= _LAST_DAY


# The same agencies and documents come back event after event: what passed once (against the packaged
# catalog, which never changes within a process) is remembered, bounded, and found with one lookup.
_CACHE_LIMIT = 65_536
_GOOD_REFS: set[tuple[str, str]] = set()
_DOCUMENT_IDS: dict[str, tuple[str, int, str, str] | None] = {}


def _agency_ref(value: Any, known: Container[str]) -> bool:
    if type(value) is not dict or len(value) != 2:
        return False
    code, name = value.get("code"), value.get("name")
    if type(code) is not str or type(name) is not str:
        return False
    if (code, name) in _GOOD_REFS:
        return True
    if code not in known or not _text(name):
        return False
    if len(_GOOD_REFS) >= _CACHE_LIMIT:
        _GOOD_REFS.clear()
    _GOOD_REFS.add((code, name))
    return True


def _meta(meta: Any, known: Container[str]) -> bool:
    if type(meta) is not dict or len(meta) != 5:
        return False
    event_id, occurred = meta.get("event_id"), meta.get("occurred_at")
    published, correlation = meta.get("published_at"), meta.get("correlation_id")
    return (
        type(event_id) is str
        and _UUID(event_id) is not None
        and meta.get("source") in known
        and type(occurred) is int
        and _EARLIEST_MS <= occurred < _LATEST_MS
        and (published is None or _time(published))
        and (correlation is None or _text(correlation, 200))
    )


def _document_id(value: Any, known: Container[str]) -> tuple[str, int, str, str] | None:
    """The id's (sender, promulgation day, number, notation) when it is a valid id of a known sender."""
    if type(value) is not str:
        return None
    found = _DOCUMENT_IDS.get(value, False)
    if found is not False:
        return found  # type: ignore[return-value]  # a parts tuple or None, stored below
    parts = _document_id_parts(value, known)
    if len(_DOCUMENT_IDS) >= _CACHE_LIMIT:
        _DOCUMENT_IDS.clear()
    _DOCUMENT_IDS[value] = parts
    return parts


def _document_id_parts(value: str, known: Container[str]) -> tuple[str, int, str, str] | None:
    if not _identifier(value):
        return None
    try:
        parts = parse_document_id(value)
    except ValueError:
        return None
    if parts.sender not in known:
        return None
    day = (parts.promulgation_date - _EPOCH_DAY).days
    return parts.sender, day, parts.number, parts.notation


# -- one check per event type --------------------------------------------------------------------------------


def check_document_sent(r: Record) -> bool:
    """True if ``DocumentSent.from_avro`` would accept the raw record ``r`` unchanged."""
    known = load_catalog().known_codes
    if len(r) != _SENT_FIELDS or not _meta(r.get("meta"), known):
        return False
    parts = _document_id(r.get("document_id"), known)
    sender: Any = r.get("sender")
    recipients: Any = r.get("recipients")
    number: Any = r.get("code_number")
    notation: Any = r.get("code_notation")
    day, due = r.get("promulgation_date"), r.get("due_date")
    count, size = r.get("attachment_count"), r.get("attachment_bytes")
    if (
        parts is None
        or not _agency_ref(sender, known)
        or type(recipients) is not list
        or not 0 < len(recipients) <= 10_000
        or not _text(number, 50)
        or _CODE_NUMBER(number) is None
        or not _text(notation, 200)
        or not _day(day)
        or not (due is None or (_day(due) and due >= day))
        or type(count) is not int
        or not 0 <= count <= _INT_MAX
        or type(size) is not int
        or not 0 <= size <= _LONG_MAX
        or (count == 0 and size != 0)
    ):
        return False
    if parts != (sender["code"], day, number, notation):
        return False
    codes = set()
    for recipient in recipients:
        if not _agency_ref(recipient, known):
            return False
        codes.add(recipient["code"])
    return (
        len(codes) == len(recipients)
        and _text(r.get("promulgation_place"))
        and _text(r.get("document_type_code"), 50)
        and _text(r.get("document_type_name"))
        and _text(r.get("subject"), 8000)
        and _text(r.get("signer_position"))
        and _text(r.get("signer_name"))
        and type(r.get("steering")) is bool
        and type(r.get("digitally_signed")) is bool
        and _symbols(r, _SENT_ENUMS)
    )


def check_document_status_changed(r: Record) -> bool:
    """True if ``DocumentStatusChanged.from_avro`` would accept the raw record ``r`` unchanged."""
    known = load_catalog().known_codes
    description, at = r.get("description"), r.get("status_at")
    return (
        len(r) == _STATUS_FIELDS
        and _meta(r.get("meta"), known)
        and _document_id(r.get("document_id"), known) is not None
        and _agency_ref(r.get("reporting_agency"), known)
        and (description is None or _text(description, 8000))
        and type(at) is int
        and _EARLIEST_MS <= at < _LATEST_MS
        and r.get("status") in _STATUSES
    )


def check_dossier_synced(r: Record) -> bool:
    """True if ``DossierSynced.from_avro`` would accept the raw record ``r`` unchanged."""
    catalog = load_catalog()
    known = catalog.known_codes
    if len(r) != _DOSSIER_FIELDS or not _meta(r.get("meta"), known):
        return False
    agency: Any = r.get("processing_agency")
    province: Any = r.get("province_code")
    procedure, version = r.get("procedure_code"), r.get("version")
    if (
        not _identifier(r.get("dossier_code"))
        or type(procedure) is not str
        or len(procedure) > 60
        or _PROCEDURE_CODE(procedure) is None
        or not _text(r.get("procedure_name"), 8000)
        or not _text(r.get("sector_code"), 100)
        or not _text(r.get("sector_name"))
        or not _agency_ref(agency, known)
        or not (
            province is None
            or (
                type(province) is str
                and _PROVINCE_CODE(province) is not None
                and province in catalog.province_codes
            )
        )
        or province != catalog.province_of(agency["code"])
        or type(version) is not int
        or not 0 <= version <= _LONG_MAX
        or type(r.get("fees_paid_online")) is not bool
        or type(r.get("digitised")) is not bool
        or not (r.get("result_digitised") is None or type(r.get("result_digitised")) is bool)
        or not _symbols(r, _DOSSIER_ENUMS)
    ):
        return False
    return _dossier_timeline(r)


def _dossier_timeline(r: Record) -> bool:
    received, due = r.get("received_at"), r.get("due_at")
    finished, returned = r.get("finished_at"), r.get("returned_at")
    if not (
        _time(received) and _optional_time(due) and _optional_time(finished) and _optional_time(returned)
    ):
        return False
    if (due is not None and due < received) or (finished is not None and finished < received):
        return False
    if finished is None and r["status"] in _FINISHED:
        return False
    if returned is not None:
        return finished is not None and returned >= finished
    return bool(r["status"] != DossierStatus.RETURNED.value)


def check_report_filed(r: Record) -> bool:
    """True if ``ReportFiled.from_avro`` would accept the raw record ``r`` unchanged."""
    known = load_catalog().known_codes
    year, number, revision = r.get("period_year"), r.get("period_number"), r.get("revision")
    indicators = r.get("indicators")
    kind = r.get("period_type")
    if (
        len(r) != _REPORT_FIELDS
        or not _meta(r.get("meta"), known)
        or not _identifier(r.get("report_id"))
        or not _identifier(r.get("report_code"), 100)
        or not _agency_ref(r.get("reporting_agency"), known)
        or type(kind) is not str
        or type(year) is not int
        or not 2000 <= year <= 2099
        or type(number) is not int
        or not 1 <= number <= _PERIODS.get(kind, _INT_MAX)
        or not _time(r.get("deadline_at"))
        or not _time(r.get("filed_at"))
        or type(revision) is not int
        or not 0 <= revision <= _INT_MAX
        or type(indicators) is not list
        or len(indicators) > 10_000
    ):
        return False
    codes = set()
    for item in indicators:
        if not _indicator(item):
            return False
        codes.add(item["code"])
    return len(codes) == len(indicators) and kind in _PERIOD_SYMBOLS


def _indicator(item: Any) -> bool:
    if type(item) is not dict or len(item) != 3:
        return False
    value = item.get("value")
    return (
        _identifier(item.get("code"), 100)
        and type(value) is float
        and math.isfinite(value)
        and _text(item.get("unit"), 50)
    )


def _symbols(r: Record, allowed: Mapping[str, frozenset[str]]) -> bool:
    for name, values in allowed.items():  # noqa: SIM110 - all() over a generator costs twice as much here
        if r.get(name) not in values:
            return False
    return True


RAW_CHECKS: Mapping[str, RawCheck] = {
    "vn.gov.lgsp.document.DocumentSent": check_document_sent,
    "vn.gov.lgsp.document.DocumentStatusChanged": check_document_status_changed,
    "vn.gov.lgsp.dossier.DossierSynced": check_dossier_synced,
    "vn.gov.lgsp.report.ReportFiled": check_report_filed,
}
