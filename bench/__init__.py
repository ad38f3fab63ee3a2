"""Benchmarks of the bus, side by side with their baselines: ``lgsp bench`` (``make bench``).

The harness (this package) runs each part's measurements in turn, round after round, and records them:

    model.py       what a run is asked for (sizes, parts), what a part gives back
    stats.py       figures (rounds -> median, min, max), ratios, targets
    machine.py     machine facts, load, the commit   report.py     the one result writer: JSON + markdown
    stack.py       the stack to run on, topics and schemas
    procs.py       child processes: spawn, wait until ready, stop
    workers.py     measurements that run in a fresh process (views rebuilds, raw consumes)
    cpu_cases.py   in-process measurements by CPU time (serde, decode, signing)
    workload.py    the DossierSynced events of serde, signing, publish, ingress
    stub_registry.py  the in-process schema registry of the parts that need no stack
    keys.py        signing keys of the simulated publishers; signing raw records
    kafka_tools.py Kafka's own ProducerPerformance / ConsumerPerformance
    corpus.py      the rebuild corpus: simulated once, encoded, cached, sent raw and signed
    loadgen.py     a paced open-loop HTTP load generator (a separate process)
    wrk.py         wrk at saturation, with a Lua script
    parts/         serde, decode, signing, publish, rebuild, ingress, e2e, scaleout
    runner.py      what ``lgsp bench`` runs

Every figure is a part's; there are no standalone benchmark scripts (``kpi_calibration.py`` checks the
simulator's KPIs against its targets, it measures no speed).
"""
