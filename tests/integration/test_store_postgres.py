"""The PostgreSQL view store on a real server: the views exact with several builders at once, fencing of a
member that lost its partitions, a lost commit answer, reconnection, view sets (blue/green)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from zlib import crc32

import psycopg
import pytest

from bus.consumer.types import Batch, Partition
from bus.errors import OffsetsMovedError, StoreBusyError, StoreError
from bus.events import Event
from bus.settings import Settings
from consumers.store import Migration, open_store
from consumers.store.base import upsert_sql
from consumers.store.postgres import PostgresStore
from consumers.store.postgres_txn import in_key_order
from consumers.viewset import ViewSet, build_views
from tests import views_samples as s
from tests.unit.test_views import AS_OF, SLA_HOURS, simulated
from tests.views_compare import mismatches

pytestmark = pytest.mark.integration

COUNTS = Migration("counts", 1, "counters", ("CREATE TABLE counts (k TEXT PRIMARY KEY, n BIGINT NOT NULL)",))
ADD = upsert_sql("counts", ("k", "n"), ("k",), add=("n",))
P0 = Partition("t", 0)


def _store(url: str, view_set: str | None = None) -> PostgresStore:
    store = open_store(url, view_set=view_set)
    assert isinstance(store, PostgresStore)
    store.migrate([COUNTS])
    return store


def _counts(store: PostgresStore) -> dict[str, int]:
    with store.reader() as reader:
        return dict(reader.query("SELECT k, n FROM counts"))


def test_the_views_on_postgresql_match_the_recomputation(postgres_url: str) -> None:
    views = ViewSet(open_store(postgres_url), build_views(Settings()))
    try:
        events = simulated()
        _feed(views, events, Partition("lgsp.documents", 0))
        assert mismatches(views, events, as_of=AS_OF, sla_hours=SLA_HOURS) == []
    finally:
        views.close()


def test_four_builders_at_once_count_every_event_once(postgres_url: str) -> None:
    # Events dealt to four "partitions" by entity key, as Kafka does, each applied by its own view set and
    # connection at the same time: the shared aggregate rows must add up exactly (no lost update), and the
    # reports view, whose entity is not the key, must still keep the latest revision.
    events = simulated()
    parts: list[list[Event]] = [[] for _ in range(4)]
    for event in events:
        parts[crc32(event.entity_key().encode()) % 4].append(event)
    members = [ViewSet(open_store(postgres_url), build_views(Settings())) for _ in parts]
    errors: list[BaseException] = []

    def build(index: int) -> None:
        try:
            _feed(members[index], parts[index], Partition("lgsp.documents", index), batch_size=200)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(index,)) for index in range(len(parts))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert mismatches(members[0], events, as_of=AS_OF, sla_hours=SLA_HOURS) == []
        assert members[0].offsets() == {Partition("lgsp.documents", i): len(p) for i, p in enumerate(parts)}
    finally:
        for member in members:
            member.close()


def _feed(views: ViewSet, events: Sequence[Event], partition: Partition, batch_size: int = 500) -> None:
    """Apply ``events`` in batches as the runner would, retrying retriable store errors (deadlocks)."""

    async def feed() -> None:
        for start in range(0, len(events), batch_size):
            by_topic = s.by_topic(events[start : start + batch_size])
            batch = Batch(by_topic, {partition: start + len(events[start : start + batch_size])})
            for attempt in range(20):
                try:
                    await views.apply(batch)
                    break
                except StoreBusyError:
                    if attempt == 19:
                        raise
                    await asyncio.sleep(0.05)

    asyncio.run(feed())


def test_a_member_that_lost_its_partition_cannot_commit_over_its_successor(postgres_url: str) -> None:
    old, new = _store(postgres_url), _store(postgres_url)
    try:
        assert old.load_offsets() == {} == new.load_offsets()
        with new.transaction() as txn:  # the successor applied records 0..9
            txn.executemany(ADD, [("a", 10)])
            txn.save_offsets({P0: 10})
        with pytest.raises(OffsetsMovedError) as caught:  # the paused old owner
            _add_and_save(old, 5, 5)
        assert not caught.value.retriable
        assert _counts(new) == {"a": 10}
        assert new.load_offsets() == {P0: 10}
    finally:
        old.close()
        new.close()


def test_a_batch_whose_commit_answer_was_lost_is_not_applied_twice(postgres_url: str) -> None:
    # The retry after a COMMIT whose answer was lost: the store still believes the offsets it had before,
    # the server already holds the batch's. `retry` is that store: it loaded the offsets before `first`
    # committed the same batch.
    first, retry = _store(postgres_url), _store(postgres_url)
    try:
        assert first.load_offsets() == {} == retry.load_offsets()
        _add_and_save(first, 1, 1)
        _add_and_save(retry, 1, 1)  # the same batch again: rolled back, reported done
        assert _counts(first) == {"a": 1}
        _add_and_save(retry, 1, 2)  # and the next batch goes on as usual
        assert _counts(first) == {"a": 2}
    finally:
        first.close()
        retry.close()


def _add_and_save(store: PostgresStore, count: int, next_offset: int) -> None:
    with store.transaction() as txn:
        txn.executemany(ADD, [("a", count)])
        txn.save_offsets({P0: next_offset})


def test_a_lost_connection_is_retriable_and_the_store_reconnects(postgres_url: str) -> None:
    store = _store(postgres_url)
    try:
        store.load_offsets()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(StoreBusyError), store.transaction() as txn:
            txn.executemany(ADD, [("a", 1)])
        with store.transaction() as txn:
            txn.executemany(ADD, [("a", 1)])
            txn.save_offsets({P0: 1})
        assert _counts(store) == {"a": 1}
    finally:
        store.close()


def test_a_read_only_database_is_retriable(postgres_url: str) -> None:
    store = _store(postgres_url)
    name = postgres_url.rsplit("/", 1)[1]
    try:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(StoreBusyError), store.transaction() as txn:
            txn.executemany(ADD, [("a", 1)])
    finally:
        store.close()


def test_view_sets_switch_atomically_and_readers_follow(postgres_url: str) -> None:
    serving = _store(postgres_url)  # opens (and creates) the current set, "main"
    green = _store(postgres_url, view_set="green")
    try:
        assert (serving.view_set, green.view_set) == ("main", "green")
        with serving.transaction() as txn:
            txn.executemany(ADD, [("a", 1)])
        with green.transaction() as txn:
            txn.executemany(ADD, [("a", 2)])
        assert _counts(serving) == {"a": 1}
        assert serving.view_sets() == {"green": False, "main": True}
        assert serving.switch("green") == "main"
        assert _counts(serving) == {"a": 2}  # the next snapshot reads the new current set
        with pytest.raises(StoreError, match="current"):
            serving.drop_set("green")
        serving.drop_set("main")
        assert serving.view_sets() == {"green": True}
        with pytest.raises(StoreError, match="no view set"):
            serving.switch("main")
        with pytest.raises(StoreError, match="view set name"):
            open_store(postgres_url, view_set="Bad-Name")
    finally:
        serving.close()
        green.close()


def test_upserts_are_written_in_key_order_and_repeated_keys_keep_theirs() -> None:
    rows = [("b", 1), ("a", 2), ("b", 3), ("a", 4)]
    assert list(in_key_order(ADD, rows)) == [("a", 2), ("a", 4), ("b", 1), ("b", 3)]
    plain = "UPDATE counts SET n = ? WHERE k = ?"
    assert list(in_key_order(plain, rows)) == rows


def test_an_existing_store_opens_and_reads_on_a_read_only_database(postgres_url: str) -> None:
    # API replicas may read a standby: opening a set that exists writes nothing.
    writer = _store(postgres_url)
    _add_and_save(writer, 3, 1)
    writer.close()
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    reader = _store(postgres_url)
    try:
        assert _counts(reader) == {"a": 3}
        assert reader.load_offsets() == {P0: 1}
    finally:
        reader.close()
