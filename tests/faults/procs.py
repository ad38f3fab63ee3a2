"""Real processes for the fault tests: ``lgsp views run`` and ``lgsp ingress``, started from settings.

Each process gets its settings through ``LGSP_*`` environment variables (as an operator would set them), runs
in its own working directory, and has its output read line by line into memory (and a log file), so a test
can wait for a log line (``wait_for_line``) the way it would poll any other readiness signal.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, Self

from bus.settings import Settings

LGSP: Final = Path(sys.executable).parent / "lgsp"
_POLL_S: Final = 0.05


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that gives a child process ``settings`` (the parts the fault tests vary)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LGSP_")}
    env.update(
        {
            "LGSP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "LGSP_REGISTRY__URL": settings.registry.url,
            "LGSP_REGISTRY__AUTO_REGISTER": str(settings.registry.auto_register).lower(),
            "LGSP_TOPICS__PREFIX": settings.topics.prefix,
            "LGSP_STORE__URL": settings.store.url,
            "LGSP_VIEWS__GROUP_ID": settings.views.group_id,
            "LGSP_VIEWS__MAX_BATCH_RECORDS": str(settings.views.max_batch_records),
            "LGSP_VIEWS__REQUIRE_SIGNATURES": str(settings.views.require_signatures).lower(),
            "LGSP_PRODUCER__DELIVERY_TIMEOUT_S": str(settings.producer.delivery_timeout_s),
            "LGSP_INGRESS__API_KEYS_FILE": str(settings.ingress.api_keys_file),
            "LGSP_INGRESS__MAX_IN_FLIGHT": str(settings.ingress.max_in_flight),
            "LGSP_INGRESS__MAX_IN_FLIGHT_PER_KEY": str(settings.ingress.max_in_flight_per_key),
            "LGSP_INGRESS__RATE_PER_KEY": str(settings.ingress.rate_per_key),
            "LGSP_INGRESS__BURST_PER_KEY": str(settings.ingress.burst_per_key),
            "LGSP_INGRESS__RETRY_AFTER_S": str(settings.ingress.retry_after_s),
            "LGSP_INGRESS__MAX_BODY_BYTES": str(settings.ingress.max_body_bytes),
            "LGSP_INGRESS__MAX_BATCH_EVENTS": str(settings.ingress.max_batch_events),
        }
    )
    env.update(extra)
    return env


class Child:
    """A child process whose merged stdout/stderr is collected line by line."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_file = workdir / f"{name}.log"
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            args,
            env=dict(env),
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._reader = threading.Thread(target=self._read, name=f"{name}-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stream = self.proc.stdout
        if stream is None:  # pragma: no cover - always a pipe here
            return
        with self.log_file.open("a", encoding="utf-8") as log:
            for raw in stream:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                log.write(line + "\n")
                log.flush()
                with self._lock:
                    self.lines.append(line)
        stream.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def count(self, pattern: str) -> int:
        """How many output lines so far match ``pattern`` (a regular expression)."""
        compiled = re.compile(pattern)
        with self._lock:
            return sum(1 for line in self.lines if compiled.search(line))

    def tail(self, lines: int = 40) -> str:
        with self._lock:
            return "\n".join(self.lines[-lines:])

    async def wait_for_line(self, pattern: str, *, timeout_s: float, at_least: int = 1) -> str:
        """The first line matching ``pattern`` once ``at_least`` lines match; AssertionError otherwise."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                found = [line for line in self.lines if compiled.search(line)]
            if len(found) >= at_least:
                return found[0]
            if not self.alive():
                await asyncio.to_thread(self._reader.join, 5)
                raise AssertionError(
                    f"{self.name} exited ({self.proc.returncode}) before {pattern!r}:\n" + self.tail()
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {pattern!r} within {timeout_s:g} s:\n" + self.tail())
            await asyncio.sleep(_POLL_S)

    async def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM (the graceful stop), then the exit status; SIGKILL if it does not exit in time."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(self.proc.wait, timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = await asyncio.to_thread(self.proc.wait, 10)
        await asyncio.to_thread(self._reader.join, 5)
        return code

    async def wait(self, timeout_s: float) -> int:
        code = await asyncio.to_thread(self.proc.wait, timeout_s)
        await asyncio.to_thread(self._reader.join, 5)
        return code

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)


class ViewsProcess(Child):
    """``lgsp views run`` (long-running, or ``--until-caught-up``) on the store named by the settings."""

    def __init__(
        self, settings: Settings, workdir: Path, *, until_caught_up: bool = False, name: str = "views"
    ) -> None:
        args = [str(LGSP), "views", "run", "--metrics-port", "0"]
        if until_caught_up:
            args.append("--until-caught-up")
        super().__init__(name, args, settings_env(settings), workdir)
        self.store = store_path(settings)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.alive():
            self.kill()


class IngressProcess(Child):
    """``lgsp ingress`` on a port the OS picks; ``url`` is known once uvicorn says where it listens."""

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        *,
        name: str = "ingress",
        env: Mapping[str, str] | None = None,
    ) -> None:
        args = [str(LGSP), "ingress", "--host", "127.0.0.1", "--port", "0"]
        super().__init__(name, args, settings_env(settings, **(env or {})), workdir)
        self.url = ""

    async def started(self, timeout_s: float = 120.0) -> str:
        line = await self.wait_for_line(r"Uvicorn running on http://", timeout_s=timeout_s)
        match = re.search(r"(http://[0-9.]+:\d+)", line)
        if match is None:
            raise AssertionError(f"no address in {line!r}")
        self.url = match.group(1)
        return self.url

    def peak_rss_bytes(self) -> int:
        """The process's peak resident set (VmHWM), from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0


def store_path(settings: Settings) -> Path:
    prefix = "sqlite:///"
    if not settings.store.url.startswith(prefix):
        raise AssertionError(f"the fault tests use SQLite stores, not {settings.store.url}")
    return Path(settings.store.url[len(prefix) :])


def store_offsets(store: Path) -> dict[tuple[str, int], int]:
    """The next offsets the view store has committed (read-only; empty before the store exists)."""
    if not store.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute("SELECT topic, partition_no, next_offset FROM consumer_offsets").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return {}
    return {(str(topic), int(part)): int(offset) for topic, part, offset in rows}


def applied(store: Path) -> int:
    """Records the store has committed (the sum of its next offsets)."""
    return sum(store_offsets(store).values())


async def wait_store_reaches(
    store: Path, ends: Mapping[tuple[str, int], int], child: Child, *, timeout_s: float
) -> None:
    """Poll until the store's offsets reach ``ends`` on every partition that has records."""
    deadline = time.monotonic() + timeout_s
    wanted = {tp: end for tp, end in ends.items() if end > 0}
    while True:
        offsets = store_offsets(store)
        behind = {tp: (offsets.get(tp, 0), end) for tp, end in wanted.items() if offsets.get(tp, 0) < end}
        if not behind:
            return
        if not child.alive():
            raise AssertionError(
                f"{child.name} exited ({child.proc.returncode}) behind {behind}:\n{child.tail()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"{child.name} still behind after {timeout_s:g} s: {behind}\n{child.tail()}")
        await asyncio.sleep(0.1)


async def wait_until(predicate: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Poll ``predicate()`` until it is true; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(_POLL_S)
