"""The text of ``docs/metrics.md``, rendered from the catalog so the reference cannot drift."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from bus.metrics.catalog import BUILD_INFO
from bus.metrics.containers import (
    ConsumerMetrics,
    DependencyMetrics,
    FreshnessMetrics,
    IngressMetrics,
    PublisherMetrics,
    SignatureMetrics,
    SimulatorMetrics,
    ViewMetrics,
)
from bus.metrics.spec import MetricSpec

_SECTIONS: Final[tuple[tuple[str, str, Iterable[MetricSpec]], ...]] = (
    ("Publishing", "`bus.Publisher`, so every process that publishes: `lgsp publish`, `lgsp ingress`, "
     "`lgsp simulate`. Container: `PublisherMetrics`.", PublisherMetrics.SPECS),
    ("HTTP ingress", "`lgsp ingress` (port 8080, `/metrics`). Container: `IngressMetrics`.",
     IngressMetrics.SPECS),
    ("Consumers", "the consumer runner behind `lgsp views run` (`--metrics-port`, 9100). Container: "
     "`ConsumerMetrics`.", ConsumerMetrics.SPECS),
    ("Signatures", "the views' check of each record's `lgsp_sig` envelope in `lgsp views run` "
     "(docs/security.md). Container: `SignatureMetrics`.", SignatureMetrics.SPECS),
    ("National views", "`lgsp views run` (freshness) and `lgsp views serve` (port 8090, KPI gauges). "
     "Container: `ViewMetrics`; `province=\"00\"` is the nation.", ViewMetrics.SPECS),
    ("Freshness of the views", "`lgsp views serve`, measured from the store's offsets and the topics' end "
     "offsets without the builder (`consumers.freshness`). Container: `FreshnessMetrics`.",
     FreshnessMetrics.SPECS),
    ("Simulator", "`lgsp simulate` (`--metrics-port`, 9101). Container: `SimulatorMetrics`.",
     SimulatorMetrics.SPECS),
    ("Every process", "`register_build_info`, called by `new_process_registry`; `DependencyMetrics` in "
     "every bus process (ingress and simulator: kafka, registry; views run: kafka, registry, store; views "
     "serve: kafka, store).", (*DependencyMetrics.SPECS, BUILD_INFO)),
)  # fmt: skip


def metrics_reference_markdown() -> str:
    """The text of ``docs/metrics.md``, rendered from the catalog so the reference cannot drift."""
    lines = [
        "# Metrics reference",
        "",
        "<!-- Generated from bus/metrics/catalog.py by `python -m bus.metrics > docs/metrics.md`; do not "
        "edit by hand (tests/unit/test_metrics_docs.py fails when it drifts). -->",
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
