"""Part e2e, end to end: publish → visible in the views, p50/p99 at a steady rate (1,000 events/s by default).

Running: ``lgsp views run`` (the view builder, verifying every signature) and ``lgsp views serve`` (the API)
as separate processes on a fresh SQLite store and this part's topics; a ``bus.Publisher`` in the bench
process publishes simulated events of all four types on a fixed schedule, each signed with its agency's
key (:mod:`bench.keys`).

The measurement:

1. Event ``k`` of a round is *due* at ``start + k / rate``. Every ``_TICK_S`` the publisher sends the events
   that are due as one ``publish_many`` (not waiting for earlier calls), and records for each event its due
   time and the partition and offset Kafka acknowledged.
2. An observer thread reads the store's applied offsets (the ones the view builder commits in the same
   transaction as the view rows, hence exactly what the API can serve) every ``_POLL_S`` and keeps
   ``(time read, offsets)`` snapshots.
3. An event at ``(partition, offset)`` is visible from the first snapshot whose next offset for that
   partition is greater than ``offset``. Its latency is *visible − due*: queueing in the publisher, the
   acknowledgement, the consumer's fetch, decoding, the view transaction and the commit, all included, and
   measured from the schedule so a stall cannot hide itself (no coordinated omission). The snapshot time is
   taken after the read returns, so latencies err high by at most one poll interval plus one read.
4. Meanwhile the views API is read (``/v1/views/scoreboard``) once a second, as a dashboard would, and at the
   end its ``/healthz`` must report the same applied offsets as the store.

Events due in the first ``e2e_warmup_seconds`` of a round are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.keys import make_keys, nation_agencies, publish_keys, signing_settings
from bench.model import BenchContext, PartResult
from bench.procs import BenchError, Child, lgsp_command, settings_env, spawn, wait_http_ready
from bench.profiling import hot_paths, sampling
from bench.stack import prepare_topics
from bench.stats import Better, Figure, Target, percentile
from bus.consumer.types import Partition
from bus.events import Event
from bus.publisher import Delivery, Publisher
from bus.settings import Settings
from consumers.store import ViewStore, open_store
from lgsp.devstack.ports import free_port
from producers.simulate import SimulationConfig, generate

_SEED = 11
_POLL_S = 0.02
_TICK_S = 0.01
_DRAIN_TIMEOUT_S = 120.0


@dataclass
class Sent:
    """One published event: when it was due, when Kafka acknowledged it, where it landed."""

    due: float
    acked: float
    partition: Partition
    offset: int


@dataclass
class Observer:
    """Polls the store's applied offsets on a thread; snapshots of ``(time, offsets)``."""

    store: ViewStore
    snapshots: list[tuple[float, dict[Partition, int]]] = field(default_factory=list)
    reads_ms: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, name="bench-observer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def latest(self) -> dict[Partition, int]:
        return self.snapshots[-1][1] if self.snapshots else {}

    def _poll(self) -> None:
        while not self._stop.is_set():
            began = time.perf_counter()
            offsets = self.store.load_offsets()
            now = time.perf_counter()
            self.reads_ms.append((now - began) * 1000)
            if not self.snapshots or offsets != self.snapshots[-1][1]:
                self.snapshots.append((now, offsets))
            self._stop.wait(max(0.0, _POLL_S - (time.perf_counter() - began)))


def visible_times(
    sent: Sequence[Sent], snapshots: Sequence[tuple[float, Mapping[Partition, int]]]
) -> list[float]:
    """For each sent event, the time of the first snapshot that shows it applied (NaN if none does)."""
    by_partition: dict[Partition, list[tuple[int, int]]] = {}
    for index, item in enumerate(sent):
        by_partition.setdefault(item.partition, []).append((item.offset, index))
    out = [float("nan")] * len(sent)
    for partition, pending in by_partition.items():
        pending.sort()
        cursor = 0
        for at, offsets in snapshots:
            applied = offsets.get(partition, 0)
            while cursor < len(pending) and pending[cursor][0] < applied:
                out[pending[cursor][1]] = at
                cursor += 1
            if cursor == len(pending):
                break
    return out


