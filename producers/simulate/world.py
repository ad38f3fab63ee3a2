"""The simulated nation: agencies from the catalog, with the people who sign for them, the procedures they
handle and the traffic they generate, calibrated by the targets file.

Built once per run from the seeded RNG, so the same seed names the same signers. Agencies come from
:func:`bus.agencies.load_catalog`; a province without a targets row is a configuration error.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from bus.agencies import Agency, AgencyCatalog
from bus.errors import ConfigError
from bus.events import AgencyRef, OnlineLevel, SigningAuthority
from bus.types import AgencyCode, ProvinceCode
from producers.simulate import vocab
from producers.simulate.procedures import COMMUNE, Procedure, load_procedures, online_propensity
from producers.simulate.targets import MINISTRIES_KEY, Targets, TargetTable

T = TypeVar("T")

_COMMITTEE_DOC_WEIGHT = 3.0
_OFFICE_DOC_WEIGHT = 2.0
_DEPARTMENT_DOC_WEIGHT = 1.4
_MINISTRY_DOC_WEIGHTS = {"G22": 3.0, "G12": 2.0, "G09": 1.5, "G01": 1.5}
_FEMALE_SHARE = 0.3
_REGISTER_PER_DAY = {"province_committee": 45.0, "department": 25.0, "ministry": 35.0}
"""Documents a real agency registers per day, all types; VPCP's Công văn 7816/VPCP-TTĐT was dated 30/09/2015
(about 30 a day). Provinces scale it by the square root of their size."""


class Picker(Generic[T]):
    """Weighted choice by one uniform draw (cumulative weights and a bisection)."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if not items or len(items) != len(weights):
            raise ConfigError("a weighted choice needs as many weights as items, and at least one")
        self._items = tuple(items)
        self._cumulative = tuple(itertools.accumulate(weights))
        self._total = self._cumulative[-1]
        if self._total <= 0:
            raise ConfigError("a weighted choice needs a positive total weight")

    def pick(self, rng: random.Random) -> T:
        index = bisect.bisect_right(self._cumulative, rng.random() * self._total)
        return self._items[min(index, len(self._items) - 1)]

    @property
    def items(self) -> tuple[T, ...]:
        return self._items


@dataclass(frozen=True, slots=True)
class Signer:
    position: str
    name: str
    authority: SigningAuthority = SigningAuthority.DIRECT


@dataclass(eq=False, slots=True)
class SimAgency:
    """One agency as the simulator uses it."""

    code: AgencyCode
    ref: AgencyRef
    kind: str
    province: ProvinceCode | None
    targets: Targets
    abbreviation: str
    drafting_units: tuple[str, ...]
    signers: Picker[Signer]
    place: str
    unit: str
    """Department unit (``03``), ``00`` for a People's Committee, level-1 code (``G08``) for a ministry."""
    documents_per_day: float = 0.0
    """Documents this agency stands for per day at scale 1 (its share of its province's traffic)."""
    register_per_day: float = 0.0
    """Documents a real agency of its kind numbers per day: how fast its document numbers grow."""

    @property
    def truth_key(self) -> str:
        """Key of the ground truth and the targets: the province code, or ``ministries``."""
        return self.province if self.province is not None else MINISTRIES_KEY


@dataclass(eq=False, slots=True)
class SimProvince:
    code: ProvinceCode
    targets: Targets
    committee: SimAgency
    departments: tuple[SimAgency, ...]
    senders: Picker[SimAgency]
    procedures: Picker[tuple[Procedure, SimAgency]]
    online_propensity: dict[OnlineLevel, float]
    """P(a dossier goes online | its procedure's service level): ``procedures.online_propensity``."""
    communes: tuple[SimAgency, ...] = ()
    """Illustrative commune People's Committees (not in the catalog): 2025 authority of some procedures."""


@dataclass(eq=False, slots=True)
class World:
    """Every simulated agency, and what starts new documents and dossiers."""

    provinces: tuple[SimProvince, ...]
    ministries: tuple[SimAgency, ...]
    ministry_senders: Picker[SimAgency]
    ministry_procedures: Picker[tuple[Procedure, SimAgency]]
    ministry_targets: Targets
    ministry_online_propensity: dict[OnlineLevel, float]
    by_code: dict[str, SimAgency] = field(default_factory=dict)
    by_level1: dict[str, SimAgency] = field(default_factory=dict)
    committees: tuple[SimAgency, ...] = ()
    province_of: dict[str, SimProvince] = field(default_factory=dict)
    """Province of each provincial agency, by agency code."""
    peers: dict[str, tuple[SimAgency, ...]] = field(default_factory=dict)
    """The same department in every province, by unit number."""


