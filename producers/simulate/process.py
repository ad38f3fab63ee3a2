"""What the simulation clock drives: entities whose events come one after another in simulated time."""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod

from bus.events import Event


class Process(ABC):
    """An entity's remaining events; ``next_ms`` is the time of the next one, None once it has no more."""

    __slots__ = ("next_ms",)

    def __init__(self, next_ms: int | None) -> None:
        self.next_ms = next_ms

    @abstractmethod
    def step(self) -> Event | None:
        """The event due at ``next_ms`` (None for bookkeeping steps); advances ``next_ms``."""


class Delay:
    """Log-normal delays in ms with a given median, clamped: how long people and systems take."""

    __slots__ = ("_high", "_low", "_mu", "_sigma")

    def __init__(self, median_ms: float, sigma: float, low_ms: int, high_ms: int) -> None:
        self._mu = math.log(median_ms)
        self._sigma = sigma
        self._low = low_ms
        self._high = high_ms

    def draw(self, rng: random.Random) -> int:
        # gauss() (Box-Muller, keeps a spare value in the RNG's state) is twice as fast as lognormvariate()
        return min(self._high, max(self._low, int(math.exp(self._mu + self._sigma * rng.gauss()))))
