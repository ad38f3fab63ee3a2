"""The rule table's :class:`FieldRule` rows (part 3): named rules on one value that need code (a catalog
lookup, a parsed id, the characters of a text), with :class:`Violation` and :func:`rule_error`, what every
broken rule reports. See :mod:`bus.events.rules`."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache, partial
from typing import Any, Final

from pydantic import GetCoreSchemaHandler, ValidationInfo
from pydantic_core import PydanticCustomError, core_schema

from bus.agencies import AGENCY_CODE_FORM, AgencyCatalog, is_agency_code, load_catalog
from bus.events.periods import Period
from bus.types import AgencyCode

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
