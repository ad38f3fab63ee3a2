"""Connection arguments for every Kafka client the bus makes, from settings, in one place.

aiokafka clients (Publisher, consumers, admin, DLQ tools, views, ingress, bench) take
:func:`connection_kwargs`; librdkafka clients (confluent-kafka: ACL administration, interop tests) take
:func:`librdkafka_config`. Both read the same ``LGSP_KAFKA__*`` settings, and the one TLS context is built by
:func:`ssl_context` (:mod:`bus.tls`). Secrets are unwrapped only here, as a client is built.
"""

from __future__ import annotations

import ssl
from typing import Any

from bus.errors import ConfigError
from bus.settings import KafkaSettings
from bus.tls import client_context


def connection_kwargs(kafka: KafkaSettings, *, client_suffix: str | None = None) -> dict[str, Any]:
    """Bootstrap servers, client id (``<client_id>-<suffix>``), timeout, TLS context and SASL credentials."""
    _check(kafka)
    kwargs: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": kafka.client_id if client_suffix is None else f"{kafka.client_id}-{client_suffix}",
        "request_timeout_ms": kafka.request_timeout_ms,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.uses_tls:
        kwargs["ssl_context"] = ssl_context(kafka)
    if kafka.sasl_mechanism is not None:
        kwargs["sasl_mechanism"] = kafka.sasl_mechanism
        kwargs["sasl_plain_username"] = kafka.sasl_username
        if kafka.sasl_password is not None:
            kwargs["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    return kwargs


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """TLS 1.2+ with the broker's certificate and host name verified against ``ssl_cafile`` (or the system
    CAs), and the client certificate when one is configured (mutual TLS)."""
    return client_context(kafka.ssl_cafile, kafka.ssl_certfile, kafka.ssl_keyfile, what="Kafka")


def librdkafka_config(kafka: KafkaSettings, *, client_suffix: str | None = None) -> dict[str, str]:
    """The same connection for a librdkafka client (confluent-kafka), as its configuration properties."""
    _check(kafka)
    config = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "client.id": kafka.client_id if client_suffix is None else f"{kafka.client_id}-{client_suffix}",
        "security.protocol": kafka.security_protocol.lower(),
    }
    if kafka.uses_tls:
        config["ssl.endpoint.identification.algorithm"] = "https"
        if kafka.ssl_cafile is not None:
            config["ssl.ca.location"] = str(kafka.ssl_cafile)
        if kafka.ssl_certfile is not None:
            config["ssl.certificate.location"] = str(kafka.ssl_certfile)
        if kafka.ssl_keyfile is not None:
            config["ssl.key.location"] = str(kafka.ssl_keyfile)
    if kafka.sasl_mechanism is not None:
        config["sasl.mechanism"] = kafka.sasl_mechanism
        config["sasl.username"] = kafka.sasl_username or ""
        config["sasl.password"] = (
            "" if kafka.sasl_password is None else kafka.sasl_password.get_secret_value()
        )
    return config


def _check(kafka: KafkaSettings) -> None:
    """Refuse combinations that would otherwise fail deep inside a client, or silently send no credentials."""
    if kafka.uses_sasl and (kafka.sasl_mechanism is None or not kafka.sasl_username):
        raise ConfigError(
            f"LGSP_KAFKA__SECURITY_PROTOCOL={kafka.security_protocol} needs LGSP_KAFKA__SASL_MECHANISM and "
            "LGSP_KAFKA__SASL_USERNAME (and LGSP_KAFKA__SASL_PASSWORD)"
        )
    if kafka.sasl_mechanism is not None and not kafka.uses_sasl:
        raise ConfigError(
            f"LGSP_KAFKA__SASL_MECHANISM is set but LGSP_KAFKA__SECURITY_PROTOCOL={kafka.security_protocol} "
            "sends no credentials; use SASL_SSL"
        )
    if kafka.ssl_keyfile is not None and kafka.ssl_certfile is None:
        raise ConfigError("LGSP_KAFKA__SSL_KEYFILE is set without LGSP_KAFKA__SSL_CERTFILE")


def java_client_properties(kafka: KafkaSettings) -> dict[str, str]:
    """The same connection for Kafka's own Java tools (``--command-config``, ``--producer-props``); no
    bootstrap servers (the tools take them as a flag)."""
    _check(kafka)
    props: dict[str, str] = {"security.protocol": kafka.security_protocol}
    if kafka.uses_tls:
        if kafka.ssl_cafile is not None:
            props["ssl.truststore.type"] = "PEM"
            props["ssl.truststore.location"] = str(kafka.ssl_cafile)
        if kafka.ssl_certfile is not None:
            # A PEM keystore holds key and chain in one file; ours are two. No tool of ours needs it yet.
            raise ConfigError("mutual TLS (LGSP_KAFKA__SSL_CERTFILE) is not supported for Kafka's Java tools")
    if kafka.sasl_mechanism is not None:
        module = (
            "org.apache.kafka.common.security.plain.PlainLoginModule"
            if kafka.sasl_mechanism == "PLAIN"
            else "org.apache.kafka.common.security.scram.ScramLoginModule"
        )
        password = "" if kafka.sasl_password is None else kafka.sasl_password.get_secret_value()
        props["sasl.mechanism"] = kafka.sasl_mechanism
        props["sasl.jaas.config"] = (
            f'{module} required username="{_jaas_quote(kafka.sasl_username or "")}" '
            f'password="{_jaas_quote(password)}";'
        )
    return props


def _jaas_quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def kafka_environment(kafka: KafkaSettings) -> dict[str, str]:
    """``LGSP_KAFKA__*`` variables that give a child process this connection (the password included)."""
    env = {
        "LGSP_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "LGSP_KAFKA__SECURITY_PROTOCOL": kafka.security_protocol,
    }
    optional = {
        "SASL_MECHANISM": kafka.sasl_mechanism,
        "SASL_USERNAME": kafka.sasl_username,
        "SASL_PASSWORD": None if kafka.sasl_password is None else kafka.sasl_password.get_secret_value(),
        "SSL_CAFILE": kafka.ssl_cafile,
        "SSL_CERTFILE": kafka.ssl_certfile,
        "SSL_KEYFILE": kafka.ssl_keyfile,
    }
    env.update({f"LGSP_KAFKA__{key}": str(value) for key, value in optional.items() if value is not None})
    return env
