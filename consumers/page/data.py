"""What the page reads: the scoreboard, the KPI trends per month or day, and a version to poll for changes.

Every rate means on a trend exactly what it means on the map: monthly trends are the scoreboard itself, read
once per month; daily trends are the scoreboard's rows (``consumers.scoreboard.counts_row``) of each day's
counts — documents per day of sending (``consumers.documents.daily_totals``), dossiers per day of receipt
from their latest states (``consumers.dossiers.daily_totals``). Reports are owed per month, quarter or year,
so they have no daily value. Both are exact under replays because what they read is.

Reads are kept until the store's offsets move (:class:`PageCache`): a page polled by several browsers, or a
reader switching the compared province, costs one offsets read while nothing changes.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from bus.metrics import NATIONAL
from consumers import documents, dossiers, span
from consumers.base import Grain, ViewQuery, ViewResult, local_month
from consumers.scoreboard import counts_row
from consumers.viewset import ViewSet

T = TypeVar("T")
MAX_PERIODS: Final = 62
"""The most recent periods a trend shows (two months of days, five years of months)."""
MONTHS_FOR_MONTHLY: Final = 3
"""With events in fewer months than this, the page opens on daily trends."""


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
    """The months from the earliest to the latest event time applied, oldest first."""
    with viewset.store.reader() as reader:
        applied = span.applied(reader)
    if applied is None:
        return []
    first, last = (local_month(ms) for ms in applied)
    found = []
    year, month = int(first[:4]), int(first[5:])
    while f"{year:04d}-{month:02d}" <= last:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def default_grain(viewset: ViewSet) -> Grain:
    return Grain.MONTH if len(months(viewset)) >= MONTHS_FOR_MONTHLY else Grain.DAY


def _rate_columns(row: dict[str, Any]) -> dict[str, float | None]:
    return {c: v for c, v in row.items() if c.endswith(("_rate", "_completeness")) and not isinstance(v, str)}


def monthly(viewset: ViewSet) -> Trend:
    periods = months(viewset)[-MAX_PERIODS:]
    series: dict[str, dict[str, list[float | None]]] = defaultdict(
        lambda: defaultdict(lambda: [None] * len(periods))
    )
    for index, month in enumerate(periods):
        for row in scoreboard(viewset, month).rows:
            for column, value in _rate_columns(row).items():
                series[str(row["province"])][column][index] = value
    return Trend(Grain.MONTH, periods, {place: dict(columns) for place, columns in series.items()})


def daily(viewset: ViewSet) -> Trend:
    with viewset.store.reader() as reader:
        docs = documents.daily_totals(reader)
        doss = dossiers.daily_totals(reader)
    counts: dict[tuple[str, str], list[dict[str, int] | None]] = defaultdict(lambda: [None, None])
    for source, index in ((docs, 0), (doss, 1)):
        for (province, day), values in source.items():
            for place in (province, NATIONAL) if province else (NATIONAL,):
                slot = counts[(place, day)]
                slot[index] = _add(slot[index], values)
    periods = sorted({day for _, day in counts})[-MAX_PERIODS:]
    position = {day: index for index, day in enumerate(periods)}
    series: dict[str, dict[str, list[float | None]]] = defaultdict(
        lambda: defaultdict(lambda: [None] * len(periods))
    )
    for (place, day), (doc_counts, dossier_counts) in counts.items():
        at = position.get(day)
        if at is None:
            continue
        for column, value in _rate_columns(counts_row(place, doc_counts, dossier_counts, None)).items():
            series[place][column][at] = value
    return Trend(Grain.DAY, periods, {place: dict(columns) for place, columns in series.items()})


def _add(total: dict[str, int] | None, values: dict[str, int]) -> dict[str, int]:
    if total is None:
        return dict(values)
    return {name: total[name] + value for name, value in values.items()}


class PageCache:
    """Reads kept for as long as the store's version stays the same (the last one of each key)."""

    def __init__(self, viewset: ViewSet) -> None:
        self._viewset = viewset
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[str, Any]] = {}

    def get(self, key: str, compute: Callable[[ViewSet], T]) -> T:
        current = version(self._viewset)
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept[0] == current:
            return kept[1]  # type: ignore[no-any-return]  # stored under this key by this method
        value = compute(self._viewset)
        with self._lock:
            self._kept[key] = (current, value)
        return value

    def board(self) -> ViewResult:
        return self.get("board", scoreboard)

    def trend(self, grain: Grain | None) -> Trend:
        chosen = grain if grain in (Grain.MONTH, Grain.DAY) else self.get("grain", default_grain)
        return self.get(f"trend-{chosen}", monthly if chosen is Grain.MONTH else daily)
