"""A local PostgreSQL for the view store: Debian's server binaries, one cluster initdb'd into the state dir.

``lgsp dev up --postgres`` and the tests' session fixture both use :class:`PostgresServer`::

    server = PostgresServer(settings.dev)
    url = server.up()        # "postgresql://lgsp@127.0.0.1:5432/lgsp", the value for LGSP_STORE__URL
    server.restart()         # the fault tests' "PostgreSQL restarted mid-build"
    server.down()

The cluster lives in ``<state_dir>/postgres/data`` (log beside it), listens on ``settings.host`` only (TCP,
no Unix socket) at ``settings.postgres_port`` (5432 by default; 0: a free port, kept across restarts), with
``trust`` authentication for the one superuser ``lgsp`` — a development server on loopback, like the
PLAINTEXT Kafka beside it. ``pg_ctl`` owns the pid file (``postmaster.pid``), so ``down`` stops exactly the
server of this state directory.

PostgreSQL refuses to run as root. Run by root (CI here), the server runs as the unprivileged user
``nobody`` instead (no account is created): its directory is handed to ``nobody``, and when ``nobody`` cannot
reach the state directory (``/root`` is private) the cluster goes to ``/var/tmp/lgsp-postgres/<hash of the
state dir>`` instead, named in ``<state_dir>/postgres/cluster-dir``.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bus.errors import DevStackError
from bus.settings import DevSettings
from lgsp.devstack.ports import PortUse, check_free, free_port, port_in_use
from lgsp.devstack.status import ComponentStatus, State

BIN_GLOB = "/usr/lib/postgresql/*/bin"
"""Where Debian's ``postgresql-NN`` packages put ``initdb`` and ``pg_ctl`` (not on PATH)."""
ROLE = "lgsp"
DATABASE = "lgsp"
ROOT_RUNS_AS = "nobody"
_SHARED_ROOT = Path("/var/tmp/lgsp-postgres")  # noqa: S108  # root-owned 0711, one 0700 dir per cluster
_PORT_FILE = "port"
_POINTER_FILE = "cluster-dir"
_CMD_TIMEOUT_S = 60.0


def find_bin_dir(pattern: str = BIN_GLOB) -> Path:
    """The newest PostgreSQL server binaries (the directory holding ``initdb`` and ``pg_ctl``)."""
    found = [
        Path(p) for p in glob.glob(pattern) if (Path(p) / "initdb").exists() and (Path(p) / "pg_ctl").exists()
    ]
    if not found:
        raise DevStackError(
            f"no PostgreSQL server binaries in {pattern}: install Debian's package "
            "(`apt-get install postgresql`, listed in scripts/system_deps.sh)"
        )
    return max(found, key=lambda path: _version_key(path.parent.name))


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit()) or (0,)


@dataclass(frozen=True)
class RunAs:
    """The account the server's processes run as (None: this process's own)."""

    uid: int
    gid: int
    name: str

    @classmethod
    def for_current_user(cls) -> RunAs | None:
        if os.geteuid() != 0:
            return None
        entry = pwd.getpwnam(ROOT_RUNS_AS)
        return cls(entry.pw_uid, entry.pw_gid, entry.pw_name)


