"""The ingress application: FastAPI wiring, lifespan (Publisher up and down), metrics, problem handlers.

``create_app(settings)`` builds everything from settings (a real :class:`bus.Publisher`, the key file, the
packaged agency catalog); tests hand in fakes for the publisher and the keys. ``serve(settings, host, port)``
runs it under uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bus import schema_drift
from bus.agencies import AgencyCatalog, load_catalog
from bus.authz import Principal
from bus.consumer.retry import Backoff, StopRequested, retrying
from bus.errors import BrokerUnavailableError, LgspError
from bus.events import EVENT_TYPES
from bus.events.record import EventRecord
from bus.gc_policy import freeze_start_up
from bus.metrics import (
    UNREAD_TOPIC,
    Dependency,
    DependencyMetrics,
    IngressMetrics,
    PublisherMetrics,
    PublishErrorReason,
    metrics_route,
    new_process_registry,
)
from bus.publisher import Delivery, Publisher
from bus.registry import SchemaRegistryClient
from bus.settings import IngressSettings, Settings
from bus.topics import topic_for
from producers.ingress import events_docs, openapi
from producers.ingress.agencies_api import agencies_router
from producers.ingress.audit import AuditSink, AuditTrail
from producers.ingress.auth import Authorizer, ReloadingKeyStore
from producers.ingress.guard import guarded_protocol
from producers.ingress.limits import KeyLimiter
from producers.ingress.problems import ProblemError, ProblemKind, kind_for_status, problem_response
from producers.ingress.routes import (
    BATCH_PATH,
    EVENTS_PATH,
    HotRoutes,
    IngressState,
    KeySource,
    event_routes,
    router,
)
from producers.ingress.service import (
    CachedProbe,
    Check,
    EventPublisher,
    PublishService,
    ingress_publisher_settings,
    kafka_probe,
)
from producers.ingress.workers import multiprocess_metrics, run_workers, worker_count

log = logging.getLogger(__name__)


@asynccontextmanager
async def _schema_watch(settings: Settings) -> AsyncIterator[None]:
    """While the ingress runs: a later release's schema in the registry is logged with what to redeploy (it
    cannot be picked up at run time: bus.schema_drift)."""
    async with SchemaRegistryClient(settings.registry) as registry:
        task = asyncio.create_task(
            schema_drift.watch(
                registry, EVENT_TYPES.values(), lambda found: log.warning("%s", found.advice())
            )
        )
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


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
    metrics_endpoint: Callable[[Request], Response] | None = None,
    audit: AuditSink | None = None,
    freeze_gc: bool = False,
) -> FastAPI:
    """The ingress app. Without ``publisher`` it opens a :class:`bus.Publisher` at startup and closes it,
    and (``LGSP_AUDIT__ENABLED``, the default) runs its audit trail on ``lgsp.audit`` for its lifetime.
    ``audit`` is where event requests are audited instead (its owner starts and closes it).

    ``freeze_gc``: once started, move everything start-up built out of the garbage collector's sight
    (:func:`bus.gc_policy.freeze_start_up`), for a process that serves this one app (:func:`serve`).

    ``metrics_endpoint`` answers ``/metrics`` instead of one exposing ``registry`` (several workers expose
    the metrics of all of them: :mod:`producers.ingress.workers`).
    """
    metrics_registry = registry if registry is not None else new_process_registry()
    metrics = IngressMetrics(metrics_registry)
    metrics.declare((EVENTS_PATH, BATCH_PATH))
    publisher_metrics = PublisherMetrics(metrics_registry)
    topics = {topic_for(t, prefix=settings.topics.prefix) for t in EVENT_TYPES.values()}
    publisher_metrics.declare(topics)
    publisher_metrics.publish_errors.labels(topic=UNREAD_TOPIC, reason=PublishErrorReason.UNAVAILABLE.value)
    dependencies = DependencyMetrics(metrics_registry, (Dependency.KAFKA, Dependency.REGISTRY))
    key_store = keys
    if key_store is None:
        key_store = ReloadingKeyStore(
            settings.ingress.api_keys_file, on_state=lambda ok: metrics.key_file_ok.set(1 if ok else 0)
        )
    holder = _PublisherHolder(settings, publisher, publisher_metrics, freeze_gc=freeze_gc)
    probe = registry_probe or _registry_probe(settings)
    # One cached Kafka check serves both /readyz and the gate before publishing, so they never disagree.
    kafka = CachedProbe(kafka_probe(holder, topics), timeout_s=_PROBE_TIMEOUT_S)
    registry_ready = CachedProbe(probe, timeout_s=_PROBE_TIMEOUT_S)

    def unavailable(events: Sequence[EventRecord] | None) -> None:
        # A 503 is a publish that failed: counted, so that a Kafka outage shows in the error rate even
        # when the ingress refuses before reading the body.
        prefix = settings.topics.prefix
        publisher_metrics.count_unavailable(
            [UNREAD_TOPIC] if events is None else [topic_for(e.name, prefix=prefix) for e in events]
        )

    trail = (
        AuditTrail(settings, metrics)
        if audit is None and publisher is None and settings.audit.enabled
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with holder.lifespan(app):
            await kafka.get()  # the gate starts from a real answer
            if trail is not None:
                await trail.start()
            try:
                yield
            finally:
                if trail is not None:
                    await trail.close()
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
            on_unavailable=unavailable,
            per_key=KeyLimiter(
                max_in_flight=settings.ingress.max_in_flight_per_key,
                rate_per_s=settings.ingress.rate_per_key,
                burst=settings.ingress.burst_per_key,
            ),
            linger_s=settings.producer.linger_ms / 1000,
            max_coalesced=settings.ingress.max_batch_events,
        ),
        kafka_ready=kafka,
        registry_ready=registry_ready,
        schemas_cached=lambda: holder.schemas_cached,
        audit=audit if audit is not None else trail,
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
    # `POST /v1/events:batch/` must not answer 307 to `http://<Host header>/...`: a path is exact, or 404.
    app.router.redirect_slashes = False
    hot = event_routes(state)
    app.router.routes.extend(hot)
    app.include_router(router)
    app.include_router(agencies_router)
    render_metrics = metrics_endpoint or metrics_route(metrics_registry)
    app.add_route(
        "/metrics",
        _with_dependencies(render_metrics, kafka, registry_ready, dependencies),
        include_in_schema=False,
    )
    app.add_exception_handler(ProblemError, _problem_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(Exception, _unexpected_handler)
    app.add_middleware(HotRoutes, routes=hot)  # inside the metrics: the event routes are counted too
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.routes)
    openapi.install(app)
    openapi.install_docs(app)
    events_docs.install(app)  # /docs/events: the topics' AsyncAPI document as HTML
    # The same endpoints and metrics without FastAPI's per-request layers (telemetry checks, body limit,
    # error pages), for the server to run in front of the app: see `front`.
    app.state.hot_front = MetricsMiddleware(HotRoutes(app, routes=hot), metrics=metrics, routes=app.routes)
    app.state.hot_paths = frozenset(route.path for route in hot)
    return app


def front(app: FastAPI) -> ASGIApp:
    """The ASGI app to serve: a ``POST`` to an event route goes straight to its endpoint (counted in the
    metrics as inside the app), anything else (lifespan included) to ``app``.

    The app alone answers the same; this saves FastAPI's and Starlette's own per-request work on the hot
    routes (about a twentieth of a single-event request's CPU, a part of it reading ``os.environ`` for
    OpenTelemetry on every request).
    """
    hot: ASGIApp = app.state.hot_front
    paths: frozenset[str] = app.state.hot_paths

    async def serve_front(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in paths:
            await hot(scope, receive, send)
        else:
            await app(scope, receive, send)

    return serve_front


class _PublisherHolder:
    """The publisher the routes use: the one given, or a :class:`bus.Publisher` opened by the lifespan."""

    def __init__(
        self, settings: Settings, given: EventPublisher | None, metrics: PublisherMetrics, *, freeze_gc: bool
    ) -> None:
        self._settings = settings
        self._freeze_gc = freeze_gc
        self._publisher = given
        self._owned = given is None
        self._metrics = metrics
        self.schemas_cached = False
        """Every event type's schema id is resolved: publishing no longer needs the registry."""

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if self._owned:
                publisher = Publisher(ingress_publisher_settings(self._settings), metrics=self._metrics)
                stack.push_async_callback(publisher.close)
                try:
                    await publisher.start()
                except BrokerUnavailableError as exc:
                    # Serve anyway: /readyz and every publish answer 503 saying why, as when Kafka goes
                    # away later, while the Publisher keeps trying (a crash loop would say nothing).
                    log.warning("Kafka is unavailable at start, answering 503 until it answers: %s", exc)
                    stop = asyncio.Event()
                    connecting = asyncio.create_task(self._start_later(publisher, stop))
                    stack.push_async_callback(_stop_task, connecting, stop)
                else:
                    self._publisher = publisher
                    await self._warm_up()
                await stack.enter_async_context(_schema_watch(self._settings))
            else:
                await self._warm_up()
            if self._freeze_gc:
                freeze_start_up()
            yield
            if self._owned:
                self._publisher = None

    async def _start_later(self, publisher: Publisher, stop: asyncio.Event) -> None:
        with contextlib.suppress(StopRequested):
            await retrying(publisher.start, what="connecting to Kafka", stop=stop, backoff=Backoff(max_s=5.0))
            log.info("Kafka answers: publishing")
            self._publisher = publisher
            await self._warm_up()

    async def _warm_up(self) -> None:
        # Resolve every schema id now, so a registry outage later does not affect publishing.
        try:
            await self._require().prepare()
            self.schemas_cached = True
        except LgspError as exc:
            log.warning("schema ids not resolved at startup (retried on first publish): %s", exc)

    def _require(self) -> EventPublisher:
        if self._publisher is None:
            # before the lifespan, or while Kafka has not answered since the start: a 503 and /readyz say so
            raise BrokerUnavailableError("Kafka has not answered since the ingress started; retrying")
        return self._publisher

    async def publish_records(
        self, records: Sequence[EventRecord], *, on_behalf: Sequence[Principal] | None = None
    ) -> list[Delivery]:
        return await self._require().publish_records(records, on_behalf=on_behalf)

    async def prepare(self, types: Any = ()) -> None:
        await self._require().prepare(types)
        if not types:  # all of them
            self.schemas_cached = True

    async def present_topics(self, topics: Collection[str], timeout_s: float) -> set[str]:
        return await self._require().present_topics(topics, timeout_s)


