"""``lgsp simulate``: the 34 provinces and the ministries publishing realistic traffic, seeded.

    from producers.simulate import SimulationConfig, Simulation, generate
    events = list(itertools.islice(generate(SimulationConfig(seed=7)), 10_000))

:class:`Simulation` yields :class:`Emission` values (the event and why it was emitted: new, late, duplicate,
invalid) and keeps a :class:`GroundTruth`; :func:`generate` yields the events alone. Rates are calibrated by
``producers/data/province_targets.csv`` (:mod:`producers.simulate.targets`).
"""

from producers.simulate.config import (
    ALL_DEFECTS,
    AVRO_ENCODABLE_DEFECTS,
    DEFAULT_SCALE,
    DEFAULT_START,
    Defect,
    Emission,
    EmissionKind,
    SimulationConfig,
)
from producers.simulate.engine import Simulation, generate
from producers.simulate.truth import GroundTruth

__all__ = [
    "ALL_DEFECTS",
    "AVRO_ENCODABLE_DEFECTS",
    "DEFAULT_SCALE",
    "DEFAULT_START",
    "Defect",
    "Emission",
    "EmissionKind",
    "GroundTruth",
    "Simulation",
    "SimulationConfig",
    "generate",
]
