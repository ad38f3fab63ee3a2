"""`lgsp simulate --out FILE`: byte-identical for a seed, injected duplicates and invalid events as asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bus.cloudevents import from_structured
from bus.errors import ValidationError
from lgsp.cli import app
from producers.simulate import Defect
from producers.simulate.run import Pacer

pytestmark = pytest.mark.unit

EXPECTED_RULES = {
    Defect.UNKNOWN_AGENCY: {"agency_code.known"},
    Defect.FINISHED_BEFORE_RECEIVED: {"dossier.finished_after_received"},
    Defect.DUE_BEFORE_PROMULGATION: {"document.due_after_promulgation"},
    Defect.MISSING_FIELD: {"missing"},
}


def simulate(tmp_path: Path, name: str, *args: str) -> tuple[bytes, dict[str, Any]]:
    out, truth = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.truth.json"
    result = CliRunner().invoke(
        app, ["simulate", "--out", str(out), "--truth", str(truth), "--no-progress", "--json", *args]
    )
    assert result.exit_code == 0, result.output
    return out.read_bytes(), json.loads(truth.read_text(encoding="utf-8"))


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    args = ("--seed", "42", "--events", "4000", "--duplicates", "0.03", "--bad-ratio", "0.02")
    first, first_truth = simulate(tmp_path, "a", *args)
    second, second_truth = simulate(tmp_path, "b", *args)
    assert first == second
    assert first_truth == second_truth
    other, _ = simulate(
        tmp_path, "c", "--seed", "43", "--events", "4000", "--duplicates", "0.03", "--bad-ratio", "0.02"
    )
    assert other != first


def test_separate_processes_with_different_hash_seeds_write_the_same_bytes(tmp_path: Path) -> None:
    lgsp = str(Path(sys.executable).with_name("lgsp"))
    outputs = []
    for hash_seed in ("1", "4242"):
        out = tmp_path / f"run-{hash_seed}.jsonl"
        subprocess.run(
            [lgsp, "simulate", "--seed", "8", "--events", "2000", "--duplicates", "0.02",
             "--bad-ratio", "0.02", "--out", str(out), "--no-progress"],
            check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )  # fmt: skip
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_lines_are_compact_sorted_utf8_cloudevents(tmp_path: Path) -> None:
    data, truth = simulate(tmp_path, "a", "--seed", "1", "--events", "500")
    lines = data.decode("utf-8").splitlines()
    assert len(lines) == truth["emitted"] == 500
    for line in lines:
        obj = json.loads(line)
        assert line == json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        assert obj["specversion"] == "1.0"
        assert obj["type"] in truth["by_type"]
    assert "Ủy ban nhân dân" in data.decode("utf-8")  # Vietnamese as UTF-8, not \\u escapes


def test_duplicates_repeat_earlier_lines_and_invalid_lines_break_one_named_rule(tmp_path: Path) -> None:
    data, truth = simulate(tmp_path, "a", "--seed", "7", "--events", "6000", "--duplicates", "0.05",
                           "--bad-ratio", "0.05")  # fmt: skip
    seen: dict[str, str] = {}
    repeated = 0
    rules: Counter[str] = Counter()
    for line in data.decode("utf-8").splitlines():
        obj = json.loads(line)
        if obj["id"] in seen:
            assert seen[obj["id"]] == line, "a duplicate is the same event, unchanged"
            repeated += 1
            continue
        seen[obj["id"]] = line
        try:
            from_structured(obj)
        except ValidationError as exc:
            rules[str(exc.rule)] += 1
    assert repeated == sum(truth["duplicates_by_type"].values()) > 0
    assert sum(rules.values()) == sum(truth["invalid_by_type"].values()) > 0
    allowed = set().union(*EXPECTED_RULES.values())
    assert set(rules) <= allowed
    assert set(truth["invalid_by_defect"]) == {d.value for d in Defect}


def test_a_file_run_needs_a_limit(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "x.jsonl"), "--no-progress"])
    assert result.exit_code == 1
    assert "--events or --duration" in result.output


def test_a_bad_targets_file_is_a_clear_error(tmp_path: Path) -> None:
    targets = tmp_path / "targets.csv"
    targets.write_text("key,name\n01,Hà Nội\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["simulate", "--out", str(tmp_path / "x.jsonl"), "--events", "10", "--targets", str(targets)]
    )
    assert result.exit_code == 1
    assert "column" in result.output


def test_stdout_gets_the_events_and_stderr_the_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--out", "-", "--events", "50", "--seed", "3", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 50
    assert all(json.loads(line)["specversion"] == "1.0" for line in lines)


def test_the_pacer_spaces_events_by_the_rate() -> None:
    now = [100.0]
    pacer = Pacer(50.0, clock=lambda: now[0])
    assert pacer.wait_s(0) == 0.0
    assert pacer.wait_s(100) == pytest.approx(2.0)  # the 100th event may go 2 s after the start
    now[0] = 103.0
    assert pacer.wait_s(100) == 0.0  # behind: no wait
    assert Pacer(None, clock=lambda: now[0]).wait_s(10**9) == 0.0
