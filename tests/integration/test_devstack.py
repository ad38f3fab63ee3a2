"""``lgsp dev`` for real: JVMs started, probed, killed and stopped, each test in its own state dir and ports.

These never touch the session's stack (or a shared one): every stack here lives in ``tmp_path`` on ports the
OS picked, and is stopped at the end of its test whatever happened.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bus.errors import ConfigError
from lgsp.devstack import DevStack, State
from lgsp.devstack.probes import kafka_metadata
from lgsp.devstack.processes import is_gone
from tests.stack import dev_settings_for_tests

pytestmark = pytest.mark.integration

LGSP = str(Path(sys.executable).with_name("lgsp"))


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state dir whose stack, whatever a test leaves running, is stopped afterwards."""
    state = tmp_path / "state"
    yield state
    DevStack(dev_settings_for_tests(state)).down()


def _alive_with_marker(state: Path) -> list[int]:
    """Pids of any process carrying a marker of this state dir, found through /proc."""
    needle = f"-Dlgsp.devstack={state.resolve()}/".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if needle in proc.joinpath("cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def _lgsp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LGSP, "dev", *args], capture_output=True, text=True, timeout=600, check=False)


def _status_json(state: Path) -> dict[str, object]:
    done = _lgsp("status", "--json", "--state-dir", str(state))
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _schema_roundtrip(registry_url: str, schema_id: int | None) -> int:
    """Register a schema (first round) or read the one registered before the restart (second round)."""
    schema = {"type": "record", "name": "Probe", "namespace": "vn.gov.lgsp.test", "fields": []}
    with httpx.Client(base_url=registry_url + "/", timeout=10.0) as client:
        if schema_id is None:
            response = client.post(
                "subjects/vn.gov.lgsp.test.Probe/versions", json={"schema": json.dumps(schema)}
            )
            assert response.status_code == 200, response.text
            registered: int = response.json()["id"]
            return registered
        response = client.get(f"schemas/ids/{schema_id}")
        assert response.status_code == 200, response.text
        assert json.loads(response.json()["schema"]) == schema
        return schema_id


@pytest.mark.slow
def test_cli_up_status_down_twice_in_a_row(state_dir: Path) -> None:
    ports = ["--kafka-port", "0", "--controller-port", "0", "--registry-port", "0"]
    schema_id: int | None = None
    for _ in range(2):
        up = _lgsp("up", "--state-dir", str(state_dir), *ports)
        assert up.returncode == 0, up.stderr
        assert "export LGSP_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:" in up.stdout
        assert "/apis/ccompat/v7" in up.stdout
        first = _status_json(state_dir)
        # The registry keeps its schemas in an H2 file in the state dir: they survive down + up.
        schema_id = _schema_roundtrip(str(first["registry_url"]), schema_id)

        again = _lgsp("up", "--state-dir", str(state_dir), *ports)  # harmless: same processes, same ports
        assert again.returncode == 0, again.stderr
        second = _status_json(state_dir)
        assert second == first
        assert second["ready"] is True
        assert _lgsp("status", "--state-dir", str(state_dir)).returncode == 0

        down = _lgsp("down", "--state-dir", str(state_dir))
        assert down.returncode == 0, down.stderr
        assert "stopped: kafka-1, registry" in down.stdout
        assert _alive_with_marker(state_dir) == []
        after = _lgsp("status", "--state-dir", str(state_dir))
        assert after.returncode == 1
        assert after.stdout.count("not running") == 2


def test_killed_broker_is_reported_and_up_restarts_it(state_dir: Path) -> None:
    stack = DevStack(dev_settings_for_tests(state_dir))
    assert stack.up(registry=False).ready
    pid = stack.kill_broker(1)  # returns once the process is gone
    assert is_gone(pid)
    kafka = stack.status().component("kafka-1")
    assert kafka.state is State.FAILED
    assert kafka.detail is not None
    assert "SIGKILL" in kafka.detail
    assert str(kafka.log_file) in kafka.detail

    cli = _lgsp("status", "--state-dir", str(state_dir))
    assert cli.returncode == 1
    assert "failed" in cli.stdout
    assert str(kafka.log_file) in cli.stdout

    restarted = stack.up(registry=False)  # `up` brings back what died, on the same ports
    assert restarted.ready
    assert restarted.component("kafka-1").endpoint == kafka.endpoint
    assert stack.down() == ["kafka-1"]
    assert stack.status().component("kafka-1").state is State.NOT_RUNNING


def test_port_taken_is_refused_by_name(state_dir: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} .*kafka_port"):
            DevStack(dev_settings_for_tests(state_dir, kafka_port=port)).up()
        cli = _lgsp("up", "--state-dir", str(state_dir), "--kafka-port", str(port), "--controller-port", "0")
    assert cli.returncode == 2
    assert f"port {port}" in cli.stderr
    assert "--kafka-port" in cli.stderr
    assert _alive_with_marker(state_dir) == []


@pytest.mark.slow
def test_three_brokers_form_one_cluster(state_dir: Path) -> None:
    stack = DevStack(dev_settings_for_tests(state_dir))
    status = stack.up(brokers=3, registry=False)
    assert status.ready
    assert [c.name for c in status.components] == ["kafka-1", "kafka-2", "kafka-3"]
    assert len(stack.endpoints.bootstrap_servers.split(",")) == 3
    layout = stack.layout
    assert layout is not None
    metadata = kafka_metadata(layout.host, layout.node(1).port)
    assert metadata is not None
    assert set(metadata.brokers) == {1, 2, 3}

    assert is_gone(stack.kill_broker(2))
    states = {c.name: c.state for c in stack.status().components}
    assert states == {"kafka-1": State.READY, "kafka-2": State.FAILED, "kafka-3": State.READY}

    stack.start_broker(2)
    assert stack.status().ready
    assert sorted(stack.down()) == ["kafka-1", "kafka-2", "kafka-3"]
    assert _alive_with_marker(state_dir) == []
