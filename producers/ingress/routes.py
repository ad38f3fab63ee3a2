"""The ingress routes. Bodies are read and parsed by hand (not by FastAPI) so every error is precise.

``POST /v1/events`` and ``POST /v1/events:batch`` answer ``202`` only after Kafka acknowledged every event;
every other outcome is an RFC 9457 problem (see :mod:`producers.ingress.problems`) and publishes nothing.

The two event routes are plain ASGI apps (:class:`EventsEndpoint`), and :class:`HotRoutes` hands a ``POST``
to them before Starlette's router, exception middleware and ``Request`` objects: that machinery has nothing
to do for a body read by hand, but it cost about a sixth of the CPU of a single-event request.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bus.errors import LgspError
from bus.settings import IngressSettings
from producers.ingress.audit import AuditRecord, AuditSink, now_ms
from producers.ingress.auth import ApiKeyStore, Authorizer, KeyRefusal, Principal
from producers.ingress.linger import BodyTracker, lingers, read_rest
from producers.ingress.problems import (
    PROBLEM_DOCS,
    PROBLEM_MEDIA_TYPE,
    ProblemError,
    ProblemKind,
    encode_json,
)
from producers.ingress.requests import (
    BATCH_MEDIA_TYPES,
    SINGLE_MEDIA_TYPES,
    authorize,
    check_content_type,
    check_declared_length,
    check_event_times,
    expect_batch,
    expect_object,
    parse_json,
    read_body,
    to_records,
)
from producers.ingress.service import CachedProbe, PublishService

log = logging.getLogger(__name__)

REALM = 'Bearer realm="lgsp-ingress"'
EVENTS_PATH: Final = "/v1/events"
BATCH_PATH: Final = "/v1/events:batch"
CLIENT_CLOSED: Final = 499
"""The status counted in the metrics for a request whose client went away before its answer (as nginx)."""


class KeySource(Protocol):
    """Where the current keys come from: :class:`ReloadingKeyStore`, or :class:`FixedKeys` in tests."""

    def current(self) -> ApiKeyStore: ...

    def problem(self) -> str | None:
        """Why no key is accepted right now (an unusable key file), or None."""


@dataclass
class IngressState:
    """Everything the routes use, built by :func:`producers.ingress.app.create_app`."""

    settings: IngressSettings
    keys: KeySource
    authorizer: Authorizer
    service: PublishService
    kafka_ready: CachedProbe
    registry_ready: CachedProbe
    schemas_cached: Callable[[], bool] = lambda: False
    """True once every schema id is resolved: the registry is then not needed to publish."""
    audit: AuditSink | None = None
    """Where each event request's audit record goes (``producers.ingress.audit``); None: not audited."""


class FixedKeys:
    """A key store that never changes (tests, embedding)."""

    def __init__(self, store: ApiKeyStore) -> None:
        self._store = store

    def current(self) -> ApiKeyStore:
        return self._store

    def problem(self) -> str | None:
        return None


def _state(request: Request) -> IngressState:
    state: IngressState = request.app.state.ingress
    return state


@dataclass(slots=True)
class _Seen:
    """What a request revealed before its answer, for its audit record."""

    principal: Principal | None = None
    event_ids: tuple[str, ...] = ()


def _ids_of(items: Sequence[object]) -> tuple[str, ...]:
    """The ``id`` members of a body's CloudEvents (for the audit record of one the contract refused)."""
    return tuple(item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str))


class ClientDisconnectedError(LgspError):
    """The client closed the connection before its body was read: nothing to answer, nothing published."""


@dataclass(frozen=True, slots=True)
class _Head:
    """The request headers the event routes look at."""

    authorization: str | None = None
    content_type: str | None = None
    content_length: str | None = None

    @classmethod
    def of(cls, scope: Scope) -> _Head:
        found: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in _HEAD_NAMES and name not in found:  # the first one counts, as in Starlette
                found[name] = value.decode("latin-1")
        return cls(found.get(b"authorization"), found.get(b"content-type"), found.get(b"content-length"))


