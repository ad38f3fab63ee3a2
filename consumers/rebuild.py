"""Partition-parallel rebuild: the views built from the start of the topics by several processes at once.

One view builder is one Python process, so one core: decoding and applying an event costs it some 40 µs,
which bounds a rebuild from the start of the topics to about 25k events/s. A rebuild can use every core
instead, because the views are partition-local:

* every event of an entity (document, dossier) carries the entity's id as its Kafka key, so one partition
  holds all of them, and so does a shard that owns that partition;
* the aggregates are sums of the entities' contributions, so the shards' aggregates add up.

``rebuild`` splits the partitions of the views' topics into ``processes`` shards (the topics of views that are
not partition-local, reports, whole in the first shard), runs one builder per shard on a store of its own,
each with its partitions assigned by hand (:attr:`bus.consumer.runner.RunnerConfig.partitions`), until it has
applied everything that was on its partitions when it started, then merges the shards into the target store in
one transaction: entity rows copied (a key in two shards fails the merge instead of counting twice),
aggregates added, offsets copied. ``lgsp views run`` then carries on from those offsets.

On PostgreSQL there are no shards to merge: ``processes`` members of one consumer group (``<group>.rebuild.
<view set>``) build the view set directly, each on the partitions the group gives it, exactly as ``lgsp views
run`` members do (the store's exactness for several builders is in :mod:`consumers.store.postgres`). A
member that dies only delays the rebuild: the group hands its partitions to the others, who resume from the
store's offsets. ``into`` names a new view set (blue/green): it is built while the current set keeps
serving, and ``lgsp views switch`` makes it current."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from bus.consumer.kafka import broker_error, consumer_config, topic_partitions
from bus.consumer.runner import RunStats
from bus.consumer.service import ConsumerSpec, run_consumer
from bus.consumer.types import Partition
from bus.errors import ConfigError, StoreError
from bus.gc_policy import tune_for_consuming
from bus.settings import Settings
from consumers.admission import ViewsTrust
from consumers.store import is_postgres
from consumers.store.postgres import PostgresStore
from consumers.store.sqlite import SqliteStore
from consumers.viewset import ViewSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild did: the shards' run statistics, summed, and how many shards ran."""

    stats: RunStats
    shards: int


def shard_partitions(
    records: Mapping[Partition, int], shards: int, whole_topics: Collection[str] = ()
) -> list[list[Partition]]:
    """The partitions (with their record counts) dealt into at most ``shards`` non-empty shards of about
    equal records: partitions of ``whole_topics`` all to the first shard, then the largest partition first
    to the least loaded shard."""
    dealt: list[list[Partition]] = [[] for _ in range(max(shards, 1))]
    load = [0] * len(dealt)
    for tp in sorted(tp for tp in records if tp.topic in whole_topics):
        dealt[0].append(tp)
        load[0] += records[tp]
    rest = sorted((tp for tp in records if tp.topic not in whole_topics), key=lambda tp: (-records[tp], tp))
    for tp in rest:
        lightest = min(range(len(dealt)), key=lambda index: (load[index], index))
        dealt[lightest].append(tp)
        load[lightest] += records[tp]
    return [sorted(shard) for shard in dealt if shard]


async def partition_records(settings: Settings, topics: Sequence[str]) -> dict[Partition, int]:
    """Records held now by each partition of ``topics`` (end − beginning offset)."""
    found = await topic_partitions(settings, topics)
    if not found:
        return {}
    consumer = AIOKafkaConsumer(**consumer_config(settings, group_id=None))
    try:
        await consumer.start()
        ends = await consumer.end_offsets(found)
        starts = await consumer.beginning_offsets(found)
    except Exception as exc:
        raise broker_error(exc, "reading the partitions' offsets") from exc
    finally:
        await consumer.stop()
    return {Partition(tp.topic, tp.partition): end - starts.get(tp, 0) for tp, end in ends.items()}


async def rebuild(settings: Settings, *, processes: int, into: str | None = None) -> RebuildResult:
    """Build the views of ``settings.store.url`` (a new, empty store or view set) from the start of the
    topics in ``processes`` builder processes: shards merged into a SQLite file, or members of one group
    writing a PostgreSQL view set (``into``: that set instead of the current one)."""
    if is_postgres(settings.store.url):
        return await rebuild_in_group(settings, processes=processes, into=into)
    if into is not None:
        raise ConfigError(
            "--into builds a new view set beside the current one: that needs a PostgreSQL store"
        )
    target = ViewSet.from_settings(settings)
    shard_files: list[Path] = []
    try:
        store = target.store
        if not isinstance(store, SqliteStore) or store.path == ":memory:":
            raise StoreError("a partition-parallel rebuild merges SQLite shards: it needs a SQLite file")
        if target.offsets():
            raise StoreError(
                f"{store.path} already holds views: a rebuild starts from a new, empty store "
                "(or use `lgsp views run`, which carries on from the stored offsets)"
            )
        records = await partition_records(settings, target.topics())
        whole = target.whole_topics()
        shards = shard_partitions(records, processes, whole)
        shard_files = [Path(f"{store.path}.shard{index}") for index in range(len(shards))]
        _remove(shard_files)
        started = time.perf_counter()
        stats = await _run_shards(settings, shards, shard_files)
        built = time.perf_counter()
        target.merge_shards(shard_files)
        log.info(
            "rebuilt the views in %d shards (%.1f s) and merged them (%.1f s): %s",
            len(shards), built - started, time.perf_counter() - built, stats,
        )  # fmt: skip
        return RebuildResult(stats, len(shards))
    finally:
        target.close()
        _remove(shard_files)


