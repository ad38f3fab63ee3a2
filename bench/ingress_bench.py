"""HTTP ingress throughput and latency under a real load generator: Debian's ``wrk`` with a Lua script.

    LGSP_KAFKA__BOOTSTRAP_SERVERS=... LGSP_REGISTRY__URL=... \\
    .venv/bin/python bench/ingress_bench.py [--rounds 3] [--duration 15] [--batch 500] [--output FILE]

The ingress runs as its own process (``lgsp ingress --port 0``, uvicorn, ``LGSP_INGRESS__WORKERS`` workers)
on the local stack, with a fresh API key and its own topics. Scenarios, each ``--rounds`` times (median,
min–max):

    single@1k      POST /v1/events paced at --rate requests/s (1,000 by default) over 50 connections:
                   achieved rate, p50/p99 latency (target p99 < 50 ms)
    single@max     POST /v1/events, 32 connections, as fast as answers come: requests/s, p50/p99
    batch@max      POST /v1/events:batch of --batch events, 4 connections: events/s (target >= 20,000),
                   p50/p99 per request

Every request carries a unique CloudEvents id (generated in Lua); 202 is only answered after Kafka acked.
Pacing uses wrk's ``delay()`` against a monotonic clock (LuaJIT FFI), one schedule per wrk thread; latency is
measured by wrk from the actual send, so under overload it understates queueing (coordinated omission); the
achieved rate is reported beside it. At the end the bench checks that the topics grew by exactly the number
of events answered 202, and reports the ingress process's CPU time per event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.serde_bench import AGENCIES, make_dossiers
from bus.cloudevents import to_structured
from bus.kafka_client import connection_kwargs
from bus.settings import KafkaSettings, Settings
from bus.topics import admin_kwargs, all_topics, ensure_topics
from producers.ingress.auth import ApiKeyStore

ROOT = Path(__file__).resolve().parent
LGSP = str(Path(sys.executable).with_name("lgsp"))
ID_MARK = "@@ID@@"
TARGET_BATCH_EVENTS_PER_S = 20_000
TARGET_SINGLE_P99_MS = 50.0
_PORT_LINE = re.compile(r"Uvicorn running on http://([\d.]+):(\d+)")

LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } lgsp_timespec;
int clock_gettime(int clk_id, lgsp_timespec *tp);
]]
local clock = ffi.new("lgsp_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local templates = %(templates)s
local path = %(path)s
local headers = {["Content-Type"] = %(content_type)s, ["Authorization"] = %(authorization)s}
local interval = %(interval_ms)s
local threads = 0
local counter = 0
local next_at = nil

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function delay()
  if interval <= 0 then return 0 end
  local now = now_ms()
  if next_at == nil or next_at < now - 1000 then next_at = now end
  next_at = next_at + interval
  local wait = next_at - now
  if wait < 0 then return 0 end
  return wait
end

function request()
  local pieces = templates[(counter %% #templates) + 1]
  local parts = {}
  for i = 1, #pieces - 1 do
    counter = counter + 1
    parts[#parts + 1] = pieces[i]
    parts[#parts + 1] = string.format("%%08x-0000-4000-8000-%%012x", tid or 0, counter)
  end
  parts[#parts + 1] = pieces[#pieces]
  return wrk.format("POST", path, headers, table.concat(parts))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'LGSP_RESULT {"requests":%%d,"duration_us":%%d,"status_errors":%%d,"connect_errors":%%d,' ..
    '"read_errors":%%d,"write_errors":%%d,"timeouts":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"p999_us":%%d,"max_us":%%d,"mean_us":%%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    content_type: str
    events_per_request: int
    connections: int
    threads: int
    rate: float  # requests/s in total; 0 = unpaced


def _lua_string(text: str) -> str:
    level = "=" * 3
    return f"[{level}[{text}]{level}]"


def _templates(events_per_request: int, count: int) -> list[list[str]]:
    """``count`` request bodies split at their event ids (filled in by Lua), distinct entities in each."""
    dossiers = make_dossiers(events_per_request * count)
    bodies = []
    for start in range(0, len(dossiers), events_per_request):
        objs = []
        for event in dossiers[start : start + events_per_request]:
            obj = to_structured(event)
            obj["id"] = ID_MARK
            objs.append(obj)
        body = objs[0] if events_per_request == 1 else objs
        bodies.append(json.dumps(body, ensure_ascii=False, separators=(",", ":")).split(ID_MARK))
    return bodies


def lua_script(scenario: Scenario, token: str, template_count: int) -> str:
    templates = _templates(scenario.events_per_request, template_count)
    lua_templates = "{" + ",".join("{" + ",".join(_lua_string(p) for p in t) + "}" for t in templates) + "}"
    per_thread_interval = 1000.0 * scenario.threads / scenario.rate if scenario.rate > 0 else 0
    return LUA % {
        "templates": lua_templates,
        "path": _lua_string(scenario.path),
        "content_type": _lua_string(scenario.content_type),
        "authorization": _lua_string(f"Bearer {token}"),
        "interval_ms": f"{per_thread_interval:.6f}",
    }


def run_wrk(url: str, script: Path, scenario: Scenario, duration_s: int) -> dict[str, Any]:
    """One wrk run; its LGSP_RESULT line as a dict (plus requests/s)."""
    command = [
        "wrk", "-t", str(scenario.threads), "-c", str(scenario.connections), "-d", f"{duration_s}s",
        "--timeout", "10s", "-s", str(script), url + scenario.path,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 60, check=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("LGSP_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(line.removeprefix("LGSP_RESULT "))
    seconds = result["duration_us"] / 1e6
    result["requests_per_s"] = result["requests"] / seconds
    result["ok_requests"] = result["requests"] - result["status_errors"]
    result["events_per_s"] = result["ok_requests"] * scenario.events_per_request / seconds
    return result


@dataclass
class IngressProcess:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def cpu_seconds(self) -> float:
        """CPU time of the ingress and of its worker processes (``LGSP_INGRESS__WORKERS`` > 1)."""
        return sum(_cpu_ticks(pid) for pid in (self.process.pid, *_children(self.process.pid))) / os.sysconf(
            "SC_CLK_TCK"
        )


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
def running_ingress(env: dict[str, str], workdir: Path, timeout_s: float = 60.0) -> Iterator[IngressProcess]:
    """``lgsp ingress --port 0`` as a child process; ready once /readyz answers 200."""
    log = workdir / "ingress.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [LGSP, "ingress", "--port", "0"], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:
        url = _wait_for_port(process, log, timeout_s)
        _wait_ready(url, process, timeout_s)
        yield IngressProcess(process, url, log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        match = _PORT_LINE.search(log.read_text(errors="replace"))
        if match:
            return f"http://{match.group(1)}:{match.group(2)}"
        if process.poll() is not None:
            raise RuntimeError(f"the ingress exited: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)  # polls the server's own log for its bound port
    raise RuntimeError("the ingress did not report its port in time")


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=url, timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the ingress exited before it was ready")
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # polls /readyz
    raise RuntimeError("the ingress did not become ready in time")


async def topic_total(kafka: KafkaSettings, topics: Sequence[str]) -> int:
    admin = AIOKafkaAdminClient(**admin_kwargs(kafka))
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    partitions = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    consumer = AIOKafkaConsumer(**connection_kwargs(kafka, client_suffix="bench"))
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return int(sum(ends.values()))


async def delete_topics(kafka: KafkaSettings, prefix: str) -> None:
    admin = AIOKafkaAdminClient(**admin_kwargs(kafka))
    await admin.start()
    try:
        await admin.delete_topics(all_topics(prefix))
    finally:
        await admin.close()


def scenarios(rate: float, batch: int) -> list[Scenario]:
    single, batched = "application/cloudevents+json", "application/cloudevents-batch+json"
    return [
        Scenario("single@1k", "/v1/events", single, 1, connections=50, threads=2, rate=rate),
        Scenario("single@max", "/v1/events", single, 1, connections=32, threads=2, rate=0),
        Scenario("batch@max", "/v1/events:batch", batched, batch, connections=4, threads=2, rate=0),
    ]


def run(rounds: int, duration_s: int, rate: float, batch: int) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    settings = Settings()
    prefix = f"bench-ingress-{uuid.uuid4().hex[:8]}."
    settings.topics.prefix = prefix
    kafka = settings.kafka
    asyncio.run(ensure_topics(settings))
    topics = [t for t in all_topics(prefix) if not t.endswith(".dlq")]
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="lgsp-ingress-bench-") as tmp:
            workdir = Path(tmp)
            store = ApiKeyStore()
            # The events come from several provinces' committees: one key granted all of them.
            token = store.add_key(AGENCIES[0][0], grants=[code for code, _, _ in AGENCIES[1:]])
            store.save(workdir / "keys.json")
            env = {
                **os.environ,
                "LGSP_TOPICS__PREFIX": prefix,
                "LGSP_REGISTRY__AUTO_REGISTER": "true",
                "LGSP_INGRESS__API_KEYS_FILE": str(workdir / "keys.json"),
                "LGSP_INGRESS__MAX_IN_FLIGHT": "256",
            }
            before = asyncio.run(topic_total(kafka, topics))
            with running_ingress(env, workdir) as ingress:
                for scenario in scenarios(rate, batch):
                    script = workdir / f"{scenario.name.replace('@', '-')}.lua"
                    script.write_text(
                        lua_script(scenario, token, 50 if scenario.events_per_request == 1 else 4)
                    )
                    for index in range(rounds):
                        cpu = ingress.cpu_seconds()
                        result = run_wrk(ingress.url, script, scenario, duration_s)
                        used = ingress.cpu_seconds() - cpu
                        events = result["ok_requests"] * scenario.events_per_request
                        result["ingress_cpu_us_per_event"] = used / events * 1e6 if events else None
                        results.setdefault(scenario.name, []).append(result)
                        print(_line(scenario, index, rounds, result), file=sys.stderr)
                statuses = _answers(ingress.url)
                server_errors = _server_errors(ingress.log)
            landed = asyncio.run(topic_total(kafka, topics)) - before
    finally:
        asyncio.run(delete_topics(kafka, prefix))
    # wrk does not count answers still in flight when a run ends; the ingress's own count does.
    accepted = int(statuses.get("/v1/events 202", 0) + statuses.get("/v1/events:batch 202", 0) * batch)
    summary = summarize(results, rate, batch, duration_s, accepted, landed)
    summary["answers"] = statuses
    summary["server_errors"] = server_errors
    return summary


def _server_errors(log: Path) -> list[str]:
    """The distinct 5xx answers the ingress logged (why it said 503), at most 10."""
    seen: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        if " -> 5" in line:
            reason = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<id>", line.split(" -> ", 1)[1])[:300]
            if reason not in seen:
                seen.append(reason)
    return seen[:10]


def _answers(url: str) -> dict[str, float]:
    """The ingress's own count of answers by route and status (from its /metrics), once it is idle."""
    text = ""
    for _ in range(600):  # requests wrk gave up waiting for still finish: count them too
        text = httpx.get(url + "/metrics", timeout=10).text
        # one gauge, or one per worker (a pid label) with several workers
        in_flight = re.findall(r"^lgsp_ingress_in_flight_requests(?:\{[^}]*\})? (\S+)$", text, re.MULTILINE)
        if in_flight and all(float(value) == 0 for value in in_flight):
            break
        time.sleep(0.1)
    counts = {}
    for line in text.splitlines():
        match = re.match(r'lgsp_ingress_requests_total\{route="([^"]+)",status="(\d+)"\} (\S+)', line)
        if match:
            counts[f"{match.group(1)} {match.group(2)}"] = float(match.group(3))
    return counts


