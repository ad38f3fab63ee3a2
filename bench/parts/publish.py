"""Part publish: ``bus.Publisher`` vs raw aiokafka with the same bytes and settings vs Kafka's own
``ProducerPerformance`` at the same record size (this broker's ceiling on this machine).

Python cases, over the same DossierSynced events (:mod:`bench.workload`):

    publisher   bus.Publisher.publish_many, one call per batch: validation of the types, published_at
                stamping, CloudEvents headers, Avro + Confluent framing, keys, send-all-then-gather, acks=all
    publisher_records  bus.Publisher.publish_records over the same events as EventRecords (made before timing,
                as raw's bytes are): the compiled contract check instead of the models, then the same encoding
    publisher_signed  the same, by a Publisher that signs every call's records (a key per agency of the
                events, as a tool publishing for many agencies holds them): the #12 ratio's numerator
    raw         aiokafka's AIOKafkaProducer built from the same ``producer_kwargs(settings)`` (acks=all,
                idempotence, linger, batch size, lz4), sending the pre-encoded value, key and headers of the
                same events: for each batch, ``send()`` all, then gather the futures (aiokafka's natural
                per-message use: the baseline the target names)
    raw_batch   the same producer and bytes through aiokafka's batch API, as the Publisher sends: per batch,
                records grouped by partition (``bus.partitioner``), ``create_batch()`` / ``append()`` /
                ``send_batch()`` per partition, then gather the one future per batch

Each round starts the producers (outside the timing, with one warm-up batch each), then times the cases in
alternating order (so load drifts affect all), twice: ``sequential`` (each call awaited before the next, a
simple caller) and ``pipelined`` (4 calls outstanding, as a busy ingress or a pipelining tool has). Events/s =
events / wall time from the first send to the last acknowledgement.
Each round then runs **ProducerPerformance** (Java) unthrottled with the same producer settings, records of
the median encoded size (values only: no key, no headers) to a topic with the same partition count.
"""

from __future__ import annotations

import asyncio
import functools
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.cpu_cases import harness_out_of_gc
from bench.kafka_tools import producer_performance, producer_props, write_client_config
from bench.keys import make_keys, signing_settings
from bench.model import BenchContext, PartResult
from bench.profiling import hot_paths, sampling
from bench.stack import create_topic, prepare_topics
from bench.stats import Better, Figure, FigureSet, Ratio, Target
from bench.workload import AGENCIES, make_dossiers
from bus.aiokafka_adapter import producer_kwargs
from bus.cloudevents import kafka_headers
from bus.events import Event
from bus.events.record import EventRecord, record_of
from bus.partitioner import partition_for
from bus.publisher import Publisher
from bus.registry import SchemaRegistryClient
from bus.serde import AvroSerializer, SerializationContext
from bus.settings import Settings
from bus.topics import topic_for

