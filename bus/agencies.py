"""The agency catalog: provinces, their People's Committees and departments, ministries and central bodies.

The data is ``bus/data/agencies.json`` (its sources, and how sure each code is, are written in the file).
Codes are QĐ 20/2020/QĐ-TTg agency codes: QCVN 102:2016's groups ``A1A2A3.B1B2.C1C2.M1M2M3`` (more on the
left below level 4), at most 35 characters, the level-1 unit on the right (``G..`` ministries and central
bodies, ``H..`` provincial People's Committees, ``K..`` provincial People's Councils). Any code whose
level-1 group is a province's ``H`` number rolls up to that province, including units not listed here and
the People's Committees of provinces merged on 2025-07-01.

Which codes an event may name (:attr:`AgencyCatalog.known_codes`): every listed code, and any well-formed
code whose level-1 group is known — a province's ``H`` code (its own or a merged province's pre-2025 one),
the matching ``K`` (People's Council) code, or a ministry's ``G`` code. So a commune, a department outside the
template or a ministry's own department is accepted and rolled up; the views count such units apart
(unlisted units), they are not dead letters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Final, Literal

from bus.errors import ConfigError, UnknownAgencyError, ValidationError
from bus.types import AgencyCode, ProvinceCode

AgencyKind = Literal["province_committee", "province_council", "ministry", "department"]
CodeStatus = Literal["confirmed", "derived", "illustrative"]

AGENCY_CODE_MAX_LENGTH = 35
AGENCY_CODE_RE = re.compile(r"^(?:[0-9A-Z]+\.)*[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[A-Z][0-9]{2}$")
"""QĐ 20/2020 shape (QCVN 102:2016's groups): ``A1A2A3.B1B2.C1C2.M1M2M3``, levels 4 to 1 from the left, the
level-1 group a letter and two digits, ``0`` groups where a level is not used (000.00.00.H41 is a province's
People's Committee); units below level 4 add groups on the left."""
AGENCY_CODE_FORM = (
    "A1A2A3.B1B2.C1C2.M1M2M3: groups of 3, 2, 2 and 3 digits or capitals (more groups on the left for "
    f"units below level 4), at most {AGENCY_CODE_MAX_LENGTH} characters, ending in the level-1 group such "
    "as H29 or G22"
)
"""The shape in words, for every message that refuses a code for its form."""
_SHAPE_CACHE_SIZE = 8192
"""Codes whose shape is remembered: several times the catalog, so garbage cannot evict the real ones often."""
_PROVINCE_CACHE_SIZE = 8192


GOVERNMENT_OFFICE: Final = "000.00.00.G22"
"""Văn phòng Chính phủ, which runs the national platforms (the default owner of a stack's ingress key)."""


@dataclass(frozen=True)
class Agency:
    """One agency of the catalog."""

    code: AgencyCode
    name: str
    kind: AgencyKind
    province: ProvinceCode | None
    code_status: CodeStatus
    name_en: str | None = None


@dataclass(frozen=True)
class Province:
    """One of the 34 provinces (since 2025-07-01), by its two-digit statistics code."""

    code: ProvinceCode
    name: str
    short_name: str
    is_city: bool
    committee: AgencyCode
    merged_from: tuple[str, ...]
    legacy_committees: tuple[AgencyCode, ...]
    """People's Committee codes of the former provinces merged into this one (the first is its own)."""


@lru_cache(maxsize=_SHAPE_CACHE_SIZE)
def is_agency_code(code: str) -> bool:
    """True if ``code`` has the QĐ 20/2020 shape (it may still be missing from the catalog)."""
    # Cached: a stream names the same few hundred agencies over and over, and the regex is the cost.
    return len(code) <= AGENCY_CODE_MAX_LENGTH and AGENCY_CODE_RE.match(code) is not None


def check_agency_code_shape(code: str, *, field: str) -> AgencyCode:
    """``code`` as an :data:`AgencyCode`, or :class:`~bus.errors.ValidationError` naming ``field``."""
    if not is_agency_code(code):
        raise ValidationError(
            f"{field}: {code!r} is not a QĐ 20/2020 agency code ({AGENCY_CODE_FORM})",
            field=field,
            rule="agency_code.shape",
        )
    return AgencyCode(code)


class AcceptedCodes(Container[str]):
    """The codes an event may name: the listed ones, and well-formed codes under a known level-1 group."""

    def __init__(self, listed: frozenset[str], level1_groups: frozenset[str]) -> None:
        self._listed = listed
        self._level1_groups = level1_groups
        self._unlisted: dict[str, bool] = {}

    def __contains__(self, code: object) -> bool:
        if code in self._listed:  # the usual case: one set lookup
            return True
        if not isinstance(code, str):
            return False
        found = self._unlisted.get(code)
        if found is None:
            found = is_agency_code(code) and _level1(code) in self._level1_groups
            if len(self._unlisted) < _PROVINCE_CACHE_SIZE:  # bounded: callers may pass any text
                self._unlisted[code] = found
        return found


class AgencyCatalog:
    """Lookup of agencies and provinces; build it with :func:`load_catalog`."""

    def __init__(self, provinces: Iterable[Province], agencies: Iterable[Agency]) -> None:
        self._provinces = {p.code: p for p in provinces}
        self._agencies = {a.code: a for a in agencies}
        self._by_level1 = {
            _level1(code): p.code for p in self._provinces.values() for code in p.legacy_committees
        }
        self._province_of: dict[str, ProvinceCode | None] = {}
        self.province_codes: frozenset[ProvinceCode] = frozenset(self._provinces)
        """The statistics codes of the provinces (what :meth:`is_province` accepts)."""
        committees = frozenset(self._by_level1)
        self.level1_groups: frozenset[str] = (
            committees
            | {"K" + group[1:] for group in committees}
            | {_level1(a.code) for a in self._agencies.values() if a.kind == "ministry"}
        )
        """Known level-1 groups: provinces' ``H`` codes (pre-2025 ones included), their ``K`` codes, the
        ministries' ``G`` codes."""
        self.known_codes: Container[str] = AcceptedCodes(
            frozenset(c for c in self._agencies if is_agency_code(c)), self.level1_groups
        )
        """The codes an event may name (see the module docstring); ``code in catalog`` says whether the
        catalog lists it. Listed codes cost one set lookup."""

    def __contains__(self, code: object) -> bool:
        return code in self._agencies

    def __iter__(self) -> Iterator[Agency]:
        return iter(self._agencies.values())

    def __len__(self) -> int:
        return len(self._agencies)

    def find(self, code: str) -> Agency | None:
        """The agency with ``code``, or None."""
        return self._agencies.get(AgencyCode(code))

    def is_listed(self, code: str) -> bool:
        """True if the catalog lists ``code`` itself (not only its level-1 group)."""
        return code in self._agencies

    def get(self, code: str, *, field: str = "agency_code") -> Agency:
        """The agency with ``code``; :class:`~bus.errors.UnknownAgencyError` (naming ``field``) if absent."""
        agency = self._agencies.get(check_agency_code_shape(code, field=field))
        if agency is None:
            raise UnknownAgencyError(
                f"{field}: agency {code!r} is not in the agency catalog",
                field=field,
                rule="agency_code.known",
            )
        return agency

    def province_of(self, code: str) -> ProvinceCode | None:
        """The province an agency code rolls up to, by its level-1 group; None for ministries, central bodies.

        ``K`` (People's Council) codes are taken to share the number of their province's ``H`` code.
        """
        known = self._province_of.get(code, _UNSEEN)
        if known is not _UNSEEN:
            return known  # type: ignore[return-value]  # a ProvinceCode or None, stored below
        province = self._province_of_code(code)
        if len(self._province_of) < _PROVINCE_CACHE_SIZE:  # bounded: callers may pass any text
            self._province_of[code] = province
        return province

    def _province_of_code(self, code: str) -> ProvinceCode | None:
        if not is_agency_code(code):
            return None
        level1 = _level1(code)
        if level1[0] == "K":
            level1 = "H" + level1[1:]
        return self._by_level1.get(level1)

    def province(self, code: str) -> Province:
        """The province with statistics code ``code`` (e.g. ``79``); ValidationError if there is none."""
        try:
            return self._provinces[ProvinceCode(code)]
        except KeyError:
            raise ValidationError(
                f"province_code: {code!r} is not one of the 34 province codes",
                field="province_code",
                rule="province_code.known",
            ) from None

    def is_province(self, code: str) -> bool:
        """True if ``code`` is the statistics code of one of the 34 provinces."""
        return code in self._provinces

    def provinces(self) -> list[Province]:
        """The 34 provinces, by statistics code."""
        return sorted(self._provinces.values(), key=lambda p: p.code)

    def ministries(self) -> list[Agency]:
        """Ministries and central bodies (level-1 ``G`` codes), by code."""
        return self._of_kind("ministry")

    def province_committees(self) -> list[Agency]:
        """The People's Committee of each province, by code."""
        return self._of_kind("province_committee")

    def signers(self) -> list[Agency]:
        """The People's Committees and the ministries: one signing key each signs for all their units (a
        province's key for its departments), as the demo and test stacks sign the simulated nation."""
        return [*self.province_committees(), *self.ministries()]

    def province_councils(self) -> list[Agency]:
        """The People's Council of each province, by code."""
        return self._of_kind("province_council")

    def departments(self, province: str | None = None) -> list[Agency]:
        """Departments of one province (or of all), by code."""
        return [a for a in self._of_kind("department") if province is None or a.province == province]

    def _of_kind(self, kind: AgencyKind) -> list[Agency]:
        return sorted((a for a in self._agencies.values() if a.kind == kind), key=lambda a: a.code)


_UNSEEN = object()


def _level1(code: str) -> str:
    return code.rpartition(".")[2]


@cache
def load_catalog() -> AgencyCatalog:
    """The catalog from the packaged ``bus/data/agencies.json`` (loaded once)."""
    text = resources.files("bus").joinpath("data/agencies.json").read_text(encoding="utf-8")
    return catalog_from_json(json.loads(text))


def catalog_from_json(data: dict[str, Any]) -> AgencyCatalog:
    """Build a catalog from the JSON document (the layout of ``bus/data/agencies.json``)."""
    try:
        provinces = [_province(item) for item in data["provinces"]]
        agencies = [_committee(item) for item in data["provinces"]]
        agencies += [_council(item, data["council_template"]) for item in data["provinces"]]
        agencies += [_ministry(item) for item in data["ministries"]]
        agencies += list(_departments(data["department_template"], provinces))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"agency catalog data is malformed: {exc!r}") from exc
    for agency in agencies:
        check_agency_code_shape(agency.code, field=f"catalog[{agency.name}].code")
    return AgencyCatalog(provinces, agencies)


def _province(item: dict[str, Any]) -> Province:
    return Province(
        code=ProvinceCode(item["code"]),
        name=item["name"],
        short_name=item["short_name"],
        is_city=item["kind"] == "city",
        committee=AgencyCode(item["committee"]["code"]),
        merged_from=tuple(m["name"] for m in item["merged_from"]),
        legacy_committees=tuple(AgencyCode(m["committee_code"]) for m in item["merged_from"]),
    )


def _committee(item: dict[str, Any]) -> Agency:
    committee = item["committee"]
    return Agency(
        code=AgencyCode(committee["code"]),
        name=committee["name"],
        kind="province_committee",
        province=ProvinceCode(item["code"]),
        code_status=committee["code_status"],
    )


def _council(item: dict[str, Any], template: dict[str, Any]) -> Agency:
    """The province's People's Council: ``K`` with the number of its People's Committee's ``H`` code."""
    committee = item["committee"]["code"]
    name: str = item["name"]
    return Agency(
        code=AgencyCode(committee[: -len(_level1(committee))] + "K" + _level1(committee)[1:]),
        name=template["name"].format(province=name[0].lower() + name[1:]),
        kind="province_council",
        province=ProvinceCode(item["code"]),
        code_status=template["code_status"],
    )


def _ministry(item: dict[str, Any]) -> Agency:
    return Agency(
        code=AgencyCode(item["code"]),
        name=item["name"],
        kind="ministry",
        province=None,
        code_status=item["code_status"],
        name_en=item.get("name_en"),
    )


def _departments(template: dict[str, Any], provinces: list[Province]) -> Iterator[Agency]:
    for province in provinces:
        level1 = _level1(province.committee)
        for unit in template["units"]:
            yield Agency(
                code=AgencyCode(f"000.00.{unit['unit']}.{level1}"),
                name=unit["name"].format(province=province.name[0].lower() + province.name[1:]),
                kind="department",
                province=province.code,
                code_status=template["code_status"],
            )
