"""bus.metrics: the catalog's conventions, the containers on injected registries, and the /metrics servers."""

from __future__ import annotations

import platform
import re
import socket

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from starlette.applications import Starlette

from bus import avro_writer
from bus.errors import ConfigError
from bus.metrics import (
    ALLOWED_LABELS,
    CATALOG,
    CONTAINERS,
    EVENT_AGE_BUCKETS,
    LATENCY_BUCKETS,
    NATIONAL,
    ConsumerMetrics,
    IngressMetrics,
    Kind,
    Kpi,
    MetricSpec,
    PublisherMetrics,
    SimulatorMetrics,
    ViewMetrics,
    all_metric_names,
    metrics_asgi_app,
    metrics_route,
    new_process_registry,
    register_build_info,
    serve_metrics,
)
from bus.signing import tree

pytestmark = pytest.mark.unit

# Histograms whose unit is a count, not seconds.
COUNT_HISTOGRAMS = {"lgsp_consumer_batch_records"}


def test_all_metric_names_are_the_catalog_read_back_from_real_containers() -> None:
    assert all_metric_names() == {spec.name for spec in CATALOG}
    assert len(CATALOG) == len({spec.name for spec in CATALOG}), "a metric is declared twice"


def test_the_names_fixed_by_the_issues_are_exported() -> None:
    fixed = {
        "lgsp_events_published_total", "lgsp_publish_errors_total", "lgsp_publish_duration_seconds",
        "lgsp_ingress_requests_total", "lgsp_ingress_request_duration_seconds", "lgsp_events_consumed_total",
        "lgsp_events_dead_lettered_total", "lgsp_batch_processing_duration_seconds", "lgsp_event_age_seconds",
        "lgsp_consumer_lag_messages", "lgsp_view_last_event_timestamp_seconds", "lgsp_build_info",
    }  # fmt: skip
    assert fixed <= all_metric_names()
    labels = {spec.name: spec.labels for spec in CATALOG}
    assert labels["lgsp_events_published_total"] == ("topic", "type")
    assert labels["lgsp_publish_errors_total"] == ("topic", "reason")
    assert labels["lgsp_ingress_requests_total"] == ("route", "status")
    assert labels["lgsp_events_consumed_total"] == ("group", "topic", "type")
    assert labels["lgsp_events_dead_lettered_total"] == ("group", "topic", "reason")
    assert labels["lgsp_consumer_lag_messages"] == ("group", "topic", "partition")
    assert labels["lgsp_view_last_event_timestamp_seconds"] == ("view",)


@pytest.mark.parametrize("spec", CATALOG, ids=lambda spec: spec.name)
def test_every_metric_follows_the_naming_conventions(spec: MetricSpec) -> None:
    assert re.fullmatch(r"lgsp_[a-z_]+", spec.name)
    assert set(spec.labels) <= ALLOWED_LABELS
    assert spec.help
    assert spec.question.endswith("?")
    if spec.kind is Kind.HISTOGRAM and spec.name not in COUNT_HISTOGRAMS:
        assert spec.name.endswith("_seconds"), "durations are in seconds"
    if spec.name.startswith("lgsp_kpi_"):
        assert spec.name.endswith("_ratio")
        assert spec.labels == ("province",)


def test_a_spec_refuses_high_cardinality_labels_and_misnamed_counters() -> None:
    with pytest.raises(ValueError, match="low-cardinality"):
        MetricSpec("lgsp_x_total", Kind.COUNTER, "h", "q?", ("dossier_code",))
    with pytest.raises(ValueError, match="_total"):
        MetricSpec("lgsp_x", Kind.COUNTER, "h", "q?")
    with pytest.raises(ValueError, match="_total"):
        MetricSpec("lgsp_x_total", Kind.GAUGE, "h", "q?")
    with pytest.raises(ValueError, match="prefixed"):
        MetricSpec("events_total", Kind.COUNTER, "h", "q?")
    with pytest.raises(ValueError, match="buckets"):
        MetricSpec("lgsp_x_seconds", Kind.HISTOGRAM, "h", "q?")


def test_a_spec_builds_only_its_own_kind() -> None:
    spec = MetricSpec("lgsp_x_seconds", Kind.GAUGE, "h", "q?")
    with pytest.raises(TypeError, match="gauge"):
        spec.counter(CollectorRegistry())


