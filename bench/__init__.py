"""Benchmarks of the bus, side by side with their baselines: ``lgsp bench`` (``make bench``).

The harness (this package) runs each part's measurements in turn, round after round, and records them:

    stats.py       figures (rounds -> median, min, max), ratios, targets
    machine.py     machine facts and load            report.py     the JSON and the markdown table
    stack.py       the stack to run on, topics and schemas
    procs.py       child processes: spawn, wait until ready, stop
    kafka_tools.py Kafka's own ProducerPerformance / ConsumerPerformance
    corpus.py      the rebuild corpus: simulated once, encoded, cached, sent raw
    loadgen.py     a paced open-loop HTTP load generator (a separate process)
    wrk.py         wrk at saturation, with a Lua script
    parts/         serde, publish, rebuild, ingress, e2e
    runner.py      what ``lgsp bench`` runs

``serde_bench.py``, ``publish_bench.py``, ``rebuild_bench.py`` and ``ingress_bench.py`` are the components'
own scripts (their owners keep them); the parts reuse what they export.
"""
