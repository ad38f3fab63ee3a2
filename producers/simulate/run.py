"""Running a simulation somewhere: CloudEvents JSON lines to a file, or Kafka through the Publisher.

Both runners stop after ``events`` emissions or ``duration_s`` wall-clock seconds (whichever first; neither
means until interrupted), and pace to ``rate`` events per second by the wall clock when one is given. Progress
and metrics are reported every :data:`TICK_S` seconds, never per event.

Invalid events (``bad_ratio``) cannot go through :class:`bus.publisher.Publisher`, whose contract is that an
invalid event raises before anything is sent. :class:`RawSender` sends them next to it, with the same
serializer (Confluent framing, the registry's schema ids) and CloudEvents headers, plus an
``lgsp-simulator-defect`` header naming the broken rule, so they reach consumers and their dead-letter topics.
Only the Avro-encodable defects can be sent that way (a missing field cannot be encoded at all).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Final

from aiokafka.errors import KafkaError
from prometheus_client import Counter as MetricCounter

from bus.aiokafka_adapter import AiokafkaProducerPort
from bus.cloudevents import kafka_headers
from bus.consumer.retry import Backoff
from bus.errors import BrokerError, BrokerUnavailableError, ConfigError, PublishError
from bus.events import Event
from bus.metrics import Dependency, DependencyMetrics, PublisherMetrics, SimulatorMetrics
from bus.producer_port import ProducerPort
from bus.publisher import Publisher
from bus.registry import SchemaRegistryClient
from bus.serde import AvroSerializer, SerializationContext
from bus.settings import Settings
from bus.topics import topic_for
from producers.simulate.config import AVRO_ENCODABLE_DEFECTS, Emission, EmissionKind
from producers.simulate.engine import Simulation
from producers.simulate.truth import GroundTruth

log = logging.getLogger(__name__)

TICK_S: Final = 0.25
DEFECT_HEADER: Final = "lgsp-simulator-defect"
DEFAULT_BATCH_SIZE: Final = 1000


@dataclass(frozen=True)
class Limits:
    """When to stop and how fast to go."""

    events: int | None = None
    duration_s: float | None = None
    rate: float | None = None
    """Events per second by the wall clock; None (or 0) for as fast as possible."""


@dataclass
class RunReport:
    """What a run did."""

    emitted: int
    elapsed_s: float
    truth: GroundTruth
    published: int = 0
    invalid_sent: int = 0
    publish_failures: int = 0
    """Batches Kafka did not confirm in full; each was sent again (what was unconfirmed) after a backoff."""
    interrupted: bool = False
    topics: dict[str, int] = field(default_factory=dict)
    """Records sent per topic (Kafka runs)."""

    @property
    def events_per_s(self) -> float:
        return self.emitted / self.elapsed_s if self.elapsed_s > 0 else 0.0


ProgressCallback = Callable[[GroundTruth, float], None]
"""Called every tick with the ground truth so far and the elapsed wall-clock seconds."""


class Pacer:
    """Wall-clock pacing: event ``n`` may go at ``start + n / rate``."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate if rate else None
        self._clock = clock
        self._start = clock()

    def wait_s(self, emitted: int) -> float:
        """Seconds to wait before emitting event number ``emitted`` (0 when unpaced or behind)."""
        if self._rate is None:
            return 0.0
        return max(0.0, self._start + emitted / self._rate - self._clock())


class MetricsUpdater:
    """Moves the ground truth's counters into :class:`SimulatorMetrics` on each tick."""

    def __init__(self, metrics: SimulatorMetrics | None, rate: float | None) -> None:
        self._metrics = metrics
        self._seen: dict[str, Counter[str]] = {
            "generated": Counter(),
            "duplicates": Counter(),
            "invalid": Counter(),
        }
        if metrics is not None:
            metrics.target_rate.set(rate or 0.0)

    def update(self, truth: GroundTruth) -> None:
        if self._metrics is None:
            return
        generated = truth.by_type + truth.duplicates_by_type + truth.invalid_by_type
        self._move("generated", generated, self._metrics.events_generated)
        self._move("duplicates", truth.duplicates_by_type, self._metrics.duplicates_injected)
        self._move("invalid", truth.invalid_by_type, self._metrics.invalid_injected)

    def _move(self, name: str, now: Counter[str], counter: MetricCounter) -> None:
        seen = self._seen[name]
        for type_name, count in now.items():
            delta = count - seen[type_name]
            if delta > 0:
                counter.labels(type=type_name).inc(delta)
                seen[type_name] = count


def _emissions(simulation: Simulation, limits: Limits) -> Iterator[Emission]:
    emissions: Iterable[Emission] = simulation
    if limits.events is not None:
        emissions = itertools.islice(simulation, limits.events)
    return iter(emissions)


