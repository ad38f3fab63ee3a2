"""Admission in the decode step: a decoded record the checks refuse is a dead letter with their reason."""

from __future__ import annotations

import pytest

from bus.consumer.admission import AllOf, Rejection
from bus.consumer.decode import BatchDecoder, RecordLike
from bus.consumer.outcome import DeadLetterReason
from bus.consumer.types import Partition
from bus.events.record import EventRecord, record_of
from tests import views_samples as s
from tests.unit.runner_fakes import GOOD_ID, FakeDeserializer, Record, wire

pytestmark = pytest.mark.unit


def _refuse_odd_offsets(record: RecordLike, event: EventRecord) -> Rejection | None:
    if record.offset % 2:
        return Rejection(DeadLetterReason.SIGNATURE_MISSING, f"offset {record.offset} has no envelope")
    return None


async def test_refused_records_become_dead_letters_and_the_offsets_still_cover_them() -> None:
    events = [s.report(s.HCMC), s.report(s.NGHE_AN), s.report(s.GOV_OFFICE)]
    decoder = BatchDecoder(
        FakeDeserializer(events), lambda topic: None, admit=AllOf([lambda r, e: None, _refuse_odd_offsets])
    )
    records = [Record("lgsp.reports", 0, i, b"k", wire(GOOD_ID, f"#{i}".encode())) for i in range(3)]
    batch = await decoder.decode({"tp": records})
    assert batch.events["lgsp.reports"] == [record_of(events[0]), record_of(events[2])]
    assert [(d.offset, d.reason, d.message) for d in batch.dead_letters] == [
        (1, DeadLetterReason.SIGNATURE_MISSING, "offset 1 has no envelope")
    ]
    assert batch.next_offsets == {Partition("lgsp.reports", 0): 3}
    headers = dict(batch.dead_letters[0].dlq_headers("g", s.BASE))
    assert headers["lgsp_dlq_reason"] == b"signature.missing"
