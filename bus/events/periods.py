"""Reporting periods (kỳ báo cáo): a kind, a year and a number within the year."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from bus.events.codes import PeriodType

PERIODS_PER_YEAR: dict[PeriodType, int] = {
    PeriodType.MONTH: 12,
    PeriodType.QUARTER: 4,
    PeriodType.HALF_YEAR: 2,
    PeriodType.YEAR: 1,
}
_MONTHS_PER_PERIOD = {kind: 12 // count for kind, count in PERIODS_PER_YEAR.items()}
_LABEL = {PeriodType.MONTH: "M", PeriodType.QUARTER: "Q", PeriodType.HALF_YEAR: "H", PeriodType.YEAR: "Y"}


@dataclass(frozen=True, order=True)
class Period:
    """One reporting period, e.g. ``Period(PeriodType.QUARTER, 2025, 3)``; ValueError if out of range."""

    type: PeriodType
    year: int
    number: int

    def __post_init__(self) -> None:
        count = PERIODS_PER_YEAR.get(self.type)
        if count is None:
            raise ValueError(f"period type {self.type} has no calendar")
        if not 1 <= self.number <= count:
            raise ValueError(f"a {self.type.value} period number is 1..{count}, not {self.number}")
        if not 1 <= self.year <= 9999:
            raise ValueError(f"year {self.year} is out of range")

    @property
    def first_month(self) -> int:
        return (self.number - 1) * _MONTHS_PER_PERIOD[self.type] + 1

    @property
    def last_month(self) -> int:
        return self.number * _MONTHS_PER_PERIOD[self.type]

    @property
    def start(self) -> date:
        """First day of the period."""
        return date(self.year, self.first_month, 1)

    @property
    def end(self) -> date:
        """Last day of the period."""
        return date(self.year, self.last_month, calendar.monthrange(self.year, self.last_month)[1])

    @property
    def label(self) -> str:
        """Short label: ``2025-M07``, ``2025-Q3``, ``2025-H1``, ``2025-Y``."""
        if self.type is PeriodType.YEAR:
            return f"{self.year}-Y"
        width = 2 if self.type is PeriodType.MONTH else 1
        return f"{self.year}-{_LABEL[self.type]}{self.number:0{width}d}"

    def day_of_last_month(self, day: int) -> date:
        """``day`` of the period's last month, clamped to the month's length."""
        days_in_month = calendar.monthrange(self.year, self.last_month)[1]
        return date(self.year, self.last_month, min(day, days_in_month))


def periods_of_year(kind: PeriodType, year: int) -> list[Period]:
    """Every period of ``kind`` in ``year``."""
    return [Period(kind, year, n) for n in range(1, PERIODS_PER_YEAR[kind] + 1)]
