"""The reports view: the latest revision of each periodic report, completeness, on-time filing, indicators.

A report is identified by (report code, reporting agency, period). Its content (indicator values) is the
revision with the highest ``(revision, occurred-at, event id)``; it was filed on time if its **first**
filing (the earliest ``filed_at`` of any revision) was no later than the deadline — a late correction
does not make an on-time report late. Both rules are order-free and idempotent.

Read side, per report code and period (or per province/agency/ministry and report and period), with the
definitions of ``bus/kpis.py``: the window runs from the earliest event time the views have applied
(``consumers.span``; bounded by ``views.obligations_since`` and ``views.obligations_max_days``) to as-of
(the query's, else the latest event time applied);

- ``expected``: obligations (agency, report, period) of the report catalog (``bus.reporting``) whose
  deadline falls in the window; ``filed``: of those, with a first filing at or before as-of;
  ``filed_on_time``: first filed at or before the catalog's deadline;
- ``due_later`` (periods begun by as-of, due after it) and ``due_later_filed``: counted in no rate;
  ``other_filed``: filings that match no obligation of the window (not owed, or due before it);
- ``completeness`` = filed / expected, ``on_time_rate`` = filed_on_time / filed;
- national aggregates of indicators per report, period and indicator (in ``meta["indicators"]``): count,
  sum (exactly rounded, ``math.fsum``), min, max and mean.

The counting of obligations against filings is in :mod:`consumers.report_completeness`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

from bus.cloudevents import format_time
from bus.events import ReportFiled
from bus.events.codes import PeriodType
from bus.events.periods import Period
from bus.reporting import Due, ReportCatalog, load_report_catalog
from bus.types import AgencyCode
from consumers import span, units
from consumers.base import (
    Grain,
    Level,
    Rollup,
    View,
    ViewQuery,
    ViewResult,
    month_bounds,
    to_ms,
    unsupported,
)
from consumers.report_completeness import COUNTS, RATES, Owing, completeness, level_names, overlaps
from consumers.store.base import (
    Migration,
    StoreReader,
    StoreTxn,
    copy_sql,
    create_table,
    placeholders,
    select_in,
    upsert_sql,
)

if TYPE_CHECKING:
    from bus.events.record import EventRecord

_TEXT = "TEXT NOT NULL"
_STATE_TYPES = {
    "report_key": _TEXT,
    "report_code": _TEXT,
    "agency": _TEXT,
    "province": _TEXT,
    "ministry": _TEXT,
    "period_type": _TEXT,
    "period_year": "INTEGER NOT NULL",
    "period_number": "INTEGER NOT NULL",
    "period_label": _TEXT,
    "period_start": "TEXT",
    "period_end": "TEXT",
    "revision": "INTEGER NOT NULL",
    "rev_occurred_ms": "BIGINT NOT NULL",
    "rev_event_id": _TEXT,
    "report_id": _TEXT,
    "first_filed_ms": "BIGINT NOT NULL",
    "deadline_ms": "BIGINT NOT NULL",
    "on_time": "INTEGER NOT NULL",
}
_STATE_COLUMNS = tuple(_STATE_TYPES)
_INDICATOR_TYPES = {
    "report_key": _TEXT,
    "indicator_code": _TEXT,
    "report_code": _TEXT,
    "period_label": _TEXT,
    "agency": _TEXT,
    "province": _TEXT,
    "ministry": _TEXT,
    "value": "DOUBLE PRECISION NOT NULL",
    "unit": _TEXT,
}
MIGRATIONS = (
    Migration(
        "reports",
        1,
        "latest revision per report, agency and period; its indicator values",
        (
            create_table("rep_reports", _STATE_TYPES, ("report_key",)),
            create_table("rep_indicators", _INDICATOR_TYPES, ("report_key", "indicator_code")),
        ),
    ),
    span.MIGRATION,
    units.MIGRATION,
)
_UPSERT_STATE = upsert_sql("rep_reports", _STATE_COLUMNS, ("report_key",))
_INSERT_INDICATOR = (
    f"INSERT INTO rep_indicators ({', '.join(_INDICATOR_TYPES)})"
    f" VALUES ({placeholders(len(_INDICATOR_TYPES))})"
)
_SET_FIRST_FILING = (
    "UPDATE rep_reports SET first_filed_ms = ?, on_time = CASE WHEN ? <= deadline_ms THEN 1 ELSE 0 END"
    " WHERE report_key = ?"
)


@dataclass(frozen=True, slots=True)
class _Stored:
    rank: tuple[int, int, str]
    first_filed_ms: int


_REPORT = ReportFiled.AVRO_NAME


def report_key(event: Mapping[str, Any]) -> str:
    """The entity key of a ``ReportFiled`` record (``EventRecord.avro``): report code, agency and period."""
    return f"{event['report_code']}|{event['reporting_agency']['code']}|{period_label(event)}"


def period_label(event: Mapping[str, Any]) -> str:
    """``2025-Q3``; periods of a type this reader does not know get ``<year>-UNKNOWN<number>``."""
    return _period_info(event["period_type"], event["period_year"], event["period_number"])[0]


@lru_cache(maxsize=4096)
def _period_info(kind: str, year: int, number: int) -> tuple[str, str | None, str | None]:
    """Label, first and last day (ISO) of a period; no days for a type this reader does not know."""
    if kind == PeriodType.UNKNOWN.value:
        return f"{year}-UNKNOWN{number}", None, None
    period = Period(PeriodType(kind), year, number)
    return period.label, period.start.isoformat(), period.end.isoformat()


class ReportsView(View):
    """Periodic reports: latest revision, completeness against the catalog, on-time filing, indicators."""

    name: ClassVar[str] = "reports"
    topic: ClassVar[str | None] = "lgsp.reports"
    partition_local: ClassVar[bool] = False  # the entity is (code, agency, period), the key the report id

    def __init__(
        self,
        rollup: Rollup | None = None,
        catalog: ReportCatalog | None = None,
        *,
        since: date | None = None,
        max_days: int | None = None,
    ) -> None:
        self._rollup = rollup or Rollup()
        self._catalog = catalog or load_report_catalog()
        self._since_ms = None if since is None else to_ms(datetime.combine(since, time(), UTC))
        self._max_ms = None if max_days is None else max_days * 86_400_000

    def migrations(self) -> Sequence[Migration]:
        return MIGRATIONS

    # -- writing ------------------------------------------------------------------------------------------

    def apply(self, txn: StoreTxn, events: Sequence[EventRecord]) -> None:
        best: dict[str, Mapping[str, Any]] = {}
        best_rank: dict[str, tuple[int, int, str]] = {}
        first_filed: dict[str, int] = {}
        span.record(txn, self.name, events)
        units.record(txn, self._rollup, events)
        for name, event in events:
            if name != _REPORT:
                continue
            key = report_key(event)
            meta = event["meta"]
            rank = (event["revision"], meta["occurred_at"], meta["event_id"])
            if key not in best_rank or rank > best_rank[key]:
                best[key] = event
                best_rank[key] = rank
            filed = event["filed_at"]
            first_filed[key] = min(filed, first_filed.get(key, filed))
        if not best:
            return
        stored = self._load(txn, list(best))
        rows: list[tuple[Any, ...]] = []
        earlier_filing: list[tuple[int, int, str]] = []
        replaced: list[str] = []
        for key, event in best.items():
            old = stored.get(key)
            first = first_filed[key] if old is None else min(first_filed[key], old.first_filed_ms)
            if old is None or best_rank[key] > old.rank:
                replaced.append(key)
                rows.append(self._row(key, event, best_rank[key], first))
            elif first < old.first_filed_ms:  # an older revision arrived late: only the first filing moves
                earlier_filing.append((first, first, key))
        txn.executemany(_UPSERT_STATE, rows)
        txn.executemany(_SET_FIRST_FILING, earlier_filing)
        self._replace_indicators(txn, [best[key] for key in replaced])

    def _load(self, txn: StoreTxn, keys: list[str]) -> dict[str, _Stored]:
        rows = select_in(
            txn, "SELECT report_key, revision, rev_occurred_ms, rev_event_id, first_filed_ms FROM rep_reports"
            " WHERE report_key", keys,
        )  # fmt: skip
        return {
            key: _Stored((rev, occurred, event_id), first) for key, rev, occurred, event_id, first in rows
        }

    def _row(
        self, key: str, event: Mapping[str, Any], rank: tuple[int, int, str], first_filed_ms: int
    ) -> tuple[Any, ...]:
        agency = event["reporting_agency"]["code"]
        province, ministry = self._rollup.of(agency)
        kind, year, number = event["period_type"], event["period_year"], event["period_number"]
        label, start, end = _period_info(kind, year, number)
        deadline = event["deadline_at"]
        return (
            key, event["report_code"], agency, province, ministry, kind, year, number, label, start, end,
            rank[0], rank[1], rank[2], event["report_id"], first_filed_ms, deadline,
            int(first_filed_ms <= deadline),
        )  # fmt: skip

    def _replace_indicators(self, txn: StoreTxn, winners: list[Mapping[str, Any]]) -> None:
        if not winners:
            return
        keys = [report_key(event) for event in winners]
        for start in range(0, len(keys), 900):
            part = keys[start : start + 900]
            txn.execute(f"DELETE FROM rep_indicators WHERE report_key IN ({placeholders(len(part))})", part)
        rows = []
        for key, event in zip(keys, winners, strict=True):
            agency = event["reporting_agency"]["code"]
            province, ministry = self._rollup.of(agency)
            label = period_label(event)
            for indicator in event["indicators"]:
                place = (agency, province, ministry)
                rows.append(
                    (key, indicator["code"], event["report_code"], label, *place, indicator["value"],
                     indicator["unit"])
                )  # fmt: skip
        txn.executemany(_INSERT_INDICATOR, rows)

    def merge(self, txn: StoreTxn, source: str) -> None:
        # A report's entity (code, agency, period) is not its Kafka key (the report id): a rebuild reads the
        # whole reports topic in one shard, so these rows come from one shard only.
        span.merge(txn, source)
        units.merge(txn, source)
        txn.execute(copy_sql(source, "rep_reports", _STATE_COLUMNS, ("report_key",)))
        txn.execute(
            copy_sql(source, "rep_indicators", tuple(_INDICATOR_TYPES), ("report_key", "indicator_code"))
        )

    # -- reading ------------------------------------------------------------------------------------------

    def query(self, reader: StoreReader, query: ViewQuery) -> ViewResult:
        level = query.level or Level.NATION
        if level is Level.PROCEDURE:
            raise unsupported(self.name, "level", level.value)
        grain = query.grain
        if grain is not None and grain is not Grain.ALL:
            raise unsupported(self.name, "grain", grain.value)
        window = self.window(reader, query)
        due, later = self._obligations(window, query, level)
        rows = completeness(self._filings(reader, query), due, later, window, level, per_period=grain is None)
        if query.limit is not None:
            rows = rows[: query.limit]
        names = level_names(level) + ["report_code"] + (["period"] if grain is None else [])
        meta = {
            "level": level.value,
            "grain": "period" if grain is None else grain.value,
            "since": None if window is None else _iso(window[0]),
            "as_of": None if window is None else _iso(window[1]),
            "indicators": self._indicators(reader, query, level),
        }
        return ViewResult(self.name, (*names, *COUNTS, *RATES), rows, meta)

    def window(self, reader: StoreReader, query: ViewQuery) -> tuple[int, int] | None:
        """``(since, as_of)`` in epoch ms: the earliest event time applied, and ``query.as_of`` or else the
        latest event time applied; None before the views have applied any event.

        ``since`` is never before ``views.obligations_since`` nor more than ``views.obligations_max_days``
        before as-of: one event with a very old time (1970 is a valid event time) would otherwise make a
        half-century of reports due, and every read enumerate them."""
        applied = span.applied(reader)
        if applied is None:
            return None
        first, last = applied
        as_of = to_ms(query.as_of) if query.as_of is not None else last
        floors = [first, *(f for f in (self._since_ms,) if f is not None)]
        if self._max_ms is not None:
            floors.append(as_of - self._max_ms)
        return max(floors), as_of

    def _filings(self, reader: StoreReader, query: ViewQuery) -> list[tuple[Any, ...]]:
        clauses, params = _filters(query)
        return reader.query(
            "SELECT report_code, agency, province, ministry, period_type, period_year, period_number,"
            f" first_filed_ms FROM rep_reports {_where(clauses)}",
            params,
        )

    def _obligations(
        self, window: tuple[int, int] | None, query: ViewQuery, level: Level
    ) -> tuple[list[Owing], list[Owing]]:
        """What fell due in the window and what falls due later, each report and period with its deadline and
        the owing agencies under the query's filters."""
        if window is None:
            return [], []
        since, as_of = (datetime.fromtimestamp(ms / 1000, UTC) for ms in window)
        kept: dict[tuple[AgencyCode, ...], tuple[str, ...]] = {}  # owers -> those the filters keep

        def keep(owers: tuple[AgencyCode, ...]) -> tuple[str, ...]:
            found = kept.get(owers)
            if found is None:
                found = kept[owers] = tuple(a for a in owers if self._kept(a, query, level))
            return found

        def owing(batch: list[Due]) -> list[Owing]:
            return [
                Owing(due.report.code, due.period.label, to_ms(due.deadline), keep(due.owers))
                for due in batch
                if query.period is None or overlaps(due.period, query.period)
            ]

        return owing(self._catalog.due_between(since, as_of)), owing(self._catalog.due_later(since, as_of))

    def _kept(self, agency: str, query: ViewQuery, level: Level) -> bool:
        province, ministry = self._rollup.of(agency)
        return (
            (query.agency is None or agency == query.agency)
            and (query.province is None or province == query.province)
            and (level is not Level.MINISTRY or bool(ministry))
        )

    def _indicators(self, reader: StoreReader, query: ViewQuery, level: Level) -> list[dict[str, Any]]:
        clauses, params = _filters(query, table="r")
        places = {Level.AGENCY: "i.agency", Level.PROVINCE: "i.province", Level.MINISTRY: "i.ministry"}
        place = places.get(level, "''")
        if level is Level.MINISTRY:
            clauses.append("i.ministry <> ''")
        rows = reader.query(
            f"SELECT {place}, i.report_code, i.period_label, i.indicator_code, i.unit, i.value"
            f" FROM rep_indicators i JOIN rep_reports r ON r.report_key = i.report_key {_where(clauses)}",
            params,
        )
        groups: dict[tuple[Any, ...], list[float]] = defaultdict(list)
        for *where, value in rows:  # the place, report, period, indicator and unit of the SELECT; its value
            groups[tuple(where)].append(float(value))
        out = []
        for key in sorted(groups, key=lambda k: tuple(str(part) for part in k)):
            values = groups[key]
            total = _sum(values)
            item: dict[str, Any] = {level.value: key[0]} if level is not Level.NATION else {}
            item.update(
                report_code=key[1], period=key[2], indicator_code=key[3], unit=key[4], count=len(values),
                sum=total, min=min(values), max=max(values),
                mean=None if total is None else total / len(values),
            )  # fmt: skip
            out.append(item)
        return out


