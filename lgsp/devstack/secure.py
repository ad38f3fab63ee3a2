"""The secure mode of the local stack (``lgsp dev up --secure``): TLS everywhere, SCRAM, ACLs, admin only.

Listeners of each node (every one TLS, certificates from the local CA of :mod:`lgsp.devstack.certs`)::

    CLIENT      SASL_SSL, SCRAM-SHA-512   clients, and the brokers among themselves (as the admin principal)
    CONTROLLER  SASL_SSL, PLAIN           the KRaft quorum and broker -> controller traffic (as the admin)

The controller listener uses PLAIN because KRaft controllers cannot authenticate SCRAM (its credentials live
in the metadata log the controllers serve); the PLAIN password is the admin's, and never crosses the wire
unencrypted. ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false`` and
``super.users=User:admin``: every other principal can do only what an ACL grants
(:mod:`lgsp.security.acls`).

The admin's SCRAM credential is written into the cluster's bootstrap metadata when the nodes are formatted
(``kafka-storage format --add-scram``), so it exists before the first broker starts. State directory::

    tls/                       the CA and the brokers' certificate (0600 keys)
    admin.env                  0600: the LGSP_KAFKA__* settings of the admin principal (password included)
                               and the registry admin's LGSP_REGISTRY__* (lgsp.devstack.secure_registry)
    kafka-<n>/server.properties  0600: it carries the admin password for broker-to-broker authentication
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from bus.kafka_client import kafka_environment, librdkafka_config
from bus.registry import registry_environment
from bus.settings import KafkaSettings, RegistrySettings
from lgsp.devstack.certs import TlsFiles, ensure_certificates

ADMIN = "admin"
SCRAM = "SCRAM-SHA-512"
ADMIN_ENV = "admin.env"
_PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
_SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class SecureMaterial:
    """What the secure brokers and their admin need: the TLS files and the admin password."""

    tls: TlsFiles
    keystore: Path
    admin_password: SecretStr

    def admin_settings(self, bootstrap_servers: str) -> KafkaSettings:
        return client_settings(bootstrap_servers, self.tls.ca_cert, ADMIN, self.admin_password)


def client_settings(
    bootstrap_servers: str, ca_file: Path, username: str, password: SecretStr
) -> KafkaSettings:
    """The settings of a client of the secure stack: SASL_SSL, SCRAM-SHA-512, the local CA."""
    return KafkaSettings(
        bootstrap_servers=bootstrap_servers,
        security_protocol="SASL_SSL",
        sasl_mechanism=SCRAM,
        sasl_username=username,
        sasl_password=password,
        ssl_cafile=ca_file.resolve(),
    )


def ensure_material(state_dir: Path, host: str) -> SecureMaterial:
    """The CA, the brokers' certificate and key store, and the admin password: made once, then reused."""
    tls = ensure_certificates(state_dir / "tls", host=host)
    keystore = tls.directory / "broker-keystore.pem"
    # Kafka's PEM key store is one file: the private key, then the certificate chain.
    write_private(keystore, tls.broker_key.read_text("ascii") + tls.broker_cert.read_text("ascii"))
    password_file = state_dir / "admin.password"
    if not password_file.exists():
        write_private(password_file, secrets.token_urlsafe(24) + "\n")
    password = SecretStr(password_file.read_text("ascii").strip())
    return SecureMaterial(tls, keystore, password)


def write_admin_env(
    state_dir: Path, settings: KafkaSettings, registry: RegistrySettings | None = None
) -> Path:
    """``admin.env`` (0600): ``set -a; . admin.env`` gives a shell the admin's connection (Kafka, and the
    registry's writer when ``registry`` is given)."""
    path = state_dir / ADMIN_ENV
    env = kafka_environment(settings) | ({} if registry is None else registry_environment(registry))
    lines = [f"{key}={value}\n" for key, value in env.items()]
    write_private(path, "".join(lines))
    return path


def secure_properties(
    material: SecureMaterial, *, host: str, port: int, controller_port: int
) -> dict[str, str]:
    """The broker properties of the secure mode (they replace the plain listeners)."""
    password = _jaas_value(material.admin_password.get_secret_value())
    return {
        "listeners": f"CLIENT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"CLIENT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "listener.security.protocol.map": "CLIENT:SASL_SSL,CONTROLLER:SASL_SSL",
        "inter.broker.listener.name": "CLIENT",
        "controller.listener.names": "CONTROLLER",
        "sasl.enabled.mechanisms": SCRAM,
        "sasl.mechanism.inter.broker.protocol": SCRAM,
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.client.sasl.enabled.mechanisms": SCRAM,
        "listener.name.client.scram-sha-512.sasl.jaas.config": (
            f'{_SCRAM_MODULE} required username="{ADMIN}" password="{password}";'
        ),
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": (
            f'{_PLAIN_MODULE} required username="{ADMIN}" password="{password}" user_{ADMIN}="{password}";'
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(material.keystore.resolve()),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(material.tls.ca_cert.resolve()),
        "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
        "ssl.endpoint.identification.algorithm": "https",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN}",
    }


def format_scram_arguments(material: SecureMaterial) -> list[str]:
    """``kafka-storage format`` arguments that put the admin's SCRAM credential in the bootstrap metadata."""
    password = material.admin_password.get_secret_value()
    return ["--add-scram", f"{SCRAM}=[name={ADMIN},password={password}]"]


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (created 0600 before anything is written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)


def _jaas_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def secure_node_ready(admin: KafkaSettings, node_id: int, timeout_s: float = 2.0) -> bool:
    """Whether the node, asked over TLS as the admin, lists itself among the live brokers.

    The plain probe's unauthenticated Metadata request is refused on a SASL_SSL listener, so this one
    authenticates (librdkafka, synchronous like the plain probe).
    """
    config: dict[str, Any] = {
        **librdkafka_config(admin, client_suffix="dev-probe"),
        "logger": _QUIET,
        "socket.timeout.ms": int(timeout_s * 1000),
    }
    try:
        metadata = AdminClient(config).list_topics(timeout=timeout_s)
    except KafkaException:
        return False
    return node_id in metadata.brokers


_QUIET = logging.getLogger("lgsp.devstack.librdkafka")
_QUIET.setLevel(logging.CRITICAL)  # refused connections while a broker starts are expected, not news
