"""Documents: an agency sends an official document (DocumentSent), each recipient reports back as it handles
it (DocumentStatusChanged 01 arrived → 03 accepted → 04 assigned → 05 processing → 06 finished; some 02
rejected; a recalled document gets 13, then 15 or 16).

Paper-only documents never travel over the axis, so they have no status feedback. DocumentSent v2's fields:
a share of the documents sent to a single agency reply to the last one that agency sent the sender
(``response_for``); the signer's position gives the signing authority (``vocab.SIGNING_AUTHORITY``); a
recalled document is first revoked by its sender (a REVOKE under its own id, naming it and the reason), and
an UPDATE says why and names the sender's previous document. Numbers grow per agency,
year and document type, starting at sim start where a real register would be by then, and advancing by about
what a real register of that agency would have numbered in between.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from typing import Final

from bus.events import (
    AgencyRef,
    BusinessType,
    DocumentForm,
    DocumentSent,
    DocumentStatus,
    DocumentStatusChanged,
    Event,
    Priority,
    make_document_id,
)
from producers.simulate import vocab
from producers.simulate.clock import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, local_date, office_time
from producers.simulate.factory import Factory
from producers.simulate.process import Delay, Process
from producers.simulate.world import Picker, SimAgency, World

_KIND_INDEX: Final = {"province_committee": 0, "department": 1, "ministry": 2}
_DOCUMENT_TYPES: Final = tuple(
    Picker(vocab.DOCUMENT_TYPES, [t.weights[i] for t in vocab.DOCUMENT_TYPES]) for i in range(3)
)
_TYPE_SHARE: Final = tuple(
    {t.code: t.weights[i] / sum(x.weights[i] for x in vocab.DOCUMENT_TYPES) for t in vocab.DOCUMENT_TYPES}
    for i in range(3)
)
_CONG_DIEN: Final = "19"
_CONG_VAN: Final = "18"
_CONG_VAN_PRIORITY: Final = Picker(
    (Priority.NORMAL, Priority.URGENT, Priority.VERY_URGENT, Priority.FLASH), (86, 10, 3, 1)
)
_FLASH_PRIORITY: Final = Picker((Priority.FLASH, Priority.VERY_URGENT), (60, 40))
_ATTACHMENTS: Final = Picker((0, 1, 2, 3, 4, 5), (4, 60, 20, 10, 4, 2))

_ARRIVAL = Delay(90 * SECOND_MS, 1.0, 2 * SECOND_MS, 2 * HOUR_MS)
_ACCEPT = Delay(40 * MINUTE_MS, 1.0, MINUTE_MS, 3 * DAY_MS)
_REJECT = Delay(HOUR_MS, 1.0, MINUTE_MS, 3 * DAY_MS)
_ASSIGN = Delay(2 * HOUR_MS, 1.0, 5 * MINUTE_MS, 5 * DAY_MS)
_PROCESS = Delay(3 * HOUR_MS, 1.0, 5 * MINUTE_MS, 5 * DAY_MS)
_FINISH = Delay(36 * HOUR_MS, 1.1, HOUR_MS, 30 * DAY_MS)
_RECALL = Delay(3 * HOUR_MS, 1.0, 10 * MINUTE_MS, 3 * DAY_MS)
_RECALL_ANSWER = Delay(HOUR_MS, 1.0, MINUTE_MS, 2 * DAY_MS)
_LOG_ATTACHMENT: Final = math.log(350_000)

REJECT_RATE: Final = 0.015
RECALL_RATE: Final = 0.012
RECALL_REFUSED_RATE: Final = 0.08
ASSIGN_RATE: Final = 0.85
PROCESS_RATE: Final = 0.8
FINISH_RATE: Final = 0.75
DUE_DATE_RATE: Final = 0.25
UPDATE_RATE: Final = 0.005
REPLY_RATE: Final = 0.3
"""Of the documents sent to one agency that has sent the sender a document before, the share replying to the
last of those (illustrative: no published share of replies)."""
SIGNED_PREVIOUS_DAY_RATE: Final = 0.2
MAX_DOCUMENT_SPAN_MS: Final = 60 * DAY_MS
"""No status feedback comes later than this after the document was sent."""

Step = tuple[int, AgencyRef, DocumentStatus | None]
"""(time, agency, status); status None is the sender's revocation of the document (a DocumentSent REVOKE)."""


