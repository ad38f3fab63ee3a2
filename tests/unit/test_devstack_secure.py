"""The secure mode's broker configuration and files, without starting a broker."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bus.settings import DevSettings, RegistrySettings
from lgsp.devstack.components import RegistryComponent
from lgsp.devstack.kafka_config import render_server_properties
from lgsp.devstack.layout import KafkaNode, StackLayout
from lgsp.devstack.secure import ensure_material, format_scram_arguments, secure_properties, write_admin_env
from lgsp.devstack.secure_registry import registry_password
from lgsp.security.acls import Operation, Pattern, Resource, ingress_acls, sdk_agency_acls, views_acls

pytestmark = pytest.mark.unit


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_every_listener_is_tls_and_only_the_admin_is_super(tmp_path: Path) -> None:
    material = ensure_material(tmp_path, "127.0.0.1")
    layout = StackLayout("127.0.0.1", "cid", (KafkaNode(1, 9192, 9193),), None, secure=True)
    overrides = secure_properties(material, host="127.0.0.1", port=9192, controller_port=9193)
    props = _props(render_server_properties(layout, layout.nodes[0], tmp_path / "data", overrides=overrides))
    assert props["listener.security.protocol.map"] == "CLIENT:SASL_SSL,CONTROLLER:SASL_SSL"
    assert "PLAINTEXT://" not in props["listeners"]
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin"
    assert format_scram_arguments(material)[1].startswith("SCRAM-SHA-512=[name=admin,password=")


def test_keys_and_the_admin_password_are_private_and_kept_across_ups(tmp_path: Path) -> None:
    first = ensure_material(tmp_path, "127.0.0.1")
    again = ensure_material(tmp_path, "127.0.0.1")
    assert first.admin_password.get_secret_value() == again.admin_password.get_secret_value()
    assert first.tls.ca_cert.read_bytes() == again.tls.ca_cert.read_bytes()
    for private in (first.tls.ca_key, first.tls.broker_key, first.keystore, tmp_path / "admin.password"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private


def test_acls_are_least_privilege_literal_topics_and_a_prefixed_group() -> None:
    sdk = sdk_agency_acls("p.", "000.00.00.H29")
    assert {(a.operation, a.name) for a in sdk} == {
        (Operation.WRITE, "p.lgsp.documents"),
        (Operation.WRITE, "p.lgsp.dossiers"),
        (Operation.WRITE, "p.lgsp.reports"),
    }
    views = views_acls("p.", "p.views")
    assert all(a.pattern is Pattern.LITERAL for a in [*sdk, *views] if a.resource is Resource.TOPIC)
    writes = {a.name for a in views if a.operation is Operation.WRITE}
    assert writes == {"p.lgsp.documents.dlq", "p.lgsp.dossiers.dlq", "p.lgsp.reports.dlq"}
    groups = [a for a in views if a.resource is Resource.GROUP]
    assert [(g.name, g.pattern) for g in groups] == [("p.views", Pattern.PREFIXED)]
    assert "p.lgsp.audit" in {a.name for a in ingress_acls("p.")}
    with pytest.raises(ValueError, match="agency code"):
        sdk_agency_acls("", "x,y=z")


def test_the_secure_registry_gets_its_password_in_its_environment_never_on_its_command_line(
    tmp_path: Path,
) -> None:
    settings = DevSettings(state_dir=tmp_path)
    secure = StackLayout("127.0.0.1", "cid", (KafkaNode(1, 9192, 9193),), 9194, secure=True)
    registry = RegistryComponent(settings, secure, 9194)
    password = registry_password(registry.managed.directory)
    command = registry.command("java")
    assert not any(password.get_secret_value() in part for part in command)
    assert "-Dquarkus.http.auth.basic=true" in command
    assert "-Dapicurio.auth.anonymous-read-access.enabled=true" in command
    assert password.get_secret_value() in registry.environment().values()
    assert stat.S_IMODE((registry.managed.directory / "admin.password").stat().st_mode) == 0o600
    assert registry_password(registry.managed.directory) == password  # kept across restarts

    plain = RegistryComponent(settings, StackLayout("127.0.0.1", "cid", secure.nodes, 9194), 9194)
    assert registry.environment() != {}
    assert plain.environment() == {}
    assert not any("auth" in part for part in plain.command("java"))


def test_admin_env_carries_the_registry_writer_next_to_the_kafka_admin(tmp_path: Path) -> None:
    material = ensure_material(tmp_path, "127.0.0.1")
    registry = RegistrySettings(url="http://127.0.0.1:1/apis/ccompat/v7", username="admin", password="pw")
    path = write_admin_env(tmp_path, material.admin_settings("127.0.0.1:9192"), registry)
    values = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert values["LGSP_REGISTRY__USERNAME"] == "admin"
    assert values["LGSP_REGISTRY__PASSWORD"] == "pw"
    assert values["LGSP_REGISTRY__URL"] == registry.url
    assert values["LGSP_KAFKA__SASL_USERNAME"] == "admin"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
