"""The parts of ``lgsp demo`` that need no broker: child settings, ports, scrapes, the sample event."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bus.cloudevents import from_structured
from bus.errors import ConfigError
from bus.events import DossierSynced
from bus.settings import Settings
from lgsp.demo.children import CHILD_NAMES, lgsp_command, managed
from lgsp.demo.options import (
    DEMO_AGENCY,
    GROUP_ID,
    DemoPaths,
    PortRequest,
    demo_settings,
    resolve_ports,
    settings_env,
)
from lgsp.demo.progress import Tally
from lgsp.demo.report import kpi_line, shell_env
from lgsp.demo.run import child_specs
from lgsp.demo.scrape import Samples
from lgsp.demo.stack import sample_dossier

pytestmark = pytest.mark.unit

EXPOSITION = """\
# HELP lgsp_events_consumed_total Events applied.
# TYPE lgsp_events_consumed_total counter
lgsp_events_consumed_total{group="lgsp-demo",topic="lgsp.dossiers",type="D"} 7.0
lgsp_events_consumed_total{group="lgsp-demo",topic="lgsp.documents",type="S"} 5.0
lgsp_events_consumed_total{group="other",topic="lgsp.documents",type="S"} 100.0
# HELP lgsp_kpi_dossier_online_ratio Online.
# TYPE lgsp_kpi_dossier_online_ratio gauge
lgsp_kpi_dossier_online_ratio{province="00"} 0.4567
lgsp_kpi_dossier_online_ratio{province="79"} 0.9
"""


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_children_get_exactly_the_settings_the_demo_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.model_validate(
        {
            "kafka": {
                "bootstrap_servers": "k1:9092,k2:9092",
                "sasl_password": "s3cret",
                "sasl_username": "u",
            },
            "registry": {"url": "http://r:8081/apis/ccompat/v7", "auto_register": True},
            "topics": {"prefix": "t."},
            "store": {"url": "sqlite:////tmp/x.db"},
            "views": {"group_id": "g", "port": 1234},
        }
    )
    env = settings_env(settings)
    assert env["LGSP_KAFKA__SASL_PASSWORD"] == "s3cret"
    assert env["LGSP_REGISTRY__AUTO_REGISTER"] == "true"
    assert "LGSP_KAFKA__SASL_MECHANISM" not in env  # None: the child's default is None too
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings
    assert isinstance(Settings().kafka.sasl_password, SecretStr)


def test_demo_settings_use_the_demo_store_group_and_ports(tmp_path: Path) -> None:
    paths = DemoPaths.under(tmp_path)
    ports = resolve_ports(PortRequest(0, 0, 0, 0), Settings(), ingress=True)
    settings = demo_settings(Settings(), paths, ports)
    assert paths.home == tmp_path.resolve() / "demo"
    assert settings.store.url == f"sqlite:///{tmp_path.resolve()}/demo/views.db"
    assert settings.views.group_id == GROUP_ID
    assert (settings.views.port, settings.views.metrics_port) == (ports.views, ports.builder_metrics)
    assert (settings.ingress.port, settings.ingress.api_keys_file) == (ports.ingress, paths.keys_file)
    assert settings.simulator.metrics_port == ports.simulator_metrics


def test_port_zero_becomes_distinct_free_ports() -> None:
    ports = resolve_ports(PortRequest(0, 0, 0, 0), Settings(), ingress=True)
    chosen = [ports.views, ports.builder_metrics, ports.simulator_metrics, ports.ingress]
    assert len(set(chosen)) == 4
    assert all(port is not None and port > 0 for port in chosen)
    assert resolve_ports(PortRequest(0, 0, 0, 0), Settings(), ingress=False).ingress is None


def test_a_busy_port_is_refused_naming_its_flag(busy_port: int) -> None:
    with pytest.raises(ConfigError, match=f"port {busy_port} .* already in use.*--builder-metrics-port"):
        resolve_ports(PortRequest(0, busy_port, 0, 0), Settings(), ingress=True)


def test_the_same_port_twice_is_refused(busy_port: int) -> None:
    # A busy port too: the duplicate is named first, whatever holds the port (CI once had 41234 in use).
    with pytest.raises(ConfigError, match="asked for twice: by --views-port and by --ingress-port"):
        resolve_ports(PortRequest(busy_port, 0, 0, busy_port), Settings(), ingress=True)


def test_clear_store_removes_the_database_and_its_wal(tmp_path: Path) -> None:
    paths = DemoPaths.under(tmp_path)
    paths.home.mkdir(parents=True)
    for name in ("views.db", "views.db-wal", "views.db-shm", "demo.log"):
        (paths.home / name).write_text("x")
    paths.clear_store()
    assert sorted(p.name for p in paths.home.iterdir()) == ["demo.log"]


def test_scrape_sums_series_matching_labels() -> None:
    samples = Samples.parse(EXPOSITION)
    assert samples.sum("lgsp_events_consumed_total", group="lgsp-demo") == 12
    assert samples.sum("lgsp_events_consumed_total") == 112
    assert samples.sum("lgsp_events_consumed_total", group="lgsp-demo", topic="lgsp.dossiers") == 7
    assert samples.sum("lgsp_consumer_lag_messages") == 0
    assert not samples.has("lgsp_consumer_lag_messages")


def test_kpi_line_shows_the_national_values_as_percentages() -> None:
    assert kpi_line(Samples.parse(EXPOSITION)) == "dossiers online 45.7%"
    assert kpi_line(Samples([])) == "no KPI yet"


def test_tally_line() -> None:
    assert Tally().line() == "published 0"
    tally = Tally(elapsed_s=10, published=3000, applied=2900, dead_lettered=3, lag=100, records=(2900, 3000))
    assert tally.line() == (
        "published 3,000 (300/s) · applied 2,900 · lag 100 · dead letters 3 · store 2,900/3,000 records"
    )


def test_the_sample_event_is_a_valid_dossier_of_the_demo_agency() -> None:
    event_id = str(uuid.uuid4())
    event = from_structured(sample_dossier(event_id))
    assert isinstance(event, DossierSynced)
    assert (event.meta.event_id, event.meta.source) == (event_id, DEMO_AGENCY)


def test_children_carry_their_marker_and_readiness_urls(tmp_path: Path) -> None:
    ports = resolve_ports(PortRequest(0, 0, 0, 0), Settings(), ingress=True)
    specs = child_specs(ports)
    assert [spec.name for spec in specs] == list(CHILD_NAMES)
    assert specs[1].ready_url == f"http://127.0.0.1:{ports.views}/healthz"
    target = managed(tmp_path, "views-run")
    command = lgsp_command(target.marker, specs[0].args)
    assert command[1:3] == ["-X", f"lgsp-demo={tmp_path / 'views-run'}"]
    assert command[-4:] == ["views", "run", "--metrics-port", str(ports.builder_metrics)]


def test_shell_env_points_lgsp_commands_at_the_demo() -> None:
    settings = Settings.model_validate({"topics": {"prefix": "p."}, "store": {"url": "sqlite:////s/v.db"}})
    lines = shell_env(settings)
    assert "export LGSP_STORE__URL=sqlite:////s/v.db" in lines
    assert "export LGSP_TOPICS__PREFIX=p." in lines
