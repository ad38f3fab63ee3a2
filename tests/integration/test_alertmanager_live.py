"""Alertmanager live: Debian's Prometheus evaluates the bus's rules and sends to Debian's Alertmanager running
deploy/alertmanager/alertmanager.yml, whose webhooks reach a receiver in the test.

The bus processes are stood in for by their own metrics (``bus.metrics`` containers served by
``serve_metrics``, as each process serves them): the views API reports Kafka down; the view builder's
``/metrics`` is then closed, as when the process dies. Proven: a failure's alert reaches the on-call webhook
and its resolution follows; TargetDown of the builder inhibits the builder's guard alert
(LgspViewBuilderAbsent fires in Prometheus, Alertmanager holds it as suppressed by TargetDown, and it is
never delivered). The rules are rendered with seconds (tests/alert_rules.py) and the config with 1 s
grouping delays (tests/alertmanager_harness.py); nothing else changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from bus.metrics import Dependency, DependencyMetrics, FreshnessMetrics, serve_metrics
from tests.alert_rules import render_rules
from tests.alertmanager_harness import (
    AlertmanagerServer,
    WebhookReceiver,
    render_alertmanager_config,
    running_alertmanager,
)
from tests.prometheus_harness import PrometheusServer, running_prometheus

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

FOR = "2s"
WINDOWS = {"5m": "4s", "10m": "6s"}
"""The guards' absent_over_time windows (5 and 10 minutes) in seconds; still longer than ``for``, so the dead
builder's TargetDown reaches Alertmanager before its guard does, as in production (2 min against 11)."""
ONCALL = "/alerts/oncall"
TIMEOUT_S = 45.0


def _poll(condition: Callable[[], Any], what: str, timeout_s: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.2)


def _prometheus_firing(prom: PrometheusServer, alertname: str, job: str) -> bool:
    return any(
        a["labels"]["alertname"] == alertname and a["labels"].get("job") == job and a["state"] == "firing"
        for a in prom.api("alerts")["alerts"]
    )


def _held(am: AlertmanagerServer, alertname: str, job: str) -> dict[str, Any] | None:
    for alert in am.alerts():
        if alert["labels"]["alertname"] == alertname and alert["labels"].get("job") == job:
            return alert
    return None


def test_a_failure_pages_the_webhook_and_target_down_inhibits_the_dead_targets_guard(tmp_path: Path) -> None:
    api_registry, builder_registry = CollectorRegistry(), CollectorRegistry()
    api_deps = DependencyMetrics(api_registry, (Dependency.KAFKA, Dependency.STORE))
    FreshnessMetrics(api_registry).set("lgsp-views", "lgsp.documents", 0, 0.0)  # serve's guard stays quiet
    DependencyMetrics(builder_registry, (Dependency.KAFKA, Dependency.REGISTRY, Dependency.STORE))
    api_deps.set(Dependency.KAFKA, up=False)  # the failure: the views API has lost Kafka

    rules = render_rules(tmp_path / "rules", for_duration=FOR, window=WINDOWS)
    with ExitStack() as stack:
        receiver = WebhookReceiver()
        stack.callback(receiver.close)
        config = render_alertmanager_config(tmp_path, receiver.url, wait="1s")
        am = stack.enter_context(running_alertmanager(config, tmp_path))
        api = stack.enter_context(serve_metrics(api_registry, "127.0.0.1", 0))
        builder = stack.enter_context(serve_metrics(builder_registry, "127.0.0.1", 0))
        targets = {
            "lgsp-views-api": [f"127.0.0.1:{api.port}"],
            "lgsp-views-builder": [f"127.0.0.1:{builder.port}"],
        }
        prom = stack.enter_context(
            running_prometheus(targets, tmp_path, rule_files=rules, alertmanager=am.address)
        )
        prom.wait_for_targets_up()

        # 1. The failure's alert reaches the on-call webhook (critical route), then its resolution.
        (paged,) = _poll(lambda: receiver.alerts("LgspKafkaDown"), "LgspKafkaDown delivered")
        assert paged.path == ONCALL
        assert paged.labels["job"] == "lgsp-views-api"
        api_deps.set(Dependency.KAFKA, up=True)
        _poll(lambda: receiver.alerts("LgspKafkaDown", "resolved"), "LgspKafkaDown resolution delivered")

        # 2. The builder dies: TargetDown pages; its guard fires in Prometheus but is inhibited.
        builder.close()
        (down,) = _poll(lambda: receiver.alerts("LgspTargetDown"), "LgspTargetDown delivered")
        assert (down.path, down.labels["job"]) == (ONCALL, "lgsp-views-builder")
        _poll(
            lambda: _prometheus_firing(prom, "LgspViewBuilderAbsent", "lgsp-views-builder"),
            "LgspViewBuilderAbsent firing in Prometheus",
        )
        held = _poll(
            lambda: _held(am, "LgspViewBuilderAbsent", "lgsp-views-builder"),
            "LgspViewBuilderAbsent in Alertmanager",
        )
        assert held["status"]["state"] == "suppressed", held
        (source,) = held["status"]["inhibitedBy"]
        target_down = _held(am, "LgspTargetDown", "lgsp-views-builder")
        assert target_down is not None
        assert source == target_down["fingerprint"]
        time.sleep(3)  # three group intervals: a notification would have been sent by now
        assert receiver.alerts("LgspViewBuilderAbsent") == [], receiver.received
        assert _prometheus_firing(prom, "LgspViewBuilderAbsent", "lgsp-views-builder")  # still the cause
