"""The one catalog of every Prometheus metric the bus exports, and how a process serves them.

Every metric is declared once, as a :class:`MetricSpec` (name, type, labels, meaning, the question it
answers); the containers below build their metrics from those specs, ``docs/metrics.md`` is rendered from them
(``python -m bus.metrics > docs/metrics.md``), and the dashboards and alert rules are checked against
:func:`all_metric_names`. Conventions (ARCHITECTURE.md): prefix ``lgsp_``, base units (seconds, ratios 0..1),
counters end in ``_total``, labels are low-cardinality only (topic, type, group, partition, reason, route,
status, view, province) and never carry a document id or dossier code.

A container takes the :class:`prometheus_client.CollectorRegistry` to register in (STYLE.md item 8): a process
makes one registry with :func:`new_process_registry`, tests make a fresh one each, nothing touches the global
registry.

    registry = new_process_registry()
    publisher_metrics = PublisherMetrics(registry)
    with serve_metrics(registry, "127.0.0.1", 9101):   # or app.add_route("/metrics", metrics_route(registry))
        ...
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Final, Self, cast
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.asgi import make_asgi_app
from prometheus_client.exposition import choose_encoder

from bus.errors import ConfigError

# Starlette is the servers' dependency ([ingress], [views]), not the SDK's: imported for types only.
if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp

NATIONAL: Final = "00"
"""``province`` label value of the nation-wide row of every KPI gauge (no province has statistics code 00)."""

ALLOWED_LABELS: Final = frozenset(
    {
        "topic",
        "type",
        "group",
        "partition",
        "reason",
        "route",
        "status",
        "view",
        "province",
        "version",
        "python",
    }
)
"""The only label names a bus metric may carry: each has a small, bounded set of values."""

# Buckets, in seconds unless said otherwise.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""One Kafka round trip (a few ms) up to the producer's delivery timeout (30 s by default)."""
BATCH_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_RECORDS_BUCKETS: Final = (1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
"""Records per batch, up to ``LGSP_VIEWS__MAX_BATCH_RECORDS`` (5000 by default) and beyond."""
EVENT_AGE_BUCKETS: Final = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0,
    3600.0, 3 * 3600.0, 6 * 3600.0, 12 * 3600.0, 86400.0,
)  # fmt: skip
"""10 ms (live traffic) to a day (a replay or a rebuild from the start of the topics)."""


class Kind(StrEnum):
    """The Prometheus metric type."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    INFO = "info"


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its name as PromQL sees it (counters with ``_total``, info with ``_info``) and its docs."""

    name: str
    kind: Kind
    help: str
    question: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.name.startswith("lgsp_"):
            raise ValueError(f"{self.name}: bus metrics are prefixed lgsp_")
        if (self.kind is Kind.COUNTER) != self.name.endswith("_total"):
            raise ValueError(f"{self.name}: counters, and only counters, end in _total")
        if unknown := set(self.labels) - ALLOWED_LABELS:
            raise ValueError(f"{self.name}: labels {sorted(unknown)} are not in the low-cardinality set")
        if (self.kind is Kind.HISTOGRAM) != (self.buckets is not None):
            raise ValueError(f"{self.name}: histograms, and only histograms, declare buckets")

    def counter(self, registry: CollectorRegistry) -> Counter:
        """The counter this spec describes, registered in ``registry``."""
        self._expect(Kind.COUNTER)
        return Counter(self.name.removesuffix("_total"), self.help, self.labels, registry=registry)

    def gauge(self, registry: CollectorRegistry) -> Gauge:
        """The gauge this spec describes, registered in ``registry``."""
        self._expect(Kind.GAUGE)
        return Gauge(self.name, self.help, self.labels, registry=registry)

    def histogram(self, registry: CollectorRegistry) -> Histogram:
        """The histogram this spec describes, registered in ``registry``."""
        self._expect(Kind.HISTOGRAM)
        buckets = self.buckets if self.buckets is not None else Histogram.DEFAULT_BUCKETS
        return Histogram(self.name, self.help, self.labels, registry=registry, buckets=buckets)

    def info(self, registry: CollectorRegistry) -> Info:
        """The info metric this spec describes (``<name>{labels} 1``), registered in ``registry``."""
        self._expect(Kind.INFO)
        return Info(self.name.removesuffix("_info"), self.help, registry=registry)

    def _expect(self, kind: Kind) -> None:
        if self.kind is not kind:
            raise TypeError(f"{self.name} is a {self.kind}, not a {kind}")


