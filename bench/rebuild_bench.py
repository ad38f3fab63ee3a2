"""Rebuild throughput: the national views from the start of the topics vs a raw aiokafka consume, same run.

    LGSP_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:19092 LGSP_REGISTRY__URL=http://127.0.0.1:18081/apis/ccompat/v7 \\
        .venv/bin/python -m bench.rebuild_bench --events 1000000 --rounds 2 [--profile bench/results/prof.txt]

The corpus is :mod:`bench.corpus`'s (simulated once, cached, sent raw to ``rb-``-prefixed topics of our own,
reused by later runs while they are there).
Each round measures, one after the other on the same topics:

* ``raw``: aiokafka with the runner's consumer settings, partitions assigned, beginning → end offsets,
  records counted (the ceiling for any Python consumer here);
* ``raw+decode``: the same plus ``AvroDeserializer.prepare_ids`` per batch and ``deserialize_raw`` per
  record (the serde and the events' rules: what the runner must do before any view sees an event);
* ``views``: the view builder (``run_views``-equivalent: consumer group, decode, four views, one SQLite
  transaction per batch with the offsets) on a fresh store and a new group, until caught up; reported from
  consumer start (group join included) and from the first batch (join excluded);
* ``--rebuild-processes N`` (default 2): the partition-parallel rebuild (``consumers.rebuild``,
  ``lgsp views rebuild``): N builder processes on shards of the partitions, merged into one fresh store.

``--profile`` runs one more views rebuild under pyinstrument and writes its text report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import corpus
from bench.stack import prepare_topics, with_prefix
from bus.consumer.kafka import consumer_config, topic_partitions
from bus.consumer.service import ConsumerSpec, run_consumer
from bus.consumer.types import Batch
from bus.registry import SchemaRegistryClient
from bus.serde import AvroDeserializer, SerializationContext
from bus.settings import Settings
from consumers.rebuild import rebuild
from consumers.store import SqliteStore, is_postgres, open_store
from consumers.viewset import ViewSet, build_views

RESULTS = Path(__file__).resolve().parent / "results"
CATALOG = ("lgsp.documents", "lgsp.dossiers", "lgsp.reports")


@dataclass
class Timing:
    records: int
    seconds: float
    after_first_batch_s: float | None = None
    cpu_s: float = 0.0
    """CPU time of this process (all its threads; not decode workers): steadier than wall time when the
    machine is shared."""
    processed: int | None = None
    """Records the builders processed (their run statistics, summed): more than ``records`` when a fenced
    member's batch was refused and read again by its successor."""

    @property
    def cpu_rate(self) -> float:
        return self.records / self.cpu_s if self.cpu_s else 0.0

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def rate_after_join(self) -> float | None:
        return self.records / self.after_first_batch_s if self.after_first_batch_s else None


