"""The consumer runner: fetch a batch, judge every record, dead-letter the poison, apply the rest.

One batch, in order:

1. ``getmany(max_records=...)`` (never one record at a time);
2. decode: the batch's schema ids are resolved at once, then each record gets an :class:`Outcome`;
3. dead letters are sent to ``<topic>.dlq`` and **acknowledged** by Kafka;
4. the sink applies the events and records the batch's next offsets **in one store transaction**;
5. the same offsets are committed to Kafka (throttled), only so that lag tools see progress.

Step 4 of one batch overlaps steps 1–2 of the next (the store writes on its own thread): the next batch is
fetched and decoded meanwhile, and its dead letters and its own write wait until the previous write has
committed. Anything that needs the store settled — a rebalance, a re-seek, the caught-up check, shutdown —
waits for the write in hand first.

Offsets: on every assignment the runner seeks each partition to the store's next offset, or to the
beginning for a partition the store has never seen (a new, empty store rebuilds everything, whatever the
group committed in Kafka). Transient failures (``retriable`` errors of the registry, the broker or the store)
are retried with backoff; until a step succeeds nothing past the batch is committed anywhere. Other errors
stop the runner: on restart it resumes from the store's offsets. While it retries, the runner asks Kafka
for the end offsets (the fetch that normally refreshes them is not running), so its lag gauge keeps growing
instead of freezing, and it marks the dependency the error blames down (``lgsp_dependency_up``).

Rebalances: the revoke callback waits for the batch in hand to be applied (the processing lock). A batch
fetched across an assignment change is dropped, and every owned partition is sought again to the store's
offsets (the fetch may have moved the consumer past the dropped records). Records before a partition's known
next offset are never applied again. A store that refuses a batch because another member committed its
partitions meanwhile (``OffsetsMovedError``: this member's session had expired) makes the runner drop the
batch and seek every owned partition to the store's offsets. Shutdown (``stop`` set, e.g. by SIGTERM) takes
effect between batches."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aiokafka import TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from bus.consumer.decode import DecodedBatch, Decoder, RecordLike
from bus.consumer.dlq import DeadLetterWriter
from bus.consumer.kafka import broker_error
from bus.consumer.retry import Backoff, StopRequested, retrying, wait_or_stop
from bus.consumer.telemetry import RunnerTelemetry
from bus.consumer.types import Batch, BatchSink, Partition
from bus.errors import LgspError, OffsetsMovedError
from bus.metrics import Dependency

log = logging.getLogger(__name__)
T = TypeVar("T")
_END_OFFSETS_TIMEOUT_S = 5.0


class ConsumerLike(Protocol):
    """The part of ``AIOKafkaConsumer`` the runner drives (a fake one in unit tests)."""

    def subscribe(self, topics: Sequence[str], *, listener: ConsumerRebalanceListener) -> None: ...
    def assign(self, partitions: list[TopicPartition]) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...
    async def seek_to_beginning(self, *partitions: TopicPartition) -> None: ...
    def assignment(self) -> set[TopicPartition]: ...
    def highwater(self, partition: TopicPartition) -> int | None: ...
    async def position(self, partition: TopicPartition) -> int: ...
    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None: ...
    async def topics(self) -> set[str]: ...
    def partitions_for_topic(self, topic: str) -> set[int] | None: ...
    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]: ...
    async def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]: ...
    def pause(self, *partitions: TopicPartition) -> None: ...
    def resume(self, *partitions: TopicPartition) -> None: ...


@dataclass(frozen=True)
class RunnerConfig:
    """How the runner batches, retries and reports."""

    group_id: str
    topics: Sequence[str]
    max_batch_records: int = 5000
    poll_timeout_ms: int = 500
    kafka_commit_interval_s: float = 1.0
    backoff: Backoff = field(default_factory=Backoff)
    partitions: Sequence[Partition] = ()
    """If given, exactly these partitions, assigned by hand (no group membership, no rebalances): a shard of
    a partition-parallel rebuild (``consumers.rebuild``)."""


@dataclass
class RunStats:
    """What one run did (also in the metrics)."""

    batches: int = 0
    records: int = 0
    applied: int = 0
    dead_lettered: int = 0
    retries: int = 0
    rebalances: int = 0


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, runner: ConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._runner.on_revoked({Partition(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._runner.on_assigned({Partition(tp.topic, tp.partition) for tp in assigned})


class ConsumerRunner:
    """Runs one consumer-group member until stopped (or, if asked, until caught up)."""

    def __init__(
        self,
        consumer: ConsumerLike,
        sink: BatchSink,
        decoder: Decoder,
        dead_letters: DeadLetterWriter,
        config: RunnerConfig,
        telemetry: RunnerTelemetry | None = None,
    ) -> None:
        self._consumer = consumer
        self._sink = sink
        self._decoder = decoder
        self._dead_letters = dead_letters
        self._config = config
        self._telemetry = telemetry or RunnerTelemetry.disabled(config.group_id)
        self._lock = asyncio.Lock()
        self._generation = 0
        self._assigned: set[Partition] = set()
        self._needs_seek: set[Partition] = set()
        self._positions: dict[Partition, int] = {}
        self._uncommitted_kafka: dict[Partition, int] = {}
        self._last_kafka_commit = 0.0
        self._stop = asyncio.Event()
        self._writing: asyncio.Task[bool] | None = None
        """The previous batch's store write, running while the next batch is fetched and decoded."""
        self._writing_offsets: dict[Partition, int] = {}
        self._fresh_ends: dict[Partition, int] = {}
        """End offsets asked of Kafka while retrying (the consumer's highwater is only updated by fetches)."""
        self._refreshing: asyncio.Task[None] | None = None
        self.stats = RunStats()

    # -- the loop ---------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None, *, until_caught_up: bool = False) -> RunStats:
        """Consume until ``stop`` is set; with ``until_caught_up``, also until every record that was on the
        topics when the run started has been applied (dead letters included)."""
        if stop is not None:
            self._stop = stop
        manual = [TopicPartition(tp.topic, tp.partition) for tp in self._config.partitions]
        if manual:
            self._consumer.assign(manual)
        else:
            self._consumer.subscribe(list(self._config.topics), listener=_Listener(self))
        self._telemetry.declare(self._config.topics)
        try:
            await self._consumer.start()
        except Exception as exc:
            await self._consumer.stop()
            raise broker_error(exc, "starting the consumer") from exc
        try:
            if manual:
                await self.on_assigned(set(self._config.partitions))
            targets = await self._end_offsets() if until_caught_up else None
            await self._loop(targets)
            await self._settle()
        finally:
            await self._settle_quietly()
            await self._commit_kafka(force=True)
            if self._refreshing is not None:
                self._refreshing.cancel()
                await asyncio.gather(self._refreshing, return_exceptions=True)
            await self._consumer.stop()
        return self.stats

    async def _loop(self, targets: dict[Partition, int] | None) -> None:
        while not self._stop.is_set():
            if targets is not None:
                if self._writing is not None and self._covers(targets) and not await self._settle():
                    return
                if await self._caught_up(targets, idle=False):
                    return
            try:
                if self._needs_seek and not await self._settle():
                    return
                await self._reseek_pending()
            except StopRequested:
                return
            generation = self._generation
            fetched = await self._fetch()
            if fetched:
                async with self._lock:
                    if generation == self._generation:
                        if not await self._process(self._owned(fetched)):
                            return
                    else:
                        # The fetch may have moved the consumer's positions past records we now drop:
                        # read every owned partition again from the store's offsets.
                        log.info("assignment changed during a fetch; re-reading from the store's offsets")
                        self._needs_seek |= self._assigned
            else:
                if not await self._settle():
                    return
                self._report_lag()
                if targets is not None and await self._caught_up(targets, idle=True):
                    return
            await self._commit_kafka(force=False)

    def _covers(self, targets: Mapping[Partition, int]) -> bool:
        """True if, once the write in hand commits, every target would be reached."""
        return all(
            max(self._positions.get(tp, -1), self._writing_offsets.get(tp, -1)) >= end
            for tp, end in targets.items()
        )

    async def _settle(self) -> bool:
        """Wait for the store write in hand; False if a stop request cut its retries short."""
        task, self._writing = self._writing, None
        self._writing_offsets = {}
        return True if task is None else await task

    async def _write_done(self) -> None:
        """Wait until the write in hand has finished, leaving its outcome (an error included) to the loop."""
        if self._writing is not None:
            await asyncio.wait({self._writing})

    async def _settle_quietly(self) -> None:
        """:meth:`_settle` while another error is on its way out: that one matters more."""
        try:
            await self._settle()
        except Exception as exc:  # logged, not raised: the error already leaving the loop is the cause
            log.warning("the store write in hand failed while stopping: %s", exc)

    async def _fetch(self) -> dict[TopicPartition, list[Any]]:
        try:
            fetched = await self._consumer.getmany(
                timeout_ms=self._config.poll_timeout_ms, max_records=self._config.max_batch_records
            )
        except Exception as exc:
            error = broker_error(exc, "fetching records")
            if not error.retriable:
                raise error from exc
            log.warning("fetch failed, retrying: %s", error)
            self._telemetry.failed(error)
            await wait_or_stop(self._stop, self._config.backoff.delay(1))
            return {}
        self._telemetry.worked(Dependency.KAFKA)
        return fetched

    def _owned(self, fetched: Mapping[TopicPartition, list[Any]]) -> dict[TopicPartition, list[Any]]:
        """Records of partitions this member owns and has positioned, from its next offset on."""
        owned: dict[TopicPartition, list[Any]] = {}
        for tp, records in fetched.items():
            partition = Partition(tp.topic, tp.partition)
            if not records or partition not in self._assigned or partition in self._needs_seek:
                continue
            expected = self._positions.get(partition)
            fresh = records
            if expected is not None and records[0].offset < expected:
                fresh = [r for r in records if r.offset >= expected]  # already applied: never go back
            if fresh:
                owned[tp] = fresh
        return owned

    async def _process(self, fetched: Mapping[TopicPartition, Sequence[RecordLike]]) -> bool:
        """Decode one batch, dead-letter its poison and start its store write once the previous write has
        committed; False if a stop was requested before that."""
        if not fetched:
            return True
        started = time.perf_counter()
        try:
            decoded = await self._retry(lambda: self._decode(fetched), "decoding a batch")
            self._telemetry.worked(Dependency.REGISTRY)
            if not await self._settle() or self._stop.is_set():  # a stop takes effect between batches
                return False
            await self._retry(lambda: self._dead_letters.send(decoded.dead_letters), "dead-lettering")
        except StopRequested:
            log.info("stop requested while retrying; the batch in hand was not committed")
            return False
        self._writing = asyncio.create_task(self._write(decoded, started))
        self._writing_offsets = dict(decoded.next_offsets)
        return True

    async def _write(self, decoded: DecodedBatch, started: float) -> bool:
        batch = Batch(decoded.events, decoded.next_offsets, decoded.records, decoded.origins)
        try:
            await self._retry(lambda: self._sink.apply(batch), "applying a batch to the store")
        except StopRequested:
            log.info("stop requested while retrying; the batch in hand was not committed")
            return False
        except OffsetsMovedError as exc:
            # Another member applied these partitions while this one was thought gone (an expired session):
            # nothing was written; read every owned partition again from the store's offsets.
            log.warning("%s", exc)
            self._needs_seek |= self._assigned
            return True
        self._telemetry.worked(Dependency.STORE)
        self._after_commit(decoded, time.perf_counter() - started)
        return True

    async def _decode(self, fetched: Mapping[TopicPartition, Sequence[RecordLike]]) -> DecodedBatch:
        decoded = await self._decoder.decode(fetched)
        if decoded.retry is not None:
            raise decoded.retry
        return decoded

    async def _retry(self, operation: Callable[[], Awaitable[T]], what: str) -> T:
        def count(error: LgspError) -> None:
            self.stats.retries += 1
            self._telemetry.failed(error)
            self._report_lag()  # a stuck builder must show growing lag, not the last good value
            if self._refreshing is None or self._refreshing.done():
                self._refreshing = asyncio.create_task(self._refresh_ends())

        return await retrying(
            operation, what=what, stop=self._stop, backoff=self._config.backoff, on_retry=count
        )

    def _after_commit(self, decoded: DecodedBatch, seconds: float) -> None:
        self._positions.update(decoded.next_offsets)
        self._uncommitted_kafka.update(decoded.next_offsets)
        applied = sum(len(events) for events in decoded.events.values())
        self.stats.batches += 1
        self.stats.records += decoded.records
        self.stats.applied += applied
        self.stats.dead_lettered += len(decoded.dead_letters)
        self._telemetry.batch_done(decoded, seconds)
        self._report_lag()

    def _report_lag(self) -> None:
        """Lag of every owned partition whose position is known: highwater − next offset to apply."""
        for tp in self._assigned:
            next_offset = self._positions.get(tp)
            highwater = self._consumer.highwater(TopicPartition(tp.topic, tp.partition))
            end = max(highwater if highwater is not None else -1, self._fresh_ends.get(tp, -1))
            if next_offset is not None and end >= 0:
                self._telemetry.lag(tp, max(end - next_offset, 0))

    async def _refresh_ends(self) -> None:
        """Ask Kafka for the end offsets of the owned partitions (while retrying: no fetch updates them)."""
        tps = [TopicPartition(tp.topic, tp.partition) for tp in self._assigned]
        if not tps:
            return
        try:
            ends = await asyncio.wait_for(self._consumer.end_offsets(tps), timeout=_END_OFFSETS_TIMEOUT_S)
        except Exception as exc:  # Kafka down too: the lag cannot be refreshed, the retry goes on
            log.debug("could not refresh end offsets while retrying: %s", exc)
            return
        self._fresh_ends.update({Partition(tp.topic, tp.partition): end for tp, end in ends.items()})
        self._report_lag()

    # -- offsets in Kafka (for lag tools only) ----------------------------------------------------------

    async def _commit_kafka(self, *, force: bool) -> None:
        now = time.monotonic()
        if not self._uncommitted_kafka or (
            not force and now - self._last_kafka_commit < self._config.kafka_commit_interval_s
        ):
            return
        owned = self._consumer.assignment()
        offsets = {
            TopicPartition(tp.topic, tp.partition): offset
            for tp, offset in self._uncommitted_kafka.items()
            if TopicPartition(tp.topic, tp.partition) in owned
        }
        self._uncommitted_kafka.clear()
        self._last_kafka_commit = now
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except Exception as exc:  # informational copy: the store has the truth, so never fatal
            log.info("Kafka offset commit skipped (%s: %s)", type(exc).__name__, exc)

    # -- rebalances ---------------------------------------------------------------------------------------

    async def on_revoked(self, revoked: set[Partition]) -> None:
        """Wait for the batch in hand, then give the partitions up."""
        async with self._lock:
            await self._write_done()
            self._generation += 1
            self.stats.rebalances += 1
            await self._commit_kafka(force=True)
            self._assigned -= revoked
            self._needs_seek -= revoked
            for tp in revoked:
                self._positions.pop(tp, None)
                self._telemetry.forget_partition(tp)
        log.info("revoked %d partitions", len(revoked))

    async def on_assigned(self, assigned: set[Partition]) -> None:
        """Seek every newly assigned partition to the store's offset (or the beginning)."""
        async with self._lock:
            await self._write_done()
            self._generation += 1
            self._assigned = set(assigned)
            self._needs_seek = set(assigned)
            try:
                offsets = await self._sink.load_offsets()
            except LgspError as exc:
                # Never let the consumer read from Kafka's group offsets instead: pause until the main
                # loop manages to read the store's offsets.
                log.warning("could not read the store's offsets on assignment (%s); pausing", exc)
                self._consumer.pause(*(TopicPartition(tp.topic, tp.partition) for tp in assigned))
                return
            await self._seek(offsets)
        log.info("assigned %d partitions", len(assigned))

    async def _reseek_pending(self) -> None:
        if not self._needs_seek:
            return
        async with self._lock:
            offsets = await self._retry(self._sink.load_offsets, "reading the store's offsets")
            pending = [TopicPartition(tp.topic, tp.partition) for tp in self._needs_seek]
            await self._seek(offsets)
            self._consumer.resume(*pending)

    async def _seek(self, offsets: Mapping[Partition, int]) -> None:
        from_start: list[TopicPartition] = []
        for tp in sorted(self._needs_seek):
            ktp = TopicPartition(tp.topic, tp.partition)
            if tp in offsets:
                self._consumer.seek(ktp, offsets[tp])
                self._positions[tp] = offsets[tp]
            else:
                from_start.append(ktp)
                self._positions.pop(tp, None)
        if from_start:
            await self._consumer.seek_to_beginning(*from_start)
        self._needs_seek.clear()

    # -- until caught up ------------------------------------------------------------------------------------

    async def _end_offsets(self) -> dict[Partition, int]:
        try:
            manual = [TopicPartition(tp.topic, tp.partition) for tp in self._config.partitions]
            tps = manual or await self._subscribed_partitions()
            ends = await self._consumer.end_offsets(tps)
            starts = await self._consumer.beginning_offsets(tps)
        except Exception as exc:
            raise broker_error(exc, "reading end offsets") from exc
        # A partition whose records were all deleted (start == end) has nothing left to apply.
        return {Partition(tp.topic, tp.partition): end for tp, end in ends.items() if end > starts.get(tp, 0)}

    async def _subscribed_partitions(self) -> list[TopicPartition]:
        """Partitions of the subscribed topics, once the consumer's metadata knows them (a few seconds at
        most; a topic still unknown then is taken as empty)."""
        topics = self._config.topics
        for _ in range(50):
            await self._consumer.topics()
            if all(self._consumer.partitions_for_topic(topic) for topic in topics):
                break
            await asyncio.sleep(0.1)
        return [
            TopicPartition(topic, part)
            for topic in topics
            for part in sorted(self._consumer.partitions_for_topic(topic) or ())
        ]

    async def _caught_up(self, targets: Mapping[Partition, int], *, idle: bool) -> bool:
        behind = [tp for tp, end in targets.items() if self._positions.get(tp, -1) < end]
        if not behind:
            return True
        mine = [tp for tp in behind if tp in self._assigned]
        if mine and (not idle or self._needs_seek):
            return False
        stored = await self._sink.load_offsets() if len(mine) < len(behind) else {}
        for tp in behind:
            if tp in self._assigned:
                # Only after an empty fetch: the position may then have moved past records that are not
                # data (transaction markers) without anything to apply.
                position = await self._consumer.position(TopicPartition(tp.topic, tp.partition))
                if position < targets[tp]:
                    return False
            elif stored.get(tp, -1) < targets[tp]:
                return False
        return True


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop``: the runner finishes the batch in hand, then exits."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
