"""Dossiers: each update of an administrative-procedure dossier is synchronised to the portal as a full
snapshot (DossierSynced) with a growing version.

Lifecycle: online dossiers are 1 registered, then 2 accepted (or 3 not accepted); counter and postal ones
start accepted. Then 4 processing, sometimes 5 supplement requested or 6 financial obligation requested (and
back to processing), then 9 resolved and 10 result returned; some are 7 withdrawn or 8 stopped. The due time
is the procedure's legal time in working days; a dossier is on time when it finishes no later than that.

The procedure comes from the catalog (``producers/data/procedures.json``) with its handling agency (its 2025
competent authority) and its online service level, which every dossier of it carries. Whether a dossier is
submitted online depends on that level, calibrated so that the province's online and full-process shares
match its targets (``procedures.online_propensity``); digitisation and on-time resolution are drawn per
dossier from the targets of its agency's province.
"""

from __future__ import annotations

import random
from datetime import date, datetime
from typing import Final

from bus.events import (
    ApplicantType,
    DossierStatus,
    DossierSynced,
    OnlineLevel,
    SubmissionChannel,
    make_dossier_code,
)
from producers.simulate.clock import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    add_working_days,
    local_date,
    office_time,
    to_datetime,
    working_days_between,
)
from producers.simulate.factory import Factory
from producers.simulate.procedures import NOT_ACCEPTED_RATE, Procedure, postal_given_offline
from producers.simulate.process import Delay, Process
from producers.simulate.world import SimAgency, SimProvince, World

WITHDRAWN_RATE: Final = 0.015
STOPPED_RATE: Final = 0.008
SUPPLEMENT_RATE: Final = 0.06
RETURNED_RATE: Final = 0.96
"""Of resolved dossiers, those whose result is handed over (10) rather than left waiting."""
MAX_DOSSIER_SPAN_MS: Final = 90 * DAY_MS
"""Every snapshot of a dossier comes within this time of its first one (tests rely on it)."""

_ACCEPT = Delay(3 * HOUR_MS, 1.0, 5 * MINUTE_MS, 3 * DAY_MS)
_START = Delay(2 * HOUR_MS, 1.0, 5 * MINUTE_MS, 2 * DAY_MS)
_OVERDUE = Delay(3 * DAY_MS, 0.9, HOUR_MS, 20 * DAY_MS)
_RETURN_ONLINE = Delay(30 * MINUTE_MS, 1.0, MINUTE_MS, 2 * DAY_MS)
_RETURN_COUNTER = Delay(DAY_MS, 1.0, 10 * MINUTE_MS, 10 * DAY_MS)
_SUPPLEMENT_WAIT = Delay(3 * DAY_MS, 0.8, 2 * HOUR_MS, 15 * DAY_MS)
"""How long an applicant takes to supplement a dossier; the due date moves by the working days it took."""

Snapshot = tuple[int, DossierStatus, int | None, int | None, int | None, bool | None]
"""(time, status, due, finished, returned, result digitised); times in epoch ms."""


class DossierProcess(Process):
    """The snapshots of one dossier, in time order."""

    __slots__ = (
        "_agency",
        "_applicant",
        "_channel",
        "_code",
        "_digitised",
        "_factory",
        "_fees_online",
        "_index",
        "_level",
        "_procedure",
        "_procedure_code",
        "_received",
        "_steps",
    )

    def __init__(
        self,
        factory: Factory,
        code: str,
        agency: SimAgency,
        procedure: Procedure,
        received: datetime,
        fixed: tuple[SubmissionChannel, OnlineLevel, ApplicantType, bool, bool],
        steps: list[Snapshot],
    ) -> None:
        super().__init__(steps[0][0])
        self._factory = factory
        self._code = code
        self._agency = agency
        self._procedure = procedure
        self._procedure_code = f"{procedure.number}.{_level1_suffix(agency)}"
        self._received = received
        self._channel, self._level, self._applicant, self._fees_online, self._digitised = fixed
        self._steps = steps
        self._index = 0

    @property
    def code(self) -> str:
        return self._code

    def step(self) -> DossierSynced:
        at_ms, status, due, finished, returned, result_digitised = self._steps[self._index]
        self._index += 1
        self.next_ms = self._steps[self._index][0] if self._index < len(self._steps) else None
        factory, agency, procedure = self._factory, self._agency, self._procedure
        meta = factory.meta(agency.code, at_ms)
        return factory.make(
            DossierSynced,
            meta=meta,
            dossier_code=self._code,
            procedure_code=self._procedure_code,
            procedure_name=procedure.name,
            sector_code=procedure.sector_code,
            sector_name=procedure.sector_name,
            processing_agency=agency.ref,
            province_code=agency.province,
            applicant_type=self._applicant,
            channel=self._channel,
            online_level=self._level,
            status=status,
            received_at=self._received,
            due_at=None if due is None else to_datetime(due),
            finished_at=None
            if finished is None
            else (meta.occurred_at if finished == at_ms else to_datetime(finished)),
            returned_at=None
            if returned is None
            else (meta.occurred_at if returned == at_ms else to_datetime(returned)),
            fees_paid_online=self._fees_online,
            digitised=self._digitised,
            version=self._index,
            result_digitised=result_digitised,
        )


def _level1_suffix(agency: SimAgency) -> str:
    # The procedure code ends with the code of the level that publishes it: 1.000494.000.00.00.H29
    return "000.00.00." + agency.code.rsplit(".", 1)[-1]


