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
import contextlib
import json
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast
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


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that answers requests in turn (callbacks, no task per request:
    at 1k requests/s a generator built on streams and tasks used most of a core on this kind of machine)."""

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.response_end: int | None = None
        self.status = 0
        self.request: Pending | None = None
        self.idle_since = time.perf_counter()
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def send(self, request: Pending) -> None:
        assert self.transport is not None
        self.request = request
        request.sent = time.perf_counter()
        self.transport.write(self.generator.requests[request.index % len(self.generator.requests)])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.request is not None and self._parse():
            request, self.request = self.request, None
            self.generator.answered(self, request, str(self.status))

    def _parse(self) -> bool:
        """Whether a whole response is in the buffer (then it is removed from it)."""
        if self.response_end is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = bytes(self.buffer[:end]).lower()
            self.status = int(head[9:12])
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                length = int(head[at + 17 :].split(b"\r\n", 1)[0])
            self.response_end = end + 4 + length
        if len(self.buffer) < self.response_end:
            return False
        del self.buffer[: self.response_end]
        self.response_end = None
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.closing:  # closed on purpose (stale or at the end): nobody's failure
            return
        request, self.request = self.request, None
        self.generator.lost(self, request, type(exc).__name__ if exc else "ConnectionClosed")

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()


@dataclass(slots=True)
class Pending:
    """One request: its index (which body), the time it was due and the time it was written."""

    index: int
    due: float
    counted: bool
    sent: float = 0.0


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
        self.waiting: deque[Pending] = deque()
        self.outstanding = 0
        self.outcome = Outcome()
        self.all_done: asyncio.Future[None] | None = None

    def dispatch(self, request: Pending) -> None:
        """Write ``request`` on an idle connection, a new one, or queue it for the next one that frees up."""
        self.outstanding += 1
        conn = self._idle_connection()
        if conn is not None:
            conn.send(request)
        elif self.opened < self.max_connections:
            self.opened += 1
            asyncio.get_running_loop().create_task(self._open(request))
        else:
            self.waiting.append(request)

    def _idle_connection(self) -> Connection | None:
        """The most recently used idle connection; older ones than ``IDLE_CLOSE_S`` are closed: the server may
        be closing them (uvicorn's keep-alive timeout is 5 s), and a request written into a closing
        connection is lost in between."""
        now = time.perf_counter()
        while self.idle:
            conn = self.idle.pop()
            if now - conn.idle_since < IDLE_CLOSE_S and conn.transport is not None:
                return conn
            self.opened -= 1
            conn.close()
        return None

    async def _open(self, request: Pending) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: Connection(self), self.host, self.port)
        except OSError as exc:
            self.opened -= 1
            request.sent = time.perf_counter()
            self._finish(request, type(exc).__name__)
            return
        conn.send(request)

    def answered(self, conn: Connection, request: Pending, status: str) -> None:
        self._finish(request, status)
        if self.waiting:
            conn.send(self.waiting.popleft())
        else:
            conn.idle_since = time.perf_counter()
            self.idle.append(conn)

    def lost(self, conn: Connection, request: Pending | None, reason: str) -> None:
        self.opened -= 1
        if conn in self.idle:
            self.idle.remove(conn)
        if request is not None:
            self._finish(request, reason)

    def _finish(self, request: Pending, status: str) -> None:
        done = time.perf_counter()
        outcome = self.outcome
        if status.startswith("2"):
            outcome.ok_total += 1
        if request.counted:
            outcome.latencies_ms.append((done - request.due) * 1000)
            outcome.lags_ms.append((request.sent - request.due) * 1000)
            outcome.statuses[status] += 1
            outcome.last_done = max(outcome.last_done, done)
        self.outstanding -= 1
        if self.outstanding == 0 and self.all_done is not None and not self.all_done.done():
            self.all_done.set_result(None)

    async def run(self, duration: float, warmup: float) -> Outcome:
        loop = asyncio.get_running_loop()
        outcome = self.outcome
        total = int((duration + warmup) * self.rate)
        warm = int(warmup * self.rate)
        start = time.perf_counter() + 0.05
        outcome.first_due = start + warm / self.rate
        index = 0
        while index < total:
            now = time.perf_counter()
            while index < total and start + index / self.rate <= now:
                self.dispatch(Pending(index, start + index / self.rate, index >= warm))
                index += 1
            if index < total:
                await asyncio.sleep(max(0.0, start + index / self.rate - time.perf_counter()))
        if self.outstanding:
            self.all_done = loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_done, timeout=60)
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
