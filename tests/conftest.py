"""Session-wide fixtures: one real Kafka broker and one real schema registry per test session; one real
PostgreSQL for the tests that use it.

Set ``LGSP_KAFKA__BOOTSTRAP_SERVERS`` and ``LGSP_REGISTRY__URL`` to reuse a running stack; otherwise the
``lgsp dev`` launcher starts both on free ports chosen by the OS, in a temporary state directory. Likewise
``LGSP_TEST_POSTGRES_URL`` names a PostgreSQL to reuse (see ``tests/pg.py``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from bus.settings import Settings

# Signatures (#12): the views require them by default, but the wave-1 tests publish unsigned records with
# per-test topic prefixes and no keyring. Until every stack creates keys, the suite turns the requirement
# off for itself and its child processes; the tests of signing turn it back on (tests/integration/
# test_signed_views.py, tests/e2e/test_demo.py signs for real). Tracked in the #12 note.
os.environ.setdefault("LGSP_VIEWS__REQUIRE_SIGNATURES", "false")

if TYPE_CHECKING:
    from tests.pg import PostgresForTests
    from tests.stack import SecureStack


@dataclass(frozen=True)
class StackEndpoints:
    bootstrap_servers: str
    registry_url: str


@pytest.fixture(scope="session")
def stack() -> Iterator[StackEndpoints]:
    """The real broker and registry, started once per session (or reused from the environment)."""
    bootstrap = os.environ.get("LGSP_KAFKA__BOOTSTRAP_SERVERS")
    registry = os.environ.get("LGSP_REGISTRY__URL")
    if bootstrap and registry:
        yield StackEndpoints(bootstrap, registry)
        return
    from tests.stack import started_test_stack  # the launcher, only when no stack is given

    with started_test_stack() as endpoints:
        yield StackEndpoints(endpoints.bootstrap_servers, endpoints.registry_url)


@pytest.fixture(scope="session")
def secure_stack() -> Iterator[SecureStack]:
    """One ``lgsp dev up --secure`` broker and its write-protected registry per session."""
    from tests.stack import started_secure_stack

    with started_secure_stack() as secure:
        yield secure


@pytest.fixture
def settings(stack: StackEndpoints) -> Settings:
    """Settings pointing at the session's stack."""
    return Settings.model_validate(
        {"kafka": {"bootstrap_servers": stack.bootstrap_servers}, "registry": {"url": stack.registry_url}}
    )


@pytest.fixture
def topic_prefix() -> str:
    """A prefix unique to this test, so each test uses its own topic names."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresForTests]:
    """A real PostgreSQL, started once per session (or reused from ``LGSP_TEST_POSTGRES_URL``)."""
    from tests.pg import session_postgres  # psycopg and the launcher, only for tests that need them

    with session_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresForTests) -> Iterator[str]:
    """A new database of its own for this test on the session's PostgreSQL; dropped afterwards."""
    url = postgres.new_database()
    yield url
    postgres.drop_database(url)
