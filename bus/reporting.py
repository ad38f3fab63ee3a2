"""The report catalog: which agencies owe which periodic report, for which periods, by when.

Data: ``bus/data/reports.json`` (sources and what is illustrative are written in the file). The reports view
asks :meth:`ReportCatalog.expected` for the filings due in a period and compares them with the
``ReportFiled`` events it has seen (completeness, on-time filing).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone
from functools import cache
from importlib import resources
from typing import Any, Literal

from bus.agencies import AgencyCatalog, load_catalog
from bus.errors import ConfigError
from bus.events.codes import PeriodType
from bus.events.periods import Period, periods_of_year
from bus.types import AgencyCode, ReportId

VIETNAM = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
"""Vietnam has used UTC+7 without daylight saving since 1975; deadlines are end of day there."""

OwedBy = Literal["provinces", "ministries"]
DEFAULT_INDICATOR_BOUND = 1e15
"""Bound of an indicator the catalog does not declare (``default_indicator_range`` in the data wins): a sum of
2^53 values this size stays below 1e31, so no aggregate of filings can overflow a double (math.fsum raised
OverflowError on two values of 1.7976931348623157e308 and took the reports view down)."""


@dataclass(frozen=True)
class Indicator:
    """An indicator a report carries (chỉ tiêu), with the range of values the views accept."""

    code: str
    name: str
    unit: str
    min: float = -DEFAULT_INDICATOR_BOUND
    max: float = DEFAULT_INDICATOR_BOUND


@dataclass(frozen=True)
class ReportDefinition:
    """One periodic report regime (chế độ báo cáo định kỳ)."""

    code: str
    name: str
    period_types: tuple[PeriodType, ...]
    owed_by: tuple[OwedBy, ...]
    deadline_day: int
    indicators: tuple[Indicator, ...]

    def deadline(self, period: Period) -> datetime:
        """When a filing for ``period`` is due: end of ``deadline_day`` of its last month (Vietnam), UTC."""
        day = period.day_of_last_month(self.deadline_day)
        return datetime.combine(day, time(23, 59, 59), tzinfo=VIETNAM).astimezone(UTC)


@dataclass(frozen=True)
class Obligation:
    """One filing an agency owes for one period."""

    agency: AgencyCode
    report: ReportDefinition
    period: Period

    @property
    def deadline_at(self) -> datetime:
        return self.report.deadline(self.period)

    @property
    def report_id(self) -> ReportId:
        """The conventional report id (see :func:`bus.events.make_report_id`)."""
        from bus.events.report import make_report_id

        return make_report_id(self.agency, self.report.code, self.period)


@dataclass(frozen=True)
class Due:
    """One report for one period: its deadline and the agencies that owe it."""

    report: ReportDefinition
    period: Period
    deadline: datetime
    owers: tuple[AgencyCode, ...]


class ReportCatalog:
    """The report regimes and who owes them; build with :func:`load_report_catalog`."""

    def __init__(
        self,
        reports: list[ReportDefinition],
        agencies: AgencyCatalog,
        default_range: tuple[float, float] = (-DEFAULT_INDICATOR_BOUND, DEFAULT_INDICATOR_BOUND),
    ) -> None:
        self._reports = {r.code: r for r in reports}
        self._agencies = agencies
        self._owers: dict[str, list[AgencyCode]] = {}
        self._ranges = {(r.code, i.code): (i.min, i.max) for r in reports for i in r.indicators}
        self.default_range = default_range

    def indicator_range(self, report_code: str, indicator_code: str) -> tuple[float, float]:
        """The ``[min, max]`` the views accept for an indicator of a report (the default if undeclared)."""
        return self._ranges.get((report_code, indicator_code), self.default_range)

    def out_of_range(self, report_code: str, indicators: Iterable[tuple[str, float]]) -> str | None:
        """Why a filing's ``(indicator code, value)`` pairs cannot be applied, or None if they can."""
        for code, value in indicators:
            low, high = self.indicator_range(report_code, code)
            if not low <= value <= high:  # also refuses NaN
                return (
                    f"indicator {code} of {report_code} is {value!r}, outside its range [{low:g}, {high:g}]"
                )
        return None

    def reports(self) -> list[ReportDefinition]:
        """Every report regime, by code."""
        return sorted(self._reports.values(), key=lambda r: r.code)

    def get(self, code: str) -> ReportDefinition | None:
        """The report regime with ``code``, or None."""
        return self._reports.get(code)

    def owers(self, report: ReportDefinition) -> list[AgencyCode]:
        """Agencies that owe ``report``: People's Committees of the provinces and/or the ministries."""
        known = self._owers.get(report.code)
        if known is not None:
            return list(known)
        agencies: list[AgencyCode] = []
        if "provinces" in report.owed_by:
            agencies += [a.code for a in self._agencies.province_committees()]
        if "ministries" in report.owed_by:
            agencies += [a.code for a in self._agencies.ministries()]
        self._owers[report.code] = agencies
        return list(agencies)

    def expected(self, period: Period) -> list[Obligation]:
        """Every filing due for ``period`` (reports whose regime has its period type), by report, agency."""
        return [
            Obligation(agency, report, period)
            for report in self.reports()
            if period.type in report.period_types
            for agency in self.owers(report)
        ]

    def due_between(self, since: datetime, until: datetime) -> list[Due]:
        """What falls due in ``[since, until]``: each report and period, with its deadline and owers."""
        return [due for due in self._around(since, until) if since <= due.deadline <= until]

    def due_later(self, since: datetime, as_of: datetime) -> list[Due]:
        """Reports of periods begun by ``as_of`` (Vietnamese calendar) that fall due after it (and not before
        ``since``): owed, but not yet counted as missing."""
        today = as_of.astimezone(VIETNAM).date()
        return [
            due
            for due in self._around(since, as_of)
            if due.period.start <= today and due.deadline > as_of and due.deadline >= since
        ]

    def _around(self, since: datetime, until: datetime) -> list[Due]:
        # A deadline lies in its period's last month, so periods of the years from since to until cover it.
        # One entry per report and period, not per agency: a window of decades stays cheap to enumerate.
        first, last = since.astimezone(VIETNAM).year, until.astimezone(VIETNAM).year
        return [
            Due(report, period, report.deadline(period), tuple(self.owers(report)))
            for year in range(first, last + 1)
            for report in self.reports()
            for kind in report.period_types
            for period in periods_of_year(kind, year)
        ]

    def owed_by(self, agency: str) -> list[ReportDefinition]:
        """The report regimes ``agency`` owes."""
        return [r for r in self.reports() if agency in self.owers(r)]


