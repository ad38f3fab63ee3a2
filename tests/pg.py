"""PostgreSQL for tests: the ``lgsp dev up --postgres`` launcher on a free port in a temporary state dir, or
a server named by ``LGSP_TEST_POSTGRES_URL`` (a superuser URL; tests create and drop their own databases).

Each test gets a database of its own (:meth:`PostgresForTests.new_database`), so tests never see each
other's view sets or offsets.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from lgsp.devstack.postgres import PostgresServer
from tests.stack import dev_settings_for_tests

REUSE_ENV = "LGSP_TEST_POSTGRES_URL"
TEST_SERVER_SETTINGS = {"fsync": "off", "full_page_writes": "off", "max_connections": "200"}
"""Durability is not under test (the OS does not crash in a test run); speed is welcome."""


@dataclass(frozen=True)
class PostgresForTests:
    """A server where tests make databases; ``server`` is the launcher (None when reused from the env)."""

    url: str
    server: PostgresServer | None

    def url_for(self, database: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def new_database(self, prefix: str = "t") -> str:
        """A new, empty database; its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def started_test_postgres(**settings: str) -> Iterator[PostgresForTests]:
    """A private PostgreSQL on a free port; stopped and deleted when the block ends."""
    state_dir = Path(tempfile.mkdtemp(prefix="lgsp-test-pg-"))
    state_dir.chmod(0o711)  # run by root, the server runs as `nobody`, which must reach its directory
    server = PostgresServer(
        dev_settings_for_tests(state_dir, postgres_port=0),
        extra_settings={**TEST_SERVER_SETTINGS, **settings},
    )
    try:
        server.up()
        yield PostgresForTests(server.url, server)
    finally:
        server.down(purge=True)
        shutil.rmtree(state_dir, ignore_errors=True)


@contextmanager
def session_postgres() -> Iterator[PostgresForTests]:
    """The server named by ``LGSP_TEST_POSTGRES_URL``, or a private one."""
    url = os.environ.get(REUSE_ENV)
    if url:
        yield PostgresForTests(url, None)
        return
    with started_test_postgres() as started:
        yield started
