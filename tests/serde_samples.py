"""Sample events for the serde tests, and DossierSynced and DocumentSent pinned to schema v1 ("old" services).

``DossierSyncedV1`` is what a service built against ``DossierSynced.v1.avsc`` is: it writes and reads with the
v1 schema (``bus.schemas.load_schema(name, 1)``), so it never sees ``result_digitised``. ``DocumentSentV1``
likewise never sees DocumentSent v2's ``response_for``, ``signing_authority``, ``referenced_document_id`` and
``business_reason``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from bus.events import DocumentSent, DossierSynced, EventMeta
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


class DocumentSentV1(DocumentSent):
    """DocumentSent as a v1 service sees it: same record name, schema version 1."""

    SCHEMA_VERSION: ClassVar[int] = 1


DOCUMENT_V2_FIELDS = frozenset(
    {"response_for", "signing_authority", "referenced_document_id", "business_reason"}
)


def document(n: int = 0, *, model: type[DocumentSent] = DocumentSent, **overrides: Any) -> DocumentSent:
    """A valid DocumentSent (a v2 reply signed TM. unless ``model`` is the v1 one); ``n`` varies the id."""
    sample = publishing_samples.document_sent(n)
    fields: dict[str, Any] = {"meta": EventMeta.new(sample["source"]), **sample["data"]}
    if model is DocumentSentV1:
        for name in DOCUMENT_V2_FIELDS:
            fields.pop(name, None)
    fields.update(overrides)
    return model.model_validate(fields)
