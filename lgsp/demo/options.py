"""What one ``lgsp demo`` runs with: the traffic, the ports, and where its files live.

Everything the demo writes is under ``<settings.dev.state_dir>/demo`` (:class:`DemoPaths`): its own view store
and consumer group, so a rerun rebuilds the views from the topics instead of mixing with another store, and
the logs and pid files of the processes it starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, SecretStr

from bus.errors import ConfigError
from bus.settings import Settings
from lgsp.devstack.ports import free_port, port_in_use
from producers.simulate import AVRO_ENCODABLE_DEFECTS, DEFAULT_SCALE, DEFAULT_START, SimulationConfig

GROUP_ID: Final = "lgsp-demo"
"""The demo's consumer group: its own, so it never competes with a `views run` the user started."""
DEMO_AGENCY: Final = "000.00.00.H29"
"""The agency whose ingress key the demo issues: Hồ Chí Minh City People's Committee (province 79)."""


DEMO_START: Final = datetime(2025, 7, 18, tzinfo=DEFAULT_START.tzinfo)
"""The demo's simulated clock starts three days before the monthly socio-economic report falls due (20 July,
``bus/data/reports.json``): a 60 s demo at 300 events/s covers about six simulated days, so the scoreboard
shows a period that fell due, filed, late or missing, besides documents and dossiers."""


@dataclass(frozen=True)
class Traffic:
    """The simulated nation: for how long, how fast, which run, how much poison, from when, how big."""

    duration_s: float = 60.0
    rate: float = 300.0
    seed: int = 0
    bad_ratio: float = 0.001
    start: datetime = DEMO_START
    scale: float = DEFAULT_SCALE

    def simulation(self) -> SimulationConfig:
        """The simulator's configuration for this traffic (poison that Avro can carry, to reach the DLQ)."""
        return SimulationConfig(
            seed=self.seed,
            start=self.start,
            scale=self.scale,
            bad_ratio=self.bad_ratio,
            defects=AVRO_ENCODABLE_DEFECTS,
        )


@dataclass(frozen=True)
class PortRequest:
    """Ports asked for on the command line: None takes the setting, 0 any free port."""

    views: int | None = None
    builder_metrics: int | None = None
    simulator_metrics: int | None = None
    ingress: int | None = None


@dataclass(frozen=True)
class Ports:
    """The ports the demo's processes listen on, all on ``host``."""

    host: str
    views: int
    builder_metrics: int
    simulator_metrics: int
    ingress: int | None
    """None when the demo runs without the ingress."""

    def url(self, port: int, path: str = "") -> str:
        return f"http://{self.host}:{port}{path}"


@dataclass(frozen=True)
class DemoOptions:
    """Everything ``lgsp demo`` was asked to do."""

    traffic: Traffic = field(default_factory=Traffic)
    ports: PortRequest = field(default_factory=PortRequest)
    dev_stack: bool = True
    """Start or reuse the local stack; False: use the Kafka and registry the settings name."""
    dev_ports: Mapping[str, int | None] = field(default_factory=dict)
    """Overrides of ``settings.dev`` ports (kafka_port, controller_port, registry_port)."""
    ingress: bool = True
    secure: bool = False
    """The secure bus (`lgsp dev up --secure`, or admin settings): the children run as least-privilege
    principals and read the registry without credentials."""
    keep_running: bool = False
    """Leave the views and the ingress running when the demo exits."""
    wait: bool = False
    """After the scoreboard, keep everything up until Ctrl-C."""


@dataclass(frozen=True)
class DemoPaths:
    """The demo's files, under ``<state dir>/demo``."""

    home: Path

    @classmethod
    def under(cls, state_dir: Path) -> DemoPaths:
        return cls(state_dir.expanduser().resolve() / "demo")

    @property
    def store(self) -> Path:
        return self.home / "views.db"

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.store}"

    @property
    def keys_file(self) -> Path:
        return self.home / "ingress-keys.json"

    @property
    def key_file(self) -> Path:
        """The demo agency's API key in clear (mode 0600), for the curl example."""
        return self.home / "ingress-demo-key"

    @property
    def sample_event(self) -> Path:
        return self.home / "sample-dossier.json"

    def clear_store(self) -> None:
        """Delete the view store (and SQLite's WAL files) so the views are rebuilt from the topics."""
        for suffix in ("", "-wal", "-shm"):
            self.store.with_name(self.store.name + suffix).unlink(missing_ok=True)


