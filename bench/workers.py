"""Measuring workers, each run in a fresh process (``python -m bench.workers NAME``) so that one
measurement never inherits another's heap, threads or connections. Settings come from ``LGSP_*`` variables;
the last line printed is the result as JSON.

    views-rebuild   the views on an empty store, from the start of the topics until caught up
    raw-consume     an aiokafka consumer with the runner's fetch settings, reading the same topics to their end
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.consumer.kafka import consumer_config
from bus.settings import Settings
from bus.topics import TOPICS


async def views_rebuild(settings: Settings) -> dict[str, Any]:
    """``lgsp views run --until-caught-up`` in-process: seconds from start to caught up, and its stats."""
    from consumers.service import run_views

    started = time.perf_counter()
    cpu = time.process_time()
    stats = await run_views(settings, stop=asyncio.Event(), until_caught_up=True)
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "records": stats.records,
        "applied": stats.applied,
        "dead_lettered": stats.dead_lettered,
        "batches": stats.batches,
        "retries": stats.retries,
        "rebalances": stats.rebalances,
    }


async def raw_consume(settings: Settings) -> dict[str, Any]:
    """Every record of the catalog topics, fetched with the views runner's consumer settings, not decoded."""
    topics = [settings.topics.prefix + name for name in TOPICS]
    started = time.perf_counter()
    cpu = time.process_time()
    consumer = AIOKafkaConsumer(**consumer_config(settings, group_id=None))
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}
        records = size = batches = 0
        while remaining:
            fetched = await consumer.getmany(
                timeout_ms=settings.views.poll_timeout_ms, max_records=settings.views.max_batch_records
            )
            batches += 1 if fetched else 0
            for tp, batch in fetched.items():
                records += len(batch)
                size += sum(len(r.value) for r in batch)
                if batch[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "records": records,
        "value_bytes": size,
        "batches": batches,
    }


_WORKERS = {"views-rebuild": views_rebuild, "raw-consume": raw_consume}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("worker", choices=sorted(_WORKERS))
    args = parser.parse_args(argv)
    result = asyncio.run(_WORKERS[args.worker](Settings()))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