_DISTINCT = 5_000
CASES = ("publisher", "publisher_signed", "publisher_records", "raw", "raw_batch")
"""In the order each round runs them (or its reverse). The signing Publisher runs right beside the unsigned
one: #12's ratio divides those two, and on a shared VM the load drifts between cases a few seconds apart."""
MODES = {"sequential": 1, "pipelined": 4}
"""Calls outstanding at once: one at a time (a simple caller), or 4 (a busy ingress, a pipelining tool)."""
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
    # The signing Publisher holds a key per agency of the events, as a tool publishing for many agencies does.
    make_keys(ctx.work_dir / "publish-keys", [code for code, _, _ in AGENCIES])  # nobody reads them back
    signed = signing_settings(settings, ctx.work_dir / "publish-keys")
    base = make_dossiers(min(_DISTINCT, count))
    events: list[Event] = [base[i % len(base)] for i in range(count)]
    base_records = [record_of(event) for event in base]
    event_records = [base_records[i % len(base)] for i in range(count)]
    records = asyncio.run(encode_all(settings, events))
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
    # The harness's inputs out of the collector's sight while the cases run (ProducerPerformance is a JVM)
    with harness_out_of_gc():
        for index in range(rounds):
            rates = asyncio.run(
                one_round(settings, signed, events, event_records, records, batch, index % 2 == 0)
            )
            for key in sorted(rates, key=_order):
                _figure_for(figures, key).add(rates[key])
            perf = producer_performance(
                ctx.java,
                ctx.classpath,
                topic=perf_topic,
                records=perf_records,
                record_size=record_size,
                props=props,
                client_config=write_client_config(settings.kafka, ctx.work_dir / "publish-client.properties"),
                timeout_s=600,
            )
            java.add(perf.records_per_s)
            java.detail.setdefault("latency_ms", []).append(perf.latency_ms)
            java.detail["command"] = perf.command
            shown = ", ".join(
                f"{key} {rates[key]:,.0f}/s" for key in sorted(rates, key=_order) if _is_rate(key)
            )
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
    result.ratios = [
        Ratio(f"{case}.{mode}", f"raw.{mode}", f"raw aiokafka {mode}")
        for mode in modes
        for case in ("publisher", "publisher_records")
    ]
    result.ratios += [
        Ratio(f"publisher.{mode}", f"raw_batch.{mode}", f"raw aiokafka send_batch {mode}")
        for mode in modes
        if figures.get(f"raw_batch.{mode}")
    ]
    result.ratios += [Ratio(f"raw.{mode}", "producer_perf", "ProducerPerformance") for mode in modes]
    result.ratios += [
        Ratio(f"publisher_signed.{mode}{cpu}", f"publisher.{mode}{cpu}", f"unsigned Publisher {mode}")
        for mode in modes
        for cpu in ("", ".cpu_us")
    ]
    result.ratios += [
        Ratio(f"{case}.{mode}.cpu_us", f"{raw}.{mode}.cpu_us", f"{label} {mode}")
        for mode in modes
        for case in ("publisher", "publisher_records")
        for raw, label in (("raw", "raw aiokafka"), ("raw_batch", "raw aiokafka send_batch"))
        if figures.get(f"{case}.{mode}.cpu_us") and figures.get(f"{raw}.{mode}.cpu_us")
    ]
    result.targets = [
        Target(f"Publisher ≥ 0.7× raw aiokafka ({mode})", f"publisher.{mode}/raw.{mode}", ">=", 0.7, "×")
        for mode in modes
    ]
    result.targets += [
        Target(
            f"Publisher, records ≥ 0.7× raw aiokafka ({mode})",
            f"publisher_records.{mode}/raw.{mode}",
            ">=",
            0.7,
            "×",
        )
        for mode in modes
    ]
    result.targets += [
        Target(
            f"signing Publisher ≥ 0.85× unsigned ({mode})",
            f"publisher_signed.{mode}/publisher.{mode}",
            ">=",
            0.85,
            "×",
        )
        for mode in modes
    ]
    result.notes += [
        f"Producer settings, all of them: {' '.join(props[1:])}; {settings.topics.partitions} partitions.",
        "The signing Publisher is the same Publisher with a key per agency of the events "
        "(LGSP_SIGNING__KEY_DIR): each call's records are signed per key as one batch (a hash tree, one "
        "Ed25519 signature, a proof per record). Its CPU per event minus the unsigned one's is what signing "
        "adds in place; the signing part measures the same work alone.",
        "The records Publisher is the unsigned Publisher given the same events as EventRecords "
        "(publish_records: the compiled contract check instead of the models; what lgsp publish FILE uses).",
        f"Python cases: one publish_many / gather per batch of {batch}; "
        "sequential: each call awaited before the next; pipelined: 4 calls outstanding. All producers "
        "started before the timing, with a warm-up batch; the publishers go first or last, alternately, "
        "the signing one always right beside the unsigned one. The bench's own inputs are frozen out of the "
        "garbage collector's sight while the cases run (gc.freeze, as bus processes freeze their start-up); "
        "what the measured code allocates is collected and counted.",
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
    "publisher_records": "bus.Publisher.publish_records (EventRecords)",
    "publisher_signed": "bus.Publisher.publish_many, signing each batch",
    "raw": "raw aiokafka, same bytes and settings",
    "raw_batch": "raw aiokafka send_batch, same bytes and settings",
}


def _is_rate(key: str) -> bool:
    """``case.mode`` keys of :func:`one_round` are events/s; ``case.mode.cpu_us`` CPU µs/event."""
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
        return await time_publisher(publisher, events, batch)