# --- Publishing: bus.Publisher (used by lgsp publish, lgsp ingress, lgsp simulate) -------------------------

EVENTS_PUBLISHED = MetricSpec(
    "lgsp_events_published_total",
    Kind.COUNTER,
    "Events acknowledged by Kafka (acks=all), by topic and CloudEvents type.",
    "How many events of each type reach each topic, and at what rate?",
    ("topic", "type"),
)
PUBLISH_ERRORS = MetricSpec(
    "lgsp_publish_errors_total",
    Kind.COUNTER,
    "Events not confirmed by Kafka within the delivery timeout, by topic and reason (timeout, unavailable, "
    "rejected).",
    "Are publishers losing events to the broker, and why?",
    ("topic", "reason"),
)
PUBLISH_DURATION = MetricSpec(
    "lgsp_publish_duration_seconds",
    Kind.HISTOGRAM,
    "Time from a publish call (one event or a batch) to Kafka's acknowledgement of all its events.",
    "How long does a publisher wait for the bus to take its events?",
    buckets=LATENCY_BUCKETS,
)

# --- HTTP ingress: lgsp ingress -----------------------------------------------------------------------------

INGRESS_REQUESTS = MetricSpec(
    "lgsp_ingress_requests_total",
    Kind.COUNTER,
    "HTTP requests answered by the ingress, by route template and status code.",
    "How much traffic do agency systems send, and how much of it fails (4xx theirs, 5xx ours)?",
    ("route", "status"),
)
INGRESS_DURATION = MetricSpec(
    "lgsp_ingress_request_duration_seconds",
    Kind.HISTOGRAM,
    "Time to answer an HTTP request, by route template (202 only after Kafka acknowledged).",
    "What latency do agency systems see, per route?",
    ("route",),
    LATENCY_BUCKETS,
)
INGRESS_IN_FLIGHT = MetricSpec(
    "lgsp_ingress_in_flight_requests",
    Kind.GAUGE,
    "HTTP requests being processed right now (429 above LGSP_INGRESS__MAX_IN_FLIGHT).",
    "Is the ingress saturated?",
)

# --- Consumers: the runner behind lgsp views run ------------------------------------------------------------

EVENTS_CONSUMED = MetricSpec(
    "lgsp_events_consumed_total",
    Kind.COUNTER,
    "Events decoded and applied to the views (committed with their offsets), by group, topic and type.",
    "Are the views keeping up with what is published?",
    ("group", "topic", "type"),
)
EVENTS_DEAD_LETTERED = MetricSpec(
    "lgsp_events_dead_lettered_total",
    Kind.COUNTER,
    "Records sent to `<topic>.dlq` because they can never be applied, by group, source topic and reason "
    "(the lgsp_dlq_reason header: bad-wire-format, unknown-schema, invalid-event, unknown-agency, ...).",
    "Is anyone publishing poison, and of which kind?",
    ("group", "topic", "reason"),
)
BATCH_DURATION = MetricSpec(
    "lgsp_batch_processing_duration_seconds",
    Kind.HISTOGRAM,
    "Time to decode, apply and commit one batch (view writes and offsets in one store transaction).",
    "Is the store or the view code the bottleneck?",
    ("group",),
    BATCH_BUCKETS,
)
BATCH_RECORDS = MetricSpec(
    "lgsp_consumer_batch_records",
    Kind.HISTOGRAM,
    "Records in one batch handed to the views (a count, not seconds).",
    "Are batches full (the consumer is behind) or nearly empty (it is idle)?",
    ("group",),
    BATCH_RECORDS_BUCKETS,
)
EVENT_AGE = MetricSpec(
    "lgsp_event_age_seconds",
    Kind.HISTOGRAM,
    "Apply time minus the event's occurred-at: how old an event is when the views see it.",
    "How fresh are the national views, end to end from the agency's clock?",
    ("group", "topic"),
    EVENT_AGE_BUCKETS,
)
CONSUMER_LAG = MetricSpec(
    "lgsp_consumer_lag_messages",
    Kind.GAUGE,
    "Records on the partition not yet applied: high watermark minus the next offset to apply.",
    "How far behind is each consumer group, on which partition?",
    ("group", "topic", "partition"),
)