_HEAD_NAMES: Final = frozenset({b"authorization", b"content-type", b"content-length"})


def _authenticate(head: _Head, state: IngressState) -> Principal:
    header = head.authorization
    principal = state.keys.current().authenticate(header)
    if principal is None:
        # RFC 6750: no error code when no credentials were sent; invalid_token, with a description telling a
        # revoked key from an unknown or malformed one, when they were.
        refusal = state.keys.current().refusal(header)
        challenge = REALM
        if refusal is not KeyRefusal.MISSING:
            challenge += f', error="invalid_token", error_description="{refusal.value}"'
        raise ProblemError(
            ProblemKind.UNAUTHENTICATED, refusal.value, headers={"WWW-Authenticate": challenge}
        )
    return principal


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


class EventsEndpoint:
    """``POST /v1/events`` (one CloudEvent) or ``POST /v1/events:batch`` (an array, all or nothing), as an
    ASGI app: 202 once Kafka has every event, otherwise a problem and nothing published.

    The checks, in the order an integrator meets them: 401 (key), 415 (content type), 413 (declared length),
    then admission (429 at ``max_in_flight``, 503 while Kafka is known down) before a byte of the body is
    read, then 413/400 (body), 422 (contract), 403 (sources), 503 (Kafka or registry failed).
    """

    def __init__(self, state: IngressState, *, batch: bool) -> None:
        self._state = state
        self._batch = batch
        self._media_types = BATCH_MEDIA_TYPES if batch else SINGLE_MEDIA_TYPES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        seen = _Seen()
        status, problem = 202, None
        request_body = BodyTracker(receive)
        try:
            body = await self._handle(scope, request_body, seen)
        except ProblemError as exc:
            status, problem = exc.kind.status, exc.kind.slug
            if exc.kind.status >= 500:  # ours to look at; 4xx are the client's and counted in the metrics
                log.warning("POST %s -> %d: %s", path, exc.kind.status, exc.detail)
            await _problem(send, path, exc, self._linger(scope, request_body))
        except ClientDisconnectedError:
            status = CLIENT_CLOSED
            # Nobody reads this answer (the server drops it); it only tells the metrics what happened.
            with contextlib.suppress(OSError):
                await respond(send, CLIENT_CLOSED, "text/plain", b"")
        except Exception:
            log.exception("unexpected error answering POST %s", path)
            unexpected = ProblemError(
                ProblemKind.INTERNAL, "an unexpected error; nothing is known to be published"
            )
            status, problem = unexpected.kind.status, unexpected.kind.slug
            await _problem(send, path, unexpected, self._linger(scope, request_body))
        else:
            await respond(send, 202, "application/json", body)
        finally:
            self._audit(scope, seen, status, problem)

    def _linger(self, scope: Scope, body: BodyTracker) -> Callable[[], Awaitable[None]] | None:
        """What to do between writing a refusal and completing it (:mod:`producers.ingress.linger`)."""
        if not lingers(scope, body):
            return None
        return lambda: read_rest(body, self._state.settings.max_body_bytes)

    def _audit(self, scope: Scope, seen: _Seen, status: int, problem: str | None) -> None:
        audit = self._state.audit
        if audit is None:
            return
        principal, client = seen.principal, scope.get("client")
        audit.append(
            AuditRecord(
                at_ms=now_ms(),
                path=scope["path"],
                status=status,
                problem=problem,
                agency=None if principal is None else str(principal.agency),
                api_key_id=None if principal is None else principal.key_id,
                client=None if not client else str(client[0]),
                event_ids=seen.event_ids,
            )
        )

    async def _handle(self, scope: Scope, receive: Receive, seen: _Seen) -> bytes:
        state, batch = self._state, self._batch
        head = _Head.of(scope)
        principal = seen.principal = _authenticate(head, state)
        check_content_type(head.content_type, self._media_types)
        limit = state.settings.max_body_bytes
        check_declared_length(head.content_length, limit)
        with state.service.admit(principal.agency):
            value = parse_json(await read_body(_chunks(receive), limit, state.settings.body_timeout_s))
            items = expect_batch(value, state.settings.max_batch_events) if batch else [expect_object(value)]
            seen.event_ids = _ids_of(items)
            records = to_records(items, batch=batch, portal_times=state.settings.portal_local_times)
            seen.event_ids = tuple(record.event_id for record in records)
            check_event_times(records, state.settings, batch=batch)
            authorize(state.authorizer, principal, records, batch=batch)
            deliveries = await state.service.publish(records, batch=batch, principal=principal)
        if not batch:
            return encode_json(deliveries[0].to_json())
        return encode_json({"count": len(deliveries), "events": [d.to_json() for d in deliveries]})


