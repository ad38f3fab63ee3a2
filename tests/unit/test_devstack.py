"""The launcher's own logic without a JVM: versions, configs, layouts, ports, pid handling, probes, errors."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import stat
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bus.errors import ArtifactResolutionError, ConfigError, DevStackError
from bus.settings import DevSettings
from lgsp.cli import app
from lgsp.devstack import artifacts
from lgsp.devstack.kafka_config import format_command, render_server_properties
from lgsp.devstack.layout import KafkaNode, StackLayout, load_layout, new_cluster_id, plan_layout, save_layout
from lgsp.devstack.ports import PortUse, check_free, free_port, port_in_use
from lgsp.devstack.probes import ClusterMetadata, kafka_metadata, metadata_request, parse_metadata_response
from lgsp.devstack.processes import (
    Managed,
    exit_code,
    last_error_line,
    marker_for,
    running_pid,
    send_signal,
    spawn,
    stop_all,
    wait_gone,
)
from lgsp.devstack.stack import DevStack
from lgsp.devstack.status import State
from lgsp.devstack.tools import find_java, find_maven, parse_java_version

pytestmark = pytest.mark.unit


def _settings(tmp_path: Path, **overrides: object) -> DevSettings:
    return DevSettings.model_validate(
        {"state_dir": tmp_path / "state", "cache_dir": tmp_path / "cache", **overrides}
    )


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something listens on for the duration of a test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# --- tools ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "feature"),
    [
        (
            'openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6-Debian)',
            17,
        ),
        ('openjdk version "21" 2023-09-19', 21),
        ('openjdk version "25-ea" 2025-09-16', 25),
        ('java version "1.8.0_292"\nJava(TM) SE Runtime Environment', 8),
        ('openjdk version "11.0.2" 2019-01-15', 11),
    ],
)
def test_java_version_is_parsed(output: str, feature: int) -> None:
    assert parse_java_version(output) == feature


def test_unreadable_java_version_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot read a Java version"):
        parse_java_version("bash: java: command not found")


def test_missing_java_and_maven_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"Java 17\+ is required.*LGSP_DEV__JAVA"):
        find_java("no-such-java-binary")
    with pytest.raises(ConfigError, match=r"Maven is required.*LGSP_DEV__MVN"):
        find_maven("no-such-mvn-binary")


def test_old_java_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "java"
    fake.write_text("#!/bin/sh\necho 'java version \"1.8.0_292\"' >&2\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(ConfigError, match="is Java 8"):
        find_java(str(fake))


# --- layout and Kafka configuration ---------------------------------------------------------------


def test_cluster_id_is_a_kafka_uuid() -> None:
    for _ in range(200):
        cluster_id = new_cluster_id()
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_default_ports_for_one_and_three_brokers(tmp_path: Path) -> None:
    one = plan_layout(_settings(tmp_path), cluster_id="c")
    assert [(n.port, n.controller_port) for n in one.nodes] == [(9092, 9093)]
    assert one.registry_url == "http://127.0.0.1:8081/apis/ccompat/v7"
    three = plan_layout(_settings(tmp_path), brokers=3, registry=False, cluster_id="c")
    assert [(n.port, n.controller_port) for n in three.nodes] == [(9092, 9093), (9094, 9095), (9096, 9097)]
    assert three.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert three.registry_url is None


def test_port_zero_gives_distinct_free_ports(tmp_path: Path) -> None:
    settings = _settings(tmp_path, kafka_port=0, controller_port=0, registry_port=0)
    layout = plan_layout(settings, brokers=3)
    ports = [use.port for use in layout.port_uses()]
    assert len(set(ports)) == 7
    assert all(p > 0 for p in ports)


def test_port_zero_reuses_the_previous_ports_while_free(tmp_path: Path, listening: int) -> None:
    settings = _settings(tmp_path, kafka_port=0, controller_port=0, registry_port=0)
    free = free_port("127.0.0.1")
    previous = StackLayout("127.0.0.1", "cid", (KafkaNode(1, free, listening),), None)
    layout = plan_layout(settings, previous=previous)
    assert layout.nodes[0].port == free
    assert layout.nodes[0].controller_port not in (listening, 0)  # taken meanwhile: a new one
    explicit = plan_layout(_settings(tmp_path), previous=previous)
    assert explicit.nodes[0].port == 9092


def test_overlapping_ports_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="port 9094 would be used twice"):
        plan_layout(_settings(tmp_path, controller_port=9094), brokers=3)


def test_layout_survives_json_and_disk(tmp_path: Path) -> None:
    layout = StackLayout("127.0.0.1", "abc", (KafkaNode(1, 1000, 1001), KafkaNode(2, 1002, 1003)), 8081)
    assert StackLayout.from_json(json.loads(json.dumps(layout.to_json()))) == layout
    save_layout(tmp_path, layout)
    assert load_layout(tmp_path) == layout
    assert load_layout(tmp_path / "elsewhere") is None
    (tmp_path / "stack.json").write_text("{not json")
    with pytest.raises(DevStackError, match="down --purge"):
        load_layout(tmp_path)


def _props(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_single_node_properties(tmp_path: Path) -> None:
    layout = StackLayout("127.0.0.1", "cid", (KafkaNode(1, 9092, 9093),), 8081)
    props = _props(render_server_properties(layout, layout.nodes[0], tmp_path / "data"))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["advertised.listeners"] == props["listeners"]
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:9093"
    assert "controller.quorum.voters" not in props
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_three_node_properties_use_a_static_quorum(tmp_path: Path) -> None:
    nodes = (KafkaNode(1, 9092, 9093), KafkaNode(2, 9094, 9095), KafkaNode(3, 9096, 9097))
    layout = StackLayout("127.0.0.1", "cid", nodes, None)
    props = _props(render_server_properties(layout, nodes[1], tmp_path))
    assert props["node.id"] == "2"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    assert "controller.quorum.bootstrap.servers" not in props
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"


def test_format_command_is_standalone_only_for_one_node(tmp_path: Path) -> None:
    one = format_command("java", tmp_path, tmp_path / "server.properties", "cid", standalone=True)
    many = format_command("java", tmp_path, tmp_path / "server.properties", "cid", standalone=False)
    assert one[:5] == ["java", "-cp", f"{tmp_path}/*", "kafka.tools.StorageTool", "format"]
    assert "--standalone" in one
    assert "--standalone" not in many
    assert many[-4:] == ["-t", "cid", "-c", str(tmp_path / "server.properties")]


# --- ports ----------------------------------------------------------------------------------------


def test_taken_port_is_named_with_its_setting(listening: int) -> None:
    assert port_in_use("127.0.0.1", listening)
    use = PortUse(listening, "kafka-1", "kafka_port")
    with pytest.raises(ConfigError) as caught:
        check_free("127.0.0.1", [use])
    message = str(caught.value)
    assert f"port {listening}" in message
    assert "kafka_port" in message
    assert "LGSP_DEV__KAFKA_PORT" in message
    assert "--kafka-port" in message


def test_free_port_is_free() -> None:
    assert not port_in_use("127.0.0.1", free_port("127.0.0.1"))


def test_up_refuses_a_taken_port_before_starting_anything(tmp_path: Path, listening: int) -> None:
    stack = DevStack(_settings(tmp_path, registry_port=listening, kafka_port=0, controller_port=0))
    with pytest.raises(ConfigError, match=f"port {listening}.*registry_port"):
        stack.up()
    assert stack.status().components == ()


# --- processes ------------------------------------------------------------------------------------


def _sleeper(tmp_path: Path, name: str = "sleeper") -> tuple[Managed, list[str]]:
    managed = Managed(name, tmp_path / name, marker_for(tmp_path, name))
    # The marker goes to sys.argv of the script, which is what makes the process recognisable.
    return managed, [sys.executable, "-c", "import time; time.sleep(120)", managed.marker]


def test_spawned_process_is_ours_and_stops(tmp_path: Path) -> None:
    managed, command = _sleeper(tmp_path)
    pid = spawn(managed, command)
    assert managed.pid_file.read_text().strip() == str(pid)
    assert running_pid(managed) == pid
    assert stop_all([managed], timeout_s=10.0) == ["sleeper"]
    assert running_pid(managed) is None
    assert not managed.pid_file.exists()
    assert exit_code(pid) == -signal.SIGTERM


def test_killed_process_is_gone_with_its_signal(tmp_path: Path) -> None:
    managed, command = _sleeper(tmp_path)
    pid = spawn(managed, command)
    assert send_signal(managed, signal.SIGKILL) == pid
    assert wait_gone(pid, timeout_s=10.0)
    assert running_pid(managed) is None
    assert managed.pid_file.exists()  # a crash leaves the pid file: status reports "failed"
    assert exit_code(pid) == -signal.SIGKILL
    with pytest.raises(DevStackError, match="not running"):
        send_signal(managed, signal.SIGKILL)


def test_pid_file_of_someone_else_is_not_ours(tmp_path: Path) -> None:
    managed, _ = _sleeper(tmp_path)
    managed.directory.mkdir(parents=True)
    managed.pid_file.write_text(f"{os.getpid()}\n")  # alive, but without our marker
    assert running_pid(managed) is None
    assert stop_all([managed], timeout_s=1.0) == []


def test_last_error_line_skips_stack_frames(tmp_path: Path) -> None:
    log = tmp_path / "kafka.log"
    log.write_text(
        "[2025] INFO starting (kafka.Kafka$)\n"
        "[2025] ERROR Exiting Kafka due to fatal exception during startup. (kafka.Kafka$)\n"
        "org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:9092\n"
        "\tat kafka.network.Acceptor.openServerSocket(SocketServer.scala:734)\n"
        "Caused by: java.net.BindException: Address already in use\n"
        "\tat java.base/sun.nio.ch.Net.bind0(Native Method)\n"
        "\t... 12 more\n"
    )
    assert last_error_line(log) == "Caused by: java.net.BindException: Address already in use"
    log.write_text("[2025] INFO all good\n")
    assert last_error_line(log) is None
    assert last_error_line(tmp_path / "missing.log") is None


# --- probes ---------------------------------------------------------------------------------------


def _compact(text: str | None) -> bytes:
    if text is None:
        return b"\x00"
    data = text.encode()
    return bytes([len(data) + 1]) + data


def test_metadata_response_is_parsed() -> None:
    body = struct.pack(">i", 7) + b"\x00"  # correlation id, no header tags
    body += struct.pack(">i", 0) + bytes([3])  # throttle, two brokers
    for node_id, port in ((1, 9092), (2, 9094)):
        body += (
            struct.pack(">i", node_id)
            + _compact("127.0.0.1")
            + struct.pack(">i", port)
            + _compact(None)
            + b"\x00"
        )
    body += _compact("cluster") + struct.pack(">i", 1)
    metadata = parse_metadata_response(body, 7)
    assert metadata == ClusterMetadata({1: ("127.0.0.1", 9092), 2: ("127.0.0.1", 9094)}, "cluster", 1)


def test_metadata_request_is_framed() -> None:
    request = metadata_request(5)
    (size,) = struct.unpack(">i", request[:4])
    assert size == len(request) - 4
    assert struct.unpack(">hhi", request[4:12]) == (3, 12, 5)


def test_probe_of_a_closed_port_is_none() -> None:
    assert kafka_metadata("127.0.0.1", free_port("127.0.0.1"), timeout_s=0.5) is None


# --- artifacts ------------------------------------------------------------------------------------


def test_pom_pins_the_logging_backend() -> None:
    pom = artifacts.kafka_pom("4.1.1")
    assert "<artifactId>kafka_2.13</artifactId><version>4.1.1</version>" in pom
    assert "<artifactId>slf4j-api</artifactId><version>2.0.17</version>" in pom
    assert "log4j-slf4j2-impl" in pom
    assert artifacts.log4j2_config().is_file()


def test_maven_errors_are_shown_and_nothing_half_done_is_cached(tmp_path: Path) -> None:
    fake = tmp_path / "mvn"
    fake.write_text(
        "#!/bin/sh\n"
        "echo '[ERROR] Failed to execute goal on project x: Could not resolve dependencies: "
        "org.apache.kafka:kafka_2.13:jar:0.0.0 was not found in https://repo.maven.apache.org/maven2'\n"
        "echo '[ERROR] '\necho '[ERROR] For more information about the errors, see below'\nexit 1\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    settings = _settings(tmp_path, mvn=str(fake), kafka_version="0.0.0")
    with pytest.raises(ArtifactResolutionError) as caught:
        artifacts.fetch_kafka(settings)
    assert "kafka_2.13:jar:0.0.0 was not found" in str(caught.value)
    assert "For more information" not in str(caught.value)
    assert list(settings.cache_dir.iterdir()) == []


def test_fetch_without_maven_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Maven is required"):
        artifacts.fetch_registry(_settings(tmp_path, mvn="no-such-mvn-binary"))


# --- stack and CLI without processes --------------------------------------------------------------


def test_status_of_an_empty_state_dir(tmp_path: Path) -> None:
    status = DevStack(_settings(tmp_path)).status()
    assert status.components == ()
    assert not status.ready
    with pytest.raises(DevStackError, match="lgsp dev up"):
        DevStack(_settings(tmp_path)).endpoints  # noqa: B018


def test_status_reports_a_dead_process_as_failed(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    layout = StackLayout("127.0.0.1", "cid", (KafkaNode(1, free_port("127.0.0.1"), 1),), None)
    save_layout(settings.state_dir, layout)
    node_dir = settings.state_dir / "kafka-1"
    node_dir.mkdir()
    (node_dir / "kafka-1.pid").write_text("999999999\n")
    (node_dir / "kafka-1.log").write_text(
        "[2025] ERROR Exiting Kafka due to fatal exception (kafka.Kafka$)\n"
    )
    component = DevStack(settings).status().component("kafka-1")
    assert component.state is State.FAILED
    assert component.detail is not None
    assert "Exiting Kafka due to fatal exception" in component.detail
    assert str(node_dir / "kafka-1.log") in component.detail


def test_cli_status_of_nothing_exits_non_zero(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["dev", "status", "--json", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert json.loads(result.output)["ready"] is False
