"""What a benchmark part measures: figures over rounds, ratios between figures, targets on either.

A :class:`Figure` keeps every round's value; the table shows the median with the min–max range. A
:class:`Ratio` divides two figures' medians (and keeps the per-round ratios of rounds where both were
measured, since rounds interleave the contenders and so pair them under the same machine load). A
:class:`Target` compares one figure or ratio with a threshold and says whether it is met.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Better(StrEnum):
    """Which direction is good for a figure (it decides how a target compares)."""

    HIGHER = "higher"
    LOWER = "lower"


@dataclass
class Figure:
    """One measured quantity, one value per round."""

    key: str
    label: str
    unit: str
    better: Better = Better.HIGHER
    samples: list[float] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    """Anything else worth keeping (per-round extras, the command that was run, ...)."""

    def add(self, value: float) -> None:
        self.samples.append(float(value))

    @property
    def ok(self) -> bool:
        return bool(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else math.nan

    @property
    def low(self) -> float:
        return min(self.samples) if self.samples else math.nan

    @property
    def high(self) -> float:
        return max(self.samples) if self.samples else math.nan

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "better": self.better.value,
            "rounds": len(self.samples),
            "median": _finite(self.median),
            "min": _finite(self.low),
            "max": _finite(self.high),
            "samples": self.samples,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` of two figures' medians, shown beside the numerator."""

    numerator: str
    denominator: str
    label: str

    def value(self, figures: FigureSet) -> float:
        top, bottom = figures.get(self.numerator), figures.get(self.denominator)
        if top is None or bottom is None or not top.ok or not bottom.ok or bottom.median == 0:
            return math.nan
        return top.median / bottom.median

    def paired(self, figures: FigureSet) -> list[float]:
        """Per-round ratios, for rounds in which both figures were measured."""
        top, bottom = figures.get(self.numerator), figures.get(self.denominator)
        if top is None or bottom is None:
            return []
        return [a / b for a, b in zip(top.samples, bottom.samples, strict=False) if b]

    def to_json(self, figures: FigureSet) -> dict[str, Any]:
        paired = self.paired(figures)
        return {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "label": self.label,
            "value": _finite(self.value(figures)),
            "paired_min": _finite(min(paired)) if paired else None,
            "paired_max": _finite(max(paired)) if paired else None,
        }


@dataclass(frozen=True)
class Target:
    """A goal on a figure's median (``of`` is a figure key) or on a ratio (``of`` is ``a/b``)."""

    label: str
    of: str
    op: str  # ">=" or "<"
    threshold: float
    unit: str = ""

    def measured(self, figures: FigureSet) -> float:
        if "/" in self.of:
            numerator, denominator = self.of.split("/", 1)
            return Ratio(numerator, denominator, self.of).value(figures)
        figure = figures.get(self.of)
        return figure.median if figure is not None and figure.ok else math.nan

    def met(self, figures: FigureSet) -> bool | None:
        value = self.measured(figures)
        if math.isnan(value):
            return None
        return value >= self.threshold if self.op == ">=" else value < self.threshold

    def per_round(self, figures: FigureSet) -> list[float]:
        """A ratio target's value in each round that measured both figures (a ratio of medians can hide a
        noisy run: the spread says how far to trust it); empty for a figure target."""
        if "/" not in self.of:
            return []
        numerator, denominator = self.of.split("/", 1)
        return Ratio(numerator, denominator, self.of).paired(figures)

    def to_json(self, figures: FigureSet) -> dict[str, Any]:
        rounds = self.per_round(figures)
        return {
            "label": self.label,
            "of": self.of,
            "op": self.op,
            "threshold": self.threshold,
            "unit": self.unit,
            "measured": _finite(self.measured(figures)),
            "met": self.met(figures),
            "per_round": [_finite(value) for value in rounds],
        }


class FigureSet:
    """The figures of one part, in the order they were declared."""

    def __init__(self, figures: Iterable[Figure] = ()) -> None:
        self._figures: dict[str, Figure] = {}
        for figure in figures:
            self.add(figure)

    def add(self, figure: Figure) -> Figure:
        self._figures[figure.key] = figure
        return figure

    def get(self, key: str) -> Figure | None:
        return self._figures.get(key)

    def __getitem__(self, key: str) -> Figure:
        return self._figures[key]

    def __iter__(self) -> Any:
        return iter(self._figures.values())

    def __len__(self) -> int:
        return len(self._figures)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` by the nearest-rank method (NaN if empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _finite(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else value
