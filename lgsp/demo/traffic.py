"""The simulated nation, published from the demo process, and the wait until the views have applied it.

The simulator runs here rather than as ``lgsp simulate`` so the demo has its exact report and its progress
tick; it serves the same ``/metrics`` (``SimulatorMetrics`` and ``PublisherMetrics``) on the simulator port.
While it runs, the view builder's ``/metrics`` is read once a second for what it applied and its lag.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Final

import httpx
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

from bus.consumer.kafka import broker_error, client_config, topic_partitions
from bus.metrics import PublisherMetrics, SimulatorMetrics
from bus.settings import Settings
from bus.topics import TOPICS
from lgsp.demo.options import Ports, Traffic
from lgsp.demo.progress import LiveProgress, Tally
from lgsp.demo.scrape import scrape
from producers.simulate import GroundTruth, Simulation
from producers.simulate.run import Limits, RunReport, publish

WATCH_EVERY_S: Final = 1.0


async def simulate(
    settings: Settings, traffic: Traffic, ports: Ports, registry: CollectorRegistry, progress: LiveProgress
) -> tuple[RunReport, Tally]:
    """Publish ``traffic`` to Kafka with live progress; the run's report and the last tally."""
    config = traffic.simulation()
    limits = Limits(duration_s=traffic.duration_s, rate=traffic.rate or None)
    tally = Tally()

    def on_progress(truth: GroundTruth, elapsed_s: float) -> None:
        tally.published, tally.elapsed_s = truth.emitted, elapsed_s

    run = asyncio.create_task(
        publish(
            Simulation(config),
            settings,
            limits,
            metrics=SimulatorMetrics(registry),
            publisher_metrics=PublisherMetrics(registry),
            on_progress=on_progress,
        )
    )
    builder = ports.url(ports.builder_metrics, "/metrics")
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=2.0) as client:
        while not run.done():
            await asyncio.wait({run}, timeout=WATCH_EVERY_S)
            await _watch_builder(client, builder, settings.views.group_id, tally)
            tally.elapsed_s = time.monotonic() - started
            progress.update(tally)
    report = run.result()
    tally.published = report.emitted
    return report, tally


async def _watch_builder(client: httpx.AsyncClient, url: str, group: str, tally: Tally) -> None:
    samples = await scrape(client, url)
    if samples is None:
        return  # not answering for a moment: keep the last numbers
    tally.applied = int(samples.sum("lgsp_events_consumed_total", group=group))
    tally.dead_lettered = int(samples.sum("lgsp_events_dead_lettered_total", group=group))
    if samples.has("lgsp_consumer_lag_messages"):
        tally.lag = int(samples.sum("lgsp_consumer_lag_messages", group=group))


@dataclass(frozen=True)
class CatchUp:
    """Whether the views applied every record on the topics: records on the topics, records applied."""

    caught_up: bool
    on_topics: int
    applied: int
    waited_s: float


async def wait_caught_up(
    settings: Settings, ports: Ports, tally: Tally, progress: LiveProgress, timeout_s: float
) -> CatchUp:
    """Poll until the view store's applied offsets reach the topics' end offsets (or ``timeout_s`` passes).

    The store's offsets are the truth (a record dead-lettered is applied too, as skipped), so this is exact:
    ``/healthz`` of the views API sums the next offsets the store holds, Kafka the end offsets.
    """
    on_topics = await end_offsets_total(settings)
    health = ports.url(ports.views, "/healthz")
    builder = ports.url(ports.builder_metrics, "/metrics")
    started = time.monotonic()
    applied = 0
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            applied = await _applied_offsets(client, health, applied)
            await _watch_builder(client, builder, settings.views.group_id, tally)
            waited = time.monotonic() - started
            tally.records = (applied, on_topics)
            progress.update(tally, phase="applying")
            if applied >= on_topics or waited > timeout_s:
                return CatchUp(applied >= on_topics, on_topics, applied, waited)
            await asyncio.sleep(WATCH_EVERY_S / 4)


async def _applied_offsets(client: httpx.AsyncClient, url: str, last: int) -> int:
    try:
        response = await client.get(url)
    except httpx.HTTPError:
        return last
    if response.status_code != 200:
        return last
    return int(response.json().get("applied_offsets", last))


async def end_offsets_total(settings: Settings) -> int:
    """Records ever written to the event topics: the sum of their partitions' end offsets."""
    topics = [settings.topics.prefix + name for name in TOPICS]
    partitions = await topic_partitions(settings, topics)
    consumer = AIOKafkaConsumer(
        **client_config(settings, client_suffix="demo"), group_id=None, enable_auto_commit=False
    )
    try:
        await consumer.start()
        ends = await consumer.end_offsets(partitions)
    except Exception as exc:
        raise broker_error(exc, "reading end offsets") from exc
    finally:
        await consumer.stop()
    return sum(int(offset) for offset in ends.values())
