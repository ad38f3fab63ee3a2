"""`lgsp publish` as a user runs it (a subprocess) against the real broker and registry."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bus.cloudevents import parse_kafka_headers
from bus.events import EVENT_TYPES
from bus.settings import Settings
from bus.topics import ensure_topics, topic_for
from tests import publishing_samples as samples
from tests.integration.kafka_read import read_all

pytestmark = pytest.mark.integration

LGSP = str(Path(sys.executable).with_name("lgsp"))


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.stdout)
        return parsed


async def lgsp_publish(settings: Settings, *args: str, stdin: bytes | None = None, **env: str) -> Result:
    environment = {
        **os.environ,
        "LGSP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "LGSP_REGISTRY__URL": settings.registry.url,
        "LGSP_REGISTRY__AUTO_REGISTER": "true",
        "LGSP_TOPICS__PREFIX": settings.topics.prefix,
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        LGSP, "publish", "--json", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=environment,
    )  # fmt: skip
    out, err = await process.communicate(stdin)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


@pytest.fixture
async def cli_settings(settings: Settings, topic_prefix: str) -> Settings:
    settings.topics.prefix = topic_prefix
    settings.topics.partitions = 2
    await ensure_topics(settings)
    return settings


def _topics(settings: Settings) -> list[str]:
    return sorted({topic_for(t, prefix=settings.topics.prefix) for t in EVENT_TYPES.values()})


def _write(path: Path, *items: Any) -> Path:
    lines = [item if isinstance(item, str) else json.dumps(item, ensure_ascii=False) for item in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def _ids_on_topics(settings: Settings) -> list[str]:
    records = await read_all(settings.kafka.bootstrap_servers, _topics(settings))
    return [parse_kafka_headers(r.headers)["id"] for r in records]


async def test_good_lines_are_published_and_each_bad_line_is_reported(
    cli_settings: Settings, tmp_path: Path
) -> None:
    good = samples.mixed(12)
    late = samples.dossier(50)
    late["data"]["finished_at"] = "2019-01-01T00:00:00Z"
    unknown_agency = samples.report(51) | {"source": "000.00.00.G98"}
    lines = [*good[:5], "{not json", late, *good[5:9], unknown_agency, *good[9:]]
    result = await lgsp_publish(cli_settings, str(_write(tmp_path / "events.jsonl", *lines)))

    assert result.code == 1, result.stderr
    assert "line 6: <root>" not in result.stderr
    assert "line 6: json: not acceptable JSON" in result.stderr
    assert "line 7: data.finished_at: dossier.finished_after_received:" in result.stderr
    assert "line 12: source: agency_code.known:" in result.stderr
    summary = result.summary
    assert (summary["published"], summary["failed"]) == (12, 3)
    assert summary["by_type"]["vn.gov.lgsp.dossier.DossierSynced"] == {"published": 3, "failed": 1}
    assert sorted(await _ids_on_topics(cli_settings)) == sorted(e["id"] for e in good)


async def test_stop_on_error_stops_at_the_first_bad_line(cli_settings: Settings, tmp_path: Path) -> None:
    good = [samples.dossier(i) for i in range(4)]
    path = _write(
        tmp_path / "events.jsonl", *good[:2], samples.dossier(9) | {"specversion": "0.3"}, *good[2:]
    )
    result = await lgsp_publish(cli_settings, "--stop-on-error", str(path))
    assert result.code == 1
    assert "line 3: specversion: cloudevents.specversion:" in result.stderr
    assert result.summary["stopped_at_line"] == 3
    assert sorted(await _ids_on_topics(cli_settings)) == sorted(e["id"] for e in good[:2])


async def test_standard_input_and_a_clean_run_exit_zero(cli_settings: Settings) -> None:
    events = samples.mixed(8)
    stdin = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events).encode()
    result = await lgsp_publish(cli_settings, "-", stdin=stdin)
    assert result.code == 0, result.stderr
    assert result.summary["published"] == 8
    assert sorted(await _ids_on_topics(cli_settings)) == sorted(e["id"] for e in events)


async def test_a_line_longer_than_the_ingress_accepts_fails_alone(cli_settings: Settings) -> None:
    """The longest line is the ingress's largest body (one setting): an event goes in either way or neither.
    Through standard input, so the pipe's reader is the one that reads past the long line."""
    first, last = samples.dossier(1), samples.dossier(2)
    long = b"\0" * 3 * 1024 * 1024  # no newline in it, as in a binary file given by mistake
    stdin = json.dumps(first).encode() + b"\n" + long + b"\n" + json.dumps(last).encode() + b"\n"
    result = await lgsp_publish(cli_settings, "-", stdin=stdin, LGSP_INGRESS__MAX_BODY_BYTES="65536")
    assert result.code == 1, result.stderr
    assert "line 2: max-bytes: the line is over 65536 bytes (3145729 read)" in result.stderr
    assert (result.summary["published"], result.summary["failed"]) == (2, 1)
    assert sorted(await _ids_on_topics(cli_settings)) == sorted([first["id"], last["id"]])


async def test_kafka_unreachable_exits_2_with_the_reason(
    cli_settings: Settings, tmp_path: Path, unused_tcp_port: int
) -> None:
    path = _write(tmp_path / "events.jsonl", samples.dossier(1))
    result = await lgsp_publish(
        cli_settings,
        str(path),
        LGSP_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{unused_tcp_port}",
        LGSP_PRODUCER__DELIVERY_TIMEOUT_S="3",
    )
    assert result.code == 2
    assert "cannot connect to Kafka" in result.stderr
