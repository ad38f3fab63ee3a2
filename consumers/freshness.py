"""How far the view store is behind the topics, measured by ``lgsp views serve`` without the builder.

The builder's own lag gauge dies with the builder and freezes while it is stuck, which is exactly when it is
needed. This exporter runs in the views API process and compares two facts nobody else has to report:

1. the store's applied offsets (the truth: what the national numbers include), read like any API request;
2. the topics' end offsets, asked of Kafka by a group-less consumer of its own.

For every partition with records not yet applied it also reads the first of them (one small fetch) and takes
its Kafka timestamp (the time the bus took it): ``now - that`` is how long the oldest waiting event has been
kept from the national views. That number is what the freshness SLO talks about (docs/operators.md: the views
at most 2 minutes behind the bus), whatever the reason — builder dead, stuck, or too slow.

A measurement runs every ``interval_s`` in the background (never inside a scrape: Kafka may hang); a Kafka or
store failure marks that dependency down (``lgsp_dependency_up``) and drops the freshness series rather than
letting them show a stale number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bus.consumer.kafka import client_config
from bus.consumer.types import Partition
from bus.metrics import Dependency, DependencyMetrics, FreshnessMetrics
from bus.settings import Settings
from bus.topics import admin_kwargs

log = logging.getLogger(__name__)

KAFKA_TIMEOUT_S = 5.0
"""One Kafka round trip of a measurement; far below the scrape interval and the SLO."""
CLOSE_TIMEOUT_S = 5.0
"""A consumer that lost its broker can hang in ``stop()`` (aiokafka waits for its in-flight fetches: seen for
minutes after a broker restart, which froze every measurement and kept
``lgsp_dependency_up{dependency="kafka"}`` at 0 with Kafka back): closing is given this long."""
_FETCH_BYTES = 64 * 1024
"""Only the first waiting record of a partition is needed: keep each fetch small."""


class OffsetReader(Protocol):
    """The store side: its applied offsets (``ViewSet.offsets``)."""

    def offsets(self) -> Mapping[Partition, int]: ...


@dataclass(frozen=True)
class TopicFreshness:
    """One topic's backlog: records waiting, and the age of the oldest of them (0 when none wait)."""

    lag: int
    behind_s: float


class KafkaEnds:
    """End offsets and first-waiting-record timestamps, one consumer consumer (no group, no commits)."""

    def __init__(self, settings: Settings, topics: Sequence[str]) -> None:
        self._settings = settings
        self._topics = list(topics)
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    async def _client(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **client_config(self._settings, client_suffix="views-freshness"),
                group_id=None,
                enable_auto_commit=False,
                max_partition_fetch_bytes=_FETCH_BYTES,
            )
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer
        return self._consumer

    async def partitions(self) -> list[TopicPartition]:
        """The topics' partitions, asked of the cluster each time (new partitions included); a group-less
        consumer's own metadata only knows what it already reads."""
        if self._admin is None:
            admin = AIOKafkaAdminClient(**admin_kwargs(self._settings.kafka))
            try:
                await admin.start()
            except BaseException:
                await admin.close()
                raise
            self._admin = admin
        described = await self._admin.describe_topics(self._topics)
        return sorted(
            TopicPartition(t["topic"], p["partition"])
            for t in described
            if t["error_code"] == 0
            for p in t["partitions"]
        )

    async def ends(self, tps: Sequence[TopicPartition]) -> tuple[dict[Partition, int], dict[Partition, int]]:
        """(beginning offsets, end offsets) of ``tps``."""
        consumer = await self._client()
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        return (
            {Partition(tp.topic, tp.partition): o for tp, o in starts.items()},
            {Partition(tp.topic, tp.partition): o for tp, o in ends.items()},
        )

    async def first_timestamps(self, positions: Mapping[Partition, int]) -> dict[Partition, float]:
        """The Kafka timestamp (Unix seconds) of the first record at or after each position."""
        if not positions:
            return {}
        consumer = await self._client()
        tps = {TopicPartition(tp.topic, tp.partition): offset for tp, offset in positions.items()}
        consumer.assign(list(tps))
        for tp, offset in tps.items():
            consumer.seek(tp, offset)
        found: dict[Partition, float] = {}
        deadline = time.monotonic() + KAFKA_TIMEOUT_S / 2
        while len(found) < len(tps) and time.monotonic() < deadline:
            pending = [tp for tp in tps if Partition(tp.topic, tp.partition) not in found]
            batch = await consumer.getmany(*pending, timeout_ms=200, max_records=len(pending))
            for tp, records in batch.items():
                if records:
                    found.setdefault(Partition(tp.topic, tp.partition), records[0].timestamp / 1000)
                    consumer.pause(tp)  # one record per partition is all we need
        consumer.resume(*tps)
        return found

    async def close(self) -> None:
        consumer, admin, self._consumer, self._admin = self._consumer, self._admin, None, None
        if consumer is not None:
            await _bounded(consumer.stop(), "consumer")
        if admin is not None:
            await _bounded(admin.close(), "admin client")


