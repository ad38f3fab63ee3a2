"""The two kinds of process in the local stack, each knowing how to prepare, start and probe itself.

State directory (``settings.dev.state_dir``)::

    stack.json                      the layout of the last `up` (ports, cluster id)
    kafka-<n>/server.properties     regenerated on every start
    kafka-<n>/data/                 KRaft metadata and topic logs, formatted on first start
    kafka-<n>/kafka-<n>.log|.pid    output of the current run (the previous run's in .log.1), pid
    registry/db.mv.db               Apicurio's H2 database: schemas survive restarts
    registry/registry.log|.pid
    registry/admin.password         secure mode only: the registry admin's password (0600)
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bus.errors import DevStackError
from bus.settings import DevSettings
from lgsp.devstack import artifacts
from lgsp.devstack.kafka_config import format_command, render_server_properties, server_command
from lgsp.devstack.layout import KafkaNode, StackLayout
from lgsp.devstack.ports import PortUse
from lgsp.devstack.probes import kafka_node_ready, registry_ready
from lgsp.devstack.processes import Managed, marker_for
from lgsp.devstack.secure import (
    SecureMaterial,
    ensure_material,
    format_scram_arguments,
    secure_node_ready,
    secure_properties,
    write_private,
)
from lgsp.devstack.secure_registry import (
    registry_password,
    secure_registry_environment,
    secure_registry_flags,
)

_FORMAT_TIMEOUT_S = 120.0


class Component(Protocol):
    """A process of the stack."""

    @property
    def managed(self) -> Managed: ...

    @property
    def endpoint(self) -> str: ...

    def port_uses(self) -> list[PortUse]: ...

    def prepare(self, java: str) -> None:
        """Write configuration and initialise storage; runs before every start."""

    def command(self, java: str) -> list[str]: ...

    def environment(self) -> dict[str, str]:
        """Variables the process gets on top of ours (secrets that must stay off its command line)."""

    def ready(self) -> bool: ...


@dataclass(frozen=True)
class KafkaComponent:
    """One KRaft combined node."""

    settings: DevSettings
    layout: StackLayout
    node: KafkaNode

    @property
    def managed(self) -> Managed:
        name = self.node.name
        return Managed(name, self.settings.state_dir / name, marker_for(self.settings.state_dir, name))

    @property
    def endpoint(self) -> str:
        return f"{self.layout.host}:{self.node.port}"

    @property
    def config_file(self) -> Path:
        return self.managed.directory / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.managed.directory / "data"

    def port_uses(self) -> list[PortUse]:
        return self.node.port_uses()

    def prepare(self, java: str) -> None:
        (self.managed.directory / "tmp").mkdir(parents=True, exist_ok=True)
        material = self._material()
        overrides = None
        if material is not None:
            overrides = secure_properties(
                material,
                host=self.layout.host,
                port=self.node.port,
                controller_port=self.node.controller_port,
            )
        text = render_server_properties(self.layout, self.node, self.data_dir.resolve(), overrides=overrides)
        write_private(self.config_file, text)  # the secure mode's file holds the admin password
        if not (self.data_dir / "meta.properties").exists():
            self._format(java, [] if material is None else format_scram_arguments(material))

    def _material(self) -> SecureMaterial | None:
        if not self.layout.secure:
            return None
        return ensure_material(self.settings.state_dir, self.layout.host)

    def _format(self, java: str, extra: list[str]) -> None:
        command = format_command(
            java,
            artifacts.kafka_libs(self.settings),
            self.config_file,
            self.layout.cluster_id,
            standalone=len(self.layout.nodes) == 1,
            extra=extra,
        )
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=_FORMAT_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DevStackError(f"cannot format {self.data_dir}: {exc}") from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip().splitlines()[-8:]
            raise DevStackError(f"formatting {self.data_dir} failed:\n  " + "\n  ".join(output))

    def command(self, java: str) -> list[str]:
        return server_command(
            java,
            artifacts.kafka_libs(self.settings),
            self.config_file.resolve(),
            heap=self.settings.kafka_heap,
            log4j2=artifacts.log4j2_config(),
            marker=self.managed.marker,
        )

    def environment(self) -> dict[str, str]:
        return {}

    def ready(self) -> bool:
        material = self._material()
        if material is not None:
            return secure_node_ready(material.admin_settings(self.endpoint), self.node.node_id)
        return kafka_node_ready(self.layout.host, self.node.port, self.node.node_id)


@dataclass(frozen=True)
class RegistryComponent:
    """Apicurio Registry with its H2 database in a file, so registered schemas survive restarts."""

    settings: DevSettings
    layout: StackLayout
    port: int

    @property
    def managed(self) -> Managed:
        return Managed(
            "registry", self.settings.state_dir / "registry", marker_for(self.settings.state_dir, "registry")
        )

    @property
    def endpoint(self) -> str:
        return f"http://{self.layout.host}:{self.port}"

    def port_uses(self) -> list[PortUse]:
        return [PortUse(self.port, "registry", "registry_port")]

    def prepare(self, java: str) -> None:
        (self.managed.directory / "tmp").mkdir(parents=True, exist_ok=True)

    def command(self, java: str) -> list[str]:
        directory = self.managed.directory.resolve()
        return [
            java,
            f"-Xmx{self.settings.registry_heap}",
            # Startup dominates a development registry's life and its traffic is light (clients cache
            # schema ids): the C1 compiler and the serial collector start it about twice as fast on 2 cores.
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            self.managed.marker,
            f"-Djava.io.tmpdir={directory / 'tmp'}",
            f"-Dquarkus.http.host={self.layout.host}",
            f"-Dquarkus.http.port={self.port}",
            f"-Dapicurio.datasource.url=jdbc:h2:file:{directory / 'db'};DB_CLOSE_ON_EXIT=FALSE",
            # Apicurio opens 20 H2 connections up front and gives up after 5 s; on a busy laptop or CI
            # machine reopening the file then fails. A small pool and a patient one start reliably.
            "-Dapicurio.datasource.jdbc.initial-size=2",
            "-Dapicurio.datasource.jdbc.min-size=2",
            "-Dapicurio.datasource.jdbc.max-size=20",
            "-Dquarkus.datasource.h2.jdbc.acquisition-timeout=60S",
            # Deletions are allowed: the plain stack's tests clean up after themselves, and on the secure
            # stack only the admin may delete (lgsp.devstack.secure_registry).
            "-Dapicurio.rest.deletion.artifact.enabled=true",
            "-Dapicurio.rest.deletion.artifact-version.enabled=true",
            "-Dapicurio.rest.deletion.group.enabled=true",
            *(secure_registry_flags() if self.layout.secure else []),
            "-jar",
            str(artifacts.registry_jar(self.settings).resolve()),
        ]

    def environment(self) -> dict[str, str]:
        if not self.layout.secure:
            return {}
        return secure_registry_environment(registry_password(self.managed.directory))

    def ready(self) -> bool:
        return registry_ready(self.endpoint)


def components_of(settings: DevSettings, layout: StackLayout) -> list[Component]:
    """Every process of ``layout``, Kafka nodes first."""
    found: list[Component] = [KafkaComponent(settings, layout, node) for node in layout.nodes]
    if layout.registry_port is not None:
        found.append(RegistryComponent(settings, layout, layout.registry_port))
    return found
