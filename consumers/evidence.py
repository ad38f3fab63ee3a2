"""The evidence behind every number: which records made each view row, kept with the rows themselves.

For every record a view applies, one row of ``view_evidence``: its coordinates in Kafka (topic, partition,
offset: where an auditor re-reads it), its event id and type, the key that signed it (None: accepted unsigned
during a migration), the entity row it changed (document id, dossier code, report key) and the agency and
province it counts for. The rows are written by :class:`EvidenceLog` in the same store transaction as the
batch's view writes and offsets, so the evidence and the numbers always agree:

* exact under replays and rebuilds: the key ends with the record's ``(topic, partition_no, offset_no)`` (and
  starts with its province and entity, functions of the record) and an insert of a known record does
  nothing, so a batch re-read after a crash adds no second row; rebuild shards hold disjoint partitions, so
  merging them copies rows without conflicts;
* bounded and cheap: one row per applied record (no lists growing inside a view row) in one B-tree (the
  primary key serves both reads, no secondary index); reads are paginated (keyset on the key, an opaque
  ``after`` cursor), never an unbounded list. Measured in ``bench/evidence_bench.py``.

A province's evidence (``/v1/views/scoreboard/{province}/evidence``) is every record that counts for an
agency of the province — what the scoreboard's row for it is made of; ``00`` is the nation (every record),
``central`` the agencies without a province (ministries).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from bus.errors import LgspError, ValidationError
from bus.metrics import NATIONAL
from consumers.base import CENTRAL, Rollup, ViewResult
from consumers.reports import report_key
from consumers.store.base import Migration, StoreReader, StoreTxn, copy_sql, create_table

if TYPE_CHECKING:
    from bus.consumer.types import Origin
    from bus.events.record import EventRecord

TABLE: Final = "view_evidence"
_COLUMNS: Final = {
    "province": "TEXT NOT NULL",
    "entity": "TEXT NOT NULL",
    "topic": "TEXT NOT NULL",
    "partition_no": "INTEGER NOT NULL",
    "offset_no": "BIGINT NOT NULL",
    "event_id": "TEXT NOT NULL",
    "event_type": "TEXT NOT NULL",
    "agency": "TEXT NOT NULL",
    "occurred_ms": "BIGINT NOT NULL",
    "signer": "TEXT",
}
_KEY: Final = ("province", "entity", "topic", "partition_no", "offset_no")
"""One B-tree serves both reads: a province's records are a key range, an entity's records one short range per
province (the province is a function of the record, so a replayed record still meets its first row)."""
MIGRATION: Final = Migration(
    "evidence",
    1,
    "the records behind each view row (coordinates, event id, signer)",
    (create_table(TABLE, _COLUMNS, _KEY),),
)
_INSERT: Final = (
    f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
    f" ON CONFLICT ({', '.join(_KEY)}) DO NOTHING"
)
_SELECT: Final = f"SELECT {', '.join(_COLUMNS)} FROM {TABLE}"

SCOREBOARD: Final = "scoreboard"
ENTITY_VIEWS: Final = ("documents", "dossiers", "reports")
"""Views whose evidence key is one of their entities (document id, dossier code, report key)."""
AGENCIES: Final = "agencies"
"""Its evidence key is an agency code: the records that count for that agency (one range of its province)."""
EVIDENCE_VIEWS: Final = (SCOREBOARD, *ENTITY_VIEWS, AGENCIES)
CENTRAL_KEY: Final = "central"
"""The scoreboard key of the agencies without a province (their row's ``province`` is ``""``)."""
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000


def _document_sender(record: Mapping[str, Any]) -> str:
    return str(record["document_id"]).split(",", 1)[0]  # edXML: {sender},{yyyy/MM/dd},{number}/{notation}


_Extract = Callable[[Mapping[str, Any]], Any]
ENTITIES: Final[Mapping[str, tuple[_Extract, _Extract]]] = {
    "vn.gov.lgsp.document.DocumentSent": (lambda r: r["document_id"], lambda r: r["sender"]["code"]),
    # a status changes the sender's document row, so it counts where the document does
    "vn.gov.lgsp.document.DocumentStatusChanged": (lambda r: r["document_id"], _document_sender),
    "vn.gov.lgsp.dossier.DossierSynced": (
        lambda r: r["dossier_code"],
        lambda r: r["processing_agency"]["code"],
    ),
    "vn.gov.lgsp.report.ReportFiled": (report_key, lambda r: r["reporting_agency"]["code"]),
}
"""Per event type (Avro full name): the entity row it changes and the agency it counts for. A type not listed
(a newer one a view ignores) is kept with no entity, counted for its ``source``."""


class EvidenceNotFoundError(LgspError):
    """No evidence for that view or key (the API answers 404)."""


def evidence_href(view: str, key: str) -> str:
    """The API path of the evidence of ``view``'s row ``key``."""
    return f"/v1/views/{view}/{quote(key, safe='')}/evidence"


def scoreboard_key(province: str) -> str:
    """The evidence key of a scoreboard row's ``province`` (``00`` the nation, ``central`` the ministries)."""
    return province or CENTRAL_KEY


def with_evidence_links(result: ViewResult) -> ViewResult:
    """The scoreboard with an ``evidence`` column, each province's row linking to the records behind it, as
    the API and ``views show --json`` answer it (other views as they are)."""
    if result.view != SCOREBOARD:
        return result
    rows = [
        {**row, "evidence": evidence_href(SCOREBOARD, scoreboard_key(row["province"]))} for row in result.rows
    ]
    columns = result.columns if "evidence" in result.columns else (*result.columns, "evidence")
    return ViewResult(result.view, columns, rows, result.meta)


class EvidenceLog:
    """Writes the evidence rows of a batch (in the batch's transaction) and merges rebuild shards' rows."""

    def __init__(self, rollup: Rollup | None = None) -> None:
        self._rollup = rollup or Rollup()

    def record(self, txn: StoreTxn, events: Sequence[EventRecord], origins: Sequence[Origin]) -> int:
        """Keep the origin of each of ``events`` (aligned with ``origins``) as evidence; the number of rows
        offered (a replayed record's is ignored by the store)."""
        if not origins:
            return 0
        province_of = self._rollup.of
        rows: list[tuple[Any, ...]] = []
        for event, origin in zip(events, origins, strict=True):
            record, meta = event.avro, event.avro["meta"]
            found = ENTITIES.get(event.name)
            if found is None:
                entity, agency = "", meta["source"]
            else:
                entity, agency = found[0](record), found[1](record)
            rows.append(
                (
                    province_of(agency)[0],
                    entity,
                    origin.topic,
                    origin.partition,
                    origin.offset,
                    meta["event_id"],
                    event.short_name,
                    agency,
                    meta["occurred_at"],
                    origin.signer,
                )
            )
        txn.executemany(_INSERT, rows)
        return len(rows)

    @staticmethod
    def merge(txn: StoreTxn, source: str) -> None:
        """Copy rebuild shard ``source``'s evidence (shards read disjoint partitions: no key twice)."""
        txn.execute(copy_sql(source, TABLE, tuple(_COLUMNS), _KEY))


@dataclass(frozen=True)
class EvidenceRecord:
    """One record behind a view row."""

    province: str
    entity: str
    topic: str
    partition: int
    offset: int
    event_id: str
    event_type: str
    agency: str
    occurred_ms: int
    signer: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "signer": self.signer,
            "entity": self.entity,
            "agency": self.agency,
            "province": self.province,
            "occurred_at": datetime.fromtimestamp(self.occurred_ms / 1000, UTC).isoformat(),
        }


