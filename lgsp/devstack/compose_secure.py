"""The secrets of the secure compose stack (docker-compose.secure.yml), made by its one-shot services.

    python -m lgsp.devstack.compose_secure broker /run/lgsp --kafka-data /var/lib/kafka/data   # `secrets`
    python -m lgsp.devstack.compose_secure principals /run/lgsp                                # `init`

One volume (``lgsp-secrets``) holds one directory per party, and every container sees its part at the same
absolute path (``/run/lgsp/<part>``), mounting only that part (a compose ``subpath``), read-only:

    kafka/            the CA, the broker's PEM key store, server.properties (the secure listeners of
                      ``lgsp dev up --secure``: SASL_SSL + SCRAM-SHA-512 for clients, TLS between brokers,
                      StandardAuthorizer, no ACL no access, super user admin), admin.scram (the argument of
                      ``kafka-storage format --add-scram``), admin-client.properties (the health check)
    admin/            admin.env (``LGSP_KAFKA__*`` of the admin: the init service), ca.pem
    lgsp-ingress/     ca.pem, kafka.env (written by ``principals``: the principal's own password)
    lgsp-views/       the same, for views run and views serve
    lgsp-simulator/   the same, for the simulator

``broker`` runs as root before Kafka and hands every file to the bus image's user (uid 10001), which the
Kafka container runs as too; secrets are 0600, CA certificates 0644. ``principals`` runs as the admin once
Kafka is healthy and creates each service's SCRAM user and ACLs (lgsp/security/acls.py) idempotently.
The broker listeners reuse :func:`lgsp.devstack.secure.secure_properties`, so the compose broker and the dev
stack's are secured alike; docker-compose.yml's plain KAFKA_* settings are repeated in :data:`BROKER_BASICS`
(a unit test keeps the two equal).
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from bus.kafka_client import java_client_properties
from bus.settings import Settings
from lgsp.devstack.secure import (
    SCRAM,
    SecureMaterial,
    ensure_material,
    format_scram_arguments,
    secure_properties,
    write_admin_env,
    write_private,
)
from lgsp.security.acls import INGRESS_PRINCIPAL, SIMULATOR_PRINCIPAL, VIEWS_PRINCIPAL
from lgsp.security.onboarding import ensure_service

HOST: Final = "kafka"
"""The broker's name on the compose network (and in its certificate)."""
CLIENT_PORT: Final = 9092
CONTROLLER_PORT: Final = 9093
HOST_PORT: Final = 29092
"""The listener published on the machine as 127.0.0.1:9092 (docker-compose.yml's ``ports``)."""
BUS_UID: Final = 10001
"""The Dockerfile's ``lgsp`` user."""
SERVICES: Final = {"ingress": INGRESS_PRINCIPAL, "views": VIEWS_PRINCIPAL, "simulator": SIMULATOR_PRINCIPAL}
"""Service kind (lgsp/security/onboarding.py) -> its principal, which is also its directory."""
KAFKA_DIR: Final = "kafka"
ADMIN_DIR: Final = "admin"
CA_FILE: Final = "ca.pem"
BROKER_BASICS: Final = {
    "node.id": "1",
    "process.roles": "broker,controller",
    "controller.quorum.voters": f"1@{HOST}:{CONTROLLER_PORT}",
    "log.dirs": "/var/lib/kafka/data",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "false",
}
"""The plain compose broker's settings (docker-compose.yml, ``kafka`` service, KAFKA_*), listeners aside."""


def broker_properties(material: SecureMaterial) -> dict[str, str]:
    """server.properties of the secure compose broker: the basics, then the dev stack's secure listeners
    adapted to compose (bound on every interface of the container, advertised as ``kafka`` inside the
    network and as 127.0.0.1:9092 on the machine, both SASL_SSL + SCRAM)."""
    secure = secure_properties(material, host=HOST, port=CLIENT_PORT, controller_port=CONTROLLER_PORT)
    scram_jaas = secure["listener.name.client.scram-sha-512.sasl.jaas.config"]
    return {
        **BROKER_BASICS,
        **secure,
        "listeners": f"CLIENT://:{CLIENT_PORT},CONTROLLER://:{CONTROLLER_PORT},HOST://:{HOST_PORT}",
        "advertised.listeners": f"CLIENT://{HOST}:{CLIENT_PORT},HOST://127.0.0.1:{CLIENT_PORT}",
        "listener.security.protocol.map": "CLIENT:SASL_SSL,CONTROLLER:SASL_SSL,HOST:SASL_SSL",
        "listener.name.host.sasl.enabled.mechanisms": SCRAM,
        "listener.name.host.scram-sha-512.sasl.jaas.config": scram_jaas,
    }


def make_broker_secrets(root: Path, *, kafka_data: Path | None = None) -> SecureMaterial:
    """The ``kafka`` and ``admin`` parts and each service's CA (kept when they exist: a restart of the
    stack keeps its CA and passwords); ``kafka_data`` is handed to the bus user too."""
    kafka = root / KAFKA_DIR
    material = ensure_material(kafka, HOST)
    write_private(kafka / "server.properties", _properties_text(broker_properties(material)))
    write_private(kafka / "admin.scram", format_scram_arguments(material)[1] + "\n")
    admin = material.admin_settings(f"{HOST}:{CLIENT_PORT}")
    # The health check runs inside the Kafka container: it reaches the broker as localhost.
    write_private(kafka / "admin-client.properties", _properties_text(java_client_properties(admin)))
    for part in (ADMIN_DIR, *SERVICES.values()):
        (root / part).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(material.tls.ca_cert, root / part / CA_FILE)
    write_admin_env(root / ADMIN_DIR, admin.model_copy(update={"ssl_cafile": root / ADMIN_DIR / CA_FILE}))
    _hand_over(root, kafka_data)
    return material


def make_service_principals(settings: Settings, root: Path) -> list[Path]:
    """As the admin (``settings.kafka``): each service's SCRAM user and ACLs, its ``kafka.env`` in its part
    (with the CA path its container sees); returns the env files."""
    written = []
    for kind, principal in SERVICES.items():
        part = root / principal
        own_ca = settings.kafka.model_copy(update={"ssl_cafile": part / CA_FILE})
        done = ensure_service(settings.model_copy(update={"kafka": own_ca}), kind, out_dir=root)
        written.append(done.directory / "kafka.env")
    _hand_over(root, None)
    return written


def _properties_text(properties: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in sorted(properties.items()))


def _hand_over(root: Path, kafka_data: Path | None) -> None:
    """Owner uid 10001 for everything (as root; a no-op otherwise, e.g. in tests), CA certificates 0644."""
    for path in [root, *root.rglob("*")]:
        if path.name == CA_FILE:  # the parts' copies and kafka/tls/ca.pem: public
            path.chmod(0o644)
        if os.geteuid() == 0:
            os.chown(path, BUS_UID, BUS_UID)
    if kafka_data is not None and os.geteuid() == 0:
        kafka_data.mkdir(parents=True, exist_ok=True)
        os.chown(kafka_data, BUS_UID, BUS_UID)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lgsp.devstack.compose_secure", description=__doc__)
    parser.add_argument("step", choices=("broker", "principals"))
    parser.add_argument("root", type=Path, help="where the lgsp-secrets volume is mounted (/run/lgsp)")
    parser.add_argument("--kafka-data", type=Path, help="Kafka's data volume, handed to the bus user")
    args = parser.parse_args(argv)
    if args.step == "broker":
        make_broker_secrets(args.root, kafka_data=args.kafka_data)
    else:
        make_service_principals(Settings(), args.root)


if __name__ == "__main__":
    main()
