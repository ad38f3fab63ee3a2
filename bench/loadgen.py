"""A paced, open-loop HTTP/1.1 load generator (wrk2-style constant rate), run as its own process.

    python -m bench.loadgen --url http://127.0.0.1:8080/v1/events --bodies FILE --header "K: V" \\
        --rate 1000 --duration 10 [--warmup 1] [--connections 64]

Request ``k`` is *due* at ``start + k / rate``, whatever happened to earlier requests. It goes out on an idle
keep-alive connection (a new one is opened while fewer than ``--connections`` exist; beyond that it waits
for one to free up). Its latency is measured from the time it was due, not from when it was written, so a
slow server cannot hide its queueing by slowing the generator down (no coordinated omission). The
generator's own lag (write time − due time) is reported too: if it is large, the generator, not the server,
was the bottleneck. Bodies (one per line of ``--bodies``) are used in turn. The result is one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.stats import percentile

IDLE_CLOSE_S = 2.0


@dataclass
class Outcome:
    """What happened to the requests due after the warm-up."""

    latencies_ms: list[float] = field(default_factory=list)
    lags_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    ok_total: int = 0
    """2xx answers, warm-up included (to compare with what landed on the topics)."""
    first_due: float = 0.0
    last_done: float = 0.0


class Connection:
    """One keep-alive HTTP/1.1 connection that answers requests in turn."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = time.perf_counter()

    async def exchange(self, request: bytes) -> int:
        """Write ``request``, read the whole response; its status code."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


class Generator:
    def __init__(self, url: str, requests: Sequence[bytes], rate: float, connections: int) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.requests = requests
        self.rate = rate
        self.max_connections = connections
        self.idle: list[Connection] = []
        self.opened = 0
        self.freed = asyncio.Condition()

    async def connection(self) -> Connection:
        async with self.freed:
            self._drop_stale()
            while not self.idle and self.opened >= self.max_connections:
                await self.freed.wait()
                self._drop_stale()
            if self.idle:
                return self.idle.pop()
            self.opened += 1
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return Connection(reader, writer)

    async def release(self, conn: Connection | None) -> None:
        async with self.freed:
            if conn is None:
                self.opened -= 1
            else:
                conn.idle_since = time.perf_counter()
                self.idle.append(conn)
            self.freed.notify()

    def _drop_stale(self) -> None:
        """Close connections idle for longer than ``IDLE_CLOSE_S``: the server may be closing them (uvicorn's
        keep-alive timeout is 5 s), and a request written into a closing connection is lost in between."""
        now = time.perf_counter()
        fresh = [conn for conn in self.idle if now - conn.idle_since < IDLE_CLOSE_S]
        for conn in self.idle:
            if now - conn.idle_since >= IDLE_CLOSE_S:
                conn.close()
                self.opened -= 1
        self.idle = fresh

    async def one(self, index: int, due: float, counted: bool, outcome: Outcome) -> None:
        conn: Connection | None = None
        try:
            conn = await self.connection()
            sent = time.perf_counter()
            status = str(await conn.exchange(self.requests[index % len(self.requests)]))
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            status, sent = type(exc).__name__, time.perf_counter()
            if conn is not None:
                conn.close()
                conn = None
        done = time.perf_counter()
        await self.release(conn)
        if status.startswith("2"):
            outcome.ok_total += 1
        if counted:
            outcome.latencies_ms.append((done - due) * 1000)
            outcome.lags_ms.append((sent - due) * 1000)
            outcome.statuses[status] += 1
            outcome.last_done = max(outcome.last_done, done)

    async def run(self, duration: float, warmup: float) -> Outcome:
        outcome = Outcome()
        total = int((duration + warmup) * self.rate)
        warm = int(warmup * self.rate)
        start = time.perf_counter() + 0.05
        outcome.first_due = start + warm / self.rate
        tasks: set[asyncio.Task[None]] = set()
        index = 0
        while index < total:
            now = time.perf_counter()
            while index < total and start + index / self.rate <= now:
                task = asyncio.create_task(self.one(index, start + index / self.rate, index >= warm, outcome))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                index += 1
            if index < total:
                await asyncio.sleep(max(0.0, start + index / self.rate - time.perf_counter()))
        if tasks:
            await asyncio.wait(tasks, timeout=60)
        for conn in self.idle:
            conn.close()
        return outcome


def build_requests(url: str, bodies: Sequence[bytes], headers: Sequence[str]) -> list[bytes]:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc}", *headers]
    return [("\r\n".join([*head, f"Content-Length: {len(b)}", "", ""])).encode() + b for b in bodies]


def summary(outcome: Outcome, rate: float, duration: float) -> dict[str, Any]:
    lat, lag = outcome.latencies_ms, outcome.lags_ms
    span = max(outcome.last_done - outcome.first_due, 1e-9)
    ok = sum(n for status, n in outcome.statuses.items() if status.startswith("2"))
    return {
        "offered_rate": rate,
        "duration_s": duration,
        "requests": len(lat),
        "ok": ok,
        "ok_total": outcome.ok_total,
        "statuses": dict(outcome.statuses),
        "achieved_rate": ok / span,
        "latency_ms": {
            "p50": percentile(lat, 0.50),
            "p90": percentile(lat, 0.90),
            "p99": percentile(lat, 0.99),
            "p999": percentile(lat, 0.999),
            "max": max(lat, default=float("nan")),
        },
        "generator_lag_ms": {"p50": percentile(lag, 0.5), "p99": percentile(lag, 0.99)},
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", required=True, help="file with one request body per line")
    parser.add_argument("--header", action="append", default=[], help="'Name: value' (repeatable)")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds at the rate before measuring")
    parser.add_argument("--connections", type=int, default=64, help="at most this many connections")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with open(args.bodies, "rb") as file:
        bodies = [line.rstrip(b"\n") for line in file if line.strip()]
    generator = Generator(
        args.url, build_requests(args.url, bodies, args.header), args.rate, args.connections
    )
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        runner = asyncio.run
    outcome = runner(generator.run(args.duration, args.warmup))
    print(json.dumps(summary(outcome, args.rate, args.duration)), flush=True)


if __name__ == "__main__":
    main()
