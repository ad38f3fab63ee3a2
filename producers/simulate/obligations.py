"""The periodic-report obligations the simulated agencies file: ``bus/data/reports.json``.

The catalog belongs to the contracts (the reports view reads it to know what to expect); this module only
reads the parts the simulator needs: which report, for which period kinds, owed by whom, due which day, with
which indicators.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from bus.errors import ConfigError
from bus.events import Period, PeriodType

OwedBy = Literal["provinces", "ministries"]


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    code: str
    name: str
    unit: str


@dataclass(frozen=True, slots=True)
class Obligation:
    """One periodic report regime (chế độ báo cáo) and who owes it."""

    code: str
    name: str
    period_types: tuple[PeriodType, ...]
    owed_by: tuple[OwedBy, ...]
    deadline_day: int
    """Due at 23:59:59 local on this day of the period's last month (clamped to the month's length)."""
    indicators: tuple[IndicatorSpec, ...]

    def deadline(self, period: Period) -> tuple[int, int, int]:
        """(year, month, day) of the filing deadline for ``period``."""
        day = period.day_of_last_month(self.deadline_day)
        return day.year, day.month, day.day


@cache
def load_obligations() -> tuple[Obligation, ...]:
    """Every obligation of the packaged report catalog; ConfigError if it is malformed."""
    text = resources.files("bus").joinpath("data/reports.json").read_text(encoding="utf-8")
    try:
        return tuple(_obligation(item) for item in json.loads(text)["reports"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"bus/data/reports.json is malformed: {exc!r}") from exc


def _obligation(item: dict[str, Any]) -> Obligation:
    deadline_day = int(item["deadline_day"])
    if not 1 <= deadline_day <= 31:
        raise ValueError(f"{item['code']}: deadline_day {deadline_day} is not a day of a month")
    return Obligation(
        code=str(item["code"]),
        name=str(item["name"]),
        period_types=tuple(PeriodType(kind) for kind in item["period_types"]),
        owed_by=tuple(_owed_by(item["code"], value) for value in item["owed_by"]),
        deadline_day=deadline_day,
        indicators=tuple(IndicatorSpec(i["code"], i["name"], i["unit"]) for i in item["indicators"]),
    )


def _owed_by(code: str, value: object) -> OwedBy:
    if value == "provinces":
        return "provinces"
    if value == "ministries":
        return "ministries"
    raise ValueError(f"{code}: owed_by {value!r} is neither provinces nor ministries")