@dataclass(frozen=True)
class EvidencePage:
    """One page of a row's evidence; ``after`` continues it (None: this was the last page)."""

    view: str
    key: str
    records: list[EvidenceRecord]
    after: str | None

    def as_json(self) -> dict[str, Any]:
        next_link = None
        if self.after is not None:
            next_link = f"{evidence_href(self.view, self.key)}?after={quote(self.after, safe='')}"
        return {
            "view": self.view,
            "key": self.key,
            "records": [record.as_json() for record in self.records],
            "after": self.after,
            "next": next_link,
        }


def cursor_of(record: EvidenceRecord) -> str:
    """The opaque ``after`` value that continues a listing past ``record`` (its key, base64url JSON)."""
    key = [record.province, record.entity, record.topic, record.partition, record.offset]
    return base64.urlsafe_b64encode(json.dumps(key, ensure_ascii=False).encode()).decode().rstrip("=")


def _parse_cursor(after: str) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)))
        if not (
            isinstance(key, list)
            and len(key) == len(_KEY)
            and all(isinstance(part, str) for part in key[:3])
            and all(isinstance(part, int) for part in key[3:])
        ):
            raise ValueError(key)
    except ValueError:
        raise ValidationError(
            f"after {after!r} is not a cursor of this listing", field="after", rule="evidence.after"
        ) from None
    return key


