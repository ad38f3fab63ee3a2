"""An independent recomputation of the national views from a list of events, for the tests.

It restates the KPI definitions (``bus/kpis.py``, ``docs/views.md``) and the views' other counts
(``consumers/*.py`` docstrings) in the plainest Python: whole-history grouping and sorting, no SQL, no
incremental deltas, no code from ``consumers``. The tests compare the views' rows with these, exactly.

Inputs are the *valid* events as published, duplicates and out-of-order ones included; its inputs from
``bus`` are the catalogs (agencies, report obligations), which are data, not view code.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from bus.agencies import load_catalog
from bus.events import DocumentSent, DocumentStatusChanged, DossierSynced, Event, ReportFiled
from bus.events.codes import PeriodType
from bus.events.periods import Period
from bus.reporting import load_report_catalog

NATION = "00"


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def vn_day(epoch_ms: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(milliseconds=epoch_ms, hours=7)).date().isoformat()


def rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


def nearest_rank(values: Sequence[int], percent: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(percent * len(ordered) / 100)
    return ordered[rank - 1] / 1000


class Places:
    """Agency → province / ministry, from the agency catalog (restated, not imported from the views)."""

    def __init__(self) -> None:
        self.catalog = load_catalog()
        self.ministry_by_group = {m.code.split(".")[-1]: m.code for m in self.catalog.ministries()}

    def province(self, agency: str) -> str:
        return self.catalog.province_of(agency) or ""

    def ministry(self, agency: str) -> str:
        if self.province(agency):
            return ""
        return self.ministry_by_group.get(agency.split(".")[-1], "")


# --- documents ----------------------------------------------------------------------------------------------

DOC_COUNTERS = (
    "sent", "sent_electronic", "sent_electronic_only", "signed", "revoked", "deliveries",
    "arrived", "finished", "rejected", "recalled",
)  # fmt: skip
_CLASSES = {"ARRIVED": "arrived", "ACCEPTED": "arrived", "FINISHED": "finished", "REJECTED": "rejected",
            "RECALLED": "recalled", "RECALL_ACCEPTED": "recalled"}  # fmt: skip


def document_facts(events: Iterable[Event]) -> list[dict[str, Any]]:
    """One record per document that has a (non-revocation) DocumentSent: its counts and latencies."""
    sends: dict[str, list[DocumentSent]] = defaultdict(list)
    revoked: set[str] = set()
    first: dict[tuple[str, str, str], int] = {}
    for event in events:
        if isinstance(event, DocumentSent):
            if event.business_type.value == "REVOKE":
                revoked.add(event.document_id)
            elif event.business_type.value == "NEW":
                sends[event.document_id].append(event)
        elif isinstance(event, DocumentStatusChanged):
            kind = _CLASSES.get(event.status.value)
            if kind is not None:
                key = (event.document_id, event.reporting_agency.code, kind)
                first[key] = min(first.get(key, ms(event.status_at)), ms(event.status_at))
    facts = []
    for document_id, candidates in sends.items():
        header = min(candidates, key=lambda e: (ms(e.meta.occurred_at), e.meta.event_id))
        sent_ms = ms(header.meta.occurred_at)
        recipients = [r.code for r in header.recipients]
        fact: dict[str, Any] = {
            "agency": header.sender.code,
            "day": vn_day(sent_ms),
            "sent_ms": sent_ms,
            "sent": 1,
            "sent_electronic": int(header.form.value in ("ELECTRONIC_ONLY", "ELECTRONIC_AND_PAPER")),
            "sent_electronic_only": int(header.form.value == "ELECTRONIC_ONLY"),
            "signed": int(header.digitally_signed),
            "revoked": int(document_id in revoked),
            "deliveries": len(recipients),
        }
        latencies = []
        for kind in ("arrived", "finished", "rejected", "recalled"):
            fact[kind] = sum(1 for r in recipients if (document_id, r, kind) in first)
        for r in recipients:
            arrived = first.get((document_id, r, "arrived"))
            if arrived is not None:
                latencies.append(max(arrived - sent_ms, 0))
        fact["latencies"] = latencies
        fact["pending"] = len(recipients) - fact["arrived"]
        facts.append(fact)
    return facts


def documents_rows(
    facts: list[dict[str, Any]], places: Places, *, level: str, grain: str, as_of_ms: int, sla_ms: int
) -> list[dict[str, Any]]:
    """The documents view's rows for one level (agency/province/ministry/nation) and grain (day/month/all)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for fact in facts:
        agency = fact["agency"]
        place = {"agency": agency, "province": places.province(agency), "ministry": places.ministry(agency)}
        if level == "ministry" and not place["ministry"]:
            continue
        key: tuple[Any, ...] = () if level == "nation" else (place[level],)
        key += {"day": (fact["day"],), "month": (fact["day"][:7],), "all": ()}[grain]
        groups[key].append(fact)
    rows = []
    names = ([] if level == "nation" else [level]) + ({"day": ["day"], "month": ["month"], "all": []}[grain])
    for key in sorted(groups):
        members = groups[key]
        row: dict[str, Any] = dict(zip(names, key, strict=True))
        for counter in DOC_COUNTERS:
            row[counter] = sum(f[counter] for f in members)
        row["electronic_rate"] = rate(row["sent_electronic"], row["sent"])
        row["electronic_only_rate"] = rate(row["sent_electronic_only"], row["sent"])
        row["arrival_rate"] = rate(row["arrived"], row["deliveries"])
        latencies = [x for f in members for x in f["latencies"]]
        for percent in (50, 90, 99):
            row[f"latency_p{percent}_s"] = nearest_rank(latencies, percent)
        row["not_arrived_after_sla"] = sum(f["pending"] for f in members if f["sent_ms"] <= as_of_ms - sla_ms)
        rows.append(row)
    return rows


