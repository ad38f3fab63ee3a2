"""Publisher events/s beside raw aiokafka sending the same pre-encoded bytes with the same settings.

    LGSP_KAFKA__BOOTSTRAP_SERVERS=... LGSP_REGISTRY__URL=... \\
    .venv/bin/python bench/publish_bench.py [--events 20000] [--batch 1000] [--rounds 5] [--output FILE]

Cases, over the same DossierSynced events (``bench.serde_bench.make_dossiers``):

    publisher   bus.Publisher.publish_many, one call per ``--batch`` events, awaited in turn: validation of
                the types, published_at stamping, CloudEvents headers, Avro + Confluent framing, keys,
                send-all-then-gather, acks=all
    raw         aiokafka's AIOKafkaProducer built from the same ``producer_kwargs(settings)`` (acks=all,
                idempotence, linger, batch size, lz4), sending the pre-encoded value, key and headers of the
                same events: for each batch, ``send()`` all, then gather the futures (aiokafka's natural
                per-message use: the baseline the target names)
    raw_batch   the same producer and bytes through aiokafka's batch API, as the Publisher sends: per batch,
                records grouped by partition (``bus.partitioner``, the default partitioner's choice),
                ``create_batch()`` / ``append()`` / ``send_batch()`` per partition (a new batch when one is
                full), then gather the one future per batch; the tighter baseline for the Publisher

Each round starts both producers (outside the timing, with one warm-up batch each), then times the two cases
in alternating order (so load drifts affect both), twice: ``sequential`` (each call awaited before the next,
a simple caller) and ``pipelined`` (4 calls outstanding, as a busy ingress or a pipelining tool has; the
Publisher hands one call's records to the producer before the next call's, so order per entity holds).
Events/s = events / wall time from the first send to the last acknowledgement. The topics are created with a
unique prefix and deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.serde_bench import make_dossiers
from bus.aiokafka_adapter import producer_kwargs
from bus.cloudevents import kafka_headers
from bus.events import DossierSynced, Event
from bus.partitioner import partition_for
from bus.publisher import Publisher
from bus.registry import SchemaRegistryClient
from bus.serde import AvroSerializer, SerializationContext
from bus.settings import Settings
from bus.topics import admin_kwargs, all_topics, ensure_topics, topic_for

ROOT = Path(__file__).resolve().parent
TARGET_RATIO = 0.6


@dataclass(frozen=True, slots=True)
class Encoded:
    """One event as raw aiokafka sends it: bytes made once, before timing."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def bench_settings(prefix: str) -> Settings:
    """Settings from the environment, with the bench's own topics and auto-registration."""
    settings = Settings()
    settings.topics.prefix = prefix
    settings.registry.auto_register = True
    return settings


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
    started = time.perf_counter()
    await _bounded(jobs, in_flight)
    return len(events) / (time.perf_counter() - started)


async def time_raw(
    producer: AIOKafkaProducer, records: Sequence[Encoded], batch: int, in_flight: int = 1
) -> float:
    """Events/s through raw aiokafka: per batch, send all records, then gather; ``in_flight`` at most."""

    async def send_batch(chunk: Sequence[Encoded]) -> None:
        futures = [await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in chunk]
        await asyncio.gather(*futures)

    jobs = [functools.partial(send_batch, chunk) for chunk in _batches(records, batch)]
    started = time.perf_counter()
    await _bounded(jobs, in_flight)
    return len(records) / (time.perf_counter() - started)


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
    started = time.perf_counter()
    await _bounded(jobs, in_flight)
    return len(records) / (time.perf_counter() - started)


CASES = ("publisher", "raw", "raw_batch")
MODES = {"sequential": 1, "pipelined": 4}
"""Calls outstanding at once: one at a time (a simple caller), or 4 (a busy ingress, a pipelining tool)."""


async def one_round(
    settings: Settings, events: Sequence[Event], records: Sequence[Encoded], batch: int, publisher_first: bool
) -> dict[str, float]:
    """Every case once: CASES x (sequential, pipelined), alternating the order (publisher first or last)."""
    raw = AIOKafkaProducer(**producer_kwargs(settings))
    await raw.start()
    try:
        async with Publisher(settings) as publisher:
            warm = min(batch, len(events))
            await publisher.publish_many(events[:warm])
            await time_raw(raw, records[:warm], warm)
            await time_raw_batch(raw, records[:warm], warm)
            rates: dict[str, float] = {}
            for mode, in_flight in MODES.items():
                order = CASES if publisher_first else tuple(reversed(CASES))
                for case in order:
                    cpu = time.process_time()
                    if case == "publisher":
                        rate = await time_publisher(publisher, events, batch, in_flight)
                    elif case == "raw":
                        rate = await time_raw(raw, records, batch, in_flight)
                    else:
                        rate = await time_raw_batch(raw, records, batch, in_flight)
                    rates[f"{case}.{mode}"] = rate
                    rates[f"{case}.{mode}.cpu_us"] = (time.process_time() - cpu) / len(events) * 1e6
            return rates
    finally:
        await raw.stop()


