"""Reading a bus process's ``/metrics`` the way Prometheus does, for the demo's progress and its summary."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    """One series of an exposition: sample name (``..._total`` for counters), labels, value."""

    name: str
    labels: dict[str, str]
    value: float


class Samples:
    """The samples of one scrape."""

    def __init__(self, samples: Iterable[Sample]) -> None:
        self._samples = list(samples)

    @classmethod
    def parse(cls, text: str) -> Samples:
        """Parse the Prometheus text format."""
        return cls(
            Sample(s.name, dict(s.labels), float(s.value))
            for family in text_string_to_metric_families(text)
            for s in family.samples
        )

    def sum(self, name: str, **labels: str) -> float:
        """The sum of every ``name`` series whose labels include ``labels`` (0 when there is none)."""
        return sum(s.value for s in self.select(name, **labels))

    def select(self, name: str, **labels: str) -> list[Sample]:
        """Every ``name`` series whose labels include ``labels``."""
        return [s for s in self._samples if s.name == name and labels.items() <= s.labels.items()]

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self._samples)


async def scrape(client: httpx.AsyncClient, url: str) -> Samples | None:
    """The samples at ``url``, or None when it does not answer 200 (a process still starting)."""
    try:
        response = await client.get(url)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return Samples.parse(response.text)


def scrape_now(url: str, timeout_s: float = 5.0) -> Samples | None:
    """:func:`scrape` without an event loop."""
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError:
        return None
    return Samples.parse(response.text) if response.status_code == 200 else None
