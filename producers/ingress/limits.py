"""Per-agency admission: in-flight places and a request rate, so that one agency cannot starve the others.

The global ``max_in_flight`` bound protects the process; these bound each caller (the agency whose key was
presented, all its keys together) so that, say, 64 slow uploads with one key take at most
``max_in_flight_per_key`` places and every other agency still gets in. The rate is a token bucket per
agency: ``rate_per_key`` requests per second on average, bursts up to ``burst_per_key``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class KeyLimiter:
    """In-flight count and token bucket per key; :meth:`hold` says why not, or holds a place."""

    def __init__(
        self,
        *,
        max_in_flight: int,
        rate_per_s: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_in_flight = max_in_flight
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._in_flight: dict[str, int] = {}
        self._buckets: dict[str, _Bucket] = {}

    def refusal(self, key: str) -> str | None:
        """Why ``key`` may not start a request now (None: it may); takes a rate token when it may."""
        held = self._in_flight.get(key, 0)
        if held >= self._max_in_flight:
            return f"{held} requests of this agency are in flight (its limit)"
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.stamp) * self._rate)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            return f"this agency is over its rate of {self._rate:g} requests/s"
        bucket.tokens -= 1.0
        return None

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            yield
        finally:
            left = self._in_flight[key] - 1
            if left:
                self._in_flight[key] = left
            else:
                del self._in_flight[key]  # no entry per agency that is idle: the dict stays small
