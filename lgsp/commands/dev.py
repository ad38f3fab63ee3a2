"""``lgsp dev up | down | status | fetch``: the local Kafka + registry (+ PostgreSQL), no Docker."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from bus.errors import ConfigError, LgspError
from bus.kafka_client import kafka_environment
from bus.settings import DevSettings, KafkaSettings, Settings
from lgsp.devstack import DevStack, StackStatus, State
from lgsp.devstack.postgres import PostgresServer
from lgsp.devstack.secure import write_admin_env
from lgsp.security.onboarding import KAFKA_ENV, ensure_service

StateDir = Annotated[
    Path | None, typer.Option("--state-dir", help="configs, data, logs, pid files [LGSP_DEV__STATE_DIR]")
]


def register(app: typer.Typer) -> None:
    dev = typer.Typer(
        help="Local Kafka (KRaft) + Apicurio Registry on loopback, no Docker.", no_args_is_help=True
    )
    dev.command("up")(up)
    dev.command("status")(status)
    dev.command("down")(down)
    dev.command("fetch")(fetch)
    app.add_typer(dev, name="dev")


def up(
    brokers: Annotated[int, typer.Option(min=1, max=9, help="Kafka nodes (KRaft combined mode)")] = 1,
    kafka_port: Annotated[int | None, typer.Option(help="first broker's port; 0: any free port")] = None,
    controller_port: Annotated[int | None, typer.Option(help="first controller's port; 0: any free")] = None,
    registry_port: Annotated[int | None, typer.Option(help="Apicurio Registry's port; 0: any free")] = None,
    registry: Annotated[bool, typer.Option(help="also run the schema registry")] = True,
    secure: Annotated[
        bool,
        typer.Option("--secure", help="SASL_SSL (SCRAM-SHA-512) + TLS + ACLs; admin is the only super user"),
    ] = False,
    timeout: Annotated[float | None, typer.Option(help="seconds to wait for readiness")] = None,
    postgres: Annotated[
        bool, typer.Option("--postgres", help="also run PostgreSQL for the view store (Debian's package)")
    ] = False,
    postgres_port: Annotated[int | None, typer.Option(help="PostgreSQL's port; 0: any free port")] = None,
    state_dir: StateDir = None,
) -> None:
    """Start Kafka and the schema registry (fetching jars on first use) and wait until they are ready."""
    overrides = {
        "kafka_port": kafka_port,
        "controller_port": controller_port,
        "registry_port": registry_port,
        "postgres_port": postgres_port,
        "state_dir": state_dir,
    }
    store_url = None
    with _errors():
        settings = _dev_settings(**overrides)
        stack = DevStack(settings)
        result = stack.up(brokers=brokers, registry=registry, timeout_s=timeout, secure=secure)
        admin = stack.admin_settings()
        services = _service_principals(admin, settings.state_dir) if secure else []
        if postgres:
            store_url = PostgresServer(settings).up(timeout_s=timeout)
            result = _with_postgres(result, settings)
    _print_status(result)
    typer.echo("\nPoint the bus at it:")
    for key, value in kafka_environment(admin).items():
        if key not in ("LGSP_KAFKA__SASL_USERNAME", "LGSP_KAFKA__SASL_PASSWORD"):
            typer.echo(f"  export {key}={value}")
    if admin.sasl_username is not None:
        registry_admin = stack.registry_admin_settings() if result.registry_url else None
        env_file = write_admin_env(stack.settings.state_dir, admin, registry_admin)
        typer.echo(
            f"  # the admin principal (super user) and its password, 0600: set -a; . {env_file}; set +a"
        )
        for env_file in services:
            typer.echo(f"  # a service's own principal (least privilege): {env_file}")
        typer.echo("  # agencies get theirs with `lgsp agencies onboard CODE --sdk` (docs/operators.md)")
    if result.registry_url:
        typer.echo(f"  export LGSP_REGISTRY__URL={result.registry_url}")
        if admin.sasl_username is not None:
            typer.echo(
                "  # registry: reads are open; writes need the registry admin's LGSP_REGISTRY__USERNAME/"
            )
            typer.echo("  # PASSWORD (in the admin env file above), e.g. for `lgsp schemas register`")
    if store_url:
        typer.echo(f"  export LGSP_STORE__URL={store_url}")


def _service_principals(admin: KafkaSettings, state_dir: Path) -> list[Path]:
    """The ingress's and the default views deployment's principals and ACLs (idempotent, like `up`)."""
    settings = Settings(kafka=admin)
    out = state_dir / "principals"
    return [
        ensure_service(settings, kind, out_dir=out).directory / KAFKA_ENV for kind in ("ingress", "views")
    ]


def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    state_dir: StateDir = None,
) -> None:
    """Each component as ready / starting / not running / failed; exit code 1 unless all are ready."""
    with _errors():
        settings = _dev_settings(state_dir=state_dir)
        result = _with_postgres(DevStack(settings).status(), settings)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        _print_status(result)
    if not result.ready:
        raise typer.Exit(1)


def down(
    purge: Annotated[bool, typer.Option(help="also delete the state dir (topics, schemas, logs)")] = False,
    state_dir: StateDir = None,
) -> None:
    """Stop exactly the processes `lgsp dev up` started."""
    with _errors():
        settings = _dev_settings(state_dir=state_dir)
        stack = DevStack(settings)
        # PostgreSQL first: its cluster may live outside the state dir (run as root), and a purge of the
        # state dir must not pull the data from under a running server.
        postgres_stopped = PostgresServer(settings).down(purge=purge)
        stopped = stack.down(purge=purge) + (["postgres"] if postgres_stopped else [])
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    if purge:
        typer.echo(f"removed {stack.settings.state_dir}")


def fetch() -> None:
    """Resolve the Kafka jars and the registry from Maven Central into the cache (used by CI)."""
    with _errors():
        fetched = DevStack(_dev_settings()).fetch()
    for item in fetched:
        typer.echo(f"{item.name:9} {'downloaded' if item.downloaded else 'cached':10} {item.path}")


def _with_postgres(result: StackStatus, settings: DevSettings) -> StackStatus:
    """The stack's status with PostgreSQL's, once `up --postgres` has run in this state dir."""
    postgres = PostgresServer(settings).status()
    if postgres is None:
        return result
    return dataclasses.replace(result, components=(*result.components, postgres))


def _dev_settings(**overrides: Any) -> DevSettings:
    """Settings from the environment, with the flags that were given on top."""
    try:
        base = Settings().dev
    except ValueError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
    given = {key: value for key, value in overrides.items() if value is not None}
    return DevSettings.model_validate({**base.model_dump(), **given})


@contextmanager
def _errors() -> Iterator[None]:
    """Our errors as one clear line on stderr and exit code 2 (configuration) or 1, not a traceback."""
    try:
        yield
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _print_status(result: StackStatus) -> None:
    if not result.components:
        typer.echo(f"no stack in {result.state_dir} (not running); start one with `lgsp dev up`")
        return
    for component in result.components:
        pid = f"pid {component.pid}" if component.pid and component.state is not State.FAILED else ""
        typer.echo(f"{component.name:10} {component.state.value:12} {component.endpoint:28} {pid}")
        if component.state is State.FAILED:
            typer.echo(f"{'':10} {component.detail}")
        elif component.state is State.STARTING:
            typer.echo(f"{'':10} log: {component.log_file}")
    typer.echo(f"state: {result.state_dir}")
