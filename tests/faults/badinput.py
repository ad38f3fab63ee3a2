"""What the bad-input tests share: the limits the ingress runs with, the valid events the corpus mutates, the
known findings, and how an answer to a bad request is judged (``test_ingress_bad_input.py`` against a real
``lgsp ingress``; ``test_corpus_offline.py`` in-process).
"""

from __future__ import annotations

from typing import Any, Final

from bus.events import DocumentSent, DocumentStatusChanged, DossierSynced, Event, ReportFiled
from tests.faults.corpus import Case
from tests.faults.rawhttp import Answer
from tests.faults.workload import take_units

PROBLEM: Final = "application/problem+json"
MAX_BODY_BYTES: Final = 256 * 1024
MAX_BATCH_EVENTS: Final = 100
# The corpus sends hundreds of requests with one key as fast as the ingress answers: these tests judge
# validation, not the per-agency rate limit (tests/unit/test_ingress_hardening.py does), so the limit is out
# of their way.
INGRESS_LIMITS: Final[dict[str, Any]] = {
    "max_body_bytes": MAX_BODY_BYTES,
    "max_batch_events": MAX_BATCH_EVENTS,
    "rate_per_key": 1e6,
    "burst_per_key": 10**6,
}


def bases() -> list[Event]:
    """One valid event of each type, from the workload."""
    events = take_units(3000, seed=606)
    kinds = (DocumentSent, DocumentStatusChanged, DossierSynced, ReportFiled)
    return [next(e for e in events if type(e) is kind) for kind in kinds]


def judge(case: Case, response: Answer) -> str | None:
    """What is wrong with ``response`` for ``case`` (None: a clear, expected refusal)."""
    status = response.status
    if status not in case.expect:
        return f"{case.name}: {status}, expected {sorted(case.expect)}: {response.text[:200]}"
    if response.headers.get("content-type") != PROBLEM:
        return f"{case.name}: {status} is not a problem document ({response.headers.get('content-type')})"
    body: dict[str, Any] = response.json()
    if (
        not all(body.get(key) for key in ("type", "title", "status", "detail", "instance"))
        or body["status"] != status
    ):
        return f"{case.name}: incomplete problem document {body}"
    errors = body.get("errors", [])
    if status in (403, 422) and not all(e.get("rule") and e.get("message") for e in errors):
        return f"{case.name}: {status} without a rule and message per error: {errors}"
    fields = [str(e.get("field")) for e in errors]
    if case.field is not None and not any(f.startswith(case.field) for f in fields):
        return f"{case.name}: no error names {case.field!r} (fields: {fields[:5]})"
    return None
