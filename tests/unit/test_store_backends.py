"""The view store contract, on every backend: SQLite (unit) and PostgreSQL (integration, a real server).

Migrations, view writes and offsets in one transaction, rollback, error classes, read snapshots, chunked
``IN`` lists, and SQLite's result types from PostgreSQL. Backend-specific behaviour (SQLite's WAL and
locking, PostgreSQL's fencing, concurrent members and view sets) is tested beside its backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bus.consumer.types import Partition
from bus.errors import StoreError
from consumers.store import Migration, ViewStore, open_store
from consumers.store.base import select_in, sums_by, upsert_sql

COUNTS_V1 = Migration(
    "counts", 1, "a counter table", ("CREATE TABLE counts (k TEXT PRIMARY KEY, n BIGINT NOT NULL)",)
)
COUNTS_V2 = Migration("counts", 2, "a note column", ("ALTER TABLE counts ADD COLUMN note TEXT",))
ADD = upsert_sql("counts", ("k", "n"), ("k",), add=("n",))

Opener = Callable[[], ViewStore]


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.unit),
        pytest.param("postgresql", marks=pytest.mark.integration),
    ]
)
def open_new(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens stores on one new, empty database of the backend under test (call it again to reopen)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/views.db"
    else:
        url = request.getfixturevalue("postgres_url")
    opened: list[ViewStore] = []

    def opener() -> ViewStore:
        store = open_store(url)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


def test_a_new_store_has_no_offsets(open_new: Opener) -> None:
    assert open_new().load_offsets() == {}


def test_migrations_apply_in_order_once_and_are_recorded(open_new: Opener) -> None:
    store = open_new()
    assert store.migrate([COUNTS_V2, COUNTS_V1])["counts"] == 2
    assert store.migrate([COUNTS_V1, COUNTS_V2])["counts"] == 2  # nothing re-run (ALTER would fail)
    store.close()
    with open_new().reader() as reader:
        versions: dict[str, int] = dict(reader.query("SELECT component, version FROM schema_version"))
    assert versions == {"core": 1, "counts": 2}


def test_view_writes_and_offsets_commit_together(open_new: Opener) -> None:
    store = open_new()
    store.migrate([COUNTS_V1])
    with store.transaction() as txn:
        txn.executemany(ADD, [("a", 1), ("b", 2), ("a", 3)])
        txn.save_offsets({Partition("t", 0): 3})
    with store.reader() as reader:
        assert dict(reader.query("SELECT k, n FROM counts")) == {"a": 4, "b": 2}
    assert store.load_offsets() == {Partition("t", 0): 3}


def test_a_failed_transaction_leaves_neither_writes_nor_offsets(open_new: Opener) -> None:
    store = open_new()
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
    with store.transaction() as txn:  # usable again
        txn.save_offsets({Partition("t", 0): 1})
    assert store.load_offsets() == {Partition("t", 0): 1}


def test_bad_sql_is_a_store_error_that_is_not_retried(open_new: Opener) -> None:
    store = open_new()
    with pytest.raises(StoreError) as caught, store.transaction() as txn:
        txn.execute("SELECT * FROM no_such_table")
    assert not caught.value.retriable


def test_readers_see_a_snapshot_while_the_writer_goes_on(open_new: Opener) -> None:
    store = open_new()
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


def test_in_lists_are_chunked(open_new: Opener) -> None:
    store = open_new()
    store.migrate([COUNTS_V1])
    keys = [f"k{i}" for i in range(2500)]
    with store.transaction() as txn:
        txn.executemany(ADD, [(k, 1) for k in keys])
        assert len(select_in(txn, "SELECT k FROM counts WHERE k", keys)) == 2500


def test_results_have_sqlite_types_and_percent_and_quotes_pass_through(open_new: Opener) -> None:
    # SUM of BIGINT is numeric in PostgreSQL, AVG fractional, comparisons boolean: read as SQLite reads them.
    store = open_new()
    store.migrate([COUNTS_V1])
    with store.transaction() as txn:
        txn.executemany(ADD, [("a%", 2), ("b?", 3)])
    with store.reader() as reader:
        total, mean, bigger, literal = reader.query(
            "SELECT SUM(n), AVG(n), MAX(n) > 2, '?%' FROM counts WHERE k LIKE 'a%' OR k = ?", ("b?",)
        )[0]
    assert (total, mean, bigger, literal) == (5, 2.5, 1, "?%")
    assert (type(total), type(mean), type(bigger)) == (int, float, int)


def test_sums_by_names_each_sum_after_the_list_the_select_is_made_from(open_new: Opener) -> None:
    store = open_new()
    tallies = (
        "CREATE TABLE tallies (place TEXT NOT NULL, day TEXT NOT NULL, a BIGINT NOT NULL, b BIGINT NOT NULL)"
    )
    store.migrate([Migration("tallies", 1, "a table to sum", (tallies,))])
    with store.transaction() as txn:
        txn.executemany(
            "INSERT INTO tallies (place, day, a, b) VALUES (?, ?, ?, ?)",
            [("x", "d1", 1, 10), ("x", "d1", 2, 20), ("x", "d2", 4, 40), ("y", "d1", 8, 80)],
        )
    with store.reader() as reader:
        # the sums asked in another order than the table's columns: each value is found by its name
        by_place = dict(sums_by(reader, "tallies", ("place",), ("b", "a")))
        by_day = dict(sums_by(reader, "tallies", ("place", "day"), ("a",), "WHERE b < ?", [50]))
    assert by_place == {("x",): {"b": 70, "a": 7}, ("y",): {"b": 80, "a": 8}}
    assert by_day == {("x", "d1"): {"a": 3}, ("x", "d2"): {"a": 4}}
