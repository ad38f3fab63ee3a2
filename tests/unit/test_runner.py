"""The consumer runner against in-memory fakes: offsets, dead letters, retries, rebalances, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from bus.consumer.decode import BatchDecoder
from bus.consumer.dlq import DeadLetterWriter
from bus.consumer.outcome import DeadLetterReason, Outcome, outcome_for_error
from bus.consumer.retry import Backoff
from bus.consumer.runner import ConsumerRunner, RunnerConfig
from bus.consumer.telemetry import RunnerTelemetry
from bus.consumer.types import Partition
from bus.errors import (
    OffsetsMovedError,
    RegistryError,
    RegistryUnavailableError,
    SerializationError,
    StoreBusyError,
    StoreError,
    UnknownAgencyError,
    UnknownRecordError,
    UnknownSchemaError,
    ValidationError,
)
from bus.events import Event
from bus.events.record import EventRecord, record_of
from bus.metrics import ConsumerMetrics
from tests import views_samples as s
from tests.unit.runner_fakes import (
    GOOD_ID,
    UNKNOWN_ID,
    FakeConsumer,
    FakeDeserializer,
    FakeProducer,
    FakeSink,
    Record,
    wire,
)

pytestmark = pytest.mark.unit

TOPIC = "t.lgsp.dossiers"
TP0, TP1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
P0, P1 = Partition(TOPIC, 0), Partition(TOPIC, 1)
FAST = Backoff(initial_s=0.001, max_s=0.002, jitter=0.0)


def dossiers(count: int) -> list[Event]:
    return [s.dossier(s.code(n), 1) for n in range(count)]


def as_records(events: Sequence[Event]) -> list[EventRecord]:
    """``events`` as the decoder hands them to the sink."""
    return [record_of(event) for event in events]


def good(tp: TopicPartition, offset: int, index: int) -> Record:
    return Record(tp.topic, tp.partition, offset, s.code(index).encode(), wire(GOOD_ID, b"#%d" % index))


def logs_of(events_per_partition: int) -> dict[TopicPartition, list[Record]]:
    return {
        tp: [good(tp, o, p * events_per_partition + o) for o in range(events_per_partition)]
        for p, tp in enumerate((TP0, TP1))
    }


class Harness:
    """A runner wired to fakes; ``log`` shows the order of DLQ acks and store commits."""

    def __init__(
        self,
        logs: dict[TopicPartition, list[Record]],
        events: Sequence[Event],
        *,
        batch: int = 4,
        metrics: ConsumerMetrics | None = None,
        group_offsets: dict[TopicPartition, int] | None = None,
        partitions: Sequence[Partition] = (),
    ) -> None:
        self.log: list[str] = []
        self.consumer = FakeConsumer(logs, group_offsets=group_offsets or {})
        self.deserializer = FakeDeserializer(events)
        self.producer = FakeProducer(self.log)
        self.sink = FakeSink(self.log)
        decoder = BatchDecoder(
            self.deserializer, lambda topic: topic, topic_types={TOPIC: frozenset({"DossierSynced"})}
        )
        config = RunnerConfig(
            group_id="views",
            topics=[TOPIC],
            max_batch_records=batch,
            poll_timeout_ms=1,
            backoff=FAST,
            partitions=partitions,
        )
        self.runner = ConsumerRunner(
            self.consumer,
            self.sink,
            decoder,
            DeadLetterWriter(self.producer, group="views"),
            config,
            RunnerTelemetry("views", metrics),
        )
        self.stop = asyncio.Event()

    async def run(self) -> None:
        await asyncio.wait_for(self.runner.run(self.stop, until_caught_up=True), timeout=10)


async def test_every_record_is_applied_once_with_its_offsets() -> None:
    events = dossiers(20)
    h = Harness(logs_of(10), events)
    await h.run()
    first, second = as_records(events[:10]), as_records(events[10:])
    assert [e for e in h.sink.applied if e in first] == first  # partition order kept
    assert [e for e in h.sink.applied if e in second] == second
    assert len(h.sink.applied) == 20
    assert h.sink.offsets == {P0: 10, P1: 10}
    assert h.consumer.committed == {TP0: 10, TP1: 10}  # a copy for lag tools, after the store
    assert h.consumer.stopped
    assert h.runner.stats.batches >= 5


async def test_partitions_assigned_by_hand_are_read_to_their_end_and_no_others() -> None:
    """A rebuild shard: its partitions only, caught up when they are, the store's offsets honoured."""
    events = dossiers(20)
    h = Harness(logs_of(10), events, partitions=[P1])
    h.sink.offsets = {P1: 3}
    await h.run()
    assert h.sink.applied == as_records(events[13:])
    assert h.sink.offsets == {P1: 10}
    assert h.consumer.assigned == {TP1}
    assert h.runner.stats.rebalances == 0