async def _stop_task(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    # Cancelling an attempt under way is safe (Publisher.start closes what it opened), so stopping does not
    # wait up to the delivery timeout for Kafka to answer.
    stop.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


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


def _with_dependencies(
    render: Callable[[Request], Response],
    kafka: CachedProbe,
    registry: CachedProbe,
    dependencies: DependencyMetrics,
) -> Callable[[Request], Awaitable[Response]]:
    """``/metrics`` that first sets ``lgsp_dependency_up`` from the probes' last definite answers (never
    waiting: a stale answer starts a refresh in the background, as on the request path)."""

    async def endpoint(request: Request) -> Response:
        for dependency, probe in ((Dependency.KAFKA, kafka), (Dependency.REGISTRY, registry)):
            check = probe.peek()
            # As for the gate: a probe that timed out may have queued behind a busy event loop or machine;
            # only a definite answer moves the gauge (a dependency that hangs for good fails publishes).
            if check is not None and not check.timed_out:
                dependencies.set(dependency, up=check.ok)
        return render(request)

    return endpoint


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


def server_limits(ingress: IngressSettings) -> dict[str, Any]:
    """uvicorn options that bound what one client can hold: the head guard (431/408), the connections
    (503 past ``max_connections``), and TLS when a certificate is configured."""
    options: dict[str, Any] = {
        # httptools (named, not "auto": the C parser is part of the sized throughput), with the head limits.
        "http": guarded_protocol(ingress),
        "limit_concurrency": ingress.max_connections,
    }
    if ingress.ssl_certfile is not None:
        options["ssl_certfile"] = str(ingress.ssl_certfile)
        options["ssl_keyfile"] = None if ingress.ssl_keyfile is None else str(ingress.ssl_keyfile)
    return options


def serve(settings: Settings, *, host: str, port: int, access_log: bool = False) -> int:
    """Run the ingress under uvicorn until interrupted; the exit status.

    With ``settings.ingress.workers`` above 1 (0: one per CPU), that many worker processes share the port
    (:mod:`producers.ingress.workers`).
    """
    # uvicorn configures its own loggers only; ours (5xx reasons, Kafka client errors) go to stderr too.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per registry probe
    options: dict[str, Any] = {
        "access_log": access_log,
        "log_level": "info",
        "server_header": False,
        "lifespan": "on",
        # Named, not "auto": the C event loop is part of the throughput this was sized for.
        "loop": "uvloop",
        # No client address is used (access log off by default): not worth parsing X-Forwarded-* each time.
        "proxy_headers": False,
        **server_limits(settings.ingress),
    }
    count = worker_count(settings.ingress.workers)
    if count == 1:
        config = uvicorn.Config(front(create_app(settings, freeze_gc=True)), host=host, port=port, **options)
        uvicorn.Server(config).run()
        return 0

    def worker(sock: socket.socket, metrics_dir: Path) -> None:
        app = create_app(settings, metrics_endpoint=multiprocess_metrics(metrics_dir), freeze_gc=True)
        config = uvicorn.Config(front(app), host=host, port=port, **options)
        uvicorn.Server(config).run(sockets=[sock])

    return run_workers(count, host, port, worker)