@dataclass(frozen=True, slots=True)
class Encoded:
    """One event as raw aiokafka sends it: bytes made once, before timing."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


async def encode_all(settings: Settings, events: Sequence[Event]) -> list[Encoded]:
    """What the Publisher would send for ``events``, made ahead of time for the raw case."""
    async with SchemaRegistryClient(settings.registry) as registry:
        serializer = AvroSerializer(registry, auto_register=True)
        await serializer.prepare({type(e) for e in events})
        stamped = [e.with_published_at(datetime.now(UTC)) for e in events]
        encoded = []
        for event in stamped:
            topic = topic_for(type(event), prefix=settings.topics.prefix)
            headers = kafka_headers(event)
            value = serializer.serialize(event, SerializationContext(topic, "value", headers))
            encoded.append(Encoded(topic, event.entity_key().encode(), value, headers))
        return encoded


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _bounded(jobs: Sequence[Callable[[], Awaitable[Any]]], in_flight: int) -> None:
    """Run ``jobs`` in order, at most ``in_flight`` outstanding (1: strictly one after another)."""
    if in_flight <= 1:
        for job in jobs:
            await job()
        return
    slots = asyncio.Semaphore(in_flight)

    async def run(job: Callable[[], Awaitable[Any]]) -> None:
        try:
            await job()
        finally:
            slots.release()

    tasks = []
    for job in jobs:
        await slots.acquire()
        tasks.append(asyncio.create_task(run(job)))
    await asyncio.gather(*tasks)


async def time_publisher(
    publisher: Publisher, events: Sequence[Event], batch: int, in_flight: int = 1
) -> float:
    """Events/s through ``Publisher.publish_many``, ``in_flight`` calls outstanding at most."""
    jobs = [functools.partial(publisher.publish_many, chunk) for chunk in _batches(events, batch)]
    return await _rate(jobs, in_flight, len(events))


async def time_records(
    publisher: Publisher, records: Sequence[EventRecord], batch: int, in_flight: int = 1
) -> float:
    """Events/s through ``Publisher.publish_records``, ``in_flight`` calls outstanding at most."""
    jobs = [functools.partial(publisher.publish_records, chunk) for chunk in _batches(records, batch)]
    return await _rate(jobs, in_flight, len(records))


async def _rate(jobs: Sequence[Callable[[], Awaitable[Any]]], in_flight: int, count: int) -> float:
    """``count`` over the wall time of running ``jobs`` (:func:`_bounded`)."""
    started = time.perf_counter()
    await _bounded(jobs, in_flight)
    return count / (time.perf_counter() - started)


async def time_raw(
    producer: AIOKafkaProducer, records: Sequence[Encoded], batch: int, in_flight: int = 1
) -> float:
    """Events/s through raw aiokafka: per batch, send all records, then gather; ``in_flight`` at most."""

    async def send_batch(chunk: Sequence[Encoded]) -> None:
        futures = [await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in chunk]
        await asyncio.gather(*futures)

    jobs = [functools.partial(send_batch, chunk) for chunk in _batches(records, batch)]
    return await _rate(jobs, in_flight, len(records))


async def time_raw_batch(
    producer: AIOKafkaProducer, records: Sequence[Encoded], batch: int, in_flight: int = 1
) -> float:
    """Events/s through aiokafka's batch API: per chunk, one closed batch per partition, then gather."""
    partitions: dict[str, list[int]] = {}

    async def send_batches(chunk: Sequence[Encoded]) -> None:
        groups: dict[tuple[str, int], list[Encoded]] = {}
        for record in chunk:
            ids = partitions.get(record.topic)
            if ids is None:
                ids = partitions[record.topic] = sorted(await producer.partitions_for(record.topic))
            groups.setdefault((record.topic, partition_for(record.key, ids)), []).append(record)
        futures = []
        for (topic, partition), group in groups.items():
            builder = producer.create_batch()
            for record in group:
                while (
                    builder.append(key=record.key, value=record.value, timestamp=None, headers=record.headers)
                    is None
                ):
                    builder.close()
                    futures.append(await producer.send_batch(builder, topic, partition=partition))
                    builder = producer.create_batch()
            builder.close()
            futures.append(await producer.send_batch(builder, topic, partition=partition))
        await asyncio.gather(*futures)

    jobs = [functools.partial(send_batches, chunk) for chunk in _batches(records, batch)]
    return await _rate(jobs, in_flight, len(records))


async def one_round(
    settings: Settings,
    signed: Settings,
    events: Sequence[Event],
    event_records: Sequence[EventRecord],
    records: Sequence[Encoded],
    batch: int,
    publisher_first: bool,
) -> dict[str, float]:
    """Every case once: CASES x (sequential, pipelined), alternating the order (publishers first or last).
    ``signed``: the settings of the Publisher that signs (its keys)."""
    raw = AIOKafkaProducer(**producer_kwargs(settings))
    await raw.start()
    try:
        async with Publisher(settings) as publisher, Publisher(signed) as signing:
            warm = min(batch, len(events))
            await publisher.publish_many(events[:warm])
            await signing.publish_many(events[:warm])
            await publisher.publish_records(event_records[:warm])
            await time_raw(raw, records[:warm], warm)
            await time_raw_batch(raw, records[:warm], warm)
            rates: dict[str, float] = {}
            for mode, in_flight in MODES.items():
                order = CASES if publisher_first else tuple(reversed(CASES))
                for case in order:
                    cpu = time.process_time()
                    if case == "publisher":
                        rate = await time_publisher(publisher, events, batch, in_flight)
                    elif case == "publisher_records":
                        rate = await time_records(publisher, event_records, batch, in_flight)
                    elif case == "publisher_signed":
                        rate = await time_publisher(signing, events, batch, in_flight)
                    elif case == "raw":
                        rate = await time_raw(raw, records, batch, in_flight)
                    else:
                        rate = await time_raw_batch(raw, records, batch, in_flight)
                    rates[f"{case}.{mode}"] = rate
                    rates[f"{case}.{mode}.cpu_us"] = (time.process_time() - cpu) / len(events) * 1e6
            return rates
    finally:
        await raw.stop()
