"""Ground truth of a run: what was emitted, per type, province and outcome, counted as it was emitted.

Tests compare it with what they read back (files, topics, views); the CLI prints and can save it. Keys are
province statistics codes, or ``ministries``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bus.events import (
    BusinessType,
    DocumentForm,
    DocumentSent,
    DocumentStatus,
    DocumentStatusChanged,
    DossierStatus,
    DossierSynced,
    Event,
    OnlineLevel,
    ReportFiled,
    SubmissionChannel,
)
from producers.simulate.config import Emission, EmissionKind

# Keyed by the enum symbol (a plain str): hashing an Enum member runs Enum.__hash__ in Python.
_STATUS_KEYS = {status.value: f"status_{status.value.lower()}" for status in DocumentStatus}
_LOWER = {
    member.value: member.value.lower() for codes in (DocumentForm, SubmissionChannel) for member in codes
}
_CLOSING = {
    DossierStatus.NOT_ACCEPTED.value: "not_accepted",
    DossierStatus.WITHDRAWN.value: "withdrawn",
    DossierStatus.STOPPED.value: "stopped",
    DossierStatus.RESOLVED.value: "resolved",
    DossierStatus.RETURNED.value: "returned",
}


@dataclass
class GroundTruth:
    """Counters of a run. ``outcomes[key]`` counts entity facts (``documents``, ``electronic_only``,
    ``revocations``, ``dossiers``, ``online``, ``full_process``, ``digitised``, ``resolved``, ``on_time``,
    ``reports``,
    ``late``, ``revised``...) of the real events emitted (new or late, never duplicates or invalid ones)."""

    emitted: int = 0
    by_type_key: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Real events (new + late) by CloudEvents type and province key."""
    injected: Counter[str] = field(default_factory=Counter)
    """Emissions that are not new, by kind (late, duplicate, invalid)."""
    duplicates_by_type: Counter[str] = field(default_factory=Counter)
    invalid_by_type: Counter[str] = field(default_factory=Counter)
    invalid_by_defect: Counter[str] = field(default_factory=Counter)
    outcomes: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    first_time: datetime | None = None
    last_time: datetime | None = None
    """Simulated time of the first and last real events emitted in order."""

    def record(self, emission: Emission, key: str) -> None:
        """Count ``emission``; ``key`` is the province (or ``ministries``) of its source."""
        self.emitted += 1
        kind = emission.kind
        event = emission.event
        type_name = event.AVRO_NAME
        if kind is not EmissionKind.NEW:
            self.injected[kind] += 1
        if kind is EmissionKind.DUPLICATE:
            self.duplicates_by_type[type_name] += 1
            return
        if kind is EmissionKind.INVALID:
            self.invalid_by_type[type_name] += 1
            self.invalid_by_defect[emission.defect.value if emission.defect else "?"] += 1
            return
        self.by_type_key[(type_name, key)] += 1
        if kind is EmissionKind.NEW:
            self.last_time = event.meta.occurred_at
            if self.first_time is None:
                self.first_time = self.last_time
        _count_outcomes(event, self.outcomes[key])

    @property
    def by_type(self) -> Counter[str]:
        """Real events (new + late) by CloudEvents type."""
        counts: Counter[str] = Counter()
        for (type_name, _), count in self.by_type_key.items():
            counts[type_name] += count
        return counts

    @property
    def by_kind(self) -> Counter[str]:
        """Emissions by kind: new, late, duplicate, invalid."""
        counts = Counter({str(kind): count for kind, count in self.injected.items()})
        counts[EmissionKind.NEW.value] = self.emitted - sum(self.injected.values())
        return counts

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary (sorted keys, so two runs compare as text)."""
        return {
            "emitted": self.emitted,
            "by_kind": dict(sorted(self.by_kind.items())),
            "by_type": dict(sorted(self.by_type.items())),
            "by_type_and_province": {
                f"{type_name}|{key}": count for (type_name, key), count in sorted(self.by_type_key.items())
            },
            "duplicates_by_type": dict(sorted(self.duplicates_by_type.items())),
            "invalid_by_type": dict(sorted(self.invalid_by_type.items())),
            "invalid_by_defect": dict(sorted(self.invalid_by_defect.items())),
            "outcomes": {key: dict(sorted(c.items())) for key, c in sorted(self.outcomes.items())},
            "first_time": None if self.first_time is None else self.first_time.isoformat(),
            "last_time": None if self.last_time is None else self.last_time.isoformat(),
        }


def _count_outcomes(event: Event, counts: Counter[str]) -> None:
    if isinstance(event, DocumentStatusChanged):
        counts[_STATUS_KEYS[event.status._value_]] += 1
    elif isinstance(event, DossierSynced):
        _count_dossier(event, counts)
    elif isinstance(event, DocumentSent):
        if event.business_type is BusinessType.REVOKE:  # not a sending: the revocation of one (a recall)
            counts["revocations"] += 1
            return
        counts["documents"] += 1
        counts[_LOWER[event.form._value_]] += 1
        counts["signed"] += event.digitally_signed
    elif isinstance(event, ReportFiled):
        if event.revision == 0:
            counts["reports"] += 1
            counts["late"] += event.filed_at > event.deadline_at
        else:
            counts["revisions"] += 1
            counts["revised"] += event.revision == 1


def _count_dossier(event: DossierSynced, counts: Counter[str]) -> None:
    if event.version == 1:
        counts["dossiers"] += 1
        counts[_LOWER[event.channel._value_]] += 1
        counts["full_process"] += (
            event.online_level is OnlineLevel.FULL and event.channel is SubmissionChannel.ONLINE
        )
        counts["digitised"] += event.digitised
        counts["fees_paid_online"] += event.fees_paid_online
    closing = _CLOSING.get(event.status._value_)
    if closing is None:
        return
    if event.status is DossierStatus.RESOLVED:
        counts["resolved"] += 1
        counts["on_time"] += (
            event.finished_at is not None and event.due_at is not None and (event.finished_at <= event.due_at)
        )
    else:
        counts[closing] += 1
