"""``lgsp demo``: the whole bus on this machine in a few minutes; ``lgsp demo --stop`` ends a kept demo."""

from __future__ import annotations

import signal
import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from bus.errors import ConfigError, LgspError
from bus.settings import Settings
from lgsp.demo import DemoOptions, PortRequest, Traffic, run_demo, stop_demo
from lgsp.options import START_FORMATS, simulated_start

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def _port(flag: str, help_text: str) -> Any:
    return typer.Option(flag, min=0, max=65535, help=f"{help_text}; 0: any free port")


ViewsPort = Annotated[int | None, _port("--views-port", "views API (default LGSP_VIEWS__PORT, 8090)")]
BuilderMetricsPort = Annotated[
    int | None,
    _port("--builder-metrics-port", "/metrics of `views run` (default LGSP_VIEWS__METRICS_PORT, 9100)"),
]
SimulatorMetricsPort = Annotated[
    int | None,
    _port(
        "--simulator-metrics-port", "/metrics of the simulator (default LGSP_SIMULATOR__METRICS_PORT, 9101)"
    ),
]
IngressPort = Annotated[
    int | None, _port("--ingress-port", "HTTP ingress (default LGSP_INGRESS__PORT, 8080)")
]
KafkaPort = Annotated[
    int | None,
    _port("--kafka-port", "local Kafka, when the demo starts it (default LGSP_DEV__KAFKA_PORT, 9092)"),
]
ControllerPort = Annotated[
    int | None,
    _port("--controller-port", "local Kafka's controller (default LGSP_DEV__CONTROLLER_PORT, 9093)"),
]
RegistryPort = Annotated[
    int | None,
    _port(
        "--registry-port", "local registry, when the demo starts it (default LGSP_DEV__REGISTRY_PORT, 8081)"
    ),
]


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    duration: Annotated[
        float, typer.Option("--duration", min=1.0, help="seconds of simulated traffic")
    ] = Traffic.duration_s,
    rate: Annotated[
        float, typer.Option("--rate", min=0.0, help="events per second (0: as fast as possible)")
    ] = Traffic.rate,
    seed: Annotated[int, typer.Option("--seed", help="the simulation's seed: same seed, same events")] = 0,
    bad_ratio: Annotated[
        float,
        typer.Option(
            "--bad-ratio", min=0.0, max=0.5, help="share of invalid events, for the dead-letter queue"
        ),
    ] = Traffic.bad_ratio,
    start: Annotated[
        datetime | None,
        typer.Option(
            "--start",
            formats=START_FORMATS,
            help=f"simulated start (default {Traffic.start.isoformat()}, shortly before a report deadline; a "
            "date alone: midnight in Vietnam)",
        ),
    ] = None,
    scale: Annotated[
        float,
        typer.Option("--scale", min=1e-6, help="share of the nation's documents and dossiers simulated"),
    ] = Traffic.scale,
    dev_stack: Annotated[
        bool,
        typer.Option(
            "--dev-stack/--no-dev-stack",
            help="start (or reuse) the local Kafka and registry with `lgsp dev up`; --no-dev-stack uses "
            "the ones LGSP_KAFKA__BOOTSTRAP_SERVERS and LGSP_REGISTRY__URL name",
        ),
    ] = True,
    ingress: Annotated[
        bool, typer.Option("--ingress/--no-ingress", help="also run the HTTP ingress, with a demo API key")
    ] = True,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            help="on the secure bus: `lgsp dev up --secure` (TLS, SCRAM, ACLs, a write-protected registry; "
            "with --no-dev-stack the settings must be the admin's); the views and the ingress run as their "
            "own least-privilege principals",
        ),
    ] = False,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running",
            help="leave the views API, the view builder and the ingress running after the demo",
        ),
    ] = False,
    wait: Annotated[
        bool | None,
        typer.Option(
            "--wait/--no-wait",
            help="after the scoreboard, keep serving until Ctrl-C (default: when run from a terminal)",
        ),
    ] = None,
    stop: Annotated[
        bool, typer.Option("--stop", help="stop what a demo left running (--keep-running), then exit")
    ] = False,
    views_port: ViewsPort = None,
    builder_metrics_port: BuilderMetricsPort = None,
    simulator_metrics_port: SimulatorMetricsPort = None,
    ingress_port: IngressPort = None,
    kafka_port: KafkaPort = None,
    controller_port: ControllerPort = None,
    registry_port: RegistryPort = None,
) -> None:
    """Run the whole bus locally: Kafka and the registry, topics, schemas, the simulated nation publishing,
    the views built and served, /metrics everywhere, then the national scoreboard and where to look next.

    Files (view store, logs, the demo's ingress key) live in <LGSP_DEV__STATE_DIR>/demo; the demo's consumer
    group is lgsp-demo. Every rerun rebuilds the views from the topics. Ctrl-C stops everything it started.
    """
    console = _console()
    try:
        settings = Settings()
    except ValueError as exc:
        console.print(f"error: invalid settings: {exc}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from exc
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up like Ctrl-C
    # Ctrl-C too, even when started as a background job of a non-interactive shell: such jobs inherit SIGINT
    # ignored, and Python then installs no handler, so `kill -INT` (or a test's SIGINT) would be lost.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if stop:
        _stop(settings, console)
        return
    options = DemoOptions(
        traffic=Traffic(
            duration_s=duration,
            rate=rate,
            seed=seed,
            bad_ratio=bad_ratio,
            start=simulated_start(start, Traffic.start),
            scale=scale,
        ),
        ports=PortRequest(views_port, builder_metrics_port, simulator_metrics_port, ingress_port),
        dev_stack=dev_stack,
        dev_ports={
            "kafka_port": kafka_port,
            "controller_port": controller_port,
            "registry_port": registry_port,
        },
        ingress=ingress,
        secure=secure,
        keep_running=keep_running,
        wait=_wants_wait(wait, console),
    )
    try:
        run_demo(options, settings, console)
    except ConfigError as exc:
        console.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from exc
    except LgspError as exc:
        console.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from exc
    except KeyboardInterrupt as exc:
        console.print("interrupted: the demo's processes are stopped")
        raise typer.Exit(EXIT_INTERRUPTED) from exc


def _stop(settings: Settings, console: Console) -> None:
    try:
        stop_demo(settings, console)
    except LgspError as exc:
        console.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_FAILED) from exc


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)  # piped or logged: do not squeeze the scoreboard
    return console


def _wants_wait(wait: bool | None, console: Console) -> bool:
    if wait is not None:
        return wait
    return console.is_terminal and sys.stdin.isatty()
