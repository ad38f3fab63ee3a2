"""Part 3, rebuild: the national views built from the start of the topics, vs a raw aiokafka consume of the
same topics, vs Kafka's own ``ConsumerPerformance``.

The corpus (1M simulated events by default) is produced once (:mod:`bench.corpus`: simulated, encoded,
cached on disk, sent raw) and read by every round; ``--keep-corpus`` leaves its topics for the next run.
Each round runs, each in a fresh process (:mod:`bench.workers`, measuring with ``bench/rebuild_bench.py``):

* **views**: the view builder (consumer group, decode, validate, four views, one SQLite transaction per
  batch with the offsets) on a new, empty store under a new group, from the start until caught up; timed
  from consumer start (group join included);
* **views, partition-parallel**: ``lgsp views rebuild`` in 2 processes (:mod:`consumers.rebuild`: shards of
  the partitions built side by side, then merged into one new store), timed from its start (processes
  spawned, shards built and merged); the issue's targets are judged on it;
* **raw aiokafka**: the runner's consumer settings, partitions assigned, beginning → end offsets, records
  counted, not decoded;
* **raw aiokafka + decode**: the same, every record decoded by our serde (the share of the work that comes
  before any view sees an event);
* **ConsumerPerformance** (Java): one run per topic (it reads one topic at a time), records over the summed
  fetch time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bench import corpus
from bench.kafka_tools import consumer_performance
from bench.model import BenchContext, PartResult
from bench.procs import BenchError, module_command, run_worker, settings_env, spawn
from bench.profiling import hot_paths, sampling
from bench.stack import delete_prefixed_topics, prepare_topics, with_prefix
from bench.stats import Figure, Ratio, Target
from bus.consumer.kafka import consumer_config
from bus.settings import Settings

_WORKER_TIMEOUT_S = 3_600.0
_PROFILE_WARMUP_S = 8.0
_PROFILE_S = 60.0
TITLE = "Rebuild: views from the start of the topics vs raw aiokafka vs ConsumerPerformance"


def run(ctx: BenchContext) -> PartResult:
    count = ctx.sizes.rebuild_events
    prefix = corpus.corpus_prefix(count)
    settings = with_prefix(ctx.settings, prefix)
    result = PartResult("rebuild", TITLE, rounds=ctx.sizes.rounds_for("rebuild"))
    try:
        topic_records = ensure_corpus(ctx, settings, count)
        result.sizes = {
            "events": sum(topic_records.values()),
            **{topic.removeprefix(prefix): n for topic, n in topic_records.items()},
        }
        _measure(ctx, settings, topic_records, result)
    finally:
        if not ctx.keep_corpus:
            asyncio.run(delete_prefixed_topics(ctx.settings, prefix))
    return result


def ensure_corpus(ctx: BenchContext, settings: Settings, count: int) -> dict[str, int]:
    """The corpus topics with exactly ``count`` records, produced now unless a previous run left them.

    A damaged or wrong-sized cache file is deleted and simulated again, once.
    """
    prefix = settings.topics.prefix
    counts = asyncio.run(corpus.topic_counts(settings, prefix))
    if sum(counts.values()) == count:
        ctx.say(f"rebuild: reusing the corpus of {count:,} events under {prefix}")
        return counts
    for attempt in (1, 2):
        try:
            return _produce_corpus(ctx, settings, count)
        except corpus.CorpusError as exc:
            if attempt == 2:
                raise
            ctx.say(f"rebuild: {exc}; simulating it again")
            corpus.cache_path(settings, count).unlink(missing_ok=True)
    raise AssertionError("unreachable")  # pragma: no cover


def _produce_corpus(ctx: BenchContext, settings: Settings, count: int) -> dict[str, int]:
    prefix = settings.topics.prefix
    asyncio.run(delete_prefixed_topics(ctx.settings, prefix))
    path = corpus.cache_path(settings, count)
    if not path.exists():
        ctx.say(f"rebuild: simulating {count:,} events into {path} (once; later runs reuse the file)")
        corpus.simulate_to_cache(path, count, ctx.say)
    asyncio.run(prepare_topics(settings))
    ctx.say(f"rebuild: sending {count:,} pre-encoded events to {prefix}*")
    sent = asyncio.run(corpus.send_cache(settings, path, ctx.say))
    if sent != count:
        raise corpus.CorpusError(f"{path} holds {sent} records, not {count}")
    counts = asyncio.run(corpus.topic_counts(settings, prefix))
    if sum(counts.values()) != count:
        raise BenchError(f"corpus: sent {sent} records, the topics hold {sum(counts.values())}")
    return counts


def _measure(
    ctx: BenchContext, settings: Settings, topic_records: dict[str, int], result: PartResult
) -> None:
    total = sum(topic_records.values())
    figures = result.figures
    views = figures.add(Figure("views", "views rebuild, 1 process (group join → caught up)", "events/s"))
    parallel = figures.add(
        Figure("views_parallel", "views rebuild, 2 processes (`lgsp views rebuild`)", "events/s")
    )
    raw = figures.add(
        Figure("raw_aiokafka", "raw aiokafka consume, same topics and fetch settings", "events/s")
    )
    decode = figures.add(Figure("raw_decode", "raw aiokafka consume + serde decode", "events/s"))
    java = figures.add(Figure("consumer_perf", "Kafka ConsumerPerformance (Java), same topics", "events/s"))
    fetch = consumer_config(settings, group_id=None)
    for index in range(result.rounds):
        outcome = _views_round(ctx, settings, f"views-rebuild-{index}")
        if outcome["records"] != total:
            raise BenchError(f"the views applied {outcome['records']} records, the corpus has {total}")
        _add(views, outcome)
        sharded = run_worker(
            f"views-parallel-{index}",
            module_command("bench.workers", "views-parallel"),
            settings_env(settings),
            ctx.work_dir,
            _WORKER_TIMEOUT_S,
        )
        if sharded["records"] != total:
            raise BenchError(f"the parallel rebuild applied {sharded['records']} records, not {total}")
        _add(parallel, sharded)
        _add(raw, _raw_round(ctx, settings, f"raw-consume-{index}", "raw-consume"))
        if index == 0:  # a decomposition aid (decode alone), not a contender: one round is enough
            _add(decode, _raw_round(ctx, settings, f"raw-decode-{index}", "raw-decode"))
        perf = consumer_performance(
            ctx.java,
            ctx.classpath,
            kafka=settings.kafka,
            command_config=ctx.work_dir / "kafka-client.properties",
            topic_records=topic_records,
            fetch_size=int(fetch["max_partition_fetch_bytes"]),
            timeout_s=_WORKER_TIMEOUT_S,
        )
        java.add(perf.records_per_s)
        java.detail.setdefault("rounds", []).append(perf.to_json())
        ctx.say(
            f"rebuild round {index + 1}: views {views.samples[-1]:,.0f}/s, "
            f"parallel {parallel.samples[-1]:,.0f}/s, raw {raw.samples[-1]:,.0f}/s, "
            f"raw+decode {decode.samples[-1]:,.0f}/s, ConsumerPerformance {perf.records_per_s:,.0f}/s"
        )
    if ctx.profile:
        _profile_views(ctx, settings, result)
    result.ratios = [
        Ratio("views_parallel", "raw_aiokafka", "raw aiokafka"),
        Ratio("views_parallel", "views", "1 process"),
        Ratio("views", "raw_aiokafka", "raw aiokafka"),
        Ratio("views", "raw_decode", "raw aiokafka + decode"),
        Ratio("views", "consumer_perf", "ConsumerPerformance"),
        Ratio("raw_decode", "raw_aiokafka", "raw aiokafka"),
        Ratio("raw_aiokafka", "consumer_perf", "ConsumerPerformance"),
    ]
    result.targets = [
        Target("rebuild ≥ 30k events/s", "views_parallel", ">=", 30_000, "events/s"),
        Target("rebuild ≥ 0.4× raw aiokafka consume", "views_parallel/raw_aiokafka", ">=", 0.4, "×"),
    ]
    result.notes += [
        "views: timed from consumer start (group join included) to caught up, on a fresh SQLite store and a "
        "new group; its rate after the first batch (join excluded) is in the JSON. views, 2 processes: "
        "`lgsp views rebuild --processes 2` from its start (shard processes spawned, built, merged) to the "
        "merged store; its CPU seconds (shards included) are in the JSON. raw: from consumer "
        "start to the end offsets; raw + decode (first round only: it splits the views' cost, it is not a "
        "contender). ConsumerPerformance: records over its fetch time (join excluded), topic by topic.",
        f"Consumer settings (views and raw): max_partition_fetch_bytes {fetch['max_partition_fetch_bytes']}, "
        f"fetch_max_bytes {fetch['fetch_max_bytes']}, fetch_max_wait_ms {fetch['fetch_max_wait_ms']}, "
        f"batches of ≤ {settings.views.max_batch_records} records. Each measurement in a fresh process.",
    ]


def _add(figure: Figure, outcome: dict[str, Any]) -> None:
    figure.add(outcome["records"] / outcome["seconds"])
    figure.detail.setdefault("rounds", []).append(outcome)


def _views_round(ctx: BenchContext, settings: Settings, name: str) -> dict[str, Any]:
    """One views rebuild in a fresh process, on a fresh store, under a new consumer group."""
    env = settings_env(settings, VIEWS__GROUP_ID=f"bench-views-{uuid.uuid4().hex[:10]}")
    command = module_command("bench.workers", "views-rebuild")
    return run_worker(name, command, env, ctx.work_dir, _WORKER_TIMEOUT_S)


def _raw_round(ctx: BenchContext, settings: Settings, name: str, worker: str) -> dict[str, Any]:
    command = module_command("bench.workers", worker)
    return run_worker(name, command, settings_env(settings), ctx.work_dir, _WORKER_TIMEOUT_S)


def _profile_views(ctx: BenchContext, settings: Settings, result: PartResult) -> None:
    """py-spy on one more views rebuild, for its first ``_PROFILE_S`` seconds of steady work (not counted)."""
    raw = ctx.work_dir / "rebuild-views.pyspy.txt"
    env = settings_env(settings, VIEWS__GROUP_ID=f"bench-views-{uuid.uuid4().hex[:10]}")
    child = spawn(
        "views-rebuild-profiled", module_command("bench.workers", "views-rebuild"), env, ctx.work_dir
    )
    try:
        time.sleep(_PROFILE_WARMUP_S)  # let it import, join and start applying: the profile is of steady work
        if not child.alive():
            result.profile.append(
                "the views rebuild finished before its profile could start: corpus too small"
            )
            return
        with sampling(child.pid, _PROFILE_S, raw) as available:
            if not available:
                result.profile.append("py-spy is not installed (pip install py-spy); no profile")
                return
    finally:
        child.stop()
    result.profile += [f"views rebuild, {_PROFILE_S:.0f} s of it under py-spy (all threads, wall clock):"]
    result.profile += hot_paths(raw)
