"""What runs on one connection of the PostgreSQL view store: the driver's setup, its SQL dialect and errors,
and the :class:`~consumers.store.base.StoreReader` / :class:`~consumers.store.base.StoreTxn` that the store
(:mod:`consumers.store.postgres`) hands to the views.

**Fencing.** The store remembers, per partition, the offset it last loaded or committed. ``save_offsets``
locks the partitions' offset rows and checks that nobody moved them meanwhile: a member that lost its
partitions without noticing (a long pause, an expired session) cannot commit over its successor's work
(``OffsetsMovedError``: nothing is written, the runner drops the batch and seeks to the store's offsets). If
every offset already equals the batch's next offset, the batch itself committed before a lost connection hid
the answer: the retry is rolled back and reported as done, so it is not counted twice.

Types: PostgreSQL's ``numeric`` (``SUM`` of ``BIGINT``, ``AVG``) is read as ``int`` when integral and
``float`` otherwise, and ``boolean`` as ``0``/``1``: what SQLite returns for the same statements.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zlib import crc32

import psycopg
from psycopg.adapt import Buffer, Loader

from bus.consumer.types import Partition
from bus.errors import OffsetsMovedError, StoreBusyError, StoreError
from consumers.store.base import UPSERT_OFFSET, Row, StoreReader, StoreTxn

if TYPE_CHECKING:
    from consumers.store.postgres import PostgresStore

_RETRIABLE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
"""SQLSTATE classes worth retrying: connection, rollback (deadlock, serialization), resources (disk full),
operator intervention (shutdown, restart), system I/O."""
_RETRIABLE_STATES = frozenset({"25006", "55P03"})
"""Read-only transaction (a standby, or ``default_transaction_read_only``), lock not available."""
_CONNECT_TIMEOUT_S = 5
_UPSERT_RE = re.compile(
    r"^\s*INSERT INTO \w+ \(([^)]*)\) VALUES \([^)]*\) ON CONFLICT \(([^)]*)\) DO UPDATE", re.IGNORECASE
)
CONTROL_LOCK = 0x4C475350  # "LGSP": the advisory lock around creating sets, switching, migrating


def store_error(exc: psycopg.Error, action: str) -> StoreError:
    """Our error for a psycopg failure: lost connections, deadlocks, full disks, read-only are retried."""
    state = exc.sqlstate
    message = f"PostgreSQL store: {action} failed: {type(exc).__name__}: {str(exc).strip()}"
    if state is None and isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreBusyError(message)
    if state is not None and (state[:2] in _RETRIABLE_CLASSES or state in _RETRIABLE_STATES):
        return StoreBusyError(message)
    return StoreError(message)


@lru_cache(maxsize=2048)
def to_pyformat(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (outside quoted strings); literal ``%`` doubled."""
    out: list[str] = []
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
            out.append(char)
        elif char == "?" and not quoted:
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


@lru_cache(maxsize=512)
def _upsert_key(sql: str) -> tuple[int, ...] | None:
    """Positions of the conflict key among an upsert's parameters (None: not a single-row upsert)."""
    match = _UPSERT_RE.match(sql)
    if match is None:
        return None
    columns = [c.strip() for c in match.group(1).split(",")]
    key = [c.strip() for c in match.group(2).split(",")]
    if not all(k in columns for k in key):
        return None
    return tuple(columns.index(k) for k in key)


def in_key_order(sql: str, rows: Iterable[Sequence[Any]]) -> Iterable[Sequence[Any]]:
    """An upsert's rows sorted by their conflict key (stable: a repeated key keeps its order), so that
    concurrent builders lock shared rows in one order; other statements' rows as given."""
    key = _upsert_key(sql)
    if key is None:
        return rows
    return sorted(rows, key=lambda row: tuple(row[i] for i in key))


class _NumericLoader(Loader):
    def load(self, data: Buffer) -> int | float:
        value = Decimal(bytes(data).decode("ascii"))
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)


class _BoolLoader(Loader):
    def load(self, data: Buffer) -> int:
        return 1 if bytes(data) == b"t" else 0


def connect(url: str) -> psycopg.Connection[Row]:
    conn: psycopg.Connection[Row] = psycopg.connect(url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)
    conn.adapters.register_loader("numeric", _NumericLoader)
    conn.adapters.register_loader("bool", _BoolLoader)
    return conn


class PgReader(StoreReader):
    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self._conn.execute(to_pyformat(sql), tuple(params)).fetchall()
        except psycopg.Error as exc:
            raise store_error(exc, "query") from exc


class AlreadyCommittedError(Exception):
    """Raised inside a transaction whose batch a previous attempt already committed."""

    def __init__(self, offsets: Mapping[Partition, int]) -> None:
        super().__init__("already committed")
        self.offsets = dict(offsets)


class PgTxn(StoreTxn, PgReader):
    def __init__(self, conn: psycopg.Connection[Row], store: PostgresStore) -> None:
        super().__init__(conn)
        self._store = store
        self.saved: dict[Partition, int] = {}

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self._conn.execute(to_pyformat(sql), tuple(params))
        except psycopg.Error as exc:
            raise store_error(exc, "write") from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = [tuple(row) for row in in_key_order(sql, rows)]
        if not batch:
            return
        try:
            with self._conn.cursor() as cursor:
                cursor.executemany(to_pyformat(sql), batch)
        except psycopg.Error as exc:
            raise store_error(exc, "write") from exc

    def serialise(self, name: str) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?, ?)", (CONTROL_LOCK, crc32(name.encode()) & 0x7FFFFFFF))

    def save_offsets(self, offsets: Mapping[Partition, int]) -> None:
        if not offsets:
            return
        parts = sorted(offsets)
        stored: dict[Partition, int] = {}
        for tp in parts:  # lock the rows in one order: members never wait on each other in a cycle here
            row = self.query(
                "SELECT next_offset FROM consumer_offsets WHERE topic = ? AND partition_no = ? FOR UPDATE",
                (tp.topic, tp.partition),
            )
            if row:
                stored[tp] = int(row[0][0])
        known = self._store.known_offsets()
        moved = [tp for tp in parts if stored.get(tp) != known.get(tp)]
        if moved:
            if all(stored.get(tp) == offsets[tp] for tp in parts):
                raise AlreadyCommittedError(offsets)
            details = ", ".join(
                f"{tp.topic}[{tp.partition}] {known.get(tp)}→{stored.get(tp)}" for tp in moved
            )
            raise OffsetsMovedError(
                f"PostgreSQL store: another builder committed these partitions meanwhile ({details}); "
                "this member's batch is dropped and it reads again from the store's offsets"
            )
        now = int(time.time() * 1000)
        self.executemany(UPSERT_OFFSET, [(tp.topic, tp.partition, offsets[tp], now) for tp in parts])
        self.saved.update(offsets)
