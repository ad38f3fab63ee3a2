"""The SQLite view store: migrations, one transaction for view writes and offsets, error mapping."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from bus.consumer.types import Partition
from bus.errors import ConfigError, StoreBusyError, StoreError
from consumers.store import Migration, SqliteStore, open_store
from consumers.store.base import select_in, upsert_sql

pytestmark = pytest.mark.unit

COUNTS_V1 = Migration(
    "counts", 1, "a counter table", ("CREATE TABLE counts (k TEXT PRIMARY KEY, n BIGINT NOT NULL)",)
)
COUNTS_V2 = Migration("counts", 2, "a note column", ("ALTER TABLE counts ADD COLUMN note TEXT",))
ADD = upsert_sql("counts", ("k", "n"), ("k",), add=("n",))


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "views.db")


def test_a_new_store_has_no_offsets_and_runs_in_wal_mode(store: SqliteStore) -> None:
    assert store.load_offsets() == {}
    with store.reader() as reader:
        assert reader.query("PRAGMA journal_mode") == [("wal",)]


def test_migrations_apply_in_order_once_and_are_recorded(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "v.db")
    assert store.migrate([COUNTS_V2, COUNTS_V1])["counts"] == 2
    assert store.migrate([COUNTS_V1, COUNTS_V2])["counts"] == 2  # nothing re-run (ALTER would fail)
    store.close()
    reopened = SqliteStore(tmp_path / "v.db")
    with reopened.reader() as reader:
        rows = reader.query("SELECT component, version FROM schema_version")
    versions: dict[str, int] = dict(rows)
    assert versions == {"core": 1, "counts": 2}


def test_two_builders_opening_a_new_store_at_once_migrate_it_once(tmp_path: Path) -> None:
    # `views run` and `views serve` of the demo open one new store together; whichever comes second must
    # see the other's migration, not run it again ("table counts already exists").
    def open_and_migrate(path: Path, start: threading.Barrier, versions: list[int]) -> None:
        start.wait()
        store = SqliteStore(path)
        try:
            versions.append(store.migrate([COUNTS_V1, COUNTS_V2])["counts"])
        finally:
            store.close()

    for attempt in range(20):
        path, start, versions = tmp_path / f"views{attempt}.db", threading.Barrier(2), list[int]()
        threads = [threading.Thread(target=open_and_migrate, args=(path, start, versions)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert versions == [2, 2], f"attempt {attempt}: a builder failed to open the store"


def test_view_writes_and_offsets_commit_together(store: SqliteStore) -> None:
    store.migrate([COUNTS_V1])
    with store.transaction() as txn:
        txn.executemany(ADD, [("a", 1), ("b", 2), ("a", 3)])
        txn.save_offsets({Partition("t", 0): 3})
    with store.reader() as reader:
        assert dict(reader.query("SELECT k, n FROM counts")) == {"a": 4, "b": 2}
    assert store.load_offsets() == {Partition("t", 0): 3}


def test_a_failed_transaction_leaves_neither_writes_nor_offsets(store: SqliteStore) -> None:
    store.migrate([COUNTS_V1])

    def half_way() -> None:
        with store.transaction() as txn:
            txn.executemany(ADD, [("a", 1)])
            txn.save_offsets({Partition("t", 0): 1})
            raise RuntimeError("view code failed half-way")

    with pytest.raises(RuntimeError):
        half_way()
    with store.reader() as reader:
        assert reader.query("SELECT COUNT(*) FROM counts") == [(0,)]
    assert store.load_offsets() == {}


def test_a_locked_database_is_a_retriable_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "v.db")
    other = sqlite3.connect(tmp_path / "v.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    store._conn.execute("PRAGMA busy_timeout = 10")
    try:
        with pytest.raises(StoreBusyError) as caught, store.transaction():
            pass
        assert caught.value.retriable
    finally:
        other.execute("ROLLBACK")
        other.close()
    with store.transaction() as txn:  # usable again
        txn.save_offsets({Partition("t", 0): 1})


def test_bad_sql_is_a_store_error_that_is_not_retried(store: SqliteStore) -> None:
    with pytest.raises(StoreError) as caught, store.transaction() as txn:
        txn.execute("SELECT * FROM no_such_table")
    assert not caught.value.retriable


def test_readers_see_a_snapshot_while_the_writer_goes_on(store: SqliteStore) -> None:
    store.migrate([COUNTS_V1])
    with store.transaction() as txn:
        txn.execute("INSERT INTO counts (k, n) VALUES ('a', 1)")
    with store.reader() as reader:
        assert reader.query("SELECT n FROM counts") == [(1,)]
        with store.transaction() as txn:
            txn.execute("UPDATE counts SET n = 2")
        assert reader.query("SELECT n FROM counts") == [(1,)]
    with store.reader() as reader:
        assert reader.query("SELECT n FROM counts") == [(2,)]


def test_in_lists_are_chunked(store: SqliteStore) -> None:
    store.migrate([COUNTS_V1])
    keys = [f"k{i}" for i in range(2500)]
    with store.transaction() as txn:
        txn.executemany(ADD, [(k, 1) for k in keys])
        assert len(select_in(txn, "SELECT k FROM counts WHERE k", keys)) == 2500


def test_store_urls(tmp_path: Path) -> None:
    opened = open_store(f"sqlite:///{tmp_path}/sub/dir/views.db")
    assert isinstance(opened, SqliteStore)
    assert (tmp_path / "sub/dir/views.db").exists()
    opened.close()
    opened.close()  # idempotent
    with pytest.raises(StoreError, match="closed"), opened.transaction():
        pass
    memory = open_store("sqlite:///:memory:")
    assert memory.load_offsets() == {}
    with pytest.raises(ConfigError, match="postgresql"):
        open_store("postgresql://localhost/views")
    with pytest.raises(StoreError, match="sqlite:///"):
        SqliteStore.from_url("sqlite://views.db")
