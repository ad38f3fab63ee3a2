"""The one rule file, rendered for a test that cannot wait minutes per alert.

A live alert test needs short ``for:`` durations and a short freshness objective, but it must test the rules
operators run, not a copy. :func:`render_rules` reads ``deploy/prometheus/rules/*.yml`` and changes only
what a test is allowed to change:

- every alert's ``for:`` (one duration for all, or per alert);
- the value of each ``lgsp:*:slo`` recording rule (the objectives the alerts compare against);
- the range of ``[...]`` windows in ``rate``/``increase``/``absent_over_time`` (``window``), so that a
  5-minute window becomes seconds.

Every expression, label and annotation stays as written; :func:`rendered_differences` lists what changed, and
a unit test checks that nothing else did.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.prometheus_harness import PROMETHEUS_DIR

RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
_SLO_RECORD = re.compile(r"^lgsp:[a-z0-9_]+:slo$")
_VECTOR = re.compile(r"^\s*vector\(\s*[0-9.]+\s*\)\s*$")
_WINDOW = re.compile(r"\[(\d+)([smh])\]")


def _scaled_window(match: re.Match[str], window: Mapping[str, str]) -> str:
    original = f"{match.group(1)}{match.group(2)}"
    return f"[{window.get(original, original)}]"


def render_rules(
    dest: Path,
    *,
    for_duration: str | Mapping[str, str],
    slo: Mapping[str, float] | None = None,
    window: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write the bus's rule files into ``dest`` with test durations; returns the written paths."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for source in RULE_FILES:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        for group in data["groups"]:
            for rule in group["rules"]:
                _render_rule(rule, for_duration, slo or {}, window or {})
        target = dest / source.name
        target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        written.append(target)
    return written


def _render_rule(
    rule: dict[str, Any],
    for_duration: str | Mapping[str, str],
    slo: Mapping[str, float],
    window: Mapping[str, str],
) -> None:
    if "alert" in rule and "for" in rule:
        name = rule["alert"]
        rule["for"] = for_duration if isinstance(for_duration, str) else for_duration.get(name, rule["for"])
    record = rule.get("record", "")
    if _SLO_RECORD.match(record) and record in slo:
        if not _VECTOR.match(rule["expr"]):
            raise ValueError(f"{record}: an objective must be a constant vector(N), not {rule['expr']!r}")
        rule["expr"] = f"vector({slo[record]:g})"
    if window:
        rule["expr"] = _WINDOW.sub(lambda m: _scaled_window(m, window), rule["expr"])


def rendered_differences(rendered: Path, original: Path) -> set[tuple[str, str]]:
    """(rule name, key) of every value that differs between a rendered file and its original."""
    differences = set()
    new, old = (yaml.safe_load(p.read_text(encoding="utf-8")) for p in (rendered, original))
    for new_group, old_group in zip(new["groups"], old["groups"], strict=True):
        for new_rule, old_rule in zip(new_group["rules"], old_group["rules"], strict=True):
            name = old_rule.get("alert") or old_rule.get("record")
            for key in set(new_rule) | set(old_rule):
                if new_rule.get(key) != old_rule.get(key):
                    differences.add((name, key))
    return differences
