"""The SQLite view store's own behaviour: WAL, lock errors, concurrent first opens, URLs (the contract shared
with PostgreSQL is in test_store_backends.py)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from bus.consumer.types import Partition
from bus.errors import ConfigError, StoreBusyError, StoreError
from consumers.store import Migration, SqliteStore, open_store

pytestmark = pytest.mark.unit

COUNTS_V1 = Migration(
    "counts", 1, "a counter table", ("CREATE TABLE counts (k TEXT PRIMARY KEY, n BIGINT NOT NULL)",)
)
COUNTS_V2 = Migration("counts", 2, "a note column", ("ALTER TABLE counts ADD COLUMN note TEXT",))


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "views.db")


def test_a_new_store_has_no_offsets_and_runs_in_wal_mode(store: SqliteStore) -> None:
    assert store.load_offsets() == {}
    with store.reader() as reader:
        assert reader.query("PRAGMA journal_mode") == [("wal",)]


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
        open_store("mysql://localhost/views")
    with pytest.raises(ConfigError, match="PostgreSQL"):
        open_store(f"sqlite:///{tmp_path}/v.db", view_set="green")
    with pytest.raises(StoreError, match="sqlite:///"):
        SqliteStore.from_url("sqlite://views.db")
