"""The documents view: what each agency sent on each day, and what became of it.

Rows are **cohorts of sending**: per sender agency and (Vietnamese) day of sending —

- ``sent`` (documents with a NEW sending, business type 0: see ``bus/kpis.py``), ``sent_electronic``
  (electronic only, or electronic with a paper copy), ``sent_electronic_only`` (no paper copy), ``signed``
  (digitally), ``revoked`` (the sender later sent a revocation, business type 1);
- ``deliveries``: one per (document, recipient) named in the header; of these, ``arrived`` (the recipient
  reported 01 arrived or 03 accepted: each document counts once per recipient), ``finished`` (06),
  ``rejected`` (02), ``recalled`` (13 recalled or 15 recall accepted); statuses from agencies that are not
  recipients of the document are kept but not counted;
- delivery latency percentiles (sent → the recipient's first arrival status; nearest rank; a status time
  before the sending time counts as 0) and ``not_arrived_after_sla``: deliveries still without an arrival
  status for documents sent more than ``views.document_sla_hours`` before ``as_of``;
- rolled up to province (of the sender), ministry (central senders) and nation; ``electronic_rate`` =
  ``sent_electronic / sent``, ``electronic_only_rate`` = ``sent_electronic_only / sent``.

State is per document, and every merge is order-free and idempotent: the header is the NEW
``DocumentSent`` with the smallest (occurred-at, event id) (an UPDATE re-sends a document already
counted), each status class keeps its earliest time per agency, ``revoked`` is an "or". The daily counts
are the sum of each document's contribution, maintained by subtracting a document's old contribution and
adding its new one in the same transaction, so duplicates, late events and re-deliveries never double-count.
That state and its contribution are in :mod:`consumers.document_state`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from bus.events import DocumentSent, DocumentStatusChanged
from consumers import span, units
from consumers.base import (
    Grain,
    Level,
    Rollup,
    RollupColumn,
    View,
    ViewQuery,
    ViewResult,
    level_columns,
    local_day,
    month_bounds,
    place_filters,
    ratio,
    unsupported,
    where,
)
from consumers.document_state import COUNTERS, DocumentState, Header, add_delta, delivery_rows_of
from consumers.store.base import (
    Migration,
    StoreReader,
    StoreTxn,
    copy_sql,
    reread_topic,
    select_in,
    sums_by,
    upsert_sql,
)

if TYPE_CHECKING:
    from bus.events.record import EventRecord
_SENT = DocumentSent.AVRO_NAME
_STATUS = DocumentStatusChanged.AVRO_NAME

MIGRATIONS = (
    Migration(
        "documents",
        1,
        "per-document state, per-delivery statuses, daily counts per sender",
        (
            "CREATE TABLE doc_documents (document_id TEXT PRIMARY KEY, agency TEXT, province TEXT,"
            " ministry TEXT, day TEXT, sent_ms BIGINT, header_event_id TEXT, electronic INTEGER,"
            " signed INTEGER, recipients TEXT, revoked INTEGER NOT NULL, pending INTEGER NOT NULL)",
            "CREATE INDEX doc_documents_pending ON doc_documents (sent_ms) WHERE pending > 0",
            "CREATE TABLE doc_deliveries (document_id TEXT NOT NULL, recipient TEXT NOT NULL,"
            " is_recipient INTEGER NOT NULL, arrived_ms BIGINT, finished_ms BIGINT, rejected_ms BIGINT,"
            " recalled_ms BIGINT, latency_ms BIGINT, PRIMARY KEY (document_id, recipient))",
            "CREATE TABLE doc_daily (agency TEXT NOT NULL, day TEXT NOT NULL, province TEXT NOT NULL,"
            " ministry TEXT NOT NULL, sent BIGINT NOT NULL, sent_electronic BIGINT NOT NULL,"
            " signed BIGINT NOT NULL, revoked BIGINT NOT NULL, deliveries BIGINT NOT NULL,"
            " arrived BIGINT NOT NULL, finished BIGINT NOT NULL, rejected BIGINT NOT NULL,"
            " recalled BIGINT NOT NULL, PRIMARY KEY (agency, day))",
            "CREATE INDEX doc_daily_day ON doc_daily (day)",
        ),
    ),
    Migration(
        "documents",
        2,
        "documents sent = NEW sendings; electronic-only counted apart: tables rebuilt from the topic",
        (
            "DELETE FROM doc_daily",
            "DELETE FROM doc_deliveries",
            "DELETE FROM doc_documents",
            "ALTER TABLE doc_documents ADD COLUMN electronic_only INTEGER",
            "ALTER TABLE doc_daily ADD COLUMN sent_electronic_only BIGINT NOT NULL DEFAULT 0",
            reread_topic("lgsp.documents"),
        ),
    ),
    span.MIGRATION,
    units.MIGRATION,
)

_DOCUMENT_COLUMNS = (
    "document_id", "agency", "province", "ministry", "day", "sent_ms", "header_event_id", "electronic",
    "electronic_only", "signed", "recipients", "revoked", "pending",
)  # fmt: skip
_DELIVERY_COLUMNS = (
    "document_id", "recipient", "is_recipient", "arrived_ms", "finished_ms", "rejected_ms", "recalled_ms",
    "latency_ms",
)  # fmt: skip
_DAILY_COLUMNS = ("agency", "day", "province", "ministry", *COUNTERS)
_UPSERT_DOCUMENT = upsert_sql("doc_documents", _DOCUMENT_COLUMNS, ("document_id",))
_UPSERT_DELIVERY = upsert_sql("doc_deliveries", _DELIVERY_COLUMNS, ("document_id", "recipient"))
_UPSERT_DAILY = upsert_sql("doc_daily", _DAILY_COLUMNS, ("agency", "day"), add=COUNTERS)


class DocumentsView(View):
    """Documents sent, delivered and handled, per sender and day."""

    name: ClassVar[str] = "documents"
    topic: ClassVar[str | None] = "lgsp.documents"

    def __init__(self, rollup: Rollup | None = None, *, sla_hours: float = 24.0) -> None:
        self._rollup = rollup or Rollup()
        self._sla_ms = int(sla_hours * 3600 * 1000)

    def migrations(self) -> Sequence[Migration]:
        return MIGRATIONS

    # -- writing ------------------------------------------------------------------------------------------

    def apply(self, txn: StoreTxn, events: Sequence[EventRecord]) -> None:
        by_doc: dict[str, list[EventRecord]] = {}
        span.record(txn, self.name, events)
        units.record(txn, self._rollup, events)
        for event in events:
            if event.name == _SENT or event.name == _STATUS:
                by_doc.setdefault(event.avro["document_id"], []).append(event)
        if not by_doc:
            return
        docs = self._load(txn, list(by_doc))
        deltas: dict[tuple[str, str], list[int]] = {}
        doc_rows: list[tuple[Any, ...]] = []
        delivery_rows: list[tuple[Any, ...]] = []
        for document_id, doc_events in by_doc.items():
            doc = docs.get(document_id) or DocumentState()
            before = doc.contribution()
            for name, record in doc_events:
                if name == _SENT:
                    doc.merge_sent(record)
                else:
                    doc.merge_status(record)
            if not doc.changed:
                continue  # duplicates and later-than-first statuses change nothing
            after = doc.contribution()
            if after != before:
                add_delta(deltas, before, -1)
                add_delta(deltas, after, 1)
            if doc.header_changed or after != before or not doc.stored:
                doc_rows.append(self._doc_row(document_id, doc))
            agencies = doc.statuses.keys() if doc.header_changed else doc.dirty
            delivery_rows.extend(delivery_rows_of(document_id, doc, agencies))
        self._write(txn, doc_rows, delivery_rows, deltas)

    def _load(self, txn: StoreTxn, ids: list[str]) -> dict[str, DocumentState]:
        docs: dict[str, DocumentState] = {}
        rows = select_in(
            txn,
            "SELECT document_id, agency, sent_ms, header_event_id, electronic, electronic_only, signed,"
            " recipients, revoked FROM doc_documents WHERE document_id",
            ids,
        )
        for document_id, agency, sent_ms, event_id, electronic, only, signed, recipients, revoked in rows:
            header = None
            if agency is not None:
                header = Header(
                    sent_ms,
                    event_id,
                    agency,
                    bool(electronic),
                    bool(only),
                    bool(signed),
                    tuple(recipients.split()),
                )
            docs[document_id] = DocumentState(header, bool(revoked), stored=True)
        rows = select_in(
            txn,
            "SELECT document_id, recipient, arrived_ms, finished_ms, rejected_ms, recalled_ms"
            " FROM doc_deliveries WHERE document_id",
            ids,
        )
        for document_id, agency, arrived, finished, rejected, recalled in rows:
            doc = docs.get(document_id)
            if doc is None:  # statuses stored for a document row that is missing: cannot happen, but be safe
                doc = docs[document_id] = DocumentState()
            doc.statuses[agency] = [arrived, finished, rejected, recalled]
        return docs

    def _write(
        self,
        txn: StoreTxn,
        doc_rows: list[tuple[Any, ...]],
        delivery_rows: list[tuple[Any, ...]],
        deltas: dict[tuple[str, str], list[int]],
    ) -> None:
        txn.executemany(_UPSERT_DOCUMENT, doc_rows)
        txn.executemany(_UPSERT_DELIVERY, delivery_rows)
        txn.executemany(
            _UPSERT_DAILY,
            [
                (agency, day, *self._rollup.of(agency), *vector)
                for (agency, day), vector in deltas.items()
                if any(vector)
            ],
        )

    def _doc_row(self, document_id: str, doc: DocumentState) -> tuple[Any, ...]:
        header = doc.header
        if header is None:
            return (document_id, *(None,) * 10, int(doc.revoked), 0)
        province, ministry = self._rollup.of(header.agency)
        arrived = sum(
            1 for r in header.recipients if (t := doc.statuses.get(r)) is not None and t[0] is not None
        )
        return (
            document_id,
            header.agency,
            province,
            ministry,
            local_day(header.sent_ms),
            header.sent_ms,
            header.event_id,
            int(header.electronic),
            int(header.electronic_only),
            int(header.signed),
            " ".join(header.recipients),
            int(doc.revoked),
            len(header.recipients) - arrived,
        )

    def merge(self, txn: StoreTxn, source: str) -> None:
        span.merge(txn, source)
        units.merge(txn, source)
        txn.execute(copy_sql(source, "doc_documents", _DOCUMENT_COLUMNS, ("document_id",)))
        txn.execute(copy_sql(source, "doc_deliveries", _DELIVERY_COLUMNS, ("document_id", "recipient")))
        txn.execute(copy_sql(source, "doc_daily", _DAILY_COLUMNS, ("agency", "day"), add=COUNTERS))

    # -- reading ------------------------------------------------------------------------------------------

    def query(self, reader: StoreReader, query: ViewQuery) -> ViewResult:
        level = query.level or Level.PROVINCE
        grain = query.grain or Grain.MONTH
        groups = _group_columns(level, grain)
        clauses, params = _filters(query, level)
        where_sql = where(clauses)
        names = [name for name, _ in groups]
        select = ", ".join(f"{expr} AS {name}" for name, expr in groups)
        group_by = f"GROUP BY {', '.join(expr for _, expr in groups)}" if groups else ""
        sums = ", ".join(f"SUM({c})" for c in COUNTERS)
        rows = reader.query(
            f"SELECT {select + ', ' if select else ''}{sums} FROM doc_daily {where_sql} {group_by}"
            f" HAVING SUM(sent) > 0 ORDER BY {', '.join(names) or 'SUM(sent)'}",
            params,
        )
        latencies = self._latencies(reader, groups, clauses, params)
        pending = self._pending(reader, groups, clauses, params, query.as_of_ms() - self._sla_ms)
        result = []
        for row in rows:
            key = tuple(row[: len(names)])
            counts = dict(zip(COUNTERS, (int(v) for v in row[len(names) :]), strict=True))
            item: dict[str, Any] = dict(zip(names, key, strict=True))
            item.update(counts)
            item["electronic_rate"] = ratio(counts["sent_electronic"], counts["sent"])
            item["electronic_only_rate"] = ratio(counts["sent_electronic_only"], counts["sent"])
            item["arrival_rate"] = ratio(counts["arrived"], counts["deliveries"])
            p50, p90, p99 = latencies.get(key, (None, None, None))
            item.update(latency_p50_s=p50, latency_p90_s=p90, latency_p99_s=p99)
            item["not_arrived_after_sla"] = pending.get(key, 0)
            result.append(item)
        if query.limit is not None:
            result = result[: query.limit]
        columns = (*names, *COUNTERS, "electronic_rate", "electronic_only_rate", "arrival_rate",
                   "latency_p50_s", "latency_p90_s", "latency_p99_s", "not_arrived_after_sla")  # fmt: skip
        meta = {"level": level.value, "grain": grain.value, "sla_hours": self._sla_ms / 3_600_000}
        return ViewResult(self.name, columns, result, meta)

    def _latencies(
        self, reader: StoreReader, groups: list[tuple[str, str]], clauses: list[str], params: list[Any]
    ) -> dict[tuple[Any, ...], tuple[float | None, ...]]:
        names = [name for name, _ in groups]
        inner = ", ".join(f"{expr} AS {name}" for name, expr in groups)
        partition = f"PARTITION BY {', '.join(expr for _, expr in groups)}" if groups else ""
        where_sql = where(["latency_ms IS NOT NULL", *clauses])
        picks = ", ".join(f"MIN(CASE WHEN rn * 100 >= n * {p} THEN latency_ms END)" for p in (50, 90, 99))
        sql = (
            f"SELECT {', '.join(names) + ', ' if names else ''}{picks} FROM ("
            f" SELECT {inner + ', ' if inner else ''}latency_ms,"
            f" ROW_NUMBER() OVER ({partition} ORDER BY latency_ms) AS rn, COUNT(*) OVER ({partition}) AS n"
            f" FROM doc_deliveries JOIN doc_documents USING (document_id) {where_sql}) AS ranked"
            f" {'GROUP BY ' + ', '.join(names) if names else ''}"
        )
        out: dict[tuple[Any, ...], tuple[float | None, ...]] = {}
        for row in reader.query(sql, params):
            key = tuple(row[: len(names)])
            out[key] = tuple(None if v is None else v / 1000 for v in row[len(names) :])
        return out

    def _pending(
        self,
        reader: StoreReader,
        groups: list[tuple[str, str]],
        clauses: list[str],
        params: list[Any],
        cutoff_ms: int,
    ) -> dict[tuple[Any, ...], int]:
        names = [name for name, _ in groups]
        select = ", ".join(f"{expr} AS {name}" for name, expr in groups)
        where_sql = where([*clauses, "pending > 0", "sent_ms <= ?"])
        sql = (
            f"SELECT {select + ', ' if select else ''}SUM(pending) FROM doc_documents {where_sql}"
            f" {'GROUP BY ' + ', '.join(expr for _, expr in groups) if groups else ''}"
        )
        return {
            tuple(row[: len(names)]): int(row[-1] or 0) for row in reader.query(sql, [*params, cutoff_ms])
        }


def _group_columns(level: Level, grain: Grain) -> list[tuple[str, str]]:
    if level is Level.PROCEDURE:
        raise unsupported("documents", "level", level.value)
    groups = level_columns(level)
    if grain is Grain.DAY:
        groups.append(("day", "day"))
    elif grain is Grain.MONTH:
        groups.append(("month", "substr(day, 1, 7)"))
    return groups


def _filters(query: ViewQuery, level: Level) -> tuple[list[str], list[Any]]:
    clauses, params = place_filters(query, level)
    if query.period is not None:
        clauses.append("day BETWEEN ? AND ?")
        params.extend(month_bounds(query.period))
    return clauses, params


TOTALS = ("sent", "sent_electronic", "sent_electronic_only")
"""The counters the scoreboard reads."""


def province_totals(
    reader: StoreReader, period: str | None, by: RollupColumn = "province"
) -> dict[str, dict[str, int]]:
    """``province → {sent, sent_electronic, sent_electronic_only}`` (``""``: central), for the scoreboard;
    ``by="ministry"``: per ministry code (``""``: the provinces' agencies), for the silent-agency gauges."""
    condition, params = ("WHERE day BETWEEN ? AND ?", list(month_bounds(period))) if period else ("", [])
    return {
        place: totals for (place,), totals in sums_by(reader, "doc_daily", (by,), TOTALS, condition, params)
    }


def daily_totals(reader: StoreReader) -> dict[tuple[str, str], dict[str, int]]:
    """``(province, day) → {sent, sent_electronic, sent_electronic_only}`` (``""``: central), for the page's
    daily trends: the scoreboard's document counts, one day at a time."""
    return {
        (province, day): totals
        for (province, day), totals in sums_by(reader, "doc_daily", ("province", "day"), TOTALS)
    }
