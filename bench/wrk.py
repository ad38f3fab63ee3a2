"""wrk at saturation (Debian's ``wrk``, closed loop) with a Lua script that gives every event a unique id.

The ingress part's saturation steps: each request is one of a few prepared CloudEvents bodies (single
events or batches of the workload's DossierSynced) with a fresh ``id`` per event, filled in by Lua; the
script's ``done()`` prints one ``LGSP_RESULT`` JSON line (requests, errors, latency percentiles) that
:func:`run_wrk` reads. Fixed offered loads are :mod:`bench.loadgen`'s (open loop): Debian's wrk has no
constant-rate mode, so its latencies are from the actual send (coordinated omission) and it is used only
at saturation.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.workload import make_dossiers
from bus.cloudevents import to_structured

ID_MARK = "@@ID@@"

LUA = r"""
local templates = %(templates)s
local path = %(path)s
local headers = {["Content-Type"] = %(content_type)s, ["Authorization"] = %(authorization)s}
local threads = 0
local counter = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
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
    return LUA % {
        "templates": lua_templates,
        "path": _lua_string(scenario.path),
        "content_type": _lua_string(scenario.content_type),
        "authorization": _lua_string(f"Bearer {token}"),
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