class SteadyPublisher:
    """Publishes events on a fixed schedule with one Publisher; records due time, ack time and offsets."""

    def __init__(self, publisher: Publisher, rate: float) -> None:
        self.publisher = publisher
        self.rate = rate
        self.sent: list[Sent] = []
        self.errors: list[str] = []

    async def run(self, events: Sequence[Event], seconds: float) -> None:
        total = min(len(events), int(seconds * self.rate))
        start = time.perf_counter()
        tasks: set[asyncio.Task[None]] = set()
        index = 0
        while index < total:
            due_count = min(total, int((time.perf_counter() - start) * self.rate) + 1)
            if due_count > index:
                dues = [start + k / self.rate for k in range(index, due_count)]
                task = asyncio.create_task(self._publish(events[index:due_count], dues))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                index = due_count
            await asyncio.sleep(_TICK_S)
        if tasks:
            await asyncio.wait(tasks)

    async def _publish(self, events: Sequence[Event], dues: Sequence[float]) -> None:
        try:
            deliveries: list[Delivery] = await self.publisher.publish_many(events)
        except Exception as exc:  # counted and reported; the run goes on
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return
        acked = time.perf_counter()
        for due, delivery in zip(dues, deliveries, strict=True):
            self.sent.append(Sent(due, acked, Partition(delivery.topic, delivery.partition), delivery.offset))


