"""The bus's C modules compiled from this tree by the build hook, for the tests that compare them with their
Python definitions (``test_merkle_native``, ``test_codec_native``)."""

from __future__ import annotations

import importlib.util
import sysconfig
from pathlib import Path
from types import ModuleType

import hatch_build

REPO = Path(__file__).resolve().parents[1]


def compiled(source: Path, directory: Path) -> ModuleType | None:
    """``source`` (a key of ``hatch_build.EXTENSIONS``) compiled by ``hatch_build.compile_extension`` into
    ``directory`` and imported; None where this machine cannot compile it."""
    name = source.stem
    target = directory / f"{name}{sysconfig.get_config_var('EXT_SUFFIX')}"
    if not hatch_build.compile_extension(source, target, root=REPO):
        return None
    spec = importlib.util.spec_from_file_location(name, target)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
