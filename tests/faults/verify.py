"""The common ending of every fault test: let the views catch up, then compare them exactly.

1. wait until the view store's offsets reach the topics' end offsets, stop the builder gracefully;
2. read back every record: each confirmed event must be in Kafka, each delivery where the Publisher said;
3. compare every view with the independent recomputation (``tests/views_oracle.py``) from the confirmed
   events, and count the events the views hold (see ``tests/faults/workload.py``);
4. record the figures (before asserting, so a failure still leaves its numbers), then assert.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bus.events import EVENT_TYPES, Event
from bus.settings import Settings
from bus.topics import dlq_topic, topic_for
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from tests.faults.ledger import Ledger, TopicScan, scan_topics, topic_ends
from tests.faults.procs import ViewsProcess, wait_store_reaches
from tests.faults.report import FaultFigures, remember
from tests.faults.workload import AS_OF, oracle_units, view_units
from tests.views_compare import mismatches


def data_topics(settings: Settings) -> list[str]:
    """The three event topics under the settings' prefix."""
    return sorted({topic_for(t, prefix=settings.topics.prefix) for t in EVENT_TYPES.values()})


def dead_letter_topics(settings: Settings) -> list[str]:
    return [dlq_topic(t) for t in data_topics(settings)]


@dataclass
class Outcome:
    """What :func:`settle` found; the test asserts on it after the figures are recorded."""

    figures: FaultFigures
    exit_code: int
    problems: list[str]
    misplaced: int
    dead_letters: int
    scan: TopicScan
    notes: list[str] = field(default_factory=list)

    def assert_exact(self, ledger: Ledger) -> None:
        figures = self.figures
        assert self.exit_code == 0, f"the view builder exited with {self.exit_code}"
        assert not ledger.pending, f"{len(ledger.pending)} events were never confirmed"
        assert figures.confirmed_not_in_kafka == 0, "the Publisher confirmed events Kafka does not hold"
        assert self.misplaced == 0, "deliveries whose (topic, partition, offset) holds another event"
        assert self.dead_letters == 0, "good events were dead-lettered during the fault"
        assert self.problems == [], "\n".join(self.problems[:20])
        assert figures.in_views == figures.expected_in_views == figures.confirmed


async def settle(
    fault: str,
    settings: Settings,
    ledger: Ledger,
    views: ViewsProcess,
    *,
    started: float,
    details: dict[str, Any] | None = None,
    landed_anyway: int | None = None,
) -> Outcome:
    """Steps 1–4 of the module docstring for one fault test (the builder is stopped on return)."""
    bootstrap = settings.kafka.bootstrap_servers
    topics = data_topics(settings)
    ends = await topic_ends(bootstrap, topics)
    await wait_store_reaches(views.store, ends, views, timeout_s=240)
    exit_code = await views.stop()
    scan = await scan_topics(bootstrap, topics)
    dead = sum((await topic_ends(bootstrap, dead_letter_topics(settings))).values())
    confirmed = ledger.confirmed_events()
    figures = FaultFigures(
        fault=fault,
        offered=len(ledger.offered),
        confirmed=len(ledger.confirmed),
        reported_unconfirmed=len(ledger.reported_unconfirmed),
        landed_anyway=_landed(landed_anyway, ledger, scan),
        confirmed_not_in_kafka=len(scan.missing(ledger.confirmed)),
        topic_duplicates=len(scan.duplicated(ledger.offered)),
        details={
            "chunks_ok": ledger.chunks_ok,
            "chunks_failed": ledger.chunks_failed,
            "partial_failures": ledger.partial_failures,
            "resent": len(ledger.resent),
            "records_on_topics": scan.records,
            "dead_letters": dead,
            "first_errors": ledger.errors[:3],
            **(details or {}),
        },
    )
    problems, in_views = compare_views(settings, confirmed)
    figures.settle(expected_in_views=oracle_units(confirmed), in_views=in_views, exact=not problems)
    figures.seconds = round(time.monotonic() - started, 1)
    remember(figures)
    misplaced = scan.misplaced(ledger.deliveries.values())
    return Outcome(figures, exit_code, problems, len(misplaced), dead, scan)


def _landed(measured: int | None, ledger: Ledger, scan: TopicScan) -> int | None:
    """Events reported unconfirmed that Kafka stored anyway: measured before the resend, or else seen twice
    (the copy that landed and the resent one)."""
    if measured is not None or not ledger.reported_unconfirmed:
        return measured
    return len(scan.duplicated(ledger.reported_unconfirmed))


def compare_views(settings: Settings, events: Sequence[Event]) -> tuple[list[str], int]:
    """Every difference between the views in the settings' store and the recomputation; the views' count."""
    path = settings.store.url.removeprefix("sqlite:///")
    viewset = ViewSet(SqliteStore(path), build_views(settings), topic_prefix=settings.topics.prefix)
    try:
        problems = mismatches(viewset, events, as_of=AS_OF, sla_hours=settings.views.document_sla_hours)
        return problems, view_units(viewset)
    finally:
        viewset.close()
