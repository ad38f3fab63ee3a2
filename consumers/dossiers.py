"""The dossiers view: the latest state of every dossier, and monthly counts per agency and procedure.

The portal sends a full snapshot of a dossier on every change, with a ``version`` that grows. The state of a
dossier is the snapshot with the highest ``(version, occurred-at, event id)``: duplicates and late
(older) snapshots never move it backwards, and the choice does not depend on arrival order.

Counts per processing agency, procedure and month of receipt (Vietnamese calendar), rolled up to province
(of the agency; ``province_code`` of the snapshot), ministry and nation:

- ``registered`` (status 1) and ``not_accepted`` (status 3): dossiers not received (the KPI definitions,
  ``bus/kpis.py``); ``received``: every other dossier; of the received, by channel
  (``channel_counter``/``_online``/``_postal``) and by the procedure's online level
  (``level_full``/``_partial``/``_none``); ``full_online``: received online for a full-process online
  procedure; ``digitised``;
- ``resolved`` (status 9 resolved or 10 result returned); ``resolved_without_due`` (of those, no due time:
  left out of the on-time rate); ``resolved_on_time`` (finished at ≤ the due time in force, i.e. the latest
  snapshot's ``due_at``); ``open`` (not resolved, not accepted, withdrawn or stopped) and ``overdue`` (open
  with a due time before ``as_of``, counted when read);
- rates: ``online_rate`` = channel_online / received, ``full_online_rate`` = full_online / received,
  ``on_time_rate`` = resolved_on_time / (resolved - resolved_without_due), ``digitised_rate`` = digitised /
  received.

Monthly counts are the sum of each dossier's contribution, kept up to date by subtracting a dossier's old
contribution and adding its new one in the same transaction as the new state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from bus.events import DossierSynced
from bus.events.codes import NOT_RECEIVED, DossierStatus, OnlineLevel, SubmissionChannel
from consumers import span, units
from consumers.base import (
    CENTRAL,
    Grain,
    Level,
    Rollup,
    RollupColumn,
    View,
    ViewQuery,
    ViewResult,
    level_columns,
    local_day,
    local_month,
    place_filters,
    ratio,
    unsupported,
    where,
)
from consumers.store.base import (
    Migration,
    StoreReader,
    StoreTxn,
    copy_sql,
    create_table,
    reread_topic,
    select_in,
    sums_by,
    upsert_sql,
)

if TYPE_CHECKING:
    from bus.events.record import EventRecord

COUNTERS = (
    "registered",
    "not_accepted",
    "received",
    "channel_counter",
    "channel_online",
    "channel_postal",
    "level_full",
    "level_partial",
    "level_none",
    "full_online",
    "digitised",
    "resolved",
    "resolved_without_due",
    "resolved_on_time",
    "open",
)
_ADDED_IN_V2 = ("registered", "not_accepted", "resolved_without_due")
_RESOLVED = frozenset({DossierStatus.RESOLVED, DossierStatus.RETURNED})
_CLOSED = frozenset(
    {
        DossierStatus.NOT_ACCEPTED,
        DossierStatus.WITHDRAWN,
        DossierStatus.STOPPED,
        DossierStatus.RESOLVED,
        DossierStatus.RETURNED,
    }
)
_TEXT = "TEXT NOT NULL"
_STATE_TYPES = {
    "dossier_code": _TEXT,
    "version": "BIGINT NOT NULL",
    "occurred_ms": "BIGINT NOT NULL",
    "event_id": _TEXT,
    "agency": _TEXT,
    "province": _TEXT,
    "ministry": _TEXT,
    "procedure_code": _TEXT,
    "month": _TEXT,
    "channel": _TEXT,
    "online_level": _TEXT,
    "status": _TEXT,
    "received_ms": "BIGINT NOT NULL",
    "due_ms": "BIGINT",
    "finished_ms": "BIGINT",
    "digitised": "INTEGER NOT NULL",
    "is_open": "INTEGER NOT NULL",
}
_STATE_COLUMNS = tuple(_STATE_TYPES)

MIGRATIONS = (
    Migration(
        "dossiers",
        1,
        "latest snapshot per dossier, monthly counts per agency and procedure",
        (
            create_table("dos_dossiers", _STATE_TYPES, ("dossier_code",)),
            "CREATE INDEX dos_dossiers_open_due ON dos_dossiers (due_ms) WHERE is_open = 1",
            create_table(
                "dos_monthly",
                {
                    "agency": _TEXT,
                    "procedure_code": _TEXT,
                    "month": _TEXT,
                    "province": _TEXT,
                    "ministry": _TEXT,
                }
                | dict.fromkeys((c for c in COUNTERS if c not in _ADDED_IN_V2), "BIGINT NOT NULL"),
                ("agency", "procedure_code", "month"),
            ),
            "CREATE INDEX dos_monthly_month ON dos_monthly (month)",
        ),
    ),
    Migration(
        "dossiers",
        2,
        "received excludes registered and not-accepted dossiers; on-time leaves out dossiers without a due"
        " date: monthly counts rebuilt from the topic",
        (
            "DELETE FROM dos_monthly",
            "DELETE FROM dos_dossiers",
            *(
                f"ALTER TABLE dos_monthly ADD COLUMN {name} BIGINT NOT NULL DEFAULT 0"
                for name in _ADDED_IN_V2
            ),
            reread_topic("lgsp.dossiers"),
        ),
    ),
    span.MIGRATION,
    units.MIGRATION,
)
_MONTHLY_COLUMNS = ("agency", "procedure_code", "month", "province", "ministry", *COUNTERS)
_MONTHLY_KEY = ("agency", "procedure_code", "month")
_UPSERT_STATE = upsert_sql("dos_dossiers", _STATE_COLUMNS, ("dossier_code",))
_UPSERT_MONTHLY = upsert_sql("dos_monthly", _MONTHLY_COLUMNS, _MONTHLY_KEY, add=COUNTERS)


@dataclass(frozen=True, slots=True)
class _State:
    """The winning snapshot of one dossier, reduced to what the view needs."""

    version: int
    occurred_ms: int
    event_id: str
    agency: str
    province: str
    procedure_code: str
    channel: str
    online_level: str
    status: str
    received_ms: int
    due_ms: int | None
    finished_ms: int | None
    digitised: int
    """A truth value: the record's bool, or the stored 0/1 as read back."""

    @property
    def rank(self) -> tuple[int, int, str]:
        return (self.version, self.occurred_ms, self.event_id)

    @property
    def is_open(self) -> bool:
        return self.status not in _CLOSED

    def contribution(self) -> tuple[tuple[str, str, str], tuple[int, ...]]:
        """``((agency, procedure, month), counters)`` this dossier adds to ``dos_monthly``."""
        received = self.status not in NOT_RECEIVED
        resolved = self.status in _RESOLVED
        no_due = resolved and self.due_ms is None
        on_time = (
            resolved
            and self.due_ms is not None
            and self.finished_ms is not None
            and self.finished_ms <= self.due_ms
        )
        online = received and self.channel == SubmissionChannel.ONLINE
        level = self.online_level if received else None
        vector = (
            int(self.status == DossierStatus.REGISTERED),
            int(self.status == DossierStatus.NOT_ACCEPTED),
            int(received),
            int(received and self.channel == SubmissionChannel.COUNTER),
            int(online),
            int(received and self.channel == SubmissionChannel.POSTAL),
            int(level == OnlineLevel.FULL),
            int(level == OnlineLevel.PARTIAL),
            int(level == OnlineLevel.NONE),
            int(online and level == OnlineLevel.FULL),
            int(received and self.digitised),
            int(resolved),
            int(no_due),
            int(on_time),
            int(self.is_open),
        )
        return (self.agency, self.procedure_code, local_month(self.received_ms)), vector


