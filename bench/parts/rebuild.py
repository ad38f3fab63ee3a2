"""Part 3, rebuild: the national views built from the start of the topics, vs a raw aiokafka consume of the
same topics, vs Kafka's own ``ConsumerPerformance``.

The corpus (≥ 1M simulated events by default) is produced once (:mod:`bench.corpus`: simulated, encoded,
cached, sent raw) and reused by every round, and by later runs with ``--keep-corpus``. Each round, each in
a fresh process:

* **views**: ``run_views(until_caught_up=True)`` (what ``lgsp views run --until-caught-up`` does) on a new,
  empty SQLite store under a new consumer group: group join, decode, validate, apply the four views and
  commit them with the offsets, until every record that was on the topics at start is applied;
* **raw aiokafka**: the runner's consumer settings (``bus.consumer.kafka.consumer_config``), partitions
  assigned, from the beginning to the end offsets; records are counted, not decoded;
* **ConsumerPerformance** (Java): one run per topic, rates over its summed fetch time.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from bench import corpus
from bench.kafka_tools import consumer_performance
from bench.model import BenchContext, PartResult
from bench.procs import BenchError, module_command, run_worker, settings_env
from bench.profiling import hot_paths, profiled
from bench.stack import delete_prefixed_topics, prepare_topics, with_prefix
from bench.stats import Figure, Ratio, Target
from bus.consumer.kafka import consumer_config
from bus.settings import Settings

_WORKER_TIMEOUT_S = 1_800.0


def run(ctx: BenchContext) -> PartResult:
    rounds = ctx.sizes.rounds_for("rebuild")
    count = ctx.sizes.rebuild_events
    prefix = corpus.corpus_prefix(count)
    settings = with_prefix(ctx.settings, prefix)
    result = PartResult(
        "rebuild",
        "Rebuild: views from the start of the topics vs raw aiokafka vs ConsumerPerformance",
        rounds=rounds,
    )
    try:
        topic_records = ensure_corpus(ctx, settings, count)
        result.sizes = {
            "events": sum(topic_records.values()),
            **{t.removeprefix(prefix): n for t, n in topic_records.items()},
        }
        _measure(ctx, settings, topic_records, result)
    finally:
        if not ctx.keep_corpus:
            asyncio.run(delete_prefixed_topics(ctx.settings, prefix))
    return result


def ensure_corpus(ctx: BenchContext, settings: Settings, count: int) -> dict[str, int]:
    """The corpus topics with exactly ``count`` records, produced now unless a previous run left them."""
    counts = asyncio.run(corpus.topic_counts(settings, settings.topics.prefix))
    if sum(counts.values()) == count:
        ctx.say(f"rebuild: reusing the corpus of {count:,} events under {settings.topics.prefix}")
        return counts
    if any(counts.values()):
        asyncio.run(delete_prefixed_topics(ctx.settings, settings.topics.prefix))
    path = corpus.cache_path(settings, count)
    if not path.exists():
        ctx.say(f"rebuild: simulating {count:,} events into {path} (once; later runs reuse it)")
        corpus.simulate_to_cache(path, count, ctx.say)
    asyncio.run(prepare_topics(settings))
    ctx.say(f"rebuild: sending {count:,} pre-encoded events to {settings.topics.prefix}*")
    sent = asyncio.run(corpus.send_cache(settings, path, ctx.say))
    counts = asyncio.run(corpus.topic_counts(settings, settings.topics.prefix))
    if sent != count or sum(counts.values()) != count:
        raise BenchError(
            f"corpus: sent {sent} records, the topics hold {sum(counts.values())}, wanted {count}"
        )
    return counts


def _measure(
    ctx: BenchContext, settings: Settings, topic_records: dict[str, int], result: PartResult
) -> None:
    total = sum(topic_records.values())
    figures = result.figures
    views = figures.add(Figure("views", "views rebuild (lgsp views run --until-caught-up)", "events/s"))
    raw = figures.add(
        Figure("raw_aiokafka", "raw aiokafka consume, same topics and fetch settings", "events/s")
    )
    java = figures.add(Figure("consumer_perf", "Kafka ConsumerPerformance (Java), same topics", "events/s"))
    fetch = consumer_config(settings, group_id=None)
    for index in range(ctx.sizes.rounds_for("rebuild")):
        outcome = _views_round(ctx, settings, f"views-rebuild-{index}")
        if outcome["records"] != total:
            raise BenchError(f"the views applied {outcome['records']} records, the corpus has {total}")
        views.add(total / outcome["seconds"])
        views.detail.setdefault("rounds", []).append(outcome)
        outcome = _raw_round(ctx, settings, f"raw-consume-{index}")
        raw.add(outcome["records"] / outcome["seconds"])
        raw.detail.setdefault("rounds", []).append(outcome)
        perf = consumer_performance(
            ctx.java,
            ctx.classpath,
            bootstrap_servers=settings.kafka.bootstrap_servers,
            topic_records=topic_records,
            fetch_size=int(fetch["max_partition_fetch_bytes"]),
            timeout_s=_WORKER_TIMEOUT_S,
        )
        java.add(perf.records_per_s)
        java.detail.setdefault("rounds", []).append(perf.to_json())
        ctx.say(
            f"rebuild round {index + 1}: views {views.samples[-1]:,.0f}/s, raw {raw.samples[-1]:,.0f}/s, "
            f"ConsumerPerformance {perf.records_per_s:,.0f}/s"
        )
    if ctx.profile:
        _profile_views(ctx, settings, result)
    result.ratios = [
        Ratio("views", "raw_aiokafka", "raw aiokafka"),
        Ratio("views", "consumer_perf", "ConsumerPerformance"),
        Ratio("raw_aiokafka", "consumer_perf", "ConsumerPerformance"),
    ]
    result.targets = [
        Target("rebuild ≥ 30k events/s", "views", ">=", 30_000, "events/s"),
        Target("rebuild ≥ 0.4× raw aiokafka consume", "views/raw_aiokafka", ">=", 0.4, "×"),
    ]
    result.notes += [
        "views: from process start of the consumer (group join included) to caught up, on a fresh SQLite store; "
        "raw aiokafka: from consumer start to the end offsets, records not decoded; "
        "ConsumerPerformance: records over its fetch time (group join excluded), one topic after another.",
        f"Consumer settings (views and raw): max_partition_fetch_bytes {fetch['max_partition_fetch_bytes']}, "
        f"fetch_max_bytes {fetch['fetch_max_bytes']}, fetch_max_wait_ms {fetch['fetch_max_wait_ms']}, "
        f"batches of ≤ {settings.views.max_batch_records} records.",
    ]


def _views_round(
    ctx: BenchContext, settings: Settings, name: str, profile: Path | None = None
) -> dict[str, Any]:
    """One views rebuild in a fresh process, on a fresh store, under a new consumer group."""
    store = ctx.work_dir / name / "views.db"
    env = settings_env(
        settings, STORE__URL=f"sqlite:///{store}", VIEWS__GROUP_ID=f"bench-views-{uuid.uuid4().hex[:10]}"
    )
    command = module_command("bench.workers", "views-rebuild")
    if profile is not None:
        command = profiled(command, profile)
    return run_worker(name, command, env, ctx.work_dir, _WORKER_TIMEOUT_S)


def _raw_round(ctx: BenchContext, settings: Settings, name: str) -> dict[str, Any]:
    command = module_command("bench.workers", "raw-consume")
    return run_worker(name, command, settings_env(settings), ctx.work_dir, _WORKER_TIMEOUT_S)


def _profile_views(ctx: BenchContext, settings: Settings, result: PartResult) -> None:
    """One more views rebuild, under py-spy (not counted: sampling slows it down)."""
    raw = ctx.work_dir / "rebuild-views.pyspy.txt"
    outcome = _views_round(ctx, settings, "views-rebuild-profiled", raw)
    result.profile += [
        f"views rebuild under py-spy (not counted): {outcome['records'] / outcome['seconds']:,.0f} events/s",
        *hot_paths(raw),
    ]