class DocumentProcess(Process):
    """The status feedback of one document, and its sender's revocation if recalled, in time order."""

    __slots__ = ("_document", "_factory", "_index", "_reason", "_steps")

    def __init__(self, factory: Factory, document: DocumentSent, steps: list[Step], reason: str) -> None:
        super().__init__(steps[0][0] if steps else None)
        self._factory = factory
        self._document = document
        self._steps = steps
        self._reason = reason
        self._index = 0

    def step(self) -> Event:
        at_ms, agency, status = self._steps[self._index]
        self._index += 1
        self.next_ms = self._steps[self._index][0] if self._index < len(self._steps) else None
        if status is None:
            return self._revocation(at_ms)
        return self._feedback(at_ms, agency, status)

    def _revocation(self, at_ms: int) -> DocumentSent:
        document, factory = self._document, self._factory
        values = dict(document.__dict__)
        values.update(
            meta=factory.meta(document.sender.code, at_ms),
            business_type=BusinessType.REVOKE,
            response_for=None,
            referenced_document_id=document.document_id,
            business_reason=self._reason,
        )
        return factory.make(DocumentSent, **values)

    def _feedback(self, at_ms: int, recipient: AgencyRef, status: DocumentStatus) -> DocumentStatusChanged:
        factory = self._factory
        meta = factory.meta(recipient.code, at_ms)
        return factory.make(
            DocumentStatusChanged,
            meta=meta,
            document_id=self._document.document_id,
            reporting_agency=recipient,
            status=status,
            description=_describe(factory.rng, status),
            status_at=meta.occurred_at,
        )


_REJECTION_REASONS: Final = Picker(vocab.REJECTION_REASONS, (4, 3, 2, 1))
_REVOCATION_REASONS: Final = Picker(vocab.REVOCATION_REASONS, (4, 3, 2, 1))
_UPDATE_REASONS: Final = Picker(vocab.UPDATE_REASONS, (3, 2, 1))


def _describe(rng: random.Random, status: DocumentStatus) -> str | None:
    if status is DocumentStatus.REJECTED:
        return _REJECTION_REASONS.pick(rng)
    # by the symbol: hashing an Enum member runs Enum.__hash__ in Python, ten times slower than a str's
    return vocab.STATUS_DESCRIPTIONS.get(status._value_)


class DocumentPlanner:
    """Starts documents: the DocumentSent event now, and the process of its status feedback."""

    def __init__(self, world: World, rng: random.Random, factory: Factory, scale: float) -> None:
        self._world = world
        self._rng = rng
        self._factory = factory
        self._scale = scale
        self._numbers: dict[tuple[str, int, str], int] = {}
        self._last_to: dict[tuple[str, str], str] = {}
        """(recipient, sender) -> the id of the last document the sender sent that recipient alone."""
        self._last_from: dict[str, str] = {}
        """sender -> the id of its last NEW document (what an UPDATE updates)."""

    def start(self, at_ms: int, sender: SimAgency) -> tuple[DocumentSent, DocumentProcess | None]:
        """A document ``sender`` sends at ``at_ms``, and its status feedback (None for paper-only)."""
        rng = self._rng
        kind = _KIND_INDEX.get(sender.kind, 1)
        doc_type = _DOCUMENT_TYPES[kind].pick(rng)
        sent_on = local_date(at_ms)
        promulgated = sent_on - timedelta(days=1) if rng.random() < SIGNED_PREVIOUS_DAY_RATE else sent_on
        number = str(self._next_number(sender, doc_type, promulgated, kind))
        notation = _notation(rng, sender, doc_type)
        recipients = _recipients(rng, self._world, sender, doc_type)
        form = _form(rng, sender)
        electronic = form is not DocumentForm.PAPER_ONLY
        attachments = _ATTACHMENTS.pick(rng) if electronic else 0
        signer = sender.signers.pick(rng)
        document_id = make_document_id(sender.code, promulgated, number, notation)
        business_type = BusinessType.UPDATE if rng.random() < UPDATE_RATE else BusinessType.NEW
        response_for = self._reply_to(sender, recipients, document_id)
        updated = self._last_from.get(sender.code) if business_type is BusinessType.UPDATE else None
        document = self._factory.make(
            DocumentSent,
            meta=self._factory.meta(sender.code, at_ms),
            document_id=document_id,
            sender=sender.ref,
            recipients=recipients,
            code_number=number,
            code_notation=notation,
            promulgation_place=sender.place,
            promulgation_date=promulgated,
            document_type_code=doc_type.code,
            document_type_name=doc_type.name,
            subject=_subject(rng, doc_type, promulgated.year),
            signer_position=signer.position,
            signer_name=signer.name,
            due_date=promulgated + timedelta(days=rng.randint(3, 15))
            if rng.random() < DUE_DATE_RATE
            else None,
            priority=_priority(rng, doc_type),
            steering=doc_type.steering or (kind != 1 and doc_type.code == _CONG_VAN and rng.random() < 0.12),
            business_type=business_type,
            attachment_count=attachments,
            attachment_bytes=_attachment_bytes(rng, attachments),
            digitally_signed=electronic and rng.random() < sender.targets.signed_rate,
            form=form,
            response_for=response_for,
            signing_authority=signer.authority,
            referenced_document_id=updated,
            business_reason=_UPDATE_REASONS.pick(rng) if business_type is BusinessType.UPDATE else None,
        )
        if business_type is BusinessType.NEW:
            self._last_from[sender.code] = document_id
        if not electronic:
            return document, None
        steps = _feedback(rng, at_ms, sender.ref, recipients)
        return document, DocumentProcess(self._factory, document, steps, _REVOCATION_REASONS.pick(rng))

    def _reply_to(self, sender: SimAgency, recipients: tuple[AgencyRef, ...], document_id: str) -> str | None:
        """The last document ``recipients[0]`` sent ``sender`` alone, if this one (to it alone) replies."""
        if len(recipients) != 1:
            return None
        recipient = recipients[0].code
        earlier = self._last_to.get((sender.code, recipient))
        self._last_to[(recipient, sender.code)] = document_id
        if earlier is None or earlier == document_id or self._rng.random() >= REPLY_RATE:
            return None
        return earlier

    def _next_number(self, sender: SimAgency, doc_type: vocab.DocumentType, on: date, kind: int) -> int:
        """The next number of the sender's register for this type and year: a register numbers every document
        the agency issues, the simulation sends only some of them, so numbers skip ahead in between."""
        key = (sender.code, on.year, doc_type.code)
        last = self._numbers.get(key)
        if last is None:  # where the real register would be on this day of the year, give or take a fifth
            per_day = sender.register_per_day * _TYPE_SHARE[kind][doc_type.code]
            last = int(on.timetuple().tm_yday * per_day * self._rng.uniform(0.8, 1.2))
        skipped = max(0.0, sender.register_per_day / (sender.documents_per_day * self._scale) - 1.0)
        number = last + 1 + int(self._rng.expovariate(1.0) * skipped)
        self._numbers[key] = number
        return number