def _line(scenario: Scenario, index: int, rounds: int, result: dict[str, Any]) -> str:
    return (
        f"{scenario.name} round {index + 1}/{rounds}: {result['requests_per_s']:,.0f} req/s "
        f"{result['events_per_s']:,.0f} events/s p50 {result['p50_us'] / 1000:.1f} ms "
        f"p99 {result['p99_us'] / 1000:.1f} ms errors {result['status_errors']} "
        f"cpu {result['ingress_cpu_us_per_event'] or 0:.0f} us/event"
    )


def _stats(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(
    results: dict[str, list[dict[str, Any]]],
    rate: float,
    batch: int,
    duration: int,
    accepted: int,
    landed: int,
) -> dict[str, Any]:
    table = {}
    for name, runs in results.items():
        table[name] = {
            "requests_per_s": _stats([r["requests_per_s"] for r in runs]),
            "events_per_s": _stats([r["events_per_s"] for r in runs]),
            "p50_ms": _stats([r["p50_us"] / 1000 for r in runs]),
            "p99_ms": _stats([r["p99_us"] / 1000 for r in runs]),
            "errors": sum(r["status_errors"] + r["timeouts"] for r in runs),
            "ingress_cpu_us_per_event": _stats([r["ingress_cpu_us_per_event"] or 0 for r in runs]),
            "runs": runs,
        }
    single, batched = table.get("single@1k"), table.get("batch@max")
    return {
        "rate": rate,
        "batch": batch,
        "duration_s": duration,
        "scenarios": table,
        "accepted_events": accepted,
        "landed_events": landed,
        "targets": {
            "single_p99_ms_below": TARGET_SINGLE_P99_MS,
            "single_p99_met": single is not None and single["p99_ms"]["median"] < TARGET_SINGLE_P99_MS,
            "batch_events_per_s_at_least": TARGET_BATCH_EVENTS_PER_S,
            "batch_met": batched is not None
            and batched["events_per_s"]["median"] >= TARGET_BATCH_EVENTS_PER_S,
        },
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        "ingress (uvicorn, LGSP_INGRESS__WORKERS processes; wrk on the same machine)",
        "",
        "| scenario | requests/s | events/s | p50 ms | p99 ms | errors | ingress CPU µs/event |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in result["scenarios"].items():
        cells = [
            f"{row[k]['median']:,.0f} ({row[k]['min']:,.0f}–{row[k]['max']:,.0f})"
            for k in ("requests_per_s", "events_per_s")
        ]
        cells += [
            f"{row[k]['median']:.1f} ({row[k]['min']:.1f}–{row[k]['max']:.1f})" for k in ("p50_ms", "p99_ms")
        ]
        cells += [str(row["errors"]), f"{row['ingress_cpu_us_per_event']['median']:.0f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    targets = result["targets"]
    lines += [
        "",
        f"single-event p99 < {TARGET_SINGLE_P99_MS:g} ms at {result['rate']:,.0f} req/s: "
        f"{'met' if targets['single_p99_met'] else 'NOT met'}; "
        f"batch >= {TARGET_BATCH_EVENTS_PER_S:,} events/s: "
        f"{'met' if targets['batch_met'] else 'NOT met'}",
        f"events answered 202: {result['accepted_events']:,}; events that landed on the topics: "
        f"{result['landed_events']:,}",
        "answers by route and status: "
        + ", ".join(f"{k}: {v:,.0f}" for k, v in sorted(result.get("answers", {}).items())),
        *(f"5xx: {reason}" for reason in result.get("server_errors", [])),
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced single-event requests/s")
    parser.add_argument("--batch", type=int, default=500, help="events per batch request (<= 1000)")
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "ingress.json")
    parser.add_argument("--label", default="", help="free text stored with the result (e.g. before/after)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    result = run(args.rounds, args.duration, args.rate, args.batch)
    print(report(result))
    payload = {
        "bench": "ingress",
        "label": args.label,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "python": platform.python_version(),
        **result,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