# --- dossiers -----------------------------------------------------------------------------------------------

DOSSIER_COUNTERS = ("registered", "not_accepted", "received", "channel_counter", "channel_online",
                    "channel_postal", "level_full", "level_partial", "level_none", "full_online", "digitised",
                    "resolved", "resolved_without_due", "resolved_on_time", "open")  # fmt: skip


def latest_dossiers(events: Iterable[Event]) -> dict[str, DossierSynced]:
    """The winning snapshot per dossier: highest (version, occurred-at, event id)."""
    best: dict[str, DossierSynced] = {}
    for event in events:
        if isinstance(event, DossierSynced):
            current = best.get(event.dossier_code)
            if current is None or _dossier_rank(event) > _dossier_rank(current):
                best[event.dossier_code] = event
    return best


def _dossier_rank(event: DossierSynced) -> tuple[int, int, str]:
    return (event.version, ms(event.meta.occurred_at), event.meta.event_id)


def dossier_fact(d: DossierSynced) -> dict[str, Any]:
    status = d.status.value
    resolved = status in ("RESOLVED", "RETURNED")
    finished = ms(d.finished_at) if d.finished_at is not None else None
    due = ms(d.due_at) if d.due_at is not None else None
    is_open = status not in ("NOT_ACCEPTED", "WITHDRAWN", "STOPPED", "RESOLVED", "RETURNED")
    received = status not in ("REGISTERED", "NOT_ACCEPTED")
    # a dossier not received contributes to nothing but its own count: channel and level are blanked
    channel = d.channel.value if received else ""
    level = d.online_level.value if received else ""
    return {
        "agency": d.processing_agency.code,
        "procedure_code": d.procedure_code,
        "month": vn_day(ms(d.received_at))[:7],
        "registered": int(status == "REGISTERED"),
        "not_accepted": int(status == "NOT_ACCEPTED"),
        "received": int(received),
        "channel_counter": int(channel == "COUNTER"),
        "channel_online": int(channel == "ONLINE"),
        "channel_postal": int(channel == "POSTAL"),
        "level_full": int(level == "FULL"),
        "level_partial": int(level == "PARTIAL"),
        "level_none": int(level == "NONE"),
        "full_online": int(channel == "ONLINE" and level == "FULL"),
        "digitised": int(received and d.digitised),
        "resolved": int(resolved),
        "resolved_without_due": int(resolved and due is None),
        "resolved_on_time": int(resolved and due is not None and finished is not None and finished <= due),
        "open": int(is_open),
        "due_ms": due,
    }


