"""Broker loss under the HTTP ingress: ``lgsp ingress`` rides through a SIGKILL of one of three brokers.

Issue #13, item 6: with one of three brokers SIGKILLed mid-publish, the ingress completes without an error
and nothing is lost or duplicated (``lgsp publish`` is ``test_cluster_publish.py``). The topics get the
cluster's defaults (RF 3, ``min.insync.replicas`` 2); the ingress runs with the shipped delivery timeout.
Concurrent clients send single events and batches; the leader of the first topic's partition 0 is SIGKILLed
mid-stream, and the stream goes on for longer than the delivery timeout after the kill, so every request
the loss could fail has had its answer. Every request must be answered 202 the first time: a 503 is an error
the client has to handle. (The clients still resend after a 503's ``Retry-After``, as the contract says, so
that a failure is counted and reported and the topics can be checked all the same.) Every accepted event
must be on the topics exactly once, where its 202 said, and nothing else.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import statistics
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
import pytest

from bus.events import Event
from bus.kafka_client import kafka_environment
from bus.settings import ProducerSettings, Settings
from bus.topics import AUDIT_TOPIC
from lgsp.devstack import DevStack
from tests.faults.badinput import INGRESS_LIMITS
from tests.faults.ingress_client import book, issue_key, post
from tests.faults.ledger import Ledger, scan_topics, topic_ends
from tests.faults.procs import IngressProcess, wait_until
from tests.faults.report import FaultFigures, remember
from tests.faults.stacks import FaultStack
from tests.faults.test_cluster import leader_of
from tests.faults.test_cluster_publish import with_cluster_topics, with_secure_cluster_topics
from tests.faults.verify import data_topics
from tests.faults.workload import take_units
from tests.integration.kafka_read import Kafka
from tests.stack import SecureStack

pytestmark = [pytest.mark.faults, pytest.mark.slow]

POOL = 20_000
"""Events the stream may draw from (more than it sends before it stops: asserted)."""
BATCH = 10
RATE = 40
"""Requests started per second, whatever became of the earlier ones (open loop: many agencies' clients,
each unaware of the others). Closed-loop clients would all be waiting on the stalled partition a moment
after the kill, and no request would reach the ingress until the new leader is elected."""
LIMITS: Final = {**INGRESS_LIMITS, "max_in_flight": 4096, "max_in_flight_per_key": 4096}
"""The per-agency limits out of the way: every request is sent with one agency's key, and the requests
stalled by the election pile up (the limits are tests/unit/test_ingress_hardening.py's subject)."""
KILL_AFTER = 1_000
"""Events accepted before the kill."""
DELIVERY_TIMEOUT_S: Final = ProducerSettings().delivery_timeout_s
"""The shipped bound on a publish: a request caught by the broker loss has its answer within it."""
RIDE_S: Final = DELIVERY_TIMEOUT_S + 5
"""How long new requests keep arriving after the kill."""
_METRIC_RE: Final = r"^{name}(?:\{{[^}}]*\}})? (\S+)$"


@dataclass
class Stream:
    """The requests still to send, every answer, and each refusal."""

    http: httpx.AsyncClient
    token: str
    ledger: Ledger
    requests: Iterator[list[Event]]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    statuses: Counter[int] = field(default_factory=Counter)
    refusals: list[str] = field(default_factory=list)
    resends: int = 0
    exhausted: bool = False
    killed_at: float | None = None
    latencies_after_kill: list[float] = field(default_factory=list)
    requests_after_kill: int = 0
    most_in_flight: int = 0
    _in_flight: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self) -> None:
        """Start a request every 1/RATE s until told to stop, then wait for all of them."""
        tick = time.monotonic()
        while not self.stop.is_set():
            events = next(self.requests, None)
            if events is None:
                self.exhausted = True
                break
            task = asyncio.create_task(self._until_accepted(events))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
            self.most_in_flight = max(self.most_in_flight, len(self._in_flight))
            tick += 1 / RATE
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
        await asyncio.gather(*self._in_flight)

    async def _until_accepted(self, events: list[Event]) -> None:
        """Send ``events``; after a refusal wait ``Retry-After`` and resend them unchanged (same ids)."""
        while not await self._once(events):
            self.resends += 1

    async def _once(self, events: list[Event]) -> bool:
        began = time.monotonic()
        response = await post(self.http, self.token, events, batch=len(events) > 1)
        self.statuses[response.status_code] += 1
        if self.killed_at is not None and began >= self.killed_at:
            self.requests_after_kill += 1
            self.latencies_after_kill.append(time.monotonic() - began)
        if book(self.ledger, events, response):
            return True
        self.refusals.append(f"{response.status_code}: {response.text[:300]}")
        self.ledger.resent.update(str(e.meta.event_id) for e in events)
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
        return False