async def _bounded(closing: Coroutine[Any, Any, None], what: str) -> None:
    """Close a client in a task of its own and give it :data:`CLOSE_TIMEOUT_S`; whatever it does, the
    measuring loop goes on and the next measurement starts a new client.

    Seen in the live runs after a broker outage: aiokafka's ``stop()`` raised ``CancelledError`` (it awaits
    its own cancelled fetch), which ``except Exception`` does not catch, so the loop died silently and Kafka
    stayed "down" on the dashboards after it was back; a stop may also hang ignoring cancellation, so no
    ``wait_for`` (it cancels, then waits for the cancelled close)."""
    task = asyncio.ensure_future(closing)
    done, _ = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)  # our own cancellation still propagates
    if task not in done:
        log.warning(
            "freshness: the Kafka %s did not close within %g s; a new one is used", what, CLOSE_TIMEOUT_S
        )
        _LEFT.add(task)
        task.add_done_callback(_forget)
    elif task.cancelled():
        log.info("freshness: closing the Kafka %s was cancelled inside the client; a new one is used", what)
    elif (error := task.exception()) is not None:
        log.info("freshness: closing the Kafka %s failed: %r; a new one is used", what, error)


_LEFT: set[asyncio.Task[None]] = set()
"""Closes still running in the background (a reference, so they are not garbage-collected mid-way)."""


def _forget(task: asyncio.Task[None]) -> None:
    _LEFT.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a late close error is no news


def freshness(
    applied: Mapping[Partition, int],
    starts: Mapping[Partition, int],
    ends: Mapping[Partition, int],
    first_waiting: Mapping[Partition, float],
    now: float,
) -> dict[str, TopicFreshness]:
    """Per topic: records not applied (end − the store's next offset, or − the beginning for a partition the
    store has never seen) and the age of the oldest waiting record. A partition whose waiting record could not
    be read in time counts as waiting since ``now`` (lag without a known age still counts, never hides)."""
    lag: dict[str, int] = {}
    behind: dict[str, float] = {}
    for tp, end in ends.items():
        waiting = max(end - applied.get(tp, starts.get(tp, 0)), 0)
        lag[tp.topic] = lag.get(tp.topic, 0) + waiting
        age = max(now - first_waiting.get(tp, now), 0.0) if waiting else 0.0
        behind[tp.topic] = max(behind.get(tp.topic, 0.0), age)
    return {topic: TopicFreshness(lag[topic], behind[topic]) for topic in lag}


class FreshnessExporter:
    """Measures every ``interval_s`` and sets ``lgsp_view_store_lag_messages``,
    ``lgsp_view_store_behind_seconds`` and ``lgsp_dependency_up{dependency="kafka"|"store"}``."""

    def __init__(
        self,
        store: OffsetReader,
        kafka: KafkaEnds | Any,
        *,
        group: str,
        metrics: FreshnessMetrics,
        dependencies: DependencyMetrics,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._kafka = kafka
        self._group = group
        self._metrics = metrics
        self._dependencies = dependencies
        self._interval = interval_s
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Measure until ``stop`` is set; a measurement that fails in any way is logged and the next one runs
        (a dead loop would leave the gauges standing at their last values)."""
        try:
            while not stop.is_set():
                await self._measure_once()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._interval)
        finally:
            await self._kafka.close()

    async def _measure_once(self) -> None:
        try:
            await self.measure()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the app is stopping
            # Raised inside aiokafka (a request it cancelled itself), not meant for this loop.
            log.warning("freshness: a measurement was cancelled inside the Kafka client; measuring on")
            self._kafka_down()
            await self._reset_kafka()
        except Exception:
            log.exception("freshness: a measurement failed; measuring on")
            self._kafka_down()
            await self._reset_kafka()

    def _kafka_down(self) -> None:
        self._dependencies.set(Dependency.KAFKA, up=False)
        self._metrics.clear()

    async def measure(self) -> dict[str, TopicFreshness] | None:
        """One measurement; None (and the series dropped) when the store or Kafka could not be read."""
        try:
            applied = await asyncio.to_thread(self._store.offsets)
        except Exception as exc:  # any store failure is the answer, not a crash of the API
            log.warning("freshness: cannot read the store's offsets: %s", exc)
            self._dependencies.set(Dependency.STORE, up=False)
            self._metrics.clear()
            return None
        self._dependencies.set(Dependency.STORE, up=True)
        try:
            result = await asyncio.wait_for(self._from_kafka(applied), timeout=KAFKA_TIMEOUT_S)
        except Exception as exc:  # Kafka down or slow: say so, never show a number we could not measure
            log.warning("freshness: cannot read the topics' end offsets: %s", exc or type(exc).__name__)
            self._kafka_down()
            await self._reset_kafka()
            return None
        self._dependencies.set(Dependency.KAFKA, up=True)
        for topic, value in result.items():
            self._metrics.set(self._group, topic, value.lag, value.behind_s)
        return result

    async def _from_kafka(self, applied: Mapping[Partition, int]) -> dict[str, TopicFreshness]:
        tps = await self._kafka.partitions()
        starts, ends = await self._kafka.ends(tps)
        positions = {
            tp: applied.get(tp, starts.get(tp, 0))
            for tp, end in ends.items()
            if end > applied.get(tp, starts.get(tp, 0))
        }
        first = await self._kafka.first_timestamps(positions)
        return freshness(applied, starts, ends, first, self._clock())

    async def _reset_kafka(self) -> None:
        # A consumer that lost its broker may keep stale metadata: start a new one next time.
        try:
            await self._kafka.close()
        except Exception as exc:  # closing a broken client may fail too; the next start will tell
            log.debug("freshness: closing the Kafka client: %s", exc)
