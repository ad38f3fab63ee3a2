"""The figures each fault test measured, written to ``bench/results/faults-<date>.json`` and shown as a table.

Tests record their figures *before* asserting, so a failing run still leaves its numbers. Rows are merged
by fault key into the day's file, so running one test updates its row and keeps the others.

    .venv/bin/python -m tests.faults.report [FILE]     # print the table of FILE (default: today's)
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

RESULTS_DIR: Final = Path(__file__).resolve().parents[2] / "bench" / "results"
COLUMNS: Final = (
    ("fault", "fault"),
    ("offered", "offered"),
    ("confirmed", "confirmed"),
    ("reported_unconfirmed", "reported unconfirmed"),
    ("landed_anyway", "of which landed anyway"),
    ("confirmed_not_in_kafka", "confirmed, not in Kafka"),
    ("topic_duplicates", "ids twice on topic"),
    ("expected_in_views", "expected in views"),
    ("in_views", "present in views"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("exact", "views exact"),
)


@dataclass
class FaultFigures:
    """One fault's numbers. Counts are events (distinct ids); ``None`` where a column does not apply."""

    fault: str
    offered: int
    confirmed: int
    reported_unconfirmed: int | None = None
    landed_anyway: int | None = None
    confirmed_not_in_kafka: int | None = None
    topic_duplicates: int | None = None
    expected_in_views: int | None = None
    in_views: int | None = None
    lost: int | None = None
    duplicated: int | None = None
    exact: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    recorded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def settle(self, *, expected_in_views: int, in_views: int, exact: bool) -> None:
        """Fill the views columns: lost and duplicated are the shortfall and the excess of counted events."""
        self.expected_in_views = expected_in_views
        self.in_views = in_views
        self.lost = max(0, expected_in_views - in_views)
        self.duplicated = max(0, in_views - expected_in_views)
        self.exact = exact


RECORDED: list[dict[str, Any]] = []
"""The rows recorded in this run (printed at its end by ``conftest.py``)."""


def remember(figures: FaultFigures) -> None:
    """Write ``figures`` to the day's results file and keep them for the end-of-run table."""
    record(figures)
    RECORDED.append({key: getattr(figures, key) for key, _ in COLUMNS})


def results_file(day: datetime | None = None) -> Path:
    return RESULTS_DIR / f"faults-{(day or datetime.now(UTC)):%Y-%m-%d}.json"


def record(figures: FaultFigures, path: Path | None = None) -> Path:
    """Merge ``figures`` into the results file (replacing the row of the same fault)."""
    target = path or results_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = _load(target)
    rows = [row for row in rows if row.get("fault") != figures.fault] + [asdict(figures)]
    rows.sort(key=lambda row: str(row.get("fault")))
    document = {"about": "figures measured by tests/faults (pytest -m faults)", "faults": rows}
    target.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def _load(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    document = json.loads(path.read_text(encoding="utf-8"))
    rows: list[dict[str, Any]] = document.get("faults", [])
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of ``rows``."""
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(key)) for key, _ in COLUMNS) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return str(value)


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else results_file()
    print(table(_load(path)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
