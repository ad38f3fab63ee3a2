"""Rates measured back from emitted events, to compare with the targets the simulator was given.

Dossier rates are over received dossiers (not 1 registered or 3 not accepted), as the KPIs of
``bus/kpis.py`` and so the targets are. Only what an outside observer sees is used: the events (duplicates
dropped by id, the highest version of each dossier and the first filing of each report kept), and the agency
catalog to roll sources up to provinces.
Truncation would bias rates measured over a run that stops mid-flight, so:

* dossiers count when received in ``[a, b)``: ``a`` and ``b`` are Mondays 00:00 in Vietnam, ``a`` at least
  three days after the first event, ``b`` at least :data:`MAX_DOSSIER_SPAN_MS` before the last one. Every such
  dossier's life is complete, and counter dossiers (received when the office opens) are neither gained nor
  lost at the edges, because both edges sit at the same point of the office week;
* reports count when their deadline is at least :data:`MAX_REPORT_SPAN_MS` before the last event.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bus.agencies import AgencyCatalog, load_catalog
from bus.events import (
    BusinessType,
    DocumentForm,
    DocumentSent,
    DossierStatus,
    DossierSynced,
    Event,
    OnlineLevel,
    ReportFiled,
    SubmissionChannel,
)
from bus.events.codes import NOT_RECEIVED
from producers.simulate.clock import DAY_MS, LOCAL_OFFSET_MS, WEEK_MS, to_datetime, to_ms
from producers.simulate.dossiers import MAX_DOSSIER_SPAN_MS
from producers.simulate.reports import MAX_REPORT_SPAN_MS
from producers.simulate.targets import MINISTRIES_KEY

_MONDAY_OFFSET_MS = 4 * DAY_MS  # 1970-01-05 was the first Monday after the epoch


@dataclass(frozen=True, slots=True)
class Proportion:
    successes: int
    trials: int

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else float("nan")


@dataclass
class Observed:
    """``rates[key][targets field]`` measured from events; the windows used for dossiers and reports."""

    rates: dict[str, dict[str, Proportion]] = field(default_factory=dict)
    dossier_window: tuple[datetime, datetime] | None = None
    report_deadline_before: datetime | None = None


def next_monday(ms: int) -> int:
    """The first Monday 00:00 (Vietnam) at or after ``ms``."""
    local = ms + LOCAL_OFFSET_MS - _MONDAY_OFFSET_MS
    return -(-local // WEEK_MS) * WEEK_MS + _MONDAY_OFFSET_MS - LOCAL_OFFSET_MS


def observe(events: Iterable[Event], *, catalog: AgencyCatalog | None = None) -> Observed:
    """The target rates as measured from ``events`` (see the module docstring for what counts)."""
    catalog = catalog or load_catalog()
    seen: set[str] = set()
    documents: list[DocumentSent] = []
    dossiers: dict[str, DossierSynced] = {}
    first_filings: dict[str, ReportFiled] = {}
    revised: set[str] = set()
    first_ms = last_ms = None
    for event in events:
        if event.meta.event_id in seen:
            continue
        seen.add(event.meta.event_id)
        moment = to_ms(event.meta.occurred_at)
        first_ms = moment if first_ms is None else min(first_ms, moment)
        last_ms = moment if last_ms is None else max(last_ms, moment)
        if isinstance(event, DocumentSent):
            if event.business_type is not BusinessType.REVOKE:  # a revocation sends nothing new
                documents.append(event)
        elif isinstance(event, DossierSynced):
            kept = dossiers.get(event.dossier_code)
            if kept is None or event.version > kept.version:
                dossiers[event.dossier_code] = event
        elif isinstance(event, ReportFiled):
            if event.revision == 0:
                first_filings[event.report_id] = event
            elif event.revision == 1:
                revised.add(event.report_id)
    observed = Observed()
    if first_ms is None or last_ms is None:
        return observed
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def key_of(code: str) -> str:
        return catalog.province_of(code) or MINISTRIES_KEY

    for document in documents:
        _count_document(document, counts[key_of(document.sender.code)])
    start, end = next_monday(first_ms + 3 * DAY_MS), last_ms - MAX_DOSSIER_SPAN_MS
    end = start + max(0, (end - start) // WEEK_MS) * WEEK_MS
    observed.dossier_window = (to_datetime(start), to_datetime(end))
    for dossier in dossiers.values():
        if start <= to_ms(dossier.received_at) < end:
            _count_dossier(dossier, counts[dossier.province_code or MINISTRIES_KEY])
    deadline_before = last_ms - MAX_REPORT_SPAN_MS
    observed.report_deadline_before = to_datetime(deadline_before)
    for report_id, report in first_filings.items():
        if to_ms(report.deadline_at) <= deadline_before:
            _count_report(report, report_id in revised, counts[key_of(report.reporting_agency.code)])
    observed.rates = {key: _proportions(c) for key, c in counts.items()}
    return observed


def _count_document(document: DocumentSent, c: Counter[str]) -> None:
    c["documents"] += 1
    c["dual_form"] += document.form is DocumentForm.ELECTRONIC_AND_PAPER
    if document.form is not DocumentForm.PAPER_ONLY:
        c["sent_electronically"] += 1
        c["signed"] += document.digitally_signed


def _count_dossier(dossier: DossierSynced, c: Counter[str]) -> None:
    if dossier.status in NOT_RECEIVED:
        return  # never accepted for processing: the targets are KPIs over received dossiers (bus/kpis.py)
    c["dossiers"] += 1
    c["online"] += dossier.channel is SubmissionChannel.ONLINE
    c["postal"] += dossier.channel is SubmissionChannel.POSTAL
    c["full_process"] += (
        dossier.online_level is OnlineLevel.FULL and dossier.channel is SubmissionChannel.ONLINE
    )
    c["digitised"] += dossier.digitised
    if dossier.status in (DossierStatus.RESOLVED, DossierStatus.RETURNED):
        c["finished"] += 1
        c["on_time"] += (
            dossier.finished_at is not None
            and dossier.due_at is not None
            and (dossier.finished_at <= dossier.due_at)
        )


def _count_report(report: ReportFiled, was_revised: bool, c: Counter[str]) -> None:
    c["reports"] += 1
    c["late"] += report.filed_at > report.deadline_at
    c["revised"] += was_revised


def _proportions(c: Counter[str]) -> dict[str, Proportion]:
    pairs = {
        "electronic_rate": ("sent_electronically", "documents"),
        "dual_form_share": ("dual_form", "sent_electronically"),
        "signed_rate": ("signed", "sent_electronically"),
        "online_share": ("online", "dossiers"),
        "postal_share": ("postal", "dossiers"),
        "full_process_share": ("full_process", "dossiers"),
        "digitised_rate": ("digitised", "dossiers"),
        "on_time_rate": ("on_time", "finished"),
        "report_late_rate": ("late", "reports"),
        "report_revised_rate": ("revised", "reports"),
    }
    return {name: Proportion(c[num], c[den]) for name, (num, den) in pairs.items() if c[den]}