@cache
def load_report_catalog() -> ReportCatalog:
    """The catalog from the packaged ``bus/data/reports.json`` and the agency catalog (loaded once)."""
    text = resources.files("bus").joinpath("data/reports.json").read_text(encoding="utf-8")
    return report_catalog_from_json(json.loads(text), load_catalog())


def report_catalog_from_json(data: dict[str, Any], agencies: AgencyCatalog) -> ReportCatalog:
    """Build a report catalog from the JSON document (the layout of ``bus/data/reports.json``)."""
    try:
        reports = [_definition(item) for item in data["reports"]]
        low, high = data.get("default_indicator_range", (-DEFAULT_INDICATOR_BOUND, DEFAULT_INDICATOR_BOUND))
        default_range = (float(low), float(high))
        if not -DEFAULT_INDICATOR_BOUND <= default_range[0] <= default_range[1] <= DEFAULT_INDICATOR_BOUND:
            raise ValueError(f"default_indicator_range {default_range} is empty or too wide")
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"report catalog data is malformed: {exc!r}") from exc
    return ReportCatalog(reports, agencies, default_range)


def _definition(item: dict[str, Any]) -> ReportDefinition:
    owed_by = tuple(item["owed_by"])
    if not set(owed_by) <= {"provinces", "ministries"} or not 1 <= int(item["deadline_day"]) <= 31:
        raise ValueError(f"report {item.get('code')}: owed_by or deadline_day out of range")
    return ReportDefinition(
        code=item["code"],
        name=item["name"],
        period_types=tuple(PeriodType(p) for p in item["period_types"]),
        owed_by=owed_by,
        deadline_day=int(item["deadline_day"]),
        indicators=tuple(_indicator(i) for i in item["indicators"]),
    )


def _indicator(item: dict[str, Any]) -> Indicator:
    low = float(item.get("min", -DEFAULT_INDICATOR_BOUND))
    high = float(item.get("max", DEFAULT_INDICATOR_BOUND))
    if not -DEFAULT_INDICATOR_BOUND <= low <= high <= DEFAULT_INDICATOR_BOUND:
        raise ValueError(f"indicator {item.get('code')}: range [{low}, {high}] is empty or too wide")
    return Indicator(item["code"], item["name"], item["unit"], low, high)
