"""``lgsp ingress``: the HTTP gateway; ``lgsp ingress keys add | list | revoke``: its API keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from bus.agencies import load_catalog
from bus.errors import ConfigError, LgspError
from bus.settings import Settings
from producers.ingress.auth import ApiKeyStore

KeysFileOption = Annotated[
    Path | None,
    typer.Option("--keys-file", help="the API key file (default: LGSP_INGRESS__API_KEYS_FILE)"),
]


def register(app: typer.Typer) -> None:
    ingress = typer.Typer(
        help="The HTTP gateway: CloudEvents over HTTP into Kafka, with an API key per agency.",
        invoke_without_command=True,
    )
    ingress.callback(invoke_without_command=True)(serve_command)
    keys = typer.Typer(
        help="Issue, list and revoke the agencies' API keys (stored hashed).", no_args_is_help=True
    )
    keys.command("add")(add_key)
    keys.command("list")(list_keys)
    keys.command("revoke")(revoke_key)
    ingress.add_typer(keys, name="keys")
    app.add_typer(ingress, name="ingress")


def serve_command(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="address to bind (default: settings, 127.0.0.1)")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="port (default: settings, 8080)")
    ] = None,
    keys_file: KeysFileOption = None,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="log every request (costs throughput)")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=0, help="processes sharing the port (default: settings, 1; 0: one per CPU)"
        ),
    ] = None,
    ssl_certfile: Annotated[
        Path | None, typer.Option("--ssl-certfile", help="serve HTTPS with this certificate chain (PEM)")
    ] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option("--ssl-keyfile", help="its private key (PEM)")] = None,
) -> None:
    """Serve POST /v1/events and /v1/events:batch, /docs, /healthz, /readyz and /metrics."""
    if ctx.invoked_subcommand is not None:
        return
    from producers.ingress.app import serve  # imported here: `lgsp --help` stays fast

    settings = Settings()
    if keys_file is not None:
        settings.ingress.api_keys_file = keys_file
    if workers is not None:
        settings.ingress.workers = workers
    if ssl_certfile is not None:
        settings.ingress.ssl_certfile, settings.ingress.ssl_keyfile = ssl_certfile, ssl_keyfile
    try:
        status = serve(
            settings,
            host=host or settings.ingress.host,
            port=settings.ingress.port if port is None else port,
            access_log=access_log,
        )
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if status:
        raise typer.Exit(status)


def _keys_path(keys_file: Path | None) -> Path:
    return keys_file if keys_file is not None else Settings().ingress.api_keys_file


def add_key(
    agency: Annotated[str, typer.Argument(help="the agency's code, e.g. 000.00.00.H29")],
    grant: Annotated[
        list[str] | None,
        typer.Option("--grant", help="another unit this agency may publish for (repeatable)"),
    ] = None,
    keep_existing: Annotated[
        bool, typer.Option("--keep-existing", help="keep the agency's current keys (for a rotation overlap)")
    ] = False,
    keys_file: KeysFileOption = None,
) -> None:
    """Issue a new API key for AGENCY and print it once; the file keeps only its SHA-256."""
    catalog = load_catalog()
    try:
        for code in (agency, *(grant or [])):
            catalog.get(code, field="agency")
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    path = _keys_path(keys_file)
    store = _load(path)
    token = store.add_key(agency, grants=grant or [], keep_existing=keep_existing)
    store.save(path)
    typer.echo(f"API key for {agency} (shown once; the ingress keeps only its hash in {path}):", err=True)
    typer.echo(token)


def list_keys(keys_file: KeysFileOption = None) -> None:
    """List agencies with their key ids, creation times and grants (never a key)."""
    path = _keys_path(keys_file)
    store = _load(path)
    for code, entry in sorted(store.agencies().items()):
        ids = ", ".join(f"{k.id} ({k.created_at})" for k in entry.keys) or "no keys"
        grants = f"; grants: {', '.join(sorted(entry.grants))}" if entry.grants else ""
        typer.echo(f"{code}: {ids}{grants}")


def revoke_key(
    agency: Annotated[
        str | None, typer.Argument(help="the agency to remove with all its keys and grants")
    ] = None,
    key_id: Annotated[
        str | None, typer.Option("--key-id", help="revoke only this key (the end of a rotation)")
    ] = None,
    grant: Annotated[
        list[str] | None, typer.Option("--grant", help="with AGENCY: remove only this grant (repeatable)")
    ] = None,
    keys_file: KeysFileOption = None,
) -> None:
    """Revoke one key (--key-id), remove grants (AGENCY --grant), or remove AGENCY with all its keys.

    A running ingress notices within seconds.
    """
    path = _keys_path(keys_file)
    store = _load(path)
    if key_id is not None:
        if agency is not None or grant:
            _fail("--key-id revokes one key: give no AGENCY or --grant with it")
        owner = store.revoke_key(key_id)
        if owner is None:
            _fail(f"no key {key_id} in {path}")
        message = f"revoked key {key_id} of {owner}; its other keys and grants stay"
    elif agency is None:
        _fail("say what to revoke: AGENCY, AGENCY --grant UNIT, or --key-id ID")
    elif grant:
        removed = store.ungrant(agency, grant)
        if not removed:
            _fail(f"{agency} has none of the grants {', '.join(grant)} in {path}")
        message = f"removed the grants {', '.join(sorted(removed))} of {agency}"
    else:
        if not store.revoke(agency):
            _fail(f"{agency} has no keys in {path}")
        message = f"revoked every key of {agency}"
    store.save(path)
    typer.echo(message)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _load(path: Path) -> ApiKeyStore:
    try:
        return ApiKeyStore.load_or_empty(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
