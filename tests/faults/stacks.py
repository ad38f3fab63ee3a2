"""The stacks and settings of the fault tests (the fixtures that use them live in ``conftest.py``).

:class:`FaultStack` is a private stack the tests may break; :func:`launched` starts one with the ``lgsp dev``
launcher on free ports in a temporary state directory; :func:`fault_settings` gives each test its own topic
prefix, consumer group and store.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bus.errors import DevStackError
from bus.events import EVENT_TYPES
from bus.registry import SchemaRegistryClient, register_schemas
from bus.settings import RegistrySettings, Settings
from lgsp.devstack import DevStack
from lgsp.devstack.components import RegistryComponent
from lgsp.devstack.processes import send_signal
from tests.stack import dev_settings_for_tests


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


async def register_all(registry_url: str) -> None:
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
