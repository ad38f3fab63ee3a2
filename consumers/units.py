"""Unlisted units: agencies that events name, with a well-formed code under a known level-1 unit, that the
agency catalog does not list (a commune, a department outside the template, a ministry's own department,
a merged province's pre-2025 code). They are accepted and rolled up by their level-1 group
(``bus.agencies``); this module keeps the list, so the catalog can grow from what the bus really sees.

Each view records the units its events name (``meta.source``, sender and recipients, reporting and
processing agencies) in the same transaction as its own rows; a unit's first and last event time merge by
min/max and its name is the greatest one given (sources carry none; names rarely differ), so duplicates and
order change nothing.
The ``agencies`` view lists them (``lgsp views show agencies``); ``lgsp views serve`` counts them per
province in ``lgsp_unknown_units_total``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from consumers.base import Rollup, View, ViewQuery, ViewResult, place_filters, unsupported, where
from consumers.store.base import Migration, StoreReader, StoreTxn, create_table

if TYPE_CHECKING:
    from bus.events.record import EventRecord

MIGRATION = Migration(
    "units",
    1,
    "agencies named by events but not listed in the catalog",
    (
        create_table(
            "unl_units",
            {
                "code": "TEXT NOT NULL",
                "name": "TEXT NOT NULL",
                "province": "TEXT NOT NULL",
                "ministry": "TEXT NOT NULL",
                "first_ms": "BIGINT NOT NULL",
                "last_ms": "BIGINT NOT NULL",
            },
            ("code",),
        ),
    ),
)
_COLUMNS = ("code", "name", "province", "ministry", "first_ms", "last_ms")
_MERGE = (
    " ON CONFLICT (code) DO UPDATE SET"
    " name = CASE WHEN excluded.name > unl_units.name THEN excluded.name ELSE unl_units.name END,"
    " first_ms = CASE WHEN excluded.first_ms < unl_units.first_ms THEN excluded.first_ms"
    " ELSE unl_units.first_ms END,"
    " last_ms = CASE WHEN excluded.last_ms > unl_units.last_ms THEN excluded.last_ms"
    " ELSE unl_units.last_ms END"
)  # CASE, not MIN/MAX or LEAST/GREATEST: the same SQL on SQLite and PostgreSQL
_UPSERT = f"INSERT INTO unl_units ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)" + _MERGE
CENTRAL_LABEL = "central"
"""``province`` label of unlisted units of ministries and central bodies in ``lgsp_unknown_units_total``."""


def _named(record: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(code, name)`` of every agency a record (``EventRecord.avro``) names; the source has no name."""
    for field in ("sender", "reporting_agency", "processing_agency"):
        ref = record.get(field)
        if ref is not None:
            yield ref["code"], ref["name"]
    for ref in record.get("recipients") or ():
        yield ref["code"], ref["name"]
    yield record["meta"]["source"], ""


def record(txn: StoreTxn, rollup: Rollup, events: Sequence[EventRecord]) -> None:
    """Remember the unlisted units ``events`` name."""
    catalog = rollup.catalog
    seen: dict[str, list[Any]] = {}
    for event in events:
        at = event.occurred_ms
        for code, name in _named(event.avro):
            if catalog.is_listed(code):
                continue
            entry = seen.get(code)
            if entry is None:
                seen[code] = [name, at, at]
                continue
            entry[0], entry[1], entry[2] = max(entry[0], name), min(entry[1], at), max(entry[2], at)
    if seen:
        txn.executemany(
            _UPSERT,
            [(code, name, *rollup.of(code), first, last) for code, (name, first, last) in seen.items()],
        )


def merge(txn: StoreTxn, source: str) -> None:
    """Add the unlisted units of rebuild shard ``source``."""
    names = ", ".join(_COLUMNS)
    txn.execute(f"INSERT INTO unl_units ({names}) SELECT {names} FROM {source}.unl_units WHERE true" + _MERGE)


def per_province(reader: StoreReader) -> dict[str, int]:
    """Unlisted units per province code (:data:`CENTRAL_LABEL` for central ones)."""
    rows = reader.query("SELECT province, COUNT(*) FROM unl_units GROUP BY province")
    return {str(province) or CENTRAL_LABEL: int(count) for province, count in rows}


class AgenciesView(View):
    """The unlisted units the bus has seen (read only: the topic views record them)."""

    name: ClassVar[str] = "agencies"
    topic: ClassVar[str | None] = None

    def migrations(self) -> Sequence[Migration]:
        return (MIGRATION,)

    def apply(self, txn: StoreTxn, events: Sequence[EventRecord]) -> None:
        return None  # recorded by the topic views, in their transactions

    def merge(self, txn: StoreTxn, source: str) -> None:
        return None  # merged by the topic views

    def query(self, reader: StoreReader, query: ViewQuery) -> ViewResult:
        # one row per unit whatever the level asked (the list is per agency by nature); no time grain
        if query.grain is not None or query.period is not None:
            raise unsupported(self.name, "filter", "grain/period")
        clauses, params = place_filters(query, None, agency_column="code")
        rows = reader.query(
            f"SELECT code, name, province, ministry, first_ms, last_ms FROM unl_units {where(clauses)}"
            " ORDER BY province, code",
            params,
        )
        if query.limit is not None:
            rows = rows[: query.limit]
        columns = ("agency", "name", "province", "ministry", "first_seen_ms", "last_seen_ms")
        result = [dict(zip(columns, row, strict=True)) for row in rows]
        return ViewResult(self.name, columns, result, {"listed": "no: units the catalog does not list"})
