"""``import bus`` and ``bus.Publisher`` (and the consumer runner) load no web framework or command-line
toolkit.

The bare wheel in a clean venv proves the dependency side (tests/integration/test_sdk_wheel.py); this proves
the import side quickly in the dev venv, where every extra is installed and a stray top-level import would go
unnoticed. (rich and click are left out here: httpx imports them for its own CLI whenever they are installed.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

SERVER_MODULES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "typer",
    "swagger_ui_bundle",
    "avro",
    "lgsp",
    "producers",
)

_PROBE = """
import json, sys
import bus
bus.Publisher
import bus.settings, bus.serde, bus.events, bus.cloudevents, bus.registry, bus.topics, bus.metrics
import bus.consumer.runner
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_sdk_imports_load_no_server_framework_or_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout))
    assert "bus" in loaded
    assert loaded.isdisjoint(SERVER_MODULES), sorted(loaded & set(SERVER_MODULES))
