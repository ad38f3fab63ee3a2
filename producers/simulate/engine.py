"""The simulation: a seeded, pure iterator of the events the simulated nation emits.

One ``random.Random(seed)`` drives everything, in a fixed order, and no wall clock is read: the same config
gives the same events. New documents and dossiers arrive as a Poisson process thinned by the office week
(:mod:`producers.simulate.clock`); each starts a process whose later events wait in a heap keyed by simulated
time; a monthly scheduler plans the periodic reports. Events come out in simulated-time order, except:

* late events: a non-final dossier snapshot held back and delivered just after the next version;
* duplicates (``duplicates``): an event from the recent past again, unchanged;
* invalid events (``bad_ratio``): see :mod:`producers.simulate.invalid`.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator
from typing import Final

from bus.agencies import AgencyCatalog, load_catalog
from bus.events import DossierSynced, Event
from producers.simulate.clock import DAY_MS, MEAN_ACTIVITY, activity, to_ms
from producers.simulate.config import Emission, EmissionKind, SimulationConfig
from producers.simulate.documents import DocumentPlanner
from producers.simulate.dossiers import DossierPlanner
from producers.simulate.factory import Factory
from producers.simulate.invalid import InvalidEvents
from producers.simulate.obligations import Obligation, load_obligations
from producers.simulate.process import Process
from producers.simulate.reports import ReportScheduler
from producers.simulate.targets import MINISTRIES_KEY, TargetTable, load_targets
from producers.simulate.truth import GroundTruth
from producers.simulate.world import Picker, SimProvince, World, build_world

RECENT_EVENTS: Final = 4096
"""How far back a duplicate may reach (in emitted events)."""
MAX_LATE_LAG: Final = 50
"""A held-back snapshot comes out at most this many emissions after its successor."""

_DOCUMENT: Final = 0
_DOSSIER: Final = 1


class Simulation(Iterator[Emission]):
    """Iterate to get :class:`Emission` values; ``truth`` counts what has been emitted so far (unless
    ``track_truth`` is False)."""

    def __init__(
        self,
        config: SimulationConfig,
        *,
        catalog: AgencyCatalog | None = None,
        targets: TargetTable | None = None,
        obligations: tuple[Obligation, ...] | None = None,
        track_truth: bool = True,
    ) -> None:
        self.config = config
        self._track_truth = track_truth
        self._rng = rng = random.Random(config.seed)  # noqa: S311 - a simulation, not secrets
        table = targets if targets is not None else load_targets(config.targets_path)
        self.world: World = build_world(catalog or load_catalog(), table, rng)
        self.factory = Factory(rng, validated=config.validated)
        self.truth = GroundTruth()
        start = to_ms(config.start)
        self._now = start
        self._documents = DocumentPlanner(self.world, rng, self.factory, config.scale)
        self._dossiers = DossierPlanner(self.world, rng, self.factory, config.scale)
        self._invalid = InvalidEvents(self.factory, config.defects)
        self._heap: list[tuple[int, int, Process]] = []
        self._sequence = itertools.count()
        self._roots, per_day = _roots(self.world)
        # thinning: candidates at the peak rate, each kept with probability activity(t)
        self._peak_gap_ms = DAY_MS * MEAN_ACTIVITY / (per_day * config.scale)
        self._arrival_clock = float(start)
        self._next_arrival = self._draw_arrival()
        self._recent: list[Event] = []
        self._recent_index = 0
        self._held: dict[str, Event] = {}
        self._release: list[tuple[int, int, Event]] = []
        self._emitted = 0
        self._keys = {code: agency.truth_key for code, agency in self.world.by_code.items()}
        self._duplicates = config.duplicates
        self._injected = config.duplicates + config.bad_ratio
        self._push(
            ReportScheduler(self.world, self.factory, obligations or load_obligations(), start, self._push)
        )

    def __iter__(self) -> Simulation:
        return self

    def __next__(self) -> Emission:
        emission = self._next()
        if self._track_truth:
            source = emission.event.meta.source
            key = self._keys.get(source)
            self.truth.record(emission, key if key is not None else _unknown_key(self.world, source))
        self._emitted += 1
        return emission

    def events(self) -> Iterator[Event]:
        """The events alone (what :func:`producers.simulate.generate` yields)."""
        for emission in self:
            yield emission.event

    @property
    def now_ms(self) -> int:
        """Simulated time of the latest real event, in epoch ms."""
        return self._now

    # --- choosing what comes next ---------------------------------------------------------------------------

    def _next(self) -> Emission:
        if self._release and self._release[0][0] <= self._emitted:
            return Emission(heapq.heappop(self._release)[2], EmissionKind.LATE)
        if self._injected:
            u = self._rng.random()
            if u < self._duplicates and self._recent:
                return Emission(self._rng.choice(self._recent), EmissionKind.DUPLICATE)
            if u < self._injected:
                invalid = self._invalid.make(self._now)
                if invalid is not None:
                    return invalid
        while True:
            event = self._advance()
            if event is not None:
                if self._injected:
                    self._remember(event)
                return Emission(event, EmissionKind.NEW)

    def _advance(self) -> Event | None:
        """The next real event in simulated time, or None when the step produced nothing to emit now."""
        if not self._heap or self._next_arrival <= self._heap[0][0]:
            at_ms = self._next_arrival
            self._next_arrival = self._draw_arrival()
            self._now = at_ms
            return self._start_entity(at_ms)
        heap = self._heap
        entry = heap[0]
        process = entry[2]
        self._now = entry[0]
        event = process.step()  # may push new processes, never earlier than this one
        next_ms = process.next_ms
        final = next_ms is None
        if heap[0] is not entry:  # pragma: no cover - pushes are never earlier, but stay safe
            heap.remove(entry)
            heapq.heapify(heap)
            self._push(process)
        elif next_ms is None:
            heapq.heappop(heap)
        else:  # one sift instead of a pop and a push
            heapq.heapreplace(heap, (next_ms, next(self._sequence), process))
        if isinstance(event, DossierSynced):
            return self._maybe_hold(event, final)
        return event

    def _start_entity(self, at_ms: int) -> Event | None:
        kind, province = self._roots.pick(self._rng)
        if kind == _DOCUMENT:
            sender = (
                province.senders.pick(self._rng) if province else self.world.ministry_senders.pick(self._rng)
            )
            document, feedback = self._documents.start(at_ms, sender)
            if feedback is not None:
                self._push(feedback)
            return document
        process = self._dossiers.start(at_ms, province)
        if process.next_ms != at_ms:  # a counter dossier waits for the office to open
            self._push(process)
            return None
        event = process.step()
        final = process.next_ms is None
        if not final:
            self._push(process)
        return self._maybe_hold(event, final)

    def _maybe_hold(self, event: DossierSynced, final: bool) -> Event | None:
        held = self._held.pop(event.dossier_code, None)
        if held is not None:  # its successor goes out now, so the held one may follow
            lag = self._rng.randint(1, MAX_LATE_LAG)
            heapq.heappush(self._release, (self._emitted + lag, self._next_sequence(), held))
            return event
        if not final and self._rng.random() < self.config.late_ratio:
            self._held[event.dossier_code] = event
            return None
        return event

    def _draw_arrival(self) -> int:
        rng = self._rng
        while True:
            self._arrival_clock += rng.expovariate(1.0) * self._peak_gap_ms
            at_ms = int(self._arrival_clock)
            if rng.random() < activity(at_ms):
                return at_ms

    def _push(self, process: Process) -> None:
        if process.next_ms is not None:
            heapq.heappush(self._heap, (process.next_ms, next(self._sequence), process))

    def _next_sequence(self) -> int:
        return next(self._sequence)

    def _remember(self, event: Event) -> None:
        self._invalid.latest[type(event)] = event
        if len(self._recent) < RECENT_EVENTS:
            self._recent.append(event)
        else:
            self._recent[self._recent_index] = event
            self._recent_index = (self._recent_index + 1) % RECENT_EVENTS


def _roots(world: World) -> tuple[Picker[tuple[int, SimProvince | None]], float]:
    """What a new arrival is (a document or a dossier) and where, weighted by the targets' daily volumes."""
    items: list[tuple[int, SimProvince | None]] = []
    weights: list[float] = []
    for province in world.provinces:
        items += [(_DOCUMENT, province), (_DOSSIER, province)]
        weights += [province.targets.documents_per_day, province.targets.dossiers_per_day]
    items += [(_DOCUMENT, None), (_DOSSIER, None)]
    weights += [world.ministry_targets.documents_per_day, world.ministry_targets.dossiers_per_day]
    return Picker(items, weights), sum(weights)


def _unknown_key(world: World, source: str) -> str:
    """Truth key of an agency outside the simulated world (an invalid event's made-up source)."""
    level1 = source.rsplit(".", 1)[-1]
    for province in world.provinces:
        if province.committee.code.endswith(level1):
            return province.code
    return MINISTRIES_KEY


def generate(config: SimulationConfig) -> Iterator[Event]:
    """The events of a run, endless: take what you need (``itertools.islice``).

    The same events as iterating :class:`Simulation` (same config, same events), without the ground-truth
    bookkeeping (about 15% of the work per event).
    """
    return Simulation(config, track_truth=False).events()
