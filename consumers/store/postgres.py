"""PostgreSQL backend of the view store: several builders and API replicas on one database.

Driver: psycopg 3, synchronous, on the view set's one writer thread (``ViewSet`` already runs every store
call off the event loop; libpq waits without the GIL). ``executemany`` runs in libpq's pipeline mode, so a
batch's thousands of upserts cost a few round trips, not one each.

**Several builders, exact counts.** Members of one consumer group write one store at once. Entity rows
(a document, a dossier) belong to one Kafka key, so to one partition, so to one member at a time. The
aggregate rows (per agency and day, per procedure and month) are shared: members add to them with
``INSERT ... ON CONFLICT DO UPDATE SET n = t.n + excluded.n``. PostgreSQL takes the row lock for that and
applies the increment to the newest committed version, so concurrent additions never lose one — row locks,
not per-partition rows summed at read time: the views' SQL stays the portable subset that SQLite runs too,
reads stay one row per key, and the locks are held only for the rest of one batch's transaction. Two
members could still lock two shared rows in opposite orders (a deadlock, which PostgreSQL breaks after
``deadlock_timeout`` by failing one transaction); to make that rare, each upsert batch is written in key
order (a stable sort, so repeated keys keep their order) and the view set applies topics in a fixed order.
A deadlock that happens anyway fails the batch with a retriable error and the runner applies it again.
State that is not keyed by the Kafka key (the reports view: report, agency and period) is serialised with
:meth:`StoreTxn.serialise` (an advisory lock for the rest of the transaction).

**Fencing.** The store remembers, per partition, the offset it last loaded or committed. ``save_offsets``
locks the partitions' offset rows and checks that nobody moved them meanwhile: a member that lost its
partitions without noticing (a long pause, an expired session) cannot commit over its successor's work
(``OffsetsMovedError``: nothing is written, the runner drops the batch and seeks to the store's offsets). If
every offset already equals the batch's next offset, the batch itself committed before a lost connection hid
the answer: the retry is rolled back and reported as done, so it is not counted twice.

**View sets (blue/green).** The views of one database live in a schema per *view set*
(``lgsp_<name>``); ``lgsp_control.current_set`` names the one the API serves. ``lgsp views rebuild --into
NEW`` builds set NEW while the current one keeps serving, ``lgsp views switch NEW`` flips the pointer in one
transaction; readers resolve it at the start of every read snapshot.

Types: PostgreSQL's ``numeric`` (``SUM`` of ``BIGINT``, ``AVG``) is read as ``int`` when integral and
``float`` otherwise, and ``boolean`` as ``0``/``1``: what SQLite returns for the same statements.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zlib import crc32

import psycopg
from psycopg.adapt import Buffer, Loader

from bus.consumer.types import Partition
from bus.errors import OffsetsMovedError, StoreBusyError, StoreError
from consumers.store.base import (
    CORE_MIGRATIONS,
    CREATE_SCHEMA_VERSION,
    UPSERT_OFFSET,
    UPSERT_SCHEMA_VERSION,
    Migration,
    Row,
    StoreReader,
    StoreTxn,
    ViewStore,
)

log = logging.getLogger(__name__)

DEFAULT_SET = "main"
CONTROL_SCHEMA = "lgsp_control"
_SET_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_RETRIABLE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
"""SQLSTATE classes worth retrying: connection, rollback (deadlock, serialization), resources (disk full),
operator intervention (shutdown, restart), system I/O."""
_RETRIABLE_STATES = frozenset({"25006", "55P03"})
"""Read-only transaction (a standby, or ``default_transaction_read_only``), lock not available."""
_CONNECT_TIMEOUT_S = 5
_READER_POOL = 8
_UPSERT_RE = re.compile(
    r"^\s*INSERT INTO \w+ \(([^)]*)\) VALUES \([^)]*\) ON CONFLICT \(([^)]*)\) DO UPDATE", re.IGNORECASE
)
_CONTROL_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {CONTROL_SCHEMA}",
    f"CREATE TABLE IF NOT EXISTS {CONTROL_SCHEMA}.view_sets (name TEXT PRIMARY KEY,"
    " created_at_ms BIGINT NOT NULL, switched_at_ms BIGINT)",
    f"CREATE TABLE IF NOT EXISTS {CONTROL_SCHEMA}.current_set (one INTEGER PRIMARY KEY CHECK (one = 1),"
    " name TEXT NOT NULL REFERENCES lgsp_control.view_sets (name))",
)
_CONTROL_LOCK = 0x4C475350  # "LGSP": the advisory lock around creating sets, switching, migrating


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


def schema_of(view_set: str) -> str:
    """The schema holding view set ``view_set``; ValueError for a name that is not a plain identifier."""
    if not _SET_NAME_RE.match(view_set):
        raise StoreError(f"view set name {view_set!r}: use lowercase letters, digits and _ (max 31)")
    return f"lgsp_{view_set}"


class _NumericLoader(Loader):
    def load(self, data: Buffer) -> int | float:
        value = Decimal(bytes(data).decode("ascii"))
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)


class _BoolLoader(Loader):
    def load(self, data: Buffer) -> int:
        return 1 if bytes(data) == b"t" else 0


def _connect(url: str) -> psycopg.Connection[Row]:
    conn: psycopg.Connection[Row] = psycopg.connect(url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)
    conn.adapters.register_loader("numeric", _NumericLoader)
    conn.adapters.register_loader("bool", _BoolLoader)
    return conn


class _PgReader(StoreReader):
    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self._conn.execute(to_pyformat(sql), tuple(params)).fetchall()
        except psycopg.Error as exc:
            raise store_error(exc, "query") from exc


class _AlreadyCommittedError(Exception):
    """Raised inside a transaction whose batch a previous attempt already committed."""

    def __init__(self, offsets: Mapping[Partition, int]) -> None:
        super().__init__("already committed")
        self.offsets = dict(offsets)


class _PgTxn(StoreTxn, _PgReader):
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
        self.execute("SELECT pg_advisory_xact_lock(?, ?)", (_CONTROL_LOCK, crc32(name.encode()) & 0x7FFFFFFF))

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
                raise _AlreadyCommittedError(offsets)
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


class PostgresStore(ViewStore):
    """The scale-out store. ``view_set`` pins it to one set (a rebuild ``--into``); without, it writes the
    set that is current when opened, and every read snapshot reads the set current at that moment."""

    def __init__(self, url: str, *, view_set: str | None = None) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._closed = False
        self._pool: list[psycopg.Connection[Row]] = []
        self._pool_lock = threading.Lock()
        self._known: dict[Partition, int] = {}
        self._conn: psycopg.Connection[Row] | None = None
        self._follow = view_set is None
        self._set = self._open_set(view_set)
        self._schema = schema_of(self._set)
        self.migrate(CORE_MIGRATIONS)

    @classmethod
    def from_url(cls, url: str, *, view_set: str | None = None) -> PostgresStore:
        return cls(url, view_set=view_set)

    @property
    def view_set(self) -> str:
        """The set this store writes."""
        return self._set

    @property
    def url(self) -> str:
        return self._url

    # -- view sets ----------------------------------------------------------------------------------------

    def _open_set(self, view_set: str | None) -> str:
        """Create the control tables and, if needed, the set (the first one becomes current). A set that
        exists is opened without writing, so API replicas can read a standby (read-only) server."""
        existing = self._existing_set(view_set)
        if existing is not None:
            return existing
        with self._control() as conn:
            current = conn.execute(f"SELECT name FROM {CONTROL_SCHEMA}.current_set").fetchone()
            name = view_set or (str(current[0]) if current else DEFAULT_SET)
            schema = schema_of(name)
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            now = int(time.time() * 1000)
            conn.execute(
                f"INSERT INTO {CONTROL_SCHEMA}.view_sets (name, created_at_ms) VALUES (%s, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (name, now),
            )
            if current is None:
                conn.execute(f"INSERT INTO {CONTROL_SCHEMA}.current_set (one, name) VALUES (1, %s)", (name,))
        return name

    def _existing_set(self, view_set: str | None) -> str | None:
        """The set to open if it (and the control tables) already exist; None when something must be made."""
        try:
            with _connect(self._url) as conn:
                found = conn.execute(
                    "SELECT to_regclass(%s) IS NOT NULL", (f"{CONTROL_SCHEMA}.current_set",)
                ).fetchone()
                if not found or not found[0]:
                    return None
                if view_set is None:
                    row = conn.execute(f"SELECT name FROM {CONTROL_SCHEMA}.current_set").fetchone()
                else:
                    row = conn.execute(
                        f"SELECT name FROM {CONTROL_SCHEMA}.view_sets WHERE name = %s", (view_set,)
                    ).fetchone()
        except psycopg.Error as exc:
            raise store_error(exc, "opening the view set") from exc
        return None if row is None else str(row[0])

    @contextmanager
    def _control(self) -> Iterator[psycopg.Connection[Row]]:
        """A transaction on the control tables, under the control advisory lock."""
        try:
            with _connect(self._url) as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CONTROL_LOCK,))
                for statement in _CONTROL_DDL:
                    conn.execute(statement)
                yield conn
        except psycopg.Error as exc:
            raise store_error(exc, "updating the view sets") from exc

    def view_sets(self) -> dict[str, bool]:
        """Every view set of this database → whether it is the current one."""
        with self._control() as conn:
            current = conn.execute(f"SELECT name FROM {CONTROL_SCHEMA}.current_set").fetchone()
            names = [str(r[0]) for r in conn.execute(f"SELECT name FROM {CONTROL_SCHEMA}.view_sets")]
        return {name: current is not None and name == current[0] for name in sorted(names)}

    def switch(self, view_set: str) -> str:
        """Make ``view_set`` current (one transaction); returns the set that was current before."""
        schema_of(view_set)
        with self._control() as conn:
            known = conn.execute(
                f"SELECT 1 FROM {CONTROL_SCHEMA}.view_sets WHERE name = %s", (view_set,)
            ).fetchone()
            if known is None:
                raise StoreError(f"no view set {view_set!r} in this database")
            before = conn.execute(f"SELECT name FROM {CONTROL_SCHEMA}.current_set").fetchone()
            conn.execute(f"UPDATE {CONTROL_SCHEMA}.current_set SET name = %s WHERE one = 1", (view_set,))
            conn.execute(
                f"UPDATE {CONTROL_SCHEMA}.view_sets SET switched_at_ms = %s WHERE name = %s",
                (int(time.time() * 1000), view_set),
            )
        return str(before[0]) if before else view_set

    def drop_set(self, view_set: str) -> None:
        """Delete a view set that is not current (its schema and everything in it)."""
        schema = schema_of(view_set)
        with self._control() as conn:
            current = conn.execute(f"SELECT name FROM {CONTROL_SCHEMA}.current_set").fetchone()
            if current is not None and current[0] == view_set:
                raise StoreError(
                    f"view set {view_set!r} is current: switch to another one before dropping it"
                )
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"DELETE FROM {CONTROL_SCHEMA}.view_sets WHERE name = %s", (view_set,))

    def describe(self) -> dict[str, str]:
        """The backend and the view set reads are served from now (the current one, unless pinned)."""
        view_set = self._set
        if self._follow:
            with self.reader() as reader:
                found = reader.query(f"SELECT name FROM {CONTROL_SCHEMA}.current_set")
            view_set = str(found[0][0]) if found else view_set
        return {"backend": "postgresql", "view_set": view_set}

    # -- connections --------------------------------------------------------------------------------------

    def _writer(self) -> psycopg.Connection[Row]:
        """The writer connection, reconnected after a loss (a restarted server)."""
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            try:
                conn = _connect(self._url)
                conn.execute(f"SET search_path TO {self._schema}")
            except psycopg.Error as exc:
                raise store_error(exc, "connecting") from exc
            self._conn = conn
        return conn

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("PostgreSQL store is closed")

    # -- ViewStore ----------------------------------------------------------------------------------------

    def migrate(self, migrations: Sequence[Migration]) -> dict[str, int]:
        """Create or upgrade the set's schema; each migration commits with its version record, under an
        advisory lock, so members opening a new store together migrate it once. Nothing is written when
        every migration is already recorded (a read-only server opens fine)."""
        recorded = self._recorded_versions()
        if all(m.version <= recorded.get(m.component, 0) for m in migrations):
            return recorded
        with self.transaction() as txn:
            txn.execute("SELECT pg_advisory_xact_lock(?)", (_CONTROL_LOCK,))
            txn.execute(CREATE_SCHEMA_VERSION)
        for migration in sorted(migrations, key=lambda m: (m.component, m.version)):
            with self.transaction() as txn:
                txn.execute("SELECT pg_advisory_xact_lock(?)", (_CONTROL_LOCK,))
                found = txn.query(
                    "SELECT version FROM schema_version WHERE component = ?", (migration.component,)
                )
                if found and migration.version <= int(found[0][0]):
                    continue
                for statement in migration.statements:
                    txn.execute(statement)
                txn.execute(
                    UPSERT_SCHEMA_VERSION,
                    (migration.component, migration.version, migration.description, int(time.time() * 1000)),
                )
        return self._recorded_versions()

    def _recorded_versions(self) -> dict[str, int]:
        with self.reader() as reader:
            if reader.query("SELECT to_regclass('schema_version') IS NOT NULL") != [(1,)]:
                return {}
            rows = reader.query("SELECT component, version FROM schema_version")
        return {str(component): int(version) for component, version in rows}

    def load_offsets(self) -> dict[Partition, int]:
        # On the writer connection, under the writer lock: what it loads is what the next batch is fenced
        # against, so it must not interleave with a commit.
        with self._lock:
            self._check_open()
            try:
                rows = self._writer().execute("SELECT topic, partition_no, next_offset FROM consumer_offsets")
                offsets = {Partition(str(t), int(p)): int(o) for t, p, o in rows.fetchall()}
            except psycopg.Error as exc:
                raise store_error(exc, "reading offsets") from exc
            self._known = dict(offsets)
        return offsets

    def known_offsets(self) -> dict[Partition, int]:
        """The offsets this store last loaded or committed (what ``save_offsets`` fences against)."""
        return self._known

    @contextmanager
    def transaction(self) -> Iterator[StoreTxn]:
        with self._lock:
            self._check_open()
            conn = self._writer()
            try:
                conn.execute("BEGIN")
            except psycopg.Error as exc:
                raise store_error(exc, "begin") from exc
            txn = _PgTxn(conn, self)
            try:
                yield txn
            except _AlreadyCommittedError as done:
                self._rollback(conn)
                self._known.update(done.offsets)
                log.info("the batch had committed before the connection was lost; not applied twice")
                return
            except BaseException:
                self._rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                self._rollback(conn)
                raise store_error(exc, "commit") from exc
            self._known.update(txn.saved)

    def _rollback(self, conn: psycopg.Connection[Row]) -> None:
        try:
            if not conn.closed and not conn.broken:
                conn.execute("ROLLBACK")
        except psycopg.Error:  # the original error matters more; a broken connection is replaced next time
            conn.close()

    @contextmanager
    def reader(self) -> Iterator[StoreReader]:
        self._check_open()
        conn = self._begin_read()
        healthy = False
        try:
            schema = self._schema
            if self._follow:
                current = conn.execute(f"SELECT name FROM {CONTROL_SCHEMA}.current_set").fetchone()
                if current is not None:
                    schema = schema_of(str(current[0]))
            conn.execute(f"SET LOCAL search_path TO {schema}")
            yield _PgReader(conn)
            conn.execute("ROLLBACK")
            healthy = True
        except psycopg.Error as exc:
            raise store_error(exc, "reading") from exc
        finally:
            self._give_back(conn, healthy)

    def _begin_read(self) -> psycopg.Connection[Row]:
        """A connection in a read-only snapshot: an idle pooled one, or a new one. Pooled connections the
        server dropped meanwhile (a restart) are discarded here rather than failing the read."""
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        while True:
            with self._pool_lock:
                pooled = self._pool.pop() if self._pool else None
            if pooled is None:
                break
            try:
                pooled.execute(begin)
                return pooled
            except psycopg.Error:
                pooled.close()
        try:
            conn = _connect(self._url)
            conn.execute(begin)
        except psycopg.Error as exc:
            raise store_error(exc, "connecting") from exc
        return conn

    def _give_back(self, conn: psycopg.Connection[Row], healthy: bool) -> None:
        if healthy and not self._closed:
            with self._pool_lock:
                if len(self._pool) < _READER_POOL:
                    self._pool.append(conn)
                    return
        conn.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._conn is not None:
                self._conn.close()
        with self._pool_lock:
            for conn in self._pool:
                conn.close()
            self._pool.clear()
