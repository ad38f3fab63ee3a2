"""The procedure catalog the simulator draws dossiers from: ``producers/data/procedures.json``.

Each procedure has its online public service level (Decree 42/2022/NĐ-CP: FULL toàn trình, PARTIAL một phần,
NONE), a property of the procedure's service: every dossier of the procedure carries that level, and only FULL
and PARTIAL procedures are submitted online. Its competent authority is the 2025 one (the data file cites the
instruments: driving licences with the police since 2025-03-01, civil status with a foreign element at the
commune since 2025-07-01).

Calibration: a province's targets ask for ``full_process_share`` (online at the FULL level) and
``online_share`` of its received dossiers (the KPIs of ``bus/kpis.py``). :data:`NOT_ACCEPTED_RATE` of the
online dossiers are never received, so the shares wanted among the dossiers drawn are ``k`` times those
(:func:`drawn_online_factor`). With the catalog's weight ``W_F`` of FULL procedures and ``W_P`` of PARTIAL
ones, a dossier of a FULL procedure is submitted online with probability ``k full_process_share / W_F``, one
of a PARTIAL procedure with ``k (online_share - full_process_share) / W_P``: :func:`online_propensity`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

from bus.errors import ConfigError
from bus.events import OnlineLevel

NOT_ACCEPTED_RATE: Final = 0.04
"""Of online dossiers, those the officer does not accept (3): never received, in no KPI's denominator."""
AUTHORITIES: Final = frozenset({"department", "committee", "commune", "ministry"})
COMMUNE: Final = "commune"
"""The ``unit`` of a procedure handled by a commune People's Committee."""


@dataclass(frozen=True, slots=True)
class Procedure:
    """One administrative procedure (thủ tục hành chính) and how it is handled."""

    number: str
    """National procedure number (``1.000894``), illustrative; the full code appends the agency code."""
    name: str
    sector_code: str
    sector_name: str
    unit: str
    """Who handles it: a department unit number (``03``), ``00`` for the People's Committee, ``commune`` for
    a commune People's Committee, or a ministry's level-1 code (``G08``)."""
    days: int
    """Legal processing time in working days (thời hạn giải quyết)."""
    weight: float
    """Share of dossiers among the procedures of the same level."""
    business_share: float = 0.1
    has_fee: bool = True
    financial_obligation: float = 0.0
    """Probability that the dossier waits for the applicant's financial obligation (status 6)."""
    online_service: OnlineLevel = OnlineLevel.NONE
    """The procedure's online public service level (Decree 42/2022/NĐ-CP)."""
    authority: str = "department"


@dataclass(frozen=True)
class ProcedureCatalog:
    province: tuple[Procedure, ...]
    """Procedures handled in the provinces (their dossiers count for the province)."""
    ministry: tuple[Procedure, ...]
    """Procedures handled by ministries and central bodies (their dossiers count for the nation only)."""


def _procedure(row: dict[str, Any]) -> Procedure:
    try:
        procedure = Procedure(
            number=str(row["number"]),
            name=str(row["name"]),
            sector_code=str(row["sector_code"]),
            sector_name=str(row["sector_name"]),
            unit=str(row["unit"]),
            days=int(row["days"]),
            weight=float(row["weight"]),
            business_share=float(row["business_share"]),
            has_fee=bool(row["has_fee"]),
            financial_obligation=float(row["financial_obligation"]),
            online_service=OnlineLevel(row["online_service"]),
            authority=str(row["authority"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"procedure catalog row {row.get('number')!r}: {exc}") from exc
    if procedure.authority not in AUTHORITIES or procedure.online_service is OnlineLevel.UNKNOWN:
        raise ConfigError(f"procedure {procedure.number}: authority or online_service is not known")
    if (procedure.authority == COMMUNE) != (procedure.unit == COMMUNE):
        raise ConfigError(f"procedure {procedure.number}: a commune procedure has unit {COMMUNE!r}, only it")
    return procedure


@cache
def load_procedures() -> ProcedureCatalog:
    """The packaged catalog (``producers/data/procedures.json``)."""
    text = resources.files("producers").joinpath("data/procedures.json").read_text(encoding="utf-8")
    rows = json.loads(text)["procedures"]
    by_level: dict[str, list[Procedure]] = {"province": [], "ministry": []}
    for row in rows:
        level = row.get("level")
        if level not in by_level:
            raise ConfigError(f"procedure {row.get('number')!r}: level {level!r} is not province or ministry")
        by_level[level].append(_procedure(row))
    return ProcedureCatalog(tuple(by_level["province"]), tuple(by_level["ministry"]))


def level_weights(procedures: tuple[Procedure, ...]) -> dict[OnlineLevel, float]:
    """The share of the dossiers of ``procedures`` (by weight) at each online service level."""
    total = sum(p.weight for p in procedures)
    shares = dict.fromkeys((OnlineLevel.FULL, OnlineLevel.PARTIAL, OnlineLevel.NONE), 0.0)
    for procedure in procedures:
        shares[procedure.online_service] += procedure.weight / total
    return shares


def drawn_online_factor(online_share: float) -> float:
    """``k``: how many times its share of the received dossiers a kind of online dossier must be drawn.

    Drawn online with probability ``p``, a dossier is received online with ``p (1 - r)`` and received at all
    with ``1 - p r`` (``r`` = :data:`NOT_ACCEPTED_RATE`; counter and postal dossiers are always received).
    ``p (1 - r) / (1 - p r) = online_share`` gives ``p = online_share / (1 - r + online_share r)``; any part
    of the online dossiers (a level's) scales by the same ``k = 1 / (1 - r + online_share r)``.
    """
    return 1.0 / (1.0 - NOT_ACCEPTED_RATE + online_share * NOT_ACCEPTED_RATE)


def postal_given_offline(online_share: float, postal_share: float) -> float:
    """P(by post | not drawn online) that gives ``postal_share`` of the received dossiers.

    Postal dossiers are always received: wanted ``postal_share (1 - p r)`` of those drawn, with ``p`` the
    drawn online share, ``1 - p r = (1 - r) k`` (:func:`drawn_online_factor`).
    """
    k = drawn_online_factor(online_share)
    offline = 1.0 - online_share * k
    return postal_share * (1.0 - NOT_ACCEPTED_RATE) * k / offline if offline > 0 else 0.0


def online_propensity(
    procedures: tuple[Procedure, ...], online_share: float, full_process_share: float, where: str
) -> dict[OnlineLevel, float]:
    """P(submitted online | the procedure's level) that gives ``online_share`` and ``full_process_share`` of
    the received dossiers."""
    shares = level_weights(procedures)
    k = drawn_online_factor(online_share)
    wanted = {
        OnlineLevel.FULL: full_process_share * k,
        OnlineLevel.PARTIAL: (online_share - full_process_share) * k,
        OnlineLevel.NONE: 0.0,
    }
    propensity: dict[OnlineLevel, float] = {}
    for level, share in wanted.items():
        weight = shares[level]
        if share > weight + 1e-9:
            raise ConfigError(
                f"{where}: {share:.3f} of dossiers online at level {level} but its procedures weigh only "
                f"{weight:.3f} of the catalog (producers/data/procedures.json)"
            )
        propensity[level] = share / weight if weight else 0.0
    return propensity