async def _run_shards(settings: Settings, shards: list[list[Partition]], files: list[Path]) -> RunStats:
    if not shards:
        return RunStats()
    # spawn, not fork: the parent may run threads (the store writer)
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=len(shards), mp_context=context) as pool:
        runs = [
            loop.run_in_executor(pool, run_shard, settings, f"sqlite:///{path}", shard)
            for shard, path in zip(shards, files, strict=True)
        ]
        return _sum_stats(await asyncio.gather(*runs))


REBUILD_BATCH_RECORDS = 20_000
"""Batch size of a shard at least: a rebuild has no one waiting for its first rows, and bigger batches mean
fewer transactions and fewer state look-ups per event."""


def run_shard(settings: Settings, store_url: str, partitions: list[Partition]) -> dict[str, int]:
    """One shard, in its own process: ``partitions`` from their start to their end at start, into the
    store at ``store_url``; returns its :class:`RunStats` as a dict."""
    store = settings.store.model_copy(update={"url": store_url})
    settings = _rebuild_batches(settings.model_copy(update={"store": store}))
    tune_for_consuming()
    return asyncio.run(_member(settings, settings.views.group_id, partitions=partitions))


def run_member(settings: Settings, group_id: str, view_set: str | None) -> dict[str, int]:
    """One member of a rebuild group, in its own process: its share of the partitions until every
    partition has reached its end at start; returns its :class:`RunStats` as a dict.

    Members keep the configured batch size (``views.max_batch_records``), not a shard's 20,000: a member's
    heartbeats share its event loop with decoding, and on a busy host a 20,000-record batch outlasted the
    session timeout (the scale-out bench saw sessions expire, partitions move and batches refused)."""
    tune_for_consuming()
    return asyncio.run(_member(settings, group_id, view_set=view_set))


def _rebuild_batches(settings: Settings) -> Settings:
    batch = max(settings.views.max_batch_records, REBUILD_BATCH_RECORDS)
    return settings.model_copy(
        update={"views": settings.views.model_copy(update={"max_batch_records": batch})}
    )


async def _member(
    settings: Settings, group_id: str, *, partitions: Sequence[Partition] = (), view_set: str | None = None
) -> dict[str, int]:
    views = ViewSet.from_settings(settings, view_set=view_set)
    try:
        async with ViewsTrust(settings) as trust:
            spec = ConsumerSpec(
                group_id=group_id,
                topics=sorted({tp.topic for tp in partitions}) if partitions else views.topics(),
                sink=views,
                topic_types=views.topic_types(),
                admit=trust.admission,
                prepare=trust.refresh,
                partitions=partitions,
            )
            stats = await run_consumer(settings, spec, stop=asyncio.Event(), until_caught_up=True)
    finally:
        views.close()
    return asdict(stats)


async def rebuild_in_group(settings: Settings, *, processes: int, into: str | None = None) -> RebuildResult:
    """The views built into an empty PostgreSQL view set by ``processes`` members of one consumer group."""
    target = ViewSet.from_settings(settings, view_set=into)  # creates (and migrates) the set
    try:
        store = target.store
        view_set = store.view_set if isinstance(store, PostgresStore) else None
        if target.offsets():
            raise StoreError(
                f"view set {view_set!r} already holds views: a rebuild starts from an empty one "
                "(choose a new name with --into, or drop it with `lgsp views drop`)"
            )
    finally:
        target.close()
    group_id = f"{settings.views.group_id}.rebuild.{view_set}"
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        runs = [
            loop.run_in_executor(pool, run_member, settings, group_id, view_set) for _ in range(processes)
        ]
        stats = _sum_stats(await asyncio.gather(*runs))
    log.info(
        "rebuilt view set %s with %d members of group %s in %.1f s: %s",
        view_set, processes, group_id, time.perf_counter() - started, stats,
    )  # fmt: skip
    return RebuildResult(stats, processes)


def _sum_stats(results: Sequence[Mapping[str, int]]) -> RunStats:
    total = RunStats()
    for result in results:
        for item in fields(RunStats):
            setattr(total, item.name, getattr(total, item.name) + result[item.name])
    return total


def _remove(files: Sequence[Path]) -> None:
    for path in files:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
