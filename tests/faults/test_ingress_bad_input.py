"""Fault 6: bad input at the HTTP ingress — a corpus of hundreds of cases, then schemathesis.

A real ``lgsp ingress`` process on the fault stack answers:

- the corpus of ``tests/faults/corpus.py`` (generated mutations, hand-written families, files): every case
  must get the 4xx it expects — never a 5xx — as ``application/problem+json`` naming the field where the
  contract has one, and nothing may reach any topic (end offsets, DLQs included, equal before and after);
- schemathesis (v4) against the ingress's own OpenAPI document, positive and negative generation for both
  event routes: never a 5xx, answers that match the document, refusals of schema-violating bodies, problem
  documents for every error, and again nothing published.

The three findings of the first run (time offsets overflowing near year 1/9999, numbers past Python's
4300-digit limit, lax coercion of ``"1751364000"``/``true``/``"7"``) answered 500 or were accepted; they are
fixed and their cases are now ordinary members of the corpus.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
import schemathesis.specs.openapi.schemas  # here, in the main thread: not first in the worker (below)
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from bus.topics import ensure_topics
from tests.faults import rawhttp
from tests.faults.badinput import INGRESS_LIMITS, MAX_BATCH_EVENTS, MAX_BODY_BYTES, PROBLEM, bases, judge
from tests.faults.corpus import VALID_KEY, Case, Corpus, spoofable_source
from tests.faults.ingress_client import GOV_OFFICE, issue_key
from tests.faults.ledger import topic_ends
from tests.faults.procs import IngressProcess
from tests.faults.report import FaultFigures, remember
from tests.faults.stacks import FaultStack, fault_settings
from tests.faults.verify import data_topics, dead_letter_topics

pytestmark = pytest.mark.faults

CONCURRENCY = 8
SCHEMATHESIS_EXAMPLES = {"/v1/events": 40, "/v1/events:batch": 25}


@dataclass(frozen=True)
class Target:
    """The running ingress, its key, and the topics it publishes to."""

    url: str
    token: str
    topics: list[str]
    bootstrap: str
    cases: list[Case]


@pytest.fixture(scope="module")
async def target(fault_stack: FaultStack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Target]:
    workdir = tmp_path_factory.mktemp("bad-input")
    settings = fault_settings(
        fault_stack.bootstrap_servers,
        fault_stack.registry_url,
        workdir,
        ingress=INGRESS_LIMITS,
    )
    await ensure_topics(settings)
    valid = bases()
    granted = {e.meta.source for e in valid} | {GOV_OFFICE}
    token = issue_key(settings.ingress.api_keys_file, granted)
    cases = Corpus(valid, spoofable_source(granted), MAX_BODY_BYTES, MAX_BATCH_EVENTS).build()
    ingress = IngressProcess(settings, workdir)
    try:
        url = await ingress.started()
        topics = data_topics(settings) + dead_letter_topics(settings)
        yield Target(url, token, topics, settings.kafka.bootstrap_servers, cases)
    finally:
        await ingress.stop()


async def answer(client: httpx.AsyncClient, target: Target, case: Case) -> rawhttp.Answer:
    headers: dict[str, str | bytes] = {}
    if case.content_type is not None:
        headers["content-type"] = case.content_type
    if case.authorization == VALID_KEY:
        headers["authorization"] = f"Bearer {target.token}"
    elif case.authorization is not None:
        headers["authorization"] = case.authorization.encode()  # may be non-ASCII on purpose
    if case.send != "whole":
        return await rawhttp.send(target.url, case.method, case.path, headers, case.body, mode=case.send)
    encoded = {name.encode(): v if isinstance(v, bytes) else v.encode() for name, v in headers.items()}
    response = await client.request(case.method, case.path, content=case.body, headers=encoded)
    return rawhttp.Answer(response.status_code, dict(response.headers), response.content)


async def run_cases(target: Target, cases: Sequence[Case]) -> tuple[list[str], Counter[int]]:
    """Every case once, ``CONCURRENCY`` at a time; the problems found and the statuses seen."""
    problems: list[str] = []
    statuses: Counter[int] = Counter()
    gate = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=target.url, timeout=120) as client:

        async def one(case: Case) -> None:
            async with gate:
                try:
                    response = await answer(client, target, case)
                except (ConnectionError, httpx.TransportError) as exc:  # named, and the other cases go on
                    problems.append(f"{case.name}: no answer: {exc!r}")
                    return
            statuses[response.status] += 1
            problem = judge(case, response)
            if problem is not None:
                problems.append(problem)

        await asyncio.gather(*(one(case) for case in cases))
    return problems, statuses


async def test_every_bad_input_gets_a_clear_4xx_and_publishes_nothing(target: Target) -> None:
    started = time.monotonic()
    cases = target.cases
    before = await topic_ends(target.bootstrap, target.topics)
    problems, statuses = await run_cases(target, cases)
    after = await topic_ends(target.bootstrap, target.topics)
    published = sum(after.values()) - sum(before.values())
    remember(
        FaultFigures(
            fault="6a bad-input corpus",
            offered=len(cases),
            confirmed=statuses[202],
            details={
                "statuses": {str(s): n for s, n in sorted(statuses.items())},
                "families": dict(Counter(case.name.split("/", 1)[0] for case in cases)),
                "records_published": published,
                "wrong_answers": len(problems),
            },
            seconds=round(time.monotonic() - started, 1),
        )
    )
    assert len(cases) >= 300
    assert problems == [], "\n".join(problems[:30])
    assert not [s for s in statuses if s >= 500], statuses
    assert after == before, "a bad input reached a topic"


# --- schemathesis -------------------------------------------------------------------------------------------


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def schemathesis_run(target: Target) -> tuple[list[str], Counter[str]]:
    """Positive and negative cases for both event routes from the ingress's OpenAPI; failures and statuses."""
    schema = schemathesis.openapi.from_url(f"{target.url}/openapi.json", timeout=60)
    failures: list[str] = []
    seen: Counter[str] = Counter()
    for result in schema.include(path_regex="^/v1/events").get_all_operations():
        if not isinstance(result, Ok):
            raise AssertionError(f"the OpenAPI document has an invalid operation: {result!r}")
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            exercise(target, operation, mode, failures, seen)
    return failures, seen


