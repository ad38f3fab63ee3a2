"""Part 4, ingress: ``lgsp ingress`` under load, single events and batches.

One ingress process (``lgsp ingress``, uvicorn, one worker) on this part's topics, with one API key whose
agency is granted every source of the request bodies. Bodies are simulated events (all four types) as
CloudEvents JSON. Each round, in turn:

* **paced single events** at each fixed offered load (500 and 1,000 req/s by default) with
  :mod:`bench.loadgen`, a separate open-loop process measuring latency from each request's due time;
* **single events at saturation** with wrk (Lua script, keep-alive connections);
* **batches at saturation** with wrk, ``ingress_batch`` events per ``POST /v1/events:batch``.

A ``202`` means Kafka acknowledged every event of the request (acks=all); any other status counts as an error
and is reported.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.model import BenchContext, PartResult
from bench.procs import BenchError, Child, lgsp_command, module_command, settings_env, spawn, wait_http_ready
from bench.profiling import hot_paths, pyspy
from bench.stack import prepare_topics
from bench.stats import Better, Figure, Ratio, Target
from bench.wrk import WrkResult, run_wrk
from bus.cloudevents import to_structured
from bus.devstack.ports import free_port
from producers.ingress.auth import ApiKeyStore
from producers.simulate import SimulationConfig, generate

_SEED = 4
_DISTINCT = 2_000
_SINGLE = "application/cloudevents+json"
_BATCH = "application/cloudevents-batch+json"


@dataclass(frozen=True)
class Bodies:
    single: Path
    batch: Path
    authorization: str


def make_bodies(work: Path, batch_size: int) -> Bodies:
    """Request bodies (one per line) and a key allowed to publish every one of them."""
    events = [to_structured(e) for e in itertools.islice(generate(SimulationConfig(seed=_SEED)), _DISTINCT)]
    single = work / "single.jsonl"
    single.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events), encoding="utf-8")
    batch = work / "batch.jsonl"
    chunks = [events[i : i + batch_size] for i in range(0, len(events) - batch_size + 1, batch_size)]
    batch.write_text("".join(json.dumps(c, separators=(",", ":")) + "\n" for c in chunks), encoding="utf-8")
    sources = sorted({str(e["source"]) for e in events})
    keys = ApiKeyStore()
    token = keys.add_key(sources[0], grants=sources[1:])
    keys.save(work / "ingress-keys.json")
    return Bodies(single, batch, f"Bearer {token}")


def run(ctx: BenchContext) -> PartResult:
    sizes = ctx.sizes
    rounds = sizes.rounds_for("ingress")
    settings = ctx.part_settings("ingress")
    result = PartResult("ingress", "Ingress: HTTP single-event and batch", rounds=rounds)
    work = ctx.work_dir / "ingress"
    work.mkdir(parents=True, exist_ok=True)
    asyncio.run(prepare_topics(settings))
    bodies = make_bodies(work, sizes.ingress_batch)
    port = free_port("127.0.0.1")
    env = settings_env(settings, INGRESS__API_KEYS_FILE=str(work / "ingress-keys.json"))
    server = spawn("ingress", lgsp_command("ingress", "--port", str(port)), env, ctx.work_dir)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http_ready(server, f"{base}/readyz", timeout_s=90)
        _measure(ctx, base, bodies, work, result)
        if ctx.profile:
            _profile(ctx, server, base, bodies, work, result)
    finally:
        server.stop()
    _finish(ctx, result)
    return result


def _measure(ctx: BenchContext, base: str, bodies: Bodies, work: Path, result: PartResult) -> None:
    sizes = ctx.sizes
    figures = result.figures
    paced = {
        rate: (
            figures.add(Figure(f"single_{rate}_p50", f"single event at {rate} req/s: p50", "ms", Better.LOWER)),
            figures.add(Figure(f"single_{rate}_p99", f"single event at {rate} req/s: p99", "ms", Better.LOWER)),
        )
        for rate in sizes.ingress_rates
    }
    single = figures.add(Figure("single_saturation", "single events at saturation (wrk)", "events/s"))
    single_p99 = figures.add(
        Figure("single_saturation_p99", "single events at saturation: p99", "ms", Better.LOWER)
    )
    batch = figures.add(
        Figure("batch_saturation", f"batches of {sizes.ingress_batch} at saturation (wrk)", "events/s")
    )
    batch_p99 = figures.add(Figure("batch_saturation_p99", "batches at saturation: p99", "ms", Better.LOWER))
    for index in range(sizes.rounds_for("ingress")):
        for rate, (p50, p99) in paced.items():
            outcome = _paced(ctx, base, bodies, rate, f"loadgen-{rate}-{index}")
            _check_paced(outcome, rate)
            p50.add(outcome["latency_ms"]["p50"])
            p99.add(outcome["latency_ms"]["p99"])
            p99.detail.setdefault("rounds", []).append(outcome)
            ctx.say(
                f"ingress: {rate} req/s offered, {outcome['achieved_rate']:,.0f} achieved: "
                f"p50 {outcome['latency_ms']['p50']:.1f} ms, p99 {outcome['latency_ms']['p99']:.1f} ms"
            )
        run = _wrk(ctx, base + "/v1/events", bodies.single, _SINGLE, bodies, sizes.ingress_single_connections, work)
        single.add(run.requests_per_s)
        single_p99.add(run.latency_ms.get("p99", float("nan")))
        single.detail.setdefault("rounds", []).append(run.to_json())
        run = _wrk(
            ctx, base + "/v1/events:batch", bodies.batch, _BATCH, bodies, sizes.ingress_batch_connections, work
        )
        batch.add(run.requests_per_s * sizes.ingress_batch)
        batch_p99.add(run.latency_ms.get("p99", float("nan")))
        batch.detail.setdefault("rounds", []).append(run.to_json())
        ctx.say(
            f"ingress round {index + 1}: single {single.samples[-1]:,.0f} events/s, "
            f"batch {batch.samples[-1]:,.0f} events/s"
        )


def _paced(ctx: BenchContext, base: str, bodies: Bodies, rate: int, name: str) -> dict[str, Any]:
    sizes = ctx.sizes
    command = module_command(
        "bench.loadgen", "--url", f"{base}/v1/events", "--bodies", str(bodies.single),
        "--header", f"Content-Type: {_SINGLE}", "--header", f"Authorization: {bodies.authorization}",
        "--rate", str(rate), "--duration", str(sizes.ingress_seconds),
        "--warmup", str(min(1.0, sizes.ingress_seconds / 2)), "--connections", "64",
    )  # fmt: skip
    child = spawn(name, command, settings_env(ctx.settings), ctx.work_dir)
    child.wait(sizes.ingress_seconds + 120)
    lines = [line for line in child.log_path.read_text(encoding="utf-8").splitlines() if line.startswith("{")]
    if not lines:
        raise BenchError(f"{name} printed no result:\n{child.log_tail()}")
    outcome: dict[str, Any] = json.loads(lines[-1])
    return outcome


def _check_paced(outcome: dict[str, Any], rate: int) -> None:
    bad = {status: n for status, n in outcome["statuses"].items() if not status.startswith("2")}
    if bad:
        raise BenchError(f"the ingress answered errors at {rate} req/s: {bad}")


def _wrk(
    ctx: BenchContext, url: str, file: Path, content_type: str, bodies: Bodies, connections: int, work: Path
) -> WrkResult:
    run = run_wrk(
        url,
        bodies=file,
        content_type=content_type,
        authorization=bodies.authorization,
        connections=connections,
        seconds=ctx.sizes.ingress_seconds,
        script_dir=work,
    )
    if run.non_2xx or run.socket_errors:
        raise BenchError(
            f"wrk at {url}: {run.non_2xx} non-2xx answers and {run.socket_errors} socket errors "
            f"of {run.requests} requests"
        )
    return run


def _profile(
    ctx: BenchContext, server: Child, base: str, bodies: Bodies, work: Path, result: PartResult
) -> None:
    """py-spy on the ingress during one more saturation run of each kind (not counted)."""
    executable = pyspy()
    if executable is None:
        result.profile.append("py-spy is not installed; no profile")
        return
    for name, url, file, content_type, connections in (
        ("single", "/v1/events", bodies.single, _SINGLE, ctx.sizes.ingress_single_connections),
        ("batch", "/v1/events:batch", bodies.batch, _BATCH, ctx.sizes.ingress_batch_connections),
    ):
        raw = work / f"ingress-{name}.pyspy.txt"
        seconds = max(2, round(ctx.sizes.ingress_seconds))
        spy = subprocess.Popen(  # noqa: S603 - py-spy on our own child
            [executable, "record", "--pid", str(server.pid), "--duration", str(seconds), "--rate", "100",
             "--nonblocking", "--format", "raw", "-o", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        run = _wrk(ctx, base + url, file, content_type, bodies, connections, work)
        spy.wait(timeout=seconds + 60)
        result.profile += [f"{name} events at saturation under py-spy: {run.requests_per_s:,.0f} req/s"]
        result.profile += hot_paths(raw)


def _finish(ctx: BenchContext, result: PartResult) -> None:
    sizes = ctx.sizes
    result.sizes = {
        "seconds_per_step": sizes.ingress_seconds,
        "offered_rates": list(sizes.ingress_rates),
        "batch_events": sizes.ingress_batch,
        "wrk_connections_single": sizes.ingress_single_connections,
        "wrk_connections_batch": sizes.ingress_batch_connections,
        "distinct_bodies": _DISTINCT,
    }
    result.ratios = [Ratio("batch_saturation", "single_saturation", "single events at saturation")]
    top = max(sizes.ingress_rates)
    result.targets = [
        Target("ingress batch ≥ 20k events/s", "batch_saturation", ">=", 20_000, "events/s"),
        Target(f"single-event p99 < 50 ms at {top} req/s", f"single_{top}_p99", "<", 50.0, "ms"),
    ]
    result.notes += [
        "Fixed loads: bench/loadgen.py, open loop, latency from each request's due time (no coordinated "
        "omission), ≤ 64 keep-alive connections, 1 s warm-up excluded. Debian's wrk has no constant-rate "
        "mode, so it measures saturation only (closed loop, 1 thread).",
        "Every 202 means Kafka acknowledged the events (acks=all); the load generators and the server share "
        "the machine's cores with Kafka.",
    ]
