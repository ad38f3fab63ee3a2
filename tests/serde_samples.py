"""Sample events for the serde tests, and DossierSynced pinned to schema v1 (an "old" producer or consumer).

``DossierSyncedV1`` is what a service built against ``DossierSynced.v1.avsc`` is: it writes and reads with the
v1 schema (``bus.schemas.load_schema(name, 1)``), so it never sees ``result_digitised``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from bus.events import DossierSynced, EventMeta
from tests import publishing_samples
from tests.publishing_samples import HCMC


class DossierSyncedV1(DossierSynced):
    """DossierSynced as a v1 service sees it: same record name, schema version 1."""

    SCHEMA_VERSION: ClassVar[int] = 1


def dossier(n: int = 0, *, model: type[DossierSynced] = DossierSynced, **overrides: Any) -> DossierSynced:
    """A valid, finished dossier snapshot; ``n`` varies the code and the times."""
    received = publishing_samples.dossier_received_at(n)
    fields: dict[str, Any] = {
        "meta": EventMeta.new(HCMC, occurred_at=received + timedelta(days=2)),
        **publishing_samples.dossier_data(n, version=n + 1),
        "returned_at": None,
    }
    if model is DossierSyncedV1:
        del fields["result_digitised"]
    fields.update(overrides)
    return model.model_validate(fields)
