"""The PostgreSQL of ``lgsp dev up --postgres``: initdb into the state dir, loopback only, the URL printed
for ``LGSP_STORE__URL``, restarts on the same port, ``down --purge`` leaves nothing. Runs as root too (the
server then runs as ``nobody``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bus.errors import ConfigError, DevStackError
from lgsp.devstack.postgres import PostgresServer, find_bin_dir
from lgsp.devstack.status import State
from tests.stack import dev_settings_for_tests

pytestmark = pytest.mark.integration


@pytest.fixture
def state_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lgsp-test-devpg-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_up_restart_down_on_loopback(state_dir: Path) -> None:
    server = PostgresServer(dev_settings_for_tests(state_dir, postgres_port=0))
    assert server.status() is None  # never started here
    try:
        url = server.up()
        assert url == f"postgresql://lgsp@127.0.0.1:{server.port}/lgsp"
        with psycopg.connect(url) as conn:
            listen = conn.execute("SHOW listen_addresses").fetchone()
            user = conn.execute("SELECT current_user").fetchone()
        assert (listen, user) == (("127.0.0.1",), ("lgsp",))
        status = server.status()
        assert status is not None
        assert status.state is State.READY
        assert status.pid
        port = server.port
        server.restart(mode="immediate")  # a crash: the same port, the same data
        assert server.port == port
        assert server.running()
        assert server.up() == url  # up on a running server only checks the database
        if os.geteuid() == 0:
            assert (server.data_dir.stat().st_uid, os.geteuid()) != (0, 0)  # not run as root
    finally:
        assert server.down(purge=True)
    assert not server.running()
    assert not (state_dir / "postgres").exists()


def test_a_configured_port_in_use_is_named(state_dir: Path) -> None:
    first = PostgresServer(dev_settings_for_tests(state_dir / "a", postgres_port=0))
    try:
        first.up()
        taken = first.port
        second = PostgresServer(dev_settings_for_tests(state_dir / "b", postgres_port=taken))
        with pytest.raises(ConfigError, match="postgres_port"):
            second.up()
        assert not second.data_dir.exists()  # refused before initdb
    finally:
        first.down(purge=True)


def test_missing_binaries_say_which_package(tmp_path: Path) -> None:
    with pytest.raises(DevStackError, match="apt-get install postgresql"):
        find_bin_dir(str(tmp_path / "*" / "bin"))
