"""The traffic the fault tests offer: simulated events where each one is worth exactly one count in the views.

A fault test must say, per event, whether it reached the views. The views are aggregates, so the workload is
chosen to make every event visible: from the simulator's realistic stream it keeps only events that add one
to a national counter and that no other kept event can stand in for —

- the first ``DocumentSent`` (new or update) of each document: ``sent``; the first revocation: ``revoked``;
- the first status of each class (arrived/accepted, finished, rejected, recalled) per document and recipient
  named in the header: ``arrived``, ``finished``, ``rejected``, ``recalled``;
- the first snapshot of each dossier: ``received``;
- the first filing of each (report, agency, period): ``filed``.

So the views' national totals count the distinct events they hold, and an event lost (or counted twice)
moves a total. :func:`view_units` reads those totals from the views; :func:`oracle_units` computes them with
the independent recomputation of ``tests/views_oracle.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from bus.events import DocumentSent, DocumentStatusChanged, DossierSynced, Event, ReportFiled
from consumers.base import Grain, Level, ViewQuery
from consumers.viewset import ViewSet
from producers.simulate import EmissionKind, Simulation, SimulationConfig
from tests import views_oracle as oracle

AS_OF: Final = datetime(2026, 1, 1, tzinfo=UTC)
"""Reference time of every comparison (open/overdue/late counts depend on it)."""
DOCUMENT_UNITS: Final = ("sent", "revoked", "arrived", "finished", "rejected", "recalled")
_STATUS_CLASS: Final = {
    "ARRIVED": "arrived",
    "ACCEPTED": "arrived",
    "FINISHED": "finished",
    "REJECTED": "rejected",
    "RECALLED": "recalled",
    "RECALL_ACCEPTED": "recalled",
}


class _UnitFilter:
    """Keeps the events that add one to a national counter (see the module docstring)."""

    def __init__(self) -> None:
        self._recipients: dict[str, frozenset[str]] = {}
        self._seen: set[tuple[str, ...]] = set()

    def keep(self, event: Event) -> bool:
        key = self._key(event)
        if key is None or key in self._seen:
            return False
        self._seen.add(key)
        return True

    def _key(self, event: Event) -> tuple[str, ...] | None:
        if isinstance(event, DocumentSent):
            return self._send_key(event)
        if isinstance(event, DocumentStatusChanged):
            kind = _STATUS_CLASS.get(event.status.value)
            recipients = self._recipients.get(event.document_id, frozenset())
            if kind is None or event.reporting_agency.code not in recipients:
                return None
            return ("status", event.document_id, event.reporting_agency.code, kind)
        if isinstance(event, DossierSynced):
            return ("dossier", event.dossier_code)
        if isinstance(event, ReportFiled):
            period = f"{event.period_type.value}-{event.period_year}-{event.period_number}"
            return ("report", event.report_code, event.reporting_agency.code, period)
        return None

    def _send_key(self, event: DocumentSent) -> tuple[str, ...] | None:
        if event.business_type.value == "REVOKE":
            # A revocation counts only on a document whose header is already kept.
            if event.document_id not in self._recipients:
                return ("skip", event.meta.event_id)
            return ("revoke", event.document_id)
        if event.business_type.value != "NEW":
            return None  # only a NEW sending counts as a document sent (docs/views.md)
        self._recipients.setdefault(event.document_id, frozenset(r.code for r in event.recipients))
        return ("send", event.document_id)


def take_units(count: int, *, seed: int) -> list[Event]:
    """The first ``count`` unit events of the seeded simulation."""
    config = SimulationConfig(seed=seed, scale=0.001, late_ratio=0.0)
    kept = _UnitFilter()
    emitted = (emission.event for emission in Simulation(config) if emission.kind is not EmissionKind.INVALID)
    return list(itertools.islice((event for event in emitted if kept.keep(event)), count))


def chunks(events: Sequence[Event], size: int) -> list[list[Event]]:
    """``events`` in consecutive slices of ``size``."""
    return [list(events[start : start + size]) for start in range(0, len(events), size)]


def oracle_units(events: Sequence[Event]) -> int:
    """The national totals of the unit counters, recomputed independently from ``events``."""
    places = oracle.Places()
    facts = oracle.document_facts(events)
    documents = oracle.documents_rows(facts, places, level="nation", grain="all", as_of_ms=0, sla_ms=0)
    dossiers = oracle.dossiers_rows(events, places, level="nation", grain="all", as_of_ms=0)
    reports, _ = oracle.reports_rows(events, places, level="nation", per_period=False)
    return _total(documents, dossiers, reports)


def view_units(viewset: ViewSet) -> int:
    """The national totals of the unit counters, as the views hold them."""
    documents = viewset.query("documents", ViewQuery(level=Level.NATION, grain=Grain.ALL, as_of=AS_OF)).rows
    dossiers = viewset.query("dossiers", ViewQuery(level=Level.NATION, grain=Grain.ALL, as_of=AS_OF)).rows
    reports = viewset.query("reports", ViewQuery(level=Level.NATION, grain=Grain.ALL, as_of=AS_OF)).rows
    return _total(documents, dossiers, reports)


Rows = list[dict[str, Any]]


def _total(documents: Rows, dossiers: Rows, reports: Rows) -> int:
    total = sum(int(row[name]) for row in documents for name in DOCUMENT_UNITS)
    # every dossier is counted once: received, or still registered, or not accepted
    total += sum(int(row[name]) for row in dossiers for name in ("received", "registered", "not_accepted"))
    # every filing is counted once: against an obligation due in the window, one due later, or none
    return total + sum(
        int(row[name]) for row in reports for name in ("filed", "due_later_filed", "other_filed")
    )
