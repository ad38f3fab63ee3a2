"""Admission: checks a decoded, valid record must pass before a view applies it (signatures, ranges).

Decoding says whether a record *is* an event; admission says whether the views may *apply* it: whether its
signature binds it to a key entitled to the agencies it asserts (:mod:`bus.signing.verify`), whether its
values fit what the views can aggregate (the report catalog's indicator ranges). A refused record is a dead
letter with the :class:`Rejection`'s reason, like any poison record; it never reaches a view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bus.consumer.outcome import DeadLetterReason

if TYPE_CHECKING:
    from bus.consumer.decode import RecordLike
    from bus.events.record import EventRecord


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a decoded record may not be applied: the dead-letter reason code and a message."""

    reason: DeadLetterReason
    message: str


class Admission(Protocol):
    """One check of decoded records; None admits the record.

    A check that authenticates records also exposes ``last_key_id`` (the signer of the record it last
    admitted, None when unsigned): the decoder reads it into the record's :class:`~bus.consumer.types.Origin`.
    """

    def __call__(self, record: RecordLike, event: EventRecord) -> Rejection | None: ...


class AllOf:
    """Admissions in order; the first rejection wins."""

    def __init__(self, checks: Sequence[Admission]) -> None:
        self._checks = tuple(checks)
        self._signers = tuple(check for check in checks if hasattr(check, "last_key_id"))

    @property
    def last_key_id(self) -> str | None:
        """The signer its authenticating check saw for the record last admitted."""
        for check in self._signers:
            key_id: str | None = getattr(check, "last_key_id", None)
            if key_id is not None:
                return key_id
        return None

    def __call__(self, record: RecordLike, event: EventRecord) -> Rejection | None:
        for check in self._checks:
            rejection = check(record, event)
            if rejection is not None:
                return rejection
        return None


@runtime_checkable
class Portable(Protocol):
    """An admission a decode worker process can hold too (:class:`bus.consumer.parallel.ProcessPoolDecoder`).

    :meth:`snapshot` is taken in the consumer before each batch; it pickles, and each worker builds the
    check from it (:meth:`AdmissionSnapshot.build`) once per new snapshot version, so its caches live as long
    as the keyring does not change. What the worker's check counts comes back with its verdicts and goes to
    :meth:`replay`, in the consumer's process, where the metrics are."""

    def snapshot(self) -> AdmissionSnapshot: ...
    def replay(self, counts: Sequence[Count]) -> None: ...


Count = tuple[str, ...]
"""One thing an admission counted in a worker (its meaning is the admission's own)."""


class AdmissionSnapshot(Protocol):
    """Everything a worker needs to build the same check (picklable)."""

    version: tuple[int, ...]

    def build(self, counted: list[Count]) -> Admission:
        """The check; what it counts is appended to ``counted``."""
        ...