async def _problem(
    send: Send, path: str, exc: ProblemError, before_end: Callable[[], Awaitable[None]] | None = None
) -> None:
    body = encode_json(exc.body(path))
    await respond(send, exc.kind.status, PROBLEM_MEDIA_TYPE, body, exc.headers, before_end=before_end)


async def respond(
    send: Send,
    status: int,
    media_type: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    before_end: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """One complete HTTP response through ASGI; ``before_end`` runs once all of it is written, before it is
    completed (the server may close the connection on completion)."""
    raw = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
    if headers:
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    if before_end is None:
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.body", "body": body, "more_body": True})
    await before_end()
    await send({"type": "http.response.body", "body": b""})


def event_routes(state: IngressState) -> tuple[Route, Route]:
    """The two event routes, for the router (405 for other methods, the template for the metrics)."""
    return (
        Route(EVENTS_PATH, EventsEndpoint(state, batch=False), methods=["POST"]),
        Route(BATCH_PATH, EventsEndpoint(state, batch=True), methods=["POST"]),
    )


class HotRoutes:
    """Sends a ``POST`` to an event route straight to its endpoint; anything else goes down the app.

    It marks the scope with the route (as the router would), so the metrics name the route's template.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[Route]) -> None:
        self._app = app
        self._routes = {route.path: route for route in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            route = self._routes.get(scope["path"])
            if route is not None:
                scope["route"] = route
                await route.app(scope, receive, send)
                return
        await self._app(scope, receive, send)


router = APIRouter()


@router.get("/healthz", summary="Liveness: the process answers", tags=["operations"])
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    summary="Readiness: Kafka (with the topics) answers, and the schema registry or every schema id cached",
    responses={503: {"description": "a dependency is unavailable"}},
    tags=["operations"],
)
async def readyz(request: Request) -> JSONResponse:
    state = _state(request)
    kafka = await state.kafka_ready.get()
    registry = await state.registry_ready.get()
    cached = state.schemas_cached()
    # A registry outage does not stop publishing once every schema id is cached: taking the ingress out of a
    # load balancer then would turn a degraded registry into an outage of the whole gateway.
    keys_problem = state.keys.problem()
    ready = kafka.ok and (registry.ok or cached) and keys_problem is None
    body = {
        "status": ("ready" if registry.ok else "degraded") if ready else "unavailable",
        "checks": {
            "kafka": kafka.to_json(),
            "registry": {**registry.to_json(), "schemas_cached": cached},
            "api_keys": {"ok": keys_problem is None, "detail": keys_problem or "loaded"},
        },
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/problems/{slug}", summary="What a problem type means", tags=["operations"])
async def problem_doc(slug: str) -> JSONResponse:
    kind = next((k for k in ProblemKind if k.slug == slug), None)
    if kind is None:
        raise ProblemError(ProblemKind.NOT_FOUND, f"no problem type {slug!r}")
    return JSONResponse(
        {"type": kind.type_uri, "title": kind.title, "status": kind.status, "description": PROBLEM_DOCS[slug]}
    )
