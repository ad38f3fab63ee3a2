"""The metric containers: each process builds the metrics it exports from the catalog, on a given registry.

A container takes the :class:`prometheus_client.CollectorRegistry` to register in (STYLE.md item 8): tests
make a fresh one each, nothing touches the global registry.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import ClassVar, Final

from prometheus_client import CollectorRegistry, Gauge

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
    INGRESS_AUDIT_DROPPED,
    INGRESS_AUDIT_WRITTEN,
    INGRESS_DURATION,
    INGRESS_IN_FLIGHT,
    INGRESS_KEY_FILE_OK,
    INGRESS_REQUESTS,
    KPI_SPECS,
    PROVINCE_EVENTS,
    PUBLISH_DURATION,
    PUBLISH_ERRORS,
    REPORTS_OVERDUE,
    SIGNATURES_REJECTED,
    SIMULATOR_DUPLICATES,
    SIMULATOR_GENERATED,
    SIMULATOR_INVALID,
    SIMULATOR_TARGET_RATE,
    UNKNOWN_UNITS,
    UNSIGNED_ACCEPTED,
    VIEW_EVENTS_APPLIED,
    VIEW_LAST_EVENT,
    VIEW_STORE_BEHIND,
    VIEW_STORE_LAG,
    Kpi,
)
from bus.metrics.spec import MetricSpec


class PublishErrorReason(StrEnum):
    """The ``reason`` label values of ``lgsp_publish_errors_total``."""

    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    REJECTED = "rejected"


UNREAD_TOPIC: Final = "unknown"
"""``topic`` of a publish error counted before the request's body was read (the ingress refusing at once
while Kafka is down): which topic its events were for is not known."""


class PublisherMetrics:
    """Metrics of :class:`bus.Publisher`: what reached Kafka, what did not, and how long it took."""

    SPECS: ClassVar[tuple[MetricSpec, ...]] = (EVENTS_PUBLISHED, PUBLISH_ERRORS, PUBLISH_DURATION)

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events_published = EVENTS_PUBLISHED.counter(registry)
        self.publish_errors = PUBLISH_ERRORS.counter(registry)
        self.publish_duration = PUBLISH_DURATION.histogram(registry)

    def declare(self, topics: Iterable[str]) -> None:
        """Every (topic, reason) error series at 0 from start-up: the first failures must count as an
        increase, and dashboards must show 0, not "No data"."""
        for topic in topics:
            for reason in PublishErrorReason:
                self.publish_errors.labels(topic=topic, reason=reason.value)

    def count_unavailable(self, topics: Iterable[str]) -> None:
        """One publish refused because a dependency is known down, per topic (``UNREAD_TOPIC`` if unread)."""
        for topic in topics:
            self.publish_errors.labels(topic=topic, reason=PublishErrorReason.UNAVAILABLE.value).inc()


class IngressMetrics:
    """Metrics of the HTTP ingress; ``route`` is the route template (``/v1/events``), never the raw path."""

    SPECS: ClassVar[tuple[MetricSpec, ...]] = (
        INGRESS_REQUESTS,
        INGRESS_DURATION,
        INGRESS_IN_FLIGHT,
        INGRESS_KEY_FILE_OK,
        INGRESS_AUDIT_WRITTEN,
        INGRESS_AUDIT_DROPPED,
    )
    AUDIT_DROP_REASONS: ClassVar[tuple[str, ...]] = ("queue-full", "kafka")

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = INGRESS_REQUESTS.counter(registry)
        self.request_duration = INGRESS_DURATION.histogram(registry)
        self.in_flight = INGRESS_IN_FLIGHT.gauge(registry)
        self.key_file_ok = INGRESS_KEY_FILE_OK.gauge(registry)
        self.audit_written = INGRESS_AUDIT_WRITTEN.counter(registry)
        self.audit_dropped = INGRESS_AUDIT_DROPPED.counter(registry)
        for reason in self.AUDIT_DROP_REASONS:  # at 0 from start-up: a drop shows as an increase
            self.audit_dropped.labels(reason=reason)

    def declare(self, routes: Iterable[str], statuses: Iterable[int] = (500, 503)) -> None:
        """The user-facing routes' server-error series at 0 from start-up (the 5xx ratio and its alert see
        the first failure, and panels show 0)."""
        statuses = tuple(statuses)
        for route in routes:
            self.request_duration.labels(route=route)
            for status in statuses:
                self.requests.labels(route=route, status=str(status))

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
        EVENT_BUSINESS_LAG,
        CONSUMER_LAG,
    )

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events_consumed = EVENTS_CONSUMED.counter(registry)
        self.events_dead_lettered = EVENTS_DEAD_LETTERED.counter(registry)
        self.batch_duration = BATCH_DURATION.histogram(registry)
        self.batch_records = BATCH_RECORDS.histogram(registry)
        self.event_age = EVENT_AGE.histogram(registry)
        self.business_lag = EVENT_BUSINESS_LAG.histogram(registry)
        self.consumer_lag = CONSUMER_LAG.gauge(registry)

    def declare(self, group: str, topics: Iterable[str], reasons: Iterable[str]) -> None:
        """Create the group's series at 0 before anything happened, so that ``increase()`` sees the first
        dead letter and a dashboard shows 0, not "No data"."""
        reasons = tuple(reasons)
        self.batch_duration.labels(group)
        self.batch_records.labels(group)
        for topic in topics:
            self.event_age.labels(group, topic)
            self.business_lag.labels(group, topic)
            for reason in reasons:
                self.events_dead_lettered.labels(group, topic, reason)

    def set_lag(self, group: str, topic: str, partition: int, lag: int) -> None:
        """Record the lag of one assigned partition (never negative)."""
        self.consumer_lag.labels(group=group, topic=topic, partition=str(partition)).set(max(lag, 0))

    def forget_partition(self, group: str, topic: str, partition: int) -> None:
        """Drop a revoked partition's lag, so the member that lost it does not report a frozen value."""
        try:
            self.consumer_lag.remove(group, topic, str(partition))
        except KeyError:
            return  # never reported: nothing to drop


