"""``lgsp <command>`` builds only that command (lgsp.cli.build_app): the same command as the whole CLI has,
and none of the other commands' imports."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lgsp.commands
from lgsp.cli import COMMANDS, EXTENSIONS
from lgsp.script import CLI_EXTRA_HINT

pytestmark = pytest.mark.unit

_TREE = """
import json, sys
import typer
from lgsp.cli import build_app

def tree(command):
    entry = {"params": sorted(p.name or "" for p in command.params), "help": command.help}
    if hasattr(command, "commands"):  # a group (typer's own, not necessarily click's class)
        entry["commands"] = {n: tree(c) for n, c in sorted(command.commands.items())}
    return entry

only = sys.argv[1] if sys.argv[1] != "-" else None
group = typer.main.get_command(build_app(only))
print(json.dumps({"tree": tree(group), "modules": sorted(sys.modules)}))
"""


def _built(only: str | None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _TREE, only or "-"], capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def whole() -> dict[str, Any]:
    return _built(None)


@pytest.mark.parametrize("name", COMMANDS)
def test_a_command_built_alone_is_the_command_of_the_whole_cli(name: str, whole: dict[str, Any]) -> None:
    alone = _built(name)
    assert isinstance(whole["tree"]["commands"][name], dict)
    assert alone["tree"]["commands"] == {name: whole["tree"]["commands"][name]}


def test_publishing_a_file_imports_neither_the_web_framework_nor_the_database_driver() -> None:
    modules = set(_built("publish")["modules"])
    assert "bus.publisher" in modules
    assert not modules & {"fastapi", "uvicorn", "psycopg", "lgsp.demo", "consumers.store.postgres"}


def test_every_command_module_is_assembled() -> None:
    with_register = {
        info.name
        for info in pkgutil.iter_modules(lgsp.commands.__path__)
        if "def register(app: typer.Typer)"
        in (Path(lgsp.commands.__path__[0]) / f"{info.name}.py").read_text()
    }
    extensions = {module for modules in EXTENSIONS.values() for module in modules}
    assert with_register == set(COMMANDS) | extensions


def test_the_whole_cli_is_a_group_of_every_command(whole: dict[str, Any]) -> None:
    assert sorted(whole["tree"]["commands"]) == sorted(COMMANDS)


_WITHOUT_FASTAPI = """
import sys
sys.modules["fastapi"] = None  # as if the [ingress] extra were not installed: importing it fails
sys.argv = ["lgsp", *sys.argv[1:]]
from lgsp.script import main
main()
"""


def _without_fastapi(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", _WITHOUT_FASTAPI, *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_a_command_needing_a_missing_extra_names_it_and_the_others_still_run() -> None:
    ingress = subprocess.run(
        [sys.executable, "-c", _WITHOUT_FASTAPI, "ingress", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ingress.returncode == 1
    assert CLI_EXTRA_HINT in ingress.stderr
    assert "fastapi" in ingress.stderr
    assert "Traceback" not in ingress.stderr
    publish = subprocess.run(
        [sys.executable, "-c", _WITHOUT_FASTAPI, "publish", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert publish.returncode == 0, publish.stderr
    assert "Usage: lgsp publish" in publish.stdout
