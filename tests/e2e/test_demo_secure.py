"""``lgsp demo --secure`` on the session's secure stack (``--no-dev-stack`` with the admin's settings).

The demo completes with a scoreboard; its children run as their own least-privilege principals (the views as
``lgsp-views``, the ingress as ``lgsp-ingress``), with neither the Kafka admin's nor the registry admin's
password in their environment; the ingress publishes a posted event through its own principal.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from bus.kafka_client import kafka_environment
from bus.registry import registry_environment
from lgsp.security.acls import INGRESS_PRINCIPAL, VIEWS_PRINCIPAL
from tests.e2e.test_demo import CHILDREN, DEMO_TIMEOUT_S, NATION_ROW, Demo, _alive, _distinct_free_ports
from tests.stack import SecureStack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_the_demo_runs_secured_with_each_child_as_its_own_principal(
    secure_stack: SecureStack, tmp_path: Path
) -> None:
    admin = secure_stack.admin
    registry = secure_stack.launcher.registry_admin_settings()
    assert admin.sasl_password is not None
    assert registry.password is not None
    secrets = {admin.sasl_password.get_secret_value(), registry.password.get_secret_value()}
    env = {
        **os.environ,
        **kafka_environment(admin),
        **registry_environment(registry),
        "LGSP_TOPICS__PREFIX": f"sdemo{uuid.uuid4().hex[:8]}.",
        "LGSP_TOPICS__PARTITIONS": "2",
        "LGSP_DEV__STATE_DIR": str(tmp_path / "state"),
    }
    demo = Demo(env, tmp_path / "state" / "demo", *_distinct_free_ports(4))
    args = demo.args("--secure", "--duration", "4", "--rate", "60")
    try:
        done = subprocess.run(
            [*args, "--keep-running", "--no-wait"],
            env=env,
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT_S,
            check=False,
        )
        out = done.stdout
        assert done.returncode == 0, out + done.stderr
        assert f"the views run as User:{VIEWS_PRINCIPAL}, the ingress as User:{INGRESS_PRINCIPAL}" in out
        nation = NATION_ROW.search(out)
        assert nation is not None, out
        assert int(nation["documents"].replace(",", "")) > 0
        assert "the views applied every record on the topics" in out

        pids = demo.child_pids()
        assert set(pids) == set(CHILDREN)
        for name, pid in pids.items():
            assert _alive(pid), name
            child = _environ(pid)
            expected = INGRESS_PRINCIPAL if name == "ingress" else VIEWS_PRINCIPAL
            assert child["LGSP_KAFKA__SASL_USERNAME"] == expected, name
            assert child["LGSP_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL", name
            assert "LGSP_REGISTRY__PASSWORD" not in child, name
            assert not any(secret in value for value in child.values() for secret in secrets), name

        key = (demo.home / "ingress-demo-key").read_text().strip()
        sample = (demo.home / "sample-dossier.json").read_text()
        posted = httpx.post(
            demo.url(demo.ingress, "/v1/events"),
            content=sample,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents+json"},
            timeout=30,
        )
        assert posted.status_code == 202, posted.text  # written to Kafka as lgsp-ingress
    finally:
        subprocess.run([*args, "--stop"], env=env, capture_output=True, timeout=120, check=False)
    assert not any(_alive(pid) for pid in demo.child_pids().values())
