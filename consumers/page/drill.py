"""A province's drill-down: its agencies (units rolled up), its dossiers by status and by procedure, its
report obligations, and the events behind each number.

Everything is read through the views (``ViewSet.query``) except what no view offers yet: dossiers counted by
current status, and the entities (with the id of the event that set their state) behind a number. Those two
read the views' own state tables, read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from bus.agencies import load_catalog
from bus.reporting import load_report_catalog
from consumers.base import Grain, Level, ViewQuery
from consumers.evidence import evidence_href
from consumers.viewset import ViewSet

EVENT_LIMIT: Final = 200
"""The most entities one evidence list shows (newest first)."""


@dataclass
class AgencyRow:
    code: str
    name: str | None
    merged_from: str | None
    """The former province a unit belonged to, when its code is one of a merged province's."""
    documents: dict[str, Any] = field(default_factory=dict)
    dossiers: dict[str, Any] = field(default_factory=dict)


@dataclass
class Obligations:
    """One report regime's filings owed by a province's agencies, over the periods in play."""

    report_code: str
    name: str
    owed: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    due_later: int = 0


def agencies(viewset: ViewSet, province: str) -> list[AgencyRow]:
    """The province's agencies that sent documents or handled dossiers, busiest first."""
    catalog = load_catalog()
    legacy = {
        committee.rpartition(".")[2]: name
        for p in catalog.provinces()
        if p.code == province
        for committee, name in zip(p.legacy_committees[1:], p.merged_from[1:], strict=True)
    }
    rows: dict[str, AgencyRow] = {}

    def row(code: str) -> AgencyRow:
        found = rows.get(code)
        if found is None:
            agency = catalog.find(code)
            found = rows[code] = AgencyRow(
                code, agency.name if agency else None, legacy.get(code.rpartition(".")[2])
            )
        return found

    query = ViewQuery(province=province, level=Level.AGENCY, grain=Grain.ALL)
    for item in viewset.query("documents", query).rows:
        row(str(item["agency"])).documents = item
    for item in viewset.query("dossiers", query).rows:
        row(str(item["agency"])).dossiers = item
    return sorted(
        rows.values(),
        key=lambda r: (-(r.dossiers.get("received", 0) + r.documents.get("sent", 0)), r.code),
    )


def procedures(viewset: ViewSet, province: str) -> list[dict[str, Any]]:
    """Dossier counts and rates per procedure, most dossiers first."""
    query = ViewQuery(province=province, level=Level.PROCEDURE, grain=Grain.ALL)
    rows = viewset.query("dossiers", query).rows
    return sorted(rows, key=lambda r: (-int(r["received"]), str(r["procedure_code"])))


def statuses(viewset: ViewSet, province: str) -> dict[str, int]:
    """Dossiers of the province by their current status."""
    with viewset.store.reader() as reader:
        rows = reader.query(
            "SELECT status, COUNT(*) FROM dos_dossiers WHERE province = ? GROUP BY status", [province]
        )
    return {str(status): int(count) for status, count in rows}


def obligations(viewset: ViewSet, province: str, *, as_of: datetime | None = None) -> list[Obligations]:
    """Per report regime, the reports view's counts for the province (as of ``as_of``, by default the latest
    event time applied): filed on time (including those filed before a deadline still ahead), filed late,
    missing (deadline passed, not filed) and due later (deadline ahead, not filed yet)."""
    catalog = load_report_catalog()
    query = ViewQuery(province=province, level=Level.PROVINCE, grain=Grain.ALL, as_of=as_of)
    out: list[Obligations] = []
    for row in viewset.query("reports", query).rows:
        code = str(row["report_code"])
        definition = catalog.get(code)
        expected, filed, on_time = int(row["expected"]), int(row["filed"]), int(row["filed_on_time"])
        later, later_filed = int(row["due_later"]), int(row["due_later_filed"])
        if expected + later == 0:
            continue  # filings that match no obligation of the window: not owed here
        out.append(
            Obligations(
                code,
                definition.name if definition else code,
                owed=expected + later,
                on_time=on_time + later_filed,
                late=filed - on_time,
                missing=expected - filed,
                due_later=later - later_filed,
            )
        )
    return sorted(out, key=lambda o: o.report_code)


_EVENT_SOURCES: Final = {
    # view: (table, entity key, event id, time column, allowed filters)
    "dossiers": ("dos_dossiers", "dossier_code", "event_id", "received_ms",
                 ("province", "agency", "status", "procedure_code")),
    "documents": ("doc_documents", "document_id", "header_event_id", "sent_ms", ("province", "agency")),
    "reports": ("rep_reports", "report_key", "rev_event_id", "first_filed_ms",
                ("province", "agency", "report_code", "on_time")),
}  # fmt: skip
EVENT_VIEWS: Final = tuple(_EVENT_SOURCES)


def events(viewset: ViewSet, view: str, filters: dict[str, str]) -> tuple[int, list[dict[str, Any]]]:
    """How many entities of ``view`` match ``filters``, and the newest of them with the event that set their
    state (what the evidence endpoint then proves)."""
    table, key, event_id, time, allowed = _EVENT_SOURCES[view]
    clauses = [f"{name} = ?" for name in allowed if name in filters]
    params: list[Any] = [filters[name] for name in allowed if name in filters]
    condition = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    with viewset.store.reader() as reader:
        total = reader.query(f"SELECT COUNT(*) FROM {table} {condition}", params)[0][0]
        rows = reader.query(
            f"SELECT {key}, {event_id}, {time} FROM {table} {condition} ORDER BY {time} DESC, {key}"
            f" LIMIT {EVENT_LIMIT}",
            params,
        )
    return int(total), [
        {
            "key": str(entity),
            "event_id": str(event) if event is not None else None,
            "at": datetime.fromtimestamp(int(at) / 1000, UTC).isoformat() if at is not None else None,
            "evidence": evidence_href(view, str(entity)),
        }
        for entity, event, at in rows
    ]
