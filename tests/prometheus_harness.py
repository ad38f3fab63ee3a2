"""Debian's Prometheus and promtool for tests: a real server on loopback, scraping the targets a test names.

    with running_prometheus({"lgsp-ingress": ["127.0.0.1:8080"]}, tmp_path) as prom:
        prom.wait_for_targets_up()
        value = prom.wait_for_value('lgsp_events_published_total{topic="lgsp.documents"}')

The config is generated per test (scrape every second), the port comes from the OS, readiness is polled on the
server's own HTTP API (``/-/ready``), and the server is stopped (SIGTERM, then SIGKILL) when the block ends.
Without the binaries a test is skipped on a developer's machine and fails under CI (``CI`` set): the suite
must never go green by skipping them there.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
INSTALL_HINT = "run `make system-deps` (it installs Debian's prometheus package)"
POLL_S = 0.1


def require_binary(name: str) -> str:
    """The path of ``name`` (``promtool``, ``prometheus``). ``make test`` installs them first
    (scripts/system_deps.sh), so a missing one is a failure, never a skip."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH: {INSTALL_HINT}")
    return path


def run_promtool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run promtool with ``args``; the caller asserts on ``returncode`` and shows ``stdout``/``stderr``."""
    return subprocess.run(
        [require_binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the OS reports free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusError(RuntimeError):
    """The test Prometheus did not start, or did not answer as expected in time."""


@dataclass
class PrometheusServer:
    """A running Prometheus and a client for its HTTP API."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data`` (raises on a non-success answer)."""
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(f"/api/v1/{path} {params}: {response.status_code} {body}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector ``promql`` gives now: ``[{"metric": {...}, "value": [ts, "v"]}, ...]``."""
        data = self.api("query", query=promql)
        if data["resultType"] != "vector":
            raise PrometheusError(f"{promql} is a {data['resultType']}, not an instant vector")
        return list(data["result"])

    def wait_for(self, promql: str, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Poll ``promql`` until it returns at least one series (the first scrapes take a moment)."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.query(promql)
            if result:
                return result
            if time.monotonic() > deadline:
                raise PrometheusError(
                    f"{promql} returned nothing within {timeout_s:g} s; log: {self.log_tail()}"
                )
            time.sleep(POLL_S)

    def wait_for_value(self, promql: str, timeout_s: float = 30.0) -> float:
        """The value of the single series ``promql`` returns, once it returns one."""
        result = self.wait_for(promql, timeout_s)
        if len(result) != 1:
            raise PrometheusError(f"{promql} returned {len(result)} series, expected one: {result}")
        return float(result[0]["value"][1])

    def wait_for_targets_up(self, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Poll ``/api/v1/targets`` until every active target has been scraped successfully."""
        deadline = time.monotonic() + timeout_s
        while True:
            targets = list(self.api("targets")["activeTargets"])
            if targets and all(t["health"] == "up" for t in targets):
                return targets
            if time.monotonic() > deadline:
                states = [(t["scrapeUrl"], t["health"], t["lastError"]) for t in targets]
                raise PrometheusError(f"targets not all up within {timeout_s:g} s: {states}")
            time.sleep(POLL_S)

    def log_tail(self, lines: int = 20) -> str:
        return _tail(self.log, lines)


def write_config(
    path: Path,
    targets: Mapping[str, Sequence[str]],
    *,
    rule_files: Sequence[Path] = (),
    interval: str = "1s",
    alertmanager: str | None = None,
) -> Path:
    """A Prometheus config scraping ``targets`` (job name -> host:port list) every ``interval``, sending its
    alerts to ``alertmanager`` (host:port) if given."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(addresses)}]}
            for job, addresses in targets.items()
        ],
    }
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextmanager
def running_prometheus(
    targets: Mapping[str, Sequence[str]],
    workdir: Path,
    *,
    rule_files: Sequence[Path] = (),
    start_timeout_s: float = 60.0,
    interval: str = "1s",
    alertmanager: str | None = None,
) -> Iterator[PrometheusServer]:
    """Debian's ``prometheus`` on a free loopback port, scraping ``targets`` (and evaluating the rules) every
    ``interval``, ready when the block starts; alerts go to ``alertmanager`` (host:port) if given."""
    binary = require_binary("prometheus")
    config = write_config(
        workdir / "prometheus.yml",
        targets,
        rule_files=rule_files,
        interval=interval,
        alertmanager=alertmanager,
    )
    log = workdir / "prometheus.log"
    port = free_port()
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, cwd=workdir)
    server = PrometheusServer(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_ready("prometheus", server.url, process, log, start_timeout_s)
        yield server
    finally:
        stop_process(process)


def wait_ready(name: str, url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    """Poll ``url``/-/ready (Prometheus and Alertmanager both answer it) until 200; fail with the log's tail
    if the process exits or the time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise PrometheusError(f"{name} exited with {process.returncode}: {_tail(log)}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise PrometheusError(f"{name} not ready within {timeout_s:g} s: {_tail(log)}")
        time.sleep(POLL_S)


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s; nothing if it has already exited."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


_METRIC_NAME = re.compile(r"\blgsp_[a-z_]+")
_SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


def promql_metric_names(expr: str) -> set[str]:
    """The ``lgsp_`` metric names a PromQL expression reads, histogram series suffixes stripped.

    Recording rules (``lgsp:...``) and label values (``lgsp.documents``, ``lgsp-ingress``) do not match.
    """
    names = set()
    for name in _METRIC_NAME.findall(expr):
        for suffix in _SERIES_SUFFIXES:
            if name.endswith(suffix):
                name = name.removesuffix(suffix)
                break
        names.add(name)
    return names