def dossiers_rows(
    events: Iterable[Event], places: Places, *, level: str, grain: str, as_of_ms: int
) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for dossier in latest_dossiers(events).values():
        fact = dossier_fact(dossier)
        agency = fact["agency"]
        place = {"agency": (agency,), "province": (places.province(agency),),
                 "ministry": (places.ministry(agency),),
                 "procedure": (places.province(agency), fact["procedure_code"]), "nation": ()}  # fmt: skip
        if level == "ministry" and not place["ministry"][0]:
            continue
        key = place[level] + ((fact["month"],) if grain == "month" else ())
        groups[key].append(fact)
    names = {"agency": ["agency"], "province": ["province"], "ministry": ["ministry"],
             "procedure": ["province", "procedure_code"], "nation": []}[level]  # fmt: skip
    names += ["month"] if grain == "month" else []
    rows = []
    for key in sorted(groups):
        members = groups[key]
        row: dict[str, Any] = dict(zip(names, key, strict=True))
        for counter in DOSSIER_COUNTERS:
            row[counter] = sum(f[counter] for f in members)
        row["overdue"] = sum(
            1 for f in members if f["open"] and f["due_ms"] is not None and f["due_ms"] < as_of_ms
        )
        row.update(dossier_rates(row))
        rows.append(row)
    return rows


def dossier_rates(row: dict[str, Any]) -> dict[str, float | None]:
    return {
        "online_rate": rate(row["channel_online"], row["received"]),
        "full_online_rate": rate(row["full_online"], row["received"]),
        "on_time_rate": rate(row["resolved_on_time"], row["resolved"] - row["resolved_without_due"]),
        "digitised_rate": rate(row["digitised"], row["received"]),
    }


# --- reports ------------------------------------------------------------------------------------------------


def _label(r: ReportFiled) -> str:
    return r.period.label if r.period is not None else f"{r.period_year}-UNKNOWN{r.period_number}"


def latest_reports(events: Iterable[Event]) -> dict[tuple[str, str, str], tuple[ReportFiled, int]]:
    """Per (report code, agency, period label): the winning revision and the earliest filed-at (ms)."""
    best: dict[tuple[str, str, str], ReportFiled] = {}
    first: dict[tuple[str, str, str], int] = {}
    for event in events:
        if not isinstance(event, ReportFiled):
            continue
        key = (event.report_code, event.reporting_agency.code, _label(event))
        rank = (event.revision, ms(event.meta.occurred_at), event.meta.event_id)
        current = best.get(key)
        if current is None or rank > (current.revision, ms(current.meta.occurred_at), current.meta.event_id):
            best[key] = event
        first[key] = min(first.get(key, ms(event.filed_at)), ms(event.filed_at))
    return {key: (best[key], first[key]) for key in best}


