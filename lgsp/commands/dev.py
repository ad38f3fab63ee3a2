"""``lgsp dev up | down | status | fetch``: the local Kafka + registry, no Docker."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    dev = typer.Typer(help="Local Kafka (KRaft) + Apicurio Registry on loopback, no Docker.", no_args_is_help=True)
    app.add_typer(dev, name="dev")
