"""Part ingress: ``lgsp ingress`` under load, single events and batches.

One ingress (``lgsp ingress --port 0``, uvicorn; as many worker processes as ``LGSP_INGRESS__WORKERS`` says,
1 by default; a child process, ready once ``/readyz`` answers; with an attester key, so it signs what it
publishes as production's does) on this part's topics, with one API key
(agency 000.00.00.H29, granted the other agencies of the bodies). Bodies are DossierSynced events as
CloudEvents JSON. Each round, in turn:

* **paced single events** at each fixed offered load (1,000 and 2,000 req/s by default) with
  :mod:`bench.loadgen`, a separate open-loop process that measures latency from each request's due time
  (no coordinated omission);
* **single events at saturation** and **batches at saturation** with wrk (:mod:`bench.wrk`: a unique
  CloudEvents id per event).

A ``202`` means Kafka acknowledged every event of the request (acks=all); any other answer fails the part.
At the end the topics must have grown by the number of events answered ``202`` (plus at most the requests wrk
had in flight when it stopped).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import wrk
from bench.corpus import topic_counts
from bench.model import BenchContext, PartResult
from bench.procs import BenchError, Child, lgsp_command, module_command, settings_env, spawn, wait_http_ready
from bench.profiling import hot_paths, pyspy, sampling
from bench.stack import prepare_topics
from bench.stats import Better, Figure, Ratio, Target
from bench.workload import AGENCIES, make_dossiers
from bus.cloudevents import to_structured
from bus.settings import Settings
from bus.signing import create_agency_key
from producers.ingress.auth import ApiKeyStore

_DISTINCT = 2_000
_SINGLE = "application/cloudevents+json"
_BATCH = "application/cloudevents-batch+json"
TITLE = "Ingress: HTTP single-event and batch"
_PORT_LINE = re.compile(r"Uvicorn running on http://([\d.]+):(\d+)")


@dataclass(frozen=True)
class Setup:
    token: str
    bodies: Path
    workdir: Path


def run(ctx: BenchContext) -> PartResult:
    rounds = ctx.sizes.rounds_for("ingress")
    settings = ctx.part_settings("ingress")
    result = PartResult("ingress", TITLE, rounds=rounds)
    work = ctx.work_dir / "ingress"
    work.mkdir(parents=True, exist_ok=True)
    asyncio.run(prepare_topics(settings))
    setup = _setup(work)
    # As in production, the ingress signs what it publishes as the attester of the agency it authenticated.
    attester = create_agency_key(AGENCIES[0][0], work / "attester", role="ingress")
    env = settings_env(
        settings,
        INGRESS__API_KEYS_FILE=str(work / "keys.json"),
        SIGNING__KEY_FILE=str(attester.private_key_file),
        SIGNING__KEY_ID=attester.entry.key_id,
        # One API key here stands for the many agencies of a national load: the per-agency limits (a fair
        # share for each agency) are lifted, the process-wide ones (max_in_flight, connections) kept.
        INGRESS__RATE_PER_KEY="1e9",
        INGRESS__BURST_PER_KEY="1000000000",
        INGRESS__MAX_IN_FLIGHT_PER_KEY="1000000",
    )
    before = _held(settings)
    with running_ingress(env, work, timeout_s=90) as ingress:
        accepted = _measure(ctx, ingress, setup, result)
        landed = _held(settings) - before
        if ctx.profile:
            _profile(ctx, ingress, setup, result)
    _check_landed(ctx, result, accepted, landed)
    _finish(ctx, result)
    return result


def _held(settings: Settings) -> int:
    """Records on this part's topics now."""
    return sum(asyncio.run(topic_counts(settings, settings.topics.prefix)).values())


@dataclass
class IngressProcess:
    child: Child
    url: str

    def cpu_seconds(self) -> float:
        """CPU time of the ingress and of its worker processes (``LGSP_INGRESS__WORKERS`` > 1)."""
        pids = (self.child.pid, *_children(self.child.pid))
        return sum(_cpu_ticks(pid) for pid in pids) / os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state, ppid, ...), or None if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu_ticks(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[11]) + int(fields[12]) if fields else 0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(entry.name)) is not None and fields[1] == str(pid):
            found.append(int(entry.name))
    return found


@contextmanager
def running_ingress(env: dict[str, str], work: Path, timeout_s: float) -> Iterator[IngressProcess]:
    """``lgsp ingress --port 0`` as a child process, once it has said its port and ``/readyz`` answers."""
    child = spawn("ingress", lgsp_command("ingress", "--port", "0"), env, work)
    try:
        url = _bound_url(child, timeout_s)
        wait_http_ready(child, f"{url}/readyz", timeout_s)
        yield IngressProcess(child, url)
    finally:
        child.stop()