# --- Views: lgsp views run (applied events) and lgsp views serve (KPI gauges) -------------------------------

VIEW_LAST_EVENT = MetricSpec(
    "lgsp_view_last_event_timestamp_seconds",
    Kind.GAUGE,
    "Unix time (wall clock) at which the view last applied an event. For a view fed by one topic the view "
    "label is that topic's short name (documents, dossiers, reports) so alerts can join it to the lag.",
    "Is a view stuck while events wait for it?",
    ("view",),
)
VIEW_EVENTS_APPLIED = MetricSpec(
    "lgsp_view_events_applied_total",
    Kind.COUNTER,
    "Events that changed, or were checked against, the view (duplicates and stale versions included).",
    "Which views do the work, and how much?",
    ("view",),
)


class Kpi(StrEnum):
    """The national KPI gauges, one series per province plus ``province="00"`` for the nation. Ratios 0..1."""

    ELECTRONIC_DOCUMENT_RATIO = "lgsp_kpi_electronic_document_ratio"
    DOSSIER_ONLINE_RATIO = "lgsp_kpi_dossier_online_ratio"
    DOSSIER_FULL_ONLINE_RATIO = "lgsp_kpi_dossier_full_online_ratio"
    DOSSIER_ON_TIME_RATIO = "lgsp_kpi_dossier_on_time_ratio"
    DOSSIER_DIGITISED_RATIO = "lgsp_kpi_dossier_digitised_ratio"
    REPORT_COMPLETENESS_RATIO = "lgsp_kpi_report_completeness_ratio"
    REPORT_ON_TIME_RATIO = "lgsp_kpi_report_on_time_ratio"


_KPI_DOCS: Final[dict[Kpi, tuple[str, str]]] = {
    Kpi.ELECTRONIC_DOCUMENT_RATIO: (
        "Documents sent as electronic documents (electronic only, or with a paper copy) / all documents "
        "sent.",
        "How far has each province gone paperless (An Giang 97%, nation 86.5%)?",
    ),
    Kpi.DOSSIER_ONLINE_RATIO: (
        "Dossiers received online (channel 2) / all dossiers received.",
        "How many citizens and businesses apply online?",
    ),
    Kpi.DOSSIER_FULL_ONLINE_RATIO: (
        "Dossiers handled as full-process online services (Decree 42/2022) / all dossiers received.",
        "Does each province meet the full-process online target (45% nationally in 2024)?",
    ),
    Kpi.DOSSIER_ON_TIME_RATIO: (
        "Dossiers resolved with finished at <= due at / all dossiers resolved.",
        "Are administrative procedures resolved on time?",
    ),
    Kpi.DOSSIER_DIGITISED_RATIO: (
        "Dossiers whose files and results were digitised / all dossiers received.",
        "How far has digitisation gone (67% in localities, 61% in ministries)?",
    ),
    Kpi.REPORT_COMPLETENESS_RATIO: (
        "Periodic reports filed / reports owed by the province's agencies (from the report catalog).",
        "Is every periodic report filed on the national reporting system?",
    ),
    Kpi.REPORT_ON_TIME_RATIO: (
        "Periodic reports filed by their deadline / reports filed.",
        "Are reports filed on time?",
    ),
}

KPI_SPECS: Final[dict[Kpi, MetricSpec]] = {
    kpi: MetricSpec(kpi.value, Kind.GAUGE, f"{meaning} province=00 is the nation.", question, ("province",))
    for kpi, (meaning, question) in _KPI_DOCS.items()
}

# --- Simulator: lgsp simulate -------------------------------------------------------------------------------