def _notation(rng: random.Random, sender: SimAgency, doc_type: vocab.DocumentType) -> str:
    if doc_type.abbreviation is None:  # Công văn: agency, then the drafting unit (123/UBND-KT)
        return f"{sender.abbreviation}-{rng.choice(sender.drafting_units)}"
    return f"{doc_type.abbreviation}-{sender.abbreviation}"


def _subject(rng: random.Random, doc_type: vocab.DocumentType, year: int) -> str:
    template = rng.choice(doc_type.subjects)
    return template.format(
        action=rng.choice(vocab.CONG_VAN_ACTIONS),
        topic=rng.choice(vocab.TOPICS),
        hazard=rng.choice(vocab.HAZARDS),
        year=year,
    )


def _priority(rng: random.Random, doc_type: vocab.DocumentType) -> Priority:
    if doc_type.code == _CONG_DIEN:
        return _FLASH_PRIORITY.pick(rng)
    if doc_type.code == _CONG_VAN:
        return _CONG_VAN_PRIORITY.pick(rng)
    return doc_type.priority


def _form(rng: random.Random, sender: SimAgency) -> DocumentForm:
    targets = sender.targets
    if rng.random() >= targets.electronic_rate:
        return DocumentForm.PAPER_ONLY
    if rng.random() < targets.dual_form_share:
        return DocumentForm.ELECTRONIC_AND_PAPER
    return DocumentForm.ELECTRONIC_ONLY


def _attachment_bytes(rng: random.Random, count: int) -> int:
    return sum(int(rng.lognormvariate(_LOG_ATTACHMENT, 0.9)) + 1 for _ in range(count))


# --- recipients ---------------------------------------------------------------------------------------------


def _recipients(
    rng: random.Random, world: World, sender: SimAgency, doc_type: vocab.DocumentType
) -> tuple[AgencyRef, ...]:
    if sender.kind == "ministry":
        chosen = _from_ministry(rng, world, sender, doc_type)
    elif sender.kind == "province_committee":
        chosen = _from_committee(rng, world, sender, doc_type)
    else:
        chosen = _from_department(rng, world, sender)
    unique = {a.code: a for a in chosen if a.code != sender.code}
    if not unique:  # every draw hit the sender itself: send to the Government Office (or another ministry)
        fallback = next(m for m in (world.by_level1.get("G22"), *world.ministries) if m and m is not sender)
        unique = {fallback.code: fallback}
    return tuple(a.ref for a in unique.values())