async def delete_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(**admin_kwargs(settings.kafka))
    await admin.start()
    try:
        await admin.delete_topics(all_topics(settings.topics.prefix))
    finally:
        await admin.close()


async def run(events_count: int, batch: int, rounds: int) -> dict[str, Any]:
    settings = bench_settings(f"bench-{uuid.uuid4().hex[:8]}.")
    await ensure_topics(settings)
    try:
        events: list[Event] = list(make_dossiers(events_count))
        records = await encode_all(settings, events)
        samples: dict[str, list[float]] = {}
        for index in range(rounds):
            rates = await one_round(settings, events, records, batch, publisher_first=index % 2 == 0)
            for case, rate in rates.items():
                samples.setdefault(case, []).append(rate)
            print(
                f"round {index + 1}/{rounds} (load {os.getloadavg()[0]:.1f}): "
                + "  ".join(
                    f"{mode}: publisher {rates[f'publisher.{mode}']:,.0f}/s "
                    f"raw {rates[f'raw.{mode}']:,.0f}/s "
                    f"raw_batch {rates[f'raw_batch.{mode}']:,.0f}/s "
                    f"ratios {rates[f'publisher.{mode}'] / rates[f'raw.{mode}']:.2f} / "
                    f"{rates[f'publisher.{mode}'] / rates[f'raw_batch.{mode}']:.2f}"
                    for mode in MODES
                ),
                file=sys.stderr,
            )
    finally:
        await delete_topics(settings)
    return summarize(samples, events_count, batch, settings)


def summarize(samples: dict[str, list[float]], events: int, batch: int, settings: Settings) -> dict[str, Any]:
    cases = {
        case: {"median": statistics.median(v), "min": min(v), "max": max(v), "samples": v}
        for case, v in samples.items()
    }
    cpu_ratios = {
        mode: statistics.median(samples[f"raw.{mode}.cpu_us"])
        / statistics.median(samples[f"publisher.{mode}.cpu_us"])
        for mode in MODES
    }
    ratios = {mode: _ratio(samples[f"publisher.{mode}"], samples[f"raw.{mode}"]) for mode in MODES}
    batch_ratios = {
        mode: _ratio(samples[f"publisher.{mode}"], samples[f"raw_batch.{mode}"]) for mode in MODES
    }
    return {
        "events": events,
        "batch": batch,
        "modes": MODES,
        "event_type": DossierSynced.AVRO_NAME,
        "producer": {k: v for k, v in producer_kwargs(settings).items() if "sasl" not in k},
        "cases": cases,
        "ratio": ratios,
        "ratio_to_raw_batch": batch_ratios,
        "cpu_ratio": cpu_ratios,
        "target": {
            "ratio_at_least": TARGET_RATIO,
            "met": {mode: r["median"] >= TARGET_RATIO for mode, r in ratios.items()},
        },
    }


def _ratio(publisher: list[float], raw: list[float]) -> dict[str, float]:
    paired = [p / r for p, r in zip(publisher, raw, strict=True)]
    return {
        "median": statistics.median(publisher) / statistics.median(raw),
        "paired_min": min(paired),
        "paired_max": max(paired),
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"publish: {result['events']:,} DossierSynced per case per round, batches of {result['batch']}",
        "",
        "| case | calls in flight | events/s (median) | min – max | publisher / raw | publisher / raw_batch "
        "| CPU µs/event |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode, in_flight in result["modes"].items():
        for case in CASES:
            stats = result["cases"][f"{case}.{mode}"]
            shown = ["", ""]
            if case == "publisher":
                shown = [
                    f"{r['median']:.2f} ({r['paired_min']:.2f} – {r['paired_max']:.2f})"
                    for r in (result["ratio"][mode], result["ratio_to_raw_batch"][mode])
                ]
            lines.append(
                f"| {case} | {in_flight} | {stats['median']:,.0f} "
                f"| {stats['min']:,.0f} – {stats['max']:,.0f} | {shown[0]} | {shown[1]} "
                f"| {result['cases'][f'{case}.{mode}.cpu_us']['median']:.0f} |"
            )
    met = ", ".join(f"{mode} {'met' if ok else 'NOT met'}" for mode, ok in result["target"]["met"].items())
    cpu = ", ".join(f"{mode} {value:.2f}" for mode, value in result["cpu_ratio"].items())
    lines += [
        "",
        f"target publisher / raw >= {TARGET_RATIO}: {met}",
        f"CPU per event of this process, raw / publisher (insensitive to other load on the machine): {cpu}",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000, help="events per case per round")
    parser.add_argument("--batch", type=int, default=1_000, help="events per publish_many / gather")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "publish.json")
    parser.add_argument("--label", default="", help="free text stored with the result (e.g. before/after)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    result = asyncio.run(run(args.events, args.batch, args.rounds))
    print(report(result))
    payload = {
        "bench": "publish",
        "label": args.label,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "python": platform.python_version(),
        **result,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
