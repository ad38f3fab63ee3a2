"""Plain data passed between the consumer runner and whatever applies its batches (the views' sink).

Kept free of aiokafka types so that ``consumers`` and tests never need the Kafka client to describe a batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from bus.events.record import EventRecord


class Partition(NamedTuple):
    """One partition of one (real, prefixed) topic. Equal to aiokafka's ``TopicPartition`` as a tuple."""

    topic: str
    partition: int


class Origin(NamedTuple):
    """Where an applied event was read, and which key signed it (None: accepted unsigned).

    The first step of the typed consumed record of issue #15: today it travels beside the event
    (:attr:`Batch.origins`, aligned index by index with :attr:`Batch.events`); the views keep it as the
    evidence behind their rows (``consumers/evidence.py``).
    """

    topic: str
    partition: int
    offset: int
    signer: str | None = None


@dataclass(frozen=True)
class Batch:
    """What a sink applies in one transaction.

    ``events`` are the decoded, valid events per topic, in log order within each partition, as
    :class:`~bus.events.record.EventRecord` (the decoder makes models into records: ``record_of``).
    ``next_offsets`` holds, for every partition the batch touched, the offset of the first record *not* in
    the batch: it covers dead-lettered records too, so committing it never skips a record that was not dealt
    with.
    ``origins``, when the decoder knows them, holds per topic the :class:`Origin` of each event, in the same
    order as ``events`` (a batch built without them, as tests do, has no evidence).
    """

    events: Mapping[str, Sequence[EventRecord]]
    next_offsets: Mapping[Partition, int]
    record_count: int = field(default=0)
    origins: Mapping[str, Sequence[Origin]] = field(default_factory=dict)

    def event_count(self) -> int:
        """Number of events to apply (dead letters excluded)."""
        return sum(len(events) for events in self.events.values())


class BatchSink(Protocol):
    """The runner's view of the store: where it resumes from, and where batches go.

    ``apply`` must write the batch's effects and its ``next_offsets`` atomically (one store transaction):
    that, plus idempotent per-entity state, is what makes each event count exactly once. It raises
    ``bus.errors.LgspError`` subclasses; ``retriable=True`` ones are retried by the runner with backoff.
    """

    async def load_offsets(self) -> dict[Partition, int]:
        """The next offset to read per partition, as recorded with the views (the truth on restart)."""
        ...

    async def apply(self, batch: Batch) -> None:
        """Apply ``batch`` and record its next offsets in one transaction."""
        ...
