"""Fault 4: the view store cannot write — locked by another connection, then its disk full — and recovers.

``lgsp views run`` keeps consuming while, in turn:

A. another connection holds SQLite's write lock on the store file (``BEGIN EXCLUSIVE``);
B. the builder's file-size limit is cut to 4 KiB from outside (``prlimit``): every write to the database
   or its WAL fails with ``EFBIG``, as on a full disk or an exhausted quota;
C. (as root) the store lives on a 64 MiB tmpfs and a ballast file fills it: writes fail with ``ENOSPC``.

In each phase the builder must log retries of the store transaction and commit nothing — neither in the
store nor in Kafka's group offsets — until the fault is removed; then it catches up, and at the end the views
must be exact.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from bus.events import Event
from bus.publisher import Publisher
from bus.settings import Settings
from bus.topics import ensure_topics
from tests.faults.ledger import Ledger, feed, publish_chunk, resend_pending, topic_ends
from tests.faults.procs import ViewsProcess, store_offsets, wait_store_reaches
from tests.faults.stacks import FaultStack, fault_settings
from tests.faults.storefaults import FileSizeLimit, HeldLock, maybe_tmpfs
from tests.faults.verify import data_topics, settle
from tests.faults.workload import chunks, take_units

pytestmark = [pytest.mark.faults, pytest.mark.slow]

EVENTS = 4000
STORE_RETRY = r"applying a batch to the store failed \(attempt \d+\)"
Offsets = dict[tuple[str, int], int]


async def caught_up(settings: Settings, views: ViewsProcess) -> None:
    ends = await topic_ends(settings.kafka.bootstrap_servers, data_topics(settings))
    await wait_store_reaches(views.store, ends, views, timeout_s=180)


async def kafka_group_offsets(settings: Settings) -> Offsets:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(settings.views.group_id)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in found.items() if meta.offset >= 0}


def not_past(kafka: Offsets, store: Offsets) -> dict[tuple[str, int], tuple[int, int]]:
    """Partitions whose Kafka group offset is past the store's (there must be none)."""
    return {tp: (offset, store.get(tp, 0)) for tp, offset in kafka.items() if offset > store.get(tp, 0)}


async def until_failing(
    publisher: Publisher, ledger: Ledger, batches: Iterator[Sequence[Event]], views: ViewsProcess, seen: int
) -> None:
    """Publish batch after batch until the builder has failed to write twice more than ``seen`` times."""
    for batch in batches:
        await publish_chunk(publisher, ledger, batch)
        if views.count(STORE_RETRY) >= seen + 2:
            return
        try:
            await views.wait_for_line(STORE_RETRY, timeout_s=15, at_least=seen + 2)
        except AssertionError:
            continue
        return
    raise AssertionError("the builder never failed to write; the fault did not bite:\n" + views.tail())


async def test_store_locked_then_disk_full(fault_stack: FaultStack, tmp_path: Path) -> None:
    started = time.monotonic()
    with maybe_tmpfs(tmp_path / "store", size_mb=64) as (tmpfs, tmpfs_state):
        settings = fault_settings(
            fault_stack.bootstrap_servers,
            fault_stack.registry_url,
            tmp_path,
            store={"url": f"sqlite:///{tmp_path / 'store' / 'views.db'}"},
        )
        await ensure_topics(settings)
        batches = iter(chunks(take_units(EVENTS, seed=404), 100))
        ledger = Ledger()
        details: dict[str, object] = {"tmpfs": tmpfs_state}
        views = ViewsProcess(settings, tmp_path)
        try:
            await views.wait_for_line(r"assigned \d+ partitions", timeout_s=120)
            async with Publisher(settings) as publisher:
                await feed(publisher, ledger, [next(batches) for _ in range(5)])
                await caught_up(settings, views)

                lock = HeldLock(views.store)  # A: locked
                try:
                    held = lock.offsets()
                    await until_failing(publisher, ledger, batches, views, views.count(STORE_RETRY))
                    assert lock.offsets() == held, "offsets moved while the store was locked"
                    assert not_past(await kafka_group_offsets(settings), held) == {}
                finally:
                    lock.release()
                await caught_up(settings, views)
                details["retries_after_lock"] = views.count(STORE_RETRY)

                limit = FileSizeLimit(views.pid, 4096)  # B: files may not grow
                try:
                    held = store_offsets(views.store)
                    await until_failing(publisher, ledger, batches, views, views.count(STORE_RETRY))
                    assert store_offsets(views.store) == held, "offsets moved while writes failed"
                    assert not_past(await kafka_group_offsets(settings), held) == {}
                finally:
                    limit.restore()
                await caught_up(settings, views)
                details["retries_after_fsize"] = views.count(STORE_RETRY)

                if tmpfs is not None:  # C: the disk is full
                    details["ballast_bytes"] = tmpfs.fill()
                    try:
                        held = store_offsets(views.store)
                        await until_failing(publisher, ledger, batches, views, views.count(STORE_RETRY))
                        assert store_offsets(views.store) == held, "offsets moved while the disk was full"
                        assert not_past(await kafka_group_offsets(settings), held) == {}
                    finally:
                        tmpfs.drain()
                    await caught_up(settings, views)
                    details["retries_after_enospc"] = views.count(STORE_RETRY)
                await feed(publisher, ledger, list(batches))
                await resend_pending(publisher, ledger)
            details["error_kinds"] = sorted({_kind(line) for line in views.lines if "store failed" in line})
            outcome = await settle(
                "4 store locked / file size limit / disk full",
                settings,
                ledger,
                views,
                started=started,
                details=details,
            )
        finally:
            views.kill()
    outcome.assert_exact(ledger)


def _kind(line: str) -> str:
    """The SQLite message of a logged store failure (``database is locked``, ``disk I/O error``...)."""
    return line.rsplit("failed: ", 1)[-1][:80]
