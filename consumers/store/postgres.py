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

**View sets (blue/green).** The views of one database live in a schema per *view set*
(``lgsp_<name>``); ``lgsp_control.current_set`` names the one the API serves. ``lgsp views rebuild --into
NEW`` builds set NEW while the current one keeps serving, ``lgsp views switch NEW`` flips the pointer in one
transaction; readers resolve it at the start of every read snapshot.

The connection's side (the driver's setup, the reader and transaction handed to the views, the fencing of
offsets, the types read) is in :mod:`consumers.store.postgres_txn`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg

from bus.consumer.types import Partition
from bus.errors import StoreError
from consumers.store.base import (
    CORE_MIGRATIONS,
    CREATE_SCHEMA_VERSION,
    UPSERT_SCHEMA_VERSION,
    Migration,
    Row,
    StoreReader,
    StoreTxn,
    ViewStore,
)
from consumers.store.postgres_txn import (
    CONTROL_LOCK,
    AlreadyCommittedError,
    PgReader,
    PgTxn,
    connect,
    store_error,
)

log = logging.getLogger(__name__)

DEFAULT_SET = "main"
CONTROL_SCHEMA = "lgsp_control"
_SET_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_READER_POOL = 8
_CONTROL_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {CONTROL_SCHEMA}",
    f"CREATE TABLE IF NOT EXISTS {CONTROL_SCHEMA}.view_sets (name TEXT PRIMARY KEY,"
    " created_at_ms BIGINT NOT NULL, switched_at_ms BIGINT)",
    f"CREATE TABLE IF NOT EXISTS {CONTROL_SCHEMA}.current_set (one INTEGER PRIMARY KEY CHECK (one = 1),"
    " name TEXT NOT NULL REFERENCES lgsp_control.view_sets (name))",
)


def schema_of(view_set: str) -> str:
    """The schema holding view set ``view_set``; ValueError for a name that is not a plain identifier."""
    if not _SET_NAME_RE.match(view_set):
        raise StoreError(f"view set name {view_set!r}: use lowercase letters, digits and _ (max 31)")
    return f"lgsp_{view_set}"


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
            with connect(self._url) as conn:
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
            with connect(self._url) as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (CONTROL_LOCK,))
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
                conn = connect(self._url)
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
            txn.execute("SELECT pg_advisory_xact_lock(?)", (CONTROL_LOCK,))
            txn.execute(CREATE_SCHEMA_VERSION)
        for migration in sorted(migrations, key=lambda m: (m.component, m.version)):
            with self.transaction() as txn:
                txn.execute("SELECT pg_advisory_xact_lock(?)", (CONTROL_LOCK,))
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
            txn = PgTxn(conn, self)
            try:
                yield txn
            except AlreadyCommittedError as done:
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
            yield PgReader(conn)
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
            conn = connect(self._url)
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
