"""The rule table's record rules (part 4): named rules across the fields of one record, per event type
(:data:`RECORD_RULES`), on the record in its plain form (times in epoch milliseconds, dates in epoch days,
nested records as dicts, enums as their symbols). See :mod:`bus.events.rules`."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from bus.agencies import AgencyCatalog
from bus.events.codes import BusinessType, DossierStatus, PeriodType
from bus.events.periods import PERIODS_PER_YEAR, Period
from bus.events.rules.fields import DocumentIdParts, Violation, document_id_parts, report_id
from bus.events.rules.limits import EPOCH_DAY, iso_of_days, iso_of_millis

Record = Mapping[str, Any]
"""An Avro record in plain form: what fastavro reads without logical types, or a model's plain view."""


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
