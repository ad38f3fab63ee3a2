"""What a simulation run is asked for, and what it emits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from bus.cloudevents import to_structured
from bus.errors import ConfigError
from bus.events import Event
from bus.reporting import VIETNAM

DEFAULT_START: Final = datetime(2025, 7, 1, tzinfo=VIETNAM)
"""The first day of the 34 provinces; a fixed date so a seed alone decides the output."""
DEFAULT_SCALE: Final = 0.01
"""Share of the nation's documents and dossiers simulated: 1M events span about ten simulated months."""


class Defect(StrEnum):
    """How an invalid event is broken (``--bad-ratio``); each breaks exactly one rule."""

    UNKNOWN_AGENCY = "unknown_agency"
    """The source (and the agency fields) is a well-formed code under an unknown level-1 unit."""
    FINISHED_BEFORE_RECEIVED = "finished_before_received"
    """A resolved dossier whose finished_at is before its received_at."""
    DUE_BEFORE_PROMULGATION = "due_before_promulgation"
    """A document due before the day it was promulgated."""
    MISSING_FIELD = "missing_field"
    """A required field left out of the JSON; cannot be Avro-encoded, so only for file output."""


AVRO_ENCODABLE_DEFECTS: Final = (
    Defect.UNKNOWN_AGENCY,
    Defect.FINISHED_BEFORE_RECEIVED,
    Defect.DUE_BEFORE_PROMULGATION,
)
"""Defects that still fit the Avro schema, so a broker-side consumer sees them and dead-letters them."""
ALL_DEFECTS: Final = (*AVRO_ENCODABLE_DEFECTS, Defect.MISSING_FIELD)


@dataclass(frozen=True)
class SimulationConfig:
    """One run: the seed decides everything else that is not given here."""

    seed: int = 0
    start: datetime = DEFAULT_START
    scale: float = DEFAULT_SCALE
    duplicates: float = 0.0
    """Share of emissions that repeat an earlier event unchanged (same id)."""
    bad_ratio: float = 0.0
    """Share of emissions that are invalid events (see :class:`Defect`)."""
    late_ratio: float = 0.01
    """Share of non-final dossier snapshots delivered after the next version of the same dossier."""
    defects: tuple[Defect, ...] = ALL_DEFECTS
    validated: bool = False
    """Build every event through pydantic validation (slower) instead of trusted construction."""
    targets_path: Path | None = None
    """Calibration file; None for the packaged ``producers/data/province_targets.csv``."""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ConfigError("the simulation start needs a timezone (e.g. 2025-07-01T00:00:00+07:00)")
        if not (math.isfinite(self.scale) and 0 < self.scale <= 100):
            raise ConfigError(f"scale must be in (0, 100], not {self.scale}")
        for name in ("duplicates", "bad_ratio", "late_ratio"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), not {value}")
        if self.duplicates + self.bad_ratio >= 1.0:
            raise ConfigError("duplicates + bad_ratio must leave room for real events (< 1)")
        if self.bad_ratio > 0 and not self.defects:
            raise ConfigError("bad_ratio > 0 needs at least one kind of defect")


class EmissionKind(StrEnum):
    NEW = "new"
    """A fresh event, in simulated-time order."""
    LATE = "late"
    """An older dossier snapshot delivered after a newer one (out of order, like a slow sync)."""
    DUPLICATE = "duplicate"
    """An earlier event again, unchanged."""
    INVALID = "invalid"
    """An event that breaks a rule on purpose."""


@dataclass(slots=True)
class Emission:
    """One event the simulation emits, and why (not frozen: building a frozen dataclass costs ~1 µs)."""

    event: Event
    kind: EmissionKind
    defect: Defect | None = None
    drop_field: str | None = None
    """For MISSING_FIELD: the data field the JSON leaves out."""

    def to_structured(self) -> dict[str, Any]:
        """The CloudEvents structured-mode object (without ``drop_field`` for a missing-field defect)."""
        obj = to_structured(self.event)
        if self.drop_field is not None:
            obj["data"].pop(self.drop_field, None)
        return obj
