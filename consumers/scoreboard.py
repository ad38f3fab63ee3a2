"""The scoreboard: one row per province with its key rates, and one for the nation.

Derived at read time from the other views' aggregates (no state of its own): documents (electronic-document
rate, by the sender's province), dossiers (online, full-process online, on-time, digitised rates, by the
processing agency's province) and reports (completeness and on-time filing of the reports the province's
agencies owe). The nation row (``province = "00"``, as in the KPI gauges) also counts ministries and
central bodies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from bus.metrics import NATIONAL, Kpi
from consumers import documents, dossiers, reports
from consumers.base import Rollup, View, ViewQuery, ViewResult, ratio, unsupported

if TYPE_CHECKING:
    from bus.events import Event
    from bus.events.raw import RawEvent
    from consumers.store.base import Migration, StoreReader, StoreTxn

COLUMNS = (
    "province",
    "name",
    "documents_sent",
    "electronic_rate",
    "dossiers_received",
    "online_rate",
    "full_online_rate",
    "on_time_rate",
    "digitised_rate",
    "reports_expected",
    "report_completeness",
    "report_on_time_rate",
)
KPI_COLUMNS: dict[Kpi, str] = {
    Kpi.ELECTRONIC_DOCUMENT_RATIO: "electronic_rate",
    Kpi.DOSSIER_ONLINE_RATIO: "online_rate",
    Kpi.DOSSIER_FULL_ONLINE_RATIO: "full_online_rate",
    Kpi.DOSSIER_ON_TIME_RATIO: "on_time_rate",
    Kpi.DOSSIER_DIGITISED_RATIO: "digitised_rate",
    Kpi.REPORT_COMPLETENESS_RATIO: "report_completeness",
    Kpi.REPORT_ON_TIME_RATIO: "report_on_time_rate",
}
_NO_DOSSIERS = dict.fromkeys(dossiers.COUNTERS, 0)
_NO_REPORTS = {"expected": 0, "filed": 0, "filed_expected": 0, "filed_on_time": 0}


class ScoreboardView(View):
    """Key rates per province and for the nation."""

    name: ClassVar[str] = "scoreboard"
    topic: ClassVar[str | None] = None

    def __init__(self, reports_view: reports.ReportsView, rollup: Rollup | None = None) -> None:
        self._reports = reports_view
        self._rollup = rollup or Rollup()

    def migrations(self) -> Sequence[Migration]:
        return ()

    def apply(self, txn: StoreTxn, events: Sequence[Event | RawEvent]) -> None:
        return None  # derived at read time

    def merge(self, txn: StoreTxn, source: str) -> None:
        return None  # no tables of its own

    def query(self, reader: StoreReader, query: ViewQuery) -> ViewResult:
        if query.agency is not None or query.level is not None or query.grain is not None:
            raise unsupported(self.name, "filter", "agency/level/grain")
        docs = documents.province_totals(reader, query.period)
        doss = dossiers.province_totals(reader, query.period)
        reps = reports.province_totals(self._reports, reader, query.period)
        rows = [
            _row(
                p.code,
                p.name,
                docs.get(p.code, (0, 0)),
                doss.get(p.code, _NO_DOSSIERS),
                reps.get(p.code, _NO_REPORTS),
            )
            for p in self._rollup.catalog.provinces()
            if query.province is None or p.code == query.province
        ]
        if query.province is None:
            rows.append(
                _row(NATIONAL, "Cả nước (nation)", _sum_docs(docs), _sum(doss.values()), _sum(reps.values()))
            )
        return ViewResult(self.name, COLUMNS, rows, {"period": query.period})


def _row(
    province: str, name: str, docs: tuple[int, int], doss: dict[str, int], reps: dict[str, int]
) -> dict[str, Any]:
    sent, electronic = docs
    dossier_rates = dossiers.rates(doss)
    return {
        "province": province,
        "name": name,
        "documents_sent": sent,
        "electronic_rate": ratio(electronic, sent),
        "dossiers_received": doss["received"],
        "online_rate": dossier_rates["online_rate"],
        "full_online_rate": dossier_rates["full_online_rate"],
        "on_time_rate": dossier_rates["on_time_rate"],
        "digitised_rate": dossier_rates["digitised_rate"],
        "reports_expected": reps["expected"],
        "report_completeness": ratio(reps["filed_expected"], reps["expected"]),
        "report_on_time_rate": ratio(reps["filed_on_time"], reps["filed"]),
    }


def _sum_docs(docs: dict[str, tuple[int, int]]) -> tuple[int, int]:
    return sum(s for s, _ in docs.values()), sum(e for _, e in docs.values())


def _sum(parts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for name, value in part.items():
            total[name] = total.get(name, 0) + value
    return total if total else {**_NO_DOSSIERS, **_NO_REPORTS}


def kpi_values(result: ViewResult) -> dict[str, dict[Kpi, float | None]]:
    """The KPI gauge values per province (``"00"``: nation) from a scoreboard read."""
    return {row["province"]: {kpi: row[column] for kpi, column in KPI_COLUMNS.items()} for row in result.rows}