class PostgresServer:
    """The PostgreSQL of one state directory."""

    def __init__(self, settings: DevSettings, *, extra_settings: dict[str, str] | None = None) -> None:
        self.settings = settings
        self._home = settings.state_dir / "postgres"
        self._run_as = RunAs.for_current_user()
        self._extra = extra_settings or {}

    # -- where things are ---------------------------------------------------------------------------------

    @property
    def cluster_dir(self) -> Path:
        """The directory holding ``data/`` and the server log (owned by the account the server runs as)."""
        pointer = self._home / _POINTER_FILE
        if pointer.exists():
            return Path(pointer.read_text(encoding="utf-8").strip())
        return self._home

    @property
    def data_dir(self) -> Path:
        return self.cluster_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.cluster_dir / "postgres.log"

    @property
    def port(self) -> int | None:
        """The port of the last ``up`` (None before the first)."""
        try:
            return int((self._home / _PORT_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    @property
    def url(self) -> str:
        """``LGSP_STORE__URL`` for this server's database."""
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        port = self.port
        if port is None:
            raise DevStackError(f"no PostgreSQL was started in {self.settings.state_dir}")
        return f"postgresql://{ROLE}@{self.settings.host}:{port}/{database}"

    # -- lifecycle ----------------------------------------------------------------------------------------

    def up(self, *, timeout_s: float | None = None) -> str:
        """Create the cluster on first use, start it unless running, make the database; return the URL."""
        if not self.running():
            port = self._choose_port()  # before initdb: a port in use must leave nothing behind
            self._home.mkdir(parents=True, exist_ok=True)
            if not (self.data_dir / "PG_VERSION").exists():
                self._init_cluster()
            (self._home / _PORT_FILE).write_text(f"{port}\n", encoding="utf-8")
            self._start(port, timeout_s or self.settings.start_timeout_s)
        self.create_database(DATABASE)
        return self.url

    def down(self, *, purge: bool = False) -> bool:
        """Stop the server (fast shutdown: open transactions roll back); True if one was running."""
        was_running = self.running()
        if was_running:
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", str(int(self.settings.stop_timeout_s)))
        if purge:
            cluster = self.cluster_dir
            shutil.rmtree(self._home, ignore_errors=True)
            if cluster != self._home:
                shutil.rmtree(cluster, ignore_errors=True)
        return was_running

    def restart(self, *, mode: str = "fast") -> None:
        """Stop (``fast`` or ``immediate``: a crash) and start again on the same port."""
        self._pg_ctl("stop", "-m", mode, "-w", "-t", str(int(self.settings.stop_timeout_s)))
        port = self.port
        if port is None:
            raise DevStackError("restart before up")
        self._start(port, self.settings.start_timeout_s)

    def stop(self, *, mode: str = "fast") -> None:
        """Stop without forgetting the port (a later :meth:`start` reuses it)."""
        self._pg_ctl("stop", "-m", mode, "-w", "-t", str(int(self.settings.stop_timeout_s)))

    def start(self) -> None:
        port = self.port
        if port is None:
            raise DevStackError("start before up")
        self._start(port, self.settings.start_timeout_s)

    def status(self) -> ComponentStatus | None:
        """``postgres`` as ready or not running; None when ``up`` never ran in this state dir."""
        port = self.port
        if port is None:
            return None
        ready = self.running()
        return ComponentStatus(
            name="postgres",
            state=State.READY if ready else State.NOT_RUNNING,
            endpoint=f"{self.settings.host}:{port}",
            pid=self._pid() if ready else None,
            log_file=self.log_file,
        )

    def _pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()[0])
        return None

    def running(self) -> bool:
        """Whether ``pg_ctl status`` finds this cluster's server alive."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        result = self._run([str(self._bin("pg_ctl")), "status", "-D", str(self.data_dir)], check=False)
        return result.returncode == 0

    def create_database(self, name: str) -> None:
        """``CREATE DATABASE name`` unless it exists (names come from code or tests, never from input)."""
        import psycopg

        with psycopg.connect(self.url_for("postgres"), autocommit=True, connect_timeout=10) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if found is None:
                conn.execute(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url_for("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- internals ----------------------------------------------------------------------------------------

    def _init_cluster(self) -> None:
        cluster = self._prepare_cluster_dir()
        self._run(
            [
                str(self._bin("initdb")), "-D", str(cluster / "data"), f"--username={ROLE}", "--auth=trust",
                "--encoding=UTF8", "--locale=C",  # byte order of text, as SQLite sorts it
            ],
        )  # fmt: skip

    def _prepare_cluster_dir(self) -> Path:
        """The directory for ``data/`` and the log, writable by the server's account."""
        run_as = self._run_as
        if run_as is None:
            return self._home
        cluster = self._home
        if not _reachable(self._home, run_as):
            digest = hashlib.sha256(str(self.settings.state_dir.resolve()).encode()).hexdigest()[:16]
            _SHARED_ROOT.mkdir(mode=0o711, parents=True, exist_ok=True)
            cluster = _SHARED_ROOT / digest
            if cluster.exists():  # a cluster left by an earlier state dir of the same path
                shutil.rmtree(cluster)
            cluster.mkdir(mode=0o700)
            (self._home / _POINTER_FILE).write_text(f"{cluster}\n", encoding="utf-8")
        os.chown(cluster, run_as.uid, run_as.gid)
        return cluster

    def _choose_port(self) -> int:
        host = self.settings.host
        configured = self.settings.postgres_port
        if configured == 0:
            previous = self.port
            return previous if previous is not None and not port_in_use(host, previous) else free_port(host)
        check_free(host, [PortUse(configured, "postgres", "postgres_port")])
        return configured

    def _start(self, port: int, timeout_s: float) -> None:
        options = {
            "listen_addresses": self.settings.host,
            "port": str(port),
            "unix_socket_directories": "''",
            **self._extra,
        }
        flags = " ".join(f"-c {name}={value}" for name, value in options.items())
        result = self._run(
            [
                str(self._bin("pg_ctl")), "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                "-w", "-t", str(int(timeout_s)), "-o", flags,
            ],
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise DevStackError(f"PostgreSQL did not start: {result.stdout.strip()} {self._last_log_line()}")

    def _pg_ctl(self, *args: str) -> None:
        self._run([str(self._bin("pg_ctl")), *args[:1], "-D", str(self.data_dir), *args[1:]])

    def _bin(self, name: str) -> Path:
        return find_bin_dir() / name

    def _run(self, command: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        run_as = self._run_as
        try:
            result = subprocess.run(
                command,
                check=False,
                capture_output=True,
                text=True,
                timeout=_CMD_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
                cwd="/",  # the account may not be able to enter our working directory
                user=run_as.uid if run_as else None,
                group=run_as.gid if run_as else None,
                extra_groups=[] if run_as else None,
                start_new_session=True,  # a Ctrl-C in the terminal must not reach the server
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DevStackError(f"{Path(command[0]).name} failed: {exc}") from exc
        if check and result.returncode != 0:
            raise DevStackError(
                f"{Path(command[0]).name} {command[1] if len(command) > 1 else ''} failed "
                f"(exit {result.returncode}): {(result.stderr or result.stdout).strip()}"
            )
        return result

    def _last_log_line(self) -> str:
        with contextlib.suppress(OSError):
            lines = [line for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
            if lines:
                return f"(log {self.log_file}: {lines[-1]})"
        return f"(log {self.log_file})"


def _reachable(path: Path, run_as: RunAs) -> bool:
    """Whether ``run_as`` may traverse every directory above ``path`` (the "x" bit that applies to it)."""
    for parent in path.resolve().parents:
        info = parent.stat()
        if info.st_uid == run_as.uid:
            bit = stat.S_IXUSR
        elif info.st_gid == run_as.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True
