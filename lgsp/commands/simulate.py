"""``lgsp simulate``: the 34 provinces and the ministries publishing realistic traffic (seeded)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import IO, Annotated, Final

import typer
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from bus.errors import LgspError
from bus.metrics import (
    Dependency,
    DependencyMetrics,
    MetricsServer,
    PublisherMetrics,
    SimulatorMetrics,
    new_process_registry,
    serve_metrics,
)
from bus.settings import Settings
from lgsp.options import (
    START_FORMATS,
    BootstrapServersOption,
    RegistryUrlOption,
    TopicPrefixOption,
    settings_with,
    simulated_start,
)
from producers.simulate import (
    ALL_DEFECTS,
    AVRO_ENCODABLE_DEFECTS,
    DEFAULT_SCALE,
    DEFAULT_START,
    GroundTruth,
    Simulation,
    SimulationConfig,
)
from producers.simulate.run import DEFAULT_BATCH_SIZE, Limits, RunReport, publish, write_jsonl

DEFAULT_KAFKA_RATE: Final = 200.0
"""Events per second when publishing without --rate: a busy hour of the national bus."""
EXIT_CONFIG: Final = 1
EXIT_BROKER: Final = 2
_SHORT = {
    "vn.gov.lgsp.document.DocumentSent": "DocumentSent",
    "vn.gov.lgsp.document.DocumentStatusChanged": "DocumentStatusChanged",
    "vn.gov.lgsp.dossier.DossierSynced": "DossierSynced",
    "vn.gov.lgsp.report.ReportFiled": "ReportFiled",
}


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)


def simulate(
    seed: Annotated[int, typer.Option("--seed", help="the run's one seed: same seed, same events")] = 0,
    events: Annotated[int | None, typer.Option("--events", min=0, help="stop after this many events")] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0.0, help="stop after this many wall-clock seconds")
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            min=0.0,
            help=f"events per second by the wall clock; 0 for as fast as possible (default: "
            f"{DEFAULT_KAFKA_RATE:g} when publishing, unpaced when writing a file)",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="write CloudEvents JSON lines to this file (- for stdout) instead of Kafka"
        ),
    ] = None,
    start: Annotated[
        datetime | None,
        typer.Option(
            "--start",
            formats=START_FORMATS,
            help=f"simulated start (default {DEFAULT_START.isoformat()}; a date alone: midnight in Vietnam)",
        ),
    ] = None,
    scale: Annotated[
        float,
        typer.Option("--scale", min=1e-6, help="share of the nation's documents and dossiers simulated"),
    ] = DEFAULT_SCALE,
    duplicates: Annotated[
        float, typer.Option("--duplicates", min=0.0, max=0.99, help="share of events re-sent unchanged")
    ] = 0.0,
    bad_ratio: Annotated[
        float, typer.Option("--bad-ratio", min=0.0, max=0.99, help="share of invalid events (for DLQ tests)")
    ] = 0.0,
    late_ratio: Annotated[
        float,
        typer.Option(
            "--late-ratio", min=0.0, max=0.99, help="share of dossier snapshots delivered out of order"
        ),
    ] = 0.01,
    validate: Annotated[
        bool, typer.Option("--validate", help="build every event through model validation (slower)")
    ] = False,
    targets: Annotated[
        Path | None, typer.Option("--targets", help="calibration CSV (default: the packaged one)")
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option("--truth", help="write the ground truth (counts per type, province) as JSON"),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="serve /metrics here (0: any free port; default: LGSP_SIMULATOR__METRICS_PORT when "
            "publishing, "
            "none when writing a file)",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="events per publish_many")] = (
        DEFAULT_BATCH_SIZE
    ),
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="live progress (default: on a terminal)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    bootstrap_servers: BootstrapServersOption = None,
    registry_url: RegistryUrlOption = None,
    prefix: TopicPrefixOption = None,
) -> None:
    """Simulate the 34 provinces and the ministries: documents and their status feedback,
    dossier snapshots and periodic reports, calibrated per province and seeded.

    Publishes to Kafka through the SDK publisher, or writes CloudEvents JSON lines with --out.

    Without --events or --duration it publishes until interrupted (Ctrl-C ends it cleanly).
    """
    err = Console(stderr=True, highlight=False)
    to_file = out is not None
    if to_file and events is None and duration is None:
        err.print("error: writing a file needs --events or --duration")
        raise typer.Exit(EXIT_CONFIG)
    settings = settings_with(bootstrap_servers=bootstrap_servers, registry_url=registry_url, prefix=prefix)
    try:
        config = SimulationConfig(
            seed=seed,
            start=simulated_start(start, DEFAULT_START),
            scale=scale,
            duplicates=duplicates,
            bad_ratio=bad_ratio,
            late_ratio=late_ratio,
            defects=ALL_DEFECTS if to_file else AVRO_ENCODABLE_DEFECTS,
            validated=validate,
            targets_path=targets,
        )
        simulation = Simulation(config)
    except LgspError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(EXIT_CONFIG) from exc
    paced = rate if rate is not None else (None if to_file else DEFAULT_KAFKA_RATE)
    limits = Limits(events=events, duration_s=duration, rate=paced or None)
    port = (
        metrics_port if metrics_port is not None else (None if to_file else settings.simulator.metrics_port)
    )
    report = _run(simulation, settings, limits, out, port, batch_size, _wants_progress(progress, out), err)
    if truth is not None:
        truth.write_text(
            json.dumps(report.truth.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
    _print_summary(report, as_json, to_stdout=out == Path("-"))


def _wants_progress(progress: bool | None, out: Path | None) -> bool:
    if progress is not None:
        return progress
    return sys.stderr.isatty() and out != Path("-")


def _run(
    simulation: Simulation,
    settings: Settings,
    limits: Limits,
    out: Path | None,
    metrics_port: int | None,
    batch_size: int,
    show_progress: bool,
    err: Console,
) -> RunReport:
    registry = new_process_registry()
    metrics = SimulatorMetrics(registry)
    stop = threading.Event()
    try:
        with (
            _metrics_server(registry, metrics_port, err),
            _stop_on_signals(stop),
            _Live(limits, show_progress, err) as live,
        ):
            if out is None:
                return asyncio.run(
                    publish(
                        simulation,
                        settings,
                        limits,
                        batch_size=batch_size,
                        metrics=metrics,
                        publisher_metrics=PublisherMetrics(registry),
                        dependencies=DependencyMetrics(registry, (Dependency.KAFKA, Dependency.REGISTRY)),
                        on_progress=live.update,
                        stop=stop,
                    )
                )
            with _open(out) as stream:
                return write_jsonl(
                    simulation, stream, limits, on_progress=live.update, metrics=metrics, stop=stop
                )
    except LgspError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(EXIT_BROKER if out is None else EXIT_CONFIG) from exc
    except OSError as exc:
        err.print(f"error: cannot write {out}: {exc.strerror or exc}")
        raise typer.Exit(EXIT_CONFIG) from exc


def _metrics_server(
    registry: CollectorRegistry, port: int | None, err: Console
) -> AbstractContextManager[object]:
    if port is None:
        return nullcontext()
    server = serve_metrics(registry, "127.0.0.1", port)
    err.print(f"metrics: {server.url}")
    return _closing(server)


@contextmanager
def _closing(server: MetricsServer) -> Iterator[MetricsServer]:
    try:
        yield server
    finally:
        server.close()


@contextmanager
def _open(out: Path) -> Iterator[IO[str]]:
    if out == Path("-"):
        yield sys.stdout
        return
    with out.open("w", encoding="utf-8", newline="\n") as stream:
        yield stream


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM end the run cleanly (the batch in flight is confirmed, the summary printed); a second
    Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class _Live:
    """Live progress on stderr: events so far (of --events), rate, and the mix by type."""

    def __init__(self, limits: Limits, enabled: bool, err: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]simulating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8} ev/s"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[mix]}"),
            console=err,
            disable=not enabled,
        )
        self._task: TaskID = self._progress.add_task("simulate", total=limits.events, rate="", mix="")

    def __enter__(self) -> _Live:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def update(self, truth: GroundTruth, elapsed_s: float) -> None:
        mix = " ".join(f"{_SHORT.get(t, t)}={n}" for t, n in sorted(truth.by_type.items()))
        extra = sum(truth.duplicates_by_type.values()), sum(truth.invalid_by_type.values())
        if any(extra):
            mix += f" dup={extra[0]} bad={extra[1]}"
        rate = f"{truth.emitted / elapsed_s:,.0f}" if elapsed_s > 0 else ""
        self._progress.update(self._task, completed=truth.emitted, rate=rate, mix=mix)


def _print_summary(report: RunReport, as_json: bool, *, to_stdout: bool) -> None:
    # with --out -, stdout carries the events: the summary goes to stderr
    console = Console(stderr=to_stdout, highlight=False)
    summary = {
        "emitted": report.emitted,
        "elapsed_s": round(report.elapsed_s, 3),
        "events_per_s": round(report.events_per_s, 1),
        "published": report.published,
        "invalid_sent": report.invalid_sent,
        "publish_failures": report.publish_failures,
        "interrupted": report.interrupted,
        "topics": dict(sorted(report.topics.items())),
        "truth": report.truth.to_json(),
    }
    if as_json:
        console.print_json(json.dumps(summary, ensure_ascii=False))
        return
    truth = report.truth
    table = Table(
        title=f"lgsp simulate: {report.emitted:,} events in {report.elapsed_s:.1f} s "
        f"({report.events_per_s:,.0f}/s)"
    )
    table.add_column("event type")
    table.add_column("real", justify="right")
    table.add_column("duplicates", justify="right")
    table.add_column("invalid", justify="right")
    for type_name in sorted(set(truth.by_type) | set(truth.duplicates_by_type) | set(truth.invalid_by_type)):
        table.add_row(
            type_name,
            f"{truth.by_type[type_name]:,}",
            f"{truth.duplicates_by_type[type_name]:,}",
            f"{truth.invalid_by_type[type_name]:,}",
        )
    console.print(table)
    console.print(
        f"simulated time: {truth.first_time} .. {truth.last_time}; late snapshots: {truth.by_kind['late']:,}"
    )
    if report.published or report.invalid_sent:
        console.print(f"published: {report.published:,} (+{report.invalid_sent:,} invalid, sent raw)")
    if report.publish_failures:
        console.print(f"publish failures: {report.publish_failures:,} batches sent again after a backoff")
    if report.interrupted:
        console.print("interrupted: stopped early on a signal")
