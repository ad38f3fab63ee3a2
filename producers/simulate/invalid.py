"""Invalid events on purpose (``--bad-ratio``): a recent real event, given a fresh id and one broken rule.

Built with ``model_copy`` (no validation), so they are still model instances: the Avro-encodable defects can
go through the serializer to Kafka (where a consumer's validation dead-letters them), and every defect can be
written as CloudEvents JSON (where ``bus.cloudevents.from_structured`` rejects them). Each breaks exactly one
rule, named by :class:`~producers.simulate.config.Defect`.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Final

from bus.events import (
    AgencyRef,
    DocumentSent,
    DocumentStatusChanged,
    DossierStatus,
    DossierSynced,
    Event,
    ReportFiled,
    make_document_id,
    parse_document_id,
)
from bus.types import AgencyCode
from producers.simulate.clock import HOUR_MS
from producers.simulate.config import Defect, Emission, EmissionKind
from producers.simulate.factory import Factory

UNKNOWN_AGENCY_NAME: Final = "Đơn vị chưa có trong danh mục"
_UNKNOWN_UNITS: Final = ("91", "94", "97", "99")
_UNKNOWN_LEVEL1: Final = ("90", "95", "98", "99")
"""Level-1 numbers no province (H01-H63, K alike) and no ministry (G01-G22) has: an unknown level-1 unit.
(A well-formed code under a known level-1 unit is accepted and counted as an unlisted unit.)"""
_REQUIRED_FIELDS: Final[dict[type[Event], tuple[str, ...]]] = {
    DocumentSent: ("recipients", "form", "subject", "promulgation_date"),
    DocumentStatusChanged: ("status", "status_at", "reporting_agency"),
    DossierSynced: ("received_at", "status", "channel", "version"),
    ReportFiled: ("filed_at", "deadline_at", "revision"),
}


class InvalidEvents:
    """Makes invalid events from the latest real event of each type."""

    def __init__(self, factory: Factory, defects: tuple[Defect, ...]) -> None:
        self._factory = factory
        self._rng: random.Random = factory.rng
        self._defects = defects
        self.latest: dict[type[Event], Event] = {}
        """The latest real event of each type; the engine keeps it up to date."""

    def make(self, now_ms: int) -> Emission | None:
        """An invalid event at ``now_ms``, or None while no real event to start from exists yet."""
        defect = self._rng.choice(self._defects)
        if defect is Defect.FINISHED_BEFORE_RECEIVED:
            dossier = self.latest.get(DossierSynced)
            return self._finished_early(dossier, now_ms) if isinstance(dossier, DossierSynced) else None
        if defect is Defect.DUE_BEFORE_PROMULGATION:
            document = self.latest.get(DocumentSent)
            return self._due_early(document, now_ms) if isinstance(document, DocumentSent) else None
        if not self.latest:
            return None
        event = self.latest[self._rng.choice(list(self.latest))]
        if defect is Defect.UNKNOWN_AGENCY:
            return self._unknown_agency(event, now_ms)
        field = self._rng.choice(_REQUIRED_FIELDS[type(event)])
        return Emission(self._fresh(event, event.meta.source, now_ms), EmissionKind.INVALID, defect, field)

    def _fresh(self, event: Event, source: str, now_ms: int, **update: object) -> Event:
        return event.model_copy(update={"meta": self._factory.meta(source, now_ms), **update})

    def _finished_early(self, dossier: DossierSynced, now_ms: int) -> Emission:
        finished = dossier.received_at - timedelta(milliseconds=self._rng.randint(1, 120) * HOUR_MS)
        broken = self._fresh(
            dossier,
            dossier.meta.source,
            now_ms,
            status=DossierStatus.RESOLVED,
            finished_at=finished,
            returned_at=None,
            result_digitised=None,
            version=dossier.version + 1,
        )
        return Emission(broken, EmissionKind.INVALID, Defect.FINISHED_BEFORE_RECEIVED)

    def _due_early(self, document: DocumentSent, now_ms: int) -> Emission:
        due = document.promulgation_date - timedelta(days=self._rng.randint(1, 10))
        broken = self._fresh(document, document.meta.source, now_ms, due_date=due)
        return Emission(broken, EmissionKind.INVALID, Defect.DUE_BEFORE_PROMULGATION)

    def _unknown_agency(self, event: Event, now_ms: int) -> Emission:
        letter = event.meta.source.rsplit(".", 1)[-1][0]
        level1 = letter + self._rng.choice(_UNKNOWN_LEVEL1)
        code = f"000.00.{self._rng.choice(_UNKNOWN_UNITS)}.{level1}"
        ref = AgencyRef.model_construct(code=AgencyCode(code), name=UNKNOWN_AGENCY_NAME)
        update: dict[str, object]
        if isinstance(event, DocumentSent):
            parts = parse_document_id(event.document_id)
            document_id = make_document_id(code, parts.promulgation_date, parts.number, parts.notation)
            update = {"sender": ref, "document_id": document_id}
        elif isinstance(event, DocumentStatusChanged | ReportFiled):
            update = {"reporting_agency": ref}
        else:
            update = {"processing_agency": ref}
        return Emission(
            self._fresh(event, code, now_ms, **update), EmissionKind.INVALID, Defect.UNKNOWN_AGENCY
        )