def _iso(ms: int) -> str:
    return format_time(datetime.fromtimestamp(ms / 1000, UTC))


def _sum(values: list[float]) -> float | None:
    """``math.fsum``, or None if it overflows. The catalog's indicator ranges keep stored values far from
    that (out-of-range filings are dead-lettered); this guards a store filled before they existed, since an
    OverflowError here answered 500 on every endpoint that reads the reports."""
    try:
        return math.fsum(values)
    except OverflowError:
        return None


def _where(clauses: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


def _period_filter(query: ViewQuery, table: str = "") -> tuple[list[str], list[Any]]:
    prefix = f"{table}." if table else ""
    if query.period is None:
        return [], []
    first, last = month_bounds(query.period)
    return [f"{prefix}period_start <= ?", f"{prefix}period_end >= ?"], [last, first]


def _filters(query: ViewQuery, table: str = "") -> tuple[list[str], list[Any]]:
    prefix = f"{table}." if table else ""
    clauses, params = _period_filter(query, table)
    if query.province is not None:
        clauses.append(f"{prefix}province = ?")
        params.append(query.province)
    if query.agency is not None:
        clauses.append(f"{prefix}agency = ?")
        params.append(query.agency)
    return clauses, params


TOTALS = ("expected", "filed", "filed_on_time", "due_later")
"""The counts the scoreboard reads."""


def province_totals(view: ReportsView, reader: StoreReader, query: ViewQuery) -> dict[str, dict[str, int]]:
    """``province → {expected, filed, filed_on_time, due_later}`` (``""``: central) for the scoreboard."""
    result = view.query(
        reader, ViewQuery(period=query.period, as_of=query.as_of, level=Level.PROVINCE, grain=Grain.ALL)
    )
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TOTALS, 0))
    for row in result.rows:
        for name in TOTALS:
            totals[row["province"]][name] += row[name]
    return dict(totals)