async def test_the_store_offsets_win_over_the_group_offsets() -> None:
    events = dossiers(20)
    h = Harness(logs_of(10), events, group_offsets={TP0: 8, TP1: 9})
    h.sink.offsets = {P0: 4}  # the store has applied P0 up to 4 and never saw P1
    await h.run()
    applied = {e.avro["dossier_code"] for e in h.sink.applied}
    assert applied == {s.code(n) for n in (*range(4, 10), *range(10, 20))}
    assert h.sink.offsets == {P0: 10, P1: 10}


async def test_poison_is_dead_lettered_with_reasons_before_the_offsets_pass_it() -> None:
    events = dossiers(3)
    records = [
        good(TP0, 0, 0),
        Record(TOPIC, 0, 1, b"k1", b"garbage", (("ce_id", b"x1"),)),
        Record(TOPIC, 0, 2, b"k2", wire(UNKNOWN_ID, b"#1")),
        Record(TOPIC, 0, 3, b"k3", wire(GOOD_ID, b"!agency")),
        Record(TOPIC, 0, 4, b"k4", wire(GOOD_ID, b"!invalid")),
        Record(TOPIC, 0, 5, b"k5", None),
        good(TP0, 6, 2),
    ]
    h = Harness({TP0: records}, events, batch=10)
    await h.run()
    assert h.sink.applied == as_records([events[0], events[2]])
    assert h.sink.offsets == {P0: 7}
    reasons = [dict(headers)["lgsp_dlq_reason"].decode() for _, _, _, headers in h.producer.sent]
    assert reasons == [
        DeadLetterReason.BAD_WIRE_FORMAT,
        DeadLetterReason.UNKNOWN_SCHEMA,
        DeadLetterReason.UNKNOWN_AGENCY,
        DeadLetterReason.INVALID_EVENT,
        DeadLetterReason.EMPTY_VALUE,
    ]
    topic, key, value, headers = h.producer.sent[0]
    named = dict(headers)
    assert (topic, key, value) == (f"{TOPIC}.dlq", b"k1", b"garbage")
    assert named["ce_id"] == b"x1"  # original headers kept
    assert named["lgsp_dlq_topic"] == TOPIC.encode()
    assert (named["lgsp_dlq_partition"], named["lgsp_dlq_offset"]) == (b"0", b"1")
    assert named["lgsp_dlq_group"] == b"views"
    assert named["lgsp_dlq_error_class"] == b"SerializationError"
    assert named["lgsp_dlq_time"].endswith(b"Z")
    assert b"agency" in dict(h.producer.sent[2][3])["lgsp_dlq_message"]
    assert h.log == ["dlq-acked"] * 5 + ["store-committed"]
    assert h.runner.stats.records == 7 == h.runner.stats.applied + h.runner.stats.dead_lettered


async def test_an_event_on_the_wrong_topic_is_dead_lettered() -> None:
    h = Harness({TP0: [Record(TOPIC, 0, 0, b"d", wire(GOOD_ID, b"#0"))]}, [s.sent(1)])
    await h.run()
    assert [dict(x[3])["lgsp_dlq_reason"] for x in h.producer.sent] == [b"wrong-topic"]


async def test_a_registry_outage_is_retried_and_never_dead_letters() -> None:
    events = dossiers(20)
    h = Harness(logs_of(10), events)
    h.deserializer.outages = 2
    await h.run()
    assert h.producer.sent == []
    assert len(h.sink.applied) == 20
    assert h.runner.stats.retries == 2


async def test_nothing_is_committed_until_the_dead_letters_are_acknowledged() -> None:
    h = Harness({TP0: [Record(TOPIC, 0, 0, b"k", b"junk"), good(TP0, 1, 0)]}, dossiers(1), batch=10)
    h.producer.failures = 2
    await h.run()
    assert h.log == ["dlq-failed", "dlq-failed", "dlq-acked", "store-committed"]
    assert h.sink.offsets == {P0: 2}


async def test_a_busy_store_is_retried_with_the_same_batch() -> None:
    events = dossiers(20)
    h = Harness(logs_of(10), events)
    h.sink.failures = [StoreBusyError("database is locked"), StoreBusyError("disk full")]
    await h.run()
    applied = sorted(e.avro["dossier_code"] for e in h.sink.applied)
    assert applied == sorted(e.avro["dossier_code"] for e in as_records(events))
    assert h.sink.offsets == {P0: 10, P1: 10}
    assert h.runner.stats.retries == 2


