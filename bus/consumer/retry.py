"""Retrying transient failures with capped exponential backoff, interruptible by a stop request."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bus.errors import LgspError

log = logging.getLogger(__name__)
T = TypeVar("T")


class StopRequested(Exception):  # noqa: N818 - a control-flow signal, not an error
    """A stop was requested while waiting to retry; nothing of the operation was committed."""


@dataclass(frozen=True)
class Backoff:
    """Delays ``initial_s * 2**n`` capped at ``max_s``, with ±``jitter`` (so members do not retry in step)."""

    initial_s: float = 0.1
    max_s: float = 10.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1-based)."""
        base: float = min(self.max_s, self.initial_s * 2 ** (attempt - 1))
        return base * (1 + random.uniform(-self.jitter, self.jitter))  # noqa: S311 - not cryptographic


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True if ``stop`` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


async def retrying(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    stop: asyncio.Event,
    backoff: Backoff,
    on_retry: Callable[[LgspError], None] | None = None,
) -> T:
    """Run ``operation`` until it succeeds; retry ``retriable`` errors, raise the others.

    Raises :class:`StopRequested` if ``stop`` is set while waiting between attempts.
    """
    attempt = 0
    while True:
        try:
            return await operation()
        except LgspError as exc:
            if not exc.retriable:
                raise
            attempt += 1
            delay = backoff.delay(attempt)
            log.warning("%s failed (attempt %d), retrying in %.2fs: %s", what, attempt, delay, exc)
            if on_retry is not None:
                on_retry(exc)
            if await wait_or_stop(stop, delay):
                raise StopRequested(what) from exc