class ApiReader:
    """Reads the scoreboard once a second while the load runs, as a dashboard would."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.latencies_ms: list[float] = []
        self.errors = 0

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=10.0) as client:
            while not stop.is_set():
                began = time.perf_counter()
                try:
                    response = await client.get("/v1/views/scoreboard")
                    response.raise_for_status()
                    self.latencies_ms.append((time.perf_counter() - began) * 1000)
                except httpx.HTTPError:
                    self.errors += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)


@dataclass
class Services:
    builder: Child
    api: Child
    api_base: str
    store: ViewStore
    metrics_url: str

    def dead_lettered(self) -> float:
        """Records the view builder sent to the dead-letter topics (its /metrics)."""
        text = httpx.get(self.metrics_url, timeout=10).text
        lines = (line for line in text.splitlines() if line.startswith("lgsp_events_dead_lettered_total"))
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def run(ctx: BenchContext) -> PartResult:
    sizes = ctx.sizes
    rounds = sizes.rounds_for("e2e")
    settings = ctx.part_settings("e2e")
    result = PartResult("e2e", "End to end: publish → visible in the views", rounds=rounds)
    asyncio.run(prepare_topics(settings))
    # Signed and verified, as in production: a key per simulated publisher, the views requiring signatures.
    _, entries = make_keys(ctx.work_dir / "e2e-keys", nation_agencies())
    publish_keys(settings, entries)
    settings = signing_settings(settings, ctx.work_dir / "e2e-keys")
    per_round = int((sizes.e2e_seconds + sizes.e2e_warmup_seconds) * sizes.e2e_rate)
    total = per_round * (rounds + (1 if ctx.profile else 0)) + 200
    ctx.say(f"e2e: simulating {total:,} events")
    events = list(itertools.islice(generate(SimulationConfig(seed=_SEED)), total))
    services = _start_services(ctx, settings)
    try:
        asyncio.run(_measure(ctx, settings, services, events, result))
        if dead := services.dead_lettered():
            raise BenchError(
                f"the view builder dead-lettered {dead:.0f} records: nothing it applied was late"
            )
    finally:
        services.builder.stop()
        services.api.stop()
        services.store.close()
    _finish(ctx, result)
    return result


def _start_services(ctx: BenchContext, settings: Settings) -> Services:
    store_url = f"sqlite:///{ctx.work_dir / 'e2e' / 'views.db'}"
    api_port, metrics_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    env = settings_env(
        settings,
        STORE__URL=store_url,
        VIEWS__GROUP_ID=f"bench-e2e-{uuid.uuid4().hex[:10]}",
        VIEWS__REQUIRE_SIGNATURES="true",
    )
    builder = spawn(
        "views-run", lgsp_command("views", "run", "--metrics-port", str(metrics_port)), env, ctx.work_dir
    )
    api = spawn("views-serve", lgsp_command("views", "serve", "--port", str(api_port)), env, ctx.work_dir)
    base = f"http://127.0.0.1:{api_port}"
    try:
        wait_http_ready(builder, f"http://127.0.0.1:{metrics_port}/metrics", timeout_s=90)
        wait_http_ready(api, f"{base}/healthz", timeout_s=90)
    except BenchError:
        builder.stop()
        api.stop()
        raise
    return Services(builder, api, base, open_store(store_url), f"http://127.0.0.1:{metrics_port}/metrics")


async def _measure(
    ctx: BenchContext, settings: Settings, services: Services, events: Sequence[Event], result: PartResult
) -> None:
    sizes = ctx.sizes
    figures = result.figures
    p50 = figures.add(Figure("e2e_p50", f"publish → visible at {sizes.e2e_rate}/s: p50", "ms", Better.LOWER))
    p99 = figures.add(Figure("e2e_p99", f"publish → visible at {sizes.e2e_rate}/s: p99", "ms", Better.LOWER))
    ack99 = figures.add(Figure("ack_p99", "publish → acknowledged: p99", "ms", Better.LOWER))
    api99 = figures.add(
        Figure("api_p99", "views API read (scoreboard) during the load: p99", "ms", Better.LOWER)
    )
    observer = Observer(services.store)
    observer.start()
    try:
        async with Publisher(settings) as publisher:
            await publisher.prepare()
            await _warm_up(publisher, events[:200], observer, services)
            per_round = int((sizes.e2e_seconds + sizes.e2e_warmup_seconds) * sizes.e2e_rate)
            rounds = sizes.rounds_for("e2e")
            for index in range(rounds + (1 if ctx.profile else 0)):
                chunk = events[200 + index * per_round : 200 + (index + 1) * per_round]
                if index == rounds:  # one extra round under py-spy, not counted
                    await _profiled_round(ctx, publisher, chunk, observer, services, result)
                    continue
                stats = await _round(
                    publisher, chunk, observer, services, sizes.e2e_rate, sizes.e2e_warmup_seconds
                )
                p50.add(stats["p50_ms"])
                p99.add(stats["p99_ms"])
                ack99.add(stats["ack_p99_ms"])
                api99.add(stats["api_p99_ms"])
                p99.detail.setdefault("rounds", []).append(stats)
                ctx.say(
                    f"e2e round {index + 1}: {stats['events']:,} events at {stats['achieved_rate']:,.0f}/s, "
                    f"p50 {stats['p50_ms']:.0f} ms, p99 {stats['p99_ms']:.0f} ms "
                    f"(acknowledged: p99 {stats['ack_p99_ms']:.0f} ms)"
                )
        await _check_api(services, observer)
    finally:
        observer.stop()
    result.sizes = {
        "rate": sizes.e2e_rate,
        "seconds_per_round": sizes.e2e_seconds,
        "warmup_seconds": sizes.e2e_warmup_seconds,
        "store_poll_ms": _POLL_S * 1000,
        "store_read_ms_p99": round(percentile(observer.reads_ms, 0.99), 2),
    }


async def _warm_up(
    publisher: Publisher, events: Sequence[Event], observer: Observer, services: Services
) -> None:
    """Publish a few events and wait until the view builder has applied them: it is assigned and running."""
    deliveries = await publisher.publish_many(events)
    await _wait_applied(
        {Partition(d.topic, d.partition): d.offset + 1 for d in deliveries},
        observer,
        services,
        _DRAIN_TIMEOUT_S,
    )


async def _wait_applied(
    wanted: Mapping[Partition, int], observer: Observer, services: Services, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        latest = observer.latest()
        if all(latest.get(tp, 0) >= offset for tp, offset in wanted.items()):
            return
        if not services.builder.alive():
            raise BenchError(f"lgsp views run exited:\n{services.builder.log_tail()}")
        if time.monotonic() > deadline:
            raise BenchError(f"the views did not apply the published events within {timeout_s:.0f} s")
        await asyncio.sleep(0.05)


async def _round(
    publisher: Publisher,
    events: Sequence[Event],
    observer: Observer,
    services: Services,
    rate: int,
    warmup: float,
) -> dict[str, Any]:
    steady = SteadyPublisher(publisher, rate)
    reader = ApiReader(services.api_base)
    stop = asyncio.Event()
    reading = asyncio.create_task(reader.run(stop))
    began = time.perf_counter()
    await steady.run(events, len(events) / rate)
    if steady.errors:
        stop.set()
        await reading
        raise BenchError(f"{len(steady.errors)} publish calls failed, e.g. {steady.errors[0]}")
    wanted: dict[Partition, int] = {}
    for item in steady.sent:
        wanted[item.partition] = max(wanted.get(item.partition, 0), item.offset + 1)
    await _wait_applied(wanted, observer, services, _DRAIN_TIMEOUT_S)
    stop.set()
    await reading
    counted = [s for s in steady.sent if s.due >= began + warmup]
    visible = visible_times(counted, list(observer.snapshots))
    latencies = [(v - s.due) * 1000 for s, v in zip(counted, visible, strict=True)]
    acks = [(s.acked - s.due) * 1000 for s in counted]
    span = max(s.due for s in counted) - min(s.due for s in counted) if counted else 0.0
    return {
        "events": len(counted),
        "achieved_rate": len(counted) / span if span else 0.0,
        "p50_ms": percentile(latencies, 0.5),
        "p90_ms": percentile(latencies, 0.9),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies, default=float("nan")),
        "ack_p50_ms": percentile(acks, 0.5),
        "ack_p99_ms": percentile(acks, 0.99),
        "api_reads": len(reader.latencies_ms),
        "api_errors": reader.errors,
        "api_p99_ms": percentile(reader.latencies_ms, 0.99),
    }


async def _check_api(services: Services, observer: Observer) -> None:
    """The API serves what the store holds: its applied offsets equal the store's once the load is over."""
    async with httpx.AsyncClient(base_url=services.api_base, timeout=10.0) as client:
        health = (await client.get("/healthz")).json()
    store_total = sum(services.store.load_offsets().values())
    if health.get("applied_offsets") != store_total:
        raise BenchError(
            f"the API reports applied offsets {health.get('applied_offsets')}, the store {store_total}"
        )


