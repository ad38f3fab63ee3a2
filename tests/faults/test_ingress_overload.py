"""Fault 5: the HTTP ingress driven far beyond its in-flight bound.

``lgsp ingress`` runs with ``max_in_flight=4``. First a burst — hundreds of requests at the same instant —
then a sustained overload: 32 clients (8 times the bound) sending single events and batches back to back,
each honouring ``Retry-After`` when refused. The ingress must keep its publishing work bounded (the in-flight
gauge never above the bound) and refuse the excess with ``429``/``503``, ``Retry-After`` and a problem
document, publishing nothing for it. Every event answered ``202`` must be on its topic exactly once, and the
views (``lgsp views run``) must end exact. Latencies and the ingress's peak memory are recorded, not asserted.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bus.events import Event
from bus.topics import ensure_topics
from tests.faults.ingress_client import book, issue_key, post
from tests.faults.ledger import Ledger
from tests.faults.procs import IngressProcess, ViewsProcess
from tests.faults.stacks import FaultStack, fault_settings
from tests.faults.verify import settle
from tests.faults.workload import chunks, take_units

pytestmark = [pytest.mark.faults, pytest.mark.slow]

EVENTS = 2000
BURST = 200
BATCH = 20
CLIENTS = 32
MAX_IN_FLIGHT = 4
_IN_FLIGHT_RE = re.compile(r"^lgsp_ingress_in_flight_requests (\S+)$", re.MULTILINE)


@dataclass
class Answers:
    """Every answer of one phase: statuses, latencies, what was refused and how."""

    statuses: list[int] = field(default_factory=list)
    latencies: dict[int, list[float]] = field(default_factory=dict)
    retry_after: list[str | None] = field(default_factory=list)
    content_types: set[str] = field(default_factory=set)
    refused: list[list[Event]] = field(default_factory=list)

    def note(self, events: list[Event], response: httpx.Response, seconds: float) -> None:
        status = response.status_code
        self.statuses.append(status)
        self.latencies.setdefault(status, []).append(seconds)
        if status != 202:
            self.retry_after.append(response.headers.get("retry-after"))
            self.content_types.add(response.headers.get("content-type", ""))
            self.refused.append(events)

    def summary(self) -> dict[str, object]:
        return {
            "requests": len(self.statuses),
            "statuses": {str(s): self.statuses.count(s) for s in sorted(set(self.statuses))},
            "latency_p50_p99_max_s": {str(s): _spread(v) for s, v in sorted(self.latencies.items())},
        }


def _spread(values: list[float]) -> list[float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return [round(cuts[49], 3), round(cuts[98], 3), round(max(values), 3)]


@dataclass
class Client:
    """One polite client: posts, books the outcome, and on refusal waits ``Retry-After`` before resending."""

    http: httpx.AsyncClient
    token: str
    ledger: Ledger

    async def once(self, events: list[Event], answers: Answers) -> httpx.Response:
        began = time.perf_counter()
        response = await post(self.http, self.token, events, batch=len(events) > 1)
        answers.note(events, response, time.perf_counter() - began)
        book(self.ledger, events, response)
        return response

    async def work(self, queue: asyncio.Queue[list[Event]], answers: Answers) -> None:
        while not queue.empty():
            events = queue.get_nowait()
            response = await self.once(events, answers)
            if response.status_code != 202:
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                self.ledger.resent.update(str(e.meta.event_id) for e in events)
                queue.put_nowait(events)


async def watch_in_flight(http: httpx.AsyncClient, samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        match = _IN_FLIGHT_RE.search((await http.get("/metrics")).text)
        if match is not None:
            samples.append(float(match.group(1)))
        await asyncio.sleep(0.02)


async def test_overloaded_ingress_refuses_with_retry_after_and_loses_nothing(
    fault_stack: FaultStack, tmp_path: Path
) -> None:
    started = time.monotonic()
    settings = fault_settings(
        fault_stack.bootstrap_servers,
        fault_stack.registry_url,
        tmp_path,
        ingress={"max_in_flight": MAX_IN_FLIGHT, "retry_after_s": 1},
    )
    await ensure_topics(settings)
    events = take_units(EVENTS, seed=505)
    burst = [[e] for e in events[:BURST]]
    sustained = [[e] for e in events[BURST : 2 * BURST]] + chunks(events[2 * BURST :], BATCH)
    token = issue_key(settings.ingress.api_keys_file, {e.meta.source for e in events})
    ledger = Ledger()
    burst_answers, sustained_answers = Answers(), Answers()
    samples: list[float] = []
    views = ViewsProcess(settings, tmp_path)
    ingress = IngressProcess(settings, tmp_path)
    try:
        url = await ingress.started()
        limits = httpx.Limits(max_connections=BURST + CLIENTS, max_keepalive_connections=BURST + CLIENTS)
        async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as http:
            client = Client(http, token, ledger)
            rss_idle = ingress.peak_rss_bytes()
            await asyncio.gather(*(client.once(request, burst_answers) for request in burst))
            rss_burst = ingress.peak_rss_bytes()

            queue: asyncio.Queue[list[Event]] = asyncio.Queue()
            for request in [*sustained, *burst_answers.refused]:
                queue.put_nowait(request)
            stop = asyncio.Event()
            watcher = asyncio.create_task(watch_in_flight(http, samples, stop))
            await asyncio.gather(*(client.work(queue, sustained_answers) for _ in range(CLIENTS)))
            stop.set()
            await watcher
            rss_sustained = ingress.peak_rss_bytes()
        details = {
            "burst": burst_answers.summary(),
            "sustained": {**sustained_answers.summary(), "clients": CLIENTS},
            "in_flight_gauge_samples": len(samples),
            "in_flight_gauge_max": max(samples, default=None),
            "ingress_peak_rss_mb_idle_burst_sustained": [
                round(rss / 2**20, 1) for rss in (rss_idle, rss_burst, rss_sustained)
            ],
        }
        outcome = await settle(
            "5 ingress overload (max_in_flight 4)", settings, ledger, views, started=started, details=details
        )
    finally:
        views.kill()
        await ingress.stop()
    answers = [*burst_answers.statuses, *sustained_answers.statuses]
    refusals = [*burst_answers.retry_after, *sustained_answers.retry_after]
    assert set(answers) <= {202, 429, 503}, details
    assert answers.count(429) > 0, "the overload never reached the in-flight bound"
    assert all(value is not None and int(value) >= 1 for value in refusals)
    assert burst_answers.content_types | sustained_answers.content_types == {"application/problem+json"}
    assert samples, "the in-flight gauge was never scraped"
    assert max(samples) <= MAX_IN_FLIGHT
    outcome.assert_exact(ledger)
    assert outcome.scan.duplicated(ledger.confirmed) == set(), "an accepted event is on its topic twice"
