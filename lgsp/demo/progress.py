"""Live progress of the demo: what the simulator published, what the view builder applied, its lag.

On a terminal it is one rich progress line, redrawn in place; elsewhere (CI, a pipe) a plain line every
:data:`PLAIN_EVERY_S` seconds, so logs show that the demo is moving without filling up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType
from typing import Final

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

PLAIN_EVERY_S: Final = 10.0


@dataclass
class Tally:
    """The counts shown: published by the simulator (this run), applied and dead-lettered by the builder."""

    elapsed_s: float = 0.0
    published: int = 0
    applied: int | None = None
    """Events the builder applied since it started (``lgsp_events_consumed_total`` of the demo group)."""
    dead_lettered: int | None = None
    lag: int | None = None
    """Records on the topics the builder has not applied yet (``lgsp_consumer_lag_messages``, summed)."""
    records: tuple[int, int] | None = None
    """While the views catch up: records the store has applied, of those on the topics."""

    def line(self) -> str:
        rate = f" ({self.published / self.elapsed_s:,.0f}/s)" if self.elapsed_s > 1 else ""
        parts = [f"published {self.published:,}{rate}"]
        if self.applied is not None:
            parts.append(f"applied {self.applied:,}")
        if self.lag is not None:
            parts.append(f"lag {self.lag:,}")
        if self.dead_lettered:
            parts.append(f"dead letters {self.dead_lettered:,}")
        if self.records is not None:
            parts.append(f"store {self.records[0]:,}/{self.records[1]:,} records")
        return " · ".join(parts)


class LiveProgress:
    """The progress display; ``phase`` names what the demo is waiting for."""

    def __init__(self, console: Console, total_s: float) -> None:
        self._console = console
        self._live = console.is_terminal
        self._progress = Progress(
            TextColumn("[bold]{task.description:<12}"),
            BarColumn(bar_width=24),
            TimeElapsedColumn(),
            TextColumn("{task.fields[line]}"),
            console=console,
            disable=not self._live,
            transient=False,
        )
        self._task: TaskID = self._progress.add_task("simulating", total=total_s, line="")
        self._printed_at = time.monotonic()

    def __enter__(self) -> LiveProgress:
        self._progress.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def update(self, tally: Tally, *, phase: str = "simulating", done: float | None = None) -> None:
        """Redraw with ``tally``; ``done`` is the bar's position (seconds of the run by default)."""
        completed = tally.elapsed_s if done is None else done
        self._progress.update(self._task, description=phase, completed=completed, line=tally.line())
        if not self._live and time.monotonic() - self._printed_at >= PLAIN_EVERY_S:
            self._printed_at = time.monotonic()
            self._console.print(f"  {phase}: {tally.elapsed_s:5.0f} s  {tally.line()}", highlight=False)
