"""Part 2, publish: ``bus.Publisher`` vs raw aiokafka with the same bytes and settings vs Kafka's own
``ProducerPerformance`` at the same record size (this broker's ceiling on this machine).

The Python cases come from ``bench/publish_bench.py`` (its ``one_round``): ``publish_many`` of DossierSynced
events, one batch awaited after another, against an ``AIOKafkaProducer`` built from the same
``producer_kwargs(settings)`` sending the pre-encoded value, key and CloudEvents headers of the same events,
both per message (``send()`` a batch, then gather its futures: the baseline the target names) and through
aiokafka's batch API as the Publisher itself sends (``send_batch`` per partition), in alternating order.
Each round then runs **ProducerPerformance** (Java) unthrottled with the same producer settings, records of
the median encoded size (values only: no key, no headers) to a topic with the same partition count.
"""

from __future__ import annotations

import asyncio
import os
import statistics
from collections.abc import Sequence

from bench import publish_bench, serde_bench
from bench.kafka_tools import producer_performance, producer_props
from bench.model import BenchContext, PartResult
from bench.profiling import hot_paths, sampling
from bench.stack import create_topic, prepare_topics
from bench.stats import Better, Figure, FigureSet, Ratio, Target
from bus.events import Event
from bus.publisher import Publisher
from bus.settings import Settings

_DISTINCT = 5_000
_PERF_MIN_RECORDS = 300_000


def run(ctx: BenchContext) -> PartResult:
    rounds = ctx.sizes.rounds_for("publish")
    count, batch = ctx.sizes.publish_events, ctx.sizes.publish_chunk
    settings = ctx.part_settings("publish")
    result = PartResult(
        "publish", "Publish: bus.Publisher vs raw aiokafka vs ProducerPerformance", rounds=rounds
    )
    asyncio.run(prepare_topics(settings))
    perf_topic = f"{ctx.prefix('publish')}producer-perf"
    asyncio.run(create_topic(settings, perf_topic, settings.topics.partitions))
    base = serde_bench.make_dossiers(min(_DISTINCT, count))
    events: list[Event] = [base[i % len(base)] for i in range(count)]
    records = asyncio.run(publish_bench.encode_all(settings, events))
    record_size = int(statistics.median(len(r.value) for r in records))
    headers = statistics.median(sum(len(k) + len(v) for k, v in r.headers) for r in records)
    props = producer_props(
        settings.kafka,
        linger_ms=settings.producer.linger_ms,
        batch_size=settings.producer.max_batch_size,
        compression=settings.producer.compression_type,
        max_request_size=settings.producer.max_request_size,
    )
    # The JVM needs a few seconds to reach its steady rate (JIT, connections, batches filling); fewer records
    # would measure its start-up, not this broker's ceiling.
    perf_records = count if ctx.sizes.smoke else max(count, _PERF_MIN_RECORDS)
    figures = result.figures
    java = Figure("producer_perf", "Kafka ProducerPerformance (Java), same record size", "events/s")
    ctx.say(f"publish: {rounds} rounds of {count} events in batches of {batch}")
    for index in range(rounds):
        rates = asyncio.run(_python_round(settings, events, records, batch, index % 2 == 0))
        for key in sorted(rates, key=_order):
            _figure_for(figures, key).add(rates[key])
        perf = producer_performance(
            ctx.java,
            ctx.classpath,
            topic=perf_topic,
            records=perf_records,
            record_size=record_size,
            props=props,
            timeout_s=600,
        )
        java.add(perf.records_per_s)
        java.detail.setdefault("latency_ms", []).append(perf.latency_ms)
        java.detail["command"] = perf.command
        shown = ", ".join(f"{key} {rates[key]:,.0f}/s" for key in sorted(rates, key=_order) if _is_rate(key))
        ctx.say(f"publish round {index + 1}: {shown}, ProducerPerformance {perf.records_per_s:,.0f}/s")
    figures.add(java)
    if ctx.profile:
        _profile(ctx, settings, events, batch, result)
    modes = sorted({key.split(".")[1] for key in rates if key.startswith("publisher.") and _is_rate(key)})
    result.sizes = {
        "events_per_round": count,
        "batch": batch,
        "producer_perf_records": perf_records,
        "record_value_bytes_median": record_size,
        "record_header_bytes_median": int(headers),
        "partitions": settings.topics.partitions,
    }
    result.ratios = [Ratio(f"publisher.{mode}", f"raw.{mode}", f"raw aiokafka {mode}") for mode in modes]
    result.ratios += [
        Ratio(f"publisher.{mode}", f"raw_batch.{mode}", f"raw aiokafka send_batch {mode}")
        for mode in modes
        if figures.get(f"raw_batch.{mode}")
    ]
    result.ratios += [Ratio(f"raw.{mode}", "producer_perf", "ProducerPerformance") for mode in modes]
    result.ratios += [
        Ratio(f"publisher.{mode}.cpu_us", f"{raw}.{mode}.cpu_us", f"{label} {mode}")
        for mode in modes
        for raw, label in (("raw", "raw aiokafka"), ("raw_batch", "raw aiokafka send_batch"))
        if figures.get(f"publisher.{mode}.cpu_us") and figures.get(f"{raw}.{mode}.cpu_us")
    ]
    result.targets = [
        Target(f"Publisher ≥ 0.6× raw aiokafka ({mode})", f"publisher.{mode}/raw.{mode}", ">=", 0.6, "×")
        for mode in modes
    ]
    result.notes += [
        f"Producer settings, all three: {' '.join(props[1:])}; {settings.topics.partitions} partitions.",
        f"Python cases (bench/publish_bench.py): one publish_many / gather per batch of {batch}; "
        "sequential: each call awaited before the next; pipelined: 4 calls outstanding. Both producers "
        "started before the timing, with a warm-up batch; the publisher goes first or last, alternately.",
        "The Publisher hands aiokafka one closed record batch per partition of each call (send_batch); "
        "raw aiokafka send_batch does the same with the pre-encoded bytes (partitions by the same "
        "bus.partitioner), raw aiokafka per-message send() is the baseline the target names.",
        f"ProducerPerformance sends {perf_records:,} {record_size}-byte values of random letters with no key "
        "and no headers (more records than the Python cases, so that its rate is the JVM's steady one); "
        f"our records also carry a key and ~{headers:.0f} B of CloudEvents headers, and it pipelines freely "
        "(no per-batch wait).",
    ]
    return result