def _bound_url(child: Child, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        match = _PORT_LINE.search(child.log_path.read_text(encoding="utf-8", errors="replace"))
        if match:
            return f"http://{match.group(1)}:{match.group(2)}"
        if not child.alive():
            raise BenchError(f"the ingress exited while starting:\n{child.log_tail()}")
        time.sleep(0.05)  # polls the server's own log for the port it bound
    child.stop()
    raise BenchError(f"the ingress did not report its port within {timeout_s:.0f} s:\n{child.log_tail()}")


def _check_landed(ctx: BenchContext, result: PartResult, accepted: int, landed: int) -> None:
    """Every event answered 202 is on the topics. wrk stops with requests in flight whose answers it does
    not count, so up to one request per wrk connection may have landed unanswered."""
    sizes = ctx.sizes
    per_round = sizes.ingress_single_connections + sizes.ingress_batch_connections * sizes.ingress_batch
    in_flight = result.rounds * per_round
    if not accepted <= landed <= accepted + in_flight:
        raise BenchError(f"{accepted} events were answered 202 but {landed} landed on the topics")
    result.notes.append(
        f"{accepted:,} events answered 202 during the measurements, {landed:,} landed on the topics (the "
        f"difference: requests wrk had in flight when it stopped, at most {in_flight:,} events)."
    )


def _setup(work: Path) -> Setup:
    """The API key (agency H29, granted the other agencies of the bodies) and the paced bodies."""
    agencies = [code for code, _, _ in AGENCIES]
    keys = ApiKeyStore()
    token = keys.add_key(agencies[0], grants=agencies[1:])
    keys.save(work / "keys.json")
    bodies = work / "single.jsonl"
    lines = (
        json.dumps(to_structured(e), ensure_ascii=False, separators=(",", ":"))
        for e in make_dossiers(_DISTINCT)
    )
    bodies.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return Setup(token, bodies, work)


def _scenarios(ctx: BenchContext) -> list[wrk.Scenario]:
    sizes = ctx.sizes
    return [
        wrk.Scenario(
            "single@max",
            "/v1/events",
            _SINGLE,
            1,
            connections=sizes.ingress_single_connections,
            threads=1,
        ),
        wrk.Scenario(
            "batch@max",
            "/v1/events:batch",
            _BATCH,
            sizes.ingress_batch,
            connections=sizes.ingress_batch_connections,
            threads=1,
        ),
    ]


def _measure(ctx: BenchContext, ingress: IngressProcess, setup: Setup, result: PartResult) -> int:
    """Every round: each paced rate, then single and batch saturation; the events answered 202."""
    sizes = ctx.sizes
    figures = result.figures
    paced = {
        rate: (
            figures.add(
                Figure(f"single_{rate}_p50", f"single event at {rate} req/s: p50", "ms", Better.LOWER)
            ),
            figures.add(
                Figure(f"single_{rate}_p99", f"single event at {rate} req/s: p99", "ms", Better.LOWER)
            ),
            figures.add(
                Figure(
                    f"single_{rate}_cpu",
                    f"single event at {rate} req/s: ingress CPU per request",
                    "CPU µs/request",
                    Better.LOWER,
                )
            ),
        )
        for rate in sizes.ingress_rates
    }
    saturation = {
        scenario.name: (
            scenario,
            _script(setup, scenario),
            figures.add(Figure(f"{_key(scenario)}", _label(scenario), "events/s")),
            figures.add(Figure(f"{_key(scenario)}_p99", f"{_label(scenario)}: p99", "ms", Better.LOWER)),
            figures.add(
                Figure(
                    f"{_key(scenario)}_cpu",
                    f"{_label(scenario)}: ingress CPU per event",
                    "CPU µs/event",
                    Better.LOWER,
                )
            ),
        )
        for scenario in _scenarios(ctx)
    }
    accepted = 0
    for index in range(result.rounds):
        for rate, (p50, p99, paced_cpu) in paced.items():
            cpu = ingress.cpu_seconds()
            outcome = _paced(ctx, ingress.url, setup, rate, f"loadgen-{rate}-{index}")
            if outcome["ok_total"]:
                outcome["ingress_cpu_us_per_request"] = (
                    (ingress.cpu_seconds() - cpu) / outcome["ok_total"] * 1e6
                )
                paced_cpu.add(outcome["ingress_cpu_us_per_request"])
            p50.add(outcome["latency_ms"]["p50"])
            p99.add(outcome["latency_ms"]["p99"])
            p99.detail.setdefault("rounds", []).append(outcome)
            accepted += outcome["ok_total"]
            ctx.say(
                f"ingress: {rate} req/s offered, {outcome['achieved_rate']:,.0f} achieved: "
                f"p50 {outcome['latency_ms']['p50']:.1f} ms, p99 {outcome['latency_ms']['p99']:.1f} ms"
            )
        for scenario, script, throughput, latency, cpu_per_event in saturation.values():
            cpu = ingress.cpu_seconds()
            run = _wrk(ctx, ingress.url, script, scenario)
            events = run["ok_requests"] * scenario.events_per_request
            run["ingress_cpu_us_per_event"] = (ingress.cpu_seconds() - cpu) / events * 1e6 if events else None
            accepted += events
            throughput.add(run["events_per_s"])
            latency.add(run["p99_us"] / 1000)
            if run["ingress_cpu_us_per_event"] is not None:
                cpu_per_event.add(run["ingress_cpu_us_per_event"])
            throughput.detail.setdefault("rounds", []).append(run)
            ctx.say(
                f"ingress: {scenario.name} {run['events_per_s']:,.0f} events/s, "
                f"p99 {run['p99_us'] / 1000:.1f} ms, "
                f"ingress CPU {run['ingress_cpu_us_per_event'] or 0:.0f} µs/event"
            )
    return accepted


def _key(scenario: wrk.Scenario) -> str:
    return "single_saturation" if scenario.events_per_request == 1 else "batch_saturation"


def _label(scenario: wrk.Scenario) -> str:
    if scenario.events_per_request == 1:
        return f"single events at saturation (wrk, {scenario.connections} connections)"
    return f"batches of {scenario.events_per_request} at saturation (wrk, {scenario.connections} connections)"


def _script(setup: Setup, scenario: wrk.Scenario) -> Path:
    script = setup.workdir / f"{scenario.name.replace('@', '-')}.lua"
    templates = 50 if scenario.events_per_request == 1 else 4
    script.write_text(wrk.lua_script(scenario, setup.token, templates), encoding="utf-8")
    return script


def _wrk(ctx: BenchContext, url: str, script: Path, scenario: wrk.Scenario) -> dict[str, Any]:
    seconds = max(1, round(ctx.sizes.ingress_seconds))
    try:
        run = wrk.run_wrk(url, script, scenario, seconds)
    except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
        raise BenchError(f"wrk failed for {scenario.name}: {exc}") from exc
    errors = run["status_errors"] + run["connect_errors"] + run["read_errors"] + run["write_errors"]
    if errors or run["timeouts"]:
        raise BenchError(
            f"{scenario.name}: {errors} errors and {run['timeouts']} timeouts in {run['requests']} requests"
        )
    return run


def _paced(ctx: BenchContext, url: str, setup: Setup, rate: int, name: str) -> dict[str, Any]:
    seconds = ctx.sizes.ingress_seconds
    command = module_command(
        "bench.loadgen", "--url", f"{url}/v1/events", "--bodies", str(setup.bodies),
        "--header", f"Content-Type: {_SINGLE}", "--header", f"Authorization: Bearer {setup.token}",
        "--rate", str(rate), "--duration", str(seconds), "--warmup", str(min(1.0, seconds / 2)),
        "--connections", "64",
    )  # fmt: skip
    child = spawn(name, command, settings_env(ctx.settings), ctx.work_dir)
    child.wait(seconds + 120)
    lines = [line for line in child.log_path.read_text(encoding="utf-8").splitlines() if line.startswith("{")]
    if not lines:
        raise BenchError(f"{name} printed no result:\n{child.log_tail()}")
    outcome: dict[str, Any] = json.loads(lines[-1])
    bad = {status: n for status, n in outcome["statuses"].items() if not status.startswith("2")}
    if bad:
        raise BenchError(f"the ingress answered errors at {rate} req/s: {bad}")
    return outcome


def _profile(ctx: BenchContext, ingress: IngressProcess, setup: Setup, result: PartResult) -> None:
    """py-spy on the ingress during one more saturation run of each kind (not counted)."""
    if pyspy() is None:
        result.profile.append("py-spy is not installed (pip install py-spy); no profile")
        return
    for scenario in _scenarios(ctx):
        raw = setup.workdir / f"ingress-{_key(scenario)}.pyspy.txt"
        with sampling(ingress.child.pid, ctx.sizes.ingress_seconds, raw):
            run = _wrk(ctx, ingress.url, _script(setup, scenario), scenario)
        result.profile.append(
            f"{scenario.name} under py-spy (not counted): {run['events_per_s']:,.0f} events/s"
        )
        result.profile += hot_paths(raw)


def _finish(ctx: BenchContext, result: PartResult) -> None:
    sizes = ctx.sizes
    result.sizes = {
        "ingress_workers": ctx.part_settings("ingress").ingress.workers,
        "seconds_per_step": sizes.ingress_seconds,
        "offered_rates": list(sizes.ingress_rates),
        "batch_events": sizes.ingress_batch,
        "wrk_connections_single": sizes.ingress_single_connections,
        "wrk_connections_batch": sizes.ingress_batch_connections,
    }
    result.ratios = [Ratio("batch_saturation", "single_saturation", "single events at saturation")]
    top = max(sizes.ingress_rates)
    result.targets = [
        Target("ingress batch ≥ 20k events/s", "batch_saturation", ">=", 20_000, "events/s"),
        Target(f"single-event p99 < 25 ms at {top} req/s", f"single_{top}_p99", "<", 25.0, "ms"),
    ]
    result.notes += [
        "Fixed loads: bench/loadgen.py (open loop, ≤ 64 keep-alive connections, latency from each request's "
        "due time, a warm-up second excluded). Saturation: wrk, 1 thread, closed loop (Debian's wrk has no "
        "constant-rate mode); its latencies are from the actual send.",
        "The load generators, the ingress and Kafka share the machine's cores. The ingress CPU per request "
        "or event (its processes' user + system time over the step, workers included) depends least on "
        "what else the machine runs.",
    ]
