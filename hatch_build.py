"""Build hook: compiles the bus's C extensions (``EXTENSIONS``): ``bus/signing/_merkle.c``, the RFC 9162
hashing of :mod:`bus.signing.tree`, and ``bus/_codec.c``, the Avro writer of :mod:`bus.avro_writer` and the
key hash of :mod:`bus.partitioner`.

Each is optional. Without a C compiler, Python's headers or OpenSSL's, the build says why and goes on, and
the module uses its pure-Python code: the same bytes, more CPU per event (docs/design/native-code.md).
``LGSP_BUILD_NATIVE=0`` skips them on purpose.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SOURCE = Path("bus") / "signing" / "_merkle.c"
CODEC = Path("bus") / "_codec.c"
EXTENSIONS: dict[Path, tuple[str, ...]] = {SOURCE: ("crypto",), CODEC: ()}
"""Each C source, and the libraries it links."""


def module_of(source: Path) -> str:
    """The module's path in the wheel, without the platform's suffix (``EXT_SUFFIX``)."""
    return source.with_suffix("").as_posix()


def compile_extension(
    source: Path, target: Path, *, root: Path = Path(), extra_flags: Sequence[str] = ()
) -> bool:
    """``source`` (a key of ``EXTENSIONS``, under ``root``) compiled and linked with its libraries into
    ``target``; False (and why) if it cannot be. ``extra_flags`` come after the build's own (the tests'
    sanitizer builds: ``tests/native.py``).

    Written beside ``target`` first, then moved over it: a process that has the old module loaded keeps its
    file (overwriting a mapped library in place crashes it), and a failed build leaves no stale module."""
    libraries = EXTENSIONS[source]
    partial = target.with_name(target.name + ".partial")
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
    flags = shlex.split(sysconfig.get_config_var("CCSHARED") or "-fPIC")
    include = sysconfig.get_paths()["include"]
    command = [*compiler, *flags, "-shared", "-O2", "-Wall", *extra_flags, f"-I{include}", str(root / source)]
    command += ["-o", str(partial), *(f"-l{library}" for library in libraries)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except OSError as exc:
        _say(f"no C compiler ({exc}); the bus runs the Python code {source} stands in for")
        return False
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        _say(
            f"could not build {source}; the bus runs the Python code it stands in for. "
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
                _say("LGSP_BUILD_NATIVE=0: not building the C extensions (their modules use Python)")
                return
            suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
            root = Path(self.root)
            if version != "editable":
                self._work = Path(tempfile.mkdtemp(prefix="lgsp-native-"))
            for source in EXTENSIONS:
                module = module_of(source)
                if self._work is None:
                    target = root / f"{module}{suffix}"
                else:
                    target = self._work / f"{source.stem}{suffix}"
                if not compile_extension(source, target, root=root):
                    continue
                if self._work is not None:
                    build_data["force_include"][str(target)] = f"{module}{suffix}"
                build_data["pure_python"] = False
                build_data["infer_tag"] = True

        def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
            if self._work is not None:
                shutil.rmtree(self._work, ignore_errors=True)
                self._work = None