SIMULATOR_GENERATED = MetricSpec(
    "lgsp_simulator_events_generated_total",
    Kind.COUNTER,
    "Events the simulator generated (published or written to a file), by CloudEvents type, injected ones "
    "included.",
    "Is the simulated nation producing the traffic mix it was asked for?",
    ("type",),
)
SIMULATOR_DUPLICATES = MetricSpec(
    "lgsp_simulator_duplicates_injected_total",
    Kind.COUNTER,
    "Events the simulator re-sent on purpose (--duplicates), by type.",
    "How many duplicates should the views have ignored?",
    ("type",),
)
SIMULATOR_INVALID = MetricSpec(
    "lgsp_simulator_invalid_injected_total",
    Kind.COUNTER,
    "Invalid events the simulator produced on purpose (--bad-ratio), by type.",
    "How many dead letters or 4xx answers should we expect?",
    ("type",),
)
SIMULATOR_TARGET_RATE = MetricSpec(
    "lgsp_simulator_target_rate_events_per_second",
    Kind.GAUGE,
    "The rate the simulator was asked for (--rate); 0 means as fast as it can.",
    "Is the simulator keeping to its configured rate?",
)

# --- Every process ------------------------------------------------------------------------------------------

BUILD_INFO = MetricSpec(
    "lgsp_build_info",
    Kind.INFO,
    "Always 1; the labels name the running lgsp-bus version and Python version.",
    "Which version is deployed where?",
    ("version", "python"),
)


class PublisherMetrics:
    """Metrics of :class:`bus.Publisher`: what reached Kafka, what did not, and how long it took."""

    SPECS: ClassVar[tuple[MetricSpec, ...]] = (EVENTS_PUBLISHED, PUBLISH_ERRORS, PUBLISH_DURATION)

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events_published = EVENTS_PUBLISHED.counter(registry)
        self.publish_errors = PUBLISH_ERRORS.counter(registry)
        self.publish_duration = PUBLISH_DURATION.histogram(registry)


class IngressMetrics:
    """Metrics of the HTTP ingress; ``route`` is the route template (``/v1/events``), never the raw path."""

    SPECS: ClassVar[tuple[MetricSpec, ...]] = (INGRESS_REQUESTS, INGRESS_DURATION, INGRESS_IN_FLIGHT)

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = INGRESS_REQUESTS.counter(registry)
        self.request_duration = INGRESS_DURATION.histogram(registry)
        self.in_flight = INGRESS_IN_FLIGHT.gauge(registry)

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        self.requests.labels(route=route, status=str(status)).inc()
        self.request_duration.labels(route=route).observe(seconds)


class ConsumerMetrics:
    """Metrics of the consumer runner, labelled by consumer group."""

    SPECS: ClassVar[tuple[MetricSpec, ...]] = (
        EVENTS_CONSUMED,
        EVENTS_DEAD_LETTERED,
        BATCH_DURATION,
        BATCH_RECORDS,
        EVENT_AGE,
        CONSUMER_LAG,
    )

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events_consumed = EVENTS_CONSUMED.counter(registry)
        self.events_dead_lettered = EVENTS_DEAD_LETTERED.counter(registry)
        self.batch_duration = BATCH_DURATION.histogram(registry)
        self.batch_records = BATCH_RECORDS.histogram(registry)
        self.event_age = EVENT_AGE.histogram(registry)
        self.consumer_lag = CONSUMER_LAG.gauge(registry)

    def set_lag(self, group: str, topic: str, partition: int, lag: int) -> None:
        """Record the lag of one assigned partition (never negative)."""
        self.consumer_lag.labels(group=group, topic=topic, partition=str(partition)).set(max(lag, 0))

    def forget_partition(self, group: str, topic: str, partition: int) -> None:
        """Drop a revoked partition's lag, so the member that lost it does not report a frozen value."""
        try:
            self.consumer_lag.remove(group, topic, str(partition))
        except KeyError:
            return  # never reported: nothing to drop


