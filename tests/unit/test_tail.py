"""``lgsp topics tail`` without a broker: topic names, the signature state, dead-letter headers, wording."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bus.wording import counted, of_total
from lgsp.tail import TailedRecord, _tailed, resolve_topic

pytestmark = pytest.mark.unit


@dataclass
class Record:
    topic: str = "lgsp.dossiers.dlq"
    partition: int = 0
    offset: int = 4
    timestamp: int = 1_751_333_400_000
    key: bytes | None = b"K"
    value: bytes | None = b"garbage"
    headers: tuple[tuple[str, bytes], ...] = ()


@pytest.mark.parametrize(
    ("name", "real"),
    [
        ("dossiers", "p.lgsp.dossiers"),
        ("lgsp.dossiers", "p.lgsp.dossiers"),
        ("dossiers.dlq", "p.lgsp.dossiers.dlq"),
        ("lgsp.reports.dlq", "p.lgsp.reports.dlq"),
        ("other.topic", "other.topic"),
    ],
)
def test_topic_names_get_the_prefix(name: str, real: str) -> None:
    assert resolve_topic(name, "p.") == real


def test_a_record_that_does_not_decode_shows_its_error_signature_state_and_dead_letter_reason() -> None:
    headers = (("lgsp_sig", b"v1..."), ("lgsp_dlq_reason", b"bad-wire-format"), ("lgsp_dlq_message", b"m"))
    shown: TailedRecord = _tailed(Record(headers=headers), deserializer=None, failed={})  # type: ignore[arg-type]
    assert shown.signature == "present"
    assert shown.dead_letter == {"reason": "bad-wire-format", "message": "m"}
    assert shown.error is not None
    assert "event" not in shown.to_json()
    assert shown.timestamp == "2025-07-01T01:30:00.000+00:00"
    assert _tailed(Record(), deserializer=None, failed={}).signature == "unsigned"  # type: ignore[arg-type]


def test_counts_agree_with_their_noun() -> None:
    assert counted(1, "event") == "1 event"
    assert counted(2, "event") == "2 events"
    assert counted(0, "entry", "entries") == "0 entries"
    assert of_total(1, 1, "event") == "1 of 1 event"
    assert of_total(1, 3, "event") == "1 of 3 events"