def requests_of(events: list[Event]) -> Iterator[list[Event]]:
    """A single event, then a batch of BATCH, and so on."""
    remaining = iter(events)
    for single in remaining:
        yield [single]
        batch = list(itertools.islice(remaining, BATCH))
        if batch:
            yield batch


def metric(text: str, name: str) -> float:
    """The sum of ``name``'s samples in a Prometheus exposition."""
    return sum(float(v) for v in re.findall(_METRIC_RE.format(name=name), text, re.MULTILINE))


def spread(values: list[float]) -> list[float]:
    """p50, p99 and max, in seconds."""
    if not values:
        return []
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return [round(cuts[49], 3), round(cuts[98], 3), round(max(values), 3)]


async def test_ingress_rides_through_a_broker_sigkill(
    cluster: DevStack, fault_stack: FaultStack, tmp_path: Path
) -> None:
    started = time.monotonic()
    settings = await with_cluster_topics(
        cluster, fault_stack, tmp_path, producer={"delivery_timeout_s": DELIVERY_TIMEOUT_S}, ingress=LIMITS
    )
    await ingress_through_a_broker_kill(
        cluster, settings, settings.kafka.bootstrap_servers, {}, tmp_path, started
    )


async def test_ingress_rides_through_a_broker_sigkill_on_the_secure_cluster(
    secure_cluster: SecureStack, tmp_path: Path
) -> None:
    """The same over SASL_SSL (the ingress connects as the admin, from ``LGSP_KAFKA__*``)."""
    started = time.monotonic()
    settings = await with_secure_cluster_topics(
        secure_cluster, tmp_path, producer={"delivery_timeout_s": DELIVERY_TIMEOUT_S}, ingress=LIMITS
    )
    env = kafka_environment(secure_cluster.admin)
    await ingress_through_a_broker_kill(
        secure_cluster.launcher, settings, secure_cluster.admin, env, tmp_path, started, name=" (secure)"
    )


