"""Measuring workers, each run in a fresh process (``python -m bench.workers NAME``) so that no measurement
inherits another's heap, threads or connections. Settings come from ``LGSP_*`` variables; the result is the
last line printed, as JSON.

    views-rebuild   the views on an empty store under a new group, from the start of the topics to caught up;
                    ``--verify`` checks every record's signature against the keyring first, as ``lgsp views
                    run`` does; ``--no-verify`` skips only that check (the report ranges are checked in both)
    rebuild-n       ``lgsp views rebuild --processes N`` (``--processes``) into the store ``LGSP_STORE__URL``
                    names (PostgreSQL: members of one group; ``sqlite:///`` or none: a new file in a
                    temporary directory)
    raw-consume     aiokafka with the runner's consumer settings, beginning → end offsets, records counted
    raw-decode      the same, and every record decoded by the serde (schema ids resolved per batch)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.consumer.admission import Admission
from bus.consumer.kafka import consumer_config, topic_partitions
from bus.consumer.runner import RunStats
from bus.consumer.service import ConsumerSpec, run_consumer
from bus.consumer.types import Batch
from bus.gc_policy import tune_for_consuming
from bus.registry import SchemaRegistryClient
from bus.serde import AvroDeserializer, SerializationContext
from bus.settings import Settings
from bus.topics import TOPICS
from consumers.admission import ViewsTrust, views_admission
from consumers.rebuild import rebuild
from consumers.store import SqliteStore, is_postgres, open_store
from consumers.viewset import ViewSet, build_views

PARALLEL_PROCESSES = 2
"""Shards of the partition-parallel rebuild the rebuild part measures: one per core of the 2-core machine."""


async def views_rebuild(settings: Settings, *, verify: bool) -> dict[str, Any]:
    """The view builder on a fresh store and a new group, from the beginning to caught up."""
    with tempfile.TemporaryDirectory(prefix="bench-views-") as work:
        store = SqliteStore(Path(work) / "views.db")
        views = TimedViews(store, build_views(settings), topic_prefix=settings.topics.prefix)
        group = f"bench-views-{uuid.uuid4().hex[:10]}"
        started, cpu = time.perf_counter(), time.process_time()
        try:
            if verify:
                async with ViewsTrust(settings) as trust:
                    stats = await _consume(settings, views, group, trust.admission, trust.refresh)
            else:
                stats = await _consume(settings, views, group, views_admission(settings))
        finally:
            views.close()
        ended = time.perf_counter()
    first = views.first_batch_at
    return {
        "records": stats.records,
        "seconds": ended - started,
        "after_first_batch_s": ended - first if first is not None else None,
        "cpu_seconds": time.process_time() - cpu,
        "dead_letters": stats.dead_lettered,
        "verify": verify,
    }


async def _consume(
    settings: Settings,
    views: ViewSet,
    group: str,
    admit: Admission,
    prepare: Callable[[], Awaitable[None]] | None = None,
) -> RunStats:
    """``lgsp views run``'s consumer (its admission and, verifying, its keyring refresh before each batch)."""
    spec = ConsumerSpec(group, views.topics(), views, views.topic_types(), admit=admit, prepare=prepare)
    return await run_consumer(settings, spec, stop=asyncio.Event(), until_caught_up=True)


class TimedViews(ViewSet):
    """The real views; remembers when the first batch arrived (so the group join can be told apart)."""

    first_batch_at: float | None = None

    async def apply(self, batch: Batch) -> None:
        if self.first_batch_at is None:
            self.first_batch_at = time.perf_counter()
        await super().apply(batch)


async def rebuild_n(settings: Settings, processes: int) -> dict[str, Any]:
    """The partition-parallel rebuild into a fresh store: shards spawned, built, merged (SQLite), or members
    of one group on the empty PostgreSQL database ``settings.store.url`` names. ``cpu_seconds`` counts this
    process and its (reaped) builder processes, not the PostgreSQL server's."""
    with tempfile.TemporaryDirectory(prefix="bench-views-") as work:
        url = settings.store.url
        if not is_postgres(url):
            url = f"sqlite:///{Path(work) / 'views.db'}"
        target = settings.model_copy(
            update={
                "store": settings.store.model_copy(update={"url": url}),
                "views": settings.views.model_copy(
                    update={"group_id": f"bench-views-{uuid.uuid4().hex[:10]}"}
                ),
            }
        )
        started, cpu, children = time.perf_counter(), time.process_time(), _children_cpu_s()
        result = await rebuild(target, processes=processes)
        seconds = time.perf_counter() - started
        cpu_s = time.process_time() - cpu + _children_cpu_s() - children
        # The store's offsets are the truth: members of a group may both process a range before one of them
        # is fenced (its batch refused, nothing written), so their summed statistics can exceed the records.
        store = open_store(target.store.url)
        try:
            committed = sum(store.load_offsets().values())
        finally:
            store.close()
    return {
        "records": committed,
        "seconds": seconds,
        "cpu_seconds": cpu_s,
        "processes": processes,
        "processed": result.stats.records,
        "dead_letters": result.stats.dead_lettered,
        "store": url.split(":", 1)[0],
    }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def raw_consume(settings: Settings, *, decode: bool) -> dict[str, Any]:
    """Beginning → end offsets with the runner's fetch settings; optionally decoding every record."""
    tps = await topic_partitions(settings, [settings.topics.prefix + name for name in TOPICS])
    consumer = AIOKafkaConsumer(**consumer_config(settings, group_id=None))
    registry = SchemaRegistryClient(settings.registry)
    deserializer = AvroDeserializer(registry)
    contexts = {tp.topic: SerializationContext(tp.topic) for tp in tps}
    started, cpu = time.perf_counter(), time.process_time()
    await consumer.start()
    records = 0
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        remaining = {tp: end for tp, end in ends.items() if end > 0}
        while remaining:
            batch = await consumer.getmany(
                timeout_ms=settings.views.poll_timeout_ms, max_records=settings.views.max_batch_records
            )
            if decode:
                await deserializer.prepare_ids(
                    {deserializer.schema_id_of(r.value) for rs in batch.values() for r in rs}
                )
            for tp, rs in batch.items():
                records += len(rs)
                if decode:
                    ctx = contexts[tp.topic]
                    for r in rs:
                        deserializer.deserialize_record(r.value, ctx)
                if rs and rs[-1].offset + 1 >= remaining.get(tp, 0):
                    remaining.pop(tp, None)
    finally:
        await consumer.stop()
        await registry.aclose()
    return {
        "records": records,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("worker", choices=["views-rebuild", "rebuild-n", "raw-consume", "raw-decode"])
    parser.add_argument("--processes", type=int, default=PARALLEL_PROCESSES, help="rebuild-n: builders")
    parser.add_argument(
        "--verify", action=argparse.BooleanOptionalAction, default=True, help="views-rebuild: signatures"
    )
    args = parser.parse_args(argv)
    settings = Settings()
    if args.worker == "views-rebuild":
        tune_for_consuming()  # as `lgsp views run` and a rebuild's builders do
        result = asyncio.run(views_rebuild(settings, verify=args.verify))
    elif args.worker == "rebuild-n":
        result = asyncio.run(rebuild_n(settings, args.processes))
    else:
        result = asyncio.run(raw_consume(settings, decode=args.worker == "raw-decode"))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
