"""The rule table of the event contracts: every limit, format and semantic rule of the events, written once.

Each row is named (the ``rule`` an error reports) and carries its message. Two consumers read the table:

* the pydantic models (``bus.events._base``, ``document``, ``dossier``, ``report``) put its rows in their
  field annotations: a :class:`Limits` row is pydantic metadata (lengths, pattern, bounds: what the ingress's
  OpenAPI shows), a :class:`FieldRule` row is a pydantic validator, and :data:`RECORD_RULES` run in
  ``Event``'s one model validator;
* :mod:`bus.events.contract` compiles, from each event's ``.avsc`` and the same annotations, the plain-code
  check that the views' decode path runs on records read without logical types.

So a limit is a number in this file only, and a rule a function in this file only: change it here, and the
models, the OpenAPI and the compiled checks follow. Layout:

1. ranges of times and dates, and the integer widths of Avro;
2. :class:`Limits` rows: the text kinds (``TEXT``, ``LONG_TEXT``, ``IDENTIFIER``) and each field's own limits;
3. :class:`FieldRule` rows: rules on one value that need code (a catalog lookup, a parsed id);
4. record rules: rules across fields, per event type (:data:`RECORD_RULES`), on the record in its plain form
   (times in epoch milliseconds, dates in epoch days, nested records as dicts, enums as their symbols).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, partial
from typing import Any, Final

import annotated_types as at
from pydantic import GetCoreSchemaHandler, StringConstraints, ValidationInfo
from pydantic_core import PydanticCustomError, core_schema

from bus.agencies import AGENCY_CODE_FORM, AgencyCatalog, is_agency_code, load_catalog
from bus.events.codes import BusinessType, DossierStatus, PeriodType
from bus.events.periods import PERIODS_PER_YEAR, Period
from bus.types import AgencyCode

Record = Mapping[str, Any]
"""An Avro record in plain form: what fastavro reads without logical types, or a model's plain view."""

# --- 1. ranges ---------------------------------------------------------------------------------------------

EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
"""Timestamps outside [EARLIEST, LATEST) are rejected (rule ``timestamp.range``): no LGSP fact is older, and
later ones are typos."""
FIRST_DATE: Final = date(1900, 1, 1)
LAST_DATE: Final = date(2099, 12, 31)
"""Dates outside [FIRST_DATE, LAST_DATE] are rejected (rule ``date.range``)."""
INT32: Final = (-(2**31), 2**31 - 1)
INT64: Final = (-(2**63), 2**63 - 1)
"""The ranges of Avro ``int`` and ``long``."""

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DAY: Final = date(1970, 1, 1)
_MS: Final = timedelta(milliseconds=1)
EARLIEST_MS: Final = (EARLIEST - EPOCH) // _MS
LATEST_MS: Final = (LATEST - EPOCH) // _MS
FIRST_DAY: Final = (FIRST_DATE - EPOCH_DAY).days
LAST_DAY: Final = (LAST_DATE - EPOCH_DAY).days


def iso_of_millis(value: int) -> str:
    """Epoch milliseconds as the model shows the time (``datetime.isoformat`` of the UTC datetime)."""
    return (EPOCH + value * _MS).isoformat()


def iso_of_days(value: int) -> str:
    """Epoch days as the model shows the date (``date.isoformat``)."""
    return (EPOCH_DAY + timedelta(days=value)).isoformat()


# --- 2. limits ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits(at.GroupedMetadata):
    """Lengths, pattern and bounds of a value, as pydantic metadata (pydantic expands it).

    Put several in one annotation and the later one's set attributes win (``TEXT`` then ``CODE_NUMBER``
    gives 1..50 characters), as pydantic's own constraints do.
    """

    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    ge: int | None = None
    le: int | None = None

    def __iter__(self) -> Iterator[object]:
        yield from StringConstraints(
            min_length=self.min_length, max_length=self.max_length, pattern=self.pattern
        )
        if self.ge is not None or self.le is not None:
            yield from at.Interval(ge=self.ge, le=self.le)


# The text kinds (non-empty, NFC): free text, long free text, identifiers (no whitespace).
TEXT: Final = Limits(min_length=1, max_length=1000)
LONG_TEXT: Final = Limits(min_length=1, max_length=8000)
IDENTIFIER: Final = Limits(min_length=1, max_length=200, pattern=r"^\S+$")

