"""``lgsp demo --secure`` end to end, briefly, on the session's secure broker (``lgsp dev up --secure``:
SASL_SSL + SCRAM-SHA-512 + ACLs) with the session's registry, ``--no-dev-stack`` and the admin's settings
(what its admin.env holds): the demo provisions as the admin, and each process it starts connects as its own
least-privilege principal (lgsp/demo/secure.py) — the views as ``lgsp-views``, the ingress as
``lgsp-ingress``, the simulated nation as ``lgsp-simulator``. The scoreboard has numbers (the simulator
could write, the views could read, the keyring was readable) and the ingress accepts the sample event.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.kafka_client import kafka_environment
from lgsp.security.acls import INGRESS_PRINCIPAL, SIMULATOR_PRINCIPAL, VIEWS_PRINCIPAL
from lgsp.security.kafka_admin import SecurityAdmin
from tests.conftest import StackEndpoints
from tests.e2e.test_demo import NATION_ROW, Demo, _alive, _distinct_free_ports
from tests.stack import SecureStack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PRINCIPALS = {"views-run": VIEWS_PRINCIPAL, "views-serve": VIEWS_PRINCIPAL, "ingress": INGRESS_PRINCIPAL}


@pytest.fixture
def secure_demo(secure_stack: SecureStack, stack: StackEndpoints, tmp_path: Path) -> Iterator[Demo]:
    state = tmp_path / "state"
    env = {
        **os.environ,
        **kafka_environment(secure_stack.admin),
        "LGSP_REGISTRY__URL": stack.registry_url,
        "LGSP_TOPICS__PREFIX": f"sdemo{uuid.uuid4().hex[:8]}.",
        "LGSP_TOPICS__PARTITIONS": "2",
        "LGSP_DEV__STATE_DIR": str(state),
    }
    setup = Demo(env, state / "demo", *_distinct_free_ports(4))
    yield setup
    subprocess.run(setup.args("--stop"), env=env, capture_output=True, timeout=120, check=False)
    # The session's secure broker is shared: leave no service principal whose password only this test knew.
    admin = SecurityAdmin(secure_stack.admin)
    for principal in (VIEWS_PRINCIPAL, INGRESS_PRINCIPAL, SIMULATOR_PRINCIPAL):
        admin.delete_acls_of(principal)
        admin.delete_user(principal)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_the_secure_demo_runs_each_process_as_its_own_principal(secure_demo: Demo) -> None:
    demo = secure_demo
    done = demo.run("--secure", "--duration", "3", "--rate", "60", "--keep-running", "--no-wait")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "principals (least privilege" in out
    nation = NATION_ROW.search(out)
    assert nation is not None, out
    assert int(nation["documents"].replace(",", "")) > 0
    assert "the views applied every record on the topics" in out

    pids = demo.child_pids()
    assert set(pids) == set(PRINCIPALS)
    for name, pid in pids.items():
        assert _alive(pid)
        env = _environ(pid)
        assert env["LGSP_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["LGSP_KAFKA__SASL_USERNAME"] == PRINCIPALS[name], name
    credentials = demo.home.parent / "principals" / SIMULATOR_PRINCIPAL / "kafka.env"
    assert credentials.stat().st_mode & 0o077 == 0

    _, posted = demo.post_sample()
    assert posted.status_code == 202, posted.text  # the ingress wrote as lgsp-ingress

    stopped = subprocess.run(demo.args("--stop"), env=demo.env, capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not any(_alive(pid) for pid in pids.values())


def test_secure_demo_refuses_a_plain_connection_before_starting_anything(
    stack: StackEndpoints, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "LGSP_KAFKA__BOOTSTRAP_SERVERS": stack.bootstrap_servers,
        "LGSP_REGISTRY__URL": stack.registry_url,
        "LGSP_TOPICS__PREFIX": f"pdemo{uuid.uuid4().hex[:8]}.",
        "LGSP_DEV__STATE_DIR": str(tmp_path / "state"),
    }
    demo = Demo(env, tmp_path / "state" / "demo", *_distinct_free_ports(4))
    done = subprocess.run(
        demo.args("--secure", "--duration", "1"), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert "--secure needs the admin's SASL_SSL connection" in done.stdout, done.stdout + done.stderr
    assert demo.child_pids() == {}
