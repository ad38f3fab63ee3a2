"""Issue #12's spoofing attacks against the real ingress and the real SDK: 403 / ForbiddenError naming each
field and rule, and the topics' end offsets unchanged (nothing reached Kafka)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bus.errors import ForbiddenError
from bus.events import EVENT_TYPES
from bus.events.record import record_of
from bus.publisher import Publisher
from bus.settings import Settings
from bus.signing import create_agency_key
from bus.signing.envelope import parse_envelope, parse_protected
from bus.signing.keyring import publish_entry
from bus.signing.keys import new_key_id
from bus.topics import ensure_topics, topic_for
from consumers.service import run_views
from tests import publishing_samples as samples
from tests.attacks import ATTACKS
from tests.integration.kafka_read import end_offsets, read_all
from tests.integration.test_ingress import BATCH, Running, _problem, ingress, ingress_settings, running
from tests.integration.test_runner_poison import views_settings

pytestmark = pytest.mark.integration
__all__ = ["ingress", "ingress_settings"]  # fixtures


async def test_the_ingress_refuses_every_attack_and_publishes_nothing(ingress: Running) -> None:
    before = await end_offsets(ingress.settings.kafka.bootstrap_servers, ingress.topics)
    for name, (build, fields) in ATTACKS.items():
        body = _problem(await ingress.post("/v1/events", build()), 403)
        assert {e["field"] for e in body["errors"]} == fields, name
        assert {e["rule"] for e in body["errors"]} == {"agency-allowed"}, name
    # In a batch beside good events: every spoofed one named by index, nothing published.
    batch = [samples.dossier(1), *(build() for build, _ in ATTACKS.values())]
    body = _problem(await ingress.post("/v1/events:batch", batch, BATCH), 403)
    assert {e["field"].split(".", 1)[0] for e in body["errors"]} == {f"[{i}]" for i in range(1, len(batch))}
    assert await end_offsets(ingress.settings.kafka.bootstrap_servers, ingress.topics) == before
    # The same key's own events still go through.
    assert (await ingress.post("/v1/events", samples.dossier(2))).status_code == 202


async def test_the_sdk_refuses_every_attack_before_sending(settings: Settings, topic_prefix: str) -> None:
    settings.topics.prefix = topic_prefix
    settings.registry.auto_register = True
    settings.signing.key_id = new_key_id(samples.HCMC)  # the SDK's principal: its configured key's agency
    await ensure_topics(settings)
    topics = sorted({topic_for(t, prefix=topic_prefix) for t in EVENT_TYPES.values()})
    before = await end_offsets(settings.kafka.bootstrap_servers, topics)
    async with Publisher(settings) as publisher:
        for name, (build, fields) in ATTACKS.items():
            with pytest.raises(ForbiddenError) as raised:
                await publisher.publish_many([samples.event(samples.dossier(1)), samples.event(build())])
            assert {(i, f"data.{r.field}") for i, r in raised.value.refusals} == {(1, f) for f in fields}, (
                name
            )
            with pytest.raises(ForbiddenError) as raised:  # the same events as records
                await publisher.publish_records(
                    [record_of(samples.event(samples.dossier(1))), record_of(samples.event(build()))]
                )
            assert {(i, f"data.{r.field}") for i, r in raised.value.refusals} == {(1, f) for f in fields}, (
                name
            )
        assert await end_offsets(settings.kafka.bootstrap_servers, topics) == before
        delivery = await publisher.publish(samples.event(samples.dossier(3)))
        assert delivery.topic == topic_for("DossierSynced", prefix=topic_prefix)


async def test_what_the_ingress_attests_is_applied_by_views_that_require_signatures(
    ingress_settings: Settings, topic_prefix: str, tmp_path: Path
) -> None:
    made = create_agency_key(samples.GOV_OFFICE, tmp_path / "ingress-key", role="ingress")
    await publish_entry(ingress_settings, made.entry)
    ingress_settings.signing.key_file = made.private_key_file
    ingress_settings.signing.key_id = made.entry.key_id
    async with running(ingress_settings) as ingress:
        batch = [samples.dossier(n) for n in range(5)]
        assert (await ingress.post("/v1/events:batch", batch, BATCH)).status_code == 202
        assert (await ingress.post("/v1/events", samples.dossier(9))).status_code == 202
    config = views_settings(ingress_settings, topic_prefix, tmp_path)
    config.views.require_signatures = True
    config.topics.partitions = ingress_settings.topics.partitions
    stats = await run_views(config, stop=asyncio.Event(), until_caught_up=True)
    assert (stats.applied, stats.dead_lettered) == (6, 0)
    records = await read_all(
        config.kafka.bootstrap_servers, [topic_for("DossierSynced", prefix=topic_prefix)]
    )
    envelope = parse_envelope(dict(records[0].headers)["lgsp_sig"])
    claims = parse_protected(envelope.protected).claims
    assert (claims.attestation, claims.agency) == ("ingress", samples.HCMC)
    assert claims.api_key_id is not None