# One row per field with limits of its own.
CORRELATION_ID: Final = Limits(max_length=200)
CODE_NUMBER: Final = Limits(max_length=50, pattern=r"^[^/\s]+$")
"""edXML số ký hiệu, number part: no slash (it separates number and notation), no whitespace."""
CODE_NOTATION: Final = Limits(max_length=200)
DOCUMENT_TYPE_CODE: Final = Limits(max_length=50)
RECIPIENTS: Final = Limits(min_length=1, max_length=10_000)
COUNT: Final = Limits(ge=0)
"""attachment_count, attachment_bytes, a dossier's version, a report's revision."""
PROCEDURE_CODE_PATTERN: Final = r"^[0-9]\.[0-9]{6}(\.[0-9A-Z]+)*$"
"""``1.000494`` (national procedure code), optionally + an agency code: ``1.000494.000.00.00.H29``."""
PROCEDURE_CODE: Final = Limits(max_length=60, pattern=PROCEDURE_CODE_PATTERN)
SECTOR_CODE: Final = Limits(max_length=100)
PROVINCE_CODE: Final = Limits(pattern=r"^[0-9]{2}$")
REPORT_CODE: Final = Limits(max_length=100)
PERIOD_YEAR: Final = Limits(ge=2000, le=2099)
PERIOD_NUMBER: Final = Limits(ge=1)
"""The upper bound depends on the period type: rule ``report.period_number``."""
INDICATORS: Final = Limits(max_length=10_000)
INDICATOR_CODE: Final = Limits(max_length=100)
UNIT: Final = Limits(max_length=50)


# --- 3. rules on one value ---------------------------------------------------------------------------------


_nfc: Callable[[str], str] = partial(unicodedata.normalize, "NFC")
"""NFC text; a C callable (no Python frame) since it runs once per text field of every event."""


def _nfc_text(value: Any) -> Any:
    # Before the length limits: they count NFC characters, so Vietnamese sent in NFD (a letter can be three
    # code points) is not refused for its form. Non-strings pass on to pydantic's own "string_type" error.
    return _nfc(value) if type(value) is str else value


@dataclass(frozen=True)
class Nfc:
    """Text is kept in Unicode NFC: the model normalises what it is given; the plain form must be NFC."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_before_validator_function(_nfc_text, handler(source))


NFC: Final = Nfc()


@dataclass(frozen=True)
class Violation:
    """A broken rule: its message, and where it differs from the rule's own, its name and field."""

    message: str
    rule: str | None = None
    field: str | None = None


def rule_error(rule: str, detail: str, *, field: str | None = None) -> PydanticCustomError:
    """A validation error for semantic rule ``rule``; ``field`` names the field for rules across fields."""
    context: dict[str, Any] = {"rule": rule, "detail": detail}
    if field is not None:
        context["field"] = field
    return PydanticCustomError(rule, "{detail}", context)


def catalog_of(info: ValidationInfo) -> AgencyCatalog:
    """The catalog to validate against: ``context={"catalog": ...}`` if given, else the packaged one."""
    context = info.context
    # `context is None` first: isinstance against the Mapping ABC costs more than the rest of the lookup
    if context is not None and isinstance(context, Mapping):
        catalog = context.get("catalog")
        if isinstance(catalog, AgencyCatalog):
            return catalog
    return load_catalog()


@dataclass(frozen=True)
class FieldRule:
    """A named rule on one value that needs code; as pydantic metadata it validates after the type.

    ``check(value, catalog)`` sees the value in plain form (the same on both paths for the strings it is
    used on) and answers None when the rule holds. A ``first`` rule runs before the value's other checks
    (on text input only), so that it, not a length or a pattern, names what is wrong.
    """

    name: str
    check: Callable[[Any, AgencyCatalog], Violation | None]
    first: bool = False

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        if self.first:
            return core_schema.with_info_before_validator_function(self._validate, handler(source))
        return core_schema.with_info_after_validator_function(self._validate, handler(source))

    def _validate(self, value: Any, info: ValidationInfo) -> Any:
        if value is None or (self.first and type(value) is not str):
            return value
        # load_catalog() first: the common case (no context), one call
        catalog = load_catalog() if info.context is None else catalog_of(info)
        violation = self.check(value, catalog)
        if violation is not None:
            raise rule_error(violation.rule or self.name, violation.message)
        return value


