"""One document's state in the documents view (:mod:`consumers.documents`): its header (the first NEW
sending), its revocation and each agency's earliest status times, merged from this batch's events over what
the store held, and what the document adds to the daily counts (:data:`COUNTERS`, in this order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bus.events.codes import BusinessType, DocumentForm, DocumentStatus
from consumers.base import local_day

COUNTERS = (
    "sent",
    "sent_electronic",
    "sent_electronic_only",
    "signed",
    "revoked",
    "deliveries",
    "arrived",
    "finished",
    "rejected",
    "recalled",
)
_ELECTRONIC = frozenset({DocumentForm.ELECTRONIC_ONLY.value, DocumentForm.ELECTRONIC_AND_PAPER.value})
_ELECTRONIC_ONLY = DocumentForm.ELECTRONIC_ONLY.value
_REVOKE = BusinessType.REVOKE.value
_NEW = BusinessType.NEW.value
_STATUS_CLASS = {
    DocumentStatus.ARRIVED.value: 0,
    DocumentStatus.ACCEPTED.value: 0,
    DocumentStatus.FINISHED.value: 1,
    DocumentStatus.REJECTED.value: 2,
    DocumentStatus.RECALLED.value: 3,
    DocumentStatus.RECALL_ACCEPTED.value: 3,
}
"""Status symbol → index in a delivery's ``[arrived, finished, rejected, recalled]`` earliest times."""


@dataclass(slots=True)
class Header:
    sent_ms: int
    event_id: str
    agency: str
    electronic: bool
    electronic_only: bool
    signed: bool
    recipients: tuple[str, ...]


class DocumentState:
    """One document's merged state, as loaded from the store plus this batch's events."""

    __slots__ = ("dirty", "header", "header_changed", "revoked", "statuses", "stored")

    def __init__(self, header: Header | None = None, revoked: bool = False, *, stored: bool = False) -> None:
        self.header = header
        self.revoked = revoked
        self.statuses: dict[str, list[int | None]] = {}
        self.stored = stored
        self.header_changed = False
        """The header or the revocation changed: the document row and all its delivery rows are rewritten."""
        self.dirty: set[str] = set()
        """Agencies whose status times changed: only their delivery rows are rewritten."""

    @property
    def changed(self) -> bool:
        return self.header_changed or bool(self.dirty)

    def merge_sent(self, event: Mapping[str, Any]) -> None:
        """Merge a ``DocumentSent`` record (``EventRecord.avro``)."""
        if event["business_type"] == _REVOKE:
            if not self.revoked:
                self.revoked = self.header_changed = True
            return
        if event["business_type"] != _NEW:
            return  # an UPDATE re-sends a document: not a document sent (bus/kpis.py)
        meta = event["meta"]
        sent_ms, event_id = meta["occurred_at"], meta["event_id"]
        header = self.header
        if header is None or (sent_ms, event_id) < (header.sent_ms, header.event_id):
            self.header = Header(
                sent_ms,
                event_id,
                event["sender"]["code"],
                event["form"] in _ELECTRONIC,
                event["form"] == _ELECTRONIC_ONLY,
                event["digitally_signed"],
                tuple(r["code"] for r in event["recipients"]),
            )
            self.header_changed = True

    def merge_status(self, event: Mapping[str, Any]) -> None:
        """Merge a ``DocumentStatusChanged`` record (``EventRecord.avro``)."""
        index = _STATUS_CLASS.get(event["status"])
        if index is None:
            return
        at = event["status_at"]
        agency = event["reporting_agency"]["code"]
        times = self.statuses.get(agency)
        if times is None:
            times = self.statuses[agency] = [None, None, None, None]
        current = times[index]
        if current is None or at < current:
            times[index] = at
            self.dirty.add(agency)

    def contribution(self) -> tuple[str, str, tuple[int, ...]] | None:
        """``(sender, day, counters)`` this document adds to ``doc_daily``, or None without a header."""
        header = self.header
        if header is None:
            return None
        counts = [0, 0, 0, 0]
        for recipient in header.recipients:
            times = self.statuses.get(recipient)
            if times is not None:
                for index in range(4):
                    if times[index] is not None:
                        counts[index] += 1
        vector = (
            1,
            int(header.electronic),
            int(header.electronic_only),
            int(header.signed),
            int(self.revoked),
            len(header.recipients),
            *counts,
        )
        return header.agency, local_day(header.sent_ms), vector


def add_delta(
    deltas: dict[tuple[str, str], list[int]], contribution: tuple[str, str, tuple[int, ...]] | None, sign: int
) -> None:
    if contribution is None:
        return
    agency, day, vector = contribution
    current = deltas.get((agency, day))
    if current is None:
        current = deltas[(agency, day)] = [0] * len(COUNTERS)
    for index, value in enumerate(vector):
        current[index] += sign * value


def delivery_rows_of(
    document_id: str, doc: DocumentState, agencies: Iterable[str]
) -> Iterable[tuple[Any, ...]]:
    header = doc.header
    recipients = set(header.recipients) if header is not None else set()
    for agency in agencies:
        arrived, finished, rejected, recalled = doc.statuses[agency]
        is_recipient = agency in recipients
        latency = None
        if is_recipient and arrived is not None and header is not None:
            latency = max(arrived - header.sent_ms, 0)
        yield (document_id, agency, int(is_recipient), arrived, finished, rejected, recalled, latency)
