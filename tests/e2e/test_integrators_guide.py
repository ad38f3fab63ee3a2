"""docs/integrators.md is executed: its examples run against a real Kafka, registry and ``lgsp ingress``.

The guide marks what is checked with an HTML comment on the line before a fenced block:

- ``<!-- check: event -->`` + a JSON block: a CloudEvent that ``from_structured`` accepts and the ingress
  answers ``202`` for (with a key issued to the event's ``source``);
- ``<!-- check: run -->`` + a Python or shell block: run as it is, in order, in one working directory, with
  ``lgsp`` on the PATH, the settings pointing at the session's stack (topics under a prefix of their own),
  and ``$INGRESS`` / ``$KEY`` naming a running ingress and a key of Hồ Chí Minh City; it must exit 0;
- ``<!-- check: output -->`` + a JSON block: what the run block before it printed (the documented JSON is a
  subset of the real one: every key shown has the value shown); JSON lines compare line by line;
- ``<!-- check: quickstart -->`` + a shell block: the quick start, every such block in order as one bash
  script in an empty directory, with no ``LGSP_`` setting from outside, ``lgsp`` on the PATH and free ports in
  ``INGRESS_PORT`` and ``VIEWS_PORT``: it starts its own stack, ingress and views and must exit 0;
- ``<!-- check: problem -->`` + a JSON block: a problem the test cannot provoke on a shared stack (429, 503)
  whose ``type``, ``title`` and ``status`` must be those the ingress uses.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.cloudevents import from_structured
from bus.settings import Settings
from bus.topics import ensure_topics
from producers.ingress.auth import ApiKeyStore
from producers.ingress.problems import ProblemKind
from tests.conftest import StackEndpoints
from tests.prometheus_harness import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "integrators.md"
BIN = Path(sys.executable).parent
KEY_AGENCY = "000.00.00.H29"
START_TIMEOUT_S = 180.0
RUN_TIMEOUT_S = 300.0
_CHECK = re.compile(r"^<!-- check: (?P<kind>[a-z]+) -->$")
_FENCE = re.compile(r"^```(?P<lang>[a-z]*)$")


@dataclass(frozen=True)
class Block:
    """A fenced block of the guide and the check it is marked with (None: not checked)."""

    check: str | None
    lang: str
    text: str
    line: int

    @property
    def id(self) -> str:
        return f"{self.check}-{self.lang}-line{self.line}"


def guide_blocks(text: str) -> list[Block]:
    """Every fenced block, with the ``check`` comment on the line just before it."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        marker = _CHECK.match(lines[index - 1]) if index else None
        end = lines.index("```", index + 1)
        body = "\n".join(lines[index + 1 : end]) + "\n"
        blocks.append(Block(marker["kind"] if marker else None, fence["lang"], body, index + 1))
        index = end + 1
    return blocks


BLOCKS = guide_blocks(GUIDE.read_text(encoding="utf-8"))
EVENTS = [b for b in BLOCKS if b.check == "event"]
RUNS = [b for b in BLOCKS if b.check == "run"]
QUICKSTART = [b for b in BLOCKS if b.check == "quickstart"]
QUICKSTART_TIMEOUT_S = 900.0


def output_after(run: Block) -> Block | None:
    """The ``output`` block documenting what ``run`` prints, if the next checked block is one."""
    later = [b for b in BLOCKS if b.line > run.line and b.check is not None]
    return later[0] if later and later[0].check == "output" else None


def is_subset(shown: Any, real: Any) -> bool:
    """Whether the documented JSON ``shown`` is part of ``real``: same keys' values, same list lengths."""
    if isinstance(shown, dict):
        return isinstance(real, dict) and all(k in real and is_subset(v, real[k]) for k, v in shown.items())
    if isinstance(shown, list):
        return (
            isinstance(real, list)
            and len(shown) == len(real)
            and all(is_subset(s, r) for s, r in zip(shown, real, strict=True))
        )
    return bool(shown == real)


def json_values(text: str) -> list[Any]:
    """One JSON document, or JSON lines, as a list of values."""
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class Ingress:
    url: str
    keys: dict[str, str]
    env: dict[str, str]


@pytest.fixture(scope="module")
async def prefix(stack: StackEndpoints) -> str:
    prefix = f"guide{uuid.uuid4().hex[:8]}."
    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": stack.bootstrap_servers},
            "registry": {"url": stack.registry_url},
            "topics": {"prefix": prefix, "partitions": 2},
        }
    )
    await ensure_topics(settings)
    return prefix


