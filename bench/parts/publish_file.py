"""Part publish-file: ``lgsp publish FILE``, whole process, vs a raw aiokafka script on the same file (#15).

The corpus is a file of N CloudEvents structured-mode JSON lines (``bus.cloudevents.to_json``) of the
DossierSynced events the publish part uses (:mod:`bench.workload`), written once per run. Two contenders,
each a child process timed from start to exit (interpreter start-up, imports, connecting, reading, sending,
the last acknowledgement, closing — what a user waits for):

    lgsp_publish  the real CLI, ``lgsp publish FILE --json`` (the console script beside this interpreter),
                  its defaults otherwise; ``--json`` only makes the summary machine-readable. It must exit 0
                  and report N published, none failed. Its value is the Avro record the Publisher encodes,
                  with CloudEvents headers, on the catalog's topic for the event type.
    raw_script    :mod:`bench.raw_publish_file`: reads the same file, ``json.loads`` each line and sends the
                  line's own JSON bytes as the value, key = the event's ``subject``, with aiokafka built from
                  the same ``producer_kwargs(settings)``, to a topic with the same partition count; one
                  chunk of 500 lines in flight while the next is sent (the CLI's own discipline). No
                  validation, no Avro, no registry, no headers: what a script without the SDK would do.

Events/s = N / wall time. Also each process's CPU (user + system, from ``RUSAGE_CHILDREN``) per event.
Both run once, untimed, on a small file before the rounds (page cache, the registry's subjects), then in
alternating order per round. The #15 target: lgsp_publish ≥ 0.7× raw_script.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.model import BenchContext, PartResult
from bench.procs import BenchError, module_command, settings_env
from bench.profiling import hot_paths, sampling
from bench.stack import create_topic, prepare_topics
from bench.stats import Better, Figure, Ratio, Target
from bench.workload import make_dossiers
from bus.aiokafka_adapter import producer_kwargs
from bus.cloudevents import to_json
from bus.settings import Settings
from producers.publish_file import DEFAULT_BATCH_SIZE

PART = "publish-file"
TITLE = "Publish a file: `lgsp publish FILE` (whole process) vs a raw aiokafka script"
CONTENDERS = ("lgsp_publish", "raw_script")
_LABELS = {
    "lgsp_publish": "lgsp publish FILE, whole process",
    "raw_script": "raw aiokafka script (json.loads + send), whole process",
}
TARGET = 0.7
"""#15 item 5: ``lgsp publish FILE`` (whole process) ≥ 0.7× a raw aiokafka script on the same JSON lines."""
_DISTINCT = 5_000
_WARM_LINES = 100
_TIMEOUT_FLOOR_S = 120.0
_TIMEOUT_PER_EVENT_S = 0.002
"""A child may take this long per event (500/s, far below either contender) before the part gives up."""


@dataclass(frozen=True)
class Run:
    """One child process: its wall time, its CPU time, and how many events it says it published."""

    seconds: float
    cpu_seconds: float
    published: int


def run(ctx: BenchContext) -> PartResult:
    rounds = ctx.sizes.rounds_for(PART)
    count = ctx.sizes.publish_file_events
    settings = ctx.part_settings(PART)
    result = PartResult(PART, TITLE, rounds=rounds)
    asyncio.run(prepare_topics(settings))
    raw_topic = f"{ctx.prefix(PART)}raw-publish-file"
    asyncio.run(create_topic(settings, raw_topic, settings.topics.partitions))
    work = ctx.work_dir / PART
    work.mkdir(parents=True, exist_ok=True)
    corpus, warm = work / "events.jsonl", work / "warm.jsonl"
    lines = write_corpus(corpus, count)
    write_corpus(warm, min(_WARM_LINES, count))
    config = work / "producer.json"
    config.write_text(json.dumps(raw_producer_config(settings)), encoding="utf-8")
    env = settings_env(settings)
    timeout = _TIMEOUT_FLOOR_S + count * _TIMEOUT_PER_EVENT_S
    commands: dict[str, Callable[[Path], list[str]]] = {
        "lgsp_publish": lgsp_publish_command,
        "raw_script": lambda path: raw_script_command(path, raw_topic, config),
    }
    ctx.say(f"{PART}: warm-up, then {rounds} rounds of {count} lines ({corpus.stat().st_size:,} B)")
    for name in CONTENDERS:  # untimed: page cache, the registry's subjects, the topics' leaders
        measure(name, commands[name](warm), env, min(_WARM_LINES, count), timeout)
    rates = {name: Figure(name, _LABELS[name], "events/s") for name in CONTENDERS}
    cpu = {
        name: Figure(f"{name}.cpu_us", f"{_LABELS[name]}: CPU per event", "CPU µs/event", Better.LOWER)
        for name in CONTENDERS
    }
    for index in range(rounds):
        order = CONTENDERS if index % 2 == 0 else tuple(reversed(CONTENDERS))
        shown = []
        for name in order:
            done = measure(name, commands[name](corpus), env, count, timeout)
            rates[name].add(count / done.seconds)
            cpu[name].add(done.cpu_seconds / count * 1e6)
            rates[name].detail.setdefault("wall_s", []).append(round(done.seconds, 3))
            shown.append(f"{name} {count / done.seconds:,.0f}/s ({done.seconds:.2f} s)")
        ctx.say(f"{PART} round {index + 1}: {', '.join(shown)}")
    for name in CONTENDERS:
        rates[name].detail["command"] = " ".join(commands[name](corpus))
        result.figures.add(rates[name])
    for name in CONTENDERS:
        result.figures.add(cpu[name])
    if ctx.profile:
        _profile(ctx, commands["lgsp_publish"](corpus), env, count, timeout, result)
    result.ratios = [
        Ratio("lgsp_publish", "raw_script", "raw aiokafka script"),
        Ratio("lgsp_publish.cpu_us", "raw_script.cpu_us", "raw aiokafka script"),
    ]
    result.targets = [
        Target(
            f"lgsp publish FILE ≥ {TARGET}× a raw aiokafka script",
            "lgsp_publish/raw_script",
            ">=",
            TARGET,
            "×",
        )
    ]
    result.sizes = {
        "events_per_round": count,
        "file_bytes": corpus.stat().st_size,
        "line_bytes_median": int(statistics.median(len(line) for line in lines)),
        "raw_chunk": DEFAULT_BATCH_SIZE,
        "partitions": settings.topics.partitions,
    }
    result.notes += [
        f"The file: {count:,} CloudEvents JSON lines of {min(_DISTINCT, count):,} distinct DossierSynced "
        "events (bench.workload, repeated in order), written once per run.",
        "Each contender is a child process timed from start to exit (interpreter start-up and imports "
        "included); both ran once, untimed, on a small file first, then alternately first and second in "
        "each round.",
        "lgsp publish: the CLI with its defaults (--json only for a parseable summary); every line is "
        "checked against the contract and sent as Avro with CloudEvents headers. The raw script "
        "(bench/raw_publish_file.py): json.loads each line, send the line's own JSON bytes (larger than the "
        f"Avro value) keyed by subject, no validation, no headers; chunks of {DEFAULT_BATCH_SIZE}, one in "
        "flight while the next is sent.",
        "Both producers: producer_kwargs(settings) (acks=all, idempotence, linger, batch size, compression), "
        f"{settings.topics.partitions} partitions.",
    ]
    return result


