"""The runner's metrics, fed once per batch (never per record through a lock-heavy path).

Metric objects come from :class:`bus.metrics.ConsumerMetrics` (one catalog for the whole bus, built on a
registry that is passed in: STYLE item 8); this adapter only knows which runner fact feeds which metric.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

from bus.consumer.types import Partition
from bus.events.raw import RawEvent

if TYPE_CHECKING:
    from bus.consumer.decode import DecodedBatch
    from bus.metrics import ConsumerMetrics


class RunnerTelemetry:
    """Turns batch results into ``lgsp_events_consumed_total``, ``lgsp_events_dead_lettered_total``,
    ``lgsp_batch_processing_duration_seconds``, ``lgsp_event_age_seconds`` and
    ``lgsp_consumer_lag_messages``."""

    def __init__(self, group: str, metrics: ConsumerMetrics | None) -> None:
        self._group = group
        self._metrics = metrics

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
            observe = metrics.event_age.labels(self._group, topic).observe
            for event in events:
                if isinstance(event, RawEvent):
                    name, occurred_ms = event.name, float(event.occurred_ms)
                else:
                    name, occurred_ms = type(event).AVRO_NAME, event.meta.occurred_at.timestamp() * 1000
                by_type[name] += 1
                observe(max(now_ms - occurred_ms, 0.0) / 1000)
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
