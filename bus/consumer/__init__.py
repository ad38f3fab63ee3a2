"""The consumer runner: batches from a consumer group into a transactional sink, poison to ``<topic>.dlq``.

runner.py    the loop, rebalances, shutdown, until-caught-up      outcome.py  Outcome per record
decode.py    batch decoding and the verdict for each record         dlq.py      dead letters and headers
retry.py     backoff for transient errors                           types.py    Batch, BatchSink, Partition
service.py   wiring to aiokafka and the registry from settings      telemetry.py  metrics per batch
"""

from bus.consumer.outcome import DeadLetterReason, Outcome, Verdict
from bus.consumer.runner import ConsumerRunner, RunnerConfig, RunStats, install_stop_signals
from bus.consumer.types import Batch, BatchSink, Partition

__all__ = [
    "Batch",
    "BatchSink",
    "ConsumerRunner",
    "DeadLetterReason",
    "Outcome",
    "Partition",
    "RunStats",
    "RunnerConfig",
    "Verdict",
    "install_stop_signals",
]