async def _profiled_round(
    ctx: BenchContext,
    publisher: Publisher,
    events: Sequence[Event],
    observer: Observer,
    services: Services,
    result: PartResult,
) -> None:
    """One more round with py-spy on the view builder (the profile is of ``lgsp views run`` at the rate)."""
    sizes = ctx.sizes
    raw = ctx.work_dir / "e2e-views-run.pyspy.txt"
    with sampling(services.builder.pid, sizes.e2e_seconds, raw) as available:
        stats = await _round(publisher, events, observer, services, sizes.e2e_rate, sizes.e2e_warmup_seconds)
    if not available:
        result.profile.append("py-spy is not installed (pip install py-spy); no profile")
        return
    result.profile += [
        f"lgsp views run during one extra round under py-spy (not counted; p99 {stats['p99_ms']:.0f} ms):",
        *hot_paths(raw),
    ]


def _finish(ctx: BenchContext, result: PartResult) -> None:
    result.targets = [
        Target(f"end-to-end p99 < 1 s at {ctx.sizes.e2e_rate} events/s", "e2e_p99", "<", 1_000.0, "ms")
    ]
    result.notes += [
        "Latency = first store snapshot showing the event's offset applied − the time the event was due on "
        "the publishing schedule (so publisher queueing, acks=all, fetch, decode, view transaction and "
        f"commit are all inside). The store is polled every {_POLL_S * 1000:.0f} ms; the views API reads "
        "that same store and, at the end, reports the same applied offsets.",
        f"Events of all four types from the simulator, published in {_TICK_S * 1000:.0f} ms ticks with "
        f"bus.Publisher (linger {ctx.settings.producer.linger_ms} ms); the view builder and the API run as "
        "`lgsp views run` and "
        "`lgsp views serve` processes on one SQLite store.",
    ]