class DossierPlanner:
    """Starts dossiers: picks the procedure and agency, draws the outcome, plans every snapshot."""

    def __init__(self, world: World, rng: random.Random, factory: Factory, scale: float) -> None:
        self._world = world
        self._rng = rng
        self._factory = factory
        self._sequence_step = max(0.0, 1.0 / scale - 1.0)
        self._sequences: dict[str, tuple[date, int]] = {}

    def start(self, at_ms: int, province: SimProvince | None) -> DossierProcess:
        """A dossier arriving at ``at_ms`` at an agency of ``province`` (None: a ministry)."""
        rng = self._rng
        if province is not None:
            procedures, propensity = province.procedures, province.online_propensity
        else:
            procedures, propensity = self._world.ministry_procedures, self._world.ministry_online_propensity
        procedure, agency = procedures.pick(rng)
        targets = agency.targets
        level = procedure.online_service  # the service's level, whatever the channel of this dossier
        if rng.random() < propensity[level]:
            channel = SubmissionChannel.ONLINE
        else:
            postal = postal_given_offline(targets.online_share, targets.postal_share)
            channel = SubmissionChannel.POSTAL if rng.random() < postal else SubmissionChannel.COUNTER
        applicant = (
            ApplicantType.BUSINESS if rng.random() < procedure.business_share else ApplicantType.CITIZEN
        )
        digitised = rng.random() < targets.digitised_rate
        fees_online = (
            procedure.has_fee
            and channel is SubmissionChannel.ONLINE
            and (rng.random() < targets.fees_online_rate)
        )
        received_ms = at_ms if channel is SubmissionChannel.ONLINE else office_time(rng, at_ms)
        steps = _plan(rng, procedure, agency, channel, level, received_ms)
        return DossierProcess(
            self._factory,
            self._code(agency, received_ms),
            agency,
            procedure,
            to_datetime(received_ms),
            (channel, level, applicant, fees_online, digitised),
            steps,
        )

    def _code(self, agency: SimAgency, received_ms: int) -> str:
        day = local_date(received_ms)
        last_day, last = self._sequences.get(agency.code, (day, 0))
        if last_day != day:
            last = 0
        number = last + 1 + int(self._rng.expovariate(1.0) * self._sequence_step)
        self._sequences[agency.code] = (day, number)
        return make_dossier_code(agency.code, day, number)


def _plan(
    rng: random.Random,
    procedure: Procedure,
    agency: SimAgency,
    channel: SubmissionChannel,
    level: OnlineLevel,
    received: int,
) -> list[Snapshot]:
    targets = agency.targets
    steps: list[Snapshot] = []
    accepted = received
    if channel is SubmissionChannel.ONLINE:
        steps.append((received, DossierStatus.REGISTERED, None, None, None, None))
        accepted = office_time(rng, received + _ACCEPT.draw(rng))
        if rng.random() < NOT_ACCEPTED_RATE:
            return [*steps, (accepted, DossierStatus.NOT_ACCEPTED, None, None, None, None)]
    due = add_working_days(accepted, procedure.days)
    steps.append((accepted, DossierStatus.ACCEPTED, due, None, None, None))
    started = max(
        accepted + MINUTE_MS,
        min(office_time(rng, accepted + _START.draw(rng)), accepted + (due - accepted) // 4),
    )
    steps.append((started, DossierStatus.PROCESSING, due, None, None, None))
    u = rng.random()
    if u < WITHDRAWN_RATE + STOPPED_RATE:
        ended = started + int((due - started) * rng.uniform(0.1, 0.9))
        status = DossierStatus.WITHDRAWN if u < WITHDRAWN_RATE else DossierStatus.STOPPED
        return [*steps, (ended, status, due, None, None, None)]
    if rng.random() < targets.on_time_rate:
        finished = office_time(rng, started + int((due - started) * (0.15 + 0.85 * rng.random() ** 1.5)))
        finished = min(finished, due)
    else:
        finished = office_time(rng, due + _OVERDUE.draw(rng))
    if rng.random() < SUPPLEMENT_RATE:
        # The time limit stops while the applicant supplements (Decree 61/2018, art. 19 as amended): the
        # snapshots after it carry the extended due date, and the outcome keeps its place against it.
        requested = started + int((finished - started) * 0.3)
        resumed = office_time(rng, requested + _SUPPLEMENT_WAIT.draw(rng))
        extended = add_working_days(due, working_days_between(requested, resumed))
        steps.append((requested, DossierStatus.SUPPLEMENT_REQUESTED, due, None, None, None))
        steps.append((resumed, DossierStatus.PROCESSING, extended, None, None, None))
        finished = max(finished + extended - due, resumed + MINUTE_MS)
        started, due = resumed, extended
    steps.extend(_detours(rng, procedure, started, finished, due))
    result_digitised = rng.random() < targets.digitised_rate
    steps.append((finished, DossierStatus.RESOLVED, due, finished, None, result_digitised))
    if rng.random() < RETURNED_RATE:
        full_online = level is OnlineLevel.FULL and channel is SubmissionChannel.ONLINE
        hand_over = _RETURN_ONLINE if full_online else _RETURN_COUNTER
        returned = office_time(rng, finished + hand_over.draw(rng))
        steps.append((returned, DossierStatus.RETURNED, due, finished, returned, result_digitised))
    return steps


def _detours(
    rng: random.Random, procedure: Procedure, started: int, finished: int, due: int
) -> list[Snapshot]:
    """A financial obligation between processing (or its resumption) and resolution."""
    span = finished - started
    detours: list[Snapshot] = []
    if rng.random() < procedure.financial_obligation:
        detours.append(
            (started + int(span * 0.7), DossierStatus.FINANCIAL_OBLIGATION_REQUESTED, due, None, None, None)
        )
        detours.append((started + int(span * 0.85), DossierStatus.PROCESSING, due, None, None, None))
    return detours
