"""The reports view: the latest revision of each periodic report, completeness, on-time filing, indicators.

A report is identified by (report code, reporting agency, period). Its content (indicator values) is the
revision with the highest ``(revision, occurred-at, event id)``; it was filed on time if its **first**
filing (the earliest ``filed_at`` of any revision) was no later than the deadline — a late correction
does not make an on-time report late. Both rules are order-free and idempotent.

Read side, per report code and period (or per province/agency/ministry and report and period):

- ``expected``: filings owed for the period according to the report catalog (``bus.reporting``), for the
  periods *in play* — those for which at least one report has been filed anywhere; ``filed`` (every
  report seen), ``filed_expected`` (filed by an agency that owes it), ``filed_on_time``;
- ``completeness`` = filed_expected / expected, ``on_time_rate`` = filed_on_time / filed;
- national aggregates of indicators per report, period and indicator (in ``meta["indicators"]``): count,
  sum (exactly rounded, ``math.fsum``), min, max and mean.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

from bus.events import ReportFiled
from bus.events.codes import PeriodType
from bus.events.periods import Period
from bus.events.raw import RawEvent
from bus.reporting import ReportCatalog, load_report_catalog
from consumers.base import (
    Grain,
    Level,
    Rollup,
    View,
    ViewQuery,
    ViewResult,
    month_bounds,
    ratio,
    raw_events,
    unsupported,
)
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
    from bus.events import Event

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


def report_key(event: dict[str, Any]) -> str:
    """The entity key of a ``ReportFiled`` record (:class:`RawEvent` form): report code, agency and period."""
    return f"{event['report_code']}|{event['reporting_agency']['code']}|{period_label(event)}"


def period_label(event: dict[str, Any]) -> str:
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

    def __init__(self, rollup: Rollup | None = None, catalog: ReportCatalog | None = None) -> None:
        self._rollup = rollup or Rollup()
        self._catalog = catalog or load_report_catalog()

    def migrations(self) -> Sequence[Migration]:
        return MIGRATIONS

    # -- writing ------------------------------------------------------------------------------------------

    def apply(self, txn: StoreTxn, events: Sequence[Event | RawEvent]) -> None:
        best: dict[str, dict[str, Any]] = {}
        best_rank: dict[str, tuple[int, int, str]] = {}
        first_filed: dict[str, int] = {}
        for name, event in raw_events(events):
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
        self, key: str, event: dict[str, Any], rank: tuple[int, int, str], first_filed_ms: int
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

    def _replace_indicators(self, txn: StoreTxn, winners: list[dict[str, Any]]) -> None:
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
        filings = self._filings(reader, query)
        in_play = self._periods_in_play(reader, query)
        rows = _completeness(filings, self._expected(in_play, query, level), level, per_period=grain is None)
        if query.limit is not None:
            rows = rows[: query.limit]
        names = _level_names(level) + ["report_code"] + (["period"] if grain is None else [])
        columns = (
            *names,
            "expected",
            "filed",
            "filed_expected",
            "filed_on_time",
            "completeness",
            "on_time_rate",
        )
        meta = {
            "level": level.value,
            "grain": "period" if grain is None else grain.value,
            "periods_in_play": sorted(p.label for p in in_play),
            "indicators": self._indicators(reader, query, level),
        }
        return ViewResult(self.name, columns, rows, meta)

    def _filings(self, reader: StoreReader, query: ViewQuery) -> list[tuple[Any, ...]]:
        clauses, params = _filters(query)
        return reader.query(
            "SELECT report_code, agency, province, ministry, period_type, period_year, period_number, on_time"
            f" FROM rep_reports {_where(clauses)}",
            params,
        )

    def _periods_in_play(self, reader: StoreReader, query: ViewQuery) -> set[Period]:
        clauses, params = _period_filter(query)
        rows = reader.query(
            f"SELECT DISTINCT period_type, period_year, period_number FROM rep_reports {_where(clauses)}",
            params,
        )
        return {p for p in (_period(*row) for row in rows) if p is not None}

    def _expected(
        self, periods: Iterable[Period], query: ViewQuery, level: Level
    ) -> set[tuple[str, str, Period]]:
        """``(agency, report code, period)`` of each filing owed in ``periods``, under the query's filters."""
        expected: set[tuple[str, str, Period]] = set()
        for period in periods:
            for obligation in self._catalog.expected(period):
                agency = obligation.agency
                province, ministry = self._rollup.of(agency)
                if query.agency is not None and agency != query.agency:
                    continue
                if query.province is not None and province != query.province:
                    continue
                if level is Level.MINISTRY and not ministry:
                    continue
                expected.add((agency, obligation.report.code, period))
        return expected

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
        for row in rows:
            groups[tuple(row[:5])].append(float(row[5]))
        out = []
        for key in sorted(groups, key=lambda k: tuple(str(part) for part in k)):
            values = groups[key]
            total = math.fsum(values)
            item: dict[str, Any] = {level.value: key[0]} if level is not Level.NATION else {}
            item.update(
                report_code=key[1], period=key[2], indicator_code=key[3], unit=key[4], count=len(values),
                sum=total, min=min(values), max=max(values), mean=total / len(values),
            )  # fmt: skip
            out.append(item)
        return out


