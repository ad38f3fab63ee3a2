"""docker-compose.secure.yml (the opt-in secure override) and the secrets its one-shot services make.

No Docker here: the override is validated against the Compose Specification (alone and merged over
docker-compose.yml as compose merges services), its commands are checked against the base file's and the CLI,
and lgsp/devstack/compose_secure.py's ``broker`` step is run into a temporary directory to check the broker it
configures (SASL_SSL only, ACLs, one super user) and the files' modes. The ``principals`` step is
:func:`lgsp.security.onboarding.ensure_service`, run against a real secure broker by
tests/integration/test_secure_kafka.py.
"""

from __future__ import annotations

import copy
import shlex
import stat
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from lgsp.devstack.compose_secure import BROKER_BASICS, CA_FILE, SERVICES, make_broker_secrets
from tests.prometheus_harness import REPO
from tests.unit.test_deploy_compose import (
    BUS_SERVICES,
    _compose,
    _schema,
    _services,
    _subcommand,
)

pytestmark = pytest.mark.unit

OVERRIDE = REPO / "docker-compose.secure.yml"
PRINCIPAL_OF = {
    "ingress": SERVICES["ingress"],
    "simulator": SERVICES["simulator"],
    "views-run": SERVICES["views"],
    "views-serve": SERVICES["views"],
}
"""Which principal each long-running bus service connects as."""
ROOT = "/run/lgsp"


def _override() -> dict[str, Any]:
    return dict(yaml.safe_load(OVERRIDE.read_text(encoding="utf-8")))


def _merged() -> dict[str, Any]:
    """docker-compose.yml with the override applied the way compose merges: mappings merged key by key,
    ``command``/``entrypoint``/``healthcheck.test`` replaced, ``volumes`` merged by target path."""
    base = copy.deepcopy(_compose())
    for name, override in _override()["services"].items():
        service = base["services"].setdefault(name, {})
        for key, value in override.items():
            if key == "volumes":
                mounts = {_target(v): v for v in service.get("volumes", [])}
                mounts.update({_target(v): v for v in value})
                service["volumes"] = list(mounts.values())
            elif isinstance(value, dict) and isinstance(service.get(key), dict):
                service[key] = {**service[key], **value}
            else:
                service[key] = value
    base["volumes"] = {**base["volumes"], **_override()["volumes"]}
    return base


def _target(volume: str | dict[str, Any]) -> str:
    return volume["target"] if isinstance(volume, dict) else volume.split(":")[1]