def _overlaps(period: Period | None, month: str | None) -> bool:
    if month is None:
        return True
    if period is None:
        return False
    year, number = (int(x) for x in month.split("-"))
    first = date(year, number, 1)
    last = date(year + number // 12, number % 12 + 1, 1) - timedelta(days=1)
    return period.start <= last and period.end >= first


def event_span(events: Iterable[Event]) -> tuple[int, int] | None:
    """Earliest and latest occurred-at of the events (what the views have applied)."""
    times = [ms(event.meta.occurred_at) for event in events]
    return (min(times), max(times)) if times else None


def obligations(since_ms: int, as_of_ms: int) -> tuple[dict[Owed, int], dict[Owed, int]]:
    """(due in [since, as_of], due later but of a period begun by as_of): obligation → deadline ms."""
    catalog = load_report_catalog()
    due: dict[Owed, int] = {}
    later: dict[Owed, int] = {}
    today = vn_day(as_of_ms)
    for year in range(int(vn_day(since_ms)[:4]) - 1, int(today[:4]) + 2):
        for kind, count in (("MONTH", 12), ("QUARTER", 4), ("HALF_YEAR", 2), ("YEAR", 1)):
            for number in range(1, count + 1):
                period = Period(PeriodType(kind), year, number)
                for obligation in catalog.expected(period):
                    deadline = ms(obligation.deadline_at)
                    owed = (obligation.agency, obligation.report.code, period)
                    if since_ms <= deadline <= as_of_ms:
                        due[owed] = deadline
                    elif since_ms <= deadline and as_of_ms < deadline and period.start.isoformat() <= today:
                        later[owed] = deadline
    return due, later


Owed = tuple[str, str, Period]


def reports_rows(
    events: Sequence[Event],
    places: Places,
    *,
    level: str,
    per_period: bool,
    month: str | None = None,
    as_of_ms: int | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(completeness rows, indicator aggregates) of the reports view for a level."""
    latest = {k: v for k, v in latest_reports(events).items() if _overlaps(v[0].period, month)}
    span = event_span(events)
    due: dict[Owed, int] = {}
    later: dict[Owed, int] = {}
    if span is not None:
        as_of_ms = span[1] if as_of_ms is None else as_of_ms
        due, later = obligations(span[0], as_of_ms)
    due = {o: d for o, d in due.items() if _overlaps(o[2], month)}
    later = {o: d for o, d in later.items() if _overlaps(o[2], month)}

    def place(agency: str) -> tuple[str, ...] | None:
        if level == "nation":
            return ()
        value = {"agency": agency, "province": places.province(agency), "ministry": places.ministry(agency)}[
            level
        ]
        if level == "ministry" and not value:
            return None
        return (value,)

    filed_by = {}  # obligation → first filing, for filings made by as-of
    counts: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 6)
    for (code, agency, label), (report, first_filed) in latest.items():
        where = place(agency)
        if where is None or as_of_ms is None or first_filed > as_of_ms:
            continue
        owed = (agency, code, report.period) if report.period is not None else None
        if owed is not None and (owed in due or owed in later):
            filed_by[owed] = first_filed
        else:
            counts[(*where, code, *((label,) if per_period else ()))][5] += 1
    for (agency, code, period), deadline in due.items():
        where = place(agency)
        if where is None:
            continue
        entry = counts[(*where, code, *((period.label,) if per_period else ()))]
        first = filed_by.get((agency, code, period))
        entry[0] += 1
        entry[1] += first is not None
        entry[2] += first is not None and first <= deadline
    for agency, code, period in later:
        where = place(agency)
        if where is None:
            continue
        entry = counts[(*where, code, *((period.label,) if per_period else ()))]
        entry[3] += 1
        entry[4] += (agency, code, period) in filed_by
    names = ([] if level == "nation" else [level]) + ["report_code"] + (["period"] if per_period else [])
    rows = []
    for key in sorted(counts):
        expected, filed, on_time, due_later, due_later_filed, other = counts[key]
        row = dict(zip(names, key, strict=True))
        row.update(
            expected=expected, filed=filed, filed_on_time=on_time, due_later=due_later,
            due_later_filed=due_later_filed, other_filed=other, completeness=rate(filed, expected),
            on_time_rate=rate(on_time, filed),
        )  # fmt: skip
        rows.append(row)
    values: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for (code, agency, label), (report, _) in latest.items():
        where = place(agency)
        if where is None:
            continue
        for indicator in report.indicators:
            values[((where[0] if where else ""), code, label, indicator.code, indicator.unit)].append(
                indicator.value
            )
    indicators = []
    for key in sorted(values, key=lambda k: tuple(str(x) for x in k)):
        numbers = values[key]
        total = math.fsum(numbers)
        item: dict[str, Any] = {level: key[0]} if level != "nation" else {}
        item.update(report_code=key[1], period=key[2], indicator_code=key[3], unit=key[4], count=len(numbers),
                    sum=total, min=min(numbers), max=max(numbers), mean=total / len(numbers))  # fmt: skip
        indicators.append(item)
    return rows, indicators


# --- unlisted units -----------------------------------------------------------------------------------------


def _agencies_named(event: Event) -> list[tuple[str, str]]:
    named: list[tuple[str, str]] = [(event.meta.source, "")]
    for field in ("sender", "reporting_agency", "processing_agency"):
        ref = getattr(event, field, None)
        if ref is not None:
            named.append((ref.code, ref.name))
    named += [(r.code, r.name) for r in getattr(event, "recipients", ())]
    return named


def agencies_rows(events: Iterable[Event], places: Places) -> list[dict[str, Any]]:
    """The agencies view: every unit named by an event that the catalog does not list."""
    units: dict[str, dict[str, Any]] = {}
    for event in events:
        at = ms(event.meta.occurred_at)
        for code, name in _agencies_named(event):
            if code in places.catalog:
                continue
            unit = units.setdefault(code, {"name": "", "first": at, "last": at})
            unit["name"] = max(unit["name"], name)
            unit["first"], unit["last"] = min(unit["first"], at), max(unit["last"], at)
    rows = [
        {"agency": code, "name": u["name"], "province": places.province(code),
         "ministry": places.ministry(code), "first_seen_ms": u["first"], "last_seen_ms": u["last"]}
        for code, u in units.items()
    ]  # fmt: skip
    return sorted(rows, key=lambda row: (row["province"], row["agency"]))


# --- scoreboard ---------------------------------------------------------------------------------------------


def scoreboard_rows(
    events: Sequence[Event], places: Places, *, as_of_ms: int | None = None
) -> list[dict[str, Any]]:
    facts = document_facts(events)
    sent: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for fact in facts:
        entry = sent[places.province(fact["agency"])]
        entry[0] += 1
        entry[1] += fact["sent_electronic"]
        entry[2] += fact["sent_electronic_only"]
    dossiers: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(DOSSIER_COUNTERS, 0))
    for dossier in latest_dossiers(events).values():
        fact = dossier_fact(dossier)
        totals = dossiers[places.province(fact["agency"])]
        for counter in DOSSIER_COUNTERS:
            totals[counter] += fact[counter]
    report_rows, _ = reports_rows(events, places, level="province", per_period=False, as_of_ms=as_of_ms)
    reports: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in report_rows:
        entry = reports[row["province"]]
        for i, name in enumerate(("expected", "filed", "filed_on_time", "due_later")):
            entry[i] += row[name]
    rows = []
    keys = [(p.code, p.name) for p in places.catalog.provinces()] + [(NATION, "Cả nước (nation)")]
    for code, name in keys:
        if code == NATION:
            s = [sum(v[i] for v in sent.values()) for i in range(3)]
            d = {c: sum(v[c] for v in dossiers.values()) for c in DOSSIER_COUNTERS}
            r = [sum(v[i] for v in reports.values()) for i in range(4)]
        else:
            s, d, r = (
                sent.get(code, [0, 0, 0]),
                dossiers.get(code, dict.fromkeys(DOSSIER_COUNTERS, 0)),
                reports.get(code, [0, 0, 0, 0]),
            )
        dr = dossier_rates(d)
        rows.append({
            "province": code, "name": name, "documents_sent": s[0], "electronic_rate": rate(s[1], s[0]),
            "electronic_only_rate": rate(s[2], s[0]),
            "dossiers_received": d["received"], "online_rate": dr["online_rate"],
            "full_online_rate": dr["full_online_rate"], "on_time_rate": dr["on_time_rate"],
            "digitised_rate": dr["digitised_rate"], "reports_expected": r[0],
            "report_completeness": rate(r[1], r[0]), "report_on_time_rate": rate(r[2], r[1]),
            "reports_due_later": r[3],
        })  # fmt: skip
    return rows
