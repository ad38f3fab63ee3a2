"""Facts about the machine a benchmark ran on, and how busy it was."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("aiokafka", "fastavro", "avro", "pydantic", "fastapi", "uvicorn", "httpx")


def host_name() -> str:
    """The short host name, safe for a file name."""
    name = socket.gethostname().split(".")[0] or "host"
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def cpu_model() -> str:
    """The CPU model from ``/proc/cpuinfo`` (Linux), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (empty where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def tool_version(command: list[str]) -> str | None:
    """The first line a tool prints about its version, or None if it is missing."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0].strip() if text else None


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def source_commit(root: Path) -> dict[str, Any]:
    """The commit the measured code is at, and whether the tree had changes not committed (``git``)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": git("rev-parse", "HEAD"),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": None if status is None else bool(status),
    }


def machine_facts(*, java: str, kafka: dict[str, Any]) -> dict[str, Any]:
    """Cores, CPU, memory, OS, Python and library versions, which code runs in C, Java, and the Kafka the run
    used."""
    from bus import avro_writer
    from bus.signing import tree

    return {
        "host": host_name(),
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": memory_gib(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "packages": package_versions(),
        "signing_hashes": tree.HASHING,
        "avro_writer": avro_writer.WRITER,
        "java": tool_version([java, "-version"]),
        "wrk": tool_version(["wrk", "--version"]),
        "kafka": kafka,
        "load_average_at_start": load_average(),
    }
