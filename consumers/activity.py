"""What each province and each ministry has published so far, for the silent-agency alert and its panel.

``lgsp_view_province_events{province, view}`` and ``lgsp_reports_overdue{province}`` have one series per
level-1 unit of the agency catalog: a province (its two-digit statistics code, e.g. ``79``) or a ministry or
central body (its level-1 ``G`` code, e.g. ``G22``: the Government Office ``000.00.00.G22``). Each ministry is
its own series, so one ministry going quiet is not hidden by the others' traffic. The label keeps the fixed
name ``province`` (ARCHITECTURE.md's metric labels): its value is the unit events roll up to, as the KPI
gauges' ``00`` is the nation.

Both levels are read the same way: the documents and dossiers aggregates grouped by the roll-up column
(``province`` or ``ministry``), the reports view at ``level=province`` or ``level=ministry`` (every filing
counts as activity; overdue = obligations due and not filed, the scoreboard's definition).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from bus.agencies import load_catalog
from bus.metrics import ViewMetrics
from consumers import documents, dossiers
from consumers.base import Grain, Level, RollupColumn, ViewQuery

if TYPE_CHECKING:
    from consumers.viewset import ViewSet

FAMILIES: Final = ("documents", "dossiers", "reports")
"""The ``view`` label: documents sent, dossiers received, reports filed."""


@dataclass(frozen=True, slots=True)
class Activity:
    """One level-1 unit's totals so far: events per family and reports past their deadline unfiled."""

    unit: str
    events: dict[str, int]
    reports_overdue: int


def ministry_label(ministry_code: str) -> str:
    """The ``province`` label of a ministry: the level-1 group of its code (``000.00.00.G22`` → ``G22``)."""
    return ministry_code.rsplit(".", 1)[-1]


FILINGS: Final = ("filed", "due_later_filed", "other_filed")
"""The reports view's counts of filings (owed and due, owed but due later, not owed): each one is activity."""


def unit_activity(viewset: ViewSet) -> list[Activity]:
    """Every province, then every ministry and central body of the catalog; 0 for a unit that has published
    nothing yet, so that its series exists from start-up."""
    catalog = load_catalog()
    provinces = [(p.code, p.code) for p in catalog.provinces()]
    ministries = [(ministry_label(m.code), m.code) for m in catalog.ministries()]
    return _activity(viewset, "province", provinces) + _activity(viewset, "ministry", ministries)


def _activity(viewset: ViewSet, by: RollupColumn, units: Sequence[tuple[str, str]]) -> list[Activity]:
    """``units`` (label, roll-up code) from the aggregates grouped by roll-up column ``by``; the other
    level's rows (code ``""``: the provinces' agencies per ministry, the ministries per province) are left."""
    with viewset.store.reader() as reader:
        sent = documents.province_totals(reader, None, by=by)
        received = dossiers.province_totals(reader, None, by=by)
    owed = viewset.query("reports", ViewQuery(level=Level(by), grain=Grain.ALL))
    filings: dict[str, int] = {}
    overdue: dict[str, int] = {}
    for row in owed.rows:
        code = row[by]
        filings[code] = filings.get(code, 0) + sum(int(row[name] or 0) for name in FILINGS)
        overdue[code] = overdue.get(code, 0) + max(int(row["expected"] or 0) - int(row["filed"] or 0), 0)
    return [
        Activity(
            label,
            {
                "documents": sent.get(code, {}).get("sent", 0),
                "dossiers": received.get(code, {}).get("received", 0),
                "reports": filings.get(code, 0),
            },
            overdue.get(code, 0),
        )
        for label, code in units
    ]


def export_activity(metrics: ViewMetrics, activity: list[Activity]) -> None:
    """Set the per-unit gauges."""
    for unit in activity:
        for view in FAMILIES:
            metrics.province_events.labels(province=unit.unit, view=view).set(unit.events[view])
        metrics.reports_overdue.labels(province=unit.unit).set(unit.reports_overdue)
