"""Fixtures of the fault tests: private stacks that the tests may break, and the end-of-run table of figures.

The shared stack (``stack`` fixture) is never stopped here. Faults that need a broker or a registry to die
get their own, started by the ``lgsp dev`` launcher on free ports in temporary state directories, once per
session and side by side: ``fault_stack`` (one broker and a registry) and ``cluster`` (three brokers, using
``fault_stack``'s registry; started only when a cluster test is selected).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from bus.errors import DevStackError
from lgsp.devstack import DevStack
from tests.faults import report
from tests.faults.stacks import FaultStack, launched, register_all
from tests.stack import SecureStack, started_secure_stack


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
    await register_all(registry_url)
    return FaultStack(launcher.endpoints.bootstrap_servers, registry_url, launcher)


@pytest.fixture(scope="session")
def cluster(_launchers: dict[str, DevStack]) -> DevStack:
    """Three KRaft nodes (broker + controller each), without a registry of their own (``fault_stack``'s)."""
    return _launchers["cluster"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if report.RECORDED:
        terminalreporter.write_sep("=", f"fault figures (also in {report.results_file()})")
        terminalreporter.write_line(report.table(report.RECORDED))


@pytest.fixture(scope="module")
def secure_cluster() -> Iterator[SecureStack]:
    """``lgsp dev up --secure --brokers 3`` with its write-protected registry; one per module, as the tests
    kill its brokers."""
    with started_secure_stack(brokers=3) as stack:
        yield stack
