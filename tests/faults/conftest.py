"""Fixtures of the fault tests: a dedicated stack that the tests may break, and per-test settings.

The shared stack (``stack`` fixture) is never stopped here. Faults that need a broker or a registry to die
get their own, started by the ``lgsp dev`` launcher on free ports in a temporary state directory:
``fault_stack`` (one broker and a registry, for the whole session) and :func:`cluster` (three brokers, for
one test, using ``fault_stack``'s registry). Every figure a test records is printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bus.devstack import DevStack
from bus.devstack.components import RegistryComponent
from bus.devstack.processes import send_signal
from bus.errors import DevStackError
from bus.events import EVENT_TYPES
from bus.registry import SchemaRegistryClient, register_schemas
from bus.settings import RegistrySettings, Settings
from tests.faults import report
from tests.stack import dev_settings_for_tests

_RECORDED: list[dict[str, Any]] = []


@dataclass(frozen=True)
class FaultStack:
    """A stack the test may break: its endpoints and the launcher that runs it."""

    bootstrap_servers: str
    registry_url: str
    launcher: DevStack

    def kill_registry(self) -> int:
        """SIGKILL the registry process (the launcher has no call for it; its pid file says which)."""
        layout = self.launcher.layout
        if layout is None or layout.registry_port is None:
            raise DevStackError("this stack has no registry")
        component = RegistryComponent(self.launcher.settings, layout, layout.registry_port)
        return send_signal(component.managed, signal.SIGKILL)

    def restart_missing(self) -> None:
        """Start whatever of this stack is not running (``up`` is idempotent) and wait until ready."""
        layout = self.launcher.layout
        brokers = 1 if layout is None else len(layout.nodes)
        self.launcher.up(brokers=brokers)


async def _register_all(registry_url: str) -> None:
    async with SchemaRegistryClient(RegistrySettings(url=registry_url)) as client:
        await register_schemas(client, sorted(EVENT_TYPES))


@asynccontextmanager
async def launched(*, brokers: int, registry: bool, **dev: Any) -> AsyncIterator[DevStack]:
    """A private stack from the launcher, stopped and deleted at the end."""
    state_dir = Path(tempfile.mkdtemp(prefix="lgsp-faults-"))
    launcher = DevStack(dev_settings_for_tests(state_dir, **dev))
    try:
        await asyncio.to_thread(launcher.up, brokers=brokers, registry=registry)
        yield launcher
    finally:
        await asyncio.to_thread(launcher.down)
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def _launchers(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, DevStack]]:
    """The private stacks this session needs, started side by side (each JVM waits on its own readiness)."""
    wanted = {"single": (1, True)}
    if any("test_cluster" in item.nodeid for item in request.session.items):
        wanted["cluster"] = (3, False)
    async with AsyncExitStack() as exits:
        started = await asyncio.gather(
            *(
                exits.enter_async_context(launched(brokers=n, registry=r, kafka_heap="512m"))
                for n, r in wanted.values()
            ),
            return_exceptions=True,
        )
        failed = [error for error in started if isinstance(error, BaseException)]
        if failed:
            raise failed[0]
        yield {
            name: launcher
            for name, launcher in zip(wanted, started, strict=True)
            if isinstance(launcher, DevStack)
        }


@pytest.fixture(scope="session")
async def fault_stack(_launchers: dict[str, DevStack]) -> FaultStack:
    """One broker and a registry of our own, with every schema registered (``lgsp schemas register``)."""
    launcher = _launchers["single"]
    registry_url = launcher.endpoints.registry_url
    if registry_url is None:
        raise DevStackError("the fault stack started without its registry")
    await _register_all(registry_url)
    return FaultStack(launcher.endpoints.bootstrap_servers, registry_url, launcher)


@pytest.fixture(scope="session")
def cluster(_launchers: dict[str, DevStack]) -> DevStack:
    """Three KRaft nodes (broker + controller each), without a registry of their own (``fault_stack``'s)."""
    return _launchers["cluster"]


def fault_settings(bootstrap: str, registry_url: str, workdir: Path, **sections: dict[str, Any]) -> Settings:
    """Settings for one fault test: its own topic prefix, consumer group and store in ``workdir``."""
    prefix = f"f{uuid.uuid4().hex[:10]}."
    base: dict[str, Any] = {
        "kafka": {"bootstrap_servers": bootstrap},
        "registry": {"url": registry_url},
        "topics": {"prefix": prefix, "partitions": 3},
        "store": {"url": f"sqlite:///{workdir / 'views.db'}"},
        "views": {"group_id": f"{prefix}views", "max_batch_records": 500},
        "producer": {"delivery_timeout_s": 10.0},
        "ingress": {"api_keys_file": str(workdir / "keys.json")},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return Settings.model_validate(base)


def remember(figures: report.FaultFigures) -> None:
    """Write ``figures`` to the day's results file and keep them for the end-of-run table."""
    report.record(figures)
    _RECORDED.append({k: getattr(figures, k) for k, _ in report.COLUMNS})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _RECORDED:
        terminalreporter.write_sep("=", "fault figures (also in " + str(report.results_file()) + ")")
        terminalreporter.write_line(report.table(_RECORDED))
