"""``DevStack``: start, inspect and stop a real Kafka (KRaft) and Apicurio Registry on loopback.

Used by ``lgsp dev`` and by tests::

    stack = DevStack(settings.dev)
    stack.up(brokers=3)
    stack.endpoints.bootstrap_servers      # "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    stack.kill_broker(2)                   # SIGKILL; status() then reports kafka-2 as failed
    stack.start_broker(2)
    stack.down()
"""

from __future__ import annotations

import shutil
import signal
import time
from dataclasses import dataclass

from bus.errors import DevStackError
from bus.settings import DevSettings, KafkaSettings, RegistrySettings, Settings
from lgsp.devstack import artifacts
from lgsp.devstack.components import Component, KafkaComponent, RegistryComponent, components_of
from lgsp.devstack.layout import REGISTRY_API, StackLayout, load_layout, plan_layout, save_layout
from lgsp.devstack.ports import check_free
from lgsp.devstack.processes import (
    exit_code,
    last_error_line,
    read_pid,
    running_pid,
    send_signal,
    spawn,
    stop_all,
    wait_gone,
)
from lgsp.devstack.secure import ensure_material
from lgsp.devstack.secure_registry import registry_admin_settings, registry_password
from lgsp.devstack.status import ComponentStatus, StackStatus, State
from lgsp.devstack.tools import find_java

_POLL_S = 0.25


@dataclass(frozen=True)
class Endpoints:
    """Where clients reach the stack: ``LGSP_KAFKA__BOOTSTRAP_SERVERS`` and ``LGSP_REGISTRY__URL``."""

    bootstrap_servers: str
    registry_url: str | None