async def test_a_batch_refused_because_another_member_moved_on_is_dropped_and_the_store_read_again() -> None:
    # This member's session expired; another member applied P0's first six records meanwhile. The store
    # refuses this member's batch whole: it must not retry it, nor stop, but read on from the store's offsets.
    events = dossiers(20)
    h = Harness(logs_of(10), events)
    h.sink.failures = [OffsetsMovedError("P0 moved")]
    h.sink.before_failure = lambda: h.sink.offsets.update({P0: 6})
    await h.run()
    applied = [e.avro["dossier_code"] for e in h.sink.applied]
    assert sorted(applied) == sorted(s.code(n) for n in range(6, 20))  # each once; D-0..5 were the other's
    assert h.sink.offsets == {P0: 10, P1: 10}


async def test_a_broken_store_stops_the_runner_without_committing() -> None:
    h = Harness(logs_of(10), dossiers(20))
    h.sink.failures = [StoreError("no such table")]
    with pytest.raises(StoreError, match="no such table"):
        await h.run()
    assert h.sink.offsets == {}
    assert h.consumer.committed == {}
    assert h.consumer.stopped


async def test_a_stop_while_retrying_leaves_the_batch_uncommitted() -> None:
    h = Harness(logs_of(10), dossiers(20))
    h.sink.failures = [StoreBusyError("locked")] * 1000
    task = asyncio.create_task(h.runner.run(h.stop))
    await h.sink.entered.wait()
    h.stop.set()
    stats = await asyncio.wait_for(task, timeout=5)
    assert stats.batches == 0
    assert h.sink.offsets == {}


async def test_stop_finishes_the_batch_in_hand() -> None:
    events = dossiers(20)
    h = Harness(logs_of(10), events)
    h.sink.gate = asyncio.Event()
    task = asyncio.create_task(h.runner.run(h.stop))
    await h.sink.entered.wait()
    h.stop.set()  # like SIGTERM while a batch is being written
    h.sink.gate.set()
    stats = await asyncio.wait_for(task, timeout=5)
    assert stats.batches == 1
    assert len(h.sink.applied) == 4
    assert sum(h.sink.offsets.values()) == 4


async def test_revoke_waits_for_the_batch_in_hand() -> None:
    h = Harness(logs_of(10), dossiers(20))
    h.sink.gate = asyncio.Event()
    task = asyncio.create_task(h.runner.run(h.stop))
    await h.sink.entered.wait()
    revoke = asyncio.create_task(h.runner.on_revoked({P0, P1}))
    await asyncio.sleep(0.01)
    assert not revoke.done()  # still writing the batch
    h.sink.gate.set()
    await asyncio.wait_for(revoke, timeout=5)
    assert h.sink.log[-1] == "store-committed"
    h.stop.set()
    await asyncio.wait_for(task, timeout=5)


async def test_records_fetched_across_a_rebalance_are_dropped_and_read_again_from_the_store() -> None:
    events = dossiers(20)
    h = Harness(logs_of(10), events, batch=6)

    async def rebalance() -> None:  # the group rebalances while getmany hands out records
        await h.consumer.rebalance({TP0, TP1})

    h.consumer.before_return = rebalance
    await h.run()
    codes = [e.avro["dossier_code"] for e in h.sink.applied]
    assert sorted(codes) == sorted(e.avro["dossier_code"] for e in as_records(events))
    assert len(codes) == len(set(codes))  # nothing applied twice
    assert h.runner.stats.rebalances == 2


async def test_records_fetched_after_the_new_assignment_but_in_an_old_fetch_are_read_again() -> None:
    events = dossiers(20)
    h = Harness(logs_of(10), events, batch=6)

    async def rebalance() -> None:  # the seek lands first, then the same fetch hands out records
        await h.consumer.rebalance({TP0, TP1})

    h.consumer.before_take = rebalance
    await h.run()
    codes = [e.avro["dossier_code"] for e in h.sink.applied]
    assert sorted(codes) == sorted(e.avro["dossier_code"] for e in as_records(events))
    assert len(codes) == len(set(codes))
    assert h.sink.offsets == {P0: 10, P1: 10}


async def test_partitions_wait_paused_until_the_store_offsets_can_be_read() -> None:
    events = dossiers(20)
    h = Harness(logs_of(10), events, group_offsets={TP0: 9, TP1: 9})
    h.sink.offsets = {P0: 2, P1: 3}
    h.sink.load_failures = [StoreBusyError("locked")]
    await h.run()
    assert len(h.sink.applied) == 15  # from the store's 2 and 3, never from the group's 9
    assert h.sink.offsets == {P0: 10, P1: 10}


