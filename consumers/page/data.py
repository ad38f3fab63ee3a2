"""What the page reads: the scoreboard, the KPI trends per month or day, and a version to poll for changes.

Monthly trends are the scoreboard itself, read once per month, so every KPI means on the trend exactly what it
means on the map (whatever the KPI code defines). Daily trends, for a live demo that spans days, come from the
documents view's day grain and from the dossiers' latest states bucketed by day of receipt
(``consumers.dossiers.daily_totals``); reports are owed per month, quarter or year, so they have no daily
value.
Both are exact under replays because what they read is.

A trend is computed for every place at once and kept until the store's offsets move: switching the compared
province, or a second browser polling, costs nothing.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

from bus.metrics import NATIONAL
from consumers import dossiers
from consumers.base import Grain, Level, ViewQuery, ViewResult
from consumers.viewset import ViewSet

MAX_PERIODS: Final = 62
"""The most recent periods a trend shows (two months of days, five years of months)."""
MONTHS_FOR_MONTHLY: Final = 3
"""With data in fewer months than this, the page opens on daily trends."""


@dataclass(frozen=True)
class Trend:
    """Per period, the KPI values of every place (``"00"``: the nation)."""

    grain: Grain
    periods: list[str]
    series: dict[str, dict[str, list[float | None]]]
    """place → column → one value per period."""

    def of(self, place: str, column: str) -> list[float | None]:
        return self.series.get(place, {}).get(column, [None] * len(self.periods))


def version(viewset: ViewSet) -> str:
    """Changes whenever the views apply anything (the store's offsets are the truth)."""
    offsets = viewset.offsets()
    return f"{len(offsets)}-{sum(offsets.values())}"


def scoreboard(viewset: ViewSet, period: str | None = None) -> ViewResult:
    return viewset.query("scoreboard", ViewQuery(period=period))


def months(viewset: ViewSet) -> list[str]:
    """Months with documents or dossiers, oldest first."""
    found: set[str] = set()
    for view in ("documents", "dossiers"):
        rows = viewset.query(view, ViewQuery(level=Level.NATION, grain=Grain.MONTH)).rows
        found.update(str(row["month"]) for row in rows)
    return sorted(found)


def default_grain(viewset: ViewSet) -> Grain:
    return Grain.MONTH if len(months(viewset)) >= MONTHS_FOR_MONTHLY else Grain.DAY


def monthly(viewset: ViewSet) -> Trend:
    periods = months(viewset)[-MAX_PERIODS:]
    series: dict[str, dict[str, list[float | None]]] = defaultdict(lambda: defaultdict(list))
    for index, month in enumerate(periods):
        result = scoreboard(viewset, month)
        for row in result.rows:
            place = series[str(row["province"])]
            for column in result.columns:
                if isinstance(row[column], float | None) and column.endswith(("_rate", "completeness")):
                    place[column].extend([None] * (index - len(place[column])))
                    place[column].append(row[column])
    return Trend(Grain.MONTH, periods, _pad(series, len(periods)))


def daily(viewset: ViewSet) -> Trend:
    docs = viewset.query("documents", ViewQuery(level=Level.PROVINCE, grain=Grain.DAY)).rows
    docs += [
        {**row, "province": NATIONAL}
        for row in viewset.query("documents", ViewQuery(level=Level.NATION, grain=Grain.DAY)).rows
    ]
    with viewset.store.reader() as reader:
        counts = dossiers.daily_totals(reader)
    national: dict[str, dict[str, int]] = {}
    for (_, day), counters in counts.items():
        total = national.setdefault(day, dict.fromkeys(counters, 0))
        for name, value in counters.items():
            total[name] += value
    days = sorted({str(row["day"]) for row in docs} | {day for _, day in counts} | set(national))
    periods = days[-MAX_PERIODS:]
    position = {day: index for index, day in enumerate(periods)}
    values: dict[str, dict[str, list[float | None]]] = defaultdict(
        lambda: defaultdict(lambda: [None] * len(periods))
    )
    for row in docs:
        at = position.get(str(row["day"]))
        if at is not None:
            for column, value in row.items():
                if column.endswith("_rate") and column != "arrival_rate":
                    values[str(row["province"])][column][at] = value
    places = [((province, day), c) for (province, day), c in counts.items() if province]
    places += [((NATIONAL, day), c) for day, c in national.items()]
    for (province, day), counters in places:
        at = position.get(day)
        if at is not None:
            for column, rate in dossiers.rates(counters).items():
                values[province][column][at] = rate
    return Trend(Grain.DAY, periods, {place: dict(columns) for place, columns in values.items()})


def _pad(series: dict[str, Any], length: int) -> dict[str, dict[str, list[float | None]]]:
    return {
        place: {column: values + [None] * (length - len(values)) for column, values in columns.items()}
        for place, columns in series.items()
    }


class TrendCache:
    """The last trend of each grain, for as long as the store's version stays the same."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[Grain, tuple[str, Trend]] = {}

    def get(self, viewset: ViewSet, grain: Grain) -> Trend:
        current = version(viewset)
        with self._lock:
            kept = self._kept.get(grain)
        if kept is not None and kept[0] == current:
            return kept[1]
        trend = monthly(viewset) if grain is Grain.MONTH else daily(viewset)
        with self._lock:
            self._kept[grain] = (current, trend)
        return trend
