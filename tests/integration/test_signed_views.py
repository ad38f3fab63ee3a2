"""Issue #12's attacks on the log itself, against the real broker: records written straight to Kafka without
an envelope, signed with another agency's key, with one value byte changed, or signed by a revoked key are
dead letters with that exact reason, and the views are unchanged; signed records from the SDK are applied."""

from __future__ import annotations

import asyncio
import json
import stat
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

import bus.signing.signer
import consumers.service
from bus.agencies import load_catalog
from bus.consumer.dlq_tools import read_dead_letters
from bus.events import Event
from bus.publisher import Publisher
from bus.settings import Settings
from bus.signing import create_agency_key, load_private_key
from bus.signing.keyring import KeyringReader, keys_topic, load_keyring, publish_entries, publish_entry
from bus.signing.keys import now_ms
from bus.signing.signer import BatchSigner, KeyChain
from bus.topics import ensure_topics
from consumers.service import run_views
from consumers.viewset import ViewSet
from lgsp.cli import app
from tests import views_samples as s
from tests.integration.kafka_read import read_all
from tests.integration.test_runner_poison import views_settings

pytestmark = pytest.mark.integration


class _AnySource(KeyChain):
    """Signs every source with its one key, whoever that key belongs to."""

    def signer_for(self, source: str) -> BatchSigner | None:
        return next(iter(self._signers), None)


def _signing(config: Settings, key_file: Path, key_id: str) -> Settings:
    signing = config.signing.model_copy(update={"key_file": key_file, "key_id": key_id, "key_dir": None})
    return config.model_copy(update={"signing": signing})


@pytest.mark.parametrize("decode_workers", [0, 2], ids=["in-process", "decode-workers"])
async def test_the_views_apply_only_what_an_entitled_valid_key_signed(
    settings: Settings,
    topic_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    decode_workers: int,
) -> None:
    """Every attack gets its reason, in process and with the checks in decode workers (whose counts come
    back into the builder's metrics)."""
    config = views_settings(settings, topic_prefix, tmp_path, decode_workers)
    config.views.require_signatures = True
    await ensure_topics(config, prefix=topic_prefix)
    topic = f"{topic_prefix}lgsp.reports"
    keys = tmp_path / "keys"
    hcmc, nghe_an = create_agency_key(s.HCMC, keys), create_agency_key(s.NGHE_AN, keys)
    await publish_entries(config, [hcmc.entry, nghe_an.entry])
    as_hcmc = _signing(config, hcmc.private_key_file, hcmc.entry.key_id)

    good: list[Event] = [s.report(s.HCMC, code=f"BC-{n}") for n in range(3)]
    async with Publisher(as_hcmc) as publisher:
        await publisher.publish_many(good)
    # The same records replayed raw: stripped of the envelope, and with one value byte changed.
    (first, *_) = await read_all(config.kafka.bootstrap_servers, [topic])
    bare = [(n, v) for n, v in first.headers if n != "lgsp_sig"]
    changed = first.value.replace(b"IND_0", b"IND_9", 1)  # one byte of an indicator code: still valid Avro
    assert changed != first.value
    producer = AIOKafkaProducer(bootstrap_servers=config.kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, first.value, key=first.key, headers=bare)
        await producer.send_and_wait(topic, changed, key=first.key, headers=list(first.headers))
    finally:
        await producer.stop()
    # Nghệ An's valid key signing HCMC's report: an attacker's own build of the SDK, without its checks.
    forged = [s.report(s.HCMC, code="BC-FORGED")]
    signer = BatchSigner(load_private_key(nghe_an.private_key_file), nghe_an.entry.key_id, s.NGHE_AN)
    async with Publisher(config, keychain=_AnySource([signer])) as publisher:
        await publisher.publish_many(forged)
    # A valid, signed report dated 2099 through the SDK (the ingress's clock check is not on this path):
    # the latest event time applied is the views' as-of, which would make every report until 2099 due.
    ahead = s.report(s.HCMC, code="BC-2099")
    ahead = ahead.model_copy(
        update={"meta": ahead.meta.model_copy(update={"occurred_at": datetime(2099, 1, 1, tzinfo=UTC)})}
    )
    async with Publisher(as_hcmc) as publisher:
        await publisher.publish_many([ahead])
    # HCMC's key revoked; a record it signs afterwards is refused, the three before it stay — also when the
    # thief backdates the signature's iat: the broker's append time (LogAppendTime topics) tells.
    # Revocation has millisecond precision and also refuses what was appended *in* its millisecond: stamped in
    # the millisecond the broker appended BC-2099, it would rightly refuse that record too, so it comes after.
    appended = max(record.timestamp for record in await read_all(config.kafka.bootstrap_servers, [topic]))
    revoked_at = max(now_ms(), appended + 1)
    await publish_entry(config, hcmc.entry.revoked(revoked_at))
    async with Publisher(as_hcmc) as publisher:
        await publisher.publish_many([s.report(s.HCMC, code="BC-LATE")])
    monkeypatch.setattr(bus.signing.signer, "now_ms", lambda: revoked_at - 60_000)
    async with Publisher(as_hcmc) as publisher:
        await publisher.publish_many([s.report(s.HCMC, code="BC-BACKDATED")])

    metrics = CollectorRegistry()
    monkeypatch.setattr(consumers.service, "new_process_registry", lambda: metrics)
    stats = await run_views(config, stop=asyncio.Event(), until_caught_up=True)

    assert (stats.applied, stats.dead_lettered) == (3, 6)
    counted = Counter[str]()
    for family in metrics.collect():
        if family.name == "lgsp_signature_rejections":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.value:
                    counted[sample.labels["reason"]] += int(sample.value)
    assert counted == {
        "signature.invalid": 1,
        "signature.missing": 1,
        "signer.not-entitled": 1,
        "signer.revoked": 2,
    }
    letters = await read_dead_letters(config, [f"{topic}.dlq"])
    assert sorted(letter.reason for letter in letters) == [
        "signature.invalid",
        "signature.missing",
        "signer.not-entitled",
        "signer.revoked",
        "signer.revoked",
        "time.future",
    ]
    views = ViewSet.from_settings(config)
    try:
        assert sum(views.offsets().values()) == 9  # every record dealt with, the refused ones included
    finally:
        views.close()


