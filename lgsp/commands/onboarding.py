"""``lgsp agencies onboard | offboard``: what an agency needs on the secure bus, in one idempotent command.

Run as the admin (``set -a; . <state_dir>/admin.env``): the commands create SCRAM users and ACLs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bus.errors import LgspError
from bus.settings import Settings
from lgsp.commands.agencies import agencies_app
from lgsp.security.onboarding import (
    INGRESS_KEY,
    KAFKA_ENV,
    SIGNING_ENV,
    offboard_agency,
    onboard_agency,
)

CodeArgument = Annotated[str, typer.Argument(help="the agency's code, e.g. 000.00.00.H29")]
OutOption = Annotated[
    Path, typer.Option("--out", help="where each agency's credential files go (<out>/<CODE>/, mode 0600)")
]


def register(app: typer.Typer) -> None:
    del app  # the commands join the `agencies` group
    agencies_app.command("onboard")(onboard)
    agencies_app.command("offboard")(offboard)


def onboard(
    code: CodeArgument,
    sdk: Annotated[
        bool, typer.Option("--sdk", help="a SCRAM principal that may write the event topics")
    ] = False,
    ingress: Annotated[bool, typer.Option("--ingress", help="an API key for the HTTP ingress")] = False,
    out: OutOption = Path("lgsp-agencies"),
    rotate: Annotated[
        bool, typer.Option("--rotate", help="set a new SCRAM password if the user exists")
    ] = False,
) -> None:
    """Create CODE's signing key pair (keyring), SCRAM principal and ACLs (--sdk), ingress API key
    (--ingress); again: no change."""
    if not (sdk or ingress):
        typer.echo("error: say what the agency needs: --sdk, --ingress or both", err=True)
        raise typer.Exit(2)
    try:
        done = asyncio.run(
            onboard_agency(Settings(), code, sdk=sdk, ingress=ingress, out_dir=out, rotate=rotate)
        )
    except (LgspError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if done.signing_key is not None:
        key_id = done.signing_key.key_id
        if done.created_signing_key:
            typer.echo(
                f"signing key {key_id} (created, on the keyring): private key {done.directory / key_id}.pem "
                f"(0600), settings in {done.directory / SIGNING_ENV}"
            )
        else:
            typer.echo(f"signing key {key_id} (exists, kept)")
    if sdk:
        state = "created" if done.created_user else "exists"
        typer.echo(f"principal User:{done.principal} ({state}); settings in {done.directory / KAFKA_ENV}")
        for acl in done.acls:
            typer.echo(f"  allow {acl.describe()}")
    if ingress:
        state = f"written to {done.directory / INGRESS_KEY}" if done.created_ingress_key else "exists (kept)"
        typer.echo(f"ingress API key: {state}")
    for note in done.notes:
        typer.echo(f"note: {note}")


def offboard(code: CodeArgument, out: OutOption = Path("lgsp-agencies")) -> None:
    """Remove CODE's principal, ACLs, ingress keys and credential files; revoke its signing keys."""
    try:
        removed = asyncio.run(offboard_agency(Settings(), code, out_dir=out))
    except (LgspError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo("removed: " + ", ".join(removed) if removed else f"nothing of {code} was there")
