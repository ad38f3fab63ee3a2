"""The one catalog of every Prometheus metric the bus exports, and how a process serves them.

Every metric is declared once, as a :class:`MetricSpec` (name, type, labels, meaning, the question it
answers); the containers (``containers.py``) build their metrics from those specs, ``docs/metrics.md`` is
rendered from them (``python -m bus.metrics > docs/metrics.md``), and the dashboards and alert rules are
checked against :func:`all_metric_names`. Conventions (ARCHITECTURE.md): prefix ``lgsp_``, base units
(seconds, ratios 0..1), counters end in ``_total``, labels are low-cardinality
only (topic, type, group, partition, reason, route, status, view, province) and never carry a document id or
dossier code.

A container takes the :class:`prometheus_client.CollectorRegistry` to register in (STYLE.md item 8): a process
makes one registry with :func:`new_process_registry`, tests make a fresh one each, nothing touches the global
registry.

    registry = new_process_registry()
    publisher_metrics = PublisherMetrics(registry)
    with serve_metrics(registry, "127.0.0.1", 9101):   # or app.add_route("/metrics", metrics_route(registry))
        ...

The package: ``spec`` (what a metric is), ``catalog`` (every metric, once), ``containers`` (what each process
builds), ``serve`` (registries and ``/metrics``), ``reference`` (``docs/metrics.md``). Import from
``bus.metrics``; the names below are the public API.
"""

from __future__ import annotations

from bus.metrics.catalog import (
    BATCH_DURATION,
    BATCH_RECORDS,
    BUILD_INFO,
    CONSUMER_LAG,
    DEPENDENCY_UP,
    EVENT_AGE,
    EVENT_BUSINESS_LAG,
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_PUBLISHED,
    INGRESS_DURATION,
    INGRESS_IN_FLIGHT,
    INGRESS_REQUESTS,
    KPI_SPECS,
    PROVINCE_EVENTS,
    PUBLISH_DURATION,
    PUBLISH_ERRORS,
    REPORTS_OVERDUE,
    SIMULATOR_DUPLICATES,
    SIMULATOR_GENERATED,
    SIMULATOR_INVALID,
    SIMULATOR_TARGET_RATE,
    VIEW_EVENTS_APPLIED,
    VIEW_LAST_EVENT,
    VIEW_STORE_BEHIND,
    VIEW_STORE_LAG,
    Kpi,
)
from bus.metrics.containers import (
    CATALOG,
    CONTAINERS,
    UNREAD_TOPIC,
    ConsumerMetrics,
    Dependency,
    DependencyMetrics,
    FreshnessMetrics,
    IngressMetrics,
    PublisherMetrics,
    PublishErrorReason,
    SignatureMetrics,
    SimulatorMetrics,
    ViewMetrics,
)
from bus.metrics.reference import (
    metrics_reference_markdown,
)
from bus.metrics.serve import (
    MetricsServer,
    all_metric_names,
    metrics_asgi_app,
    metrics_route,
    new_process_registry,
    package_version,
    register_build_info,
    register_runtime_collectors,
    serve_metrics,
)
from bus.metrics.spec import (
    ALLOWED_LABELS,
    BATCH_BUCKETS,
    BATCH_RECORDS_BUCKETS,
    EVENT_AGE_BUCKETS,
    LATENCY_BUCKETS,
    NATIONAL,
    Kind,
    MetricSpec,
)

__all__ = [
    "ALLOWED_LABELS",
    "BATCH_BUCKETS",
    "BATCH_DURATION",
    "BATCH_RECORDS",
    "BATCH_RECORDS_BUCKETS",
    "BUILD_INFO",
    "CATALOG",
    "CONSUMER_LAG",
    "CONTAINERS",
    "DEPENDENCY_UP",
    "EVENTS_CONSUMED",
    "EVENTS_DEAD_LETTERED",
    "EVENTS_PUBLISHED",
    "EVENT_AGE",
    "EVENT_AGE_BUCKETS",
    "EVENT_BUSINESS_LAG",
    "INGRESS_DURATION",
    "INGRESS_IN_FLIGHT",
    "INGRESS_REQUESTS",
    "KPI_SPECS",
    "LATENCY_BUCKETS",
    "NATIONAL",
    "PROVINCE_EVENTS",
    "PUBLISH_DURATION",
    "PUBLISH_ERRORS",
    "REPORTS_OVERDUE",
    "SIMULATOR_DUPLICATES",
    "SIMULATOR_GENERATED",
    "SIMULATOR_INVALID",
    "SIMULATOR_TARGET_RATE",
    "UNREAD_TOPIC",
    "VIEW_EVENTS_APPLIED",
    "VIEW_LAST_EVENT",
    "VIEW_STORE_BEHIND",
    "VIEW_STORE_LAG",
    "ConsumerMetrics",
    "Dependency",
    "DependencyMetrics",
    "FreshnessMetrics",
    "IngressMetrics",
    "Kind",
    "Kpi",
    "MetricSpec",
    "MetricsServer",
    "PublishErrorReason",
    "PublisherMetrics",
    "SignatureMetrics",
    "SimulatorMetrics",
    "ViewMetrics",
    "all_metric_names",
    "metrics_asgi_app",
    "metrics_reference_markdown",
    "metrics_route",
    "new_process_registry",
    "package_version",
    "register_build_info",
    "register_runtime_collectors",
    "serve_metrics",
]
