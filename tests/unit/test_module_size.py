"""No module of the runtime packages grows past MAX_LINES: a long module is split along a seam that names
itself (issue #15's layout rule), before it becomes the place where everything lands."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bus", "producers", "consumers")
MAX_LINES = 500
"""The one place the limit is written (#15 says "no module over ~500 lines")."""


def modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_no_module_in_bus_producers_or_consumers_is_over_the_limit() -> None:
    found = modules()
    # the walk itself: a wrong root would find nothing and pass
    assert ROOT / "bus" / "publisher.py" in found
    assert len(found) > 50
    sizes = {path.relative_to(ROOT).as_posix(): len(path.read_bytes().splitlines()) for path in found}
    over = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert over == {}, f"modules over {MAX_LINES} lines (split them along a seam that names itself): {over}"