class DevStack:
    """The local stack whose state lives in ``settings.state_dir``."""

    def __init__(self, settings: DevSettings | Settings) -> None:
        self.settings = settings.dev if isinstance(settings, Settings) else settings

    @property
    def layout(self) -> StackLayout | None:
        """The layout of the last ``up`` in this state directory."""
        return load_layout(self.settings.state_dir)

    @property
    def endpoints(self) -> Endpoints:
        layout = self._require_layout()
        return Endpoints(layout.bootstrap_servers, layout.registry_url)

    def fetch(self) -> list[artifacts.Fetched]:
        """Resolve the jars into the cache without starting anything."""
        return artifacts.fetch_all(self.settings)

    def up(
        self,
        *,
        brokers: int = 1,
        registry: bool = True,
        timeout_s: float | None = None,
        secure: bool = False,
    ) -> StackStatus:
        """Start what is not running and wait until everything is ready; harmless when already up.

        ``secure``: SASL_SSL + SCRAM + ACLs (:mod:`lgsp.devstack.secure`); :meth:`admin_settings` then gives
        the admin's connection.
        """
        java = find_java(self.settings.java).path
        layout = self._layout_for(brokers=brokers, registry=registry, secure=secure)
        to_start = [c for c in components_of(self.settings, layout) if running_pid(c.managed) is None]
        check_free(layout.host, [use for c in to_start for use in c.port_uses()])
        artifacts.fetch_kafka(self.settings)
        if registry:
            artifacts.fetch_registry(self.settings)
        save_layout(self.settings.state_dir, layout)
        self._start(to_start, java, timeout_s, wait_for=components_of(self.settings, layout))
        return self.status()

    def down(self, *, purge: bool = False) -> list[str]:
        """Stop every process ``up`` started (only those); with ``purge`` also delete the state directory."""
        layout = self.layout
        stopped = []
        if layout is not None:
            managed = [c.managed for c in components_of(self.settings, layout)]
            stopped = stop_all(managed, self.settings.stop_timeout_s)
        if purge:
            shutil.rmtree(self.settings.state_dir, ignore_errors=True)
        return stopped

    def status(self) -> StackStatus:
        """Each component as ready, starting, not running or failed."""
        layout = self.layout
        if layout is None:
            return StackStatus(self.settings.state_dir, (), None, None)
        found = tuple(_component_status(c) for c in components_of(self.settings, layout))
        return StackStatus(self.settings.state_dir, found, layout.bootstrap_servers, layout.registry_url)

    def kill_broker(self, node_id: int, sig: signal.Signals = signal.SIGKILL) -> int:
        """Send ``sig`` to one Kafka node (a crash, by default); its pid file stays, so status says failed.

        After SIGKILL this returns once the process is gone, so a following ``start_broker`` finds its ports
        free; other signals (SIGTERM, SIGSTOP, ...) return at once.
        """
        pid = send_signal(self._kafka(node_id).managed, sig)
        if sig is signal.SIGKILL and not wait_gone(pid, self.settings.stop_timeout_s):
            raise DevStackError(f"kafka-{node_id} (pid {pid}) still exists after SIGKILL")
        return pid

    def stop_broker(self, node_id: int) -> None:
        """Shut one Kafka node down cleanly (SIGTERM, SIGKILL after the stop timeout)."""
        stop_all([self._kafka(node_id).managed], self.settings.stop_timeout_s)

    def start_broker(self, node_id: int, *, wait: bool = True, timeout_s: float | None = None) -> None:
        """(Re)start one Kafka node on its recorded ports; with ``wait``, until it serves again."""
        component = self._kafka(node_id)
        if running_pid(component.managed) is not None:
            return
        pid = read_pid(component.managed.pid_file)
        if pid is not None:
            wait_gone(pid, self.settings.stop_timeout_s)  # a node still exiting holds its ports
        check_free(component.layout.host, component.port_uses())
        java = find_java(self.settings.java).path
        self._start([component], java, timeout_s, wait_for=[component] if wait else [])

    def stop_registry(self) -> None:
        """Shut the registry down (consumers must keep decoding from their schema cache meanwhile)."""
        stop_all([self._registry().managed], self.settings.stop_timeout_s)

    def start_registry(self, *, timeout_s: float | None = None) -> None:
        """(Re)start the registry on its recorded port and wait until it serves."""
        component = self._registry()
        if running_pid(component.managed) is not None:
            return
        check_free(component.layout.host, component.port_uses())
        java = find_java(self.settings.java).path
        self._start([component], java, timeout_s, wait_for=[component])

    def _registry(self) -> RegistryComponent:
        layout = self._require_layout()
        if layout.registry_port is None:
            raise DevStackError(f"the stack in {self.settings.state_dir} runs without a registry")
        return RegistryComponent(self.settings, layout, layout.registry_port)

    def _kafka(self, node_id: int) -> KafkaComponent:
        layout = self._require_layout()
        return KafkaComponent(self.settings, layout, layout.node(node_id))

    def _require_layout(self) -> StackLayout:
        layout = self.layout
        if layout is None:
            raise DevStackError(f"no stack in {self.settings.state_dir}; run `lgsp dev up` first")
        return layout

    def admin_settings(self) -> KafkaSettings:
        """The admin's connection: plain for a plain stack; SASL_SSL as ``admin`` for a secure one."""
        layout = self._require_layout()
        if not layout.secure:
            return KafkaSettings(bootstrap_servers=layout.bootstrap_servers)
        return ensure_material(self.settings.state_dir, layout.host).admin_settings(layout.bootstrap_servers)

    def registry_admin_settings(self) -> RegistrySettings:
        """A registry client that may write: no credentials on a plain stack (its registry is open); the
        registry admin's on a secure one (:mod:`lgsp.devstack.secure_registry`)."""
        component = self._registry()
        url = f"{component.endpoint}{REGISTRY_API}"
        if not component.layout.secure:
            return RegistrySettings(url=url)
        return registry_admin_settings(url, registry_password(component.managed.directory))

    def _layout_for(self, *, brokers: int, registry: bool, secure: bool) -> StackLayout:
        """The layout to bring up.

        While any process of the previous layout runs, that layout is kept as it is (ports included): `up`
        completes it and is otherwise a no-op; a different number of brokers or the registry toggled is an
        error until `down`. When nothing runs, a new layout is planned that keeps the previous cluster id
        (the data directories are formatted with it) and, for ports set to 0, the previous ports.
        """
        previous = self.layout
        if previous is None:
            return plan_layout(self.settings, brokers=brokers, registry=registry, secure=secure)
        running = any(running_pid(c.managed) for c in components_of(self.settings, previous))
        if running:
            if not previous.has_shape(brokers=brokers, registry=registry, secure=secure):
                raise DevStackError(
                    f"a {_mode(previous.secure)} stack with "
                    f"{_shape(len(previous.nodes), previous.registry_port is not None)} is "
                    f"running from {self.settings.state_dir} (Kafka at {previous.bootstrap_servers}), "
                    f"not a {_mode(secure)} one with {_shape(brokers, registry)}; run `lgsp dev down` first"
                )
            return previous
        if previous.secure != secure and self._has_kafka_data():
            raise DevStackError(
                f"{self.settings.state_dir} holds the Kafka data of a {_mode(previous.secure)} stack; "
                "run `lgsp dev down --purge` to discard it, or use another LGSP_DEV__STATE_DIR"
            )
        if len(previous.nodes) != brokers and self._has_kafka_data():
            raise DevStackError(
                f"{self.settings.state_dir} holds the Kafka data of {_shape(len(previous.nodes), None)}, "
                f"not {_shape(brokers, None)}; "
                "run `lgsp dev down --purge` to discard it, or use another LGSP_DEV__STATE_DIR"
            )
        return plan_layout(
            self.settings,
            brokers=brokers,
            registry=registry,
            cluster_id=previous.cluster_id,
            previous=previous,
            secure=secure,
        )

    def _has_kafka_data(self) -> bool:
        return any(self.settings.state_dir.glob("kafka-*/data/meta.properties"))

    def _start(
        self, to_start: list[Component], java: str, timeout_s: float | None, *, wait_for: list[Component]
    ) -> None:
        """Spawn ``to_start`` (the slow registry first), then wait until every one of ``wait_for`` is ready.

        On failure, stop what this call started and raise; components that were already running stay.
        """
        started: list[Component] = []
        try:
            for component in sorted(to_start, key=lambda c: isinstance(c, KafkaComponent)):
                component.prepare(java)
                spawn(component.managed, component.command(java), component.environment())
                started.append(component)
            self._wait_ready(wait_for, timeout_s or self.settings.start_timeout_s)
        except BaseException:
            stop_all([c.managed for c in started], self.settings.stop_timeout_s)
            raise

    def _wait_ready(self, components: list[Component], timeout_s: float) -> None:
        """Poll until every component answers; fail at once if one dies, or when ``timeout_s`` passes."""
        pending = list(components)
        deadline = time.monotonic() + timeout_s
        while pending:
            for component in pending:
                if running_pid(component.managed) is None:
                    raise DevStackError(f"{component.managed.name} exited while starting: {_why(component)}")
            pending = [c for c in pending if not c.ready()]
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(c.managed.name for c in pending)
                logs = ", ".join(str(c.managed.log_file) for c in pending)
                raise DevStackError(
                    f"{names} not ready after {timeout_s:.0f} s (LGSP_DEV__START_TIMEOUT_S or --timeout "
                    f"allow more); see {logs}"
                )
            time.sleep(_POLL_S)