async def test_metrics_count_consumed_dead_lettered_and_lag() -> None:
    registry = CollectorRegistry()
    # Published now (as the Publisher stamps them), occurred in the simulated past: two clocks.
    published = datetime.now(UTC)
    events = [event.with_published_at(published) for event in dossiers(3)]
    records = [good(TP0, 0, 0), Record(TOPIC, 0, 1, b"k", b"junk"), good(TP0, 2, 1)]
    h = Harness({TP0: records}, events, metrics=ConsumerMetrics(registry), batch=10)
    await h.run()
    labels = {"group": "views", "topic": TOPIC}
    assert (
        registry.get_sample_value("lgsp_events_consumed_total", {**labels, "type": events[0].AVRO_NAME}) == 2
    )
    dead = registry.get_sample_value(
        "lgsp_events_dead_lettered_total", {**labels, "reason": "bad-wire-format"}
    )
    assert dead == 1
    assert registry.get_sample_value("lgsp_consumer_lag_messages", {**labels, "partition": "0"}) == 0
    assert registry.get_sample_value("lgsp_event_age_seconds_count", labels) == 2
    # The operations clock (apply - publish) is not pinned by the events' old occurred-at...
    assert registry.get_sample_value("lgsp_event_age_seconds_bucket", {**labels, "le": "10.0"}) == 2
    # ...the domain clock (publish - occurred) carries it, below its three-year top bucket.
    lag_sum = registry.get_sample_value("lgsp_event_business_lag_seconds_sum", labels)
    expected = sum((published - e.meta.occurred_at).total_seconds() for e in events[:2])
    assert lag_sum == pytest.approx(expected, abs=1)
    assert registry.get_sample_value("lgsp_batch_processing_duration_seconds_count", {"group": "views"}) == 1
    # Every reason's dead-letter series exists from start-up, at 0 when none happened.
    assert (
        registry.get_sample_value("lgsp_events_dead_lettered_total", {**labels, "reason": "unknown-agency"})
        == 0
    )


@pytest.mark.parametrize(
    ("error", "outcome", "reason"),
    [
        (UnknownAgencyError("x"), Outcome.DEAD_LETTER, DeadLetterReason.UNKNOWN_AGENCY),
        (ValidationError("x"), Outcome.DEAD_LETTER, DeadLetterReason.INVALID_EVENT),
        (UnknownSchemaError("x"), Outcome.DEAD_LETTER, DeadLetterReason.UNKNOWN_SCHEMA),
        (UnknownRecordError("x"), Outcome.DEAD_LETTER, DeadLetterReason.UNKNOWN_TYPE),
        (SerializationError("x"), Outcome.DEAD_LETTER, DeadLetterReason.UNDECODABLE),
        (RegistryUnavailableError("x"), Outcome.RETRY, None),
        (StoreBusyError("x"), Outcome.RETRY, None),
    ],
)
def test_each_error_has_one_outcome(
    error: Exception, outcome: Outcome, reason: DeadLetterReason | None
) -> None:
    verdict = outcome_for_error(error)  # type: ignore[arg-type]
    assert (verdict.outcome, verdict.reason) == (outcome, reason)


def test_errors_that_say_nothing_about_the_record_are_not_dead_letters() -> None:
    with pytest.raises(RegistryError):
        outcome_for_error(RegistryError("401 unauthorised", status=401))


async def test_a_stuck_builder_reports_its_lag() -> None:
    registry = CollectorRegistry()
    h = Harness(logs_of(10), dossiers(20), metrics=ConsumerMetrics(registry))
    h.sink.offsets = {P0: 3, P1: 5}
    h.sink.failures = [StoreBusyError("locked")] * 1000
    task = asyncio.create_task(h.runner.run(h.stop))
    for _ in range(3):  # three failed attempts at the same batch
        await h.sink.entered.wait()
        h.sink.entered.clear()
    lag = {
        p: registry.get_sample_value(
            "lgsp_consumer_lag_messages", {"group": "views", "topic": TOPIC, "partition": str(p)}
        )
        for p in (0, 1)
    }
    h.stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert lag == {0: 7, 1: 5}


def test_worker_verdicts_merge_back_in_log_order() -> None:
    from bus.consumer.decode import DecodedBatch
    from bus.consumer.dlq import DeadLetter
    from bus.consumer.parallel import _merge, _split

    events = as_records(dossiers(4))
    letter = DeadLetter(
        TOPIC, 0, 2, b"k", b"junk", [], DeadLetterReason.BAD_WIRE_FORMAT, "SerializationError", "x"
    )
    parts = [
        DecodedBatch({TOPIC: events[:2]}, [], {P0: 2}, None, 2),
        DecodedBatch({TOPIC: events[2:3]}, [letter], {P0: 4}, None, 2),
        DecodedBatch({TOPIC: events[3:]}, [], {P1: 7}, RegistryUnavailableError("down"), 1),
    ]
    merged = _merge(parts)
    assert merged.events == {TOPIC: events}
    assert merged.dead_letters == [letter]
    assert merged.next_offsets == {P0: 4, P1: 7}
    assert merged.records == 5
    assert isinstance(merged.retry, RegistryUnavailableError)
    records = [good(TP0, offset, 0) for offset in range(2500)]
    assert [len(chunk) for chunk in _split(records, 1000)] == [1000, 1000, 500]
