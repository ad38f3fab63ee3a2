"""Finding the external tools the launcher needs: a Java 17+ runtime and, to fetch jars, Maven."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from bus.errors import ConfigError

MIN_JAVA = 17

# `openjdk version "17.0.15" 2025-04-15`, `java version "1.8.0_292"`, `openjdk version "25-ea"`.
_VERSION_RE = re.compile(r'version\s+"(?P<v>[^"]+)"')


@dataclass(frozen=True)
class JavaRuntime:
    """A java executable and its feature release (8, 11, 17, 21, ...)."""

    path: str
    feature: int


def parse_java_version(output: str) -> int:
    """The feature release from ``java -version`` output; Java 8 and older report ``1.<feature>``."""
    match = _VERSION_RE.search(output)
    if match is None:
        raise ConfigError(f"cannot read a Java version from: {output.strip()[:200]!r}")
    parts = re.split(r"[.\-+_]", match.group("v"))
    try:
        first = int(parts[0])
        return int(parts[1]) if first == 1 and len(parts) > 1 else first
    except ValueError as exc:
        raise ConfigError(f"cannot read a Java version from: {match.group(0)!r}") from exc


def find_java(command: str) -> JavaRuntime:
    """The java runtime named by ``command`` (``LGSP_DEV__JAVA``); ConfigError unless it is Java 17+."""
    path = shutil.which(command)
    if path is None:
        raise ConfigError(
            f"Java {MIN_JAVA}+ is required but {command!r} was not found on PATH; install a JDK "
            "(Debian: apt-get install openjdk-17-jre-headless) or set LGSP_DEV__JAVA to its java binary"
        )
    try:
        done = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"cannot run {path} -version: {exc}") from exc
    feature = parse_java_version(done.stderr + done.stdout)
    if feature < MIN_JAVA:
        raise ConfigError(
            f"Java {MIN_JAVA}+ is required; {path} is Java {feature}. "
            "Install a newer JDK or point LGSP_DEV__JAVA at one"
        )
    return JavaRuntime(path=path, feature=feature)


def find_maven(command: str) -> str:
    """The path of Maven (``LGSP_DEV__MVN``); ConfigError when it is not installed."""
    path = shutil.which(command)
    if path is None:
        raise ConfigError(
            f"Maven is required to fetch the Kafka and registry jars but {command!r} was not found on PATH; "
            "install it (Debian: apt-get install maven) or set LGSP_DEV__MVN"
        )
    return path