def test_keys_add_list_revoke_write_the_keyring(
    settings: Settings, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LGSP_KAFKA__BOOTSTRAP_SERVERS", settings.kafka.bootstrap_servers)
    monkeypatch.setenv("LGSP_TOPICS__PREFIX", topic_prefix)
    runner = CliRunner()
    added = runner.invoke(app, ["agencies", "keys", "add", s.HCMC, "--out", str(tmp_path)])
    assert added.exit_code == 0, added.output
    key_id = next(line.split("=", 1)[1] for line in added.output.splitlines() if "KEY_ID=" in line)
    assert stat.S_IMODE((tmp_path / f"{key_id}.pem").stat().st_mode) == 0o600
    assert runner.invoke(app, ["agencies", "keys", "revoke", key_id]).exit_code == 0
    listed = runner.invoke(app, ["agencies", "keys", "list", "--json"])
    (entry,) = [e for e in json.loads(listed.output) if e["key_id"] == key_id]
    assert (entry["agency"], entry["revoked_at_ms"] is not None) == (s.HCMC, True)
    assert runner.invoke(app, ["agencies", "keys", "revoke", "nobody#00000000"]).exit_code == 1


def test_a_stacks_keys_are_made_once_and_kept_and_load_as_the_publishers_load_them(
    settings: Settings, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lgsp agencies keys stack` (docker compose's init): a key per People's Committee and ministry and the
    ingress's key, kept when run again, replaced when the keyring no longer holds one usable."""
    monkeypatch.setenv("LGSP_KAFKA__BOOTSTRAP_SERVERS", settings.kafka.bootstrap_servers)
    monkeypatch.setenv("LGSP_TOPICS__PREFIX", topic_prefix)
    out = tmp_path / "keys"
    runner = CliRunner()
    signers = len(load_catalog().signers())

    def run() -> list[str]:
        done = runner.invoke(app, ["agencies", "keys", "stack", "--out", str(out)])
        assert done.exit_code == 0, done.output
        return done.output.splitlines()

    assert run() == [
        f"{out / 'simulator'}: 0 keys kept, {signers} made and put on the keyring",
        f"{out / 'ingress'}: 0 keys kept, 1 made and put on the keyring",
    ]
    first = sorted(p.name for p in (out / "simulator").glob("*.pem"))
    assert run() == [
        f"{out / 'simulator'}: {signers} keys kept, 0 made and put on the keyring",
        f"{out / 'ingress'}: 1 key kept, 0 made and put on the keyring",
    ]
    assert sorted(p.name for p in (out / "simulator").glob("*.pem")) == first
    (hcmc_key,) = (out / "simulator").glob(f"{s.HCMC}#*.pem")
    prefixed = settings.model_copy(
        update={"topics": settings.topics.model_copy(update={"prefix": topic_prefix})}
    )
    entry = asyncio.run(load_keyring(prefixed)).get(hcmc_key.stem)
    assert entry is not None
    asyncio.run(publish_entry(prefixed, entry.revoked(now_ms())))
    assert run()[0] == f"{out / 'simulator'}: {signers - 1} keys kept, 1 made and put on the keyring"
    assert not hcmc_key.exists()
    # What the simulator and the ingress load from those directories.
    chain = KeyChain.from_settings(Settings().signing.model_copy(update={"key_dir": out / "simulator"}))
    assert chain is not None
    assert (len(chain), chain.attester) == (signers, None)
    ingress = KeyChain.from_settings(Settings().signing.model_copy(update={"key_dir": out / "ingress"}))
    assert ingress is not None
    assert len(ingress) == 0
    assert ingress.attester is not None


async def test_the_keyring_reader_fetches_only_while_it_refreshes(
    settings: Settings, topic_prefix: str, tmp_path: Path
) -> None:
    """A caught-up reader keeps its partition paused: a long-polling fetch in flight held each refresh's
    end-offset request for the fetch's whole wait (500 ms before every batch of the views)."""
    config = views_settings(settings, topic_prefix, tmp_path)
    first = create_agency_key(s.HCMC, tmp_path / "keys")
    await publish_entry(config, first.entry)
    reader = KeyringReader(config)
    keyring = await reader.start()
    try:
        assert keyring.get(first.entry.key_id) is not None
        partition = TopicPartition(keys_topic(config), 0)
        consumer = reader._consumer
        assert consumer is not None
        assert consumer.paused() == {partition}
        later = create_agency_key(s.NGHE_AN, tmp_path / "keys")
        await publish_entry(config, later.entry)
        assert (await reader.refresh()).get(later.entry.key_id) is not None
        assert consumer.paused() == {partition}
    finally:
        await reader.close()