_STATE_FIELDS = tuple(field.name for field in fields(_State))
"""The columns of ``dos_dossiers`` a :class:`_State` is read from: its own fields, by name, in their order
(each field is named after its column; one that is not a column fails the SELECT loudly)."""
_SELECT_STATES = f"SELECT dossier_code, {', '.join(_STATE_FIELDS)} FROM dos_dossiers"
"""The stored states: the dossier code, then :data:`_STATE_FIELDS`."""


def _state_from_row(row: Sequence[Any]) -> _State:
    """The state of a row of :data:`_SELECT_STATES`. Positional, but both the SELECT and the constructor
    follow the dataclass's field order, so adding a field or a column cannot shift values (and it is cheaper
    than naming each value: a rebuild loads every stored state it updates)."""
    return _State(*row[1:])


_DOSSIER = DossierSynced.AVRO_NAME


def _rank(event: Mapping[str, Any]) -> tuple[int, int, str]:
    meta = event["meta"]
    return (event["version"], meta["occurred_at"], meta["event_id"])


def _state_of(event: Mapping[str, Any]) -> _State:
    """The state a ``DossierSynced`` record (``EventRecord.avro``) stands for."""
    meta = event["meta"]
    return _State(
        version=event["version"],
        occurred_ms=meta["occurred_at"],
        event_id=meta["event_id"],
        agency=event["processing_agency"]["code"],
        province=event["province_code"] or CENTRAL,
        procedure_code=event["procedure_code"],
        channel=event["channel"],
        online_level=event["online_level"],
        status=event["status"],
        received_ms=event["received_at"],
        due_ms=event["due_at"],
        finished_ms=event["finished_at"],
        digitised=event["digitised"],
    )