class ViewMetrics:
    """Metrics of the national views: freshness per view and the KPI gauges per province."""

    SPECS: ClassVar[tuple[MetricSpec, ...]] = (VIEW_LAST_EVENT, VIEW_EVENTS_APPLIED, *KPI_SPECS.values())

    def __init__(self, registry: CollectorRegistry) -> None:
        self.last_event_timestamp = VIEW_LAST_EVENT.gauge(registry)
        self.events_applied = VIEW_EVENTS_APPLIED.counter(registry)
        self.kpis: dict[Kpi, Gauge] = {kpi: spec.gauge(registry) for kpi, spec in KPI_SPECS.items()}

    def applied(self, view: str, count: int, *, now: float | None = None) -> None:
        """Count ``count`` events applied to ``view``; stamp it fresh (wall clock unless ``now`` is given)."""
        if count <= 0:
            return
        self.events_applied.labels(view=view).inc(count)
        self.last_event_timestamp.labels(view=view).set(time.time() if now is None else now)

    def set_kpi(self, kpi: Kpi, province: str, value: float | None) -> None:
        """Set one KPI for a province (:data:`NATIONAL` for the nation); ``None`` (no data yet) drops it."""
        gauge = self.kpis[kpi]
        if value is not None:
            gauge.labels(province=province).set(value)
            return
        try:
            gauge.remove(province)
        except KeyError:
            return  # never set: nothing to drop

    def set_kpis(self, province: str, values: Mapping[Kpi, float | None]) -> None:
        """Set several KPIs of one province at once (one scoreboard row)."""
        for kpi, value in values.items():
            self.set_kpi(kpi, province, value)


class SimulatorMetrics:
    """Metrics of ``lgsp simulate``: what it generated, and what it broke on purpose."""

    SPECS: ClassVar[tuple[MetricSpec, ...]] = (
        SIMULATOR_GENERATED,
        SIMULATOR_DUPLICATES,
        SIMULATOR_INVALID,
        SIMULATOR_TARGET_RATE,
    )

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events_generated = SIMULATOR_GENERATED.counter(registry)
        self.duplicates_injected = SIMULATOR_DUPLICATES.counter(registry)
        self.invalid_injected = SIMULATOR_INVALID.counter(registry)
        self.target_rate = SIMULATOR_TARGET_RATE.gauge(registry)


CONTAINERS: Final = (
    PublisherMetrics,
    IngressMetrics,
    ConsumerMetrics,
    ViewMetrics,
    SimulatorMetrics,
)
"""Every metrics container, in the order of docs/metrics.md."""

CATALOG: Final[tuple[MetricSpec, ...]] = (*(s for c in CONTAINERS for s in c.SPECS), BUILD_INFO)
"""Every metric the bus exports."""


def package_version() -> str:
    """The installed lgsp-bus version, or ``unknown`` when run from a source tree that is not installed."""
    try:
        return metadata.version("lgsp-bus")
    except metadata.PackageNotFoundError:
        return "unknown"


def register_build_info(registry: CollectorRegistry, version: str | None = None) -> Info:
    """Add ``lgsp_build_info{version, python} 1`` to ``registry``."""
    info = BUILD_INFO.info(registry)
    info.info({"version": version or package_version(), "python": platform.python_version()})
    return info


def register_runtime_collectors(registry: CollectorRegistry) -> None:
    """Add the process (CPU, memory, file descriptors), platform (Python version) and GC collectors."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


def new_process_registry(version: str | None = None) -> CollectorRegistry:
    """A fresh registry for a long-running process: runtime collectors and build info, no bus metrics yet."""
    registry = CollectorRegistry()
    register_runtime_collectors(registry)
    register_build_info(registry, version)
    return registry


def all_metric_names() -> frozenset[str]:
    """Every ``lgsp_`` name a dashboard or alert may query, read back from freshly built containers."""
    registry = CollectorRegistry()
    for container in CONTAINERS:
        container(registry)
    register_build_info(registry, "0")
    return frozenset(_query_name(family.name, family.type) for family in registry.collect())


def _query_name(family: str, kind: str) -> str:
    # prometheus_client names families without the suffix PromQL sees on their samples.
    if kind == "counter":
        return f"{family}_total"
    if kind == "info":
        return f"{family}_info"
    return family


class MetricsServer:
    """``/metrics`` served from a background thread; close it (or use ``with``) to free the port."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (the OS's choice when 0 was asked for)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port; idempotent."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
    """Serve ``registry`` on ``http://host:port/metrics`` (port 0: the OS picks one, see ``.port``)."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}") from exc
    return MetricsServer(server, thread)


def metrics_asgi_app(registry: CollectorRegistry) -> ASGIApp:
    """An ASGI app that answers with ``registry``'s metrics, for ``app.mount("/metrics", ...)``."""
    return cast("ASGIApp", make_asgi_app(registry=registry))


