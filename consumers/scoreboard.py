"""The scoreboard: one row per province with its key rates, and one for the nation.

Derived at read time from the other views' aggregates (no state of its own): documents (electronic-document
rate, by the sender's province), dossiers (online, full-process online, on-time, digitised rates, by the
processing agency's province) and reports (completeness and on-time filing of the reports the province's
agencies owe, by as-of: the query's, else the latest event time applied). Definitions: ``bus/kpis.py``.
The nation row (``province = "00"``, as in the KPI gauges) also counts ministries and
central bodies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from bus.cloudevents import format_time
from bus.kpis import KPIS
from bus.metrics import NATIONAL, Kpi
from consumers import documents, dossiers, reports
from consumers.base import Rollup, View, ViewQuery, ViewResult, ratio, unsupported

if TYPE_CHECKING:
    from bus.events.record import EventRecord
    from consumers.store.base import Migration, StoreReader, StoreTxn

COLUMNS = (
    "province",
    "name",
    "documents_sent",
    "electronic_rate",
    "electronic_only_rate",
    "dossiers_received",
    "online_rate",
    "full_online_rate",
    "on_time_rate",
    "digitised_rate",
    "reports_expected",
    "report_completeness",
    "report_on_time_rate",
    "reports_due_later",
)
"""The fixed columns (ARCHITECTURE.md "Wave 2 names"), then ``reports_due_later`` beside them."""
KPI_COLUMNS: dict[Kpi, str] = {Kpi(kpi.gauge): kpi.column for kpi in KPIS if kpi.gauge is not None}
_NO_DOCUMENTS = dict.fromkeys(documents.TOTALS, 0)
_NO_DOSSIERS = dict.fromkeys(dossiers.COUNTERS, 0)
_NO_REPORTS = dict.fromkeys(reports.TOTALS, 0)


class ScoreboardView(View):
    """Key rates per province and for the nation."""

    name: ClassVar[str] = "scoreboard"
    topic: ClassVar[str | None] = None

    def __init__(self, reports_view: reports.ReportsView, rollup: Rollup | None = None) -> None:
        self._reports = reports_view
        self._rollup = rollup or Rollup()

    def migrations(self) -> Sequence[Migration]:
        return ()

    def apply(self, txn: StoreTxn, events: Sequence[EventRecord]) -> None:
        return None  # derived at read time

    def merge(self, txn: StoreTxn, source: str) -> None:
        return None  # no tables of its own

    def query(self, reader: StoreReader, query: ViewQuery) -> ViewResult:
        if query.agency is not None or query.level is not None or query.grain is not None:
            raise unsupported(self.name, "filter", "agency/level/grain")
        docs = documents.province_totals(reader, query.period)
        doss = dossiers.province_totals(reader, query.period)
        reps = reports.province_totals(self._reports, reader, query)
        rows = [
            _row(
                p.code,
                p.name,
                docs.get(p.code, _NO_DOCUMENTS),
                doss.get(p.code, _NO_DOSSIERS),
                reps.get(p.code, _NO_REPORTS),
            )
            for p in self._rollup.catalog.provinces()
            if query.province is None or p.code == query.province
        ]
        if query.province is None:
            nation = (_sum(docs.values(), _NO_DOCUMENTS), _sum(doss.values(), _NO_DOSSIERS))
            rows.append(_row(NATIONAL, "Cả nước (nation)", *nation, _sum(reps.values(), _NO_REPORTS)))
        window = self._reports.window(reader, query)
        meta = {"period": query.period, "as_of": None if window is None else _iso(window[1])}
        return ViewResult(self.name, COLUMNS, rows, meta)


def _row(
    province: str, name: str, docs: dict[str, int], doss: dict[str, int], reps: dict[str, int]
) -> dict[str, Any]:
    sent = docs["sent"]
    dossier_rates = dossiers.rates(doss)
    return {
        "province": province,
        "name": name,
        "documents_sent": sent,
        "electronic_rate": ratio(docs["sent_electronic"], sent),
        "electronic_only_rate": ratio(docs["sent_electronic_only"], sent),
        "dossiers_received": doss["received"],
        "online_rate": dossier_rates["online_rate"],
        "full_online_rate": dossier_rates["full_online_rate"],
        "on_time_rate": dossier_rates["on_time_rate"],
        "digitised_rate": dossier_rates["digitised_rate"],
        "reports_expected": reps["expected"],
        "report_completeness": ratio(reps["filed"], reps["expected"]),
        "report_on_time_rate": ratio(reps["filed_on_time"], reps["filed"]),
        "reports_due_later": reps["due_later"],
    }


def counts_row(
    province: str, docs: dict[str, int] | None, doss: dict[str, int] | None, reps: dict[str, int] | None
) -> dict[str, Any]:
    """The scoreboard row (its rates) of any counts, zero where None: how the page's daily trends use the
    scoreboard's definitions for one day at a time."""
    return _row(province, "", docs or _NO_DOCUMENTS, doss or _NO_DOSSIERS, reps or _NO_REPORTS)


def _sum(parts: Iterable[dict[str, int]], zero: dict[str, int]) -> dict[str, int]:
    """Column-wise sum of every province's and the central agencies' counts: the nation."""
    total = dict(zero)
    for part in parts:
        for name, value in part.items():
            total[name] += value
    return total


def _iso(ms: int) -> str:
    return format_time(datetime.fromtimestamp(ms / 1000, UTC))


def kpi_values(result: ViewResult) -> dict[str, dict[Kpi, float | None]]:
    """The KPI gauge values per province (``"00"``: nation) from a scoreboard read."""
    return {row["province"]: {kpi: row[column] for kpi, column in KPI_COLUMNS.items()} for row in result.rows}
