"""The views API (and so the page) served from a store file on a free loopback port, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from prometheus_client import CollectorRegistry

from bus.metrics import ViewMetrics
from bus.settings import Settings
from consumers.api import create_app
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views


@contextmanager
def serving(store: Path) -> Iterator[str]:
    """The base URL of the views API over ``store``, until the block ends."""
    registry = CollectorRegistry()
    views = ViewSet(SqliteStore(store), build_views(Settings()))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(views, registry, ViewMetrics(registry)), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        views.close()


def _wait_ready(url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the views API at {url} did not answer within {timeout_s} s")
        time.sleep(0.05)
