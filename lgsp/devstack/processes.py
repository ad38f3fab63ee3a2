"""Managed JVM processes: start detached with a pid file and a log, recognise them, stop them.

A process is ours only if ``/proc/<pid>/cmdline`` carries the marker argument
``-Dlgsp.devstack=<state>/<name>`` that we started it with, so a stale pid file never leads to killing
someone else's java (or a reused pid).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bus.errors import DevStackError

_POLL_S = 0.1
_EXEC_TIMEOUT_S = 10.0
_TAIL_BYTES = 256 * 1024
_ERROR_RE = re.compile(r"\b(ERROR|FATAL|SEVERE)\b|Exception\b|Error\b|Caused by:")
_STACK_FRAME_RE = re.compile(r"^\s+(at |\.\.\. \d+ more)")

# Children started by this Python process, kept so they can be reaped (no zombies, no ResourceWarning) and
# so their exit status can be reported.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_EXIT_CODES: dict[int, int] = {}


@dataclass(frozen=True)
class Managed:
    """One process the launcher runs: its name, working directory, pid file, log file and marker."""

    name: str
    directory: Path
    marker: str

    @property
    def pid_file(self) -> Path:
        return self.directory / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.name}.log"


def marker_for(state_dir: Path, name: str) -> str:
    return f"-Dlgsp.devstack={state_dir.resolve() / name}"


def spawn(managed: Managed, command: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """Start ``command`` in its own session, output to the (rotated) log file; write and return the pid.

    ``env``: variables added to ours (secrets go there, never on a command line that ``ps`` shows).
    """
    managed.directory.mkdir(parents=True, exist_ok=True)
    if managed.log_file.exists():
        managed.log_file.replace(managed.log_file.with_name(managed.log_file.name + ".1"))
    with managed.log_file.open("ab") as log:
        try:
            proc = subprocess.Popen(
                list(command),
                cwd=managed.directory,
                env=None if not env else {**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal must not reach the servers
            )
        except OSError as exc:
            raise DevStackError(f"cannot start {managed.name}: {exc}") from exc
    _CHILDREN[proc.pid] = proc
    managed.pid_file.write_text(f"{proc.pid}\n", encoding="utf-8")
    _wait_exec(proc.pid, managed.marker)
    return proc.pid


def _wait_exec(pid: int, marker: str) -> None:
    """Wait until the new process shows its own command line (the java launcher may still be exec'ing)."""
    deadline = time.monotonic() + _EXEC_TIMEOUT_S
    while not is_ours(pid, marker) and not is_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.01)


def read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def is_ours(pid: int, marker: str) -> bool:
    """Whether ``pid`` runs and was started by us with ``marker``.

    A process that is exiting or a zombie has an empty cmdline, so it no longer counts as ours.
    """
    _reap(pid)
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return marker.encode() in args


def is_gone(pid: int) -> bool:
    """Whether ``pid`` has fully exited, every thread of it, so its ports and files are released.

    A JVM's main thread shows as a zombie while its other threads are still exiting, so a zombie counts as
    gone only once it has no other task left (for our own children: once it could be reaped).
    """
    _reap(pid)
    if pid in _CHILDREN:
        return False
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text(encoding="ascii", errors="replace").rpartition(")")[2].split()[:1]
        tasks = len(list((proc / "task").iterdir()))
    except OSError:
        return True
    return state in (["Z"], ["X"]) and tasks <= 1


def running_pid(managed: Managed) -> int | None:
    """The pid from ``managed``'s pid file if that process is alive and ours."""
    pid = read_pid(managed.pid_file)
    return pid if pid is not None and is_ours(pid, managed.marker) else None


def exit_code(pid: int) -> int | None:
    """The exit status of a child this Python process started and saw exit (negative: killed by a signal)."""
    _reap(pid)
    return _EXIT_CODES.get(pid)


def send_signal(managed: Managed, sig: signal.Signals) -> int:
    """Signal ``managed``'s process; DevStackError if it is not running."""
    pid = running_pid(managed)
    if pid is None:
        raise DevStackError(f"{managed.name} is not running (pid file {managed.pid_file})")
    os.kill(pid, sig)
    return pid


def stop_all(targets: Sequence[Managed], timeout_s: float) -> list[str]:
    """SIGTERM every running target, SIGKILL those still alive after ``timeout_s``; remove all pid files.

    All get SIGTERM at once: KRaft nodes that lose their quorum one by one would wait on each other.
    Returns the names of the processes that were running.
    """
    running: dict[str, tuple[int, Managed]] = {}
    for managed in targets:
        pid = running_pid(managed)
        if pid is not None:
            running[managed.name] = (pid, managed)
            _signal(pid, signal.SIGTERM)
    alive = _wait_gone(running.values(), timeout_s)
    for pid, _ in alive:
        _signal(pid, signal.SIGKILL)
    still = _wait_gone(alive, 10.0)
    if still:
        names = ", ".join(m.name for _, m in still)
        raise DevStackError(f"{names} did not exit even after SIGKILL")
    for managed in targets:
        managed.pid_file.unlink(missing_ok=True)
    return list(running)


def last_error_line(log_file: Path) -> str | None:
    """The last line of ``log_file`` that reports an error (stack frames skipped), or None."""
    try:
        with log_file.open("rb") as handle:
            handle.seek(max(0, log_file.stat().st_size - _TAIL_BYTES))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        if _ERROR_RE.search(line) and not _STACK_FRAME_RE.match(line):
            return line.strip()
    return None


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait (polling) until ``pid`` has fully exited; whether it did within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not is_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S / 2)
    return True


def _wait_gone(procs: Iterable[tuple[int, Managed]], timeout_s: float) -> list[tuple[int, Managed]]:
    pending = list(procs)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        pending = [(pid, m) for pid, m in pending if not is_gone(pid)]
    return pending


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _EXIT_CODES[pid] = child.returncode
        del _CHILDREN[pid]
