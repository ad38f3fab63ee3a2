"""``lgsp publish FILE|-``: CloudEvents JSON lines through the SDK publisher, with a report per bad line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import IO, Annotated, Final

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from bus.errors import LgspError
from bus.publisher import Publisher
from bus.settings import Settings
from lgsp.options import BootstrapServersOption, RegistryUrlOption, TopicPrefixOption, settings_with
from producers.publish_file import DEFAULT_BATCH_SIZE, FilePublisher, LineError, PublishSummary

PROGRESS_MIN_BYTES: Final = 1024 * 1024
EXIT_LINES_FAILED: Final = 1
EXIT_STOPPED: Final = 2


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)


def publish(
    file: Annotated[str, typer.Argument(help="a file of CloudEvents JSON lines, or - for standard input")],
    stop_on_error: Annotated[
        bool,
        typer.Option("--stop-on-error", help="stop at the first bad line (good lines before it are sent)"),
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="events per Publisher call")] = (
        DEFAULT_BATCH_SIZE
    ),
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="progress bar (default: files of 1 MiB or more on a terminal)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    bootstrap_servers: BootstrapServersOption = None,
    registry_url: RegistryUrlOption = None,
    prefix: TopicPrefixOption = None,
) -> None:
    """Publish CloudEvents JSON lines (one event per line) to Kafka through the SDK publisher.

    Each bad line is reported on standard error with its line number, field and rule.

    A line may be at most LGSP_INGRESS__MAX_BODY_BYTES (5 MiB), the ingress's largest body; longer ones fail.

    A summary per event type follows on standard output.

    Exit status: 0 if every line was published, 1 if some lines failed, 2 if Kafka or the registry failed.
    """
    settings = settings_with(bootstrap_servers=bootstrap_servers, registry_url=registry_url, prefix=prefix)
    err = Console(stderr=True, highlight=False)
    try:
        stream = sys.stdin.buffer if file == "-" else Path(file).open("rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        err.print(f"error: cannot open {file}: {exc.strerror or exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_STOPPED) from exc
    try:
        summary = asyncio.run(
            _run(settings, stream, batch_size, stop_on_error, _show_progress(stream, progress), err)
        )
    except LgspError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_STOPPED) from exc
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    _print_summary(summary, as_json)
    if summary.fatal is not None:
        err.print(f"stopped: {summary.fatal}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_STOPPED)
    if not summary.ok:
        raise typer.Exit(EXIT_LINES_FAILED)


def _show_progress(stream: IO[bytes], wanted: bool | None) -> int | None:
    """The byte total for a progress bar, or None for no bar."""
    try:
        size = os.fstat(stream.fileno()).st_size
    except (OSError, ValueError):
        size = 0
    if wanted is False or (wanted is None and (size < PROGRESS_MIN_BYTES or not sys.stderr.isatty())):
        return None
    return size


async def _run(
    settings: Settings,
    stream: IO[bytes],
    batch_size: int,
    stop_on_error: bool,
    total_bytes: int | None,
    err: Console,
) -> PublishSummary:
    bar = Progress(
        TextColumn("publishing"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=total_bytes is None,
    )
    task = bar.add_task("publish", total=total_bytes or None)

    def on_error(error: LineError) -> None:
        bar.console.print(str(error), markup=False, highlight=False, soft_wrap=True)

    with bar:
        async with Publisher(settings) as publisher:
            runner = FilePublisher(
                publisher,
                batch_size=batch_size,
                stop_on_error=stop_on_error,
                on_error=on_error,
                on_progress=lambda n: bar.advance(task, n),
                max_line_bytes=settings.ingress.max_body_bytes,
            )
            return await runner.run(stream)


def _print_summary(summary: PublishSummary, as_json: bool) -> None:
    out = Console(highlight=False)
    if as_json:
        out.print_json(json.dumps(summary.to_json()))
        return
    table = Table(title="lgsp publish", show_footer=True)
    table.add_column("event type", footer="total")
    table.add_column("published", justify="right", footer=str(summary.total_published))
    table.add_column("failed", justify="right", footer=str(summary.total_failed))
    for type_name in sorted(set(summary.published) | set(summary.failed)):
        table.add_row(type_name, str(summary.published[type_name]), str(summary.failed[type_name]))
    out.print(table)
    if summary.stopped_at_line is not None:
        out.print(f"stopped at line {summary.stopped_at_line} (--stop-on-error)")
