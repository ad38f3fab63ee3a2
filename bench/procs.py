"""Child processes of a benchmark: the ``lgsp`` servers under test and the workers that measure.

Each child gets its settings through ``LGSP_*`` variables (the bus's only configuration channel), writes its
output to a log file in the run's work directory, and is stopped by its own pid (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import compileall
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bus.errors import LgspError
from bus.kafka_client import kafka_environment
from bus.settings import Settings

_POLL_S = 0.1


class BenchError(LgspError):
    """A benchmark could not run (a server did not start, a worker failed, a tool is missing)."""


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for a child process: ours, with ``settings``' endpoints and topic prefix, plus
    ``extra`` (``STORE__URL="..."`` becomes ``LGSP_STORE__URL``)."""
    env = dict(os.environ)
    env.update(kafka_environment(settings.kafka))
    env["LGSP_REGISTRY__URL"] = settings.registry.url
    env["LGSP_TOPICS__PREFIX"] = settings.topics.prefix
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in extra.items():
        env[f"LGSP_{key}"] = value
    return env


PACKAGES = ("bus", "producers", "consumers", "lgsp", "bench")
"""The project's packages: what its child processes import."""


def compile_bytecode() -> bool:
    """Write each package's bytecode cache, as installing a wheel does; True if every file compiled.

    With ``PYTHONDONTWRITEBYTECODE`` set (CI and many containers set it), an editable checkout keeps none,
    and every child process compiles the bus's modules from source before its first line of work: about
    60 ms of ``lgsp publish``'s start-up here, a cost no installed ``lgsp`` pays. ``compileall`` writes the
    cache whatever that variable says, and skips files whose cache is current."""
    compiled = True
    for package in PACKAGES:
        for directory in importlib.import_module(package).__path__:
            compiled &= bool(compileall.compile_dir(directory, quiet=2))
    return compiled


def lgsp_command(*args: str) -> list[str]:
    """``lgsp ARGS`` through this interpreter (works without the console script on PATH)."""
    return [sys.executable, "-c", "from lgsp.cli import main; main()", *args]


def module_command(module: str, *args: str) -> list[str]:
    """``python -m MODULE ARGS`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


@dataclass
class Child:
    """A running child process and its log."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM, wait, then SIGKILL; the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        return self.process.returncode

    def wait(self, timeout_s: float) -> int:
        """Wait for a normal exit; BenchError (with the log's tail) on timeout or a non-zero exit."""
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            self.stop()
            raise BenchError(
                f"{self.name} did not finish within {timeout_s:.0f} s:\n{self.log_tail()}"
            ) from exc
        if code != 0:
            raise BenchError(f"{self.name} exited with {code}:\n{self.log_tail()}")
        return code


def spawn(name: str, command: Sequence[str], env: Mapping[str, str], log_dir: Path) -> Child:
    """Start ``command`` with stdout and stderr in ``log_dir/<name>.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command), env=dict(env), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return Child(name, process, log_path)


def wait_http_ready(child: Child, url: str, timeout_s: float = 60.0, *, status: int = 200) -> None:
    """Poll ``url`` until it answers ``status``; BenchError if the child exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not child.alive():
                raise BenchError(f"{child.name} exited while starting:\n{child.log_tail()}")
            try:
                response = client.get(url)
                if response.status_code == status:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(_POLL_S)
    child.stop()
    raise BenchError(f"{child.name} not ready at {url} after {timeout_s:.0f} s ({last}):\n{child.log_tail()}")


def run_worker(
    name: str, command: Sequence[str], env: Mapping[str, str], log_dir: Path, timeout_s: float
) -> dict[str, Any]:
    """Run a measuring worker that prints its result as a JSON object on its last such line."""
    child = spawn(name, command, env, log_dir)
    child.wait(timeout_s)
    lines = [line for line in child.log_path.read_text(encoding="utf-8").splitlines() if line.startswith("{")]
    if not lines:
        raise BenchError(f"{name} printed no result:\n{child.log_tail()}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
