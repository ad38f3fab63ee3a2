"""Kafka's own benchmarks, ``org.apache.kafka.tools.ProducerPerformance`` and ``ConsumerPerformance``.

They run from the cached Kafka jars (``kafka-tools`` included) with the JVM the dev stack uses. Both report
their rate over the time they spend producing or fetching, JVM start-up excluded.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import BenchError
from bus.kafka_client import java_client_properties
from bus.settings import KafkaSettings

_PRODUCER_FINAL = re.compile(
    r"(?P<records>\d+) records sent, (?P<rate>[\d.]+) records/sec \((?P<mb>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>\d+) ms 50th, "
    r"(?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th"
)


@dataclass(frozen=True)
class ProducerPerfResult:
    records: int
    records_per_s: float
    mb_per_s: float
    latency_ms: dict[str, float]
    command: str

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "records_per_s": self.records_per_s,
            "mb_per_s": self.mb_per_s,
            "latency_ms": self.latency_ms,
            "command": self.command,
        }


@dataclass(frozen=True)
class ConsumerPerfResult:
    records: int
    fetch_seconds: float
    total_seconds: float
    mb: float
    command: str

    @property
    def records_per_s(self) -> float:
        return self.records / self.fetch_seconds if self.fetch_seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "fetch_seconds": self.fetch_seconds,
            "total_seconds": self.total_seconds,
            "mb": self.mb,
            "records_per_s": self.records_per_s,
            "command": self.command,
        }


def producer_props(
    kafka: KafkaSettings, *, linger_ms: int, batch_size: int, compression: str, max_request_size: int
) -> list[str]:
    """The producer settings of :class:`bus.Publisher` in Java property form. TLS and SASL go in a file
    (:func:`write_client_config`, ``--producer.config``): ProducerPerformance refuses a ``--producer-props``
    value holding ``=`` (a JAAS line does), and the command line is recorded in the results."""
    return [
        f"bootstrap.servers={kafka.bootstrap_servers}",
        "acks=all",
        "enable.idempotence=true",
        f"linger.ms={linger_ms}",
        f"batch.size={batch_size}",
        f"compression.type={compression}",
        f"max.request.size={max_request_size}",
    ]


def producer_performance(
    java: str,
    classpath: str,
    *,
    topic: str,
    records: int,
    record_size: int,
    props: list[str],
    client_config: Path,
    timeout_s: float,
) -> ProducerPerfResult:
    """Run ProducerPerformance unthrottled; its final summary line, parsed. ``client_config``: the
    connection's properties file (:func:`write_client_config`)."""
    command = [
        java,
        "-cp",
        classpath,
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--record-size",
        str(record_size),
        "--throughput",
        "-1",
        "--producer.config",
        str(client_config),
        "--producer-props",
        *props,
    ]
    output = _run(command, timeout_s)
    match = None
    for line in output.splitlines():
        match = _PRODUCER_FINAL.search(line) or match
    if match is None:
        raise BenchError(f"ProducerPerformance printed no summary:\n{_tail(output)}")
    return ProducerPerfResult(
        records=int(match["records"]),
        records_per_s=float(match["rate"]),
        mb_per_s=float(match["mb"]),
        latency_ms={key: float(match[key]) for key in ("avg", "max", "p50", "p95", "p99")},
        command=" ".join(command),
    )


def consumer_performance(
    java: str,
    classpath: str,
    *,
    kafka: KafkaSettings,
    command_config: Path,
    topic_records: Mapping[str, int],
    fetch_size: int,
    timeout_s: float,
) -> ConsumerPerfResult:
    """ConsumerPerformance over each topic in turn (it reads one topic per run), from the earliest offset.

    The result adds the topics up: records over the summed fetch time (Kafka's ``fetch.time.ms``, the time
    spent consuming after the group join), and the summed total time (join included).
    """
    records = 0
    fetch_ms = total_ms = 0.0
    mb = 0.0
    commands = []
    for topic, count in topic_records.items():
        if count <= 0:
            continue
        command = [
            java,
            "-cp",
            classpath,
            "org.apache.kafka.tools.ConsumerPerformance",
            "--bootstrap-server",
            kafka.bootstrap_servers,
            "--consumer.config",  # Kafka 4.1 ConsumerPerformance has no --command-config
            str(write_client_config(kafka, command_config)),
            "--topic",
            topic,
            "--messages",
            str(count),
            "--group",
            f"bench-perf-{uuid.uuid4().hex[:12]}",
            "--fetch-size",
            str(fetch_size),
            "--timeout",
            "30000",
        ]
        commands.append(" ".join(command))
        row = _consumer_row(_run(command, timeout_s))
        consumed = int(float(row["data.consumed.in.nMsg"]))
        if consumed < count:
            raise BenchError(f"ConsumerPerformance read {consumed} of {count} records of {topic}")
        records += consumed
        fetch_ms += float(row["fetch.time.ms"])
        total_ms += float(row["fetch.time.ms"]) + float(row["rebalance.time.ms"])
        mb += float(row["data.consumed.in.MB"])
    return ConsumerPerfResult(records, fetch_ms / 1000, total_ms / 1000, mb, "\n".join(commands))


def _consumer_row(output: str) -> dict[str, str]:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith("start.time") and index + 1 < len(lines):
            names = [name.strip() for name in line.split(",")]
            values = [value.strip() for value in lines[index + 1].split(",")]
            if len(values) >= len(names):
                return dict(zip(names, values, strict=False))
    raise BenchError(f"ConsumerPerformance printed no summary:\n{_tail(output)}")


def _run(command: list[str], timeout_s: float) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{command[3]} did not finish within {timeout_s:.0f} s") from exc
    except OSError as exc:
        raise BenchError(f"cannot run {command[0]}: {exc}") from exc
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise BenchError(f"{command[3]} exited with {done.returncode}:\n{_tail(output)}")
    return output


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def write_client_config(kafka: KafkaSettings, path: Path) -> Path:
    """The connection in a properties file for a Java tool's ``--command-config`` (0600: it may hold a
    password)."""
    text = "".join(f"{key}={value}\n" for key, value in java_client_properties(kafka).items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
