"""docs/metrics.md is the catalog in bus/metrics/ rendered: it cannot drift from what the bus exports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bus.metrics import CATALOG, all_metric_names, metrics_reference_markdown

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_metrics_reference_is_the_rendered_catalog() -> None:
    committed = (DOCS / "metrics.md").read_text(encoding="utf-8")
    assert committed == metrics_reference_markdown(), (
        "docs/metrics.md is out of date: regenerate it with `python -m bus.metrics > docs/metrics.md`"
    )


def test_every_metric_has_one_row_with_its_type_labels_meaning_and_question() -> None:
    rows = re.findall(
        r"^\| `(lgsp_[a-z_]+)` \| (\w+) \| (.+?) \| (.+?) \| (.+?) \|$", metrics_reference_markdown(), re.M
    )
    by_name = {name: (kind, labels, meaning, question) for name, kind, labels, meaning, question in rows}
    assert len(rows) == len(by_name) == len(CATALOG)
    assert set(by_name) == all_metric_names()
    for spec in CATALOG:
        kind, labels, meaning, question = by_name[spec.name]
        assert kind == spec.kind.value
        assert re.findall(r"`(\w+)`", labels) == list(spec.labels)
        assert meaning.startswith(spec.help)
        assert question == spec.question


def test_operators_guide_links_the_metrics_reference() -> None:
    assert "(metrics.md)" in (DOCS / "operators.md").read_text(encoding="utf-8")
