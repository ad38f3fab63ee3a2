"""The launcher path of the session fixture: a private stack on OS-chosen free ports in a temporary state dir.

The jar cache (``settings.dev.cache_dir``) is shared with every other run, so only the first run on a machine
downloads anything. Everything started here is stopped, and the state directory removed, on exit.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bus.errors import DevStackError
from bus.settings import DevSettings, KafkaSettings, Settings
from lgsp.devstack import DevStack


@dataclass(frozen=True)
class LaunchedStack:
    """Endpoints of a stack started for tests, and the launcher that runs it (for restarts and kills)."""

    bootstrap_servers: str
    registry_url: str
    launcher: DevStack


def dev_settings_for_tests(state_dir: Path, **overrides: object) -> DevSettings:
    """Dev settings from the environment (cache dir, java, mvn) with free ports and ``state_dir``."""
    base = Settings().dev.model_dump()
    ports = {"kafka_port": 0, "controller_port": 0, "registry_port": 0}
    return DevSettings.model_validate({**base, **ports, "state_dir": state_dir, **overrides})


@contextmanager
def started_test_stack(*, brokers: int = 1) -> Iterator[LaunchedStack]:
    """Kafka (``brokers`` nodes) and the registry, ready; stopped and deleted when the block ends."""
    state_dir = Path(tempfile.mkdtemp(prefix="lgsp-test-stack-"))
    launcher = DevStack(dev_settings_for_tests(state_dir))
    try:
        launcher.up(brokers=brokers)
        endpoints = launcher.endpoints
        if endpoints.registry_url is None:
            raise DevStackError("the test stack started without its registry")
        yield LaunchedStack(endpoints.bootstrap_servers, endpoints.registry_url, launcher)
    finally:
        launcher.down()
        shutil.rmtree(state_dir, ignore_errors=True)


@dataclass(frozen=True)
class SecureStack:
    """A ``--secure`` stack for tests: the admin's connection (SASL_SSL, super user) and the launcher."""

    admin: KafkaSettings
    launcher: DevStack


@contextmanager
def started_secure_stack(*, brokers: int = 1, registry: bool = True) -> Iterator[SecureStack]:
    """SASL_SSL + SCRAM + ACLs (``lgsp dev up --secure``), ready; stopped and deleted when the block ends."""
    state_dir = Path(tempfile.mkdtemp(prefix="lgsp-test-secure-"))
    launcher = DevStack(dev_settings_for_tests(state_dir, kafka_heap="512m"))
    try:
        launcher.up(brokers=brokers, registry=registry, secure=True)
        yield SecureStack(launcher.admin_settings(), launcher)
    finally:
        launcher.down()
        shutil.rmtree(state_dir, ignore_errors=True)
