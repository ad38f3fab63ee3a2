"""deploy/alertmanager: amtool accepts the config, and its inhibition names alerts the rules define."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.alert_rules import RULE_FILES, render_rules, rendered_differences
from tests.prometheus_harness import REPO, require_binary

pytestmark = pytest.mark.unit

CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"


def _alert_names() -> set[str]:
    return {
        rule["alert"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


@pytest.mark.prometheus
def test_amtool_accepts_the_config() -> None:
    amtool = require_binary("amtool")
    result = subprocess.run(
        [amtool, "check-config", str(CONFIG)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_inhibition_names_only_alerts_that_exist_and_target_down_silences_its_own_target() -> None:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    names = _alert_names()
    matchers = [
        m for rule in config["inhibit_rules"] for m in rule["source_matchers"] + rule["target_matchers"]
    ]
    for matcher in matchers:
        value = re.fullmatch(r'alertname(?:=~|!=|=)"([^"]+)"', matcher)
        assert value, matcher
        assert set(value.group(1).split("|")) <= names, matcher
    target_down = [
        r for r in config["inhibit_rules"] if r["source_matchers"] == ['alertname="LgspTargetDown"']
    ]
    assert any(rule["equal"] == ["job", "instance"] for rule in target_down)


def test_every_receiver_sends_resolutions_to_a_webhook() -> None:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    for receiver in config["receivers"]:
        (webhook,) = receiver["webhook_configs"]
        assert webhook["send_resolved"] is True
        assert webhook["url"].startswith("http://127.0.0.1:")


def test_the_test_rendering_changes_only_durations_objectives_and_windows(tmp_path: Any) -> None:
    (rendered,) = render_rules(
        tmp_path, for_duration="2s", slo={"lgsp:views_behind_seconds:slo": 8}, window={"5m": "20s"}
    )
    (original,) = RULE_FILES
    changed = rendered_differences(rendered, original)
    assert {key for _, key in changed} <= {"for", "expr"}
    for name, key in changed:
        if key == "expr":
            old = _rule(original, name)["expr"]
            new = _rule(rendered, name)["expr"]
            assert re.sub(r"\[[0-9]+[smh]\]|vector\([0-9.]+\)", "", old) == re.sub(
                r"\[[0-9]+[smh]\]|vector\([0-9.]+\)", "", new
            ), name
    assert _rule(rendered, "lgsp:views_behind_seconds:slo")["expr"] == "vector(8)"
    assert _rule(rendered, "LgspViewStale")["for"] == "2s"
    assert shutil.which("promtool") is None or _promtool_ok(rendered)


def _rule(path: Any, name: str) -> dict[str, Any]:
    for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
        for rule in group["rules"]:
            if name in (rule.get("alert"), rule.get("record")):
                return dict(rule)
    raise KeyError(name)


def _promtool_ok(path: Any) -> bool:
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, check=False)
    return result.returncode == 0
