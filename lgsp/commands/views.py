"""``lgsp views run | serve | show | explain``: build the national views, serve them, read them, and list the
records behind a row."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bus.consumer.runner import install_stop_signals
from bus.errors import LgspError
from bus.settings import Settings
from consumers.base import Grain, Level, ViewQuery, ViewResult
from consumers.evidence import with_evidence_links
from consumers.viewset import VIEW_NAMES, ViewSet
from lgsp.commands import viewsets
from lgsp.commands.explain import explain
from lgsp.commands.scoreboard_table import WIDTH, narrow_table
from lgsp.commands.storecheck import require_store

MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port", min=0, max=65535, help="serve /metrics here (default: views.metrics_port; 0: any)"
    ),
]


def register(app: typer.Typer) -> None:
    views = typer.Typer(help="The national views: build them from the topics, read them, serve them.")
    views.command("run")(run)
    views.command("rebuild")(rebuild)
    views.command("serve")(serve)
    views.command("show")(show)
    views.command("explain")(explain)
    viewsets.register(views)
    app.add_typer(views, name="views", no_args_is_help=True)


def run(
    until_caught_up: Annotated[
        bool, typer.Option("--until-caught-up", help="exit once everything on the topics at start is applied")
    ] = False,
    metrics_port: MetricsPortOption = None,
) -> None:
    """Consume the topics into the view store (long-running; SIGTERM/SIGINT finish the batch in hand)."""
    from bus.gc_policy import tune_for_consuming
    from consumers.service import run_views

    settings = Settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    port = settings.views.metrics_port if metrics_port is None else metrics_port

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        stats = await run_views(settings, stop=stop, until_caught_up=until_caught_up, metrics_port=port)
        typer.echo(
            f"views: {stats.records} records in {stats.batches} batches: {stats.applied} applied, "
            f"{stats.dead_lettered} dead-lettered, {stats.retries} retries, {stats.rebalances} rebalances"
        )

    tune_for_consuming()
    try:
        asyncio.run(main())
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def rebuild(
    processes: Annotated[
        int | None,
        typer.Option("--processes", min=1, max=64, help="builder processes (default: one per CPU)"),
    ] = None,
    into: Annotated[
        str | None,
        typer.Option("--into", help="PostgreSQL: build this new view set while the current one serves"),
    ] = None,
) -> None:
    """Build the views into a new, empty store from the start of the topics, in parallel: partitions are
    split among builder processes whose stores are then merged (SQLite), or among members of one consumer
    group (PostgreSQL). `views run` carries on from there; with --into, `views switch NAME` serves it."""
    from consumers.rebuild import rebuild as rebuild_views

    settings = Settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    count = processes if processes is not None else os.cpu_count() or 1
    try:
        result = asyncio.run(rebuild_views(settings, processes=count, into=into))
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    stats = result.stats
    typer.echo(
        f"views rebuilt in {result.shards} processes: {stats.records} records, {stats.applied} applied, "
        f"{stats.dead_lettered} dead-lettered, {stats.retries} retries"
    )
    if into is not None:
        typer.echo(f"view set {into} is built; serve it with `lgsp views switch {into}`")


def serve(
    host: Annotated[str | None, typer.Option("--host", help="bind address (default: views.host)")] = None,
    port: Annotated[int | None, typer.Option("--port", min=0, max=65535, help="default: views.port")] = None,
) -> None:
    """Serve the views API, the national page (map, trends, provinces) and /metrics."""
    import uvicorn

    from bus.metrics import (
        Dependency,
        DependencyMetrics,
        FreshnessMetrics,
        ViewMetrics,
        new_process_registry,
    )
    from consumers.api import create_app
    from consumers.freshness import FreshnessExporter, KafkaEnds
    from consumers.service import open_views

    settings = Settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    registry = new_process_registry()
    metrics = ViewMetrics(registry)
    dependencies = DependencyMetrics(registry, (Dependency.KAFKA, Dependency.STORE))
    try:
        # a store that is down at start is waited for (logged, lgsp_dependency_up{store} 0), as by the builder
        viewset = asyncio.run(open_views(settings, dependencies, asyncio.Event()))
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    freshness = FreshnessExporter(
        viewset,
        KafkaEnds(settings, viewset.topics()),
        group=settings.views.group_id,
        metrics=FreshnessMetrics(registry),
        dependencies=dependencies,
        interval_s=settings.views.freshness_interval_s,
    )
    try:
        app = create_app(
            viewset, registry, metrics, stale_after_s=settings.views.stale_after_s, freshness=freshness
        )
        uvicorn.run(app, host=host or settings.views.host, port=settings.views.port if port is None else port)
    finally:
        viewset.close()


def show(
    name: Annotated[str, typer.Argument(help=f"one of: {', '.join(VIEW_NAMES)}")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    province: Annotated[str | None, typer.Option("--province", help="province code, e.g. 79")] = None,
    agency: Annotated[str | None, typer.Option("--agency", help="agency code")] = None,
    period: Annotated[str | None, typer.Option("--period", help="month YYYY-MM")] = None,
    level: Annotated[Level | None, typer.Option("--level", help="roll-up level")] = None,
    grain: Annotated[Grain | None, typer.Option("--grain", help="time grain")] = None,
    as_of: Annotated[
        datetime | None, typer.Option("--as-of", help="reference time for open/late counts")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="at most this many rows")] = None,
    all_columns: Annotated[
        bool, typer.Option("--all-columns", "--wide", help="every column in the table, not the key ones")
    ] = False,
) -> None:
    """Print one view as a table (or JSON, always with every column)."""
    settings = Settings()
    require_store(settings)
    try:
        with ViewSet.from_settings(settings) as viewset:
            query = ViewQuery(
                province=province,
                agency=agency,
                period=period,
                level=level,
                grain=grain,
                as_of=as_of,
                limit=limit,
            )
            result = viewset.query(name, query)
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(with_evidence_links(result).as_json(), ensure_ascii=False, indent=2))
        return
    if name == "scoreboard" and not all_columns:
        terminal = Console()
        (terminal if terminal.is_terminal else Console(width=WIDTH)).print(narrow_table(result))
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped or captured: do not squeeze the table to 80 columns
    console.print(result_table(result, all_columns=all_columns))


_KEY_COLUMNS = {
    "documents": ("sent", "electronic_rate", "deliveries", "arrival_rate", "latency_p50_s", "latency_p90_s",
                  "not_arrived_after_sla", "rejected"),
    "dossiers": ("received", "online_rate", "full_online_rate", "resolved", "on_time_rate", "digitised_rate",
                 "open", "overdue"),
}  # fmt: skip


def result_table(result: ViewResult, *, all_columns: bool = False) -> Table:
    """A rich table of a view read (rates as percentages); the key columns unless ``all_columns``."""
    columns = list(result.columns)
    keys = _KEY_COLUMNS.get(result.view)
    if keys is not None and not all_columns:
        columns = [c for c in columns if c in _TEXT_COLUMNS or c == "procedure_code" or c in keys]
    meta = ", ".join(f"{k}={v}" for k, v in result.meta.items() if _short(v))
    table = Table(title=f"{result.view} ({meta})")
    for column in columns:
        table.add_column(column.replace("_", " "), justify="left" if column in _TEXT_COLUMNS else "right")
    for row in result.rows:
        table.add_row(*(_format(column, row.get(column)) for column in columns))
    return table


_TEXT_COLUMNS = frozenset({"province", "name", "agency", "ministry", "day", "month", "period", "report_code"})


def _short(value: Any) -> bool:
    return isinstance(value, str | int | float) and len(str(value)) < 40


def _format(column: str, value: Any) -> str:
    if value is None:
        return "—"
    if column.endswith(("_rate", "completeness")) and isinstance(value, float):
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if column == "province" and value == "":
        return "central"
    return str(value)
