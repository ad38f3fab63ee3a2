"""The ingress routes. Bodies are read and parsed by hand (not by FastAPI) so every error is precise.

``POST /v1/events`` and ``POST /v1/events:batch`` answer ``202`` only after Kafka acknowledged every event;
every other outcome is an RFC 9457 problem (see :mod:`producers.ingress.problems`) and publishes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bus.settings import IngressSettings
from producers.ingress.auth import ApiKeyStore, Authorizer, Principal
from producers.ingress.problems import PROBLEM_DOCS, ProblemError, ProblemKind
from producers.ingress.requests import (
    BATCH_MEDIA_TYPES,
    SINGLE_MEDIA_TYPES,
    authorize,
    check_content_type,
    check_declared_length,
    expect_batch,
    expect_object,
    parse_json,
    read_limited,
    to_events,
)
from producers.ingress.service import CachedProbe, PublishService

REALM = 'Bearer realm="lgsp-ingress"'


class KeySource(Protocol):
    """Where the current keys come from: :class:`ReloadingKeyStore`, or :class:`FixedKeys` in tests."""

    def current(self) -> ApiKeyStore: ...


@dataclass
class IngressState:
    """Everything the routes use, built by :func:`producers.ingress.app.create_app`."""

    settings: IngressSettings
    keys: KeySource
    authorizer: Authorizer
    service: PublishService
    kafka_ready: CachedProbe
    registry_ready: CachedProbe


class FixedKeys:
    """A key store that never changes (tests, embedding)."""

    def __init__(self, store: ApiKeyStore) -> None:
        self._store = store

    def current(self) -> ApiKeyStore:
        return self._store


def _state(request: Request) -> IngressState:
    state: IngressState = request.app.state.ingress
    return state


def _authenticate(request: Request, state: IngressState) -> Principal:
    header = request.headers.get("authorization")
    principal = state.keys.current().authenticate(header)
    if principal is None:
        challenge = REALM if header is None else f'{REALM}, error="invalid_token"'
        raise ProblemError(
            ProblemKind.UNAUTHENTICATED,
            "no API key was sent" if header is None else "the API key is not valid",
            headers={"WWW-Authenticate": challenge},
        )
    return principal


async def _body(request: Request, state: IngressState, media_types: frozenset[str]) -> Any:
    check_content_type(request.headers.get("content-type"), media_types)
    check_declared_length(request.headers.get("content-length"), state.settings.max_body_bytes)
    return parse_json(await read_limited(request.stream(), state.settings.max_body_bytes))


def _accepted(body: Any) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")).encode(), status_code=202, media_type="application/json"
    )


async def post_event(request: Request) -> Response:
    """``POST /v1/events``: one CloudEvent, 202 once Kafka has it."""
    state = _state(request)
    principal = _authenticate(request, state)
    item = expect_object(await _body(request, state, SINGLE_MEDIA_TYPES))
    events = to_events([item], batch=False)
    authorize(state.authorizer, principal, events, batch=False)
    deliveries = await state.service.publish(events, batch=False)
    return _accepted(deliveries[0].to_json())


async def post_batch(request: Request) -> Response:
    """``POST /v1/events:batch``: an array of CloudEvents, all or nothing, 202 once Kafka has all."""
    state = _state(request)
    principal = _authenticate(request, state)
    items = expect_batch(await _body(request, state, BATCH_MEDIA_TYPES), state.settings.max_batch_events)
    events = to_events(items, batch=True)
    authorize(state.authorizer, principal, events, batch=True)
    deliveries = await state.service.publish(events, batch=True)
    return _accepted({"count": len(deliveries), "events": [d.to_json() for d in deliveries]})


EVENT_ROUTES = (
    Route("/v1/events", post_event, methods=["POST"]),
    Route("/v1/events:batch", post_batch, methods=["POST"]),
)
"""The hot routes, as plain Starlette routes: FastAPI's dependency machinery has nothing to do for them (the
body is read by hand) but costs CPU on every request. :mod:`producers.ingress.openapi` documents them."""

router = APIRouter()


@router.get("/healthz", summary="Liveness: the process answers", tags=["operations"])
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    summary="Readiness: Kafka (with the topics) and the schema registry answer",
    responses={503: {"description": "a dependency is unavailable"}},
    tags=["operations"],
)
async def readyz(request: Request) -> JSONResponse:
    state = _state(request)
    kafka = await state.kafka_ready.get()
    registry = await state.registry_ready.get()
    ready = kafka.ok and registry.ok
    body = {
        "status": "ready" if ready else "unavailable",
        "checks": {"kafka": kafka.to_json(), "registry": registry.to_json()},
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
