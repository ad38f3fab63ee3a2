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
Kafka down             LgspKafkaDown, LgspPublishErrorRateHigh — the broker SIGKILLed, then restarted
registry down          LgspRegistryDown — the registry SIGKILLed, then restarted
poison                 LgspDeadLettersIncreasing — garbage bytes on a topic
=====================  ==============================================================================

The times to fire and to resolve are printed as a table (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from bus.settings import Settings
from bus.topics import ensure_topics
from tests.alert_rules import render_rules
from tests.faults.ingress_client import issue_key
from tests.faults.procs import LGSP, Child, IngressProcess, ViewsProcess, settings_env, store_path
from tests.faults.stacks import FaultStack, fault_settings
from tests.faults.storefaults import HeldLock
from tests.prometheus_harness import PrometheusServer, running_prometheus

pytestmark = [pytest.mark.faults, pytest.mark.prometheus, pytest.mark.slow]

NODE = 1
SLO_S = 8.0
"""The freshness objective of the test (the rule file says 120 s): LagHigh at 4 s, ViewStale at 8 s."""
FIRE_TIMEOUT_S = 90.0
RESOLVE_TIMEOUT_S = 120.0
POLL_S = 0.25


@dataclass
class Stack:
    settings: Settings
    workdir: Path
    prometheus: PrometheusServer
    builder: ViewsProcess
    exits: AsyncExitStack

    async def start_builder(self) -> ViewsProcess:
        self.builder = ViewsProcess(self.settings, self.workdir, name=f"views-{time.monotonic_ns()}")
        self.exits.push_async_callback(_stop, self.builder)
        return self.builder


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
    prom = stack.prometheus
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
    env = {"LGSP_VIEWS__FRESHNESS_INTERVAL_S": "1"}
    async with AsyncExitStack() as exits:
        builder = ViewsProcess(settings, tmp_path)
        exits.push_async_callback(_stop, builder)
        serve = Child(
            "serve",
            [str(LGSP), "views", "serve", "--host", "127.0.0.1", "--port", "0"],
            settings_env(settings, **env),
            tmp_path,
        )
        exits.push_async_callback(_stop, serve)
        ingress = IngressProcess(settings, tmp_path)
        exits.push_async_callback(_stop, ingress)
        simulator = Child(
            "simulate",
            [str(LGSP), "simulate", "--rate", "40", "--metrics-port", "0", "--seed", "20", "--no-progress"],
            settings_env(settings),
            tmp_path,
        )
        exits.push_async_callback(_stop, simulator)
        targets = {
            "lgsp-views-builder": [await metrics_address(builder, r"serving metrics on http://")],
            "lgsp-views-api": [await metrics_address(serve, r"Uvicorn running on http://")],
            "lgsp-ingress": [(await ingress.started()).removeprefix("http://")],
            "lgsp-simulator": [await metrics_address(simulator, r"metrics: http://")],
        }
        rules = render_rules(
            tmp_path / "rules",
            for_duration="2s",
            slo={"lgsp:views_behind_seconds:slo": SLO_S},
            window={"5m": "15s", "10m": "20s"},
        )
        prometheus = await exits.enter_async_context(_prometheus(targets, tmp_path / "prometheus", rules))
        stack = Stack(settings, tmp_path, prometheus, builder, exits)
        yield stack


@asynccontextmanager
async def _prometheus(
    targets: Mapping[str, list[str]], workdir: Path, rules: list[Path]
) -> AsyncIterator[PrometheusServer]:
    await asyncio.to_thread(workdir.mkdir)
    context = running_prometheus(targets, workdir, rule_files=rules)
    server = await asyncio.to_thread(context.__enter__)
    try:
        yield server
    finally:
        await asyncio.to_thread(context.__exit__, None, None, None)


async def test_each_failure_pages_and_resolves(fault_stack: FaultStack, tmp_path: Path) -> None:
    started = time.monotonic()
    async with live_stack(fault_stack, tmp_path) as stack:
        prom = stack.prometheus
        await asyncio.to_thread(prom.wait_for_targets_up, 60)
        # Healthy first: the views are fresh (the freshness series exists and is within the objective).
        await poll(
            lambda: bool(prom.query(f"lgsp:view_store_behind_seconds:max < {SLO_S / 2}")),
            60,
            "fresh views",
            prom,
        )
        assert not any(a["state"] == "firing" for a in prom.api("alerts")["alerts"]), prom.api("alerts")

        builder_job = {"job": "lgsp-views-builder"}

        async def kill_builder() -> None:
            stack.builder.kill()

        async def restart_builder() -> None:
            await stack.start_builder()

        await pages(
            stack,
            "builder SIGKILLed",
            {"LgspTargetDown": builder_job, "LgspViewStale": {}},
            kill_builder,
            restart_builder,
        )

        held: list[HeldLock] = []

        async def hold_lock() -> None:
            held.append(await asyncio.to_thread(HeldLock, store_path(stack.settings)))

        async def release_lock() -> None:
            held.pop().release()

        await pages(
            stack,
            "builder stuck (store locked)",
            {"LgspStoreDown": builder_job, "LgspViewStale": {}},
            hold_lock,
            release_lock,
        )
        stuck_line = next(line for line in stack.builder.lines if "database is locked" in line)
        FIGURES["builder stuck: log line"] = stuck_line.split(" ", 2)[-1][:200]

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

        async def poison() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka.bootstrap_servers)
            await producer.start()
            try:
                await producer.send_and_wait(
                    f"{stack.settings.topics.prefix}lgsp.dossiers", b"not avro at all"
                )
            finally:
                await producer.stop()

        async def nothing() -> None:
            return  # the counter stops increasing: the 20 s window empties

        await pages(
            stack,
            "poison",
            {"LgspDeadLettersIncreasing": {"reason": "bad-wire-format"}},
            poison,
            nothing,
        )
    print(figures_table(FIGURES, time.monotonic() - started))


def figures_table(figures: Mapping[str, Any], total_s: float) -> str:
    """failure | alert | time to fire | time to resolve, in Markdown."""
    rows = ["| failure | alert | time to fire (s) | time to resolve (s) |", "|---|---|---|---|"]
    pairs = sorted({key.rsplit(" | ", 1)[0] for key in figures if key.count(" | ") == 2})
    for pair in pairs:
        rows.append(f"| {pair} | {figures.get(pair + ' | fire_s')} | {figures.get(pair + ' | resolve_s')} |")
    rows.append(f"\nwhole test: {total_s:.0f} s; {figures.get('builder stuck: log line', '')}")
    return "\n".join(rows)
