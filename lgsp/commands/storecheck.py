"""The check every reading command makes before opening the view store."""

from __future__ import annotations

from pathlib import Path

import typer

from bus.errors import LgspError
from bus.settings import Settings
from consumers.store.sqlite import path_from_url


def require_store(settings: Settings) -> None:
    """Reading must not create an empty SQLite store where none was built."""
    url = settings.store.url
    if url.startswith("sqlite:") and url != "sqlite:///:memory:":
        try:
            path = Path(path_from_url(url))
        except LgspError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        if not path.exists():
            typer.echo(f"error: no view store at {path} (build it with `lgsp views run`)", err=True)
            raise typer.Exit(1)