def _condition(rollup: Rollup, view: str, key: str, topic: str | None) -> tuple[list[str], list[Any], str]:
    """WHERE clauses selecting ``view``'s row ``key`` and the order to list them in; EvidenceNotFoundError for
    an unknown view or province."""
    if view in ENTITY_VIEWS:
        # the province is the key's first column: one short range per province (and the ministries')
        provinces = [CENTRAL, *(p.code for p in rollup.catalog.provinces())]
        clauses = [f"province IN ({', '.join('?' * len(provinces))})", "entity = ?"]
        params: list[Any] = [*provinces, key]
        if topic is not None:
            clauses.append("topic = ?")
            params.append(topic)
        return clauses, params, "topic, partition_no, offset_no"
    order = ", ".join(_KEY)
    if view == AGENCIES:
        return ["province = ?", "agency = ?"], [rollup.of(key)[0], key], order
    if view != SCOREBOARD:
        views = ", ".join(EVIDENCE_VIEWS)
        raise EvidenceNotFoundError(f"no evidence for view {view!r}; views with evidence: {views}")
    if key == NATIONAL:
        return [], [], order
    if key == CENTRAL_KEY:
        return ["province = ?"], [CENTRAL], order
    if not rollup.catalog.is_province(key):
        raise EvidenceNotFoundError(f"no province {key!r} on the scoreboard (two-digit code, 00: the nation)")
    return ["province = ?"], [key], order


def read_evidence(
    reader: StoreReader,
    view: str,
    key: str,
    *,
    topic: str | None = None,
    after: str | None = None,
    limit: int = DEFAULT_LIMIT,
    rollup: Rollup | None = None,
) -> EvidencePage:
    """One page of the records behind ``view``'s row ``key`` (``topic``: the real topic of an entity view, so
    that another view's entity of the same name is not listed).

    An entity's records come in log order, a province's grouped by entity (the store's key order, which a
    page continues from ``after``). EvidenceNotFoundError for a view without evidence, an unknown province,
    or an entity no record made.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be 1..{MAX_LIMIT}", field="limit", rule="limit")
    clauses, params, order = _condition(rollup or Rollup(), view, key, topic)
    if after is not None:
        cursor = _parse_cursor(after)
        if view in ENTITY_VIEWS:
            clauses.append("(topic, partition_no, offset_no) > (?, ?, ?)")
            params.extend(cursor[2:])
        else:
            clauses.append(f"({', '.join(_KEY)}) > (?, ?, ?, ?, ?)")
            params.extend(cursor)
    condition = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = reader.query(f"{_SELECT} {condition} ORDER BY {order} LIMIT ?", [*params, limit + 1])
    records = [
        EvidenceRecord(
            str(province), str(entity), str(topic_), int(part), int(offset), str(event_id), str(kind),
            str(agency), int(at), None if signer is None else str(signer),
        )
        for province, entity, topic_, part, offset, event_id, kind, agency, at, signer in rows[:limit]
    ]  # fmt: skip
    if not records and after is None and (view in ENTITY_VIEWS or view == AGENCIES):
        raise EvidenceNotFoundError(f"no record made {view} row {key!r}")
    more = len(rows) > limit
    return EvidencePage(view, key, records, cursor_of(records[-1]) if more else None)
