"""The SDK installs light: the bare wheel (no extras) in a clean venv publishes to the real Kafka.

What an agency developer runs is ``pip install lgsp-bus`` and ``bus.Publisher``. This builds the wheel from
the working tree, installs it without extras into a new virtual environment (dependencies from the package
index, as a user gets them), and publishes one event from there to the session's broker and registry. It also
proves that neither ``import bus`` nor publishing loads a web framework or terminal UI (they are not even
installed), and that the ``lgsp`` script installed with the bare wheel names the extra it needs instead of
failing with a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bus import avro_writer
from bus.cloudevents import parse_kafka_headers
from bus.events import DossierSynced
from bus.settings import Settings
from bus.signing import tree
from bus.topics import ensure_topics, topic_for
from lgsp.script import CLI_EXTRA_HINT
from tests import publishing_samples as samples
from tests.conftest import StackEndpoints
from tests.integration.kafka_read import read_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 420.0
SERVER_AND_CLI_MODULES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "typer",
    "click",
    "rich",
    "avro",
    "uvloop",
    "httptools",
)
"""What the extras bring ([ingress], [views], [cli]); the SDK must neither need nor load any of them."""

PUBLISH_SCRIPT = """
import asyncio, importlib.util, json, sys

import bus
from bus.cloudevents import from_structured
from bus.settings import Settings
from bus.signing import tree

FORBIDDEN = json.loads(sys.argv[2])


async def publish() -> dict:
    async with bus.Publisher(Settings()) as publisher:
        delivery = await publisher.publish(from_structured(json.loads(sys.argv[1])))
    return {"topic": delivery.topic, "partition": delivery.partition, "offset": delivery.offset,
            "id": delivery.id}


result = asyncio.run(publish())
result["loaded"] = sorted({m.split(".")[0] for m in sys.modules} & set(FORBIDDEN))
result["installed"] = sorted(m for m in FORBIDDEN if importlib.util.find_spec(m) is not None)
print(json.dumps(result))
"""


def _run(args: list[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=env, check=False, cwd=ROOT
    )


def _checked(args: list[str], *, env: dict[str, str] | None = None) -> str:
    done = _run(args, env=env)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def sdk_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding the wheel built from this tree, installed with no extras."""
    work = tmp_path_factory.mktemp("sdk-wheel")
    _checked([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(ROOT)])
    (wheel,) = (work / "dist").glob("lgsp_bus-*.whl")
    venv = work / "venv"
    _checked([sys.executable, "-m", "venv", str(venv)])
    _checked([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)])
    return venv


async def test_bare_wheel_publishes_with_bus_publisher_and_loads_no_server_or_cli(
    sdk_venv: Path, stack: StackEndpoints, topic_prefix: str
) -> None:
    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": stack.bootstrap_servers},
            "registry": {"url": stack.registry_url},
            "topics": {"prefix": topic_prefix},
        }
    )
    await ensure_topics(settings)
    event = samples.dossier(7)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LGSP_")},
        "LGSP_KAFKA__BOOTSTRAP_SERVERS": stack.bootstrap_servers,
        "LGSP_REGISTRY__URL": stack.registry_url,
        "LGSP_REGISTRY__AUTO_REGISTER": "true",
        "LGSP_TOPICS__PREFIX": topic_prefix,
    }
    python = str(sdk_venv / "bin" / "python")
    out = _checked(
        [python, "-c", PUBLISH_SCRIPT, json.dumps(event), json.dumps(SERVER_AND_CLI_MODULES)], env=env
    )
    result = json.loads(out.strip().splitlines()[-1])

    assert result["installed"] == [], "the bare wheel pulled in an extra's dependency"
    assert result["loaded"] == []
    topic = topic_for(DossierSynced, prefix=topic_prefix)
    assert result["topic"] == topic
    records = await read_all(stack.bootstrap_servers, [topic])
    assert [(r.partition, r.offset) for r in records] == [(result["partition"], result["offset"])]
    assert records[0].key == event["data"]["dossier_code"].encode()
    assert parse_kafka_headers(records[0].headers)["id"] == event["id"] == result["id"]


def test_lgsp_script_of_the_bare_wheel_names_the_cli_extra(sdk_venv: Path) -> None:
    done = _run([str(sdk_venv / "bin" / "lgsp"), "--help"])
    assert done.returncode == 1
    assert CLI_EXTRA_HINT in done.stderr
    assert "Traceback" not in done.stderr


def test_the_bare_wheel_carries_the_c_code_that_this_install_has(sdk_venv: Path) -> None:
    """A wheel built where the C extensions compile carries them (tagged for the platform), and the SDK
    installed from it signs and writes Avro with them; where they cannot be built, neither has them
    (``test_merkle_native`` and ``test_codec_native`` check this install)."""
    (wheel,) = (sdk_venv.parent / "dist").glob("lgsp_bus-*.whl")
    out = _checked(
        [
            str(sdk_venv / "bin" / "python"),
            "-c",
            "import bus.signing.tree as t, bus.avro_writer as w, bus.partitioner as p; "
            "print(t.NATIVE, t.proofs is t.python_proofs, w.NATIVE, p.NATIVE)",
        ]
    )
    assert out.split() == [
        str(tree.NATIVE),
        str(not tree.NATIVE),
        str(avro_writer.NATIVE),
        str(avro_writer.NATIVE),
    ]
    assert wheel.name.endswith("-py3-none-any.whl") is not tree.NATIVE, wheel.name
