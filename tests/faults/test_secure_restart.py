"""Issue #13, faults suite: a broker restart with TLS. The secure stack's broker is SIGKILLed and restarted.

An agency onboarded with one command (SCRAM principal, ACLs, signing key) publishes signed events with
``bus.Publisher`` before the kill; after the restart the *same* Publisher (its connections dropped) publishes
again. What must survive the restart: the TLS listener with the same certificate (clients keep their CA
file), the SCRAM credential and the ACLs (KRaft metadata), the keyring entry; strangers stay out. Every
event is on the topics exactly once.
"""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.cloudevents import parse_kafka_headers
from bus.events import EVENT_TYPES
from bus.publisher import Publisher
from bus.registry import SchemaRegistryClient, register_schemas
from bus.settings import RegistrySettings, Settings
from bus.signing.keyring import load_keyring
from bus.topics import TOPICS, ensure_topics
from lgsp.security.onboarding import KAFKA_ENV, SIGNING_ENV, onboard_agency, read_kafka_env
from tests import publishing_samples as samples
from tests.integration.secure_ops import Outcome, aio_produce, aio_read, read_records
from tests.stack import SecureStack, started_secure_stack

pytestmark = [pytest.mark.faults, pytest.mark.slow]

AGENCY = samples.HCMC


@pytest.fixture(scope="module")
def secure() -> Iterator[SecureStack]:
    """A private secure stack: this test kills its broker."""
    with started_secure_stack() as stack:
        yield stack


def _env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


async def test_an_onboarded_agency_publishes_signed_events_across_a_tls_broker_restart(
    secure: SecureStack, tmp_path: Path
) -> None:
    prefix = f"r{uuid.uuid4().hex[:8]}."
    admin = Settings.model_validate(
        {"kafka": secure.admin.model_dump(), "topics": {"prefix": prefix, "partitions": 2}}
    )
    await ensure_topics(admin)
    async with SchemaRegistryClient(secure.launcher.registry_admin_settings()) as registry:
        await register_schemas(registry, sorted(EVENT_TYPES))
    done = await onboard_agency(admin, AGENCY, sdk=True, ingress=False, out_dir=tmp_path / "agencies")
    signing = _env(done.directory / SIGNING_ENV)
    agency = Settings.model_validate(
        {
            "kafka": read_kafka_env(done.directory / KAFKA_ENV).model_dump(),
            "registry": RegistrySettings(url=secure.launcher.registry_admin_settings().url).model_dump(),
            "topics": {"prefix": prefix, "partitions": 2},
            "signing": {
                "key_file": signing["LGSP_SIGNING__KEY_FILE"],
                "key_id": signing["LGSP_SIGNING__KEY_ID"],
            },
        }
    )
    # The agency's own events (the Publisher refuses any it may not assert), on two topics.
    own = [samples.event(f(n)) for n in range(40) for f in (samples.dossier, samples.document_status)]
    before, after = own[:40], own[40:]
    topics = [prefix + name for name in TOPICS]

    async with Publisher(agency) as publisher:
        assert len(await publisher.publish_many(before)) == len(before)
        secure.launcher.kill_broker(1, signal.SIGKILL)
        secure.launcher.start_broker(1)
        assert len(await publisher.publish_many(after)) == len(after)

    records = await read_records(admin.kafka, topics, len(before) + len(after))
    ids = Counter(parse_kafka_headers(r.headers)["id"] for r in records)
    assert ids == Counter(str(e.meta.event_id) for e in [*before, *after])  # each exactly once
    assert all(any(key == "lgsp_sig" for key, _ in r.headers) for r in records)  # signed
    keyring = await load_keyring(admin)
    assert done.signing_key is not None
    assert keyring.get(done.signing_key.key_id) == done.signing_key
    # After the restart, least privilege still holds: the agency cannot read, a stranger cannot write.
    assert await aio_read(admin.kafka, topics[0]) is Outcome.OK  # there is something to read...
    assert await aio_read(agency.kafka, topics[0]) is Outcome.DENIED  # ...but not for the agency
    stranger = agency.kafka.model_copy(update={"sasl_username": "nobody"})
    assert await aio_produce(stranger, topics[0]) is Outcome.REFUSED