class SignatureMetrics:
    """What the views' signature check refused, and what it let through unsigned (bus.signing.verify)."""

    SPECS: ClassVar[tuple[MetricSpec, ...]] = (SIGNATURES_REJECTED, UNSIGNED_ACCEPTED)

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rejections = SIGNATURES_REJECTED.counter(registry)
        self.unsigned_accepted = UNSIGNED_ACCEPTED.counter(registry)

    def rejected(self, topic: str, reason: str, source: str) -> None:
        self.rejections.labels(topic=topic, reason=reason, source=source).inc()

    def unsigned(self, topic: str, source: str) -> None:
        self.unsigned_accepted.labels(topic=topic, source=source).inc()


class ViewMetrics:
    """Metrics of the national views: freshness per view and the KPI gauges per province."""

    SPECS: ClassVar[tuple[MetricSpec, ...]] = (
        VIEW_LAST_EVENT,
        VIEW_EVENTS_APPLIED,
        *KPI_SPECS.values(),
        PROVINCE_EVENTS,
        REPORTS_OVERDUE,
        UNKNOWN_UNITS,
    )

    def __init__(self, registry: CollectorRegistry) -> None:
        self.last_event_timestamp = VIEW_LAST_EVENT.gauge(registry)
        self.events_applied = VIEW_EVENTS_APPLIED.counter(registry)
        self.kpis: dict[Kpi, Gauge] = {kpi: spec.gauge(registry) for kpi, spec in KPI_SPECS.items()}
        self.province_events = PROVINCE_EVENTS.gauge(registry)
        self.reports_overdue = REPORTS_OVERDUE.gauge(registry)
        self.unknown_units = UNKNOWN_UNITS.counter(registry)
        self._unknown_counted: dict[str, int] = {}

    def declare(self, views: Iterable[str]) -> None:
        """Each view's applied-events series at 0 from start-up (a rate of 0, not "No data")."""
        for view in views:
            self.events_applied.labels(view=view)

    def count_unknown_units(self, per_province: Mapping[str, int]) -> None:
        """Bring ``lgsp_unknown_units_total`` up to the views' count of unlisted units per province (the
        views only ever add units, so the counter only grows)."""
        for province, count in per_province.items():
            counted = self._unknown_counted.get(province, 0)
            if count > counted:
                self.unknown_units.labels(province=province).inc(count - counted)
                self._unknown_counted[province] = count

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


class FreshnessMetrics:
    """How far the view store is behind the topics, per group and topic (``consumers.freshness``)."""

    SPECS: ClassVar[tuple[MetricSpec, ...]] = (VIEW_STORE_LAG, VIEW_STORE_BEHIND)

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lag = VIEW_STORE_LAG.gauge(registry)
        self.behind = VIEW_STORE_BEHIND.gauge(registry)

    def set(self, group: str, topic: str, lag: int, behind_s: float) -> None:
        self.lag.labels(group=group, topic=topic).set(max(lag, 0))
        self.behind.labels(group=group, topic=topic).set(max(behind_s, 0.0))

    def clear(self) -> None:
        """Drop every series: a measurement that failed must not leave an old number standing."""
        self.lag.clear()
        self.behind.clear()


class Dependency(StrEnum):
    """The ``dependency`` label values of ``lgsp_dependency_up``."""

    KAFKA = "kafka"
    REGISTRY = "registry"
    STORE = "store"


class DependencyMetrics:
    """``lgsp_dependency_up`` of the dependencies a process uses, each 1 from start-up until a use or probe
    fails (a process that has not needed a dependency yet has no reason to call it down)."""

    SPECS: ClassVar[tuple[MetricSpec, ...]] = (DEPENDENCY_UP,)

    def __init__(self, registry: CollectorRegistry, dependencies: Iterable[Dependency] = ()) -> None:
        self.up = DEPENDENCY_UP.gauge(registry)
        for dependency in dependencies:
            self.set(dependency, up=True)

    def set(self, dependency: Dependency, *, up: bool) -> None:
        self.up.labels(dependency=dependency.value).set(1 if up else 0)


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
    SignatureMetrics,
    ViewMetrics,
    FreshnessMetrics,
    SimulatorMetrics,
    DependencyMetrics,
)
"""Every metrics container, in the order of docs/metrics.md."""

CATALOG: Final[tuple[MetricSpec, ...]] = (*(s for c in CONTAINERS for s in c.SPECS), BUILD_INFO)
"""Every metric the bus exports."""