def _agency_code(value: str, catalog: AgencyCatalog) -> Violation | None:
    if value in catalog.known_codes:  # listed, or well formed under a known level-1 unit (bus.agencies)
        return None
    if not is_agency_code(value):
        return Violation(
            f"{value!r} is not a QĐ 20/2020 agency code ({AGENCY_CODE_FORM})",
            rule="agency_code.shape",
        )
    level1 = value.rpartition(".")[2]
    return Violation(f"agency {value!r}: its level-1 unit {level1!r} is not a known H, K or G code")


AGENCY_CODE: Final = FieldRule("agency_code.known", _agency_code)
"""An agency code the catalog accepts: listed, or a unit under a known level-1 unit (a province's H code,
pre-2025 ones included, its K code, a ministry's G code); ``agency_code.shape`` when not even shaped like
one."""

_DOCUMENT_ID_RE: Final = re.compile(
    r"^(?P<sender>[0-9A-Z.]+),(?P<date>\d{4}/\d{2}/\d{2}),(?P<number>[^/\s]+)/(?P<notation>\S(?:.*\S)?)$"
)


@dataclass(frozen=True)
class DocumentIdParts:
    """The parts of an edXML document id ``{sender},{yyyy/MM/dd},{number}/{notation}``."""

    sender: AgencyCode
    promulgation_date: date
    number: str
    notation: str


@lru_cache(maxsize=4096)
def document_id_parts(document_id: str) -> DocumentIdParts | str:
    """The parts of an edXML document id, or the reason it has none."""
    # Cached (the parts are frozen): the status events of one document follow each other closely, and a
    # DocumentSent's rules read its id twice.
    match = _DOCUMENT_ID_RE.match(document_id)
    if match is None:
        return f"{document_id!r} is not {{sender}},{{yyyy/MM/dd}},{{number}}/{{notation}}"
    year, month, day = (int(part) for part in match["date"].split("/"))
    try:
        promulgated = date(year, month, day)
    except ValueError as exc:
        return str(exc)
    return DocumentIdParts(AgencyCode(match["sender"]), promulgated, match["number"], match["notation"])


def _document_id(value: str, catalog: AgencyCatalog) -> Violation | None:
    parts = document_id_parts(value)
    if isinstance(parts, str):
        return Violation(parts)
    if parts.sender not in catalog.known_codes:
        return Violation(
            f"sender {parts.sender!r} of the document id has no known level-1 unit", rule="agency_code.known"
        )
    return None


DOCUMENT_ID: Final = FieldRule("document_id.format", _document_id)
"""``{sender},{yyyy/MM/dd},{number}/{notation}`` with a sender the catalog accepts (``agency_code.known``)."""


_DOSSIER_CODE_RE: Final = re.compile(r"^(?P<agency>[0-9A-Z.]+)-(?P<day>\d{6})-(?P<sequence>\d{4,6})$")
DOSSIER_CODE_FORM: Final = "{processing agency code}-{yyMMdd received}-{sequence of 4 to 6 digits}"
DOSSIER_CODE_EXAMPLE: Final = "000.00.00.H41-250701-0065"


def dossier_code(agency_code: str, received: date, sequence: int) -> str:
    """A dossier code of the bus's form: the agency, the day received (yyMMdd), the day's sequence number."""
    return f"{agency_code}-{received:%y%m%d}-{sequence:04d}"


def _dossier_code(value: str, catalog: AgencyCatalog) -> Violation | None:
    match = _DOSSIER_CODE_RE.match(value)
    if match is None:
        return Violation(f"{value!r} is not {DOSSIER_CODE_FORM}")
    if not is_agency_code(match["agency"]):
        return Violation(f"{match['agency']!r} in dossier code {value!r} is not a QĐ 20/2020 agency code")
    day = match["day"]
    try:
        date(2000 + int(day[:2]), int(day[2:4]), int(day[4:]))
    except ValueError:
        return Violation(f"{day!r} in dossier code {value!r} is not a date yyMMdd")
    return None


DOSSIER_CODE: Final = FieldRule("dossier_code.format", _dossier_code)
"""The bus's form of a dossier code (the portal's MaHoSo), the simulator's: see ``DOSSIER_CODE_FORM``."""


