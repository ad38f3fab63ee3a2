"""The garbage collector's settings for the bus's long-running processes: one place decides them.

**Every server, after start-up** (:func:`freeze_start_up`): what start-up built (modules, schemas, compiled
contracts and writers, the app) lives as long as the process, so it leaves the collector's sight
(``gc.freeze``). A full collection then no longer walks it: in the ingress at 2,000 requests/s, full
collections took up to 42 ms each, every few seconds, stalling every request in flight; after, at most 1 ms.

**A process that consumes for a living** (:func:`tune_for_consuming`: ``lgsp views run``, a rebuild's builder
processes) also collects its youngest generation every ``YOUNG_THRESHOLD`` allocations instead of CPython's
700. A view builder allocates a few hundred objects per event (decoded records, rows, evidence) and keeps a
growing state whose objects live until the store takes them; almost no garbage is cyclic. A 200,000-event
rebuild spent 1.7 s of its 10.5 s in 4,700 collections, 33 of them full walks over the modules, the schemas
and the views' state (bench corpus, dev stack); tuned, 0.04 s in 4, and 15-20% less time.

Not the young threshold for a process that answers requests, where a young collection of 50,000 objects would
be one request's pause: the ingress only freezes start-up; the views' HTTP API keeps the defaults.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG_THRESHOLD: Final = 50_000
"""Net allocations between two collections of the youngest generation (CPython's default: 700)."""


def freeze_start_up() -> None:
    """Move what the process has built so far out of the collector's sight (call it once start-up is done, in
    a process of its own: never in a process that hosts other work, or tests, whose garbage it would pin)."""
    gc.freeze()


def tune_for_consuming() -> None:
    """:func:`freeze_start_up`, and collect the youngest generation less often (same caveats)."""
    freeze_start_up()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
