"""The runner's metrics, fed once per batch (never per record through a lock-heavy path).

Metric objects come from :class:`bus.metrics.ConsumerMetrics` (one catalog for the whole bus, built on a
registry that is passed in: STYLE item 8); this adapter only knows which runner fact feeds which metric.

Two clocks per applied event: ``lgsp_event_age_seconds`` is apply time minus the publish time the Publisher
stamped (operations: how long the bus kept it), ``lgsp_event_business_lag_seconds`` is publish time minus
occurred-at (the domain: how late the agency reported it). A simulation of a past year moves only the second.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bus.consumer.outcome import DeadLetterReason
from bus.consumer.types import Partition
from bus.errors import BrokerError, LgspError, RegistryError, StoreError
from bus.events.record import EventRecord
from bus.metrics import Dependency

if TYPE_CHECKING:
    from bus.consumer.decode import DecodedBatch
    from bus.metrics import ConsumerMetrics, DependencyMetrics

_DEPENDENCY_OF: tuple[tuple[type[LgspError], Dependency], ...] = (
    (RegistryError, Dependency.REGISTRY),
    (BrokerError, Dependency.KAFKA),
    (StoreError, Dependency.STORE),
)
"""Which dependency a retried error blames (the error tree of bus.errors)."""


class RunnerTelemetry:
    """Turns batch results into ``lgsp_events_consumed_total``, ``lgsp_events_dead_lettered_total``,
    ``lgsp_batch_processing_duration_seconds``, ``lgsp_event_age_seconds`` and
    ``lgsp_consumer_lag_messages``."""

    def __init__(
        self, group: str, metrics: ConsumerMetrics | None, dependencies: DependencyMetrics | None = None
    ) -> None:
        self._group = group
        self._metrics = metrics
        self._dependencies = dependencies

    def declare(self, topics: Iterable[str]) -> None:
        """Every series of this group at 0 from start-up (dead letters of each known reason included)."""
        if self._metrics is not None:
            self._metrics.declare(self._group, topics, (reason.value for reason in DeadLetterReason))

    def failed(self, error: LgspError) -> None:
        """A retried error: mark the dependency it blames down."""
        for kind, dependency in _DEPENDENCY_OF:
            if isinstance(error, kind) and self._dependencies is not None:
                self._dependencies.set(dependency, up=False)
                return

    def worked(self, *dependencies: Dependency) -> None:
        """A step that needed these dependencies succeeded."""
        if self._dependencies is not None:
            for dependency in dependencies:
                self._dependencies.set(dependency, up=True)

    @classmethod
    def disabled(cls, group: str) -> RunnerTelemetry:
        """Telemetry that records nothing (unit tests that do not look at metrics)."""
        return cls(group, None)

    def batch_done(self, decoded: DecodedBatch, seconds: float) -> None:
        """Count one applied batch."""
        metrics = self._metrics
        if metrics is None:
            return
        metrics.batch_duration.labels(self._group).observe(seconds)
        metrics.batch_records.labels(self._group).observe(decoded.records)
        now_ms = time.time() * 1000
        for topic, events in decoded.events.items():
            by_type: Counter[str] = Counter()
            age = metrics.event_age.labels(self._group, topic).observe
            business = metrics.business_lag.labels(self._group, topic).observe
            for event in events:
                name, occurred_ms, published_ms = _clocks(event)
                by_type[name] += 1
                if published_ms is not None:
                    age(max(now_ms - published_ms, 0.0) / 1000)
                    business(max(published_ms - occurred_ms, 0.0) / 1000)
            for event_type, count in by_type.items():
                metrics.events_consumed.labels(self._group, topic, event_type).inc(count)
        reasons = Counter((letter.topic, letter.reason.value) for letter in decoded.dead_letters)
        for (topic, reason), count in reasons.items():
            metrics.events_dead_lettered.labels(self._group, topic, reason).inc(count)

    def lag(self, tp: Partition, messages: int) -> None:
        """Set the lag of one partition (highwater − next offset)."""
        if self._metrics is not None:
            self._metrics.set_lag(self._group, tp.topic, tp.partition, messages)

    def forget_partition(self, tp: Partition) -> None:
        """Drop the lag series of a partition this member no longer owns (another member reports it)."""
        if self._metrics is not None:
            self._metrics.forget_partition(self._group, tp.topic, tp.partition)


def _clocks(event: EventRecord) -> tuple[str, float, float | None]:
    """(type name, occurred-at, published-at) in epoch milliseconds; published-at None if never stamped."""
    published = event.published_ms
    return event.name, float(event.occurred_ms), None if published is None else float(published)
