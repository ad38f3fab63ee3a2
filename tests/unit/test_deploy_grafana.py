"""deploy/grafana: provisioning and dashboards are well-formed and query only what the bus really exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bus.metrics import NATIONAL, Kpi, all_metric_names
from tests.prometheus_harness import PROMETHEUS_DIR, REPO, promql_metric_names

pytestmark = pytest.mark.unit

GRAFANA = REPO / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
TITLES = {"lgsp-operations": "LGSP bus: operations", "lgsp-national-views": "National views"}


def _dashboard(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def _queries(dashboard: dict[str, Any]) -> Iterator[str]:
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            yield target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield variable["query"]["query"]


def _datasource_uid() -> str:
    provisioning = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (datasource,) = provisioning["datasources"]
    assert datasource["type"] == "prometheus"
    return str(datasource["uid"])


def _recorded_names() -> set[str]:
    names = set()
    for path in (PROMETHEUS_DIR / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return names


def test_the_two_dashboards_exist_with_their_uids_and_titles() -> None:
    dashboards = {(d := _dashboard(path))["uid"]: d["title"] for path in DASHBOARDS}
    assert dashboards == TITLES


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_dashboard_is_well_formed(path: Path) -> None:
    dashboard = _dashboard(path)
    assert dashboard["uid"] == path.stem
    assert dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in _panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    uid = _datasource_uid()
    for panel in _panels(dashboard):
        assert panel["title"].strip()
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == uid, f"{panel['title']}: not the provisioned datasource"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids, f"{panel['title']}: a panel without a query"
        assert len(ref_ids) == len(set(ref_ids)), f"{panel['title']}: duplicate refId"
        assert all(target["datasource"]["uid"] == uid for target in panel["targets"])
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] == uid


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_panels_fit_the_grid_without_overlapping(path: Path) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in _dashboard(path)["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_every_query_names_metrics_the_bus_exports(path: Path) -> None:
    exported, recorded = all_metric_names(), _recorded_names()
    for expr in _queries(_dashboard(path)):
        names = promql_metric_names(expr)
        assert names <= exported, f"{expr}: unknown metrics {sorted(names - exported)}"
        rules = set(re.findall(r"\blgsp:[a-z0-9_]+:[a-z0-9_]+", expr))
        assert rules <= recorded, f"{expr}: unknown recording rules {sorted(rules - recorded)}"


def test_operations_dashboard_covers_throughput_errors_dead_letters_lag_age_and_ingress() -> None:
    read = set().union(
        *map(promql_metric_names, _queries(_dashboard(GRAFANA / "dashboards" / "lgsp-operations.json")))
    )
    assert {
        "lgsp_events_published_total",
        "lgsp_events_consumed_total",
        "lgsp_publish_errors_total",
        "lgsp_events_dead_lettered_total",
        "lgsp_consumer_lag_messages",
        "lgsp_event_age_seconds",
        "lgsp_batch_processing_duration_seconds",
        "lgsp_ingress_requests_total",
        "lgsp_ingress_request_duration_seconds",
    } <= read


def test_national_views_dashboard_has_the_scoreboard_table_and_every_kpi_over_time() -> None:
    dashboard = _dashboard(GRAFANA / "dashboards" / "lgsp-national-views.json")
    (table,) = [panel for panel in _panels(dashboard) if panel["type"] == "table"]
    in_table = set().union(*(promql_metric_names(target["expr"]) for target in table["targets"]))
    assert in_table == {kpi.value for kpi in Kpi}
    over_time = [panel for panel in _panels(dashboard) if panel["type"] == "timeseries"]
    plotted = set().union(*(promql_metric_names(t["expr"]) for panel in over_time for t in panel["targets"]))
    assert {kpi.value for kpi in Kpi} <= plotted


def test_scoreboard_names_every_province_of_the_catalog_and_the_nation() -> None:
    dashboard = _dashboard(GRAFANA / "dashboards" / "lgsp-national-views.json")
    (table,) = [panel for panel in _panels(dashboard) if panel["type"] == "table"]
    mappings = [
        prop["value"]
        for override in table["fieldConfig"]["overrides"]
        for prop in override["properties"]
        if prop["id"] == "mappings"
    ]
    (options,) = [mapping["options"] for value in mappings for mapping in value]
    catalog = json.loads((REPO / "bus" / "data" / "agencies.json").read_text(encoding="utf-8"))
    expected = {province["code"]: province["short_name"] for province in catalog["provinces"]}
    assert len(expected) == 34
    assert set(options) == {NATIONAL, *expected}
    for code, name in expected.items():
        assert options[code]["text"] == f"{code} {name}"


def test_provisioning_points_grafana_at_the_dashboards_compose_mounts() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "lgsp.yml").read_text())
    (entry,) = provider["providers"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    assert f"./deploy/grafana/dashboards:{entry['options']['path']}:ro" in grafana["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
