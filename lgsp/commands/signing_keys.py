"""``lgsp agencies keys add | list | revoke | stack``: the signing keys on the keyring topic ``lgsp.keys``.

The only writers of the keyring (with onboarding). ``add`` writes the private key to ``--out`` (mode 0600)
and publishes the public entry; ``revoke`` publishes the entry again with its revocation time.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bus.agencies import GOVERNMENT_OFFICE, load_catalog
from bus.errors import LgspError
from bus.settings import Settings
from bus.signing import create_agency_key
from bus.signing.keyring import ensure_keys, load_keyring, publish_entry
from bus.signing.keys import KeyEntry, Role, now_ms
from bus.wording import counted
from lgsp.commands.agencies import agencies_app

keys_app = typer.Typer(
    help="Signing keys on the keyring (lgsp.keys): add, list, revoke.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    del app  # a sub-group of `lgsp agencies`
    keys_app.command("add")(add)
    keys_app.command("list")(list_keys)
    keys_app.command("revoke")(revoke)
    keys_app.command("stack")(stack)
    agencies_app.add_typer(keys_app, name="keys")


def _ms(text: str | None) -> int | None:
    return None if text is None else int(datetime.fromisoformat(text).timestamp() * 1000)


def add(
    code: Annotated[str, typer.Argument(help="the agency's code, e.g. 000.00.00.H29")],
    out: Annotated[
        Path, typer.Option("--out", help="directory for the private key (<key id>.pem, 0600)")
    ] = Path("lgsp-keys"),
    ingress: Annotated[bool, typer.Option("--ingress", help="an attester key for the HTTP ingress")] = False,
    valid_from: Annotated[str | None, typer.Option(help="ISO 8601 time; default now")] = None,
    valid_until: Annotated[str | None, typer.Option(help="ISO 8601 time; default open-ended")] = None,
    grant: Annotated[
        list[str] | None, typer.Option("--grant", help="a unit this key may also sign for")
    ] = None,
) -> None:
    """Make a key pair for CODE: private key to --out, public entry to the keyring."""
    try:
        made = create_agency_key(
            code,
            out,
            role="ingress" if ingress else "agency",
            valid_from_ms=_ms(valid_from),
            valid_until_ms=_ms(valid_until),
            grants=tuple(grant or ()),
        )
        asyncio.run(publish_entry(Settings(), made.entry))
    except (LgspError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"key {made.entry.key_id} on the keyring; private key {made.private_key_file} (mode 0600)")
    typer.echo(f"  LGSP_SIGNING__KEY_FILE={made.private_key_file}")
    typer.echo(f"  LGSP_SIGNING__KEY_ID={made.entry.key_id}")


def list_keys(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Every key on the keyring with its agency, validity and revocation."""
    try:
        keyring = asyncio.run(load_keyring(Settings()))
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps([entry.to_json() for entry in keyring], indent=2))
        return
    for entry in keyring:
        state = "revoked" if entry.revoked_at_ms is not None else "active"
        typer.echo(
            f"{entry.key_id}  {entry.role:7}  {entry.agency}  from {entry.valid_from_ms}  "
            f"until {entry.valid_until_ms}  {state}"
        )


def revoke(key_id: Annotated[str, typer.Argument(help="the key id, e.g. 000.00.00.H29#3f9a0c1d")]) -> None:
    """Revoke KEY_ID from now: records signed from now on with it are refused (signer.revoked)."""
    settings = Settings()
    try:
        entry: KeyEntry | None = asyncio.run(load_keyring(settings)).get(key_id)
        if entry is None:
            typer.echo(f"error: no key {key_id} on the keyring", err=True)
            raise typer.Exit(1)
        asyncio.run(publish_entry(settings, entry.revoked(now_ms())))
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"key {key_id} revoked")


def stack(
    out: Annotated[Path, typer.Option("--out", help="directory of the stack's keys")] = Path("lgsp-keys"),
    ingress_agency: Annotated[
        str, typer.Option("--ingress-agency", help="the agency that runs the ingress (its attester key)")
    ] = GOVERNMENT_OFFICE,
) -> None:
    """The keys a whole test or demo stack signs with, made once and kept on later runs (docker compose's
    init): OUT/simulator/ a key per People's Committee and ministry (the agencies `lgsp simulate` publishes
    for) and OUT/ingress/ the ingress's attester key. Point each process at its directory with
    LGSP_SIGNING__KEY_DIR. A key the keyring does not hold usable is replaced. Not for production agencies:
    each signs with its own key (`lgsp agencies onboard`)."""
    settings = Settings()
    catalog = load_catalog()
    publishers = [str(a.code) for a in catalog.signers()]
    try:
        plan: list[tuple[str, list[str], Role]] = [
            ("simulator", publishers, "agency"),
            ("ingress", [ingress_agency], "ingress"),
        ]
        for name, agencies, role in plan:
            kept, made = asyncio.run(ensure_keys(settings, out / name, agencies, role=role))
            kept_n = counted(len(kept), "key")
            typer.echo(f"{out / name}: {kept_n} kept, {len(made)} made and put on the keyring")
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
