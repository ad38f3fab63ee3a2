"""``lgsp demo`` end to end, with tiny settings, on the session's stack (``--no-dev-stack``: no second Kafka).

- ``--keep-running``: the demo completes, prints the scoreboard with numbers, and leaves the views API, the
  view builder and the ingress answering (API, page, every ``/metrics``, a POST of the sample event with the
  demo key); ``lgsp demo --stop`` then stops exactly those processes.
- ``--wait``: after the scoreboard the demo keeps serving; Ctrl-C (SIGINT) ends it with status 0 and no child
  left behind.
- SIGTERM in the middle of the simulation: the demo exits 130 and stops every child it started.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bus.metrics import NATIONAL
from consumers.api import KPI_REFRESH_S
from lgsp.devstack.ports import free_port
from tests.conftest import StackEndpoints

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LGSP = Path(sys.executable).parent / "lgsp"
CHILDREN = ("views-run", "views-serve", "ingress")
DEMO_TIMEOUT_S = 420.0
NATION_ROW = re.compile(r"^\s*00\s+Cả nước\s+(?P<documents>[\d,]+)\s", re.MULTILINE)
"""The nation's line of the printed scoreboard (lgsp/commands/scoreboard_table.py): code, name, documents."""


@dataclass(frozen=True)
class Demo:
    """One demo's environment, ports and files."""

    env: dict[str, str]
    home: Path
    views: int
    builder: int
    simulator: int
    ingress: int

    def args(self, *extra: str) -> list[str]:
        ports = ("--views-port", "--builder-metrics-port", "--simulator-metrics-port", "--ingress-port")
        values = (self.views, self.builder, self.simulator, self.ingress)
        flags = [item for pair in zip(ports, values, strict=True) for item in (pair[0], str(pair[1]))]
        return [str(LGSP), "demo", "--no-dev-stack", "--seed", "7", *flags, *extra]

    def url(self, port: int, path: str) -> str:
        return f"http://127.0.0.1:{port}{path}"

    def child_pids(self) -> dict[str, int]:
        pids = {}
        for name in CHILDREN:
            pid_file = self.home / f"{name}.pid"
            if pid_file.exists():
                pids[name] = int(pid_file.read_text().strip())
        return pids


@pytest.fixture
def demo(stack: StackEndpoints, tmp_path: Path) -> Iterator[Demo]:
    state = tmp_path / "state"
    env = {
        **os.environ,
        "LGSP_KAFKA__BOOTSTRAP_SERVERS": stack.bootstrap_servers,
        "LGSP_REGISTRY__URL": stack.registry_url,
        "LGSP_TOPICS__PREFIX": f"demo{uuid.uuid4().hex[:8]}.",
        "LGSP_TOPICS__PARTITIONS": "2",
        "LGSP_DEV__STATE_DIR": str(state),
    }
    ports = _distinct_free_ports(4)
    setup = Demo(env, state / "demo", *ports)
    yield setup
    # whatever a failed test left behind
    subprocess.run(setup.args("--stop"), env=env, capture_output=True, timeout=120, check=False)


def _distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port("127.0.0.1")
        if port not in ports:
            ports.append(port)
    return ports


def _alive(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"lgsp-demo=" in cmdline


def _poll(what: str, check: Callable[[], bool], timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if process.poll() is not None:
            pytest.fail(f"the demo exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout_s:g} s")
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_keep_running_completes_with_a_scoreboard_and_leaves_the_views_answering(demo: Demo) -> None:
    done = subprocess.run(
        demo.args("--duration", "4", "--rate", "60", "--keep-running", "--no-wait"),
        env=demo.env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    nation = NATION_ROW.search(out)
    assert nation is not None, out
    printed_documents = int(nation["documents"].replace(",", ""))
    assert printed_documents > 0
    assert "the views applied every record on the topics" in out
    assert "lgsp demo --stop" in out
    pids = demo.child_pids()
    assert set(pids) == set(CHILDREN)
    assert all(_alive(pid) for pid in pids.values())

    board = httpx.get(demo.url(demo.views, "/v1/views/scoreboard"), timeout=10).json()
    nation_row = next(row for row in board["rows"] if row["province"] == NATIONAL)
    assert nation_row["documents_sent"] == printed_documents
    page = httpx.get(demo.url(demo.views, "/"), timeout=10).text
    assert len(re.findall(r'data-province="\d{2}"', page)) == 34  # the national page's map
    assert f"national page     {demo.url(demo.views, '/')}" in out
    assert f"The national page is live at {demo.url(demo.views, '/')}" in out  # how the demo ends
    # views serve refreshes the KPI gauges in the background (never inside a scrape): poll one period
    gauge = f'lgsp_kpi_electronic_document_ratio{{province="{NATIONAL}"}}'
    deadline = time.monotonic() + KPI_REFRESH_S + 15
    while gauge not in (views_metrics := httpx.get(demo.url(demo.views, "/metrics"), timeout=10).text):
        assert time.monotonic() < deadline, views_metrics[-2000:]
        time.sleep(0.5)
    builder_metrics = httpx.get(demo.url(demo.builder, "/metrics"), timeout=10).text
    assert 'lgsp_events_consumed_total{group="lgsp-demo"' in builder_metrics

    key = (demo.home / "ingress-demo-key").read_text().strip()
    sample = json.loads((demo.home / "sample-dossier.json").read_text())
    posted = httpx.post(
        demo.url(demo.ingress, "/v1/events"),
        json=sample,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents+json"},
        timeout=30,
    )
    assert posted.status_code == 202, posted.text
    assert posted.json()["id"] == sample["id"]
    assert 'route="/v1/events",status="202"' in httpx.get(demo.url(demo.ingress, "/metrics"), timeout=10).text

    stopped = subprocess.run(demo.args("--stop"), env=demo.env, capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "stopped the demo's views-run, views-serve, ingress" in stopped.stdout
    assert not any(_alive(pid) for pid in pids.values())
    assert not _answers(demo.url(demo.views, "/healthz"))


def test_wait_serves_until_ctrl_c_then_stops_every_child(demo: Demo, tmp_path: Path) -> None:
    log = tmp_path / "demo.out"
    with log.open("wb") as out:
        process = subprocess.Popen(
            demo.args("--duration", "3", "--rate", "50", "--wait", "--no-ingress"),
            env=demo.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _poll(
            "the wait for Ctrl-C",
            lambda: "until you press Ctrl-C" in log.read_text(),
            DEMO_TIMEOUT_S,
            process,
        )
        pids = demo.child_pids()
        assert set(pids) == {"views-run", "views-serve"}
        assert _answers(demo.url(demo.views, "/v1/views/scoreboard"))
        assert _answers(demo.url(demo.builder, "/metrics"))
        assert _answers(demo.url(demo.simulator, "/metrics"))
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert NATION_ROW.search(log.read_text()) is not None
    assert not any(_alive(pid) for pid in pids.values())
    assert not _answers(demo.url(demo.views, "/healthz"))


def test_sigterm_during_the_simulation_stops_every_child(demo: Demo, tmp_path: Path) -> None:
    log = tmp_path / "demo.out"
    with log.open("wb") as out:
        process = subprocess.Popen(
            demo.args("--duration", "600", "--rate", "20", "--no-wait"),
            env=demo.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _poll("the simulation", lambda: "the simulated nation" in log.read_text(), DEMO_TIMEOUT_S, process)
        pids = demo.child_pids()
        assert set(pids) == set(CHILDREN)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 130, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not any(_alive(pid) for pid in pids.values())
    assert "stopped: views-run, views-serve, ingress" in log.read_text()