def _period(period_type: str, year: int, number: int) -> Period | None:
    try:
        return Period(PeriodType(period_type), int(year), int(number))
    except ValueError:
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


def _level_names(level: Level) -> list[str]:
    return [] if level is Level.NATION else [level.value]


def _place(level: Level, agency: str, province: str, ministry: str) -> tuple[str, ...]:
    if level is Level.AGENCY:
        return (agency,)
    if level is Level.PROVINCE:
        return (province,)
    if level is Level.MINISTRY:
        return (ministry,)
    return ()


def _completeness(
    filings: list[tuple[Any, ...]],
    expected: set[tuple[str, str, Period]],
    level: Level,
    *,
    per_period: bool,
) -> list[dict[str, Any]]:
    rollup = Rollup()
    counts: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for agency, code, owed in expected:
        province, ministry = rollup.of(agency)
        key = (*_place(level, agency, province, ministry), code, *((owed.label,) if per_period else ()))
        counts[key][0] += 1
    for code, agency, province, ministry, period_type, year, number, on_time in filings:
        if level is Level.MINISTRY and not ministry:
            continue
        filed_for = _period(period_type, year, number)
        label = filed_for.label if filed_for is not None else f"{year}-UNKNOWN{number}"
        key = (*_place(level, agency, province, ministry), code, *((label,) if per_period else ()))
        entry = counts[key]
        entry[1] += 1
        entry[2] += int(filed_for is not None and (agency, code, filed_for) in expected)
        entry[3] += int(on_time)
    names = _level_names(level) + ["report_code"] + (["period"] if per_period else [])
    rows = []
    for key in sorted(counts):
        expected_n, filed, filed_expected, on_time = counts[key]
        item: dict[str, Any] = dict(zip(names, key, strict=True))
        item.update(
            expected=expected_n, filed=filed, filed_expected=filed_expected, filed_on_time=on_time,
            completeness=ratio(filed_expected, expected_n), on_time_rate=ratio(on_time, filed),
        )  # fmt: skip
        rows.append(item)
    return rows


def province_totals(view: ReportsView, reader: StoreReader, period: str | None) -> dict[str, dict[str, int]]:
    """``province → {expected, filed, filed_expected, filed_on_time}`` over the periods in play."""
    result = view.query(reader, ViewQuery(period=period, level=Level.PROVINCE, grain=Grain.ALL))
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_TOTALS, 0))
    for row in result.rows:
        for name in _TOTALS:
            totals[row["province"]][name] += row[name]
    return dict(totals)


_TOTALS = ("expected", "filed", "filed_expected", "filed_on_time")
