"""The secure stack (``lgsp dev up --secure``) keeps strangers out; each principal gets only what it needs.

One secure broker per session (``secure_stack``); each test works under its own topic prefix. Every allowed
operation is tried next to forbidden ones, so a test fails if ACLs are too loose *or* too tight.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import SecretStr
from typer.testing import CliRunner

from bus.kafka_client import connection_kwargs, kafka_environment
from bus.settings import KafkaSettings, Settings
from bus.signing.keyring import Keyring, load_keyring
from bus.signing.keys import load_private_key, now_ms
from bus.topics import AUDIT_TOPIC, all_topics, ensure_topics
from lgsp.cli import app
from lgsp.security.acls import INGRESS_PRINCIPAL, KEYS_TOPIC, VIEWS_PRINCIPAL, agency_principal
from lgsp.security.kafka_admin import SecurityAdmin
from lgsp.security.onboarding import (
    KAFKA_ENV,
    SIGNING_ENV,
    offboard_agency,
    onboard_agency,
    read_kafka_env,
    service_settings,
)
from tests.integration.secure_ops import (
    Outcome,
    aio_commit,
    aio_create_topic,
    aio_delete_topic,
    aio_produce,
    aio_read,
    rd_create_topic,
    rd_produce,
    rd_read,
)
from tests.stack import SecureStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AGENCY = "000.00.00.H29"


@pytest.fixture
def prefix() -> str:
    return f"s{uuid.uuid4().hex[:8]}."


@pytest.fixture
async def secured(secure_stack: SecureStack, prefix: str, tmp_path: Path) -> Settings:
    """Admin settings with this test's prefix, the catalog topics and the keyring/audit topics created."""
    settings = Settings.model_validate(
        {
            "kafka": secure_stack.admin.model_dump(),
            "topics": {"prefix": prefix, "partitions": 1},
            "views": {"group_id": f"{prefix}views"},
            "ingress": {"api_keys_file": str(tmp_path / "keys.json")},
        }
    )
    await ensure_topics(settings)
    admin = AIOKafkaAdminClient(**connection_kwargs(settings.kafka))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(prefix + KEYS_TOPIC, 1, 1), NewTopic(prefix + AUDIT_TOPIC, 1, 1)])
    finally:
        await admin.close()
    for topic in [*all_topics(prefix), prefix + KEYS_TOPIC, prefix + AUDIT_TOPIC]:  # something to read
        assert await aio_produce(settings.kafka, topic) is Outcome.OK
    return settings


async def test_no_credentials_wrong_credentials_or_no_tls_get_nothing(secured: Settings, prefix: str) -> None:
    admin = secured.kafka
    topic = prefix + "lgsp.dossiers"
    strangers = {
        "TLS, no SASL": admin.model_copy(
            update={"security_protocol": "SSL", "sasl_mechanism": None, "sasl_username": None}
        ),
        "wrong password": admin.model_copy(update={"sasl_password": SecretStr("not-the-password")}),
        "unknown user": admin.model_copy(update={"sasl_username": "mallory"}),
        "no TLS": admin.model_copy(update={"security_protocol": "SASL_PLAINTEXT"}),
        "plaintext": KafkaSettings(bootstrap_servers=admin.bootstrap_servers),
    }
    for name, kafka in strangers.items():
        assert await aio_produce(kafka, topic) is Outcome.REFUSED, name
        assert await aio_read(kafka, topic) is Outcome.REFUSED, name
        assert await aio_create_topic(kafka, prefix + "intruder") is Outcome.REFUSED, name
        assert rd_produce(kafka, topic) is Outcome.REFUSED, name
        assert rd_read(kafka, topic, f"{prefix}g") is Outcome.REFUSED, name
        assert rd_create_topic(kafka, prefix + "intruder") is Outcome.REFUSED, name
    # ...while the admin, the only super user, can do all of it.
    assert await aio_produce(admin, topic) is Outcome.OK
    assert rd_create_topic(admin, prefix + "admin-made") is Outcome.OK


async def test_an_sdk_agency_writes_the_event_topics_and_nothing_else(
    secured: Settings, prefix: str, tmp_path: Path
) -> None:
    done = await onboard_agency(secured, AGENCY, sdk=True, ingress=False, out_dir=tmp_path / "agencies")
    agency = read_kafka_env(done.directory / KAFKA_ENV)
    assert agency.sasl_username == agency_principal(AGENCY)
    for name in ("lgsp.documents", "lgsp.dossiers", "lgsp.reports"):
        assert await aio_produce(agency, prefix + name) is Outcome.OK, name
    assert rd_produce(agency, prefix + "lgsp.reports") is Outcome.OK
    for name in ("lgsp.documents.dlq", KEYS_TOPIC, AUDIT_TOPIC):
        assert await aio_produce(agency, prefix + name) is Outcome.DENIED, name
    assert rd_produce(agency, prefix + KEYS_TOPIC) is Outcome.DENIED
    assert await aio_read(agency, prefix + "lgsp.dossiers") is Outcome.DENIED
    assert rd_read(agency, prefix + "lgsp.dossiers", f"{prefix}views") is Outcome.DENIED
    assert await aio_create_topic(agency, prefix + "lgsp.new") is Outcome.DENIED
    assert rd_create_topic(agency, prefix + "lgsp.new") is Outcome.DENIED
    assert await aio_delete_topic(agency, prefix + "lgsp.dossiers") is Outcome.DENIED