def write_corpus(path: Path, count: int) -> list[str]:
    """``count`` JSON lines of :func:`bench.workload.make_dossiers` events (cycled) into ``path``; the
    lines."""
    distinct = [to_json(event) for event in make_dossiers(min(_DISTINCT, count))]
    lines = [distinct[i % len(distinct)] for i in range(count)]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return lines


def raw_producer_config(settings: Settings) -> dict[str, Any]:
    """``producer_kwargs(settings)`` as JSON for the raw script; BenchError if they cannot be (a TLS
    context: the secure stack is not one this part runs on)."""
    kwargs = producer_kwargs(settings)
    try:
        json.dumps(kwargs)
    except TypeError as exc:
        raise BenchError(f"the producer settings cannot be handed to the raw script as JSON: {exc}") from exc
    return kwargs


def lgsp_command() -> list[str]:
    """The ``lgsp`` console script beside this interpreter, as a user runs it (else through the
    interpreter)."""
    script = Path(sys.executable).with_name("lgsp")
    return (
        [str(script)] if script.exists() else [sys.executable, "-c", "from lgsp.script import main; main()"]
    )


def lgsp_publish_command(path: Path) -> list[str]:
    return [*lgsp_command(), "publish", str(path), "--json"]


def raw_script_command(path: Path, topic: str, config: Path) -> list[str]:
    return module_command(
        "bench.raw_publish_file", str(path), topic, str(config), "--chunk", str(DEFAULT_BATCH_SIZE)
    )


def measure(name: str, command: Sequence[str], env: dict[str, str], expected: int, timeout_s: float) -> Run:
    """Run ``command`` to its exit; its wall and CPU time. BenchError unless it exited 0 and published
    ``expected`` events."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    try:
        done = subprocess.run(
            list(command), env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{name} did not finish within {timeout_s:.0f} s") from exc
    seconds = time.perf_counter() - started
    cpu_seconds = _children_cpu() - cpu_before
    if done.returncode != 0:
        raise BenchError(
            f"{name} exited with {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
    published = published_count(name, done.stdout)
    if published != expected:
        raise BenchError(f"{name} published {published} of {expected} events:\n{done.stdout[-2000:]}")
    return Run(seconds, cpu_seconds, published)


def published_count(name: str, stdout: str) -> int:
    """How many events a contender says it published: the ``published`` of the JSON object it printed last
    (``lgsp publish --json`` prints its summary as one indented object; the raw script one line). A summary
    with failed lines, or a run stopped by Kafka or the registry, is an error."""
    start = stdout.rfind("\n{")
    text = stdout[start + 1 :] if start >= 0 else stdout.lstrip()
    try:
        summary = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BenchError(f"{name} printed no JSON summary:\n{stdout[-2000:]}") from exc
    if not isinstance(summary, dict) or not isinstance(summary.get("published"), int):
        raise BenchError(f"{name}'s summary has no published count: {text[:500]}")
    if summary.get("failed") or summary.get("fatal"):
        raise BenchError(f"{name} failed lines or stopped: {text[:2000]}")
    published: int = summary["published"]
    return published


def _children_cpu() -> float:
    """User + system CPU seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _profile(
    ctx: BenchContext,
    command: Sequence[str],
    env: dict[str, str],
    count: int,
    timeout_s: float,
    result: PartResult,
) -> None:
    """py-spy on one more ``lgsp publish`` process (not counted), from just after it starts to its exit."""
    measured = result.figures.get("lgsp_publish")
    seconds = (count / measured.median if measured is not None and measured.ok else 30.0) + 5
    raw = ctx.work_dir / f"{PART}-lgsp-publish.pyspy.txt"
    process = subprocess.Popen(
        list(command), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    try:
        with sampling(process.pid, seconds, raw) as available:
            process.wait(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if not available:
        result.profile.append("py-spy is not installed (pip install py-spy); no profile")
        return
    result.profile += [
        f"lgsp publish FILE under py-spy (not counted; exit {process.returncode})",
        *hot_paths(raw),
    ]
