"""Compare every national view with the independent recomputation in ``tests/views_oracle.py``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bus.events import Event
from consumers.base import Grain, Level, ViewQuery
from consumers.viewset import ViewSet
from tests import views_oracle as oracle

DOCUMENT_SHAPES = (("agency", "day"), ("province", "month"), ("ministry", "all"), ("nation", "all"))
DOSSIER_SHAPES = (("agency", "month"), ("procedure", "month"), ("province", "all"), ("nation", "all"))
REPORT_SHAPES = (("agency", True), ("province", False), ("nation", True))


def mismatches(viewset: ViewSet, events: Sequence[Event], *, as_of: datetime, sla_hours: float) -> list[str]:
    """Every difference between the views and the recomputation (empty when they agree exactly)."""
    places = oracle.Places()
    as_of_ms = oracle.ms(as_of)
    problems: list[str] = []
    facts = oracle.document_facts(events)
    for level, grain in DOCUMENT_SHAPES:
        got = viewset.query("documents", ViewQuery(level=Level(level), grain=Grain(grain), as_of=as_of)).rows
        want = oracle.documents_rows(
            facts, places, level=level, grain=grain, as_of_ms=as_of_ms, sla_ms=int(sla_hours * 3_600_000)
        )
        problems += _diff(f"documents {level}/{grain}", got, want)
    for level, grain in DOSSIER_SHAPES:
        got = viewset.query("dossiers", ViewQuery(level=Level(level), grain=Grain(grain), as_of=as_of)).rows
        want = oracle.dossiers_rows(events, places, level=level, grain=grain, as_of_ms=as_of_ms)
        problems += _diff(f"dossiers {level}/{grain}", got, want)
    for when in (None, as_of):  # as-of: the latest event time applied, and the one given
        for level, per_period in REPORT_SHAPES:
            result = viewset.query(
                "reports",
                ViewQuery(level=Level(level), grain=None if per_period else Grain.ALL, as_of=when),
            )
            rows, indicators = oracle.reports_rows(
                events, places, level=level, per_period=per_period, as_of_ms=_ms(when)
            )
            problems += _diff(
                f"reports {level}/{'period' if per_period else 'all'} {when}", result.rows, rows
            )
            problems += _diff(f"indicators {level}", result.meta["indicators"], indicators)
        got = viewset.query("scoreboard", ViewQuery(as_of=when)).rows
        problems += _diff(
            f"scoreboard {when}", got, oracle.scoreboard_rows(events, places, as_of_ms=_ms(when))
        )
    got = viewset.query("agencies", ViewQuery()).rows
    problems += _diff("agencies", got, oracle.agencies_rows(events, places))
    return problems


def _ms(when: datetime | None) -> int | None:
    return None if when is None else oracle.ms(when)


def _diff(what: str, got: list[dict[str, Any]], want: list[dict[str, Any]]) -> list[str]:
    if got == want:
        return []
    problems = [f"{what}: {len(got)} rows, expected {len(want)}"] if len(got) != len(want) else []
    for index, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            keys = sorted(set(a) | set(b))
            detail = {k: (a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)}
            problems.append(f"{what} row {index}: (view, expected) differ at {detail}")
            if len(problems) > 5:
                break
    return problems or [f"{what}: rows differ"]


def view_differences(got: ViewSet, want: ViewSet, *, as_of: datetime) -> list[str]:
    """Every difference, field for field, between two view sets built from the same events (every shape
    the comparison with the recomputation reads, meta included)."""
    queries: list[tuple[str, Level, Grain | None]] = [
        ("documents", Level(level), Grain(grain)) for level, grain in DOCUMENT_SHAPES
    ]
    queries += [("dossiers", Level(level), Grain(grain)) for level, grain in DOSSIER_SHAPES]
    queries += [("reports", Level(level), None if period else Grain.ALL) for level, period in REPORT_SHAPES]
    problems: list[str] = []
    for view, level, grain in queries:
        query = ViewQuery(level=level, grain=grain, as_of=as_of)
        a, b = got.query(view, query), want.query(view, query)
        what = f"{view} {level.value}/{grain.value if grain else 'period'}"
        problems += _diff(what, a.rows, b.rows)
        if a.meta != b.meta:
            problems.append(f"{what}: meta differs: {a.meta} != {b.meta}")
    scoreboard = ViewQuery(as_of=as_of)
    problems += _diff(
        "scoreboard", got.query("scoreboard", scoreboard).rows, want.query("scoreboard", scoreboard).rows
    )
    return problems