def _component_status(component: Component) -> ComponentStatus:
    managed = component.managed
    pid = read_pid(managed.pid_file)
    if pid is None:
        return ComponentStatus(managed.name, State.NOT_RUNNING, component.endpoint, None, managed.log_file)
    if running_pid(managed) is None:
        return ComponentStatus(
            managed.name, State.FAILED, component.endpoint, pid, managed.log_file, _why(component)
        )
    state = State.READY if component.ready() else State.STARTING
    return ComponentStatus(managed.name, state, component.endpoint, pid, managed.log_file)


def _why(component: Component) -> str:
    """Why a process is gone: its exit status when we saw it, the last error line of its log, the log path."""
    managed = component.managed
    pid = read_pid(managed.pid_file)
    code = None if pid is None else exit_code(pid)
    parts = []
    if code is not None:
        parts.append(f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}")
    error = last_error_line(managed.log_file)
    parts.append(f"last error: {error}" if error else "no error in its log")
    parts.append(f"log: {managed.log_file}")
    return "; ".join(parts)


def _mode(secure: bool) -> str:
    return "secure (--secure)" if secure else "plain"


def _shape(brokers: int, registry: bool | None) -> str:
    text = f"{brokers} broker" + ("s" if brokers > 1 else "")
    if registry is None:
        return text
    return text + (" and the registry" if registry else " and no registry")
