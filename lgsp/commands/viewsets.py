"""``lgsp views switch | sets | drop``: the view sets of a PostgreSQL store (blue/green rebuilds).

``lgsp views rebuild --into NAME`` builds set NAME while the current set keeps serving; ``switch NAME``
makes it current in one transaction (every API replica's next read sees it); the old set stays until
``drop``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from bus.errors import LgspError, StoreError
from bus.settings import Settings
from consumers.store import open_store
from consumers.store.postgres import PostgresStore

SetName = Annotated[str, typer.Argument(help="view set name: lowercase letters, digits, _")]


def register(views: typer.Typer) -> None:
    views.command("switch")(switch)
    views.command("sets")(sets)
    views.command("drop")(drop)


def switch(name: SetName) -> None:
    """Make view set NAME the one the API serves (atomically); the previous one is kept until dropped.
    Restart the builders (`views run`) afterwards: they carry on with the current set."""
    with _postgres() as store:
        before = store.switch(name)
    typer.echo(f"current view set: {name} (was {before}; keep it or `lgsp views drop {before}`)")


def sets() -> None:
    """List the view sets of the store; `*` marks the current one."""
    with _postgres() as store:
        found = store.view_sets()
    for name, current in found.items():
        typer.echo(f"{'*' if current else ' '} {name}")


def drop(name: SetName) -> None:
    """Delete view set NAME (not the current one) and everything in it."""
    with _postgres() as store:
        store.drop_set(name)
    typer.echo(f"dropped view set {name}")


@contextmanager
def _postgres() -> Iterator[PostgresStore]:
    """The store of ``LGSP_STORE__URL``, which must be PostgreSQL; errors as one line and exit code 1."""
    try:
        store = open_store(Settings().store.url)
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    try:
        if not isinstance(store, PostgresStore):
            raise StoreError(
                "view sets (blue/green) need a PostgreSQL store (LGSP_STORE__URL=postgresql://...)"
            )
        yield store
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        store.close()