@pytest.fixture(scope="module")
def ingress(
    stack: StackEndpoints, prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ingress]:
    """A real ``lgsp ingress`` with a key for every agency the examples publish for."""
    workdir = tmp_path_factory.mktemp("guide-ingress")
    keys_file = workdir / "keys.json"
    store = ApiKeyStore()
    sources = {KEY_AGENCY} | {json.loads(block.text)["source"] for block in EVENTS}
    keys = {source: store.add_key(source) for source in sorted(sources)}
    store.save(keys_file)
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "LGSP_KAFKA__BOOTSTRAP_SERVERS": stack.bootstrap_servers,
        "LGSP_REGISTRY__URL": stack.registry_url,
        "LGSP_REGISTRY__AUTO_REGISTER": "true",
        "LGSP_TOPICS__PREFIX": prefix,
        "LGSP_INGRESS__API_KEYS_FILE": str(keys_file),
        "INGRESS": f"http://127.0.0.1:{port}",
        "KEY": keys[KEY_AGENCY],
    }
    log = workdir / "ingress.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "lgsp"), "ingress", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", process, log)
        yield Ingress(f"http://127.0.0.1:{port}", keys, env)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"the ingress exited with {process.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the ingress was not ready within {START_TIMEOUT_S:g} s: {log.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for every run block, so a later block finds the files an earlier one wrote."""
    return tmp_path_factory.mktemp("guide-run")


def test_the_guide_has_checked_examples() -> None:
    kinds = [b.check for b in BLOCKS if b.check is not None]
    assert len(EVENTS) == 5  # one per event type, and a DocumentSent v2 revocation
    assert {"python", "sh"} <= {b.lang for b in RUNS}
    assert kinds.count("output") >= 6
    assert len(QUICKSTART) >= 5
    assert all(b.lang == "sh" for b in QUICKSTART)
    assert BLOCKS.index(QUICKSTART[0]) < BLOCKS.index(EVENTS[0]), "the quick start comes first"


def test_the_quick_start_runs_from_nothing_to_events_read_back(tmp_path: Path) -> None:
    """The quick start as a newcomer runs it: its own stack on free ports, a key, the ingress and the views,
    one event by curl and one by the SDK, both read back from the topic and from the views."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "INGRESS_PORT": str(free_port()),
        "VIEWS_PORT": str(free_port()),
    }
    script = "\n".join(block.text for block in QUICKSTART)
    started = time.monotonic()
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its background jobs are in its process group, killed below if it fails
    )
    try:
        out, _ = process.communicate(timeout=QUICKSTART_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        if (tmp_path / "lgsp-qs").exists():  # a failure before the last step: stop the stack's JVMs
            subprocess.run(
                [str(BIN / "lgsp"), "dev", "down", "--state-dir", str(tmp_path / "lgsp-qs")],
                env=env, capture_output=True, timeout=120, check=False,
            )  # fmt: skip
    elapsed = time.monotonic() - started
    assert process.returncode == 0, f"the quick start failed after {elapsed:.0f} s:\n{out[-6000:]}"
    assert "6f1c2a9e-3b7d-4e21-9a5c-0d8e7f6a5b41" in out  # the curl event's delivery, then its tail
    assert "2 events from lgsp.dossiers" in out
    assert '"resolved":1' in out.replace(" ", "")
    print(f"quick start: {elapsed:.0f} s")  # the figure in the integrator's note (-s shows it)


@pytest.mark.parametrize("block", EVENTS, ids=[b.id for b in EVENTS])
def test_event_example_is_valid_and_accepted(block: Block, ingress: Ingress) -> None:
    obj = json.loads(block.text)
    event = from_structured(obj)
    assert obj["type"] == event.AVRO_NAME
    answer = httpx.post(
        f"{ingress.url}/v1/events",
        content=block.text.encode(),
        headers={
            "Authorization": f"Bearer {ingress.keys[obj['source']]}",
            "Content-Type": "application/cloudevents+json",
        },
        timeout=60,
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["id"] == obj["id"]


@pytest.mark.parametrize("block", RUNS, ids=[b.id for b in RUNS])
def test_run_example(block: Block, ingress: Ingress, workdir: Path) -> None:
    script = workdir / f"block-{block.line}.{'py' if block.lang == 'python' else 'sh'}"
    script.write_text(block.text, encoding="utf-8")
    command = (
        [sys.executable, str(script)] if block.lang == "python" else ["bash", "-euo", "pipefail", str(script)]
    )
    done = subprocess.run(
        command,
        cwd=workdir,
        env=ingress.env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"line {block.line} failed:\n{done.stdout}\n{done.stderr}"
    documented = output_after(block)
    if documented is not None:
        shown, real = json_values(documented.text), json_values(done.stdout)
        assert is_subset(shown, real), f"line {documented.line} shows {shown}; the example printed {real}"


def test_every_documented_problem_is_one_the_ingress_uses() -> None:
    kinds = {kind.type_uri: kind for kind in ProblemKind}
    problems = [
        value
        for block in BLOCKS
        if block.check in ("output", "problem")
        for value in json_values(block.text)
        if isinstance(value, dict) and "type" in value
    ]
    assert len(problems) >= 7
    for problem in problems:
        kind = kinds[problem["type"]]
        assert (problem["title"], problem["status"]) == (kind.title, kind.status), problem


def test_the_error_table_names_every_problem_type() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    missing = [kind.type_uri for kind in ProblemKind if f"`{kind.type_uri}`" not in text]
    assert missing == []