def test_buckets_span_milliseconds_to_seconds_and_event_age_to_a_day() -> None:
    assert LATENCY_BUCKETS[0] == 0.001
    assert LATENCY_BUCKETS[-1] >= 10
    assert EVENT_AGE_BUCKETS[0] == 0.01
    assert EVENT_AGE_BUCKETS[-1] == 86400
    for buckets in (LATENCY_BUCKETS, EVENT_AGE_BUCKETS):
        assert list(buckets) == sorted(set(buckets))


def test_every_container_fits_in_one_process_registry() -> None:
    registry = new_process_registry(version="1.2.3")
    for container in CONTAINERS:
        container(registry)
    names = {family.name for family in registry.collect()}
    assert {"process_cpu_seconds", "python_info", "python_gc_objects_collected", "lgsp_build"} <= names
    hashes = "c" if tree.NATIVE else "python"
    writer = "c" if avro_writer.NATIVE else "python"
    labels = {"version": "1.2.3", "python": _python(), "signing_hashes": hashes, "avro_writer": writer}
    assert registry.get_sample_value("lgsp_build_info", labels) == 1


def test_registries_are_isolated_and_a_metric_registers_once_per_registry() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    PublisherMetrics(first).events_published.labels(topic="lgsp.documents", type="t").inc()
    PublisherMetrics(second)
    assert (
        second.get_sample_value("lgsp_events_published_total", {"topic": "lgsp.documents", "type": "t"})
        is None
    )
    with pytest.raises(ValueError, match="Duplicated"):
        PublisherMetrics(first)


def test_publisher_metrics_in_the_exposition_format() -> None:
    registry = CollectorRegistry()
    metrics = PublisherMetrics(registry)
    metrics.events_published.labels(topic="lgsp.dossiers", type="vn.gov.lgsp.dossier.DossierSynced").inc(3)
    metrics.publish_errors.labels(topic="lgsp.dossiers", reason="timeout").inc()
    metrics.publish_duration.observe(0.003)
    text = generate_latest(registry).decode()
    assert (
        'lgsp_events_published_total{topic="lgsp.dossiers",type="vn.gov.lgsp.dossier.DossierSynced"} 3.0'
        in text
    )
    assert 'lgsp_publish_errors_total{reason="timeout",topic="lgsp.dossiers"} 1.0' in text
    assert 'lgsp_publish_duration_seconds_bucket{le="0.005"} 1.0' in text
    assert 'lgsp_publish_duration_seconds_bucket{le="0.0025"} 0.0' in text


def test_ingress_observe_counts_by_route_template_and_status() -> None:
    registry = CollectorRegistry()
    metrics = IngressMetrics(registry)
    metrics.observe("/v1/events", 202, 0.02)
    metrics.observe("/v1/events", 202, 0.03)
    metrics.observe("/v1/events:batch", 503, 1.5)
    with metrics.in_flight.track_inprogress():
        assert registry.get_sample_value("lgsp_ingress_in_flight_requests") == 1
    assert registry.get_sample_value("lgsp_ingress_in_flight_requests") == 0
    sample = registry.get_sample_value
    assert sample("lgsp_ingress_requests_total", {"route": "/v1/events", "status": "202"}) == 2
    assert sample("lgsp_ingress_requests_total", {"route": "/v1/events:batch", "status": "503"}) == 1
    assert sample("lgsp_ingress_request_duration_seconds_count", {"route": "/v1/events"}) == 2


def test_consumer_lag_is_never_negative_and_a_revoked_partition_is_dropped() -> None:
    registry = CollectorRegistry()
    metrics = ConsumerMetrics(registry)
    metrics.set_lag("lgsp-views", "lgsp.reports", 2, 17)
    metrics.set_lag("lgsp-views", "lgsp.reports", 3, -4)  # a high watermark read before the position
    labels = {"group": "lgsp-views", "topic": "lgsp.reports"}
    assert registry.get_sample_value("lgsp_consumer_lag_messages", {**labels, "partition": "2"}) == 17
    assert registry.get_sample_value("lgsp_consumer_lag_messages", {**labels, "partition": "3"}) == 0
    metrics.forget_partition("lgsp-views", "lgsp.reports", 2)
    metrics.forget_partition("lgsp-views", "lgsp.reports", 9)  # never assigned: harmless
    assert registry.get_sample_value("lgsp_consumer_lag_messages", {**labels, "partition": "2"}) is None
    metrics.event_age.labels(group="lgsp-views", topic="lgsp.reports").observe(2 * 86400)
    assert (
        registry.get_sample_value(
            "lgsp_event_age_seconds_bucket", {"group": "lgsp-views", "topic": "lgsp.reports", "le": "86400.0"}
        )
        == 0
    )