def exercise(
    target: Target, operation: Any, mode: schemathesis.GenerationMode, failures: list[str], seen: Counter[str]
) -> None:
    """Run the generated cases of one operation in one mode, deterministically (batches generate slowly)."""
    label = f"{operation.label} {mode.value}"

    @hypothesis.settings(
        max_examples=SCHEMATHESIS_EXAMPLES[operation.path],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        headers = {"Authorization": f"Bearer {target.token}"}
        response = case.call(base_url=target.url, headers=headers, timeout=60)
        seen[f"{label} {response.status_code}"] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseException as exc:  # schemathesis raises groups of its failures
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.extend(f"{label}: {_describe(failure)}" for failure in getattr(exc, "exceptions", [exc]))
        content_type = response.headers.get("content-type", [""])
        if response.status_code >= 400 and PROBLEM not in content_type:
            failures.append(f"{label}: {response.status_code} is not a problem document ({content_type})")

    run()


def _describe(failure: BaseException) -> str:
    title = getattr(failure, "title", type(failure).__name__)
    message = " ".join(str(getattr(failure, "message", failure)).split())
    return f"{title}: {message[:300]}"


async def test_schemathesis_finds_no_server_error_and_publishes_nothing(target: Target) -> None:
    started = time.monotonic()
    before = await topic_ends(target.bootstrap, target.topics)
    # In a worker thread: schemathesis' requests block. Its OpenAPI modules were imported at collection, in
    # the main thread: imported first in the worker, pytest's rewriting of their large ASTs raised CPython
    # 3.11's "SystemError: AST constructor recursion depth mismatch" in one CI run.
    failures, seen = await asyncio.to_thread(schemathesis_run, target)
    after = await topic_ends(target.bootstrap, target.topics)
    accepted = sum(n for key, n in seen.items() if key.endswith(" 202"))
    remember(
        FaultFigures(
            fault="6b schemathesis on the OpenAPI",
            offered=sum(seen.values()),
            confirmed=accepted,
            details={
                "answers": dict(sorted(seen.items())),
                "records_published": sum(after.values()) - sum(before.values()),
                "failures": sorted(set(failures))[:20],
            },
            seconds=round(time.monotonic() - started, 1),
        )
    )
    assert sum(seen.values()) >= sum(SCHEMATHESIS_EXAMPLES.values())
    assert sorted(set(failures)) == []
    assert sum(after.values()) - sum(before.values()) == accepted == 0
