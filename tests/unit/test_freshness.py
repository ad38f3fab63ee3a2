"""How far the view store is behind, as views serve measures it (consumers.freshness); Kafka faked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from bus.consumer.dlq_tools import Bookmark
from bus.consumer.types import Partition
from bus.errors import StoreBusyError
from bus.metrics import Dependency, DependencyMetrics, FreshnessMetrics
from bus.settings import Settings
from consumers import freshness as freshness_module
from consumers.freshness import FreshnessExporter, KafkaEnds, TopicFreshness, freshness

pytestmark = pytest.mark.unit

DOCS = "lgsp.documents"


def test_lag_sums_partitions_and_age_is_the_oldest_waiting_record() -> None:
    applied = {Partition(DOCS, 0): 10, Partition(DOCS, 1): 5}
    ends = {Partition(DOCS, 0): 10, Partition(DOCS, 1): 25, Partition(DOCS, 2): 3}
    starts = {Partition(DOCS, 2): 1}  # never seen by the store: waiting from its beginning
    first = {Partition(DOCS, 1): 1000.0, Partition(DOCS, 2): 1030.0}
    assert freshness(applied, starts, ends, first, now=1100.0) == {
        DOCS: TopicFreshness(lag=22, behind_s=100.0)
    }


def test_a_caught_up_topic_is_zero_behind_and_an_unread_waiting_record_counts_as_now() -> None:
    ends = {Partition(DOCS, 0): 10, Partition("lgsp.reports", 0): 4}
    applied = {Partition(DOCS, 0): 10, Partition("lgsp.reports", 0): 2}
    result = freshness(applied, {}, ends, {}, now=50.0)
    assert result == {DOCS: TopicFreshness(0, 0.0), "lgsp.reports": TopicFreshness(2, 0.0)}


class FakeKafka:
    def __init__(self, ends: Mapping[Partition, int], stamps: Mapping[Partition, float]) -> None:
        self.ends_, self.stamps, self.down, self.closed = dict(ends), dict(stamps), False, 0

    async def partitions(self) -> list[TopicPartition]:
        if self.down:
            raise OSError("connection refused")
        return [TopicPartition(tp.topic, tp.partition) for tp in self.ends_]

    async def ends(self, tps: Sequence[TopicPartition]) -> tuple[dict[Partition, int], dict[Partition, int]]:
        return {}, dict(self.ends_)

    async def first_timestamps(self, positions: Mapping[Partition, int]) -> dict[Partition, float]:
        return {tp: self.stamps[tp] for tp in positions}

    async def close(self) -> None:
        self.closed += 1


class FakeStore:
    def __init__(self, offsets: dict[Partition, int]) -> None:
        self.offsets_, self.broken = offsets, False

    def offsets(self) -> Mapping[Partition, int]:
        if self.broken:
            raise StoreBusyError("SQLite store: query failed: disk I/O error")
        return self.offsets_


def _exporter(store: FakeStore, kafka: FakeKafka) -> tuple[FreshnessExporter, CollectorRegistry]:
    registry = CollectorRegistry()
    exporter = FreshnessExporter(
        store,
        kafka,
        group="lgsp-views",
        metrics=FreshnessMetrics(registry),
        dependencies=DependencyMetrics(registry, (Dependency.KAFKA, Dependency.STORE)),
        clock=lambda: 1000.0,
    )
    return exporter, registry


def _value(registry: CollectorRegistry, name: str, **labels: str) -> Any:
    return registry.get_sample_value(name, labels)


def test_the_exporter_sets_gauges_and_drops_them_when_a_dependency_fails() -> None:
    tp = Partition(DOCS, 0)
    store, kafka = FakeStore({tp: 90}), FakeKafka({tp: 100}, {tp: 940.0})
    exporter, registry = _exporter(store, kafka)
    labels = {"group": "lgsp-views", "topic": DOCS}

    asyncio.run(exporter.measure())
    assert _value(registry, "lgsp_view_store_lag_messages", **labels) == 10
    assert _value(registry, "lgsp_view_store_behind_seconds", **labels) == 60.0
    assert _value(registry, "lgsp_dependency_up", dependency="kafka") == 1

    kafka.down = True
    assert asyncio.run(exporter.measure()) is None
    assert _value(registry, "lgsp_view_store_behind_seconds", **labels) is None  # no stale number
    assert _value(registry, "lgsp_dependency_up", dependency="kafka") == 0
    assert kafka.closed == 1  # a new client next time

    kafka.down, store.broken = False, True
    asyncio.run(exporter.measure())
    assert _value(registry, "lgsp_dependency_up", dependency="store") == 0
    store.broken = False
    asyncio.run(exporter.measure())
    assert _value(registry, "lgsp_dependency_up", dependency="store") == 1
    assert _value(registry, "lgsp_view_store_lag_messages", **labels) == 10


def test_a_replay_bookmark_remembers_pending_letters_below_its_offset() -> None:
    mark = Bookmark.parse(10, '{"pending":[2,7,12]}')
    assert mark.pending == {2, 7}  # 12 is not below the offset: it is a candidate anyway
    assert mark.start == 2
    assert [o for o in range(12) if mark.is_candidate(o)] == [2, 7, 10, 11]
    assert Bookmark.parse(mark.offset, mark.metadata()) == mark
    assert Bookmark.parse(5, "written by an older replay") == Bookmark(5)


def test_a_consumer_that_hangs_in_stop_is_left_behind_so_measuring_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seen live: after a broker restart aiokafka's ``stop()`` waited for minutes, ignoring cancellation, and
    every measurement with it, so Kafka stayed "down" on the dashboards after it was back."""
    monkeypatch.setattr(freshness_module, "CLOSE_TIMEOUT_S", 0.2)

    async def scenario() -> bool:
        release = asyncio.Event()

        class Hanging:
            async def stop(self) -> None:
                while not release.is_set():  # like the stuck fetch: a cancellation does not end it
                    with contextlib.suppress(asyncio.CancelledError):
                        await release.wait()

        ends = KafkaEnds(Settings(), [DOCS])
        ends._consumer = Hanging()  # the stop() of a consumer that lost its broker
        closing = asyncio.ensure_future(ends.close())
        done, _ = await asyncio.wait({closing}, timeout=3)
        release.set()  # whatever happened: let every close end, so the loop can close
        await closing
        await asyncio.sleep(0.05)
        return closing in done and getattr(ends, "_consumer") is None  # noqa: B009 - mypy narrowed it

    assert asyncio.run(scenario())  # closed within 3 s; the next measurement makes a new client


def test_a_close_that_raises_cancelled_error_does_not_end_the_measuring_loop() -> None:
    """Seen live after a broker restart: aiokafka's ``stop()`` raised ``CancelledError`` (its own cancelled
    fetch), which ended the freshness loop silently; Kafka then stayed "down" although it was back."""
    tp = Partition(DOCS, 0)
    store, kafka = FakeStore({tp: 90}), FakeKafka({tp: 100}, {tp: 940.0})

    class CancelledInside:
        async def stop(self) -> None:
            raise asyncio.CancelledError

    ends = KafkaEnds(Settings(), [DOCS])
    exporter, registry = _exporter(store, kafka)

    async def scenario() -> None:
        ends._consumer = CancelledInside()
        await ends.close()  # returns: the close's own cancellation is not ours
        kafka.down = True
        stop = asyncio.Event()
        loop = asyncio.ensure_future(exporter.run(stop))
        await asyncio.sleep(0.05)
        kafka.down = False
        await exporter._measure_once()
        stop.set()
        await loop

    asyncio.run(scenario())
    assert _value(registry, "lgsp_dependency_up", dependency="kafka") == 1