async def test_the_ingress_writes_events_and_audit_only(
    secured: Settings, prefix: str, tmp_path: Path
) -> None:
    # The session's stack is shared: an earlier test (the secure demo) may have made the principal already,
    # so take its connection as a process would (a new password when this directory has none).
    ingress = service_settings(secured, "ingress", out_dir=tmp_path)
    assert ingress.sasl_username == INGRESS_PRINCIPAL
    for name in ("lgsp.documents", "lgsp.dossiers", "lgsp.reports", AUDIT_TOPIC):
        assert await aio_produce(ingress, prefix + name) is Outcome.OK, name
    assert await aio_produce(ingress, prefix + "lgsp.reports.dlq") is Outcome.DENIED
    assert await aio_produce(ingress, prefix + KEYS_TOPIC) is Outcome.DENIED
    assert await aio_read(ingress, prefix + "lgsp.reports") is Outcome.DENIED
    assert await aio_create_topic(ingress, prefix + "lgsp.new") is Outcome.DENIED


async def test_views_read_events_and_keyring_write_dead_letters_own_their_group(
    secured: Settings, prefix: str, tmp_path: Path
) -> None:
    views = service_settings(secured, "views", out_dir=tmp_path)
    assert views.sasl_username == VIEWS_PRINCIPAL
    group = secured.views.group_id
    for name in ("lgsp.documents", "lgsp.dossiers", "lgsp.reports", KEYS_TOPIC):
        assert await aio_read(views, prefix + name) is Outcome.OK, name
    assert await aio_commit(views, prefix + "lgsp.dossiers", group) is Outcome.OK
    assert await aio_commit(views, prefix + "lgsp.dossiers", group + "-rebuild-1") is Outcome.OK  # prefixed
    assert rd_read(views, prefix + "lgsp.dossiers", group) is Outcome.OK
    assert await aio_produce(views, prefix + "lgsp.dossiers.dlq") is Outcome.OK
    for name in ("lgsp.documents", "lgsp.dossiers", "lgsp.reports", KEYS_TOPIC, AUDIT_TOPIC):
        assert await aio_produce(views, prefix + name) is Outcome.DENIED, name
    assert await aio_commit(views, prefix + "lgsp.dossiers", "someone-else") is Outcome.DENIED
    assert await aio_read(views, prefix + AUDIT_TOPIC) is Outcome.DENIED
    assert await aio_create_topic(views, prefix + "lgsp.new") is Outcome.DENIED
    # The views' keyring reader starts as this principal (it once tried to create the existing topic).
    assert isinstance(await load_keyring(secured.model_copy(update={"kafka": views})), Keyring)


async def test_onboarding_is_idempotent_and_offboarding_locks_the_agency_out(
    secured: Settings, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "agencies"
    code = "000.00.00.G22"
    first = await onboard_agency(secured, code, sdk=True, ingress=True, out_dir=out)
    env_before = (first.directory / KAFKA_ENV).read_text()
    again = await onboard_agency(secured, code, sdk=True, ingress=True, out_dir=out)
    assert (first.created_user, first.created_ingress_key, first.created_signing_key) == (True, True, True)
    assert (again.created_user, again.created_ingress_key, again.created_signing_key) == (False, False, False)
    # The signing key pair: the private key (0600) named by signing.env, its public half on the keyring.
    assert first.signing_key is not None
    assert again.signing_key == first.signing_key
    signing = dict(line.split("=", 1) for line in (first.directory / SIGNING_ENV).read_text().splitlines())
    assert signing["LGSP_SIGNING__KEY_ID"] == first.signing_key.key_id
    private = load_private_key(Path(signing["LGSP_SIGNING__KEY_FILE"]))  # refuses a key others can read
    on_keyring = (await load_keyring(secured)).get(first.signing_key.key_id)
    assert on_keyring is not None
    assert on_keyring.agency == code
    assert on_keyring.public_key == private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert on_keyring.usable_at(now_ms())
    # The command itself, as an operator runs it (settings from the environment): nothing new.
    env = {
        **kafka_environment(secured.kafka),
        "LGSP_TOPICS__PREFIX": prefix,
        "LGSP_INGRESS__API_KEYS_FILE": str(secured.ingress.api_keys_file),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = ["agencies", "onboard", code, "--sdk", "--ingress", "--out", str(out)]
    cli = await asyncio.to_thread(lambda: CliRunner().invoke(app, args))
    assert cli.exit_code == 0, cli.output
    assert f"signing key {first.signing_key.key_id} (exists, kept)" in cli.output
    assert "ingress API key: exists (kept)" in cli.output
    assert (again.directory / KAFKA_ENV).read_text() == env_before
    assert (first.directory / KAFKA_ENV).stat().st_mode & 0o777 == 0o600
    security = SecurityAdmin(secured.kafka)
    assert security.acls_of(agency_principal(code)) == sorted(first.acls)
    agency = read_kafka_env(first.directory / KAFKA_ENV)
    assert await aio_produce(agency, prefix + "lgsp.dossiers") is Outcome.OK

    removed = await offboard_agency(secured, code, out_dir=out)
    assert removed
    revoked = (await load_keyring(secured)).get(first.signing_key.key_id)
    assert revoked is not None
    assert revoked.revoked_at_ms is not None
    assert not revoked.usable_at(now_ms())
    assert not first.directory.exists()
    assert security.acls_of(agency_principal(code)) == []
    assert not security.has_user(agency_principal(code))
    assert await aio_produce(agency, prefix + "lgsp.dossiers") is Outcome.REFUSED