async def partitions_and_ends(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    tps = await topic_partitions(settings, topics)
    consumer = AIOKafkaConsumer(**consumer_config(settings, group_id=None))
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return ends
    finally:
        await consumer.stop()


async def records_held(settings: Settings, topics: list[str]) -> int:
    """Records now on ``topics`` (end − beginning offsets; 0 for topics that do not exist)."""
    tps = await topic_partitions(settings, topics)
    if not tps:
        return 0
    consumer = AIOKafkaConsumer(**consumer_config(settings, group_id=None))
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
    finally:
        await consumer.stop()
    return sum(end - starts[tp] for tp, end in ends.items())


async def raw_consume(settings: Settings, ends: dict[TopicPartition, int], *, decode: bool) -> Timing:
    """Beginning → end offsets with the runner's fetch settings; optionally decoding every record."""
    consumer = AIOKafkaConsumer(**consumer_config(settings, group_id=None))
    registry = SchemaRegistryClient(settings.registry)
    deserializer = AvroDeserializer(registry)
    contexts = {tp.topic: SerializationContext(tp.topic) for tp in ends}
    started, cpu = time.perf_counter(), time.process_time()
    await consumer.start()
    records = 0
    try:
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
                        deserializer.deserialize_raw(r.value, ctx)
                if rs and rs[-1].offset + 1 >= remaining.get(tp, 0):
                    remaining.pop(tp, None)
    finally:
        await consumer.stop()
        await registry.aclose()
    return Timing(records, time.perf_counter() - started, cpu_s=time.process_time() - cpu)


class TimedViews(ViewSet):
    """The real views; remembers when the first batch arrived (so the group join can be told apart)."""

    first_batch_at: float | None = None

    async def apply(self, batch: Batch) -> None:
        if self.first_batch_at is None:
            self.first_batch_at = time.perf_counter()
        await super().apply(batch)


async def views_rebuild(settings: Settings, work: Path) -> Timing:
    """The view builder on a fresh store and a new group, from the beginning to caught up."""
    store = work / f"views-{uuid.uuid4().hex[:8]}.db"
    views = TimedViews(SqliteStore(store), build_views(settings), topic_prefix=settings.topics.prefix)
    spec = ConsumerSpec(f"bench-views-{uuid.uuid4().hex[:10]}", views.topics(), views, views.topic_types())
    started, cpu = time.perf_counter(), time.process_time()
    try:
        stats = await run_consumer(settings, spec, stop=asyncio.Event(), until_caught_up=True)
    finally:
        views.close()
    ended = time.perf_counter()
    first = views.first_batch_at
    after_join = ended - first if first is not None else None
    return Timing(stats.records, ended - started, after_join, time.process_time() - cpu)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def views_rebuild_parallel(settings: Settings, work: Path, processes: int) -> Timing:
    """The partition-parallel rebuild into a fresh store: shards spawned, built, merged (SQLite), or members
    of one group on the empty PostgreSQL database ``settings.store.url`` names. ``cpu_s`` counts this
    process and its (reaped) builder processes, not the PostgreSQL server's."""
    url = settings.store.url
    if not is_postgres(url):
        url = f"sqlite:///{work / f'views-{uuid.uuid4().hex[:8]}.db'}"
    target = settings.model_copy(
        update={
            "store": settings.store.model_copy(update={"url": url}),
            "views": settings.views.model_copy(update={"group_id": f"bench-views-{uuid.uuid4().hex[:10]}"}),
        }
    )
    started, cpu, children = time.perf_counter(), time.process_time(), _children_cpu_s()
    result = await rebuild(target, processes=processes)
    seconds = time.perf_counter() - started
    cpu_s = time.process_time() - cpu + _children_cpu_s() - children
    # The store's offsets are the truth: members of a group may both process a range before one of them is
    # fenced (its batch refused, nothing written), so their summed run statistics can exceed the records.
    store = open_store(target.store.url)
    try:
        committed = sum(store.load_offsets().values())
    finally:
        store.close()
    return Timing(committed, seconds, cpu_s=cpu_s, processed=result.stats.records)


def ensure_corpus(settings: Settings, count: int, cache: Path | None = None) -> Settings:
    """Settings pointing at the corpus topics, producing them first if they are not there."""
    # Our own topics (``lgsp bench`` deletes its corpus topics when it is done); the cached corpus is shared.
    prefix = f"rb-{cache.stem}." if cache is not None else "rb-" + corpus.corpus_prefix(count)
    settings = with_prefix(settings, prefix)
    held = asyncio.run(records_held(settings, [prefix + name for name in CATALOG]))
    if held == count:
        return settings
    if held:
        raise SystemExit(f"topics under {prefix} hold {held} records, not {count}: delete them")
    path = cache or corpus.cache_path(settings, count)
    if not path.exists():
        print(f"simulating {count:,} events into {path} (once)", flush=True)
        corpus.simulate_to_cache(path, count, lambda line: print(line, flush=True))
    asyncio.run(prepare_topics(settings))
    print(f"sending {count:,} pre-encoded events to {prefix}*", flush=True)
    asyncio.run(corpus.send_cache(settings, path, lambda line: print(line, flush=True)))
    return settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--cache", type=Path, help="a corpus file written by bench.corpus (instead of simulating)"
    )
    parser.add_argument(
        "--prepare-only", action="store_true", help="put the corpus on its topics, measure nothing"
    )
    parser.add_argument("--profile", type=Path, help="also profile one views rebuild (pyinstrument text)")
    parser.add_argument("--label", default="", help="a note stored with the results (e.g. before/after)")
    parser.add_argument(
        "--rebuild-processes",
        type=int,
        default=2,
        help="also measure the partition-parallel rebuild in this many processes (0: do not)",
    )
    parser.add_argument(
        "--decode-workers",
        default="0",
        help="comma-separated views.decode_workers values to measure, e.g. 0,2",
    )
    args = parser.parse_args(argv)
    settings = ensure_corpus(Settings(), args.events, args.cache)
    if args.prepare_only:
        return
    topics = [settings.topics.prefix + name for name in CATALOG]
    ends = asyncio.run(partitions_and_ends(settings, topics))
    total = sum(ends.values())
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rebuild-bench-") as work:
        for index in range(args.rounds):
            raw = asyncio.run(raw_consume(settings, ends, decode=False))
            decoded = asyncio.run(raw_consume(settings, ends, decode=True))
            row: dict[str, Any] = {
                "round": index + 1,
                "records": total,
                "raw_per_s": raw.rate,
                "raw_per_cpu_s": raw.cpu_rate,
                "raw_decode_per_s": decoded.rate,
                "raw_decode_per_cpu_s": decoded.cpu_rate,
            }
            line = (
                f"round {index + 1}: raw {raw.rate:,.0f}/s ({raw.cpu_rate:,.0f}/CPU-s) | raw+decode "
                f"{decoded.rate:,.0f}/s ({decoded.cpu_rate:,.0f}/CPU-s)"
            )
            for workers in (int(w) for w in args.decode_workers.split(",")):
                variant = settings.model_copy(
                    update={"views": settings.views.model_copy(update={"decode_workers": workers})}
                )
                views = asyncio.run(views_rebuild(variant, Path(work)))
                if views.records != total:
                    raise SystemExit(f"the views applied {views.records} of {total} records")
                row[f"views_w{workers}"] = {
                    "per_s": views.rate,
                    "after_join_per_s": views.rate_after_join,
                    "seconds": views.seconds,
                    "per_cpu_s": views.cpu_rate,
                    "vs_raw": views.rate / raw.rate,
                    "vs_raw_cpu": views.cpu_rate / raw.cpu_rate if raw.cpu_rate else None,
                }
                after_join = views.rate_after_join or 0
                line += (
                    f" | views (decode workers {workers}) {views.rate:,.0f}/s in {views.seconds:.1f} s "
                    f"({after_join:,.0f}/s after join; {views.cpu_rate:,.0f}/CPU-s in this process) "
                    f"= {views.rate / raw.rate:.2f}× raw"
                )
            if args.rebuild_processes:
                sharded = asyncio.run(views_rebuild_parallel(settings, Path(work), args.rebuild_processes))
                if sharded.records != total:
                    raise SystemExit(f"the parallel rebuild applied {sharded.records} of {total} records")
                row["views_parallel"] = {
                    "processes": args.rebuild_processes,
                    "per_s": sharded.rate,
                    "seconds": sharded.seconds,
                    "per_cpu_s": sharded.cpu_rate,
                    "vs_raw": sharded.rate / raw.rate,
                }
                line += (
                    f" | views rebuild ({args.rebuild_processes} processes) {sharded.rate:,.0f}/s "
                    f"= {sharded.rate / raw.rate:.2f}× raw"
                )
            rounds.append(row)
            print(line, flush=True)
        if args.profile is not None:
            profile_rebuild(settings, Path(work), args.profile)
    write(args, rounds)


def profile_rebuild(settings: Settings, work: Path, output: Path) -> None:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.002, async_mode="disabled")
    profiler.start()
    timing = asyncio.run(views_rebuild(settings, work))
    profiler.stop()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    print(f"profiled rebuild: {timing.rate:,.0f}/s under the profiler; report in {output}", flush=True)


def write(args: argparse.Namespace, rounds: list[dict[str, Any]]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"rebuild-{stamp}-{socket.gethostname()}.json"
    document = {
        "benchmark": "rebuild",
        "label": args.label,
        "events": args.events,
        "python": platform.python_version(),
        "machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform()},
        "rounds": rounds,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
