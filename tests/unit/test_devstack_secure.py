"""The secure mode's broker configuration and files, without starting a broker."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lgsp.devstack.kafka_config import render_server_properties
from lgsp.devstack.layout import KafkaNode, StackLayout
from lgsp.devstack.secure import ensure_material, format_scram_arguments, secure_properties
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