def build_world(catalog: AgencyCatalog, targets: TargetTable, rng: random.Random) -> World:
    """The simulated agencies of ``catalog``, calibrated by ``targets``, signers drawn from ``rng``."""
    provinces = tuple(_province(catalog, targets, rng, province.code) for province in catalog.provinces())
    ministries = tuple(_agency(a, targets.ministries, rng, _level1(a.code)) for a in catalog.ministries())
    if not ministries:
        raise ConfigError("the agency catalog has no ministries to simulate")
    by_level1 = {m.unit: m for m in ministries}
    ministry_procedures = [(p, by_level1[p.unit]) for p in load_procedures().ministry if p.unit in by_level1]
    if not ministry_procedures:
        raise ConfigError("no procedure of the catalog is handled by a ministry of the agency catalog")
    ministry_weights = [_MINISTRY_DOC_WEIGHTS.get(m.unit, 1.0) for m in ministries]
    _share_documents(ministries, ministry_weights, targets.ministries.documents_per_day)
    world = World(
        provinces=provinces,
        ministries=ministries,
        ministry_senders=Picker(ministries, ministry_weights),
        ministry_procedures=Picker(ministry_procedures, [p.weight for p, _ in ministry_procedures]),
        ministry_targets=targets.ministries,
        ministry_online_propensity=_propensity([p for p, _ in ministry_procedures], targets.ministries),
        by_level1=by_level1,
    )
    for agency in ministries:
        world.by_code[agency.code] = agency
    for province in provinces:
        for agency in (province.committee, *province.departments):
            world.by_code[agency.code] = agency
            world.province_of[agency.code] = province
    world.committees = tuple(p.committee for p in provinces)
    _set_registers(world)
    units = sorted({d.unit for p in provinces for d in p.departments})
    world.peers = {u: tuple(d for p in provinces for d in p.departments if d.unit == u) for u in units}
    return world


def _province(
    catalog: AgencyCatalog, targets: TargetTable, rng: random.Random, code: ProvinceCode
) -> SimProvince:
    if code not in targets.provinces:
        raise ConfigError(f"province targets have no row for province {code} of the agency catalog")
    row = targets.provinces[code]
    place = catalog.province(code).short_name
    committee_agency = catalog.get(catalog.province(code).committee)
    committee = _agency(committee_agency, row, rng, "00", place)
    departments = tuple(_agency(a, row, rng, a.code.split(".")[2], place) for a in catalog.departments(code))
    senders = [committee, *departments]
    weights = [_COMMITTEE_DOC_WEIGHT] + [
        _OFFICE_DOC_WEIGHT if d.unit == "01" else _DEPARTMENT_DOC_WEIGHT for d in departments
    ]
    _share_documents(senders, weights, row.documents_per_day)
    by_unit = {a.unit: a for a in senders}
    communes = _communes(committee, place)
    procedures: list[tuple[Procedure, SimAgency]] = []
    procedure_weights: list[float] = []
    for procedure in load_procedures().province:
        handlers = communes if procedure.unit == COMMUNE else (by_unit.get(procedure.unit, committee),)
        procedures += [(procedure, handler) for handler in handlers]
        procedure_weights += [procedure.weight / len(handlers)] * len(handlers)
    return SimProvince(
        code=code,
        targets=row,
        committee=committee,
        departments=departments,
        senders=Picker(senders, weights),
        procedures=Picker(procedures, procedure_weights),
        online_propensity=_propensity([p for p, _ in procedures], row),
        communes=communes,
    )


COMMUNES_PER_PROVINCE: Final = 3
_COMMUNE_UNIT_BASE: Final = 90


