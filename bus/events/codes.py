"""Closed code lists of the event families, as Python enums mirroring the Avro enums symbol for symbol.

Each member's value is its Avro symbol. Every list has ``UNKNOWN``, the Avro enum default: a reader that meets
a symbol added after its schema version reads ``UNKNOWN`` instead of failing. Where the source system has
numeric codes (edXML ``01``…``16``, portal ``1``…``10``) the member's :attr:`~CodedEnum.code` gives it, and
validation accepts the code in place of the symbol (so ``"01"`` reads as ``ARRIVED``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self


class CodedEnum(StrEnum):
    """A code list whose members may carry the source system's code."""

    @classmethod
    def _codes(cls) -> dict[str, str]:
        return _CODES.get(cls.__name__, {})

    @property
    def code(self) -> str | None:
        """The source system's code for this member (``"01"`` for ``ARRIVED``), or None if it has none."""
        return self._codes().get(self.value)

    @classmethod
    def from_code(cls, code: str | int) -> Self:
        """The member with source code ``code``; ValueError if none has it."""
        wanted = str(code)
        for symbol, value in cls._codes().items():
            # "1" and "01" name the same edXML/portal code
            if value == wanted or (wanted.isascii() and wanted.isdigit() and int(value) == int(wanted)):
                return cls(symbol)
        raise ValueError(f"{code!r} is not a {cls.__name__} code")

    @classmethod
    def _missing_(cls, value: Any) -> Self | None:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            try:
                return cls.from_code(value)
            except ValueError:
                return None
        return None


class Priority(CodedEnum):
    """Urgency of a document (độ khẩn, edXML Priority)."""

    UNKNOWN = "UNKNOWN"
    NORMAL = "NORMAL"
    URGENT = "URGENT"
    VERY_URGENT = "VERY_URGENT"
    FLASH = "FLASH"
    FLASH_TIMED = "FLASH_TIMED"


class BusinessType(CodedEnum):
    """edXML business document type: a new document, a revocation or an update."""

    UNKNOWN = "UNKNOWN"
    NEW = "NEW"
    REVOKE = "REVOKE"
    UPDATE = "UPDATE"


class DocumentForm(CodedEnum):
    """How a document is sent (hình thức gửi)."""

    UNKNOWN = "UNKNOWN"
    ELECTRONIC_ONLY = "ELECTRONIC_ONLY"
    ELECTRONIC_AND_PAPER = "ELECTRONIC_AND_PAPER"
    PAPER_ONLY = "PAPER_ONLY"


class SigningAuthority(CodedEnum):
    """How the signer signs (thẩm quyền ký; Decree 30/2020/NĐ-CP on clerical work, Appendix I): the prefix
    above the signer's position. ``DIRECT`` (the head, in own right) has no prefix, so no code."""

    UNKNOWN = "UNKNOWN"
    DIRECT = "DIRECT"
    ON_BEHALF = "ON_BEHALF"
    DEPUTY = "DEPUTY"
    ACTING = "ACTING"
    BY_ORDER = "BY_ORDER"
    BY_AUTHORISATION = "BY_AUTHORISATION"


class DocumentStatus(CodedEnum):
    """edXML status feedback code (mã trạng thái)."""

    UNKNOWN = "UNKNOWN"
    ARRIVED = "ARRIVED"
    REJECTED = "REJECTED"
    ACCEPTED = "ACCEPTED"
    ASSIGNED = "ASSIGNED"
    PROCESSING = "PROCESSING"
    FINISHED = "FINISHED"
    RECALLED = "RECALLED"
    RECALL_ACCEPTED = "RECALL_ACCEPTED"
    RECALL_REFUSED = "RECALL_REFUSED"


class ApplicantType(CodedEnum):
    """Who applied: a citizen or a business/organisation (đối tượng thực hiện)."""

    UNKNOWN = "UNKNOWN"
    CITIZEN = "CITIZEN"
    BUSINESS = "BUSINESS"


class SubmissionChannel(CodedEnum):
    """How a dossier was submitted (kênh nộp hồ sơ)."""

    UNKNOWN = "UNKNOWN"
    COUNTER = "COUNTER"
    ONLINE = "ONLINE"
    POSTAL = "POSTAL"


class OnlineLevel(CodedEnum):
    """Online public service level (Decree 42/2022/NĐ-CP): full-process, partial or none."""

    UNKNOWN = "UNKNOWN"
    FULL = "FULL"
    PARTIAL = "PARTIAL"
    NONE = "NONE"


class DossierStatus(CodedEnum):
    """Portal dossier status (trạng thái hồ sơ), codes 1–10."""

    UNKNOWN = "UNKNOWN"
    REGISTERED = "REGISTERED"
    ACCEPTED = "ACCEPTED"
    NOT_ACCEPTED = "NOT_ACCEPTED"
    PROCESSING = "PROCESSING"
    SUPPLEMENT_REQUESTED = "SUPPLEMENT_REQUESTED"
    FINANCIAL_OBLIGATION_REQUESTED = "FINANCIAL_OBLIGATION_REQUESTED"
    WITHDRAWN = "WITHDRAWN"
    STOPPED = "STOPPED"
    RESOLVED = "RESOLVED"
    RETURNED = "RETURNED"

    @property
    def is_finished(self) -> bool:
        """True for the statuses that require a finish time (9 resolved, 10 result returned)."""
        return self in (DossierStatus.RESOLVED, DossierStatus.RETURNED)


NOT_RECEIVED: frozenset[str] = frozenset({DossierStatus.REGISTERED, DossierStatus.NOT_ACCEPTED})
"""A dossier whose latest status is 1 registered or 3 not accepted was never accepted for processing: it is in
no dossier KPI (``bus/kpis.py``, dossiers received). Members compare equal to their string codes."""


class PeriodType(CodedEnum):
    """Reporting period kind (kỳ báo cáo)."""

    UNKNOWN = "UNKNOWN"
    MONTH = "MONTH"
    QUARTER = "QUARTER"
    HALF_YEAR = "HALF_YEAR"
    YEAR = "YEAR"


_CODES: dict[str, dict[str, str]] = {
    "Priority": {"NORMAL": "0", "URGENT": "1", "VERY_URGENT": "2", "FLASH": "3", "FLASH_TIMED": "4"},
    "BusinessType": {"NEW": "0", "REVOKE": "1", "UPDATE": "2"},
    "SigningAuthority": {
        "ON_BEHALF": "TM.",
        "DEPUTY": "KT.",
        "ACTING": "Q.",
        "BY_ORDER": "TL.",
        "BY_AUTHORISATION": "TUQ.",
    },
    "DocumentStatus": {
        "ARRIVED": "01",
        "REJECTED": "02",
        "ACCEPTED": "03",
        "ASSIGNED": "04",
        "PROCESSING": "05",
        "FINISHED": "06",
        "RECALLED": "13",
        "RECALL_ACCEPTED": "15",
        "RECALL_REFUSED": "16",
    },
    "ApplicantType": {"CITIZEN": "1", "BUSINESS": "2"},
    "SubmissionChannel": {"COUNTER": "1", "ONLINE": "2", "POSTAL": "3"},
    "DossierStatus": {
        "REGISTERED": "1",
        "ACCEPTED": "2",
        "NOT_ACCEPTED": "3",
        "PROCESSING": "4",
        "SUPPLEMENT_REQUESTED": "5",
        "FINANCIAL_OBLIGATION_REQUESTED": "6",
        "WITHDRAWN": "7",
        "STOPPED": "8",
        "RESOLVED": "9",
        "RETURNED": "10",
    },
}
