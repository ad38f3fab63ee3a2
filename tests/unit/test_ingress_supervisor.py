"""The multi-worker ingress's supervisor stops in bounded time, whatever its workers do (forked processes)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from producers.ingress import workers

pytestmark = pytest.mark.unit

_STARTED_S = 1.0


def _stuck_after_serving(_sock: socket.socket, _directory: Path) -> None:
    """Serves until told to stop, then returns, leaving a thread the interpreter's exit would wait for."""
    told = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: told.set())
    threading.Thread(target=threading.Event().wait, name="a-thread-that-never-ends").start()
    told.wait()


def _deaf(_sock: socket.socket, _directory: Path) -> None:
    """Ignores the stop altogether: the supervisor kills it once its grace is over."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(0.1)


def _supervise(worker: Callable[[socket.socket, Path], None], count: int) -> None:
    os.setsid()  # its own process group: a failed test kills the workers with it
    workers._STOP_GRACE_S = 2.0  # type: ignore[misc]  # this process's own copy, to keep the test short
    workers._EXIT_GRACE_S = 0.5  # type: ignore[misc]
    sys.exit(workers.run_workers(count, "127.0.0.1", 0, worker))


@pytest.mark.parametrize(
    ("worker", "count", "within_s"),
    [(_stuck_after_serving, 1, 2.0), (_deaf, 2, 4.0)],  # one stuck worker: its stacks are not interleaved
    ids=["stuck-on-exit", "deaf"],
)
def test_the_supervisor_stops_in_bounded_time(
    worker: Callable[[socket.socket, Path], None],
    count: int,
    within_s: float,
    capfd: pytest.CaptureFixture[str],
) -> None:
    supervisor = multiprocessing.get_context("fork").Process(target=_supervise, args=(worker, count))
    supervisor.start()
    time.sleep(_STARTED_S)  # the workers forked and running
    asked = time.monotonic()
    assert supervisor.pid is not None
    os.kill(supervisor.pid, signal.SIGINT)
    supervisor.join(15.0)
    took = time.monotonic() - asked
    if supervisor.is_alive():
        os.killpg(supervisor.pid, signal.SIGKILL)
        supervisor.join()
        pytest.fail("the supervisor did not stop within 15 s")
    assert supervisor.exitcode == 0  # the stop was asked for: everything the workers served had finished
    assert took < within_s
    if worker is _stuck_after_serving:  # it said why, for whoever reads the log: every thread's stack
        err = capfd.readouterr().err
        assert "Timeout (0:00:00.500000)!" in err
        assert "in _shutdown" in err  # the interpreter's exit waiting for the thread