def _communes(committee: SimAgency, place: str) -> tuple[SimAgency, ...]:
    """Illustrative commune People's Committees of a province, coded ``000.00.9n.<province H code>``.

    The catalog lists no communes (no published list of their QĐ 20/2020 codes at hand), so these are
    unlisted units to the views (counted apart, ``lgsp views show agencies``) that roll up to the province.
    They handle dossiers only; they send no documents (they take the committee's signers, never used).
    """
    level1 = committee.code.rsplit(".", 1)[-1]
    communes = []
    for number in range(1, COMMUNES_PER_PROVINCE + 1):
        code = AgencyCode(f"000.00.{_COMMUNE_UNIT_BASE + number}.{level1}")
        name = f"Ủy ban nhân dân xã {number} (minh họa), {place}"
        communes.append(
            SimAgency(
                code=code,
                ref=AgencyRef(code=code, name=name),
                kind="commune",
                province=committee.province,
                targets=committee.targets,
                abbreviation="UBND",
                drafting_units=committee.drafting_units,
                signers=committee.signers,
                place=place,
                unit=str(_COMMUNE_UNIT_BASE + number),
            )
        )
    return tuple(communes)


def _propensity(procedures: Sequence[Procedure], row: Targets) -> dict[OnlineLevel, float]:
    unique = tuple({p.number: p for p in procedures}.values())  # a commune procedure is listed per commune
    return online_propensity(unique, row.online_share, row.full_process_share, f"province targets {row.key}")


def _set_registers(world: World) -> None:
    mean = sum(p.targets.documents_per_day for p in world.provinces) / max(1, len(world.provinces))
    for province in world.provinces:
        size = (province.targets.documents_per_day / mean) ** 0.5 if mean else 1.0
        for agency in (province.committee, *province.departments):
            agency.register_per_day = _REGISTER_PER_DAY.get(agency.kind, 25.0) * size
    for ministry in world.ministries:
        ministry.register_per_day = _REGISTER_PER_DAY["ministry"]


def _share_documents(agencies: Sequence[SimAgency], weights: Sequence[float], per_day: float) -> None:
    total = sum(weights)
    for agency, weight in zip(agencies, weights, strict=True):
        agency.documents_per_day = per_day * weight / total


def _agency(agency: Agency, row: Targets, rng: random.Random, unit: str, place: str = "Hà Nội") -> SimAgency:
    style = unit if unit in vocab.SIGNER_POSITIONS else agency.kind
    units_style = unit if unit in vocab.DRAFTING_UNITS else agency.kind
    return SimAgency(
        code=agency.code,
        ref=AgencyRef(code=agency.code, name=agency.name),
        kind=agency.kind,
        province=agency.province,
        targets=row,
        abbreviation=_abbreviation(agency, unit),
        drafting_units=vocab.DRAFTING_UNITS[units_style],
        signers=_signers(rng, style),
        place=place,
        unit=unit,
    )


def _abbreviation(agency: Agency, unit: str) -> str:
    if agency.kind == "province_committee":
        return vocab.COMMITTEE_ABBREVIATION
    if agency.kind == "ministry":
        known = vocab.MINISTRY_ABBREVIATIONS.get(unit)
    else:
        known = vocab.DEPARTMENT_ABBREVIATIONS.get(unit)
    if known:
        return known
    # Notations abbreviate a name by the initials of its words: "Sở Giáo dục và Đào tạo" -> "SGDĐT".
    words = [w for w in agency.name.split() if w[0].isupper()]
    return "".join(w[0] for w in words)[:8] or "CQ"


def _signers(rng: random.Random, style: str) -> Picker[Signer]:
    signers: list[Signer] = []
    weights: list[float] = []
    for position, holders, share in vocab.SIGNER_POSITIONS[style]:
        for _ in range(holders):
            authority = SigningAuthority(vocab.SIGNING_AUTHORITY.get(position, "DIRECT"))
            signers.append(Signer(position, _person_name(rng), authority))
            weights.append(share / holders)
    return Picker(signers, weights)


_SURNAMES = Picker([s for s, _ in vocab.SURNAMES], [w for _, w in vocab.SURNAMES])


def _person_name(rng: random.Random) -> str:
    sex = "f" if rng.random() < _FEMALE_SHARE else "m"
    surname = _SURNAMES.pick(rng)
    middle = rng.choice(vocab.MIDDLE_NAMES[sex])
    given = rng.choice(vocab.GIVEN_NAMES[sex])
    return f"{surname} {middle} {given}"


def _level1(code: str) -> str:
    return code.rsplit(".", 1)[-1]
