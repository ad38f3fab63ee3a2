"""``python -m bus.metrics > docs/metrics.md``: print the generated metrics reference."""

from bus.metrics.reference import metrics_reference_markdown

print(metrics_reference_markdown(), end="")
