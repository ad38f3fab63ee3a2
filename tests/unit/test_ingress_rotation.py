"""The key rotation of docs/operators.md, run as written: the old key ends, the new one and the grants stay.

Red team: the documented rotation (`keys add --keep-existing`, then `keys revoke`) locked the agency out,
because revoke removed the agency with all its keys and grants.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lgsp.cli import app
from producers.ingress.auth import ApiKeyStore

pytestmark = pytest.mark.unit

OPERATORS = Path(__file__).resolve().parents[2] / "docs" / "operators.md"


def _documented_steps() -> list[list[str]]:
    text = OPERATORS.read_text(encoding="utf-8")
    block = re.search(r"<!-- rotation -->\n```sh\n(.*?)```", text, re.S)
    assert block is not None, "docs/operators.md lost its rotation steps"
    return [shlex.split(line.split("#", 1)[0]) for line in block.group(1).splitlines() if line.strip()]


def test_the_documented_rotation_keeps_the_agency_in(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    runner = CliRunner()
    tokens: list[str] = []
    for step in _documented_steps():
        assert step[0] == "lgsp"
        args = [*step[1:], "--keys-file", str(keys_file)]
        if "OLD_KEY_ID" in args:
            old_id = tokens[0].split("_")[1]
            args = [old_id if a == "OLD_KEY_ID" else a for a in args]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        if step[1:4] == ["ingress", "keys", "add"]:
            tokens.append(result.stdout.strip().splitlines()[-1])
    store = ApiKeyStore.load(keys_file)
    old, new = tokens
    assert store.authenticate(f"Bearer {old}") is None
    principal = store.authenticate(f"Bearer {new}")
    assert principal is not None
    assert principal.grants == frozenset({"000.00.00.G22"})


def test_one_grant_can_be_removed_and_the_keys_stay(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    runner = CliRunner()
    added = runner.invoke(
        app,
        [
            "ingress",
            "keys",
            "add",
            "000.00.00.H29",
            "--grant",
            "000.00.00.G22",
            "--keys-file",
            str(keys_file),
        ],
    )
    token = added.stdout.strip().splitlines()[-1]
    removed = runner.invoke(
        app,
        [
            "ingress",
            "keys",
            "revoke",
            "000.00.00.H29",
            "--grant",
            "000.00.00.G22",
            "--keys-file",
            str(keys_file),
        ],
    )
    assert removed.exit_code == 0, removed.output
    principal = ApiKeyStore.load(keys_file).authenticate(f"Bearer {token}")
    assert principal is not None
    assert principal.grants == frozenset()
