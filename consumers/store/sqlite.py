"""SQLite backend of the view store: WAL mode, one writer connection, a fresh reader per snapshot.

Durability: ``synchronous=NORMAL`` in WAL mode survives any process crash (SIGKILL included) and may lose the
last commits on power loss; because offsets and views commit together, such a loss only makes the builder
re-read those records, never count them twice.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bus.consumer.types import Partition
from bus.errors import StoreBusyError, StoreError
from consumers.store.base import (
    CORE_MIGRATIONS,
    CREATE_SCHEMA_VERSION,
    OFFSET_COLUMNS,
    OFFSET_KEY,
    UPSERT_OFFSET,
    UPSERT_SCHEMA_VERSION,
    Migration,
    Row,
    StoreReader,
    StoreTxn,
    ViewStore,
    copy_sql,
)

_RETRIABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_PROTOCOL,
    }
)
_BUSY_TIMEOUT_MS = 5_000


def store_error(exc: sqlite3.Error, action: str) -> StoreError:
    """Our error for a SQLite failure: locked, full or I/O errors are worth retrying."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    message = f"SQLite store: {action} failed: {exc}"
    if primary in _RETRIABLE_CODES:
        return StoreBusyError(message)
    return StoreError(message)


class _SqliteReader(StoreReader):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise store_error(exc, "query") from exc


class _SqliteTxn(StoreTxn, _SqliteReader):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise store_error(exc, "write") from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise store_error(exc, "write") from exc

    def serialise(self, name: str) -> None:
        return None  # BEGIN IMMEDIATE: one writer at a time already

    def save_offsets(self, offsets: Mapping[Partition, int]) -> None:
        now = int(time.time() * 1000)
        self.executemany(
            UPSERT_OFFSET,
            [(tp.topic, tp.partition, offset, now) for tp, offset in offsets.items()],
        )


def path_from_url(url: str) -> str:
    """The file path in ``sqlite:///relative/path``, ``sqlite:////abs/path`` or ``sqlite:///:memory:``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise StoreError(f"not a SQLite store URL (want sqlite:///path): {url!r}")
    path = url[len(prefix) :]
    if not path:
        raise StoreError(f"SQLite store URL without a path: {url!r}")
    return path


def _enter_wal(conn: sqlite3.Connection) -> None:
    # Switching a new file to WAL answers "database is locked" at once, without the busy handler, while
    # another connection holds it (two processes opening one new store together): retry within the timeout.
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqliteStore(ViewStore):
    """The default store. ``path`` may be ``:memory:`` (one connection, for tests)."""

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._memory = self._path == ":memory:"
        self._lock = threading.Lock()
        if not self._memory:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = self._connect()
        self._closed = False
        self.migrate(CORE_MIGRATIONS)

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        """Open the store named by a ``sqlite:///path`` URL."""
        return cls(path_from_url(url))

    @property
    def path(self) -> str:
        """The database file (or ``:memory:``)."""
        return self._path

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_MS / 1000
            )
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            if not self._memory:
                _enter_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA cache_size = -65536")
            conn.execute("PRAGMA temp_store = MEMORY")
        except sqlite3.Error as exc:
            raise store_error(exc, f"opening {self._path}") from exc
        return conn

    def migrate(self, migrations: Sequence[Migration]) -> dict[str, int]:
        """Create or upgrade the schema; each migration commits with its version record."""
        with self.transaction() as txn:
            txn.execute(CREATE_SCHEMA_VERSION)
        for migration in sorted(migrations, key=lambda m: (m.component, m.version)):
            with self.transaction() as txn:
                # Read under the write lock: `views run` and `views serve` may open a new store at once, and
                # the second must see the first's migration rather than create its tables again.
                if migration.version <= self._version_of(migration.component):
                    continue
                for statement in migration.statements:
                    txn.execute(statement)
                txn.execute(
                    UPSERT_SCHEMA_VERSION,
                    (migration.component, migration.version, migration.description, int(time.time() * 1000)),
                )
        return self._versions()

    def _version_of(self, component: str) -> int:
        row = self._conn.execute(
            "SELECT version FROM schema_version WHERE component = ?", (component,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def _versions(self) -> dict[str, int]:
        with self.reader() as reader:
            rows = reader.query("SELECT component, version FROM schema_version")
        return {str(component): int(version) for component, version in rows}

    def load_offsets(self) -> dict[Partition, int]:
        with self.reader() as reader:
            rows = reader.query("SELECT topic, partition_no, next_offset FROM consumer_offsets")
        return {Partition(str(topic), int(part)): int(offset) for topic, part, offset in rows}

    @contextmanager
    def transaction(self) -> Iterator[StoreTxn]:
        with self._lock:
            self._check_open()
            try:
                # IMMEDIATE takes the write lock up front, so a concurrent writer fails at BEGIN (retriable)
                # instead of half-way through the batch.
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise store_error(exc, "begin") from exc
            try:
                yield _SqliteTxn(self._conn)
            except BaseException:
                self._rollback()
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise store_error(exc, "commit") from exc

    def merge_shards(self, shards: Sequence[str | Path], merge: Callable[[StoreTxn, str], None]) -> None:
        """Fold other stores of the same schema into this one, in one transaction.

        Each shard is attached as schema ``shard<i>`` and handed to ``merge`` with that name; nothing is
        committed unless every shard merged.
        """
        aliases = [f"shard{index}" for index in range(len(shards))]
        with self._lock:
            self._check_open()
            try:
                for alias, path in zip(aliases, shards, strict=True):
                    self._conn.execute(f"ATTACH DATABASE ? AS {alias}", (str(path),))
            except sqlite3.Error as exc:
                self._detach(aliases)
                raise store_error(exc, "attaching a shard") from exc
        try:
            with self.transaction() as txn:
                for alias in aliases:
                    merge(txn, alias)
                    txn.execute(copy_sql(alias, "consumer_offsets", OFFSET_COLUMNS, OFFSET_KEY))
        finally:
            with self._lock:
                self._detach(aliases)

    def _detach(self, aliases: Sequence[str]) -> None:
        attached = {str(row[1]) for row in self._conn.execute("PRAGMA database_list")}
        for alias in aliases:
            if alias in attached:
                self._conn.execute(f"DETACH DATABASE {alias}")

    def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:  # the original error matters more; the connection resets on next BEGIN
            pass

    @contextmanager
    def reader(self) -> Iterator[StoreReader]:
        if self._memory:
            with self._lock:
                self._check_open()
                yield _SqliteReader(self._conn)
            return
        conn = self._connect()
        try:
            conn.execute("BEGIN")  # one snapshot for every query of this reader
            yield _SqliteReader(conn)
        finally:
            conn.close()

    def describe(self) -> dict[str, str]:
        return {"backend": "sqlite", "path": self._path}

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"SQLite store {self._path} is closed")

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()