class DossiersView(View):
    """Administrative-procedure dossiers: latest state and monthly counts."""

    name: ClassVar[str] = "dossiers"
    topic: ClassVar[str | None] = "lgsp.dossiers"

    def __init__(self, rollup: Rollup | None = None) -> None:
        self._rollup = rollup or Rollup()

    def migrations(self) -> Sequence[Migration]:
        return MIGRATIONS

    # -- writing ------------------------------------------------------------------------------------------

    def apply(self, txn: StoreTxn, events: Sequence[EventRecord]) -> None:
        best: dict[str, Mapping[str, Any]] = {}
        best_rank: dict[str, tuple[int, int, str]] = {}
        span.record(txn, self.name, events)
        units.record(txn, self._rollup, events)
        for name, event in events:
            if name != _DOSSIER:
                continue
            rank = _rank(event)
            code = event["dossier_code"]
            if code not in best_rank or rank > best_rank[code]:
                best[code] = event
                best_rank[code] = rank
        if not best:
            return
        stored = self._load(txn, list(best))
        deltas: dict[tuple[str, str, str], list[int]] = {}
        rows: list[tuple[Any, ...]] = []
        for code, event in best.items():
            old = stored.get(code)
            if old is not None and old.rank >= best_rank[code]:
                continue
            new = _state_of(event)
            if old is not None:
                _add_delta(deltas, old.contribution(), -1)
            _add_delta(deltas, new.contribution(), 1)
            rows.append(self._row(code, new))
        txn.executemany(_UPSERT_STATE, rows)
        txn.executemany(
            _UPSERT_MONTHLY,
            [
                (agency, procedure, month, *self._rollup.of(agency), *vector)
                for (agency, procedure, month), vector in deltas.items()
                if any(vector)
            ],
        )

    def _load(self, txn: StoreTxn, codes: list[str]) -> dict[str, _State]:
        rows = select_in(txn, f"{_SELECT_STATES} WHERE dossier_code", codes)
        return {str(row[0]): _state_from_row(row) for row in rows}

    def _row(self, code: str, state: _State) -> tuple[Any, ...]:
        _, ministry = self._rollup.of(state.agency)
        return (
            code, state.version, state.occurred_ms, state.event_id, state.agency, state.province, ministry,
            state.procedure_code, local_month(state.received_ms), state.channel, state.online_level,
            state.status, state.received_ms, state.due_ms, state.finished_ms, int(state.digitised),
            int(state.is_open),
        )  # fmt: skip

    def merge(self, txn: StoreTxn, source: str) -> None:
        span.merge(txn, source)
        units.merge(txn, source)
        txn.execute(copy_sql(source, "dos_dossiers", _STATE_COLUMNS, ("dossier_code",)))
        txn.execute(copy_sql(source, "dos_monthly", _MONTHLY_COLUMNS, _MONTHLY_KEY, add=COUNTERS))

    # -- reading ------------------------------------------------------------------------------------------

    def query(self, reader: StoreReader, query: ViewQuery) -> ViewResult:
        level = query.level or Level.PROVINCE
        grain = query.grain or Grain.MONTH
        if grain is Grain.DAY:
            raise unsupported(self.name, "grain", grain.value)
        groups = level_columns(level) + ([("month", "month")] if grain is Grain.MONTH else [])
        clauses, params = place_filters(query, level)
        if query.period is not None:
            clauses.append("month = ?")
            params.append(query.period)
        names = [name for name, _ in groups]
        select = "".join(f"{expr} AS {name}, " for name, expr in groups)
        group_by = f"GROUP BY {', '.join(expr for _, expr in groups)}" if groups else ""
        sums = ", ".join(f"SUM({c})" for c in COUNTERS)
        rows = reader.query(
            f"SELECT {select}{sums} FROM dos_monthly {where(clauses)} {group_by}"
            f" HAVING SUM(received + registered + not_accepted) > 0"
            f" ORDER BY {', '.join(names) or 'SUM(received)'}",
            params,
        )
        overdue_rows = reader.query(
            f"SELECT {select}COUNT(*) FROM dos_dossiers"
            f" {where([*clauses, 'is_open = 1', 'due_ms < ?'])} {group_by}",
            [*params, query.as_of_ms()],
        )
        overdue = {tuple(row[: len(names)]): int(row[-1]) for row in overdue_rows}
        result = []
        for row in rows:
            key = tuple(row[: len(names)])
            counts = dict(zip(COUNTERS, (int(v) for v in row[len(names) :]), strict=True))
            item: dict[str, Any] = dict(zip(names, key, strict=True))
            item.update(counts)
            item["overdue"] = overdue.get(key, 0)
            item.update(rates(counts))
            result.append(item)
        if query.limit is not None:
            result = result[: query.limit]
        columns = (*names, *COUNTERS, "overdue", *RATES)
        return ViewResult(self.name, columns, result, {"level": level.value, "grain": grain.value})

    def latest(self, reader: StoreReader, dossier_code: str) -> dict[str, Any] | None:
        """The current state of one dossier, or None if the view has never seen it."""
        rows = reader.query(
            f"SELECT {', '.join(_STATE_COLUMNS)} FROM dos_dossiers WHERE dossier_code = ?", [dossier_code]
        )
        return dict(zip(_STATE_COLUMNS, rows[0], strict=True)) if rows else None


