"""Fault 3: the schema registry dies (SIGKILL) while publishers and the view builder run; later it comes back.

With the registry down:

- a Publisher (and the HTTP ingress) whose schema ids are cached keeps publishing;
- a Publisher that has not resolved a schema yet fails before sending anything, with a clear, retriable
  ``RegistryUnavailableError`` naming the registry — and nothing lands on the topics;
- ``lgsp views run`` keeps applying records whose writer schema ids it has cached;
- a record with a schema id the builder has never seen is neither applied nor dead-lettered: its batch is
  retried with backoff and nothing past it is committed, until the registry is back.

Then the registry is restarted and the views must end exact.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from bus.errors import RegistryUnavailableError
from bus.events import Event, ReportFiled
from bus.publisher import Publisher
from bus.settings import Settings
from bus.topics import ensure_topics, topic_for
from tests.faults.ingress_client import book, issue_key, post
from tests.faults.ledger import Ledger, feed, resend_pending, topic_ends
from tests.faults.procs import IngressProcess, ViewsProcess, store_offsets, wait_store_reaches
from tests.faults.stacks import FaultStack, fault_settings
from tests.faults.verify import data_topics, dead_letter_topics, settle
from tests.faults.workload import chunks, take_units

pytestmark = [pytest.mark.faults, pytest.mark.slow]

EVENTS = 3000
UNKNOWN_ID_RETRY = r"decoding a batch failed \(attempt \d+\)"


def split(events: Sequence[Event]) -> tuple[list[Event], list[Event]]:
    """(documents and dossiers, reports): the builder sees report schemas only after the registry died."""
    reports: list[Event] = [e for e in events if isinstance(e, ReportFiled)]
    return [e for e in events if not isinstance(e, ReportFiled)], reports


async def caught_up(settings: Settings, views: ViewsProcess) -> None:
    ends = await topic_ends(settings.kafka.bootstrap_servers, data_topics(settings))
    await wait_store_reaches(views.store, ends, views, timeout_s=180)


async def test_registry_killed_while_publishing_and_consuming(
    fault_stack: FaultStack, tmp_path: Path
) -> None:
    started = time.monotonic()
    settings = fault_settings(fault_stack.bootstrap_servers, fault_stack.registry_url, tmp_path)
    await ensure_topics(settings)
    others, reports = split(take_units(EVENTS, seed=303))
    assert len(reports) >= 10, "the workload should carry reports"
    before, during, via_http = others[:1000], others[1000:2500], others[2500:]
    ledger = Ledger()
    token = issue_key(settings.ingress.api_keys_file, {e.meta.source for e in via_http})
    views = ViewsProcess(settings, tmp_path)
    ingress = IngressProcess(settings, tmp_path)
    details: dict[str, object] = {}
    try:
        url = await ingress.started()
        async with Publisher(settings) as publisher, httpx.AsyncClient(base_url=url, timeout=60) as client:
            await publisher.prepare()  # every schema id cached, reports included
            await feed(publisher, ledger, chunks(before, 100))
            await caught_up(settings, views)

            fault_stack.kill_registry()
            await feed(publisher, ledger, chunks(during, 100))
            assert ledger.chunks_failed == 0, ledger.errors[:2]
            accepted = [
                book(ledger, batch, await post(client, token, batch, batch=True))
                for batch in chunks(via_http, 50)
            ]
            details["ingress_batches_accepted_while_registry_down"] = f"{sum(accepted)}/{len(accepted)}"
            readyz = await client.get("/readyz")
            details["ingress_readyz_while_registry_down"] = readyz.status_code
            assert (readyz.status_code, readyz.json()["status"]) == (200, "degraded"), readyz.text
            await caught_up(settings, views)  # cached ids: the builder carries on

            ends_before = await topic_ends(settings.kafka.bootstrap_servers, data_topics(settings))
            cold = settings.model_copy(deep=True)
            cold.registry.max_retries = 1
            with pytest.raises(RegistryUnavailableError) as refused:
                async with Publisher(cold) as fresh:
                    await fresh.publish_many(during[:5])
            assert refused.value.retriable
            assert fault_stack.registry_url.split("/apis")[0] in str(refused.value), (
                "the error names the registry"
            )
            assert await topic_ends(settings.kafka.bootstrap_servers, data_topics(settings)) == ends_before
            details["uncached_publish_error"] = str(refused.value)[:200]

            await feed(publisher, ledger, chunks(reports, 100))
            await views.wait_for_line(UNKNOWN_ID_RETRY, timeout_s=120, at_least=2)
            reports_topic = topic_for(ReportFiled, prefix=settings.topics.prefix)
            committed = {tp: o for tp, o in store_offsets(views.store).items() if tp[0] == reports_topic}
            assert committed == {}, f"offsets committed past records that could not be decoded: {committed}"
            dlq = await topic_ends(settings.kafka.bootstrap_servers, dead_letter_topics(settings))
            assert sum(dlq.values()) == 0, "records were dead-lettered because the registry was down"
            details["decode_retries_logged"] = views.count(UNKNOWN_ID_RETRY)

            await asyncio.to_thread(fault_stack.restart_missing)
            await resend_pending(publisher, ledger)
        outcome = await settle(
            "3 registry SIGKILL + restart", settings, ledger, views, started=started, details=details
        )
    finally:
        views.kill()
        await ingress.stop()
        await asyncio.to_thread(fault_stack.restart_missing)
    outcome.assert_exact(ledger)
    assert details["ingress_batches_accepted_while_registry_down"] == f"{len(accepted)}/{len(accepted)}"
