"""Decoding in worker processes: the same :class:`BatchDecoder` in ``views.decode_workers`` processes.

Decoding (Avro, the contract's checks, the signature check) is most of a view builder's CPU; one Python
process uses one core. With workers the main process only fetches, applies and commits, while each worker
decodes chunks of records with its own registry client and schema cache and sends back the verdicts
(events, dead letters, a retriable error). The verdicts are exactly the in-process decoder's, merged back in
log order per partition, so nothing about offsets, dead letters or retries changes.

An admission (the views' signature check against the keyring, the event-time window, the report ranges)
goes along when it is :class:`~bus.consumer.admission.Portable`: each chunk carries its snapshot, taken after
the keyring's refresh for the batch; a worker builds the checks again only when the snapshot's version
changes (so a batch signature it verified once stays verified), and what they count comes back with the
verdicts, replayed into the consumer's metrics.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NamedTuple

from bus.consumer.admission import Admission, AdmissionSnapshot, Count, Portable
from bus.consumer.decode import BatchDecoder, DecodedBatch, RecordLike
from bus.errors import LgspError
from bus.settings import RegistrySettings

_worker: _WorkerState | None = None


class RawRecord(NamedTuple):
    """What a worker needs of a consumer record (small to pickle)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    timestamp: int
    timestamp_type: int


class DecodeWorkerError(LgspError):
    """A decode worker process died; the runner stops and resumes from the store's offsets on restart."""


class _WorkerState:
    def __init__(self, registry: RegistrySettings, topic_types: Mapping[str, frozenset[str]]) -> None:
        from bus.registry import SchemaRegistryClient
        from bus.serde import AvroDeserializer

        self.loop = (
            asyncio.new_event_loop()
        )  # one loop for the worker's life: the registry client lives on it
        self.client = SchemaRegistryClient(registry)
        self.deserializer = AvroDeserializer(self.client)
        self.topic_types = topic_types
        self.decoder = self._decoder(None)
        self.version: tuple[int, ...] | None = None
        self.counted: list[Count] = []

    def _decoder(self, admit: Admission | None) -> BatchDecoder:
        from bus.serde import SerializationContext

        return BatchDecoder(
            self.deserializer, SerializationContext, topic_types=self.topic_types, admit=admit
        )

    def decoder_for(self, snapshot: AdmissionSnapshot | None) -> BatchDecoder:
        if snapshot is not None and snapshot.version != self.version:
            self.counted = []
            self.decoder = self._decoder(snapshot.build(self.counted))
            self.version = snapshot.version
        return self.decoder


def _init_worker(registry: RegistrySettings, topic_types: Mapping[str, frozenset[str]]) -> None:
    global _worker  # noqa: PLW0603 - one decoder per worker process, built once by the pool initializer
    _worker = _WorkerState(registry, topic_types)


def _decode_chunk(records: list[RawRecord], snapshot: AdmissionSnapshot | None) -> DecodedBatch:
    if _worker is None:
        raise RuntimeError("decode worker not initialised")
    decoder = _worker.decoder_for(snapshot)
    decoded = _worker.loop.run_until_complete(decoder.decode({0: records}))
    decoded.counts, _worker.counted[:] = list(_worker.counted), []
    return decoded


class ProcessPoolDecoder:
    """A drop-in for :class:`BatchDecoder` (``decode``) that decodes in ``workers`` processes."""

    def __init__(
        self,
        registry: RegistrySettings,
        *,
        workers: int,
        topic_types: Mapping[str, frozenset[str]] | None = None,
        admission: Portable | None = None,
        chunk_records: int = 1000,
    ) -> None:
        # spawn, not fork: the parent runs threads (the store writer, the metrics server)
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(registry, dict(topic_types or {})),
        )
        self._chunk = chunk_records
        self._admission = admission

    async def decode(self, fetched: Mapping[Any, Sequence[RecordLike]]) -> DecodedBatch:
        """Verdicts for every record of ``fetched``, as :meth:`BatchDecoder.decode` gives them."""
        loop = asyncio.get_running_loop()
        snapshot = self._admission.snapshot() if self._admission is not None else None
        chunks = [
            [
                RawRecord(
                    r.topic,
                    r.partition,
                    r.offset,
                    r.key,
                    r.value,
                    list(r.headers or ()),
                    r.timestamp,
                    r.timestamp_type,
                )
                for r in part
            ]
            for records in fetched.values()
            for part in _split(records, self._chunk)
        ]
        try:
            results = await asyncio.gather(
                *(loop.run_in_executor(self._pool, _decode_chunk, chunk, snapshot) for chunk in chunks)
            )
        except BrokenProcessPool as exc:
            raise DecodeWorkerError(f"a decode worker process died: {exc}") from exc
        merged = _merge(results)
        if self._admission is not None and merged.counts:
            self._admission.replay(merged.counts)
        return merged

    def close(self) -> None:
        """Stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _split(records: Sequence[RecordLike], size: int) -> list[Sequence[RecordLike]]:
    return [records[start : start + size] for start in range(0, len(records), size)]


def _merge(results: Sequence[DecodedBatch]) -> DecodedBatch:
    merged = DecodedBatch()
    for part in results:  # in submission order: partition by partition, chunks in offset order
        for topic, events in part.events.items():
            merged.events.setdefault(topic, []).extend(events)
        for topic, origins in part.origins.items():
            merged.origins.setdefault(topic, []).extend(origins)
        merged.dead_letters.extend(part.dead_letters)
        for tp, offset in part.next_offsets.items():
            merged.next_offsets[tp] = max(offset, merged.next_offsets.get(tp, offset))
        merged.records += part.records
        merged.counts.extend(part.counts)
        if merged.retry is None:
            merged.retry = part.retry
    return merged
