"""The publish-file part's own logic: the corpus, the contenders' summaries, the raw script's sending and
the child-process check. No broker, nothing timed (the part itself runs in tests/e2e/test_bench_smoke.py)."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bench.model import PARTS, Sizes
from bench.parts import publish_file
from bench.parts.publish_file import measure, published_count, raw_producer_config, write_corpus
from bench.procs import BenchError
from bench.raw_publish_file import send_lines
from bench.runner import part_runner
from bus.aiokafka_adapter import producer_kwargs
from bus.cloudevents import from_json
from bus.events import DossierSynced
from bus.settings import Settings
from producers.publish_file import PublishSummary

pytestmark = pytest.mark.unit


def test_the_part_is_registered_with_a_small_smoke_size() -> None:
    assert "publish-file" in PARTS
    assert part_runner("publish-file") is publish_file.run
    smoke = Sizes.build(smoke=True, rounds=None, events=None, seconds=None)
    assert smoke.publish_file_events <= 1_000
    assert smoke.rounds_for("publish-file") == 1
    assert Sizes.build(smoke=False, rounds=None, events=1234, seconds=None).publish_file_events == 1234


def test_the_corpus_is_cloudevents_lines_the_cli_accepts(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = write_corpus(path, 12)
    assert path.read_text(encoding="utf-8").splitlines() == lines
    events = [from_json(line) for line in lines]
    assert all(isinstance(event, DossierSynced) for event in events)
    assert all(
        json.loads(line)["subject"] == event.entity_key() for line, event in zip(lines, events, strict=True)
    )
    assert len(set(lines)) == 12


def _cli_summary(published: int, failed: int = 0, fatal: str | None = None) -> str:
    """What ``lgsp publish --json`` prints: the summary's JSON through rich's print_json, indented."""
    summary = PublishSummary(lines_read=published + failed, fatal=fatal)
    summary.published["lgsp.dossier.DossierSynced"] = published
    summary.failed["lgsp.dossier.DossierSynced"] = failed
    out = io.StringIO()
    Console(file=out, highlight=False).print_json(json.dumps(summary.to_json()))
    return out.getvalue()


def test_published_count_reads_the_cli_summary_and_the_raw_script_line() -> None:
    text = _cli_summary(300)
    assert text.count("\n") > 3  # indented over many lines, with a nested object
    assert published_count("lgsp_publish", text) == 300
    assert published_count("raw_script", 'connecting\n{"published": 7}\n') == 7


@pytest.mark.parametrize(
    ("stdout", "why"),
    [
        (_cli_summary(299, failed=1), "failed lines"),
        (_cli_summary(10, fatal="Kafka is down"), "failed lines or stopped"),
        ("published 300 events\n", "no JSON summary"),
        ('{"sent": 300}\n', "no published count"),
        ("", "no JSON summary"),
    ],
)
def test_published_count_refuses_a_summary_that_is_not_a_clean_run(stdout: str, why: str) -> None:
    with pytest.raises(BenchError, match=why):
        published_count("lgsp_publish", stdout)


def test_measure_checks_the_exit_status_and_the_count(tmp_path: Path) -> None:
    def child(code: str) -> list[str]:
        return [sys.executable, "-c", code]

    env: dict[str, str] = {}
    done = measure("ok", child("print('{\"published\": 3}')"), env, 3, 60)
    assert done.published == 3
    assert done.seconds > 0
    assert done.cpu_seconds >= 0
    with pytest.raises(BenchError, match="published 2 of 3"):
        measure("short", child("print('{\"published\": 2}')"), env, 3, 60)
    with pytest.raises(BenchError, match="exited with 4"):
        measure("broken", child("import sys; print('boom', file=sys.stderr); sys.exit(4)"), env, 3, 60)


def test_the_raw_script_gets_the_publishers_producer_settings_as_json() -> None:
    settings = Settings()
    assert json.loads(json.dumps(raw_producer_config(settings))) == producer_kwargs(settings)
    tls = Settings()
    tls.kafka.security_protocol = "SSL"  # a TLS context cannot cross a process boundary as JSON
    with pytest.raises(BenchError, match="as JSON"):
        raw_producer_config(tls)


class _Producer:
    """Records what the raw script sends; its futures resolve only when the test acknowledges them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.futures: list[asyncio.Future[Any]] = []
        self.acknowledge_at_once = False

    async def send(self, topic: str, value: bytes, *, key: bytes) -> asyncio.Future[Any]:
        self.sent.append((topic, value, key))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.acknowledge_at_once:
            future.set_result(None)
        self.futures.append(future)
        return future

    def acknowledge(self, count: int) -> None:
        for future in self.futures[:count]:
            if not future.done():
                future.set_result(None)


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_the_raw_script_sends_each_line_as_is_keyed_by_subject_one_chunk_in_flight(tmp_path: Path) -> None:
    lines = write_corpus(tmp_path / "events.jsonl", 7)
    data = [line.encode() + b"\n" for line in lines[:3]] + [b"\n"]  # a blank line is skipped
    data += [line.encode() + b"\r\n" for line in lines[3:]]

    async def scenario() -> int:
        producer = _Producer()
        task = asyncio.create_task(send_lines(producer, data, "t", chunk=2))
        await _settle()
        # The second chunk is sent before the first is acknowledged, the third not before.
        assert len(producer.sent) == 4
        producer.acknowledge(2)
        await _settle()
        assert len(producer.sent) == 6
        producer.acknowledge_at_once = True
        producer.acknowledge(6)
        published = await asyncio.wait_for(task, 10)
        assert producer.sent == [("t", line.encode(), json.loads(line)["subject"].encode()) for line in lines]
        return published

    assert asyncio.run(scenario()) == 7
