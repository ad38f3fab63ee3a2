"""deploy/prometheus: promtool checks and rule unit tests, and what promtool cannot see (names, runbooks)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bus.metrics import all_metric_names
from tests.prometheus_harness import PROMETHEUS_DIR, REPO, promql_metric_names, run_promtool

pytestmark = pytest.mark.unit

RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
CONFIGS = [PROMETHEUS_DIR / "prometheus.yml", PROMETHEUS_DIR / "prometheus.local.yml"]
OPERATORS = REPO / "docs" / "operators.md"
REQUIRED_ALERTS = {
    "LgspKafkaDown",
    "LgspRegistryDown",
    "LgspStoreDown",
    "LgspViewFreshnessUnknown",
    "LgspViewBuilderAbsent",
    "LgspConsumerLagHigh",
    "LgspDeadLettersIncreasing",
    "LgspViewStale",
    "LgspPublishErrorRateHigh",
    "LgspIngress5xxRateHigh",
    "LgspTargetDown",
}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _rules() -> list[dict[str, Any]]:
    return [rule for path in RULE_FILES for group in _load(path)["groups"] for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def _failure(result: Any) -> str:
    return f"promtool exited {result.returncode}\n{result.stdout}\n{result.stderr}"


@pytest.mark.prometheus
def test_promtool_check_rules() -> None:
    result = run_promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, _failure(result)


@pytest.mark.prometheus
@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.name)
def test_promtool_check_config(config: Path) -> None:
    result = run_promtool("check", "config", str(config))
    assert result.returncode == 0, _failure(result)
    assert "SUCCESS: 1 rule files found" in result.stdout, "the config must load the bus's rule file"


@pytest.mark.prometheus
def test_promtool_test_rules() -> None:
    assert RULE_TESTS, "no rule tests under deploy/prometheus/tests"
    result = run_promtool("test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, _failure(result)
    assert "SUCCESS" in result.stdout


def test_the_alerts_the_operations_issue_asks_for_exist_once_each() -> None:
    names = [alert["alert"] for alert in _alerts()]
    assert sorted(names) == sorted(set(names)), "an alert name is used twice"
    assert set(names) >= REQUIRED_ALERTS


@pytest.mark.parametrize("alert", _alerts(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_has_severity_summary_description_and_a_runbook_section(alert: dict[str, Any]) -> None:
    assert alert["labels"]["severity"] in {"warning", "critical"}
    annotations = alert["annotations"]
    assert annotations["summary"].strip()
    assert annotations["description"].strip()
    runbook = re.fullmatch(r"docs/operators\.md#([a-z0-9-]+)", annotations["runbook"])
    assert runbook, f"runbook {annotations['runbook']!r} must point at a section of docs/operators.md"
    assert runbook.group(1) in _anchors(OPERATORS), f"docs/operators.md has no section #{runbook.group(1)}"


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    cases = [
        case
        for path in RULE_TESTS
        for test in _load(path)["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    fires = {case["alertname"] for case in cases if case.get("exp_alerts")}
    stays_quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    alerts = {alert["alert"] for alert in _alerts()}
    assert alerts - fires == set(), "alerts without a firing case"
    assert alerts - stays_quiet == set(), "alerts without a not-firing case"


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: str(rule.get("alert") or rule.get("record")))
def test_every_rule_reads_metrics_the_bus_exports(rule: dict[str, Any]) -> None:
    names = promql_metric_names(rule["expr"])
    if re.fullmatch(r"lgsp:[a-z0-9_]+:slo", rule.get("record", "")):
        assert re.fullmatch(r"vector\([0-9.]+\)", rule["expr"]), "an objective is a constant"
        return
    assert names or re.match(r"up\{", rule["expr"]), "a rule that reads neither an lgsp_ metric nor up"
    assert names <= all_metric_names(), f"unknown metrics: {sorted(names - all_metric_names())}"


def test_recording_rules_are_named_level_metric_operation() -> None:
    for rule in _rules():
        if "record" in rule:
            assert re.fullmatch(r"lgsp:[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]


def test_compose_and_local_scrape_configs_have_the_same_jobs_and_load_the_rules() -> None:
    configs = [_load(path) for path in CONFIGS]
    jobs = [[job["job_name"] for job in config["scrape_configs"]] for config in configs]
    assert jobs[0] == jobs[1]
    assert {"lgsp-ingress", "lgsp-views-api", "lgsp-views-builder", "lgsp-simulator"} <= set(jobs[0])
    for config in configs:
        assert config["rule_files"] == ["rules/*.yml"]
        (alertmanager,) = config["alerting"]["alertmanagers"]
        assert alertmanager["static_configs"][0]["targets"][0].endswith(":9093")
    target_down = next(alert for alert in _alerts() if alert["alert"] == "LgspTargetDown")
    assert 'job=~"lgsp-.*"' in target_down["expr"]
    assert all(job.startswith("lgsp-") for job in jobs[0] if job != "prometheus")


def _anchors(markdown: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_metric_names_are_read_from_promql_without_rules_or_label_values() -> None:
    expr = (
        'histogram_quantile(0.9, sum by (le) (rate(lgsp_event_age_seconds_bucket{topic="lgsp.documents",'
        'job=~"lgsp-.*"}[5m]))) / lgsp:consumer_lag_messages:sum + lgsp_consumer_batch_records_count'
    )
    assert promql_metric_names(expr) == {"lgsp_event_age_seconds", "lgsp_consumer_batch_records"}


def test_ingress_alerts_and_ratios_read_user_facing_routes_only() -> None:
    for rule in _rules():
        if "lgsp_ingress_request" in rule["expr"]:
            selectors = re.findall(r"lgsp_ingress_request[a-z_]*\{([^}]*)\}", rule["expr"])
            name = rule.get("alert") or rule.get("record")
            assert selectors, name
            assert all('route=~"/v1/.*"' in sel for sel in selectors), name


def test_builder_only_series_are_guarded_by_absent_over_time() -> None:
    exprs = " ".join(alert["expr"] for alert in _alerts())
    assert 'absent_over_time(lgsp_dependency_up{job="lgsp-views-builder"}' in exprs
    assert 'absent_over_time(lgsp_view_store_behind_seconds{job="lgsp-views-api"}' in exprs


def test_the_freshness_alerts_compare_against_the_one_stated_objective() -> None:
    objective = next(r for r in _rules() if r.get("record") == "lgsp:views_behind_seconds:slo")
    assert objective["expr"] == "vector(120)"  # the views at most 2 minutes behind (docs/operators.md)
    for name in ("LgspConsumerLagHigh", "LgspViewStale"):
        alert = next(a for a in _alerts() if a["alert"] == name)
        assert "lgsp:views_behind_seconds:slo" in alert["expr"]
        assert "lgsp_view_store_behind_seconds" in alert["expr"]
