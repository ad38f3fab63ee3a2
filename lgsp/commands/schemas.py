"""``lgsp schemas check | register``: evolution rules for the ``.avsc`` files, and the registry.

``check`` is offline (it runs in CI): compatibility of every version with the earlier ones under each record's
level, released files unchanged (``schemas/FINGERPRINTS``) and, on the packaged schemas, the event models
matching their schema. ``register`` talks to the registry and lives beside it in this group.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bus.compat import Issue, RecordReport, check_all, check_fingerprints, release_new_versions
from bus.errors import LgspError
from bus.registry import SchemaRegistryClient, SubjectRegistration, register_schemas
from bus.settings import Settings
from lgsp.commands.asyncapi import asyncapi


def register(app: typer.Typer) -> None:
    """Add the ``schemas`` command group to ``app``."""
    schemas = typer.Typer(
        help="Avro schemas: evolution checks and registry registration.", no_args_is_help=True
    )
    schemas.command("check")(check)
    schemas.command("register")(register_command)
    schemas.command("asyncapi")(asyncapi)
    app.add_typer(schemas, name="schemas")


def check(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="schema directory to check (default: the project's schemas/)", file_okay=False
        ),
    ] = None,
    release: Annotated[
        bool,
        typer.Option("--release", help="record fingerprints of versions not yet released, after they pass"),
    ] = False,
) -> None:
    """Check every schema version against the earlier ones, and that released files are unchanged."""
    try:
        reports = check_all(directory)
        issues = [issue for report in reports for issue in report.issues]
        if release and not issues:
            for fingerprint in release_new_versions(directory):
                typer.echo(f"released {fingerprint.record} v{fingerprint.version}")
        issues += check_fingerprints(directory)
        drift = _model_drift() if directory is None else []
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for report in reports:
        _print_report(report)
    for issue in issues:
        if issue.direction == "RELEASE":
            typer.echo(f"FAIL {issue}", err=True)
    for line in drift:
        typer.echo(f"FAIL model drift: {line}", err=True)
    if issues or drift:
        typer.echo(f"{len(issues) + len(drift)} problem(s) found", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {len(reports)} records, {sum(len(r.versions) for r in reports)} versions")


def _print_report(report: RecordReport) -> None:
    versions = ", ".join(f"v{v}" for v in report.versions)
    status = "ok  " if report.ok else "FAIL"
    typer.echo(f"{status} {report.record} [{report.level.value}] {versions}")
    for issue in report.issues:
        typer.echo(f"     {_describe(issue)}", err=True)


def _describe(issue: Issue) -> str:
    return (
        f"v{issue.reader_version} reading v{issue.writer_version} ({issue.direction}): field {issue.field}: "
        f"rule {issue.rule}: {issue.message}"
    )


def _model_drift() -> list[str]:
    from bus.events import EVENT_TYPES
    from bus.events._shape import schema_drift
    from bus.schemas import schema_versions

    lines = []
    for name, model in EVENT_TYPES.items():
        latest = schema_versions(name)[-1]
        if latest != model.SCHEMA_VERSION:
            lines.append(f"{name}: the model uses v{model.SCHEMA_VERSION}, the latest schema is v{latest}")
        lines += schema_drift(model, latest)
    return lines


def register_command(
    registry_url: Annotated[
        str | None, typer.Option("--registry-url", help="ccompat base URL (default: LGSP_REGISTRY__URL)")
    ] = None,
) -> None:
    """Register every version of each event schema oldest first, and set each subject's level (idempotent)."""
    from bus.events import EVENT_TYPES

    settings = Settings()
    if registry_url is not None:
        settings.registry.url = registry_url

    async def run() -> list[SubjectRegistration]:
        async with SchemaRegistryClient(settings.registry) as client:
            return await register_schemas(client, sorted(EVENT_TYPES))

    try:
        results = asyncio.run(run())
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for result in results:
        typer.echo(f"{result.subject} [{result.level}]")
        for item in result.versions:
            state = "registered" if item.created else "already registered"
            typer.echo(
                f"  v{item.file_version} -> id {item.registered.schema_id} "
                f"(subject version {item.registered.version}, {state})"
            )
        if not result.in_order:
            typer.echo(f"warning: {result.subject}: registry versions are not in file order", err=True)