def test_view_freshness_and_kpis_per_province_with_00_for_the_nation() -> None:
    registry = CollectorRegistry()
    metrics = ViewMetrics(registry)
    metrics.applied("dossiers", 5, now=1_700_000_000.0)
    metrics.applied("dossiers", 0, now=1_800_000_000.0)  # nothing applied: not fresher
    assert registry.get_sample_value("lgsp_view_events_applied_total", {"view": "dossiers"}) == 5
    assert registry.get_sample_value("lgsp_view_last_event_timestamp_seconds", {"view": "dossiers"}) == 1.7e9
    metrics.set_kpis(NATIONAL, {Kpi.DOSSIER_FULL_ONLINE_RATIO: 0.45, Kpi.DOSSIER_DIGITISED_RATIO: 0.6706})
    metrics.set_kpi(Kpi.ELECTRONIC_DOCUMENT_RATIO, "91", 0.97)
    assert registry.get_sample_value("lgsp_kpi_dossier_full_online_ratio", {"province": "00"}) == 0.45
    assert registry.get_sample_value("lgsp_kpi_electronic_document_ratio", {"province": "91"}) == 0.97
    metrics.set_kpi(Kpi.ELECTRONIC_DOCUMENT_RATIO, "91", None)  # no documents any more: no ratio
    metrics.set_kpi(Kpi.REPORT_ON_TIME_RATIO, "01", None)  # never set: harmless
    assert registry.get_sample_value("lgsp_kpi_electronic_document_ratio", {"province": "91"}) is None
    assert {kpi.value for kpi in Kpi} <= all_metric_names()


def test_simulator_metrics() -> None:
    registry = CollectorRegistry()
    metrics = SimulatorMetrics(registry)
    metrics.events_generated.labels(type="vn.gov.lgsp.ReportFiled").inc(10)
    metrics.invalid_injected.labels(type="vn.gov.lgsp.ReportFiled").inc()
    metrics.target_rate.set(50)
    sample = registry.get_sample_value
    assert sample("lgsp_simulator_events_generated_total", {"type": "vn.gov.lgsp.ReportFiled"}) == 10
    assert sample("lgsp_simulator_invalid_injected_total", {"type": "vn.gov.lgsp.ReportFiled"}) == 1
    assert sample("lgsp_simulator_target_rate_events_per_second") == 50


def test_serve_metrics_on_a_port_from_the_os_then_closes() -> None:
    registry = CollectorRegistry()
    register_build_info(registry, "0.0.1")
    with serve_metrics(registry, "127.0.0.1", 0) as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        response = httpx.get(server.url, timeout=5)
        assert response.status_code == 200
        (line,) = [line for line in response.text.splitlines() if line.startswith("lgsp_build_info{")]
        assert 'python="' in line
        assert 'version="0.0.1"' in line
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url, timeout=5)
    server.close()  # idempotent


def test_serve_metrics_names_the_address_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}"):
            serve_metrics(CollectorRegistry(), "127.0.0.1", port)


async def test_metrics_route_and_asgi_app_serve_the_registry_in_an_asgi_process() -> None:
    registry = CollectorRegistry()
    IngressMetrics(registry).observe("/v1/events", 202, 0.01)
    app = Starlette()
    app.add_route("/metrics", metrics_route(registry))
    app.mount("/raw-metrics", metrics_asgi_app(registry))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lgsp.test") as client:
        plain = await client.get("/metrics")
        openmetrics = await client.get(
            "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
        )
        mounted = await client.get("/raw-metrics/")
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/plain")
    assert 'lgsp_ingress_requests_total{route="/v1/events",status="202"} 1.0' in plain.text
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")
    assert mounted.status_code == 200
    assert "lgsp_ingress_request_duration_seconds_bucket" in mounted.text


def _python() -> str:
    return platform.python_version()
