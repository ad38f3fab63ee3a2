"""The ingress application: FastAPI wiring, lifespan (Publisher up and down), metrics, problem handlers.

``create_app(settings)`` builds everything from settings (a real :class:`bus.Publisher`, the key file, the
packaged agency catalog); tests hand in fakes for the publisher and the keys. ``serve(settings, host, port)``
runs it under uvicorn.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bus.agencies import AgencyCatalog, load_catalog
from bus.errors import LgspError
from bus.events import EVENT_TYPES
from bus.metrics import IngressMetrics, PublisherMetrics, metrics_route, new_process_registry
from bus.publisher import Publisher
from bus.registry import SchemaRegistryClient
from bus.settings import Settings
from bus.topics import topic_for
from producers.ingress import openapi
from producers.ingress.auth import Authorizer, ReloadingKeyStore
from producers.ingress.problems import ProblemError, ProblemKind, kind_for_status, problem_response
from producers.ingress.routes import EVENT_ROUTES, IngressState, KeySource, router
from producers.ingress.service import (
    CachedProbe,
    Check,
    EventPublisher,
    PublishService,
    kafka_probe,
)

log = logging.getLogger(__name__)

RegistryProbe = Callable[[float], Awaitable[Check]]
UNMATCHED_ROUTE = "<unmatched>"
_PROBE_TIMEOUT_S = 2.0


def create_app(
    settings: Settings,
    *,
    publisher: EventPublisher | None = None,
    keys: KeySource | None = None,
    registry: CollectorRegistry | None = None,
    catalog: AgencyCatalog | None = None,
    registry_probe: RegistryProbe | None = None,
) -> FastAPI:
    """The ingress app. Without ``publisher`` it opens a :class:`bus.Publisher` at startup and closes it."""
    metrics_registry = registry if registry is not None else new_process_registry()
    metrics = IngressMetrics(metrics_registry)
    key_store = keys if keys is not None else ReloadingKeyStore(settings.ingress.api_keys_file)
    holder = _PublisherHolder(settings, publisher, PublisherMetrics(metrics_registry))
    probe = registry_probe or _registry_probe(settings)
    topics = {topic_for(t, prefix=settings.topics.prefix) for t in EVENT_TYPES.values()}
    # One cached Kafka check serves both /readyz and the gate before publishing, so they never disagree.
    kafka = CachedProbe(kafka_probe(holder, topics), timeout_s=_PROBE_TIMEOUT_S)
    registry_ready = CachedProbe(probe, timeout_s=_PROBE_TIMEOUT_S)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with holder.lifespan(app):
            await kafka.get()  # the gate starts from a real answer
            try:
                yield
            finally:
                await kafka.aclose()
                await registry_ready.aclose()

    state = IngressState(
        settings=settings.ingress,
        keys=key_store,
        authorizer=Authorizer(catalog or load_catalog()),
        service=PublishService(
            holder,
            gate=kafka,
            max_in_flight=settings.ingress.max_in_flight,
            retry_after_s=settings.ingress.retry_after_s,
            on_in_flight=metrics.in_flight.set,
        ),
        kafka_ready=kafka,
        registry_ready=registry_ready,
    )

    app = FastAPI(
        title="LGSP bus ingress",
        version="1",
        description=openapi.DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from local assets: agency networks may not reach a CDN
        redoc_url=None,
    )
    app.state.ingress = state
    for route in EVENT_ROUTES:
        app.router.routes.append(route)
    app.include_router(router)
    app.add_route("/metrics", metrics_route(metrics_registry), include_in_schema=False)
    app.add_exception_handler(ProblemError, _problem_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(Exception, _unexpected_handler)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.routes)
    openapi.install(app)
    openapi.install_docs(app)
    return app


class _PublisherHolder:
    """The publisher the routes use: the one given, or a :class:`bus.Publisher` opened by the lifespan."""

    def __init__(self, settings: Settings, given: EventPublisher | None, metrics: PublisherMetrics) -> None:
        self._settings = settings
        self._publisher = given
        self._owned = given is None
        self._metrics = metrics

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if self._owned:
                self._publisher = await stack.enter_async_context(
                    Publisher(self._settings, metrics=self._metrics)
                )
            await self._warm_up()
            yield
            if self._owned:
                self._publisher = None

    async def _warm_up(self) -> None:
        # Resolve every schema id now, so a registry outage later does not affect publishing.
        try:
            await self._require().prepare()
        except LgspError as exc:
            log.warning("schema ids not resolved at startup (retried on first publish): %s", exc)

    def _require(self) -> EventPublisher:
        if self._publisher is None:
            raise LgspError("the ingress is not started")
        return self._publisher

    async def publish_many(self, events: Any) -> Any:
        return await self._require().publish_many(events)

    async def prepare(self, types: Any = ()) -> None:
        await self._require().prepare(types)

    async def present_topics(self, topics: Collection[str], timeout_s: float) -> set[str]:
        return await self._require().present_topics(topics, timeout_s)


def _registry_probe(settings: Settings) -> RegistryProbe:
    # Its own client: no retries and a short timeout, so a probe answers fast.
    probe_settings = settings.registry.model_copy(update={"max_retries": 0, "timeout_s": _PROBE_TIMEOUT_S})

    async def probe(_timeout: float) -> Check:
        async with SchemaRegistryClient(probe_settings) as client:
            await client.list_subjects()
        return Check(True, "reachable")

    return probe


# --- errors as problems ------------------------------------------------------------------------------------


async def _problem_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ProblemError):  # pragma: no cover - registered for ProblemError only
        raise exc
    if exc.kind.status >= 500:  # ours to look at; 4xx are the client's and counted in the metrics
        log.warning("%s %s -> %d: %s", request.method, request.url.path, exc.kind.status, exc.detail)
    return exc.response(request.url.path)


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registered for it only
        raise exc
    kind = kind_for_status(exc.status_code)
    body = {
        "type": kind.type_uri,
        "title": kind.title,
        "status": exc.status_code,
        "detail": str(exc.detail),
        "instance": request.url.path,
    }
    return problem_response(exc.status_code, body, exc.headers)


async def _unexpected_handler(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error answering %s %s", request.method, request.url.path)
    return ProblemError(
        ProblemKind.INTERNAL, "an unexpected error; nothing is known to be published"
    ).response(request.url.path)


# --- metrics -----------------------------------------------------------------------------------------------


class MetricsMiddleware:
    """Counts every answered request by route template and status, and its duration (pure ASGI: cheap).

    The template is found by matching the request against the app's routes (``/problems/{slug}``, never the
    raw path, so an attacker cannot create label values); anything else is ``<unmatched>``.
    """

    def __init__(self, app: ASGIApp, metrics: IngressMetrics, routes: Sequence[BaseRoute]) -> None:
        self._app = app
        self._metrics = metrics
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_with_status)
        finally:
            self._metrics.observe(self._template(scope), status, time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        # FastAPI marks its routes in the scope; plain Starlette ones (/metrics, /docs) are matched here.
        selected = getattr(scope.get("route"), "path", None)
        if isinstance(selected, str):
            return selected
        probe = {"type": "http", "path": scope["path"], "root_path": scope.get("root_path", "")}
        probe["method"] = scope.get("method", "GET")
        for route in self._routes:
            match, _ = route.matches(probe)
            if match is not Match.NONE:
                return str(getattr(route, "path", UNMATCHED_ROUTE))
        return UNMATCHED_ROUTE


# --- running -----------------------------------------------------------------------------------------------


def serve(settings: Settings, *, host: str, port: int, access_log: bool = False) -> None:
    """Run the ingress under uvicorn until interrupted."""
    # uvicorn configures its own loggers only; ours (5xx reasons, Kafka client errors) go to stderr too.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per registry probe
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
        server_header=False,
        lifespan="on",
    )
    uvicorn.Server(config).run()
