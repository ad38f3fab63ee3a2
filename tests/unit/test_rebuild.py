"""The partition-parallel rebuild's two pure parts: dealing partitions into shards, and merging shards.

Shards are fed here as Kafka would feed them (an entity's events by its key, the reports topic whole to one
shard); the merged store must equal the independent recomputation (``tests/views_oracle.py``), like a store
fed every event.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from bus.consumer.types import Batch, Partition
from bus.errors import StoreError
from bus.events import Event
from bus.settings import Settings
from consumers.rebuild import shard_partitions
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from tests import views_samples as s
from tests.unit.test_views import AS_OF, SLA_HOURS, simulated
from tests.views_compare import mismatches

pytestmark = pytest.mark.unit

DOCS, DOSS, REPS = "lgsp.documents", "lgsp.dossiers", "lgsp.reports"


def test_partitions_are_dealt_by_records_and_whole_topics_stay_together() -> None:
    records = {
        Partition(DOCS, 0): 80,
        Partition(DOCS, 1): 81,
        Partition(DOCS, 2): 82,
        Partition(DOSS, 0): 19,
        Partition(DOSS, 1): 18,
        Partition(REPS, 0): 1,
        Partition(REPS, 1): 1,
    }
    shards = shard_partitions(records, 2, {REPS})
    assert sorted(tp for shard in shards for tp in shard) == sorted(records)
    assert {Partition(REPS, 0), Partition(REPS, 1)} <= set(shards[0])
    loads = [sum(records[tp] for tp in shard) for shard in shards]
    assert max(loads) - min(loads) <= max(records.values())


def test_there_are_never_more_shards_than_partitions() -> None:
    records = {Partition(DOCS, 0): 5, Partition(REPS, 0): 1}
    assert shard_partitions(records, 8, {REPS}) == [[Partition(REPS, 0)], [Partition(DOCS, 0)]]
    assert shard_partitions(records, 1, {REPS}) == [[Partition(DOCS, 0), Partition(REPS, 0)]]
    assert shard_partitions({}, 3) == []


def _partition(event: Event, shards: int) -> int:
    """A stable stand-in for Kafka's key hash: one entity, one shard; reports all in shard 0."""
    topic = s.topic_of(event)
    return 0 if topic == REPS else zlib.crc32(event.entity_key().encode()) % shards


def _feed(views: ViewSet, events: Sequence[Event], partition: int) -> None:
    async def feed() -> None:
        for start in range(0, len(events), 700):
            by_topic = s.by_topic(events[start : start + 700])
            await views.apply(Batch(by_topic, {Partition(DOCS, partition): start + 700}))

    asyncio.run(feed())


def test_merged_shards_equal_the_recomputation(tmp_path: Path) -> None:
    events = list(simulated())
    shards = 3
    paths = [tmp_path / f"views.db.shard{index}" for index in range(shards)]
    for index, path in enumerate(paths):
        shard = ViewSet(SqliteStore(path), build_views(Settings()))
        _feed(shard, [e for e in events if _partition(e, shards) == index], index)
        shard.close()
    target = ViewSet(SqliteStore(tmp_path / "views.db"), build_views(Settings()))
    try:
        target.merge_shards(paths)
        assert mismatches(target, events, as_of=AS_OF, sla_hours=SLA_HOURS) == []
        assert set(target.offsets()) == {Partition(DOCS, index) for index in range(shards)}
    finally:
        target.close()


def test_an_entity_in_two_shards_fails_the_merge_and_changes_nothing(tmp_path: Path) -> None:
    events = list(simulated())
    paths = [tmp_path / "a.db", tmp_path / "b.db"]
    for index, path in enumerate(paths):  # the same events twice: every entity in both shards
        shard = ViewSet(SqliteStore(path), build_views(Settings()))
        _feed(shard, events, index)
        shard.close()
    target = ViewSet(SqliteStore(tmp_path / "views.db"), build_views(Settings()))
    try:
        with pytest.raises(StoreError):
            target.merge_shards(paths)
        assert target.offsets() == {}
    finally:
        target.close()
