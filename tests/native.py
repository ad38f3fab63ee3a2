"""The bus's C modules compiled from this tree by the build hook, for the tests that compare them with their
Python definitions (``test_merkle_native``, ``test_codec_native``), and the sanitizer build those tests run
under again (``test_native_sanitized``)."""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Final

import hatch_build

REPO = Path(__file__).resolve().parents[1]
SANITIZE_ENV: Final = "LGSP_TEST_SANITIZE"
"""Set to 1 in the sanitizer run's environment (:func:`sanitizer_environment`): :func:`compiled` then builds
with :data:`SANITIZER_FLAGS`, and a failed build is an error instead of "this machine cannot compile"."""
SANITIZER_FLAGS: Final = (
    "-O1",
    "-g",
    "-fno-omit-frame-pointer",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",  # undefined behaviour stops the process, as a memory error does
)


def compiled(source: Path, directory: Path) -> ModuleType | None:
    """``source`` (a key of ``hatch_build.EXTENSIONS``) compiled by ``hatch_build.compile_extension`` into
    ``directory`` and imported; None where this machine cannot compile it."""
    name = source.stem
    target = directory / f"{name}{sysconfig.get_config_var('EXT_SUFFIX')}"
    sanitized = os.environ.get(SANITIZE_ENV) == "1"
    extra = SANITIZER_FLAGS if sanitized else ()
    if not hatch_build.compile_extension(source, target, root=REPO, extra_flags=extra):
        if sanitized:
            raise RuntimeError(f"{source} did not build with {shlex.join(SANITIZER_FLAGS)} (see above)")
        return None
    spec = importlib.util.spec_from_file_location(name, target)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sanitizer_environment() -> dict[str, str] | None:
    """The environment of a Python child process that loads sanitizer-built modules; None where this
    machine's compiler has no AddressSanitizer runtime.

    ASan must be the first library of the process, so its runtime is preloaded into an interpreter that was
    not built with it. ``PYTHONMALLOC=malloc`` gives every Python object its own ``malloc``: with Python's
    pooled allocator, a write past a ``bytes`` object the C code fills would land in the pool unseen."""
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
    try:
        found = subprocess.run(
            [*compiler, "-print-file-name=libasan.so"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return None
    runtime = Path(found.stdout.strip())
    if found.returncode != 0 or not runtime.is_absolute() or not runtime.exists():
        return None
    return {
        **os.environ,
        SANITIZE_ENV: "1",
        "LD_PRELOAD": str(runtime.resolve()),
        "PYTHONMALLOC": "malloc",
        # Python frees little at exit by design: leak reports would be its, not ours
        "ASAN_OPTIONS": "detect_leaks=0",
        "UBSAN_OPTIONS": "print_stacktrace=1",
    }
