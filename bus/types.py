"""Domain identifiers as distinct types, so a dossier code is never passed where an agency code belongs."""

from dataclasses import dataclass
from typing import NewType

AgencyCode = NewType("AgencyCode", str)
"""QĐ 20/2020/QĐ-TTg agency code, e.g. ``000.00.00.H29``."""
ProvinceCode = NewType("ProvinceCode", str)
"""Two-digit statistics code of one of the 34 provinces, e.g. ``79``."""
DocumentId = NewType("DocumentId", str)
"""edXML document id: ``{sender},{yyyy/MM/dd},{number}/{notation}``."""
DossierCode = NewType("DossierCode", str)
"""Portal dossier code (MaHoSo)."""
ReportId = NewType("ReportId", str)
EventId = NewType("EventId", str)
SchemaId = NewType("SchemaId", int)
Subject = NewType("Subject", str)
TopicName = NewType("TopicName", str)


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where Kafka stored one event: its id, topic, partition and offset."""

    id: str
    topic: str
    partition: int
    offset: int

    def to_json(self) -> dict[str, str | int]:
        return {"id": self.id, "topic": self.topic, "partition": self.partition, "offset": self.offset}
