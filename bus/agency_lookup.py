"""Looking an agency up: what the catalog knows about a code, and agencies whose name matches a text.

Used by ``lgsp agencies show | search`` and the ingress's ``GET /v1/agencies/{code}``, so both answer alike.

A QĐ 20/2020 code is read right to left: the rightmost group is the level-1 unit (``H29`` Hồ Chí Minh City's
People's Committee, ``G12`` Ministry of Finance), the groups to its left are levels 2, 3, 4
(``000.00.03.H29`` is the level-2 unit 03 under ``H29``: Sở Tư pháp). A group of zeros means "no unit at that
level", so a unit's level is its leftmost non-zero group and its parent is the same code with that group
zeroed. Codes the catalog does not list are still described from their shape (level, parent, province
roll-up), marked ``known: false``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

from bus.agencies import AgencyCatalog, check_agency_code_shape
from bus.types import AgencyCode, ProvinceCode

SEARCH_LIMIT = 20
"""Default number of matches ``search`` returns (the catalog has a few hundred agencies)."""


@dataclass(frozen=True)
class Named:
    """A code with its catalog name (None when the catalog does not list it)."""

    code: str
    name: str | None


@dataclass(frozen=True)
class AgencyInfo:
    """What the catalog knows about one agency code."""

    code: AgencyCode
    known: bool
    """Whether the catalog lists this exact code (a well-formed unlisted code is still described)."""
    name: str | None
    name_en: str | None
    kind: str | None
    """``province_committee``, ``ministry`` or ``department``; None for a code the catalog does not list."""
    level: int
    """1 for a level-1 unit (a ministry, a People's Committee), 2 for its departments, and so on."""
    parent: Named | None
    province: Named | None
    """The province the code rolls up to (by its level-1 group); None for ministries and central bodies."""
    code_status: str | None
    """How sure the catalog is of the code: ``confirmed``, ``derived`` or ``illustrative``."""
    may_publish_for: list[str]
    """In words, whose events an ingress key or SDK identity of this agency may publish."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def level_of(code: str) -> int:
    """The level of the unit a well-formed code names (1 = level-1 unit)."""
    groups = code.split(".")
    for depth in range(len(groups) - 1, 0, -1):
        if not _is_zero(groups[len(groups) - 1 - depth]):
            return depth + 1
    return 1


def parent_of(code: str) -> AgencyCode | None:
    """The code of the unit one level up, or None for a level-1 unit."""
    level = level_of(code)
    if level == 1:
        return None
    groups = code.split(".")
    index = len(groups) - level
    groups[index] = "0" * len(groups[index])
    return AgencyCode(".".join(groups))


def describe(code: str, catalog: AgencyCatalog) -> AgencyInfo:
    """What the catalog knows about ``code``; :class:`~bus.errors.ValidationError` if it is malformed."""
    agency_code = check_agency_code_shape(code, field="code")
    agency = catalog.find(agency_code)
    parent = parent_of(agency_code)
    province_code = catalog.province_of(agency_code)
    return AgencyInfo(
        code=agency_code,
        known=agency is not None,
        name=agency.name if agency else None,
        name_en=agency.name_en if agency else None,
        kind=agency.kind if agency else None,
        level=level_of(agency_code),
        parent=_named(parent, catalog) if parent else None,
        province=_province(province_code, catalog),
        code_status=agency.code_status if agency else None,
        may_publish_for=_may_publish_for(agency_code, catalog),
    )


def search(text: str, catalog: AgencyCatalog, *, limit: int = SEARCH_LIMIT) -> list[AgencyInfo]:
    """Agencies whose code, name, English name or province name holds every word of ``text``.

    Case and Vietnamese diacritics are ignored (``so tu phap ho chi minh`` finds Sở Tư pháp thành phố Hồ Chí
    Minh); level-1 units come first, then by code.
    """
    words = _fold(text).split()
    if not words:
        return []
    found = []
    for agency in catalog:
        province = catalog.province_of(agency.code)
        haystack = _fold(
            " ".join(
                part
                for part in (
                    agency.code,
                    agency.name,
                    agency.name_en or "",
                    catalog.province(province).name if province else "",
                )
            )
        )
        if all(word in haystack for word in words):
            found.append(agency.code)
    found.sort(key=lambda c: (level_of(c), c))
    return [describe(code, catalog) for code in found[:limit]]


def _may_publish_for(code: AgencyCode, catalog: AgencyCatalog) -> list[str]:
    # The words for the rule of producers/ingress/auth.py's Authorizer (tests/unit/test_agency_lookup.py
    # checks them against it): the agency itself, units granted to it, a People's Committee's whole province.
    rules = [f"itself ({code})", "units granted to it by the operator (lgsp ingress keys add --grant)"]
    agency = catalog.find(code)
    if agency is not None and agency.kind == "province_committee" and agency.province is not None:
        province = catalog.province(agency.province)
        level1 = sorted({c.rpartition(".")[2] for c in province.legacy_committees})
        rules.append(
            f"every unit of province {province.code} ({province.name}): codes ending in "
            + ", ".join(f".{group}" for group in level1)
        )
    return rules


def _named(code: str, catalog: AgencyCatalog) -> Named:
    agency = catalog.find(code)
    return Named(code, agency.name if agency else None)


def _province(code: ProvinceCode | None, catalog: AgencyCatalog) -> Named | None:
    return Named(code, catalog.province(code).name) if code is not None else None


def _is_zero(group: str) -> bool:
    return set(group) == {"0"}


def _fold(text: str) -> str:
    """Lower case without diacritics (đ becomes d), for matching what people type."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