def line_of(emission: Emission) -> str:
    """One JSON line, byte-stable: sorted keys, compact separators, Vietnamese kept as UTF-8."""
    return json.dumps(emission.to_structured(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def write_jsonl(
    simulation: Simulation,
    out: IO[str],
    limits: Limits,
    *,
    on_progress: ProgressCallback | None = None,
    metrics: SimulatorMetrics | None = None,
    stop: threading.Event | None = None,
) -> RunReport:
    """Write the run's events to ``out`` as CloudEvents JSON lines; ``stop`` ends the run early."""
    started = time.monotonic()
    pacer = Pacer(limits.rate)
    updater = MetricsUpdater(metrics, limits.rate)
    next_tick = started + TICK_S
    emitted = 0
    interrupted = False
    for emission in _emissions(simulation, limits):
        wait = pacer.wait_s(emitted)
        if wait > 0:
            time.sleep(wait)
        out.write(line_of(emission))
        out.write("\n")
        emitted += 1
        if emitted & 255 == 0 or wait > 0:
            now = time.monotonic()
            if limits.duration_s is not None and now - started >= limits.duration_s:
                break
            if stop is not None and stop.is_set():
                interrupted = True
                break
            if now >= next_tick:
                next_tick = now + TICK_S
                updater.update(simulation.truth)
                if on_progress is not None:
                    on_progress(simulation.truth, now - started)
    out.flush()
    updater.update(simulation.truth)
    elapsed = time.monotonic() - started
    if on_progress is not None:
        on_progress(simulation.truth, elapsed)
    return RunReport(emitted, elapsed, simulation.truth, interrupted=interrupted)


class RawSender:
    """Sends events without the Publisher's checks (invalid events on purpose); see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        registry: SchemaRegistryClient,
        *,
        producer_factory: Callable[[Settings], ProducerPort] = AiokafkaProducerPort,
    ) -> None:
        self._settings = settings
        self._serializer = AvroSerializer(registry, auto_register=settings.registry.auto_register)
        self._producer = producer_factory(settings)
        self._prepared: set[type[Event]] = set()
        self.sent: Counter[str] = Counter()

    async def start(self) -> None:
        try:
            await self._producer.start()
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._producer.close(0.0)
            raise BrokerUnavailableError(f"cannot connect to Kafka for invalid events: {exc!r}") from exc

    async def close(self) -> None:
        await self._producer.close(self._settings.producer.delivery_timeout_s)

    async def send(self, emissions: Sequence[Emission]) -> int:
        """Send ``emissions`` and wait for the acks; PublishError names what was not confirmed."""
        types = {type(e.event) for e in emissions} - self._prepared
        if types:
            await self._serializer.prepare(types)
            self._prepared |= types
        futures = []
        try:
            for emission in emissions:
                event = emission.event
                topic = self._settings.topics.prefix + topic_for(type(event))
                headers = [*kafka_headers(event), (DEFECT_HEADER, str(emission.defect or "").encode())]
                value = self._serializer.serialize(event, SerializationContext(topic, "value", headers))
                key = event.entity_key().encode()
                futures.append(await self._producer.send(topic, value, key=key, headers=headers))
                self.sent[topic] += 1
        except (KafkaError, OSError) as exc:
            unsent = [e.event.meta.event_id for e in emissions[len(futures) :]]
            raise PublishError("invalid events (sent raw) could not be sent", unconfirmed=unsent) from exc
        if not futures:
            return 0
        done, _ = await asyncio.wait(futures, timeout=self._settings.producer.delivery_timeout_s)
        for future in futures:
            if future not in done:  # may still fail later: read its exception then, quietly
                future.add_done_callback(_retrieve)
        failed = [
            e.event.meta.event_id
            for e, f in zip(emissions, futures, strict=True)
            if f not in done or f.cancelled() or f.exception() is not None
        ]
        if failed:
            raise PublishError(
                "invalid events (sent raw) not confirmed",
                unconfirmed=failed,
                confirmed=len(futures) - len(failed),
            )
        return len(futures)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def publish(
    simulation: Simulation,
    settings: Settings,
    limits: Limits,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    metrics: SimulatorMetrics | None = None,
    publisher_metrics: PublisherMetrics | None = None,
    dependencies: DependencyMetrics | None = None,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> RunReport:
    """Publish the run's events to Kafka: real ones through the Publisher (in order, one batch at a time),
    invalid ones through :class:`RawSender` (so the config's defects must all be Avro-encodable)."""
    config = simulation.config
    if config.bad_ratio > 0 and not set(config.defects) <= set(AVRO_ENCODABLE_DEFECTS):
        raise ConfigError(
            "Kafka can carry only Avro-encodable defects "
            f"({', '.join(d.value for d in AVRO_ENCODABLE_DEFECTS)}); a missing field cannot be encoded"
        )
    started = time.monotonic()
    async with SchemaRegistryClient(settings.registry) as registry:
        publisher = Publisher(settings, registry=registry, metrics=publisher_metrics)
        raw = RawSender(settings, registry) if simulation.config.bad_ratio > 0 else None
        async with publisher:
            await publisher.prepare()
            if raw is not None:
                await raw.start()
            try:
                sender = _RetryingSender(publisher, raw, dependencies, stop)
                report = await _publish_loop(
                    simulation, sender, limits, batch_size, metrics, on_progress, stop
                )
            finally:
                if raw is not None:
                    await raw.close()
    report.elapsed_s = time.monotonic() - started
    return report


async def _publish_loop(
    simulation: Simulation,
    sender: _RetryingSender,
    limits: Limits,
    batch_size: int,
    metrics: SimulatorMetrics | None,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
) -> RunReport:
    started = time.monotonic()
    pacer = Pacer(limits.rate)
    updater = MetricsUpdater(metrics, limits.rate)
    # paced runs flush about ten times a second, so the rate is smooth and the progress live
    size = max(1, min(batch_size, int(limits.rate / 10))) if limits.rate else batch_size
    report = RunReport(0, 0.0, simulation.truth)
    emissions = _emissions(simulation, limits)
    while not (stop is not None and stop.is_set()):
        batch = list(itertools.islice(emissions, size))
        if not batch:
            return report
        wait = pacer.wait_s(report.emitted + len(batch))
        if wait > 0:
            await asyncio.sleep(wait)
        if not await sender.send(batch, report):
            break  # stopped while waiting to retry
        report.emitted += len(batch)
        elapsed = time.monotonic() - started
        updater.update(simulation.truth)
        if on_progress is not None:
            on_progress(simulation.truth, elapsed)
        if limits.duration_s is not None and elapsed >= limits.duration_s:
            return report
    report.interrupted = True
    return report


RETRY_BACKOFF: Final = Backoff(initial_s=0.5, max_s=10.0)
"""Between attempts to send a batch Kafka did not confirm: an outage of any length is waited out."""


class _RetryingSender:
    """Sends a batch until Kafka confirmed all of it: after a failure, only the unconfirmed events again,
    after a capped backoff. Traffic generation must survive a broker outage (and show it in the metrics),
    not exit on the first PublishError."""

    def __init__(
        self,
        publisher: Publisher,
        raw: RawSender | None,
        dependencies: DependencyMetrics | None,
        stop: threading.Event | None,
    ) -> None:
        self.publisher = publisher
        self._raw = raw
        self._dependencies = dependencies
        self._stop = stop

    async def send(self, batch: list[Emission], report: RunReport) -> bool:
        """True once every event of ``batch`` was confirmed; False if stopped while waiting to retry."""
        pending, attempt = batch, 0
        while True:
            try:
                await _send_batch(self.publisher, self._raw, pending, report)
            except (PublishError, BrokerUnavailableError) as exc:
                attempt += 1
                report.publish_failures += 1
                self._kafka(up=False)
                pending = _unconfirmed(pending, exc)
                delay = RETRY_BACKOFF.delay(attempt)
                log.warning("%d events not confirmed (attempt %d), retrying in %.1fs: %s", len(pending),
                            attempt, delay, exc)  # fmt: skip
                if await asyncio.to_thread(self._stopped_within, delay):
                    return False
                continue
            self._kafka(up=True)
            return True

    def _kafka(self, *, up: bool) -> None:
        if self._dependencies is not None:
            self._dependencies.set(Dependency.KAFKA, up=up)

    def _stopped_within(self, seconds: float) -> bool:
        if self._stop is None:
            time.sleep(seconds)
            return False
        return self._stop.wait(seconds)


def _unconfirmed(batch: list[Emission], error: BrokerError) -> list[Emission]:
    """The emissions of ``batch`` that ``error`` names as unconfirmed (all of them if it names none)."""
    ids = set(getattr(error, "unconfirmed", ()))
    named = [e for e in batch if str(e.event.meta.event_id) in ids]
    return named or batch


async def _send_batch(
    publisher: Publisher, raw: RawSender | None, batch: list[Emission], report: RunReport
) -> None:
    real = [e.event for e in batch if e.kind is not EmissionKind.INVALID]
    invalid = [e for e in batch if e.kind is EmissionKind.INVALID]
    deliveries = await publisher.publish_many(real)
    report.published += len(deliveries)
    for delivery in deliveries:
        report.topics[delivery.topic] = report.topics.get(delivery.topic, 0) + 1
    if invalid:
        if raw is None:  # pragma: no cover - a run with invalid events always has a raw sender
            raise RuntimeError("invalid events without a raw sender")
        report.invalid_sent += await raw.send(invalid)
        for emission in invalid:
            topic = publisher.topic_of(type(emission.event))
            report.topics[topic] = report.topics.get(topic, 0) + 1
