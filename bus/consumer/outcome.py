"""What happens to each consumed record, said once (STYLE item 4).

    Outcome.APPLY        the event is valid: the views apply it, its offset commits with their changes
    Outcome.DEAD_LETTER  the record can never be applied (poison): it goes to ``<topic>.dlq``, acknowledged
                         there before any offset past it is committed; processing carries on
    Outcome.RETRY        it could not be judged now (registry or broker unavailable): the whole batch is
                         retried with backoff and nothing past it is committed

Which errors lead where lives in :func:`outcome_for_error`, and the dead-letter reason codes (the
``reason`` label of ``lgsp_events_dead_lettered_total`` and the ``lgsp_dlq_reason`` header) in
:class:`DeadLetterReason`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TYPE_CHECKING

from bus.errors import (
    LgspError,
    SerializationError,
    UnknownAgencyError,
    UnknownEventTypeError,
    UnknownSchemaError,
    ValidationError,
)

if TYPE_CHECKING:
    from bus.events.record import EventRecord


class Outcome(Enum):
    """The policy applied to one record."""

    APPLY = "apply"
    DEAD_LETTER = "dead_letter"
    RETRY = "retry"


class DeadLetterReason(StrEnum):
    """Why a record was dead-lettered: a short, closed set (a metric label)."""

    EMPTY_VALUE = "empty-value"
    BAD_WIRE_FORMAT = "bad-wire-format"
    UNKNOWN_SCHEMA = "unknown-schema"
    UNDECODABLE = "undecodable"
    UNKNOWN_TYPE = "unknown-type"
    WRONG_TOPIC = "wrong-topic"
    INVALID_EVENT = "invalid-event"
    UNKNOWN_AGENCY = "unknown-agency"
    VALUE_OUT_OF_RANGE = "value-out-of-range"
    """A valid event the views cannot aggregate (an indicator outside the report catalog's range)."""
    # Signed events (docs/security.md): the record's ``lgsp_sig`` envelope does not make it trustworthy.
    SIGNATURE_MISSING = "signature.missing"
    SIGNATURE_INVALID = "signature.invalid"
    SIGNER_UNKNOWN = "signer.unknown"
    SIGNER_REVOKED = "signer.revoked"
    SIGNER_NOT_ENTITLED = "signer.not-entitled"
    EVENT_TIME_FUTURE = "time.future"
    """The event's time is further ahead of its record's broker timestamp than ``views.max_future_s``: a
    forged or broken clock (one such event would move the views' as-of time, and every obligation, ahead)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome for one record, with the event (APPLY) or the error (DEAD_LETTER, RETRY)."""

    outcome: Outcome
    event: EventRecord | None = None
    reason: DeadLetterReason | None = None
    error: BaseException | None = None


def outcome_for_error(exc: LgspError) -> Verdict:
    """The verdict for a record whose decoding or validation raised ``exc``.

    Retriable errors never dead-letter: a registry outage must not send good records to the DLQ. Errors that
    say nothing about the record (a registry refusing our credentials, a broken store) are re-raised: they
    stop the runner before anything is committed, instead of dead-lettering every record.
    """
    if exc.retriable:
        return Verdict(Outcome.RETRY, error=exc)
    reason = _reason(exc)
    if reason is None:
        raise exc
    return Verdict(Outcome.DEAD_LETTER, reason=reason, error=exc)


def _reason(exc: LgspError) -> DeadLetterReason | None:
    # Order matters: the most specific classes first (UnknownAgencyError is a ValidationError, ...).
    table: tuple[tuple[type[LgspError], DeadLetterReason], ...] = (
        (UnknownAgencyError, DeadLetterReason.UNKNOWN_AGENCY),
        (ValidationError, DeadLetterReason.INVALID_EVENT),
        (UnknownSchemaError, DeadLetterReason.UNKNOWN_SCHEMA),
        (UnknownEventTypeError, DeadLetterReason.UNKNOWN_TYPE),
        (SerializationError, DeadLetterReason.UNDECODABLE),
    )
    for error_type, reason in table:
        if isinstance(exc, error_type):
            return reason
    return None
