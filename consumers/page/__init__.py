"""The national page of ``lgsp views serve``: ``/`` (map, ranking, trends), ``/province/{code}`` (drill-down),
``/evidence`` (the events behind a number), their assets under ``/static/page/`` and ``/v1/page/version``.

No asset comes from elsewhere: the CSS, the script and the icon are files of this package, the charts are SVG
rendered here. ``?part=main`` returns only a page's ``<main>``: the script swaps it in when the reader
chooses something or when ``/v1/page/version`` (the store's offsets) moves, so the page follows a running demo
without a reload. Polling every 3 s costs one offsets read per browser while nothing changes.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Final

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from bus.agencies import load_catalog
from consumers.base import Grain
from consumers.page import data, drill
from consumers.page.evidence import evidence_main
from consumers.page.kpis import BY_COLUMN, DEFAULT
from consumers.page.province import province_main
from consumers.page.render import POLL_SECONDS, View, index_main, shell
from consumers.page.text import Lang, t
from consumers.viewset import ViewSet

_ASSETS: Final = {"page.css": "text/css", "page.js": "text/javascript", "icon.svg": "image/svg+xml"}
_EVIDENCE_FILTERS: Final = ("province", "agency", "status", "procedure_code", "report_code", "on_time")

LangQuery = Annotated[Lang, Query(description="vi (default) or en")]
GrainQuery = Annotated[Grain | None, Query(description="trend grain: month or day")]
PartQuery = Annotated[str | None, Query(pattern="^main$", description="main: only the page's <main>")]


def register(app: FastAPI, viewset: ViewSet) -> None:
    """Add the page's routes to the views API ``app``."""
    cache = data.PageCache(viewset)

    def answer(view: View, title: str, main: str, part: str | None, path: str) -> Response:
        version = data.version(viewset)
        headers = {"X-Page-Version": version, "Cache-Control": "no-store"}
        if part == "main":
            return HTMLResponse(main, headers=headers)
        return HTMLResponse(shell(view, title, main, version=version, path=path), headers=headers)

    @app.get("/", response_class=HTMLResponse, summary="The national page: map, ranking, trends")
    def index(
        lang: LangQuery = Lang.VI,
        kpi: Annotated[str, Query(description="scoreboard rate column")] = DEFAULT,
        grain: GrainQuery = None,
        compare: Annotated[str | None, Query(pattern=r"^(\d{2})?$")] = None,
        part: PartQuery = None,
    ) -> Response:
        board = cache.board()
        if kpi not in BY_COLUMN or kpi not in board.columns:
            kpi = DEFAULT
        view = View(lang, kpi, grain, compare or None)
        if view.compare is not None and not load_catalog().is_province(view.compare):
            raise HTTPException(404, f"no province {view.compare}")
        trend = cache.trend(view.grain)
        return answer(view, t(lang, "title"), index_main(view, board, trend), part, "/")

    @app.get("/province/{code}", response_class=HTMLResponse, summary="One province's page")
    def province(
        code: str,
        lang: LangQuery = Lang.VI,
        kpi: Annotated[str, Query()] = DEFAULT,
        grain: GrainQuery = None,
        part: PartQuery = None,
    ) -> Response:
        catalog = load_catalog()
        if not catalog.is_province(code):
            raise HTTPException(404, f"no province {code}")
        board = cache.board()
        view = View(lang, kpi if kpi in BY_COLUMN and kpi in board.columns else DEFAULT, grain)
        main = province_main(
            view,
            catalog.province(code),
            board,
            cache.trend(view.grain),
            agencies=drill.agencies(viewset, code),
            statuses=drill.statuses(viewset, code),
            procedures=drill.procedures(viewset, code),
            obligations=drill.obligations(viewset, code),
        )
        return answer(view, catalog.province(code).name, main, part, f"/province/{code}")

    @app.get("/evidence", response_class=HTMLResponse, summary="The entities and events behind a number")
    def evidence(
        request: Request,
        view: Annotated[str, Query(pattern="^(dossiers|documents|reports)$")],
        lang: LangQuery = Lang.VI,
        part: PartQuery = None,
    ) -> Response:
        filters = {k: v for k in _EVIDENCE_FILTERS if (v := request.query_params.get(k)) is not None}
        total, rows = drill.events(viewset, view, filters)
        page = View(lang)
        return answer(
            page, t(lang, "evidence"), evidence_main(page, view, filters, total, rows), part, "/evidence"
        )

    @app.get("/v1/page/version", summary="Changes when the views apply anything (the page polls it)")
    def page_version() -> JSONResponse:
        return JSONResponse(
            {"version": data.version(viewset), "poll_seconds": POLL_SECONDS},
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/static/page/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        media = _ASSETS.get(name)
        if media is None:
            raise HTTPException(404, "no such asset")
        body = resources.files("consumers.page").joinpath("static", name).read_bytes()
        return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=300"})
