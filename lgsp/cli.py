"""Entry point of the ``lgsp`` console script.

Each command group lives in ``lgsp.commands.<name>`` and adds itself with ``register(app)``; this module only
assembles them, so ``lgsp --help`` lists every command.

A command run imports only its own module: importing every command (the demo brings the ingress's web
framework, the views bring PostgreSQL's driver) took 1.2 s before ``lgsp publish`` read its first line,
against 0.5 s for the publish command alone. ``tests/unit/test_cli_lazy.py`` checks that each command built
alone is the command the whole CLI has.
"""

from __future__ import annotations

import importlib
import sys
from typing import Final

import typer

COMMANDS: Final = (
    "dev",
    "topics",
    "schemas",
    "agencies",
    "simulate",
    "publish",
    "ingress",
    "views",
    "dlq",
    "bench",
    "demo",
)
"""Module ``lgsp.commands.<name>`` registers the top-level command or group ``<name>``; this is the order of
``lgsp --help``."""
EXTENSIONS: Final = {"agencies": ("onboarding", "signing_keys")}
"""Modules that add commands to another module's group (``lgsp agencies onboard``, ``lgsp agencies keys``)."""


def build_app(only: str | None = None) -> typer.Typer:
    """The command line: every command, or only ``only`` (a name of :data:`COMMANDS`) and its extensions.

    Call it once per process: the extensions add their commands to their group's module-level Typer.
    """
    app = typer.Typer(
        name="lgsp",
        help="LGSP bus: event-driven data sharing for Vietnamese e-government on Apache Kafka.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    if only is not None:
        # With one command and no callback, typer would run that command as the whole program (``lgsp FILE``)
        app.callback()(_no_options)
    for name in COMMANDS if only is None else (only,):
        for module in (name, *EXTENSIONS.get(name, ())):
            importlib.import_module(f"lgsp.commands.{module}").register(app)
    return app


def _no_options() -> None:
    """LGSP bus: event-driven data sharing for Vietnamese e-government on Apache Kafka."""


def __getattr__(name: str) -> typer.Typer:
    # ``from lgsp.cli import app`` (tests, tools): the whole command line, built on first use
    if name == "app":
        app = globals()["app"] = build_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def app_for(arguments: list[str]) -> typer.Typer:
    """The command line to run ``lgsp ARGUMENTS`` with: only the command named first, if it is one."""
    command = arguments[0] if arguments else None
    return build_app(command if command in COMMANDS else None)


def main() -> None:
    app_for(sys.argv[1:])()
