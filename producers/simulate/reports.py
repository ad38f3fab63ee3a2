"""Reports: agencies that owe a periodic report file it for each period (ReportFiled, revision 0), mostly in
the days before the deadline, some after it (``report_late_rate``), some never (``report_missed_rate``); some
file corrections later (revision 1, rarely 2).

A scheduler wakes on the first day of each month and plans the filings of every period that ends that month
(monthly ones every month, quarterly ones in March, June...), the start month included. A filing planned
before the simulation start is published in the first hour after it (the backlog an agency synchronises
when the bus starts), so a run that starts a few days before a deadline shows that period filed, late or
missing, as the views count it. Indicator values follow the
agency's targets where the indicator is one of the KPIs (online rate, on-time rate, digitisation, electronic
documents) and plausible magnitudes otherwise.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Final

from bus.events import IndicatorValue, Period, PeriodType, ReportFiled, make_report_id, periods_of_year
from producers.simulate.clock import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    local_date,
    local_midnight,
    office_time,
    to_datetime,
    to_ms,
)
from producers.simulate.factory import Factory
from producers.simulate.obligations import IndicatorSpec, Obligation
from producers.simulate.process import Delay, Process
from producers.simulate.world import SimAgency, World

SECOND_REVISION_RATE: Final = 0.2
"""Of revised reports, those corrected a second time."""
BACKLOG_MS: Final = HOUR_MS
"""Filings planned before the start come out within this time after it."""
MAX_REPORT_SPAN_MS: Final = 75 * DAY_MS
"""Every filing of a report comes within this time after its deadline."""

_LATE = Delay(3 * DAY_MS, 0.9, HOUR_MS, 25 * DAY_MS)
_MONTHS: Final = {PeriodType.MONTH: 1, PeriodType.QUARTER: 3, PeriodType.HALF_YEAR: 6, PeriodType.YEAR: 12}
_KPI_INDICATORS: Final = {
    "DOSSIERS_ONLINE_RATE": ("online_share", 2.0),
    "DOSSIERS_ON_TIME_RATE": ("on_time_rate", 1.0),
    "DIGITISED_RATE": ("digitised_rate", 2.0),
    "EDOC_RATE": ("electronic_rate", 1.0),
}
"""Indicator code -> (targets field, spread in percentage points)."""
_NATIONAL_BUDGET_PER_YEAR: Final = (
    1_000_000.0  # tỷ đồng of revenue collected in the provinces, order of magnitude
)
_NATIONAL_DOSSIERS_PER_DAY: Final = 12_600.0

Filing = tuple[int, int]
"""(time in epoch ms, revision)."""


class FilingProcess(Process):
    """The filings (revision 0, then corrections) of one report of one agency for one period."""

    __slots__ = ("_agency", "_base", "_deadline", "_factory", "_filings", "_index", "_obligation", "_period")

    def __init__(
        self,
        factory: Factory,
        agency: SimAgency,
        obligation: Obligation,
        period: Period,
        deadline_ms: int,
        filings: list[Filing],
    ) -> None:
        super().__init__(filings[0][0])
        self._factory = factory
        self._agency = agency
        self._obligation = obligation
        self._period = period
        self._deadline = to_datetime(deadline_ms)
        self._filings = filings
        self._index = 0
        months = _MONTHS[period.type]
        self._base = [_indicator_value(factory.rng, spec, agency, months) for spec in obligation.indicators]

    def step(self) -> ReportFiled:
        at_ms, revision = self._filings[self._index]
        self._index += 1
        self.next_ms = self._filings[self._index][0] if self._index < len(self._filings) else None
        factory, agency, period = self._factory, self._agency, self._period
        indicators = tuple(
            factory.make(
                IndicatorValue,
                code=spec.code,
                value=_revised(factory.rng, value, revision, spec.unit),
                unit=spec.unit,
            )
            for spec, value in zip(self._obligation.indicators, self._base, strict=True)
        )
        meta = factory.meta(agency.code, at_ms)
        return factory.make(
            ReportFiled,
            meta=meta,
            report_id=make_report_id(agency.code, self._obligation.code, period),
            report_code=self._obligation.code,
            reporting_agency=agency.ref,
            period_type=period.type,
            period_year=period.year,
            period_number=period.number,
            deadline_at=self._deadline,
            filed_at=meta.occurred_at,
            revision=revision,
            indicators=indicators,
        )


class ReportScheduler(Process):
    """Wakes at the start of each month and plans the filings of the periods ending that month."""

    __slots__ = ("_factory", "_month", "_obligations", "_rng", "_spawn", "_start_ms", "_world")

    def __init__(
        self,
        world: World,
        factory: Factory,
        obligations: tuple[Obligation, ...],
        start_ms: int,
        spawn: Callable[[Process], None],
    ) -> None:
        super().__init__(start_ms)
        self._world = world
        self._factory = factory
        self._rng = factory.rng
        self._obligations = obligations
        self._start_ms = start_ms
        self._spawn = spawn
        self._month = local_date(start_ms).replace(day=1)

    def step(self) -> None:
        month = self._month
        for obligation in self._obligations:
            for kind in obligation.period_types:
                for period in periods_of_year(kind, month.year):
                    if period.last_month == month.month:
                        self._plan_period(obligation, period)
        self._month = (month + timedelta(days=32)).replace(day=1)
        self.next_ms = local_midnight(self._month)

    def _plan_period(self, obligation: Obligation, period: Period) -> None:
        deadline_ms = to_ms(obligation.deadline(period))  # 23:59:59 in Việt Nam, as the views count it
        for agency in self._owing(obligation):
            if self._rng.random() < agency.targets.report_missed_rate:
                continue  # never filed: the views count it missing once its deadline has passed
            planned = _filings(self._rng, agency, deadline_ms)
            times = sorted(self._not_before_start(at) for at, _ in planned)  # revisions stay in time order
            filings = [(at, revision) for at, (_, revision) in zip(times, planned, strict=True)]
            self._spawn(FilingProcess(self._factory, agency, obligation, period, deadline_ms, filings))

    def _not_before_start(self, at_ms: int) -> int:
        if at_ms >= self._start_ms:
            return at_ms
        return self._start_ms + int(self._rng.random() * BACKLOG_MS)

    def _owing(self, obligation: Obligation) -> list[SimAgency]:
        agencies: list[SimAgency] = []
        if "provinces" in obligation.owed_by:
            agencies.extend(self._world.committees)
        if "ministries" in obligation.owed_by:
            agencies.extend(self._world.ministries)
        return agencies


def _filings(rng: random.Random, agency: SimAgency, deadline_ms: int) -> list[Filing]:
    targets = agency.targets
    if rng.random() < targets.report_late_rate:
        first = office_time(rng, deadline_ms + _LATE.draw(rng))
    else:
        first = _before(rng, deadline_ms)
    filings = [(first, 0)]
    if rng.random() < targets.report_revised_rate:
        second = office_time(rng, filings[-1][0] + int(rng.uniform(2, 20) * DAY_MS))
        filings.append((second, 1))
        if rng.random() < SECOND_REVISION_RATE:
            filings.append((office_time(rng, second + int(rng.uniform(2, 15) * DAY_MS)), 2))
    return filings


def _before(rng: random.Random, deadline_ms: int) -> int:
    """An office hour on one of the six days up to the deadline (weekends move to the Friday before)."""
    day = local_date(deadline_ms) - timedelta(days=rng.randint(0, 6))
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return local_midnight(day) + 8 * HOUR_MS + int(rng.random() * 510) * MINUTE_MS


def _indicator_value(rng: random.Random, spec: IndicatorSpec, agency: SimAgency, months: int) -> float:
    targets = agency.targets
    kpi = _KPI_INDICATORS.get(spec.code)
    if kpi is not None:
        field, spread = kpi
        target: float = getattr(targets, field)
        return round(min(100.0, max(0.0, target * 100 + rng.uniform(-spread, spread))), 2)
    if spec.code == "DOSSIERS_RECEIVED":
        return float(round(targets.dossiers_per_day * 30.4 * months * rng.uniform(0.9, 1.1)))
    if spec.code == "GRDP_GROWTH":
        return round(rng.gauss(7.2, 1.0), 2)
    if spec.code == "BUDGET_REVENUE":
        share = targets.dossiers_per_day / _NATIONAL_DOSSIERS_PER_DAY
        return round(_NATIONAL_BUDGET_PER_YEAR * share * months / 12 * rng.lognormvariate(0.0, 0.15), 1)
    if spec.unit == "%":
        return round(rng.uniform(80.0, 100.0), 2)
    return float(round(months * 3 * rng.uniform(0.5, 1.5)))


def _revised(rng: random.Random, value: float, revision: int, unit: str) -> float:
    """A corrected value: the same for revision 0, off by up to 2% per correction otherwise."""
    if revision == 0:
        return value
    revised = round(value * (1.0 + rng.uniform(-0.02, 0.02) * revision), 2)
    return min(revised, 100.0) if unit == "%" else revised
