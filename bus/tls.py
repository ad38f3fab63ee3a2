"""The TLS context of every client the bus makes to a server it must trust: Kafka's brokers
(:func:`bus.kafka_client.ssl_context`) and an https schema registry (:mod:`bus.registry`)."""

from __future__ import annotations

import ssl
from pathlib import Path

from bus.errors import ConfigError


def client_context(
    cafile: Path | None, certfile: Path | None = None, keyfile: Path | None = None, *, what: str
) -> ssl.SSLContext:
    """TLS 1.2+ with the server's certificate and host name verified against ``cafile`` (or the system CAs),
    and a client certificate when one is given (mutual TLS); ConfigError naming ``what`` otherwise."""
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=None if cafile is None else str(cafile)
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if certfile is not None:
            context.load_cert_chain(str(certfile), None if keyfile is None else str(keyfile))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot build the {what} TLS context: {exc}") from exc
    return context
