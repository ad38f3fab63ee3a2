"""The ``lgsp`` console script: the command line, or what to install when only the SDK is installed.

The distribution's base install is the SDK (``bus``); the command line needs the ``[cli]`` extra (typer, rich,
and the servers' frameworks). Without it, ``lgsp`` says which install command brings it instead of a
traceback.
"""

from __future__ import annotations

import sys

CLI_EXTRA_HINT = "the lgsp command needs the [cli] extra: pip install 'lgsp-bus[cli]'"
"""What ``lgsp`` prints when a module of the ``[cli]`` extra is missing."""

_OUR_PACKAGES = frozenset({"bus", "producers", "consumers", "lgsp"})
"""A missing module of ours is a broken install, not a missing extra: that one keeps its traceback."""


def main() -> None:
    try:
        # Building the command imports its modules (only that command's: lgsp.cli), so a missing extra
        # shows here, not as a traceback from inside the command.
        from lgsp.cli import app_for

        app = app_for(sys.argv[1:])
    except ModuleNotFoundError as exc:
        # The base install has every dependency of the SDK, so a third-party module missing here is one of
        # the extras' (the list is pyproject.toml's, not repeated here).
        if not exc.name or exc.name.split(".")[0] in _OUR_PACKAGES:
            raise
        sys.exit(f"lgsp: {exc.name} is not installed; {CLI_EXTRA_HINT}")
    app()
