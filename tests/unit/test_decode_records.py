"""Whatever its deserializer returns, the decoder hands admission and the views only ``EventRecord``s."""

from __future__ import annotations

import pytest

from bus.consumer.admission import Rejection
from bus.consumer.decode import BatchDecoder, RecordLike
from bus.consumer.outcome import DeadLetterReason
from bus.errors import ValidationError
from bus.events import Event
from bus.events.record import EventRecord, record_of
from tests import views_samples as s
from tests.unit.runner_fakes import GOOD_ID, FakeDeserializer, Record, wire

pytestmark = pytest.mark.unit

TOPIC = "lgsp.dossiers"


def _records(*payloads: bytes, topic: str = TOPIC) -> list[Record]:
    return [Record(topic, 0, i, b"k", wire(GOOD_ID, payload)) for i, payload in enumerate(payloads)]


async def test_a_deserializer_of_models_still_hands_out_records() -> None:
    events = [s.dossier(s.code(1), 1), s.report(s.HCMC), s.dossier(s.code(2), 1)]
    seen: list[object] = []

    def admit(record: RecordLike, event: EventRecord) -> Rejection | None:
        seen.append(event)
        return None

    decoder = BatchDecoder(FakeDeserializer(events), lambda topic: topic, admit=admit)
    batch = await decoder.decode({"tp": _records(b"#0", b"#1", b"#2")})
    applied = batch.events[TOPIC]
    assert all(type(event) is EventRecord for event in applied)
    assert applied == [record_of(event) for event in events]
    assert seen == applied  # admission reads the same records
    assert applied[0].avro["dossier_code"] == s.code(1)
    assert (applied[1].short_name, applied[1].source) == ("ReportFiled", s.HCMC)


async def test_a_validator_reads_the_model_and_its_refusal_names_the_dead_letter() -> None:
    events = [s.dossier(s.code(1), 1), s.dossier(s.code(2), 1), s.report(s.HCMC)]
    validated: list[Event] = []

    def validate(event: Event) -> None:
        validated.append(event)
        if event is events[1]:
            raise ValidationError("data.status: not this one", field="data.status", rule="test.refused")

    decoder = BatchDecoder(
        FakeDeserializer(events),
        lambda topic: topic,
        topic_types={TOPIC: frozenset({"DossierSynced"})},
        validate=validate,
    )
    batch = await decoder.decode({"tp": _records(b"#0", b"#1", b"#2")})
    assert batch.events[TOPIC] == [record_of(events[0])]
    assert all(type(event) is EventRecord for event in batch.events[TOPIC])
    assert all(isinstance(event, Event) for event in validated)
    reasons = [(d.offset, d.reason, d.message) for d in batch.dead_letters]
    assert reasons == [
        (1, DeadLetterReason.INVALID_EVENT, "data.status: not this one"),
        # the wrong topic is named before anything the validator would say
        (2, DeadLetterReason.WRONG_TOPIC, "vn.gov.lgsp.report.ReportFiled does not belong on this topic"),
    ]