_FLAGS: Final = {
    "views": "--views-port",
    "builder_metrics": "--builder-metrics-port",
    "simulator_metrics": "--simulator-metrics-port",
    "ingress": "--ingress-port",
}
_WHAT: Final = {
    "views": "the views API (lgsp views serve)",
    "builder_metrics": "the view builder's /metrics (lgsp views run)",
    "simulator_metrics": "the simulator's /metrics",
    "ingress": "the HTTP ingress (lgsp ingress)",
}


def resolve_ports(request: PortRequest, settings: Settings, *, ingress: bool) -> Ports:
    """The ports to use: asked for, else from settings; 0 becomes a free port. ConfigError when one is taken.

    Ports are checked before anything starts, so a busy port is one clear message naming its flag, not a
    child process dying with "address already in use".
    """
    host = settings.views.host
    wanted = {
        "views": _pick(request.views, settings.views.port),
        "builder_metrics": _pick(request.builder_metrics, settings.views.metrics_port),
        "simulator_metrics": _pick(request.simulator_metrics, settings.simulator.metrics_port),
    }
    if ingress:
        wanted["ingress"] = _pick(request.ingress, settings.ingress.port)
    chosen: dict[str, int] = {}
    for name, port in wanted.items():
        chosen[name] = port if port != 0 else _free_other_than(host, set(chosen.values()))
    _check(host, chosen)
    return Ports(
        host,
        chosen["views"],
        chosen["builder_metrics"],
        chosen["simulator_metrics"],
        chosen.get("ingress"),
    )


def _pick(asked: int | None, setting: int) -> int:
    return setting if asked is None else asked


def _free_other_than(host: str, taken: set[int]) -> int:
    while True:
        port = free_port(host)
        if port not in taken:
            return port


def _check(host: str, chosen: Mapping[str, int]) -> None:
    # Duplicates first: they are a mistake in the command line whatever else runs on the machine.
    seen: dict[int, str] = {}
    for name, port in chosen.items():
        if port in seen:
            raise ConfigError(
                f"port {port} is asked for twice: by {_FLAGS[seen[port]]} and by {_FLAGS[name]}; "
                "give one of them another port (0: any free port)"
            )
        seen[port] = name
    for name, port in chosen.items():
        if port_in_use(host, port):
            raise ConfigError(
                f"port {port} on {host} is already in use; {_WHAT[name]} needs it. Stop what holds it "
                f"(a demo left running: `lgsp demo --stop`), or choose another with {_FLAGS[name]} "
                "(0: any free port)"
            )


def demo_settings(settings: Settings, paths: DemoPaths, ports: Ports) -> Settings:
    """``settings`` with the demo's store, consumer group, key file and ports."""
    return settings.model_copy(
        update={
            "store": settings.store.model_copy(update={"url": paths.store_url}),
            "views": settings.views.model_copy(
                update={"group_id": GROUP_ID, "port": ports.views, "metrics_port": ports.builder_metrics}
            ),
            "ingress": settings.ingress.model_copy(
                update={"port": ports.ingress or settings.ingress.port, "api_keys_file": paths.keys_file}
            ),
            "simulator": settings.simulator.model_copy(update={"metrics_port": ports.simulator_metrics}),
        }
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """``settings`` as ``LGSP_<CONCERN>__<FIELD>`` environment variables, secrets in clear.

    The demo's child processes get every setting this way, so they run with exactly what the demo resolved
    (its ``.env`` file and flags included), whatever their working directory.
    """
    env: dict[str, str] = {}
    for concern, model in settings:
        if not isinstance(model, BaseModel):
            continue
        for name, value in model:
            if value is not None:
                env[f"LGSP_{concern.upper()}__{name.upper()}"] = _env_text(value)
    return env


def _env_text(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value)
    return str(value)
