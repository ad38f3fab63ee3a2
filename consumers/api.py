"""``lgsp views serve``: the national views over HTTP (JSON API, the national page, /metrics, /healthz).

    GET /v1/views/scoreboard | documents | dossiers | reports
        ?province=79&agency=000.00.00.H29&period=2025-07&level=province&grain=month&as_of=...&limit=100
    GET /v1/views/{view}/{key}/evidence?after=...&limit=100
                     the records behind a row (``consumers.evidence``): a document, dossier or report, or a
                     scoreboard province (``00`` the nation); 404 problem for an unknown view or key
    GET /            the national page (map, trends, drill-down; ``consumers.page``)
    GET /metrics     Prometheus; the KPI gauges are refreshed from the scoreboard on each scrape
    GET /healthz     the store answers; the offsets it has applied
    GET /readyz      200 ``ready`` (or ``stale``: no builder committed for ``views.stale_after_s``) with the
                     store, view set and freshness; 503 ``unavailable`` when the store does not answer

Bad filters are answered ``400`` with an RFC 9457 problem document naming the parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from starlette.responses import Response

from bus.errors import LgspError, ValidationError
from bus.kpis import KPIS, SCOPE
from bus.metrics import ViewMetrics, metrics_route
from consumers import units
from consumers.activity import export_activity, unit_activity
from consumers.base import Grain, Level, ViewQuery
from consumers.evidence import (
    DEFAULT_LIMIT,
    EVIDENCE_VIEWS,
    MAX_LIMIT,
    EvidenceNotFoundError,
    with_evidence_links,
)
from consumers.freshness import FreshnessExporter
from consumers.page import register as register_page
from consumers.scoreboard import kpi_values
from consumers.viewset import VIEW_NAMES, ViewSet

log = logging.getLogger(__name__)
KPI_REFRESH_S = 15.0
"""How often views serve recomputes the KPI gauges in the background (Prometheus's default interval)."""
_PROBLEM = "application/problem+json"
_AS_OF = (
    "reference time (RFC 3339): open/overdue dossiers and undelivered documents are counted as of it "
    "(default now); report obligations are those due by it (default: the latest event time applied)"
)
_EVIDENCE_KEY = (
    "a document id, dossier code or report key (code|agency|period) of that view; for the scoreboard a "
    "province code, 00 for the nation, central for the ministries; for agencies an agency code"
)
_EVIDENCE_DESCRIPTION = (
    "Every record a view applied to this row: event id and type, topic, partition, offset (where to re-read "
    "it) and the key id that signed it (null: accepted unsigned). Paginated in log order: follow `next`. "
    "`lgsp views explain VIEW KEY --verify` re-reads each record and checks its signature."
)
KPI_DESCRIPTION = (
    "KPI definitions (bus/kpis.py). "
    + SCOPE
    + "\n\n"
    + "\n".join(f"- `{kpi.column}`: {kpi.definition}" for kpi in KPIS)
)
"""The scoreboard's OpenAPI description: every column's one written definition."""


def create_app(
    viewset: ViewSet,
    registry: CollectorRegistry,
    metrics: ViewMetrics,
    *,
    stale_after_s: float = 300.0,
    freshness: FreshnessExporter | None = None,
) -> FastAPI:
    """The views API on ``viewset``; ``registry`` is served at ``/metrics`` with ``metrics``' KPI gauges.
    Stateless: every answer is read from the store, so replicas on one PostgreSQL store answer alike.

    ``freshness`` runs in the background for the app's lifetime (how far the store is behind the topics)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if freshness is None:
            yield
            return
        stop = asyncio.Event()
        tasks = [asyncio.create_task(freshness.run(stop)), asyncio.create_task(_refresh_kpis_until(stop))]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    async def _refresh_kpis_until(stop: asyncio.Event) -> None:
        # With a background exporter the KPI gauges are refreshed here too, never inside a scrape: the
        # scoreboard query takes seconds on a big store, longer than a scrape may wait.
        while not stop.is_set():
            await asyncio.to_thread(_refresh_quietly)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=KPI_REFRESH_S)

    def _refresh_quietly() -> None:
        # A store that cannot be read must not take /metrics down with it: the scrape still answers (the
        # process is up; the freshness exporter says the store is down) and keeps the last KPI values.
        try:
            refresh_kpis(viewset, metrics)
        except LgspError as exc:
            log.warning("cannot refresh the KPI gauges from the store: %s", exc)

    app = FastAPI(title="LGSP national views", version="1", docs_url="/docs", lifespan=lifespan)
    render_metrics = metrics_route(registry)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ())[1:])
        return _problem(400, "Invalid query", f"{where}: {first.get('msg', 'invalid')}", where or None)

    @app.exception_handler(ValidationError)
    async def invalid(request: Request, exc: ValidationError) -> JSONResponse:
        return _problem(400, "Invalid query", str(exc), exc.field)

    @app.exception_handler(EvidenceNotFoundError)
    async def not_found(request: Request, exc: EvidenceNotFoundError) -> JSONResponse:
        return _problem(404, "No such evidence", str(exc), None)

    @app.exception_handler(LgspError)
    async def failed(request: Request, exc: LgspError) -> JSONResponse:
        return _problem(503 if exc.retriable else 500, "View store error", str(exc), None)

    for name in VIEW_NAMES:
        app.add_api_route(
            f"/v1/views/{name}",
            _endpoint(viewset, name),
            methods=["GET"],
            name=f"view_{name}",
            summary=f"The {name} view",
            description=KPI_DESCRIPTION if name == "scoreboard" else None,
        )

    @app.get(
        "/v1/views/{view}/{key:path}/evidence",
        summary="The records behind a view row",
        description=_EVIDENCE_DESCRIPTION,
        responses={404: {"description": "unknown view or key (RFC 9457 problem)", "content": {_PROBLEM: {}}}},
    )
    def evidence(
        view: Annotated[str, Path(description=f"one of: {', '.join(EVIDENCE_VIEWS)}")],
        key: Annotated[str, Path(description=_EVIDENCE_KEY)],
        after: Annotated[str | None, Query(description="continue after this topic/partition/offset")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        return viewset.evidence(view, key, after=after, limit=limit).as_json()

    register_page(app, viewset)

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint(request: Request) -> Response:
        if freshness is None:
            _refresh_quietly()  # no background refresher: the scrape refreshes the KPI gauges itself
        return render_metrics(request)

    @app.get("/healthz", summary="Liveness: the store answers")
    def healthz() -> dict[str, Any]:
        offsets = viewset.offsets()
        return {"status": "ok", "partitions": len(offsets), "applied_offsets": sum(offsets.values())}

    @app.get("/readyz", summary="Readiness: the store answers; which store and view set; how fresh")
    def readyz() -> JSONResponse:
        try:
            store = viewset.store.describe()
            fresh = viewset.freshness()
        except LgspError as exc:
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        age = None if fresh.last_commit_ms is None else max(time.time() - fresh.last_commit_ms / 1000, 0.0)
        stale = age is None or age > stale_after_s
        body = {
            "status": "stale" if stale else "ready",
            "store": store,
            "partitions": fresh.partitions,
            "applied_offsets": fresh.applied,
            "last_commit_ms": fresh.last_commit_ms,
            "freshness_s": None if age is None else round(age, 3),
        }
        return JSONResponse(body)

    return app


def _endpoint(viewset: ViewSet, name: str) -> Any:
    def endpoint(
        province: Annotated[str | None, Query(description="province statistics code, e.g. 79")] = None,
        agency: Annotated[str | None, Query(description="agency code, e.g. 000.00.00.H29")] = None,
        period: Annotated[str | None, Query(description="month YYYY-MM", pattern=r"^\d{4}-\d{2}$")] = None,
        level: Annotated[Level | None, Query(description="roll-up level")] = None,
        grain: Annotated[Grain | None, Query(description="time grain")] = None,
        as_of: Annotated[datetime | None, Query(description=_AS_OF)] = None,
        limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    ) -> dict[str, Any]:
        query = ViewQuery(
            province=province,
            agency=agency,
            period=period,
            level=level,
            grain=grain,
            as_of=as_of,
            limit=limit,
        )
        return with_evidence_links(viewset.query(name, query)).as_json()

    endpoint.__name__ = f"view_{name}"
    return endpoint


def refresh_kpis(viewset: ViewSet, metrics: ViewMetrics) -> None:
    """Set the national KPI gauges (per province and ``00`` for the nation), what each province and each
    ministry has published so far and its overdue reports (``consumers.activity``); and the count of
    unlisted units."""
    board = viewset.query("scoreboard", ViewQuery())
    for province, values in kpi_values(board).items():
        metrics.set_kpis(province, values)
    export_activity(metrics, unit_activity(viewset))
    with viewset.store.reader() as reader:
        metrics.count_unknown_units(units.per_province(reader))


def _problem(status: int, title: str, detail: str, field: str | None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status, media_type=_PROBLEM)