def metrics_route(registry: CollectorRegistry) -> Callable[[Request], Response]:
    """A Starlette/FastAPI endpoint for an exact path: ``app.add_route("/metrics", metrics_route(registry))``.

    Unlike a mount it answers ``/metrics`` itself (no redirect to ``/metrics/``); it honours ``Accept`` for
    the OpenMetrics format like prometheus_client's own servers do.
    """

    from starlette.responses import Response  # only servers call this; they have Starlette

    def endpoint(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), media_type=content_type)

    return endpoint


# --- The reference in docs/metrics.md -----------------------------------------------------------------------

_SECTIONS: Final[tuple[tuple[str, str, Iterable[MetricSpec]], ...]] = (
    ("Publishing", "`bus.Publisher`, so every process that publishes: `lgsp publish`, `lgsp ingress`, "
     "`lgsp simulate`. Container: `PublisherMetrics`.", PublisherMetrics.SPECS),
    ("HTTP ingress", "`lgsp ingress` (port 8080, `/metrics`). Container: `IngressMetrics`.",
     IngressMetrics.SPECS),
    ("Consumers", "the consumer runner behind `lgsp views run` (`--metrics-port`, 9100). Container: "
     "`ConsumerMetrics`.", ConsumerMetrics.SPECS),
    ("National views", "`lgsp views run` (freshness) and `lgsp views serve` (port 8090, KPI gauges). "
     "Container: `ViewMetrics`; `province=\"00\"` is the nation.", ViewMetrics.SPECS),
    ("Simulator", "`lgsp simulate` (`--metrics-port`, 9101). Container: `SimulatorMetrics`.",
     SimulatorMetrics.SPECS),
    ("Every process", "`register_build_info`, called by `new_process_registry`.", (BUILD_INFO,)),
)  # fmt: skip


def metrics_reference_markdown() -> str:
    """The text of ``docs/metrics.md``, rendered from the catalog so the reference cannot drift."""
    lines = [
        "# Metrics reference",
        "",
        "<!-- Generated from bus/metrics.py by `python -m bus.metrics > docs/metrics.md`; do not edit by "
        "hand (tests/unit/test_metrics_docs.py fails when it drifts). -->",
        "",
        "Every long-running process (`lgsp ingress`, `lgsp views run`, `lgsp views serve`, `lgsp simulate`) "
        "serves `/metrics` in the Prometheus text format, with the process collectors (`process_*`: CPU, "
        "memory, open files), the platform and GC collectors (`python_*`) and `lgsp_build_info`. Names "
        "are prefixed `lgsp_`, values are in base units (seconds, ratios from 0 to 1), counters end in "
        "`_total`, and labels take few values: never a document id or dossier code.",
        "",
        "Histograms expose `_bucket`, `_sum` and `_count`; counters also expose `_created`. "
        "Alerts and dashboards that use these metrics: [operators.md](operators.md).",
    ]
    for title, exported_by, specs in _SECTIONS:
        lines += ["", f"## {title}", "", f"Exported by {exported_by}", ""]
        lines += [
            "| Metric | Type | Labels | Meaning | Question it answers |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [_row(spec) for spec in specs]
    return "\n".join(lines) + "\n"


def _row(spec: MetricSpec) -> str:
    labels = ", ".join(f"`{label}`" for label in spec.labels) or "—"
    meaning = spec.help
    if spec.buckets is not None:
        meaning += " Buckets: " + ", ".join(f"{b:g}" for b in spec.buckets) + "."
    return f"| `{spec.name}` | {spec.kind} | {labels} | {meaning} | {spec.question} |"


if __name__ == "__main__":
    print(metrics_reference_markdown(), end="")
