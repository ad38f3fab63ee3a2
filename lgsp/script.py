"""The ``lgsp`` console script: the command line, or what to install when only the SDK is installed.

The distribution's base install is the SDK (``bus``); the command line needs the ``[cli]`` extra (typer, rich,
and the servers' frameworks). Without it, ``lgsp`` says which install command brings it instead of a
traceback.
"""

from __future__ import annotations

import sys

CLI_EXTRA_HINT = "the lgsp command needs the [cli] extra: pip install 'lgsp-bus[cli]'"
"""What ``lgsp`` prints when a module of the ``[cli]`` extra is missing."""

_CLI_MODULES = frozenset(
    {
        "typer",
        "click",
        "rich",
        "fastapi",
        "starlette",
        "uvicorn",
        "avro",
        "swagger_ui_bundle",
        "cryptography",
        "psycopg",
        "yaml",
    }
)


def main() -> None:
    try:
        from lgsp.cli import main as cli_main
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _CLI_MODULES:
            raise
        sys.exit(f"lgsp: {exc.name} is not installed; {CLI_EXTRA_HINT}")
    cli_main()
