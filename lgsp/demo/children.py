"""The demo's child processes: ``lgsp views run``, ``lgsp views serve`` and ``lgsp ingress``.

Each runs in its own session, so a Ctrl-C in the terminal reaches only the demo, which then stops them; its
output goes to ``<home>/<name>.log`` and its pid to ``<home>/<name>.pid``. A process counts as the demo's
only while its command line carries the marker ``-X lgsp-demo=<home>/<name>`` (CPython keeps unknown ``-X``
options and ignores them), so a stale pid file never leads to signalling someone else's process: the rule of
:mod:`lgsp.devstack.processes`, whose helpers stop them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from bus.errors import DevStackError
from lgsp.devstack.processes import Managed, running_pid, stop_all

CHILD_NAMES: Final = ("views-run", "views-serve", "ingress")
STOP_TIMEOUT_S: Final = 20.0
_POLL_S: Final = 0.2
_LOG_TAIL_LINES: Final = 15


@dataclass(frozen=True)
class ChildSpec:
    """One process to start: name, what it is (for messages), ``lgsp`` arguments, readiness URL."""

    name: str
    what: str
    args: tuple[str, ...]
    ready_url: str


@dataclass
class Child:
    """A started child process."""

    spec: ChildSpec
    managed: Managed
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> int | None:
        """Its exit status once it has exited, else None."""
        return self.process.poll()

    def failure(self) -> str:
        """Why it is gone: exit status and the end of its log."""
        return (
            f"{self.spec.what} exited with status {self.process.returncode}; "
            f"the end of {self.managed.log_file}:\n{log_tail(self.managed.log_file)}"
        )


def managed(home: Path, name: str) -> Managed:
    """The pid file, log file and command-line marker of the child ``name``."""
    return Managed(name, home, f"lgsp-demo={home / name}")


def lgsp_command(marker: str, args: Sequence[str]) -> list[str]:
    """``lgsp ARGS`` run by this interpreter, carrying ``marker``."""
    script = Path(sys.executable).parent / "lgsp"
    if script.is_file():
        return [sys.executable, "-X", marker, str(script), *args]
    return [sys.executable, "-X", marker, "-c", "from lgsp.cli import main; main()", *args]


def spawn(spec: ChildSpec, home: Path, env: Mapping[str, str]) -> Child:
    """Start ``spec`` in its own session with ``env``; output to its (rotated) log, pid to its pid file."""
    target = managed(home, spec.name)
    home.mkdir(parents=True, exist_ok=True)
    if target.log_file.exists():
        target.log_file.replace(target.log_file.with_name(target.log_file.name + ".1"))
    with target.log_file.open("ab") as log:
        try:
            process = subprocess.Popen(
                lgsp_command(target.marker, spec.args),
                cwd=home,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise DevStackError(f"cannot start {spec.what}: {exc}") from exc
    target.pid_file.write_text(f"{process.pid}\n", encoding="utf-8")
    return Child(spec, target, process)


def wait_ready(children: Sequence[Child], timeout_s: float) -> None:
    """Poll each child's readiness URL until it answers 200; fail when one exits, or at the timeout."""
    pending = list(children)
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for child in pending:
                if child.exited() is not None:
                    raise DevStackError(child.failure())
            pending = [child for child in pending if not _answers(client, child.spec.ready_url)]
            if not pending:
                return
            if time.monotonic() > deadline:
                waiting = "; ".join(
                    f"{c.spec.what} ({c.spec.ready_url}, log {c.managed.log_file})" for c in pending
                )
                raise DevStackError(f"not ready after {timeout_s:.0f} s: {waiting}")
            time.sleep(_POLL_S)


def _answers(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def running(home: Path) -> dict[str, int]:
    """The demo children that run from ``home`` right now, by name."""
    found = {name: running_pid(managed(home, name)) for name in CHILD_NAMES}
    return {name: pid for name, pid in found.items() if pid is not None}


def stop(home: Path, children: Sequence[Child] = ()) -> list[str]:
    """Stop every demo child running from ``home`` (SIGTERM, SIGKILL after a while); the names stopped.

    ``children`` started by this process are reaped afterwards, so none is left a zombie.
    """
    stopped = stop_all([managed(home, name) for name in CHILD_NAMES], STOP_TIMEOUT_S)
    for child in children:
        try:
            child.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # pragma: no cover - stop_all has SIGKILLed it
            child.process.kill()
            child.process.wait()
    return stopped


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log, indented (empty when it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(f"    {line}" for line in text.splitlines()[-lines:])
