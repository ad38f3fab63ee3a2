"""Report completeness: the obligations of the report catalog that fell due in a window, matched against the
filings stored by the reports view (:mod:`consumers.reports`, whose docstring defines the counts), counted
per place, report and period.

Pure arithmetic on what the view read: no store access here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bus.events.codes import PeriodType
from bus.events.periods import Period
from consumers.base import Level, Rollup, month_bounds, ratio


def _period(period_type: str, year: int, number: int) -> Period | None:
    try:
        return Period(PeriodType(period_type), int(year), int(number))
    except ValueError:
        return None


def level_names(level: Level) -> list[str]:
    return [] if level is Level.NATION else [level.value]


def _place(level: Level, agency: str, province: str, ministry: str) -> tuple[str, ...]:
    if level is Level.AGENCY:
        return (agency,)
    if level is Level.PROVINCE:
        return (province,)
    if level is Level.MINISTRY:
        return (ministry,)
    return ()


@dataclass(frozen=True, slots=True)
class Owing:
    """One report for one period, as the window sees it: its deadline and the agencies (kept by the
    query's filters) that owe it. Counted per report and period, not per agency, so that a window of
    decades (events dated 2000 and 2099) still reads in a blink."""

    code: str
    label: str
    deadline_ms: int
    agencies: tuple[str, ...]


COUNTS = ("expected", "filed", "filed_on_time", "due_later", "due_later_filed", "other_filed")
"""Per row: obligations due in the window, those filed by as-of, those first filed by their deadline;
obligations of periods begun but not yet due, those already filed; filings matching no obligation of either
kind (not owed by the agency, or for a period due before the views' first event)."""
RATES = ("completeness", "on_time_rate")


def completeness(
    filings: list[tuple[Any, ...]],
    due: list[Owing],
    later: list[Owing],
    window: tuple[int, int] | None,
    level: Level,
    *,
    per_period: bool,
) -> list[dict[str, Any]]:
    rollup = Rollup()
    as_of = window[1] if window is not None else -1
    counts: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(COUNTS))
    places: dict[tuple[str, ...], list[tuple[tuple[str, ...], int]]] = {}

    def place(agency: str) -> tuple[str, ...]:
        return _place(level, agency, *rollup.of(agency))

    def grouped(agencies: tuple[str, ...]) -> list[tuple[tuple[str, ...], int]]:
        """``(place, number of agencies)`` of a tuple of owers (the same few tuples come back each period)."""
        found = places.get(agencies)
        if found is None:
            sizes: dict[tuple[str, ...], int] = defaultdict(int)
            for agency in agencies:
                sizes[place(agency)] += 1
            found = places[agencies] = list(sizes.items())
        return found

    def key(where: tuple[str, ...], code: str, label: str) -> tuple[Any, ...]:
        return (*where, code, *((label,) if per_period else ()))

    owed = {(o.code, o.label): (o, 0) for o in due} | {(o.code, o.label): (o, 3) for o in later}
    for code, agency, _province, ministry, period_type, year, number, first_ms in filings:
        if (level is Level.MINISTRY and not ministry) or first_ms > as_of:
            continue  # not at this level, or not filed yet at as-of
        period = _period(period_type, year, number)
        label = period.label if period is not None else f"{year}-UNKNOWN{number}"
        owing, column = owed.get((code, label), (None, 5))
        if owing is None or agency not in owing.agencies:
            counts[key(place(agency), code, label)][5] += 1
        elif column == 0:
            entry = counts[key(place(agency), code, label)]
            entry[1] += 1
            entry[2] += int(first_ms <= owing.deadline_ms)
        else:
            counts[key(place(agency), code, label)][4] += 1
    for owings, column in ((due, 0), (later, 3)):
        for owing in owings:
            for where, size in grouped(owing.agencies):
                counts[key(where, owing.code, owing.label)][column] += size
    names = level_names(level) + ["report_code"] + (["period"] if per_period else [])
    rows = []
    for row_key in sorted(counts):
        values = counts[row_key]
        item: dict[str, Any] = dict(zip(names, row_key, strict=True))
        item.update(zip(COUNTS, values, strict=True))
        item.update(completeness=ratio(values[1], values[0]), on_time_rate=ratio(values[2], values[1]))
        rows.append(item)
    return rows


def overlaps(period: Period, month: str) -> bool:
    first, last = month_bounds(month)
    return period.start.isoformat() <= last and period.end.isoformat() >= first
