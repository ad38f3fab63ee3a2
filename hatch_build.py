"""Build hook: compiles ``bus/signing/_merkle.c`` (the RFC 9162 hashing of :mod:`bus.signing.tree` in C).

The extension is optional. Without a C compiler, Python's headers or OpenSSL's, the build says why and goes
on, and ``bus.signing.tree`` uses its pure-Python code: the same hashes, about three times the CPU per
signed or verified record. ``LGSP_BUILD_NATIVE=0`` skips it on purpose.

An editable install (``make install``) builds it in place, next to its source; a wheel carries it and is then
tagged for this platform. The compiler and flags are the ones this Python was built with (``sysconfig``), as
setuptools would use.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

SOURCE = Path("bus") / "signing" / "_merkle.c"
MODULE = SOURCE.with_suffix("").as_posix()
"""The module's path in the wheel, without the platform's suffix (``EXT_SUFFIX``)."""


def compile_extension(source: Path, target: Path) -> bool:
    """``source`` compiled and linked against libcrypto into ``target``; False (and why) if it cannot be.

    Written beside ``target`` first, then moved over it: a process that has the old module loaded keeps its
    file (overwriting a mapped library in place crashes it), and a failed build leaves no stale module."""
    partial = target.with_name(target.name + ".partial")
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
    flags = shlex.split(sysconfig.get_config_var("CCSHARED") or "-fPIC")
    include = sysconfig.get_paths()["include"]
    command = [*compiler, *flags, "-shared", "-O2", "-Wall", f"-I{include}", str(source), "-o", str(partial)]
    command += ["-lcrypto"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except OSError as exc:
        _say(f"no C compiler ({exc}); bus.signing.tree uses its Python hashing")
        return False
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        _say(
            "could not build the C hashing; bus.signing.tree uses its Python hashing. "
            f"{shlex.join(command)} said:\n{done.stderr.strip()}"
        )
        return False
    partial.replace(target)
    return True


def _say(message: str) -> None:
    print(f"lgsp-bus build: {message}", file=sys.stderr)


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ModuleNotFoundError:  # imported outside a build: the tests call compile_extension
    pass
else:

    class NativeBuildHook(BuildHookInterface):  # type: ignore[misc]  # hatchling ships no types here
        PLUGIN_NAME = "custom"

        _work: Path | None = None
        """Where a wheel's module is compiled (removed once the wheel holds it)."""

        def initialize(self, version: str, build_data: dict[str, Any]) -> None:
            if os.environ.get("LGSP_BUILD_NATIVE", "1") == "0":
                _say("LGSP_BUILD_NATIVE=0: not building the C hashing (bus.signing.tree uses Python)")
                return
            suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
            root = Path(self.root)
            if version == "editable":
                target = root / f"{MODULE}{suffix}"
            else:
                self._work = Path(tempfile.mkdtemp(prefix="lgsp-native-"))
                target = self._work / f"{SOURCE.stem}{suffix}"
            if not compile_extension(root / SOURCE, target):
                return
            if version != "editable":
                build_data["force_include"][str(target)] = f"{MODULE}{suffix}"
            build_data["pure_python"] = False
            build_data["infer_tag"] = True

        def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
            if self._work is not None:
                shutil.rmtree(self._work, ignore_errors=True)
                self._work = None