def _from_ministry(
    rng: random.Random, world: World, sender: SimAgency, doc_type: vocab.DocumentType
) -> list[SimAgency]:
    committees = world.committees
    u = rng.random()
    if doc_type.code == _CONG_DIEN or u < 0.15:
        return list(committees)
    if u < 0.50:
        return [world.by_level1.get("G22", sender) if rng.random() < 0.4 else rng.choice(world.ministries)]
    if u < 0.75:
        return [rng.choice(committees)]
    if u < 0.90:
        return rng.sample(committees, rng.randint(2, 6))
    return rng.sample(list(world.ministries), rng.randint(2, 5))


def _from_committee(
    rng: random.Random, world: World, sender: SimAgency, doc_type: vocab.DocumentType
) -> list[SimAgency]:
    departments = world.province_of[sender.code].departments
    u = rng.random()
    if doc_type.code == _CONG_DIEN or u < 0.15:
        return list(departments)
    if u < 0.40:
        return [rng.choice(departments)]
    if u < 0.75:
        return rng.sample(list(departments), rng.randint(2, min(5, len(departments))))
    if u < 0.92:
        government_office = world.by_level1.get("G22")
        return [
            government_office if government_office and rng.random() < 0.5 else rng.choice(world.ministries)
        ]
    return [rng.choice(world.committees)]


def _from_department(rng: random.Random, world: World, sender: SimAgency) -> list[SimAgency]:
    province = world.province_of[sender.code]
    committee, departments = province.committee, province.departments
    u = rng.random()
    if u < 0.55:
        return [committee]
    if u < 0.75:
        return [rng.choice(departments)]
    if u < 0.85:
        return [committee, *rng.sample(list(departments), rng.randint(1, min(3, len(departments))))]
    if u < 0.95:
        return [rng.choice(world.ministries)]
    peers = world.peers[sender.unit]
    return rng.sample(peers, min(len(peers), rng.randint(1, 3)))


# --- status feedback ----------------------------------------------------------------------------------------


def _feedback(
    rng: random.Random, sent_ms: int, sender: AgencyRef, recipients: tuple[AgencyRef, ...]
) -> list[Step]:
    recall_ms = sent_ms + _RECALL.draw(rng) if rng.random() < RECALL_RATE else None
    # a recall is the sender revoking the document (REVOKE), which each recipient then reports (13, 15/16)
    steps: list[Step] = [] if recall_ms is None else [(recall_ms, sender, None)]
    for recipient in recipients:
        steps.extend(_one_recipient(rng, sent_ms, recipient, recall_ms))
    steps.sort(key=_time_of)
    return steps


def _time_of(step: Step) -> int:
    return step[0]


def _one_recipient(
    rng: random.Random, sent_ms: int, recipient: AgencyRef, recall_ms: int | None
) -> list[Step]:
    deadline = sent_ms + MAX_DOCUMENT_SPAN_MS
    t = sent_ms + _ARRIVAL.draw(rng)
    steps: list[Step] = [(t, recipient, DocumentStatus.ARRIVED)]
    if recall_ms is None and rng.random() < REJECT_RATE:
        return [*steps, (_office(rng, t + _REJECT.draw(rng), deadline), recipient, DocumentStatus.REJECTED)]
    chain = (
        (DocumentStatus.ACCEPTED, _ACCEPT, 1.0),
        (DocumentStatus.ASSIGNED, _ASSIGN, ASSIGN_RATE),
        (DocumentStatus.PROCESSING, _PROCESS, PROCESS_RATE),
        (DocumentStatus.FINISHED, _FINISH, FINISH_RATE),
    )
    for status, delay, rate in chain:
        if rng.random() >= rate:
            break
        nxt = _office(rng, t + delay.draw(rng), deadline)
        if recall_ms is not None and nxt >= recall_ms:
            break
        t = nxt
        steps.append((t, recipient, status))
    if recall_ms is not None:
        t = max(t, recall_ms) + _ARRIVAL.draw(rng)
        steps.append((t, recipient, DocumentStatus.RECALLED))
        answer = (
            DocumentStatus.RECALL_REFUSED
            if rng.random() < RECALL_REFUSED_RATE
            else DocumentStatus.RECALL_ACCEPTED
        )
        steps.append((_office(rng, t + _RECALL_ANSWER.draw(rng), deadline + DAY_MS), recipient, answer))
    return steps


def _office(rng: random.Random, at_ms: int, latest_ms: int) -> int:
    return min(office_time(rng, at_ms), latest_ms)