def report_id(agency_code: str, report_code: str, period: Period) -> str:
    """The conventional id of one report for one agency and period: ``{agency}/{report}/{period label}``."""
    return f"{agency_code}/{report_code}/{period.label}"


def _province_code(value: str, catalog: AgencyCatalog) -> Violation | None:
    if value in catalog.province_codes:
        return None
    return Violation(f"{value!r} is not one of the 34 province codes")


PROVINCE: Final = FieldRule("province_code.known", _province_code)


_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Unicode categories never valid in a name or an identifier: controls (C0 such as NUL and ESC, DEL, C1),
format characters (bidi overrides such as RLO U+202E, zero-width spaces and joiners, the BOM, soft hyphens)
and line/paragraph separators. What they do in a terminal, a log or a web page (erase, reorder, hide text)
differs from what a reader of the value sees."""
_LINE_BREAKS: Final = frozenset("\t\n\r")
"""What free text (``LONG_TEXT``) may contain of the refused characters: tabs and line breaks."""


def _hidden_characters(allowed: frozenset[str]) -> Callable[[str, AgencyCatalog], Violation | None]:
    def check(value: str, catalog: AgencyCatalog) -> Violation | None:
        if value.isprintable():  # C: the usual case, letters, digits, punctuation and ASCII spaces
            return None
        for position, char in enumerate(value):  # not printable: maybe a no-break space (allowed), or not
            if char not in allowed and unicodedata.category(char) in _REFUSED_CATEGORIES:
                name = unicodedata.name(char, "a control character")
                return Violation(
                    f"U+{ord(char):04X} ({name}) at position {position}: control and invisible characters "
                    "are not allowed here"
                )
        return None

    return check


SINGLE_LINE: Final = FieldRule("text.control_chars", _hidden_characters(frozenset()), first=True)
"""Identifiers, codes and names: no control or invisible character at all (newlines included)."""
MULTI_LINE: Final = FieldRule("text.control_chars", _hidden_characters(_LINE_BREAKS), first=True)
"""Free text: no control or invisible character except tabs and line breaks."""


def _finite(value: float, catalog: AgencyCatalog) -> Violation | None:
    return None if math.isfinite(value) else Violation(f"{value!r} is not a finite number")


FINITE: Final = FieldRule("number.finite", _finite)


# --- 4. rules across fields --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordRule:
    """A named rule across the fields of one record; ``field`` is the field its error names."""

    name: str
    field: str
    check: Callable[[Record, AgencyCatalog], Violation | None]


def _rule(
    name: str, field: str
) -> Callable[[Callable[[Record, AgencyCatalog], Violation | None]], RecordRule]:
    def make(check: Callable[[Record, AgencyCatalog], Violation | None]) -> RecordRule:
        return RecordRule(name, field, check)

    return make


def _id_parts(r: Record) -> DocumentIdParts | None:
    parts = document_id_parts(r["document_id"])
    return None if isinstance(parts, str) else parts


@_rule("document_id.sender", "document_id")
def _document_id_sender(r: Record, catalog: AgencyCatalog) -> Violation | None:
    parts, code = _id_parts(r), r["sender"]["code"]
    if parts is None or parts.sender == code:
        return None
    return Violation(f"document_id sender {parts.sender!r} differs from sender.code {code!r}")


@_rule("document_id.date", "document_id")
def _document_id_date(r: Record, catalog: AgencyCatalog) -> Violation | None:
    parts, day = _id_parts(r), r["promulgation_date"]
    if parts is None or (parts.promulgation_date - EPOCH_DAY).days == day:
        return None
    return Violation(
        f"document_id date {parts.promulgation_date} differs from promulgation_date {iso_of_days(day)}"
    )


@_rule("document_id.number", "document_id")
def _document_id_number(r: Record, catalog: AgencyCatalog) -> Violation | None:
    parts, number, notation = _id_parts(r), r["code_number"], r["code_notation"]
    if parts is None or (parts.number, parts.notation) == (number, notation):
        return None
    return Violation(
        f"document_id number/notation {parts.number}/{parts.notation} differs from "
        f"code_number/code_notation {number}/{notation}"
    )


@_rule("recipients.unique", "recipients")
def _recipients_unique(r: Record, catalog: AgencyCatalog) -> Violation | None:
    codes = [recipient["code"] for recipient in r["recipients"]]
    if len(set(codes)) == len(codes):
        return None
    return Violation("an agency appears twice among the recipients")


@_rule("document.due_after_promulgation", "due_date")
def _due_after_promulgation(r: Record, catalog: AgencyCatalog) -> Violation | None:
    due, day = r["due_date"], r["promulgation_date"]
    if due is None or due >= day:
        return None
    return Violation(f"due_date {iso_of_days(due)} is before promulgation_date {iso_of_days(day)}")


@_rule("document.attachments", "attachment_bytes")
def _attachments(r: Record, catalog: AgencyCatalog) -> Violation | None:
    if r["attachment_count"] != 0 or r["attachment_bytes"] == 0:
        return None
    return Violation("attachment_bytes must be 0 when attachment_count is 0")


@_rule("document.response_for_itself", "response_for")
def _response_for_itself(r: Record, catalog: AgencyCatalog) -> Violation | None:
    if r.get("response_for") != r["document_id"]:
        return None
    return Violation("response_for names the document itself: a document cannot reply to itself")


_REVOKE_OR_UPDATE: Final = frozenset({BusinessType.REVOKE.value, BusinessType.UPDATE.value})


def _revoke_or_update_only(field: str) -> RecordRule:
    """Rule ``document.{field}``: ``field`` (DocumentSent v2) is said only by a revocation or an update."""

    def check(r: Record, catalog: AgencyCatalog) -> Violation | None:
        # .get: the plain form of a record read with the v1 schema has no such key
        if r.get(field) is None or r["business_type"] in _REVOKE_OR_UPDATE:
            return None
        return Violation(f"{field} is for business_type REVOKE or UPDATE only, not {r['business_type']}")

    return RecordRule(f"document.{field}", field, check)


@_rule("province_code.matches_agency", "province_code")
def _province_of_agency(r: Record, catalog: AgencyCatalog) -> Violation | None:
    code = r["processing_agency"]["code"]
    expected = catalog.province_of(code)
    if r["province_code"] == expected:
        return None
    return Violation(
        f"province_code is {r['province_code']!r} but processing agency {code} belongs to {expected!r}"
    )


def _not_before(later: str, earlier: str, name: str) -> RecordRule:
    """Rule ``name``: the time ``later``, when set, is not before ``earlier`` (when set)."""

    def check(r: Record, catalog: AgencyCatalog) -> Violation | None:
        late, early = r[later], r[earlier]
        if late is None or early is None or late >= early:
            return None
        return Violation(f"{iso_of_millis(late)} is before {earlier} {iso_of_millis(early)}")

    return RecordRule(name, later, check)


FINISHED_STATUSES: Final = frozenset(status.value for status in DossierStatus if status.is_finished)


@_rule("dossier.finished_requires_time", "finished_at")
def _finished_requires_time(r: Record, catalog: AgencyCatalog) -> Violation | None:
    status = r["status"]
    if r["finished_at"] is not None or status not in FINISHED_STATUSES:
        return None
    return Violation(f"a dossier with status {status} ({DossierStatus(status).code}) needs finished_at")


@_rule("dossier.returned_requires_finished", "finished_at")
def _returned_requires_finished(r: Record, catalog: AgencyCatalog) -> Violation | None:
    if r["returned_at"] is None or r["finished_at"] is not None:
        return None
    return Violation("returned_at is set but finished_at is not")


@_rule("dossier.returned_requires_time", "returned_at")
def _returned_requires_time(r: Record, catalog: AgencyCatalog) -> Violation | None:
    if r["returned_at"] is not None or r["status"] != DossierStatus.RETURNED.value:
        return None
    returned = DossierStatus.RETURNED
    return Violation(f"a dossier with status {returned.value} ({returned.code}) needs returned_at")


@_rule("report.period_number", "period_number")
def _period_in_range(r: Record, catalog: AgencyCatalog) -> Violation | None:
    kind, number = r["period_type"], r["period_number"]
    count = PERIODS_PER_YEAR.get(kind)  # keyed by PeriodType, a StrEnum: its symbol finds it; UNKNOWN: None
    if count is None or number <= count:
        return None
    return Violation(f"period_number {number} is out of 1..{count} for {kind}")


@_rule("report_id.format", "report_id")
def _report_id_format(r: Record, catalog: AgencyCatalog) -> Violation | None:
    try:
        period = Period(PeriodType(r["period_type"]), r["period_year"], r["period_number"])
    except ValueError:
        return None  # no such period: report.period_number (or the enum) says so
    expected = report_id(r["reporting_agency"]["code"], r["report_code"], period)
    if r["report_id"] == expected:
        return None
    return Violation(
        f"report_id {r['report_id']!r} is not {{agency}}/{{report code}}/{{period}}: expected {expected!r}"
    )


_OLD_TONE_PLACEMENT: Final = re.compile(r"([oòóỏõọ][aàáảãạeèéẻẽẹ]|[uùúủũụ][yỳýỷỹỵ])(?!\w)")
"""A word ending in oa, oe or uy: the old style marks the tone on its second vowel (``hoà``, ``Uỷ``), the new
one on the first (``hòa``, ``Ủy``); both are correct Vietnamese and both are in use."""
_TONES: Final = {"\u0300", "\u0301", "\u0309", "\u0303", "\u0323"}  # grave, acute, hook, tilde, dot


def _tone_on_first_vowel(match: re.Match[str]) -> str:
    first, second = (unicodedata.normalize("NFD", char) for char in match[0])
    tones = [mark for mark in first + second if mark in _TONES]
    if not tones:
        return match[0]
    bare = [mark for mark in first if mark not in _TONES], [mark for mark in second if mark not in _TONES]
    return unicodedata.normalize("NFC", "".join(bare[0]) + tones[0] + "".join(bare[1]))


@lru_cache(maxsize=4096)
def comparable_name(name: str) -> str:
    """``name`` as names are compared with the catalog: NFC, casefolded, runs of whitespace as one space,
    the tone of a final oa/oe/uy on its first vowel (``Uỷ ban`` is ``Ủy ban``)."""
    folded = " ".join(unicodedata.normalize("NFC", name).casefold().split())
    return _OLD_TONE_PLACEMENT.sub(_tone_on_first_vowel, folded)


@_rule("agency_name.matches_catalog", "name")
def _agency_name(r: Record, catalog: AgencyCatalog) -> Violation | None:
    # Only where the catalog lists the unit: names of units it does not list (well-formed codes under a
    # known level-1 unit) cannot be checked.
    agency = catalog.find(r["code"])
    if agency is None or comparable_name(r["name"]) == comparable_name(agency.name):
        return None
    return Violation(f"{r['name']!r} is not the catalog's name of agency {agency.code}: {agency.name!r}")


@_rule("report.indicator_unique", "indicators")
def _indicator_codes_unique(r: Record, catalog: AgencyCatalog) -> Violation | None:
    seen: set[str] = set()
    for index, indicator in enumerate(r["indicators"]):
        code = indicator["code"]
        if code in seen:
            return Violation(f"indicator code {code!r} appears twice", field=f"indicators[{index}].code")
        seen.add(code)
    return None


RECORD_RULES: Final[Mapping[str, Sequence[RecordRule]]] = {
    "vn.gov.lgsp.document.DocumentSent": (
        _document_id_sender,
        _document_id_date,
        _document_id_number,
        _recipients_unique,
        _due_after_promulgation,
        _attachments,
        _response_for_itself,
        _revoke_or_update_only("referenced_document_id"),
        _revoke_or_update_only("business_reason"),
    ),
    "vn.gov.lgsp.dossier.DossierSynced": (
        _province_of_agency,
        _not_before("due_at", "received_at", "dossier.due_after_received"),
        _not_before("finished_at", "received_at", "dossier.finished_after_received"),
        _finished_requires_time,
        _returned_requires_finished,
        _not_before("returned_at", "finished_at", "dossier.returned_after_finished"),
        _returned_requires_time,
    ),
    "vn.gov.lgsp.report.ReportFiled": (_period_in_range, _indicator_codes_unique, _report_id_format),
    "vn.gov.lgsp.common.AgencyRef": (_agency_name,),
}
"""The rules across fields of each event type (and of a nested record type: an agency reference), in the order
they are checked (the first broken one is reported by the models)."""


def first_violation(name: str, record: Record, catalog: AgencyCatalog) -> tuple[RecordRule, Violation] | None:
    """The first rule of ``RECORD_RULES[name]`` that ``record`` breaks, with how; None if none."""
    for rule in RECORD_RULES.get(name, ()):
        violation = rule.check(record, catalog)
        if violation is not None:
            return rule, violation
    return None
