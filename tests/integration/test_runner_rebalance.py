"""Two members of one group share a store; one joins and the other leaves mid-stream.

The views still equal the recomputation: revoked partitions are released only after the batch in hand is
committed, and the new owner resumes from the store's offsets.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus.consumer.runner import RunStats
from bus.consumer.service import ConsumerSpec, run_consumer
from bus.consumer.types import Batch
from bus.events import Event
from bus.publisher import Publisher
from bus.settings import Settings
from bus.topics import ensure_topics
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from producers.simulate import EmissionKind, Simulation, SimulationConfig
from tests.views_compare import mismatches

pytestmark = pytest.mark.integration

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


class SlowViewSet(ViewSet):
    """Each batch takes a little longer, so that the rebalances land in the middle of the stream."""

    async def apply(self, batch: Batch) -> None:
        await asyncio.sleep(0.02)
        await super().apply(batch)


async def wait_applied(store: ViewSet, records: int) -> None:
    """Poll the store (up to 2 minutes) until it has applied ``records``."""
    for _ in range(12_000):
        if sum(store.offsets().values()) >= records:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the store did not reach {records} records")


async def test_members_joining_and_leaving_never_lose_or_double_count(
    settings: Settings, topic_prefix: str, tmp_path: Path
) -> None:
    config = settings.model_copy(
        update={
            "topics": settings.topics.model_copy(update={"prefix": topic_prefix, "partitions": 4}),
            "registry": settings.registry.model_copy(update={"auto_register": True}),
            "views": settings.views.model_copy(update={"max_batch_records": 100, "poll_timeout_ms": 100}),
        }
    )
    await ensure_topics(config, prefix=topic_prefix)
    simulation = Simulation(SimulationConfig(seed=3, duplicates=0.05, late_ratio=0.05, scale=0.001))
    events: list[Event] = [
        e.event for e in itertools.islice(simulation, 6000) if e.kind is not EmissionKind.INVALID
    ]
    async with Publisher(config) as publisher:
        await publisher.publish_many(events)

    def member() -> tuple[ViewSet, ConsumerSpec]:
        views = SlowViewSet(
            SqliteStore(tmp_path / "views.db"), build_views(config), topic_prefix=topic_prefix
        )
        spec = ConsumerSpec(f"{topic_prefix}views", views.topics(), views, views.topic_types())
        return views, spec

    first_views, first_spec = member()
    second_views, second_spec = member()
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(run_consumer(config, first_spec, stop=first_stop))
    await wait_applied(first_views, len(events) // 5)
    second = asyncio.create_task(run_consumer(config, second_spec, stop=second_stop, until_caught_up=True))
    await wait_applied(first_views, len(events) * 3 // 5)
    first_stop.set()  # leaves the group: the second member takes every partition
    first_stats: RunStats = await asyncio.wait_for(first, timeout=120)
    second_stats: RunStats = await asyncio.wait_for(second, timeout=300)
    try:
        assert sum(first_views.offsets().values()) == len(events)
        assert first_stats.batches > 0
        assert second_stats.batches > 0
        assert first_stats.applied + second_stats.applied == len(events)  # no record applied twice
        assert mismatches(first_views, events, as_of=AS_OF, sla_hours=config.views.document_sla_hours) == []
    finally:
        first_views.close()
        second_views.close()