async def ingress_through_a_broker_kill(
    cluster: DevStack,
    settings: Settings,
    bootstrap: Kafka,
    env: Mapping[str, str],
    tmp_path: Path,
    started: float,
    *,
    name: str = "",
) -> None:
    """The stream, the kill of partition 0's leader, and every assertion of the module docstring."""
    topics = data_topics(settings)
    pool = take_units(POOL, seed=707)
    token = issue_key(settings.ingress.api_keys_file, {e.meta.source for e in pool})
    ledger = Ledger()
    victim = await leader_of(bootstrap, topics[0], 0)
    ingress = IngressProcess(settings, tmp_path, env=env)
    try:
        url = await ingress.started()
        unbounded = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(base_url=url, timeout=4 * DELIVERY_TIMEOUT_S, limits=unbounded) as http:
            stream = Stream(http, token, ledger, requests_of(pool))
            sending = asyncio.create_task(stream.run())
            try:
                await wait_until(
                    lambda: len(ledger.confirmed) >= KILL_AFTER or stream.exhausted,
                    timeout_s=120,
                    what=f"{KILL_AFTER} events accepted before the kill",
                )
                # Counted before the kill (right after it, a new client's metadata still names the dead
                # broker until the controller fences it).
                ends_at_kill = await topic_ends(bootstrap, topics)
                stream.killed_at = time.monotonic()
                await asyncio.to_thread(cluster.kill_broker, victim)
                await asyncio.sleep(RIDE_S - (time.monotonic() - stream.killed_at))
            finally:
                stream.stop.set()
                await asyncio.wait_for(sending, timeout=4 * DELIVERY_TIMEOUT_S)
            new_leader = await leader_of(bootstrap, topics[0], 0)
            scraped = (await http.get("/metrics")).text
        await ingress.stop()
    finally:
        ingress.kill()
        await asyncio.to_thread(cluster.start_broker, victim)
    scan = await scan_topics(bootstrap, topics)
    ends = await topic_ends(bootstrap, topics)
    audit_records = sum((await topic_ends(bootstrap, [settings.topics.prefix + AUDIT_TOPIC])).values())
    unexpected = set(scan.copies) - ledger.confirmed
    remember(
        FaultFigures(
            fault=f"2b ingress, one of 3 brokers SIGKILL (RF 3, min ISR 2){name}",
            offered=len(ledger.offered),
            confirmed=len(ledger.confirmed),
            reported_unconfirmed=len(ledger.reported_unconfirmed),
            confirmed_not_in_kafka=len(scan.missing(ledger.confirmed)),
            topic_duplicates=len(scan.duplicated(ledger.offered)),
            details={
                "requests_per_s": RATE,
                "most_requests_in_flight": stream.most_in_flight,
                "requests": sum(stream.statuses.values()),
                "statuses": {str(s): n for s, n in sorted(stream.statuses.items())},
                "resends": stream.resends,
                "first_refusals": stream.refusals[:3],
                "killed_node": victim,
                "new_leader": new_leader,
                "records_at_kill": sum(ends_at_kill.values()),
                "records_on_topics": scan.records,
                "records_not_accepted": len(unexpected),
                "requests_after_kill": stream.requests_after_kill,
                "latency_after_kill_p50_p99_max_s": spread(stream.latencies_after_kill),
                "delivery_timeout_s": DELIVERY_TIMEOUT_S,
                # the audit trail (one record per answer, dropped rather than delaying a request): recorded
                "audit_records": audit_records,
                "audit_written": metric(scraped, "lgsp_ingress_audit_written_total"),
                "audit_dropped": metric(scraped, "lgsp_ingress_audit_dropped_total"),
                "ingress_log_warnings_errors": ingress.count(r" (WARNING|ERROR) "),
                "ingress_tracebacks": ingress.count(r"^Traceback"),
            },
            seconds=round(time.monotonic() - started, 1),
        )
    )
    assert not stream.exhausted, f"the {POOL} events ran out before the stream was stopped"
    assert new_leader != victim, "the killed broker still leads: no election happened"
    assert stream.requests_after_kill >= 100, stream.requests_after_kill
    assert sum(ends.values()) > sum(ends_at_kill.values()), "nothing was published after the kill"
    # Without an error: every request accepted the first time.
    assert stream.resends == 0, stream.refusals[:5]
    assert set(stream.statuses) == {202}, stream.statuses
    # Nothing lost or duplicated: every accepted event once, where its 202 said, and nothing else.
    assert not ledger.pending
    assert scan.missing(ledger.confirmed) == set()
    assert scan.duplicated(ledger.offered) == set()
    assert unexpected == set()
    assert scan.misplaced(ledger.deliveries.values()) == []
    # and the ingress itself saw nothing worse than the client library's retries
    assert ingress.count(r"^Traceback") == 0, ingress.tail()
    assert ingress.count(r"Application shutdown complete") == 1, ingress.tail()
