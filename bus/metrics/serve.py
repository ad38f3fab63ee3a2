"""How a process serves its metrics: one registry each (runtime collectors, build info) and ``/metrics``.

registry = new_process_registry()
publisher_metrics = PublisherMetrics(registry)
with serve_metrics(registry, "127.0.0.1", 9101):   # or app.add_route("/metrics", metrics_route(registry))
    ...
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable
from importlib import metadata
from types import TracebackType
from typing import TYPE_CHECKING, Self, cast
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Info,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.asgi import make_asgi_app
from prometheus_client.exposition import choose_encoder

from bus.errors import ConfigError
from bus.metrics.catalog import BUILD_INFO
from bus.metrics.containers import CONTAINERS

# Starlette is the servers' dependency ([ingress], [views]), not the SDK's: imported for types only.
if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp


def package_version() -> str:
    """The installed lgsp-bus version, or ``unknown`` when run from a source tree that is not installed."""
    try:
        return metadata.version("lgsp-bus")
    except metadata.PackageNotFoundError:
        return "unknown"


def register_build_info(registry: CollectorRegistry, version: str | None = None) -> Info:
    """Add ``lgsp_build_info{version, python, signing_hashes, avro_writer} 1`` to ``registry``."""
    from bus import avro_writer
    from bus.signing import tree

    info = BUILD_INFO.info(registry)
    info.info(
        {
            "version": version or package_version(),
            "python": platform.python_version(),
            "signing_hashes": tree.HASHING,
            "avro_writer": avro_writer.WRITER,
        }
    )
    return info


def register_runtime_collectors(registry: CollectorRegistry) -> None:
    """Add the process (CPU, memory, file descriptors), platform (Python version) and GC collectors."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


def new_process_registry(version: str | None = None) -> CollectorRegistry:
    """A fresh registry for a long-running process: runtime collectors and build info, no bus metrics yet."""
    registry = CollectorRegistry()
    register_runtime_collectors(registry)
    register_build_info(registry, version)
    return registry


def all_metric_names() -> frozenset[str]:
    """Every ``lgsp_`` name a dashboard or alert may query, read back from freshly built containers."""
    registry = CollectorRegistry()
    for container in CONTAINERS:
        container(registry)
    register_build_info(registry, "0")
    return frozenset(_query_name(family.name, family.type) for family in registry.collect())


def _query_name(family: str, kind: str) -> str:
    # prometheus_client names families without the suffix PromQL sees on their samples.
    if kind == "counter":
        return f"{family}_total"
    if kind == "info":
        return f"{family}_info"
    return family


class MetricsServer:
    """``/metrics`` served from a background thread; close it (or use ``with``) to free the port."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (the OS's choice when 0 was asked for)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port; idempotent."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
    """Serve ``registry`` on ``http://host:port/metrics`` (port 0: the OS picks one, see ``.port``)."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}") from exc
    return MetricsServer(server, thread)


def metrics_asgi_app(registry: CollectorRegistry) -> ASGIApp:
    """An ASGI app that answers with ``registry``'s metrics, for ``app.mount("/metrics", ...)``."""
    return cast("ASGIApp", make_asgi_app(registry=registry))


def metrics_route(registry: CollectorRegistry) -> Callable[[Request], Response]:
    """A Starlette/FastAPI endpoint for an exact path: ``app.add_route("/metrics", metrics_route(registry))``.

    Unlike a mount it answers ``/metrics`` itself (no redirect to ``/metrics/``); it honours ``Accept`` for
    the OpenMetrics format like prometheus_client's own servers do.
    """

    from starlette.responses import Response  # only servers call this; they have Starlette

    def endpoint(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), media_type=content_type)

    return endpoint
