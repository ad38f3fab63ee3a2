"""One exception root for the whole bus; the retry decision lives on the type.

    LgspError                       retriable = False
    ├── ConfigError                 bad settings or environment (java/maven missing, port taken)
    ├── DevStackError               the local Kafka/registry launcher could not do what was asked
    │   └── ArtifactResolutionError a jar or archive could not be resolved from Maven Central
    ├── ValidationError             an event breaks a schema or semantic rule (names the field)
    │   └── UnknownAgencyError      an agency code that is not in the catalog
    ├── ForbiddenError              the publisher may not assert an agency the event names (bus.authz)
    ├── UnknownEventTypeError       a CloudEvents type / Avro full name we do not know
    ├── SerializationError          bytes could not be produced or parsed (wire format, Avro)
    │   ├── UnknownSchemaError      a schema id the registry does not know
    │   └── UnknownRecordError      a writer schema names a record we do not read (+UnknownEventTypeError)
    ├── SchemaCompatibilityError    a schema version breaks its record's compatibility level
    ├── RegistryError               the schema registry answered with an error
    │   └── RegistryUnavailableError  retriable = True: timeouts, connection errors, 5xx
    ├── BrokerError                 Kafka failed
    │   ├── BrokerUnavailableError  retriable = True
    │   └── PublishError            events not confirmed within the delivery timeout (names their ids)
    └── StoreError                  the view store failed
        ├── StoreBusyError          retriable = True: locked, disk full, connection lost
        └── OffsetsMovedError       another group member committed these partitions meanwhile: the batch is
                                    dropped and the runner re-reads the store's offsets

Foreign exceptions are converted where they enter our code, with `raise ... from exc`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bus.types import Delivery

if TYPE_CHECKING:
    from bus.authz import Refusal


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule: where (a dotted path such as ``data.recipients[0].code``, None for the whole input),
    which rule, what is wrong, and, where one is known, how to fix it (the expected form with an example, the
    nearest known name)."""

    field: str | None
    rule: str
    message: str
    hint: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """``{field, rule, message}`` plus ``hint`` when there is one (the ingress's and the DLQ's form)."""
        entry = {"field": self.field, "rule": self.rule, "message": self.message}
        if self.hint is not None:
            entry["hint"] = self.hint
        return entry


class LgspError(Exception):
    """Root of every error the bus raises on purpose."""

    retriable: bool = False


class ConfigError(LgspError):
    """Settings or the environment make the requested action impossible."""


class DevStackError(LgspError):
    """The local development stack could not be started, stopped or inspected."""


class ArtifactResolutionError(DevStackError):
    """A jar or archive could not be resolved from Maven Central."""


class ValidationError(LgspError):
    """An event breaks a schema or semantic rule; `field` names where, `rule` names which.

    ``problems`` has one entry per broken rule (the first is ``field``/``rule``); an error raised without
    them has the one its own field, rule and message make.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        rule: str | None = None,
        problems: Sequence[Problem] = (),
    ) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule
        self.problems: tuple[Problem, ...] = tuple(problems) or (Problem(field, rule or "invalid", message),)


class ForbiddenError(LgspError):
    """The publishing principal may not assert agencies its events name; ``refusals`` lists each one as
    ``(event index, refusal)`` (field, agency, rule, message). Nothing was published."""

    def __init__(self, message: str, *, refusals: Sequence[tuple[int, Refusal]] = ()) -> None:
        super().__init__(message)
        self.refusals = list(refusals)


class UnknownAgencyError(ValidationError):
    """An agency code with the right shape that is not in the agency catalog."""


class UnknownEventTypeError(LgspError):
    """A CloudEvents `type` or Avro full name that the bus does not carry; `hint` names the nearest one."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class SerializationError(LgspError):
    """Bytes could not be produced from, or parsed into, an event."""


class UnknownSchemaError(SerializationError):
    """The registry does not know the schema id found in a record."""


class UnknownRecordError(SerializationError, UnknownEventTypeError):
    """A record's writer schema names an Avro record this reader has no model for."""


class SchemaCompatibilityError(LgspError):
    """A schema version is incompatible with earlier ones under its record's level."""


class RegistryError(LgspError):
    """The schema registry answered with an error."""

    def __init__(self, message: str, *, status: int | None = None, error_code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class RegistryUnavailableError(RegistryError):
    """The registry could not be reached or answered 5xx; worth retrying."""

    retriable = True


class BrokerError(LgspError):
    """Kafka failed."""


class BrokerUnavailableError(BrokerError):
    """Kafka could not be reached; worth retrying."""

    retriable = True


class PublishError(BrokerError):
    """Some events were not confirmed by Kafka within the delivery timeout."""

    def __init__(
        self,
        message: str,
        *,
        unconfirmed: Sequence[str],
        deliveries: Sequence[Delivery] = (),
        confirmed: int | None = None,
    ) -> None:
        super().__init__(
            f"{message}; unconfirmed event ids: {', '.join(unconfirmed[:20])}"
            + (f" (+{len(unconfirmed) - 20} more)" if len(unconfirmed) > 20 else "")
        )
        self.unconfirmed = list(unconfirmed)
        self.deliveries = list(deliveries)
        """Where Kafka stored the events of the call it did confirm (when the caller knows them)."""
        self.confirmed = len(self.deliveries) if confirmed is None else confirmed
        """How many events of the call Kafka confirmed."""


class StoreError(LgspError):
    """The view store failed."""


class StoreBusyError(StoreError):
    """The store is temporarily unable to write (locked, disk full, connection lost)."""

    retriable = True


class OffsetsMovedError(StoreError):
    """The store refused a batch: its partitions' stored offsets moved since this member last read them
    (another member of the group applied them while this one was thought gone). Nothing of the batch was
    written; the consumer runner drops it and seeks to the store's offsets again."""