RATES = ("online_rate", "full_online_rate", "on_time_rate", "digitised_rate")


def rates(counts: dict[str, int]) -> dict[str, float | None]:
    """The four dossier rates from the summed counters."""
    return {
        "online_rate": ratio(counts["channel_online"], counts["received"]),
        "full_online_rate": ratio(counts["full_online"], counts["received"]),
        "on_time_rate": ratio(
            counts["resolved_on_time"], counts["resolved"] - counts["resolved_without_due"]
        ),
        "digitised_rate": ratio(counts["digitised"], counts["received"]),
    }


def _add_delta(
    deltas: dict[tuple[str, str, str], list[int]],
    contribution: tuple[tuple[str, str, str], tuple[int, ...]],
    sign: int,
) -> None:
    key, vector = contribution
    current = deltas.get(key)
    if current is None:
        current = deltas[key] = [0] * len(COUNTERS)
    for index, value in enumerate(vector):
        current[index] += sign * value


def province_totals(
    reader: StoreReader, period: str | None, by: RollupColumn = "province"
) -> dict[str, dict[str, int]]:
    """``province → summed counters`` (``""``: central agencies), for the scoreboard; ``by="ministry"``: per
    ministry code (``""``: the provinces' agencies), for the silent-agency gauges."""
    condition, params = ("WHERE month = ?", [period]) if period else ("", [])
    rows = sums_by(reader, "dos_monthly", (by,), COUNTERS, condition, params)
    return {place: counts for (place,), counts in rows}


def daily_totals(reader: StoreReader, province: str | None = None) -> dict[tuple[str, str], dict[str, int]]:
    """``(province, day of receipt) → summed counters``, from the dossiers' latest states (for the page's
    daily trends; the monthly table has no day). Exact under replays like the state it reads; one pass over
    it."""
    condition, params = ("WHERE province = ?", [province]) if province is not None else ("", [])
    rows = reader.query(f"{_SELECT_STATES} {condition}", params)
    totals: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        state = _state_from_row(row)
        _, vector = state.contribution()
        key = (state.province, local_day(state.received_ms))
        current = totals.setdefault(key, [0] * len(COUNTERS))
        for index, value in enumerate(vector):
            current[index] += value
    return {key: dict(zip(COUNTERS, counts, strict=True)) for key, counts in totals.items()}
