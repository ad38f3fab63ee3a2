"""Content authorization: which agencies an event asserts, and whether a principal may assert them.

An event names agencies in two places: its CloudEvents ``source`` (who publishes) and fields inside ``data``
that the national views credit (who sent a document, who reports, who processes a dossier). Checking only the
``source`` let one province's key file reports as another province. So every entry — the ingress, the SDK's
``bus.Publisher`` and the views' verification of signed records — applies the same two rules, written once
here:

``agency-allowed`` (``source-allowed`` for ``source``)
    the principal may publish for the asserted agency (:func:`may_publish_for`: the agency itself, a unit
    explicitly granted to it, or — for a provincial People's Committee — any unit of its province);
``source-rollup``
    the event's ``source`` is the asserted agency or a unit that rolls up to it (:func:`rolls_up_to`: a
    department of a ministry or of a province publishing about its head is fine, a stranger is not).

The asserted fields per event type are one table (:data:`ASSERTED_FIELDS`); it reads a typed event by
attribute or an Avro-shaped record (:attr:`~bus.events.record.EventRecord.avro`), so the views can check
a record without building a model. A dossier's ``province_code`` asserts the province's People's Committee.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any, Final, cast

from bus.agencies import AgencyCatalog, load_catalog
from bus.types import AgencyCode

if TYPE_CHECKING:
    from bus.events import Event
    from bus.events.record import EventRecord


class Rule(StrEnum):
    """The rules a refusal names (``rule`` of a 403's errors at the ingress, ``Refusal.rule`` everywhere)."""

    SOURCE_ALLOWED = "source-allowed"
    """The grant rule applied to ``source`` (the name wave 1 gave it; integrators match on it)."""
    AGENCY_ALLOWED = "agency-allowed"
    """The grant rule applied to an agency the event's data asserts."""
    SOURCE_ROLLUP = "source-rollup"
    """``source`` is neither the asserted agency nor one of its units."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who publishes: the agency whose credential was presented, and the units explicitly granted to it.

    ``key_id`` names the credential (an ingress API key id, a signing key id); it is not part of identity.
    """

    agency: AgencyCode
    grants: frozenset[str] = frozenset()
    key_id: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Refusal:
    """One asserted agency the principal may not assert: the field, the code, the rule and why."""

    field: str
    agency: str
    rule: Rule
    message: str


@dataclass(frozen=True, slots=True)
class _Asserted:
    name: str
    """The field as an integrator sees it in ``data`` (a refusal names it)."""
    path: tuple[str, ...]
    kind: str
    """``agency`` (a code), ``document_id`` (its sender part), ``province`` (a statistics code)."""


ASSERTED_FIELDS: Final[Mapping[str, tuple[_Asserted, ...]]] = {
    "vn.gov.lgsp.document.DocumentSent": (
        _Asserted("sender", ("sender", "code"), "agency"),
        _Asserted("document_id", ("document_id",), "document_id"),
    ),
    "vn.gov.lgsp.document.DocumentStatusChanged": (
        _Asserted("reporting_agency", ("reporting_agency", "code"), "agency"),
    ),
    "vn.gov.lgsp.dossier.DossierSynced": (
        _Asserted("processing_agency", ("processing_agency", "code"), "agency"),
        _Asserted("province_code", ("province_code",), "province"),
    ),
    "vn.gov.lgsp.report.ReportFiled": (
        _Asserted("reporting_agency", ("reporting_agency", "code"), "agency"),
    ),
}
"""Per event type (Avro full name): the fields of ``data`` that name an agency the views credit."""


def asserted_agencies(
    type_name: str, record: object, catalog: AgencyCatalog | None = None
) -> list[tuple[str, str]]:
    """``(field, agency code)`` for every agency ``record`` of type ``type_name`` asserts: an Avro-shaped
    mapping, or a typed event (read by attribute, so publishing never dumps a model).

    A province code asserts its People's Committee; an unknown province or a missing value asserts nothing
    here (the contract refuses those).
    """
    catalog = catalog or load_catalog()
    found: list[tuple[str, str]] = []
    for asserted in ASSERTED_FIELDS.get(type_name, ()):
        value = _assertion_part(_at(record, asserted.path), asserted.kind)
        if value is None:
            continue
        if asserted.kind == "province":
            if not catalog.is_province(value):
                continue
            value = catalog.province(value).committee
        found.append((asserted.name, value))
    return found


def assertion_key(type_name: str, record: object) -> tuple[str | None, ...]:
    """What :func:`asserted_agencies` of ``record`` depends on: each asserted field as it reads it (a string,
    a document id's sender part) or None. Records with the same key assert the same agencies, so a verifier
    remembers its verdicts by key without listing (or looking up in the catalog) each record's agencies."""
    reader = _KEY_READERS.get(type_name)
    if reader is None:
        reader = _KEY_READERS[type_name] = _key_reader(ASSERTED_FIELDS.get(type_name, ()))
    return reader(record)


def _slow_key(fields: Sequence[_Asserted], record: object) -> tuple[str | None, ...]:
    return tuple(_assertion_part(_at(record, a.path), a.kind) for a in fields)


def _key_reader(fields: Sequence[_Asserted]) -> Callable[[object], tuple[str | None, ...]]:
    """:func:`_slow_key` for ``fields``, compiled: the views verify every record, and their records are plain
    dicts whose asserted fields are all there, so one expression reads them all (subscripts, no loop); any
    other shape (a model, a missing field) raises and takes the generic reading."""
    parts = []
    for asserted in fields:
        read = "record" + "".join(f"[{name!r}]" for name in asserted.path)
        parts.append(f"_part({read}, {asserted.kind!r})")
    source = (
        "def read(record):\n"
        "    if type(record) is not dict:\n"
        "        return _slow(record)\n"
        "    try:\n"
        f"        return ({''.join(part + ', ' for part in parts)})\n"
        "    except (KeyError, TypeError):\n"
        "        return _slow(record)\n"
    )
    scope: dict[str, Any] = {"_part": _assertion_part, "_slow": partial(_slow_key, tuple(fields))}
    exec(compile(source, f"<assertion key {[a.name for a in fields]}>", "exec"), scope)  # noqa: S102 - our own source
    return cast(Callable[[object], tuple[str | None, ...]], scope["read"])


_KEY_READERS: dict[str, Callable[[object], tuple[str | None, ...]]] = {}


def _assertion_part(value: Any, kind: str) -> str | None:
    if not isinstance(value, str):
        return None
    # edXML document ids: {sender},{yyyy/MM/dd},{number}/{notation}
    return value.split(",", 1)[0] if kind == "document_id" else value


def asserted_by_event(event: Event, catalog: AgencyCatalog | None = None) -> list[tuple[str, str]]:
    """:func:`asserted_agencies` of a typed event."""
    return asserted_agencies(event.AVRO_NAME, event, catalog)


def may_publish_for(principal: Principal, code: str, catalog: AgencyCatalog | None = None) -> bool:
    """The grant rule: the agency itself, an explicitly granted unit, or any unit of a People's Committee's
    province (including the units of provinces merged into it in 2025)."""
    if code == principal.agency or code in principal.grants:
        return True
    catalog = catalog or load_catalog()
    agency = catalog.find(principal.agency)
    if agency is None or agency.kind != "province_committee" or agency.province is None:
        return False
    return catalog.province_of(code) == agency.province


def rolls_up_to(source: str, code: str, catalog: AgencyCatalog | None = None) -> bool:
    """The source rule: ``source`` is ``code`` or one of its units (same province under a People's
    Committee; same level-1 group under a ministry or central body)."""
    if source == code:
        return True
    catalog = catalog or load_catalog()
    head = catalog.find(code)
    if head is None:
        return False
    if head.kind == "province_committee":
        return head.province is not None and catalog.province_of(source) == head.province
    if head.kind == "ministry":
        return source.rpartition(".")[2] == code.rpartition(".")[2]
    return False


def refusals(
    principal: Principal,
    source: str,
    asserted: Sequence[tuple[str, str]],
    catalog: AgencyCatalog | None = None,
) -> list[Refusal]:
    """Every rule the event breaks for ``principal``: ``source`` first, then each asserted field."""
    catalog = catalog or load_catalog()
    found: list[Refusal] = []
    if not may_publish_for(principal, source, catalog):
        found.append(
            Refusal("source", source, Rule.SOURCE_ALLOWED, f"{principal.agency} may not publish for {source}")
        )
    for name, code in asserted:
        if not may_publish_for(principal, code, catalog):
            message = f"{principal.agency} may not publish for {code}"
            found.append(Refusal(name, code, Rule.AGENCY_ALLOWED, message))
        elif not rolls_up_to(source, code, catalog):
            message = f"source {source} is neither {code} nor one of its units"
            found.append(Refusal(name, code, Rule.SOURCE_ROLLUP, message))
    return found


def event_refusals(principal: Principal, event: Event, catalog: AgencyCatalog | None = None) -> list[Refusal]:
    """:func:`refusals` for a typed event."""
    catalog = catalog or load_catalog()
    return refusals(principal, event.meta.source, asserted_by_event(event, catalog), catalog)


def record_refusals(
    principal: Principal, record: EventRecord, catalog: AgencyCatalog | None = None
) -> list[Refusal]:
    """:func:`refusals` for an :class:`~bus.events.record.EventRecord` (the same fields and rules)."""
    catalog = catalog or load_catalog()
    return refusals(principal, record.source, asserted_agencies(record.name, record.avro, catalog), catalog)


def _at(record: object, path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        # dict first: the views' Avro records are plain dicts, and the ABC check costs more than the lookup
        if type(value) is dict or isinstance(value, Mapping):
            value = value.get(part)
        else:
            value = getattr(value, part, None)
        if value is None:
            return None
    return value
