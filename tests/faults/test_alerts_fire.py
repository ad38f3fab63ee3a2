"""Failures proven to page: real processes, a real Prometheus with the bus's own rules, real failures.

A private stack (one broker, a registry) runs the simulator, the ingress, the view builder and views serve;
Debian's Prometheus scrapes them every second and evaluates ``deploy/prometheus/rules`` rendered by
``tests/alert_rules.py`` (the one rule file, with ``for:`` durations of a few seconds, the freshness objective
at 8 s instead of 120 s and the 5/10-minute windows at 15/20 s: every expression as operators run it).

Then, one after the other, each failure of the operator's issue is made to happen, and the test waits for
its alert to reach ``firing`` and, once the failure is repaired, to resolve:

=====================  ==============================================================================
builder SIGKILLed      LgspTargetDown (builder), LgspViewStale — views serve measures without the builder
builder stuck          LgspStoreDown (builder), LgspViewStale — another connection holds the store's lock
poison                 LgspDeadLettersIncreasing — garbage bytes on a topic
Kafka down             LgspKafkaDown, LgspPublishErrorRateHigh — the broker SIGKILLed, then restarted
registry down          LgspRegistryDown — the registry SIGKILLed, then restarted
=====================  ==============================================================================

Every dashboard panel must return data on the healthy stack and while each bus process is down, and
``views run`` must ride through the Kafka outage (its keyring refresh keeps the keys it has).

The times to fire and to resolve are printed as a table (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from bus.settings import Settings
from bus.topics import ensure_topics
from tests.alert_rules import render_rules
from tests.dashboards import blank_panels
from tests.faults.ingress_client import issue_key
from tests.faults.procs import LGSP, Child, settings_env, store_path
from tests.faults.stacks import FaultStack, fault_settings
from tests.faults.storefaults import HeldLock
from tests.prometheus_harness import PrometheusServer, free_port, running_prometheus

pytestmark = [pytest.mark.faults, pytest.mark.prometheus, pytest.mark.slow]

NODE = 1
SLO_S = 8.0
"""The freshness objective of the test (the rule file says 120 s): LagHigh at 4 s, ViewStale at 8 s."""
FIRE_TIMEOUT_S = 90.0
RESOLVE_TIMEOUT_S = 120.0
POLL_S = 0.25


JOBS = ("lgsp-views-builder", "lgsp-views-api", "lgsp-ingress", "lgsp-simulator")


@dataclass
class Stack:
    """The bus processes, each on a fixed port so that a restarted one is scraped where its job says."""

    settings: Settings
    workdir: Path
    ports: dict[str, int]
    exits: AsyncExitStack
    children: dict[str, Child] = field(default_factory=dict)
    prometheus: PrometheusServer | None = None

    @property
    def prom(self) -> PrometheusServer:
        if self.prometheus is None:
            raise AssertionError("Prometheus is not running yet")
        return self.prometheus

    async def start(self, job: str) -> Child:
        """Start the process of ``job`` and wait until it serves ``/metrics``."""
        port = str(self.ports[job])
        name = f"{job}-{time.monotonic_ns()}"
        # Unsigned traffic (the simulator has no signing key here): trust is not what this test is about.
        env = settings_env(
            self.settings, LGSP_VIEWS__FRESHNESS_INTERVAL_S="1", LGSP_VIEWS__REQUIRE_SIGNATURES="false"
        )
        args, ready = {
            "lgsp-views-builder": (["views", "run", "--metrics-port", port], r"serving metrics on http://"),
            "lgsp-views-api": (["views", "serve", "--host", "127.0.0.1", "--port", port], r"Uvicorn running"),
            "lgsp-ingress": (["ingress", "--host", "127.0.0.1", "--port", port], r"Uvicorn running"),
            "lgsp-simulator": (
                ["simulate", "--rate", "40", "--metrics-port", port, "--seed", "20", "--no-progress"],
                r"metrics: http://",
            ),
        }[job]
        child = Child(name, [str(LGSP), *args], env, self.workdir)
        self.exits.push_async_callback(_stop, child)
        self.children[job] = child
        await child.wait_for_line(ready, timeout_s=120)
        return child

    def kill(self, job: str) -> None:
        self.children[job].kill()

    def targets(self) -> dict[str, list[str]]:
        return {job: [f"127.0.0.1:{port}"] for job, port in self.ports.items()}


async def _stop(child: Child) -> None:
    if child.alive():
        await child.stop(timeout_s=20)


async def metrics_address(child: Child, pattern: str) -> str:
    line = await child.wait_for_line(pattern, timeout_s=120)
    match = re.search(r"http://([0-9.]+:\d+)", line)
    if match is None:
        raise AssertionError(f"no address in {line!r}")
    return match.group(1)


def firing(prometheus: PrometheusServer, alert: str, labels: Mapping[str, str]) -> bool:
    return any(
        a["labels"].get("alertname") == alert
        and a["state"] == "firing"
        and all(a["labels"].get(k) == v for k, v in labels.items())
        for a in prometheus.api("alerts")["alerts"]
    )


def present(prometheus: PrometheusServer, alert: str, labels: Mapping[str, str]) -> bool:
    return any(
        a["labels"].get("alertname") == alert and all(a["labels"].get(k) == v for k, v in labels.items())
        for a in prometheus.api("alerts")["alerts"]
    )


async def poll(
    predicate: Callable[[], bool], timeout_s: float, what: str, prometheus: PrometheusServer
) -> float:
    """Seconds until ``predicate()`` held; AssertionError (naming the alerts now) after the timeout."""
    started = time.monotonic()
    while not await asyncio.to_thread(predicate):
        if time.monotonic() - started > timeout_s:
            alerts = [(a["labels"]["alertname"], a["state"]) for a in prometheus.api("alerts")["alerts"]]
            raise AssertionError(f"{what} not within {timeout_s:g} s; alerts now: {alerts}")
        await asyncio.sleep(POLL_S)
    return time.monotonic() - started


FIGURES: dict[str, Any] = {}


async def pages(
    stack: Stack,
    failure: str,
    alerts: Mapping[str, Mapping[str, str]],
    break_it: Callable[[], Awaitable[None]],
    repair: Callable[[], Awaitable[None]],
) -> None:
    """Break, wait for every alert to fire, repair, wait for every alert to resolve; record the times."""
    prom = stack.prom
    await break_it()
    for alert, labels in alerts.items():
        seconds = await poll(_firing(prom, alert, labels), FIRE_TIMEOUT_S, f"{alert} firing", prom)
        FIGURES[f"{failure} | {alert} | fire_s"] = round(seconds, 1)
    repaired = time.monotonic()
    await repair()
    for alert, labels in alerts.items():
        await poll(_gone(prom, alert, labels), RESOLVE_TIMEOUT_S, f"{alert} resolved", prom)
        FIGURES[f"{failure} | {alert} | resolve_s"] = round(time.monotonic() - repaired, 1)


def _firing(prom: PrometheusServer, alert: str, labels: Mapping[str, str]) -> Callable[[], bool]:
    return lambda: firing(prom, alert, labels)


def _query_has(prom: PrometheusServer, promql: str) -> Callable[[], bool]:
    return lambda: bool(prom.query(promql))


def _gone(prom: PrometheusServer, alert: str, labels: Mapping[str, str]) -> Callable[[], bool]:
    return lambda: not present(prom, alert, labels)


@asynccontextmanager
async def live_stack(fault_stack: FaultStack, tmp_path: Path) -> AsyncIterator[Stack]:
    settings = fault_settings(
        fault_stack.bootstrap_servers,
        fault_stack.registry_url,
        tmp_path,
        views={"max_batch_records": 200},
        producer={"delivery_timeout_s": 3.0},
    )
    await ensure_topics(settings)
    issue_key(settings.ingress.api_keys_file, [])
    async with AsyncExitStack() as exits:
        stack = Stack(settings, tmp_path, {job: free_port() for job in JOBS}, exits)
        await asyncio.gather(*(stack.start(job) for job in JOBS))
        rules = render_rules(
            tmp_path / "rules",
            for_duration="4s",
            slo={"lgsp:views_behind_seconds:slo": SLO_S},
            window={"5m": "15s", "10m": "20s"},
        )
        stack.prometheus = await exits.enter_async_context(
            _prometheus(stack.targets(), tmp_path / "prometheus", rules)
        )
        yield stack


@asynccontextmanager
async def _prometheus(
    targets: Mapping[str, list[str]], workdir: Path, rules: list[Path]
) -> AsyncIterator[PrometheusServer]:
    await asyncio.to_thread(workdir.mkdir)
    # Every 2 s (scrape timeout too): on a loaded 2-core machine a 1 s scrape of a busy process can time out.
    context = running_prometheus(targets, workdir, rule_files=rules, interval="2s")
    server = await asyncio.to_thread(context.__enter__)
    try:
        yield server
    finally:
        await asyncio.to_thread(context.__exit__, None, None, None)


async def test_each_failure_pages_and_resolves(fault_stack: FaultStack, tmp_path: Path) -> None:
    started = time.monotonic()
    try:
        await _each_failure(fault_stack, tmp_path)
    finally:  # the figures so far, also when a stage fails
        print(figures_table(FIGURES, time.monotonic() - started))


async def _each_failure(fault_stack: FaultStack, tmp_path: Path) -> None:
    async with live_stack(fault_stack, tmp_path) as stack:
        prom = stack.prom
        await asyncio.to_thread(prom.wait_for_targets_up, 60)
        # Healthy first: the views are fresh, and every dashboard panel shows something (0 counts).
        fresh = f"lgsp:view_store_behind_seconds:max < {SLO_S / 2}"
        await poll(lambda: bool(prom.query(fresh)), 90, "fresh views", prom)
        # Healthy means both ends moving: the simulator's publish series scraped twice (a rate needs two
        # samples; on a fast machine the builder can be seen applying before the simulator's second scrape)
        # and the builder applying.
        applying = (
            "sum(rate(lgsp_events_published_total[30s])) > 0"
            " and sum(rate(lgsp_events_consumed_total[30s])) > 0"
            " and sum(lgsp_view_last_event_timestamp_seconds) > 0"
        )
        await poll(
            lambda: bool(prom.query(applying)), 90, "the simulator publishing and the builder applying", prom
        )
        # And every process scraped twice, or its rate panels have one sample and show nothing: CI40 got here
        # 2 s after the first scrapes, with the ingress scraped once.
        scraped_twice = f"count(count_over_time(up[30s]) >= 2) == {len(JOBS)}"
        await poll(lambda: bool(prom.query(scraped_twice)), 30, "every process scraped twice", prom)
        assert not firing(prom, "LgspViewStale", {}), prom.api("alerts")
        await no_blank_panels(stack, "healthy")

        builder = {"job": "lgsp-views-builder"}

        async def kill_builder() -> None:
            stack.kill("lgsp-views-builder")

        async def restart_builder() -> None:
            await no_blank_panels(stack, "view builder down")
            await stack.start("lgsp-views-builder")

        await pages(
            stack,
            "builder SIGKILLed",
            {"LgspTargetDown": builder, "LgspViewStale": {}},
            kill_builder,
            restart_builder,
        )

        held: list[HeldLock] = []

        async def hold_lock() -> None:
            # On this thread: a SQLite connection is used only by the thread that made it (release below).
            held.append(HeldLock(store_path(stack.settings)))

        async def release_lock() -> None:
            held.pop().release()

        await pages(
            stack,
            "builder stuck (store locked)",
            {"LgspStoreDown": builder, "LgspViewStale": {}},
            hold_lock,
            release_lock,
        )
        stuck = stack.children["lgsp-views-builder"]
        FIGURES["builder stuck: log line"] = next(
            line for line in stuck.lines if "database is locked" in line
        )

        async def poison() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka.bootstrap_servers)
            await producer.start()
            try:
                topic = f"{stack.settings.topics.prefix}lgsp.dossiers"
                await producer.send_and_wait(topic, b"not avro at all")
            finally:
                await producer.stop()

        async def nothing() -> None:
            return  # the counter stops increasing: the 20 s window empties

        await pages(
            stack, "poison", {"LgspDeadLettersIncreasing": {"reason": "bad-wire-format"}}, poison, nothing
        )

        async def kill_kafka() -> None:
            fault_stack.launcher.kill_broker(NODE)

        async def start_kafka() -> None:
            await asyncio.to_thread(fault_stack.launcher.start_broker, NODE)

        await pages(
            stack,
            "Kafka down",
            {"LgspKafkaDown": {"job": "lgsp-views-api"}, "LgspPublishErrorRateHigh": {}},
            kill_kafka,
            start_kafka,
        )

        async def kill_registry() -> None:
            fault_stack.kill_registry()

        async def start_registry() -> None:
            await asyncio.to_thread(fault_stack.restart_missing)

        await pages(
            stack,
            "registry down",
            {"LgspRegistryDown": {"job": "lgsp-ingress"}},
            kill_registry,
            start_registry,
        )

        # The builder rides through the Kafka outage above: its keyring refresh keeps the keys it has and logs
        # (bus/signing/keyring.py); it used to exit there on a KafkaTimeoutError, leaving only TargetDown.
        survivor = stack.children["lgsp-views-builder"]
        FIGURES["builder alive after the Kafka outage"] = survivor.alive()
        assert survivor.alive(), f"views run exited during the Kafka outage:\n{survivor.tail()}"

        # Every other process down in turn: the dashboards still show something for every panel.
        for job in ("lgsp-views-api", "lgsp-ingress", "lgsp-simulator"):
            stack.kill(job)
            await poll(_query_has(prom, f'up{{job="{job}"}} == 0'), 30, f"{job} down", prom)
            await no_blank_panels(stack, f"{job} down")
            await stack.start(job)


async def no_blank_panels(stack: Stack, when: str) -> None:
    """Every panel of both dashboards returns at least one series now (Grafana would not say "No data")."""
    blank = await asyncio.to_thread(blank_panels, stack.prom.query, "30s")
    assert not blank, f"{when}: panels without data: {blank}"


def figures_table(figures: Mapping[str, Any], total_s: float) -> str:
    """failure | alert | time to fire | time to resolve, in Markdown."""
    rows = ["| failure | alert | time to fire (s) | time to resolve (s) |", "|---|---|---|---|"]
    pairs = sorted({key.rsplit(" | ", 1)[0] for key in figures if key.count(" | ") == 2})
    for pair in pairs:
        rows.append(f"| {pair} | {figures.get(pair + ' | fire_s')} | {figures.get(pair + ' | resolve_s')} |")
    rows.append(f"\nwhole test: {total_s:.0f} s; {figures.get('builder stuck: log line', '')}")
    alive = figures.get("builder alive after the Kafka outage")
    rows.append(f"builder alive after the Kafka outage: {alive}")
    return "\n".join(rows)
