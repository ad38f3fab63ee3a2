"""What a bus metric is: :class:`MetricSpec` enforces the conventions (prefix, ``_total``, labels, buckets).

The conventions come from ARCHITECTURE.md: prefix ``lgsp_``, base units (seconds, ratios 0..1), counters end
in ``_total``, labels are low-cardinality only and never carry a document id or dossier code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

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
        "source",  # a claimed event source: bounded by the agency catalog (anything else is "other")
        "version",
        "python",
        "signing_hashes",  # c or python (lgsp_build_info)
        "avro_writer",  # c or python (lgsp_build_info)
        "dependency",
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
BUSINESS_LAG_BUCKETS: Final = (
    1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 12 * 3600.0, 86400.0, 2 * 86400.0,
    7 * 86400.0, 30 * 86400.0, 90 * 86400.0, 365 * 86400.0, 3 * 365 * 86400.0,
)  # fmt: skip
"""A second (an event reported as it happens) to three years (history loaded late, or a simulation of a past
year): the domain clock is not pinned at a day."""


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
