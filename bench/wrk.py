"""wrk (Debian's ``wrk`` package) at saturation: as many requests as ``connections`` keep-alive connections
can push, bodies from a file used in turn by a Lua script, with wrk's latency distribution.

Debian's wrk is not wrk2 (it has no constant-rate mode), so fixed offered loads use :mod:`bench.loadgen`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import BenchError

LUA = """\
-- POST the bodies of a file (one per line) in turn, with fixed headers; args: path, content type, auth, file
local bodies = {}
local index = 0
local target, headers

function init(args)
  target = args[1]
  headers = {["Content-Type"] = args[2], ["Authorization"] = args[3]}
  for line in io.lines(args[4]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  index = math.random(#bodies) - 1
end

function request()
  index = index % #bodies + 1
  return wrk.format("POST", target, headers, bodies[index])
end
"""

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s*(50|75|90|99)(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\s*$")


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_s: float
    latency_ms: dict[str, float]
    non_2xx: int
    socket_errors: int
    command: str

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "requests_per_s": self.requests_per_s,
            "latency_ms": self.latency_ms,
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
            "command": self.command,
        }


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(
    url: str,
    *,
    bodies: Path,
    content_type: str,
    authorization: str,
    connections: int,
    seconds: float,
    script_dir: Path,
    threads: int = 1,
) -> WrkResult:
    """wrk for ``seconds`` with ``connections`` connections; BenchError if it is missing or fails."""
    executable = wrk_path()
    if executable is None:
        raise BenchError("wrk is not installed (Debian: apt-get install -y wrk)")
    script = script_dir / "post_bodies.lua"
    script.write_text(LUA, encoding="utf-8")
    path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
    command = [
        executable, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
        "--latency", "--timeout", "10s", "-s", str(script), url, "--", path, content_type, authorization,
        str(bodies),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"wrk failed: {exc}") from exc
    if done.returncode != 0:
        raise BenchError(f"wrk exited with {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    shown = [part if part != authorization else "Bearer ***" for part in command]
    return parse_wrk(done.stdout, " ".join(shown))


def parse_wrk(output: str, command: str = "") -> WrkResult:
    """wrk's summary: requests, duration, rate, the latency percentiles, error counts."""
    latency: dict[str, float] = {}
    for line in output.splitlines():
        match = _PERCENTILE.match(line)
        if match:
            latency[f"p{match[1]}"] = float(match[2]) * _UNITS_MS[match[3]]
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if total is None or rate is None:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        requests=int(total[1]),
        seconds=float(total[2]) * _UNITS_MS[total[3]] / 1000,
        requests_per_s=float(rate[1]),
        latency_ms=latency,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(x) for x in errors.groups()) if errors else 0,
        command=command,
    )
