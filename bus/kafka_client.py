"""Connection arguments for every aiokafka client the bus makes, from settings, in one place.

Secrets are unwrapped only here, as the client is built.
"""

from __future__ import annotations

from typing import Any

from bus.settings import KafkaSettings


def connection_kwargs(kafka: KafkaSettings, *, client_suffix: str | None = None) -> dict[str, Any]:
    """Bootstrap servers, client id (``<client_id>-<suffix>``), timeout, security and SASL credentials."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": kafka.client_id if client_suffix is None else f"{kafka.client_id}-{client_suffix}",
        "request_timeout_ms": kafka.request_timeout_ms,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.sasl_mechanism is not None:
        kwargs["sasl_mechanism"] = kafka.sasl_mechanism
        kwargs["sasl_plain_username"] = kafka.sasl_username
        if kafka.sasl_password is not None:
            kwargs["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    return kwargs
