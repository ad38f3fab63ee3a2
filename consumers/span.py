"""The stretch of event time the views have applied: earliest and latest occurred-at, per view.

Report obligations are counted between the earliest event time applied and the as-of time (by default the
latest event time applied), so the views answer for the time they have seen, not for the wall clock: a
replay of July in December shows July's obligations, and a store that starts mid-year does not count the
reports due before its first event as missing.

Both bounds are merged by min/max, so duplicates, late events and batch boundaries never move them wrongly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from consumers.store.base import Migration, StoreReader, StoreTxn, create_table

if TYPE_CHECKING:
    from bus.events.record import EventRecord

MIGRATION = Migration(
    "span",
    1,
    "earliest and latest event time (occurred-at) applied, per view",
    (
        create_table(
            "view_span",
            {"view_name": "TEXT NOT NULL", "first_ms": "BIGINT NOT NULL", "last_ms": "BIGINT NOT NULL"},
            ("view_name",),
        ),
    ),
)
_MERGE = (
    " ON CONFLICT (view_name) DO UPDATE SET"
    " first_ms = CASE WHEN excluded.first_ms < view_span.first_ms THEN excluded.first_ms"
    " ELSE view_span.first_ms END,"
    " last_ms = CASE WHEN excluded.last_ms > view_span.last_ms THEN excluded.last_ms"
    " ELSE view_span.last_ms END"
)  # CASE rather than MIN/MAX or LEAST/GREATEST: the same SQL on SQLite and PostgreSQL
_UPSERT = "INSERT INTO view_span (view_name, first_ms, last_ms) VALUES (?, ?, ?)" + _MERGE


def record(txn: StoreTxn, view: str, events: Sequence[EventRecord]) -> None:
    """Widen ``view``'s span to cover the occurred-at times of ``events``."""
    if not events:
        return
    times = [event.occurred_ms for event in events]
    txn.execute(_UPSERT, (view, min(times), max(times)))


def merge(txn: StoreTxn, source: str) -> None:
    """Widen the spans with those of rebuild shard ``source``."""
    txn.execute(
        f"INSERT INTO view_span (view_name, first_ms, last_ms) SELECT view_name, first_ms, last_ms"
        f" FROM {source}.view_span WHERE true" + _MERGE
    )


def applied(reader: StoreReader) -> tuple[int, int] | None:
    """``(earliest, latest)`` event time applied by any view, epoch ms; None before the first event."""
    rows = reader.query("SELECT MIN(first_ms), MAX(last_ms) FROM view_span")
    if not rows or rows[0][0] is None:
        return None
    return int(rows[0][0]), int(rows[0][1])
