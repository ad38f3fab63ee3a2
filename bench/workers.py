"""Measuring workers, each run in a fresh process (``python -m bench.workers NAME``) so that no measurement
inherits another's heap, threads or connections. Settings come from ``LGSP_*`` variables; the result is the
last line printed, as JSON. The measurements themselves are ``bench/rebuild_bench.py``'s:

    views-rebuild   the views on an empty store under a new group, from the start of the topics to caught up
    views-parallel  the same by the partition-parallel rebuild in 2 processes (``lgsp views rebuild``)
    rebuild-n       ``lgsp views rebuild --processes N`` (``--processes``) into the store ``LGSP_STORE__URL``
                    names (PostgreSQL: members of one group; ``sqlite:///`` a new file in a temporary dir)
    raw-consume     aiokafka with the runner's consumer settings, beginning → end offsets, records counted
    raw-decode      the same, and every record decoded by the serde (schema ids resolved per batch)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import rebuild_bench
from bus.settings import Settings
from bus.topics import TOPICS


async def views_rebuild(settings: Settings) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-views-") as work:
        cpu = time.process_time()
        timing = await rebuild_bench.views_rebuild(settings, Path(work))
        cpu = time.process_time() - cpu
    return {
        "records": timing.records,
        "seconds": timing.seconds,
        "after_first_batch_s": timing.after_first_batch_s,
        "cpu_seconds": cpu,
    }


async def views_parallel(settings: Settings) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-views-") as work:
        timing = await rebuild_bench.views_rebuild_parallel(settings, Path(work), PARALLEL_PROCESSES)
    return {
        "records": timing.records,
        "seconds": timing.seconds,
        "cpu_seconds": timing.cpu_s,
        "processes": PARALLEL_PROCESSES,
    }


PARALLEL_PROCESSES = 2
"""Shards of the parallel rebuild: one per core of the 2-core machine the targets are set for."""


async def rebuild_n(settings: Settings, processes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-views-") as work:
        timing = await rebuild_bench.views_rebuild_parallel(settings, Path(work), processes)
    return {
        "records": timing.records,
        "seconds": timing.seconds,
        "cpu_seconds": timing.cpu_s,
        "processes": processes,
        "processed": timing.processed,
        "store": settings.store.url.split(":", 1)[0],
    }


async def raw(settings: Settings, *, decode: bool) -> dict[str, Any]:
    topics = [settings.topics.prefix + name for name in TOPICS]
    ends = await rebuild_bench.partitions_and_ends(settings, topics)
    cpu = time.process_time()
    timing = await rebuild_bench.raw_consume(settings, ends, decode=decode)
    return {"records": timing.records, "seconds": timing.seconds, "cpu_seconds": time.process_time() - cpu}


async def raw_consume(settings: Settings) -> dict[str, Any]:
    return await raw(settings, decode=False)


async def raw_decode(settings: Settings) -> dict[str, Any]:
    return await raw(settings, decode=True)


_WORKERS = {
    "views-rebuild": views_rebuild,
    "views-parallel": views_parallel,
    "raw-consume": raw_consume,
    "raw-decode": raw_decode,
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("worker", choices=sorted([*_WORKERS, "rebuild-n"]))
    parser.add_argument("--processes", type=int, default=PARALLEL_PROCESSES, help="rebuild-n: builders")
    args = parser.parse_args(argv)
    if args.worker == "rebuild-n":
        result = asyncio.run(rebuild_n(Settings(), args.processes))
    else:
        result = asyncio.run(_WORKERS[args.worker](Settings()))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
