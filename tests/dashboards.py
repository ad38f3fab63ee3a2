"""The Grafana dashboards' queries, as a test runs them against a live Prometheus.

Grafana substitutes its variables before a query reaches Prometheus; :func:`panel_queries` does the same
(``$__rate_interval`` to a window the test chooses, the dashboards' filters to "everything"), so that a test
can ask, panel by panel, whether the panel would show something.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.prometheus_harness import REPO

DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")


def panel_queries(rate_interval: str, paths: list[Path] = DASHBOARDS) -> Iterator[tuple[str, list[str]]]:
    """(``dashboard / panel title``, its queries with the variables substituted), for every panel that would
    say "No data" when they return nothing: a panel with a ``noValue`` text says what that means instead (a
    KPI whose denominator is still 0, e.g. no dossier resolved yet, has no number to show)."""
    for path in paths:
        dashboard: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        for panel in dashboard["panels"]:
            targets = panel.get("targets", [])
            explained = panel.get("fieldConfig", {}).get("defaults", {}).get("noValue")
            if targets and not explained:
                exprs = [_substitute(t["expr"], rate_interval) for t in targets]
                yield f"{dashboard['uid']} / {panel['title']}", exprs


def _substitute(expr: str, rate_interval: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return rate_interval if name in {"__rate_interval", "__interval"} else ".*"

    return _VARIABLE.sub(value, expr)


def blank_panels(query: Callable[[str], list[dict[str, Any]]], rate_interval: str) -> list[str]:
    """Panels none of whose queries returns a series (what Grafana shows as "No data")."""
    return [title for title, exprs in panel_queries(rate_interval) if not any(query(e) for e in exprs)]
