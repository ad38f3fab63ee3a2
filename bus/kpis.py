"""The national KPIs: one written definition each, the single source for docs, metrics and the API.

``docs/views.md`` (section "KPI definitions", checked by a drift test), the descriptions of the
``lgsp_kpi_*`` gauges (``bus.metrics``) and the OpenAPI description of ``/v1/views/scoreboard`` are all made
from :data:`KPIS`; the views (``consumers/``) compute exactly these, and ``tests/views_oracle.py``
recomputes them from the published events.

Every count is per province (by the agency's level-1 code; pre-2025 codes roll up to their 2025 province)
and for the nation (``province = "00"``), where ministries and central bodies count too. A rate is a
fraction 0-1, ``null`` when its denominator is 0.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KpiDefinition:
    """One scoreboard column: what it counts, and the question it answers."""

    column: str
    """Scoreboard column (fixed names, ARCHITECTURE.md "Wave 2 names")."""
    definition: str
    question: str
    gauge: str | None = None
    """Name of the Prometheus gauge that carries it per province (``bus.metrics.Kpi``), if it has one."""


KPIS: tuple[KpiDefinition, ...] = (
    KpiDefinition(
        "documents_sent",
        "Distinct document ids with a DocumentSent of business type NEW, by the sender's province; "
        "revocations and updates are not documents sent. A document counts in the Vietnamese day of its "
        "first NEW sending.",
        "How many official documents does each province send over the axis?",
    ),
    KpiDefinition(
        "electronic_rate",
        "Documents sent as electronic documents, with or without a paper copy (form ELECTRONIC_ONLY or "
        "ELECTRONIC_AND_PAPER: the seeds' 'gửi, nhận văn bản điện tử') / documents sent.",
        "How far has each province gone electronic (An Giang 97%, nation 86.5%)?",
        "lgsp_kpi_electronic_document_ratio",
    ),
    KpiDefinition(
        "electronic_only_rate",
        "Documents sent electronically with no paper copy (form ELECTRONIC_ONLY) / documents sent.",
        "How far has each province gone paperless?",
    ),
    KpiDefinition(
        "dossiers_received",
        "Dossiers whose latest snapshot (highest version, then occurred-at, event id) has a status other "
        "than REGISTERED (1) and NOT_ACCEPTED (3), by the processing agency's province and month of receipt.",
        "How many administrative-procedure dossiers were accepted for processing?",
    ),
    KpiDefinition(
        "online_rate",
        "Received dossiers submitted online (channel 2) / dossiers received.",
        "How many citizens and businesses apply online?",
        "lgsp_kpi_dossier_online_ratio",
    ),
    KpiDefinition(
        "full_online_rate",
        "Received dossiers submitted online for a procedure whose online service is full-process "
        "(toàn trình, Decree 42/2022) / dossiers received.",
        "Does each province meet the full-process online target (45% nationally in 2024)?",
        "lgsp_kpi_dossier_full_online_ratio",
    ),
    KpiDefinition(
        "on_time_rate",
        "Among received dossiers RESOLVED (9) or RETURNED (10) that have a due date: those finished at or "
        "before the due date in force (the latest snapshot's due_at, moved by any extension granted with a "
        "supplement request) / those. Resolved dossiers without a due date are left out and counted apart "
        "(resolved_without_due).",
        "Are administrative procedures resolved on time?",
        "lgsp_kpi_dossier_on_time_ratio",
    ),
    KpiDefinition(
        "digitised_rate",
        "Received dossiers whose components were digitised / dossiers received.",
        "How far has digitisation gone (67.06% in localities, 60.98% in ministries)?",
        "lgsp_kpi_dossier_digitised_ratio",
    ),
    KpiDefinition(
        "reports_expected",
        "Report obligations (agency, report, period) of the report catalog whose deadline falls between the "
        "earliest event time the views have applied and as-of (default: the latest event time applied; "
        "?as_of= on the API), never before LGSP_VIEWS__OBLIGATIONS_SINCE nor more than "
        "LGSP_VIEWS__OBLIGATIONS_MAX_DAYS (3 years) before as-of. Obligations of periods begun by as-of but "
        "due after it are shown apart (reports_due_later) and count in no rate.",
        "How many periodic reports were owed by now?",
    ),
    KpiDefinition(
        "report_completeness",
        "Obligations counted in reports_expected with a filing at or before as-of / reports_expected.",
        "Is every periodic report filed on the national reporting system?",
        "lgsp_kpi_report_completeness_ratio",
    ),
    KpiDefinition(
        "report_on_time_rate",
        "Obligations counted in reports_expected whose first filing was at or before the deadline / those "
        "filed at or before as-of.",
        "Are reports filed on time?",
        "lgsp_kpi_report_on_time_ratio",
    ),
)

KPI_BY_COLUMN: dict[str, KpiDefinition] = {kpi.column: kpi for kpi in KPIS}
KPI_BY_GAUGE: dict[str, KpiDefinition] = {kpi.gauge: kpi for kpi in KPIS if kpi.gauge is not None}
SCOPE = (
    "Per province by the agency's level-1 code (pre-2025 codes roll up to their 2025 province); the nation "
    "(province 00) also counts ministries and central bodies. Rates are fractions 0-1, null when the "
    "denominator is 0."
)


def markdown() -> str:
    """The "KPI definitions" section of ``docs/views.md`` (a test keeps the file equal to this)."""
    lines = ["| Column | Definition |", "| --- | --- |"]
    lines += [f"| `{kpi.column}` | {kpi.definition} |" for kpi in KPIS]
    return "\n".join([SCOPE, "", *lines])


if __name__ == "__main__":
    print(markdown())
