"""bus.gc_policy: a consuming process freezes start-up and collects its young generation less often;
``lgsp views run`` and a rebuild's builders take it, before they consume."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from typer.testing import CliRunner

import consumers.rebuild
import consumers.service
from bus import gc_policy
from bus.consumer.runner import RunStats
from bus.settings import Settings
from lgsp.cli import app

pytestmark = pytest.mark.unit


def test_it_freezes_and_raises_only_the_young_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    done: list[Any] = []
    monkeypatch.setattr(gc, "freeze", lambda: done.append("freeze"))  # the real one would pin the test's heap
    monkeypatch.setattr(gc, "get_threshold", lambda: (700, 10, 10))
    monkeypatch.setattr(gc, "set_threshold", lambda *t: done.append(t))
    gc_policy.tune_for_consuming()
    assert done == ["freeze", (gc_policy.YOUNG_THRESHOLD, 10, 10)]


@pytest.fixture
def tuned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records the tuning and what follows it, in order."""
    order: list[str] = []
    monkeypatch.setattr(gc_policy, "tune_for_consuming", lambda: order.append("tuned"))
    monkeypatch.setattr(consumers.rebuild, "tune_for_consuming", lambda: order.append("tuned"))
    return order


def test_views_run_tunes_before_it_consumes(monkeypatch: pytest.MonkeyPatch, tuned: list[str]) -> None:
    async def run_views(*_args: Any, **_kwargs: Any) -> RunStats:
        tuned.append("consumed")
        return RunStats()

    monkeypatch.setattr(consumers.service, "run_views", run_views)
    result = CliRunner().invoke(app, ["views", "run", "--until-caught-up"])
    assert result.exit_code == 0, result.output
    assert tuned == ["tuned", "consumed"]


@pytest.mark.parametrize("entry", ["run_shard", "run_member"])
def test_each_rebuild_builder_tunes_before_it_consumes(
    monkeypatch: pytest.MonkeyPatch, tuned: list[str], entry: str
) -> None:
    async def member(*_args: Any, **_kwargs: Any) -> dict[str, int]:
        tuned.append("consumed")
        return {}

    monkeypatch.setattr(consumers.rebuild, "_member", member)
    if entry == "run_shard":
        consumers.rebuild.run_shard(Settings(), "sqlite:///unused.db", [])
    else:
        consumers.rebuild.run_member(Settings(), "group", None)
    assert tuned == ["tuned", "consumed"]
