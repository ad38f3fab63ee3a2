"""``lgsp bench --smoke`` on the real stack: every part runs (tiny) and the results are written, well-formed.

Nothing here is timed: the smoke run only keeps the command and its result files working. The numbers it
measures are meaningless and never asserted.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StackEndpoints

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PARTS = ["serde", "decode", "signing", "publish", "publish-file", "rebuild", "ingress", "e2e", "scaleout"]
SECURE_PARTS = ["publish-secure", "rebuild-secure"]  # the secure pass, after the parts (bench/secure.py)


def _lgsp() -> list[str]:
    script = Path(sys.executable).with_name("lgsp")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from lgsp.cli import main; main()"]


@pytest.fixture(scope="module")
def smoke_run(stack: StackEndpoints, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One ``lgsp bench --smoke`` into a temporary directory; the directory and its console output."""
    out = tmp_path_factory.mktemp("bench")
    env = {
        **os.environ,
        "LGSP_KAFKA__BOOTSTRAP_SERVERS": stack.bootstrap_servers,
        "LGSP_REGISTRY__URL": stack.registry_url,
    }
    done = subprocess.run(
        [*_lgsp(), "bench", "--smoke", "--output-dir", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, f"lgsp bench --smoke failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return out, done.stdout


def _only(out: Path, pattern: str) -> Path:
    found = sorted(out.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {out}, found {[p.name for p in found]}"
    return found[0]


def _document(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_only(out, "*-smoke.json").read_text(encoding="utf-8"))
    return document


def test_writes_json_and_markdown_named_by_date_and_host(smoke_run: tuple[Path, str]) -> None:
    out, _ = smoke_run
    json_path = _only(out, "*-smoke.json")
    md_path = _only(out, "*-smoke.md")
    assert json_path.stem == md_path.stem
    document = _document(out)
    assert json_path.name.startswith(f"{document['date']}-{document['machine']['host']}")
    assert not (out / "LATEST.md").exists(), "a smoke run must not replace the latest full results"


def test_json_has_machine_facts_and_every_part(smoke_run: tuple[Path, str]) -> None:
    document = _document(smoke_run[0])
    assert document["schema_version"] == 1
    assert document["smoke"] is True
    machine = document["machine"]
    assert machine["cores"] >= 1
    assert machine["cpu_model"]
    assert machine["python"]
    assert machine["kafka"]["tools_version"]
    assert machine["bytecode_compiled"] is True  # the children start as an installed lgsp does
    assert [part["name"] for part in document["parts"]] == PARTS + SECURE_PARTS
    for part in document["parts"]:
        assert part["status"] == "ok", f"{part['name']}: {part['error']}"


def test_every_figure_has_rounds_and_a_finite_summary(smoke_run: tuple[Path, str]) -> None:
    for part in _document(smoke_run[0])["parts"]:
        assert part["figures"], f"{part['name']} measured nothing"
        for figure in part["figures"]:
            assert figure["rounds"] == len(figure["samples"]) >= 1, figure["key"]
            assert all(math.isfinite(x) for x in figure["samples"]), figure["key"]
            assert figure["min"] <= figure["median"] <= figure["max"], figure["key"]
            assert figure["unit"]


def test_ratios_and_targets_refer_to_measured_figures(smoke_run: tuple[Path, str]) -> None:
    targets = 0
    for part in _document(smoke_run[0])["parts"]:
        keys = {figure["key"] for figure in part["figures"]}
        for ratio in part["ratios"]:
            assert {ratio["numerator"], ratio["denominator"]} <= keys, ratio
            assert ratio["value"] is not None, ratio
            assert ratio["value"] > 0, ratio
        for target in part["targets"]:
            targets += 1
            assert set(target["of"].split("/")) <= keys, target
            assert isinstance(target["met"], bool), target
    assert targets >= 5


def test_markdown_has_the_targets_and_a_table_per_part(smoke_run: tuple[Path, str]) -> None:
    out, stdout = smoke_run
    text = _only(out, "*-smoke.md").read_text(encoding="utf-8")
    document = _document(out)
    assert text.startswith("# LGSP bus benchmarks")
    assert "## Targets" in text
    for part in document["parts"]:
        assert f". {part['title']}" in text
    tables = [line for line in text.splitlines() if line.startswith("| Figure | Median | Min – max |")]
    assert len(tables) == len(PARTS) + len(SECURE_PARTS)
    for part in document["parts"]:
        for target in part["targets"]:
            assert target["label"] in text
    assert text.strip() in stdout, "the command prints the table it wrote"
