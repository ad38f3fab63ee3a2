"""Several ingress worker processes on one listening socket (pre-fork), to use more than one core.

One Python process answers about a core's worth of requests; the event loop cannot use a second core. With
``LGSP_INGRESS__WORKERS`` above 1, the supervisor (the ``lgsp ingress`` process) binds the port once and forks
that many workers; each builds its own app and its own :class:`bus.Publisher` (its own Kafka connections)
and accepts connections from the shared socket, so the kernel spreads them over the workers. Each worker
keeps its own ``max_in_flight`` bound: the ingress as a whole admits at most ``workers × max_in_flight``.

Metrics: the workers write their values to files in a private directory (prometheus_client's multiprocess
mode), and ``/metrics`` of any worker answers the sum over all of them, so a scrape of the one port sees the
whole ingress under the usual names. Gauges carry a ``pid`` label per worker (the in-flight gauge too: its
bound is per worker); the per-process runtime collectors (CPU, memory, GC) are not exported in this mode.

A worker that dies stops the ingress (the others are stopped gracefully and the exit status is 1): the
supervisor of the ingress (systemd, the container runtime) restarts it as a whole, rather than it running on
silently with fewer workers.
"""

from __future__ import annotations

import faulthandler
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Final

from prometheus_client import CollectorRegistry, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from bus.metrics import register_build_info

log = logging.getLogger(__name__)

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
_STOP_GRACE_S: Final = 30.0
"""How long a worker has to finish once told to stop; the supervisor kills what is left after it."""
_POLL_S: Final = 1.0
_EXIT_GRACE_S: Final = 10.0
"""How long a worker's interpreter may take to exit after its server has finished."""

Worker = Callable[[socket.socket, Path], None]
"""Runs one worker on the shared socket, with the metrics directory, until it is told to stop."""


def worker_count(setting: int) -> int:
    """The number of worker processes: the setting, or one per CPU for 0."""
    return setting if setting > 0 else max(os.cpu_count() or 1, 1)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket the workers share (port 0: one the OS picks, the same for every worker)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # connections wait in the backlog until a worker accepts them
    sock.set_inheritable(True)
    return sock


def run_workers(count: int, host: str, port: int, worker: Worker) -> int:
    """Fork ``count`` workers on one socket and wait for them; the exit status for the command."""
    sock = bind(host, port)
    with tempfile.TemporaryDirectory(prefix="lgsp-ingress-metrics-") as directory:
        # prometheus_client reads this variable when a worker creates a metric value (multiprocess mode).
        os.environ[MULTIPROC_ENV] = directory
        context = multiprocessing.get_context("fork")  # the workers inherit the settings and the socket
        processes = [
            context.Process(target=_child, args=(worker, sock, Path(directory)), name=f"ingress-worker-{n}")
            for n in range(count)
        ]
        for process in processes:
            process.start()
        bound_host, bound_port = sock.getsockname()[:2]
        # The line uvicorn itself prints, which tools and tests wait for to learn the port.
        address = f"[{bound_host}]" if ":" in bound_host else bound_host
        logging.getLogger("uvicorn.error").info(
            "Uvicorn running on http://%s:%d (Press CTRL+C to quit); %d workers", address, bound_port, count
        )
        status = _supervise(processes)
    sock.close()
    return status


def _child(worker: Worker, sock: socket.socket, directory: Path) -> None:
    # The values class was chosen when prometheus_client was imported, before the directory existed.
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)  # uvicorn installs its own once the server runs
    worker(sock, directory)
    # The server has finished and said so. A worker once stayed alive after that (the interpreter's exit
    # waiting on a thread), holding the whole ingress's stop: if it happens again, every thread's stack goes
    # to stderr, so the log says which thread, and the worker exits (status 1).
    faulthandler.dump_traceback_later(_EXIT_GRACE_S, exit=True)


def _supervise(processes: Sequence[BaseProcess]) -> int:
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)  # uvicorn: finish what is in flight, then exit

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        status = 0
        deadline: float | None = None
        while any(process.is_alive() for process in processes):
            if stopping and deadline is None:
                deadline = time.monotonic() + _STOP_GRACE_S
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break  # told to stop, and the grace is over: what is still alive is killed below
            # A bounded wait: a signal handled meanwhile does not wake it (PEP 475), so the loop looks again
            wait([p.sentinel for p in processes if p.is_alive()], timeout=min(left or _POLL_S, _POLL_S))
            dead = [p for p in processes if not p.is_alive() and p.exitcode != 0]
            if dead and not stopping:
                name, code = dead[0].name, dead[0].exitcode
                log.error("ingress worker %s exited with %s; stopping the others", name, code)
                status = 1
                stop(signal.SIGTERM, None)
        for process in processes:
            if process.is_alive():
                log.warning(
                    "ingress worker %s still alive %.0f s after the stop; killing it",
                    process.name,
                    _STOP_GRACE_S,
                )
                process.kill()
            process.join()
        return status
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def multiprocess_metrics(directory: Path, version: str | None = None) -> Callable[[Request], Response]:
    """A ``/metrics`` endpoint answering the sum of every worker's metrics (plus the build info)."""
    registry = CollectorRegistry()
    register_build_info(registry, version)
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]

    def endpoint(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), media_type=content_type)

    return endpoint