def _properties(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _shell(service: dict[str, Any]) -> str:
    assert service["entrypoint"][0] in {"/bin/sh", "/bin/bash"}, service["entrypoint"]
    return " ".join(service["command"])


@pytest.mark.parametrize("document", ["override", "merged"])
def test_the_override_validates_alone_and_merged(document: str) -> None:
    data = _override() if document == "override" else _merged()
    errors = sorted(jsonschema.Draft7Validator(_schema()).iter_errors(data), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_override_changes_only_services_of_the_base_file_plus_the_secrets_job() -> None:
    assert set(_override()["services"]) - set(_services()) == {"secrets"}
    assert _merged()["services"]["kafka"]["depends_on"]["secrets"]["condition"] == (
        "service_completed_successfully"
    )


@pytest.mark.parametrize("service", sorted(PRINCIPAL_OF))
def test_each_service_runs_its_base_command_as_its_own_principal_from_its_own_part(service: str) -> None:
    merged = _merged()["services"][service]
    principal = PRINCIPAL_OF[service]
    script = _shell(merged)
    source, run = script.rsplit(";", 1)
    assert source == f"set -a; . {ROOT}/{principal}/kafka.env; set +a"
    assert shlex.split(run) == ["exec", "lgsp", *_services()[service]["command"]]
    secrets = [v for v in merged["volumes"] if isinstance(v, dict) and v["source"] == "lgsp-secrets"]
    assert secrets == [
        {
            "type": "volume",
            "source": "lgsp-secrets",
            "target": f"{ROOT}/{principal}",
            "read_only": True,
            "volume": {"subpath": principal},
        }
    ]


def test_init_provisions_as_the_admin_then_creates_the_service_principals() -> None:
    script = _shell(_merged()["services"]["init"])
    assert script.startswith(f"set -a; . {ROOT}/admin/admin.env; set +a;")
    steps = [shlex.split(step) for step in script.split(";")[-1].split("&&")]
    assert [_subcommand(step[1:]) for step in steps[:3]] == [
        ["topics", "create"],
        ["schemas", "register"],
        ["agencies", "keys", "stack"],
    ]
    assert steps[3] == ["python", "-m", "lgsp.devstack.compose_secure", "principals", ROOT]


def test_kafka_starts_from_the_generated_properties_with_the_admin_credential_at_format() -> None:
    kafka = _merged()["services"]["kafka"]
    script = _shell(kafka)
    assert f"--config {ROOT}/kafka/server.properties" in script
    assert f'--add-scram "$$(cat {ROOT}/kafka/admin.scram)"' in script
    assert script.endswith(f"exec /opt/kafka/bin/kafka-server-start.sh {ROOT}/kafka/server.properties")
    assert f"--command-config {ROOT}/kafka/admin-client.properties" in kafka["healthcheck"]["test"][1]
    assert "kafka-secure-data:/var/lib/kafka/data" in kafka["volumes"]
    assert kafka["ports"] == ["127.0.0.1:9092:29092"]


def test_the_broker_basics_are_the_plain_compose_brokers() -> None:
    environment = _services()["kafka"]["environment"]
    plain = {
        name.removeprefix("KAFKA_").lower().replace("_", "."): str(value)
        for name, value in environment.items()
        if name.startswith("KAFKA_") and "LISTENER" not in name
    }
    assert plain == BROKER_BASICS


def test_the_broker_listens_sasl_ssl_only_with_acls_and_one_super_user(tmp_path: Path) -> None:
    make_broker_secrets(tmp_path)
    props = _properties(tmp_path / "kafka" / "server.properties")
    assert "PLAINTEXT" not in "".join(props.values())
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    assert set(protocols.values()) == {"SASL_SSL"}
    listeners = {item.split("://")[0] for item in props["listeners"].split(",")}
    assert listeners == set(protocols)
    for listener in ("client", "host"):
        assert props[f"listener.name.{listener}.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin"
    assert props["advertised.listeners"] == "CLIENT://kafka:9092,HOST://127.0.0.1:9092"
    for key in ("ssl.keystore.location", "ssl.truststore.location"):
        assert Path(props[key]).is_file(), key


def test_secrets_are_private_and_every_part_has_the_ca(tmp_path: Path) -> None:
    material = make_broker_secrets(tmp_path)
    for path in [
        *tmp_path.rglob("*.properties"),
        *tmp_path.rglob("*.env"),
        tmp_path / "kafka" / "admin.scram",
    ]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    admin_env = _properties(tmp_path / "admin" / "admin.env")
    assert admin_env["LGSP_KAFKA__SASL_USERNAME"] == "admin"
    assert admin_env["LGSP_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    assert admin_env["LGSP_KAFKA__SSL_CAFILE"] == str(tmp_path / "admin" / CA_FILE)
    for part in ("admin", *SERVICES.values()):
        ca = tmp_path / part / CA_FILE
        assert ca.read_bytes() == material.tls.ca_cert.read_bytes()
        assert stat.S_IMODE(ca.stat().st_mode) == 0o644
    scram = (tmp_path / "kafka" / "admin.scram").read_text().strip()
    assert scram == f"SCRAM-SHA-512=[name=admin,password={material.admin_password.get_secret_value()}]"
    again = make_broker_secrets(tmp_path)  # a restarted stack keeps its CA and password
    assert again.admin_password.get_secret_value() == material.admin_password.get_secret_value()


def test_bus_services_of_the_base_file_are_all_covered() -> None:
    assert set(PRINCIPAL_OF) | {"init"} == set(BUS_SERVICES)


def test_the_simulator_principal_may_only_write_the_three_event_topics() -> None:
    from lgsp.security.acls import Operation, Pattern, Resource, simulator_acls

    acls = simulator_acls("p.")
    assert {(a.principal, a.resource, a.name, a.pattern, a.operation) for a in acls} == {
        ("lgsp-simulator", Resource.TOPIC, f"p.lgsp.{name}", Pattern.LITERAL, Operation.WRITE)
        for name in ("documents", "dossiers", "reports")
    }
