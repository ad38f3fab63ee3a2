"""One place builds every Kafka client's connection: TLS context, SASL credentials, checks of the settings."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bus.aiokafka_adapter import producer_kwargs
from bus.errors import ConfigError
from bus.kafka_client import (
    connection_kwargs,
    java_client_properties,
    kafka_environment,
    librdkafka_config,
    ssl_context,
)
from bus.settings import KafkaSettings, Settings
from lgsp.devstack.certs import ensure_certificates

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_certificates(tmp_path_factory.mktemp("tls"), host="127.0.0.1").ca_cert


def _secure(ca_file: Path, **extra: object) -> KafkaSettings:
    return KafkaSettings.model_validate(
        {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "agency-000-00-01-h01",
            "sasl_password": "s3cret",
            "ssl_cafile": str(ca_file),
            **extra,
        }
    )


async def test_every_aiokafka_client_accepts_tls_settings(ca_file: Path) -> None:
    """Red team: SECURITY_PROTOCOL=SSL used to fail with 'ValueError: ssl_context is mandatory'."""
    for protocol in ("SSL", "SASL_SSL"):
        kafka = _secure(ca_file, security_protocol=protocol)
        if protocol == "SSL":
            kafka = kafka.model_copy(update={"sasl_mechanism": None, "sasl_username": None})
        settings = Settings(kafka=kafka)
        producer = AIOKafkaProducer(**producer_kwargs(settings))
        consumer = AIOKafkaConsumer(**connection_kwargs(kafka, client_suffix="views"))
        admin = AIOKafkaAdminClient(**connection_kwargs(kafka, client_suffix="admin"))
        # Building them is the check (aiokafka raised at construction); closing releases their resources.
        await producer.stop()
        await consumer.stop()
        await admin.close()


def test_tls_context_verifies_the_broker_and_its_name(ca_file: Path) -> None:
    context = ssl_context(_secure(ca_file))
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_a_missing_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TLS context"):
        ssl_context(_secure(tmp_path / "nope.pem"))


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"sasl_mechanism": None}, "SASL_MECHANISM"),
        ({"sasl_username": None}, "SASL_USERNAME"),
        ({"security_protocol": "SSL"}, "sends no credentials"),
        ({"ssl_keyfile": "/k.pem"}, "without LGSP_KAFKA__SSL_CERTFILE"),
    ],
)
def test_inconsistent_security_settings_are_refused(
    ca_file: Path, update: dict[str, object], message: str
) -> None:
    kafka = _secure(ca_file, **update)
    for build in (connection_kwargs, librdkafka_config, java_client_properties):
        with pytest.raises(ConfigError, match=message):
            build(kafka)


def test_the_same_connection_for_librdkafka_and_java_tools(ca_file: Path) -> None:
    kafka = _secure(ca_file)
    rd = librdkafka_config(kafka, client_suffix="acl")
    assert rd["security.protocol"] == "sasl_ssl"
    assert (rd["sasl.mechanism"], rd["sasl.username"], rd["sasl.password"]) == (
        "SCRAM-SHA-512",
        "agency-000-00-01-h01",
        "s3cret",
    )
    assert rd["ssl.ca.location"] == str(ca_file)
    java = java_client_properties(kafka)
    assert java["ssl.truststore.type"] == "PEM"
    assert 'username="agency-000-00-01-h01" password="s3cret";' in java["sasl.jaas.config"]


def test_the_environment_of_a_child_process_carries_the_whole_connection(ca_file: Path) -> None:
    env = kafka_environment(_secure(ca_file))
    assert env["LGSP_KAFKA__SASL_PASSWORD"] == "s3cret"
    again = Settings.model_validate(
        {"kafka": {k.removeprefix("LGSP_KAFKA__").lower(): v for k, v in env.items()}}
    )
    assert again.kafka == _secure(ca_file).model_copy(
        update={"bootstrap_servers": again.kafka.bootstrap_servers}
    )
