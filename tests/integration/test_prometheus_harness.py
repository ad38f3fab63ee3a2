"""A real Prometheus scrapes bus.metrics served by serve_metrics, with the bus's alert rules loaded.

This proves the harness (tests/prometheus_harness.py) and the exposition end to end; the scrape test of the
running bus processes (issue 6, part 3) builds on the same harness.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from prometheus_client import CollectorRegistry

from bus.metrics import (
    NATIONAL,
    ConsumerMetrics,
    Kpi,
    MetricsServer,
    PublisherMetrics,
    ViewMetrics,
    new_process_registry,
    serve_metrics,
)
from tests.prometheus_harness import PROMETHEUS_DIR, PrometheusServer, running_prometheus

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

DOCUMENT_SENT = "vn.gov.lgsp.DocumentSent"


@pytest.fixture(scope="module")
def registry() -> CollectorRegistry:
    registry = new_process_registry(version="9.9.9-test")
    publisher, consumer, views = PublisherMetrics(registry), ConsumerMetrics(registry), ViewMetrics(registry)
    publisher.events_published.labels(topic="lgsp.documents", type=DOCUMENT_SENT).inc(7)
    publisher.publish_duration.observe(0.004)
    consumer.set_lag("lgsp-views", "lgsp.documents", 3, 42)
    views.set_kpi(Kpi.ELECTRONIC_DOCUMENT_RATIO, NATIONAL, 0.865)
    views.set_kpi(Kpi.ELECTRONIC_DOCUMENT_RATIO, "91", 0.97)
    return registry


@pytest.fixture(scope="module")
def metrics_server(registry: CollectorRegistry) -> Iterator[MetricsServer]:
    with serve_metrics(registry, "127.0.0.1", 0) as server:
        yield server


@pytest.fixture(scope="module")
def prometheus(
    metrics_server: MetricsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """One server for the module: starting Prometheus takes seconds, and the tests only read from it."""
    rules = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
    target = f"127.0.0.1:{metrics_server.port}"
    workdir = tmp_path_factory.mktemp("prometheus")
    with running_prometheus({"lgsp-views-builder": [target]}, workdir, rule_files=rules) as server:
        server.wait_for_targets_up()
        yield server


def test_prometheus_scrapes_the_values_the_bus_set(prometheus: PrometheusServer) -> None:
    published = prometheus.wait_for_value(
        f'lgsp_events_published_total{{topic="lgsp.documents",type="{DOCUMENT_SENT}"}}'
    )
    lag = prometheus.wait_for_value('lgsp_consumer_lag_messages{group="lgsp-views",partition="3"}')
    nation = prometheus.wait_for_value(f'lgsp_kpi_electronic_document_ratio{{province="{NATIONAL}"}}')
    an_giang = prometheus.wait_for_value('lgsp_kpi_electronic_document_ratio{province="91"}')
    publishes = prometheus.wait_for_value("lgsp_publish_duration_seconds_count")
    assert (published, lag, nation, an_giang, publishes) == (7, 42, 0.865, 0.97, 1)


def test_build_info_and_process_collectors_are_exposed(prometheus: PrometheusServer) -> None:
    build = prometheus.wait_for("lgsp_build_info")
    assert [series["metric"]["version"] for series in build] == ["9.9.9-test"]
    assert prometheus.wait_for_value('up{job="lgsp-views-builder"}') == 1
    assert prometheus.wait_for("process_cpu_seconds_total")
    assert prometheus.wait_for("python_info")


def test_the_real_server_loads_every_rule_group(prometheus: PrometheusServer) -> None:
    groups = prometheus.api("rules")["groups"]
    names = {group["name"]: [rule["name"] for rule in group["rules"]] for group in groups}
    declared = {
        group["name"]
        for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    }
    assert set(names) == declared  # every group of the rule files, as the files declare them
    assert "LgspTargetDown" in names["lgsp.alerts"]
    assert all(rule["health"] != "err" for group in groups for rule in group["rules"])


def test_the_lag_recording_rule_evaluates_on_scraped_data(prometheus: PrometheusServer) -> None:
    lag = prometheus.wait_for_value(
        'lgsp:consumer_lag_messages:sum{group="lgsp-views",topic="lgsp.documents"}'
    )
    assert lag == 42