_LABELS = {
    "publisher": "bus.Publisher.publish_many",
    "raw": "raw aiokafka, same bytes and settings",
    "raw_batch": "raw aiokafka send_batch, same bytes and settings",
}


def _is_rate(key: str) -> bool:
    """``case.mode`` keys of ``publish_bench.one_round`` are events/s; ``case.mode.cpu_us`` CPU µs/event."""
    return key.count(".") == 1


def _order(key: str) -> tuple[bool, bool, bool]:
    case, mode = key.split(".")[:2]
    return mode != "sequential", not _is_rate(key), case != "publisher"


def _figure_for(figures: FigureSet, key: str) -> Figure:
    figure = figures.get(key)
    if figure is not None:
        return figure
    case, mode = key.split(".")[:2]
    name = _LABELS.get(case, case)
    if _is_rate(key):
        return figures.add(Figure(key, f"{name}, {mode}", "events/s"))
    return figures.add(Figure(key, f"{name}, {mode}: CPU per event", "CPU µs/event", Better.LOWER))


def _profile(
    ctx: BenchContext, settings: Settings, events: list[Event], batch: int, result: PartResult
) -> None:
    """py-spy on this process while the Publisher alone publishes the events once more (not counted)."""
    measured = result.figures.get("publisher.sequential")
    rate = measured.median if measured is not None and measured.ok else 1_000.0
    seconds = len(events) / rate + 2
    raw = ctx.work_dir / "publish-publisher.pyspy.txt"
    with sampling(os.getpid(), seconds, raw) as available:
        if available:
            rate = asyncio.run(_publisher_alone(settings, events, batch))
    if not available:
        result.profile.append("py-spy is not installed (pip install py-spy); no profile")
        return
    result.profile += [
        f"bus.Publisher alone under py-spy (not counted): {rate:,.0f} events/s",
        *hot_paths(raw),
    ]


async def _publisher_alone(settings: Settings, events: Sequence[Event], batch: int) -> float:
    async with Publisher(settings) as publisher:
        await publisher.publish_many(events[:batch])
        return await publish_bench.time_publisher(publisher, events, batch)


async def _python_round(
    settings: Settings,
    events: Sequence[Event],
    records: Sequence[publish_bench.Encoded],
    batch: int,
    publisher_first: bool,
) -> dict[str, float]:
    return await publish_bench.one_round(settings, events, records, batch, publisher_first)
