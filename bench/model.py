"""What a benchmark run is asked for (:class:`Sizes`), what every part gets (:class:`BenchContext`) and
what it gives back (:class:`PartResult`)."""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stack import StackInfo, with_prefix
from bench.stats import FigureSet, Ratio, Target
from bus.settings import Settings

PARTS = ("serde", "decode", "signing", "publish", "publish-file", "rebuild", "ingress", "e2e", "scaleout")
_DEFAULT_ROUNDS = {
    "serde": 5,
    "decode": 5,
    "signing": 5,
    "publish": 5,
    "publish-file": 5,
    "rebuild": 2,
    "ingress": 3,
    "e2e": 3,
    "scaleout": 1,
}

log = logging.getLogger("bench")


@dataclass(frozen=True)
class Sizes:
    """How big each part is. ``events`` and ``seconds`` given on the command line override every part's."""

    smoke: bool = False
    rounds: int | None = None
    serde_events: int = 20_000
    decode_per_type: int = 1_000
    decode_mixed: int = 10_000
    signing_events: int = 20_000
    publish_events: int = 20_000
    publish_chunk: int = 1_000
    publish_concurrency: int = 4
    publish_file_events: int = 50_000
    rebuild_events: int = 1_000_000
    scaleout_events: int = 200_000
    ingress_seconds: float = 10.0
    ingress_rates: tuple[int, ...] = (1_000, 2_000)
    ingress_batch: int = 500
    ingress_single_connections: int = 32
    ingress_batch_connections: int = 4
    e2e_seconds: float = 30.0
    e2e_warmup_seconds: float = 5.0
    e2e_rate: int = 1_000

    @classmethod
    def build(cls, *, smoke: bool, rounds: int | None, events: int | None, seconds: float | None) -> Sizes:
        sizes = cls.smoke_sized(rounds) if smoke else cls(rounds=rounds)
        if events is not None:
            sizes = dataclasses.replace(
                sizes,
                serde_events=events,
                signing_events=events,
                publish_events=events,
                publish_file_events=events,
                rebuild_events=events,
                scaleout_events=events,
            )
        if seconds is not None:
            sizes = dataclasses.replace(sizes, ingress_seconds=seconds, e2e_seconds=seconds)
        return sizes

    @classmethod
    def smoke_sized(cls, rounds: int | None) -> Sizes:
        """Each part in seconds: enough to exercise every code path and write well-formed results."""
        return cls(
            smoke=True,
            rounds=rounds or 1,
            serde_events=500,
            decode_per_type=50,
            decode_mixed=500,
            signing_events=2_000,
            publish_events=2_000,
            publish_chunk=500,
            publish_file_events=300,
            rebuild_events=3_000,
            scaleout_events=3_000,
            ingress_seconds=1.0,
            ingress_rates=(50,),
            ingress_batch=20,
            ingress_single_connections=2,
            ingress_batch_connections=1,
            e2e_seconds=2.0,
            e2e_warmup_seconds=0.5,
            e2e_rate=100,
        )

    def rounds_for(self, part: str) -> int:
        return self.rounds if self.rounds is not None else _DEFAULT_ROUNDS[part]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class BenchContext:
    """What every part gets: settings pointed at the stack, its sizes, a work directory for logs and files."""

    settings: Settings
    stack: StackInfo
    run_id: str
    sizes: Sizes
    work_dir: Path
    java: str
    classpath: str
    profile: bool = False
    keep_corpus: bool = False
    progress: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr))

    def prefix(self, part: str) -> str:
        """The topic prefix of one part of this run (``bench-<run id>-<part>.``)."""
        return f"bench-{self.run_id}-{part}."

    def part_settings(self, part: str) -> Settings:
        return with_prefix(self.settings, self.prefix(part))

    def say(self, message: str) -> None:
        self.progress(f"[bench {time.strftime('%H:%M:%S')}] {message}")


@dataclass
class PartResult:
    """One part's figures, ratios, targets and notes."""

    name: str
    title: str
    figures: FigureSet = field(default_factory=FigureSet)
    ratios: list[Ratio] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sizes: dict[str, Any] = field(default_factory=dict)
    rounds: int = 0
    status: str = "ok"
    error: str | None = None
    seconds: float = 0.0
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "error": self.error,
            "seconds": round(self.seconds, 1),
            "rounds": self.rounds,
            "sizes": self.sizes,
            "load_average_before": self.load_before,
            "load_average_after": self.load_after,
            "figures": [figure.to_json() for figure in self.figures],
            "ratios": [ratio.to_json(self.figures) for ratio in self.ratios],
            "targets": [target.to_json(self.figures) for target in self.targets],
            "notes": self.notes,
            "profile": self.profile,
        }
