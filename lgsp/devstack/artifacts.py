"""Resolving the Kafka jars and the Apicurio Registry distribution from Maven Central, cached on disk.

Cache layout (``settings.dev.cache_dir``, default ``~/.cache/lgsp``), each entry fetched once and reused::

    kafka-<version>/libs/*.jar                       broker, tools and log4j2, from kafka-pom.xml
    apicurio-registry-<version>/<app>-runner.jar     the registry's distribution archive, extracted

An entry is built in a ``*.partial-<pid>`` directory and renamed into place when complete, so an interrupted
fetch never leaves a half-filled cache that looks usable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bus.errors import ArtifactResolutionError
from bus.settings import DevSettings
from lgsp.devstack.tools import find_maven

REGISTRY_ARTIFACT = "io.apicurio:apicurio-registry-app"
_MVN_TIMEOUT_S = 1800.0
_MAX_ERROR_LINES = 12
_MAVEN_BOILERPLATE = (
    "[Help 1]",
    "To see the full stack trace",
    "Re-run Maven using",
    "For more information about",
)


@dataclass(frozen=True)
class Fetched:
    """One cache entry and whether this call had to download it."""

    name: str
    path: Path
    downloaded: bool


def kafka_home(settings: DevSettings) -> Path:
    return settings.cache_dir / f"kafka-{settings.kafka_version}"


def kafka_libs(settings: DevSettings) -> Path:
    return kafka_home(settings) / "libs"


def registry_home(settings: DevSettings) -> Path:
    return settings.cache_dir / f"apicurio-registry-{settings.registry_version}"


def registry_jar(settings: DevSettings) -> Path:
    return registry_home(settings) / f"apicurio-registry-app-{settings.registry_version}-runner.jar"


def log4j2_config() -> Path:
    """The broker's log4j2.xml, shipped as package data."""
    return Path(str(resources.files("lgsp.devstack").joinpath("log4j2.xml")))


def kafka_pom(version: str) -> str:
    template = resources.files("lgsp.devstack").joinpath("kafka-pom.xml").read_text(encoding="utf-8")
    return template.replace("@KAFKA_VERSION@", version)


def is_cached(settings: DevSettings) -> bool:
    return kafka_libs(settings).is_dir() and registry_jar(settings).is_file()


def fetch_all(settings: DevSettings) -> list[Fetched]:
    """Make sure both the Kafka jars and the registry are in the cache; download what is missing."""
    return [fetch_kafka(settings), fetch_registry(settings)]


def fetch_kafka(settings: DevSettings) -> Fetched:
    """The Kafka runtime classpath (``kafka-<version>/libs``), resolved with Maven when absent."""
    home = kafka_home(settings)
    if kafka_libs(settings).is_dir():
        return Fetched("kafka", kafka_libs(settings), downloaded=False)
    partial = _partial_dir(home)
    (partial / "pom.xml").write_text(kafka_pom(settings.kafka_version), encoding="utf-8")
    goal = [
        "-f",
        str(partial / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={partial / 'libs'}",
        "-DincludeScope=runtime",
    ]
    _run_maven(settings, goal, cwd=partial, what=f"org.apache.kafka:kafka_2.13:{settings.kafka_version}")
    _publish(partial, home)
    return Fetched("kafka", kafka_libs(settings), downloaded=True)


def fetch_registry(settings: DevSettings) -> Fetched:
    """Apicurio Registry's distribution archive (``:tar.gz:all``), downloaded and extracted when absent."""
    home = registry_home(settings)
    if registry_jar(settings).is_file():
        return Fetched("registry", registry_jar(settings), downloaded=False)
    partial = _partial_dir(home)
    coordinates = f"{REGISTRY_ARTIFACT}:{settings.registry_version}:tar.gz:all"
    goal = ["dependency:copy", f"-Dartifact={coordinates}", f"-DoutputDirectory={partial}"]
    _run_maven(settings, goal, cwd=partial, what=coordinates)
    archive = partial / f"apicurio-registry-app-{settings.registry_version}-all.tar.gz"
    _extract(archive, partial)
    archive.unlink()
    _publish(partial, home)
    if not registry_jar(settings).is_file():
        raise ArtifactResolutionError(f"{coordinates} did not contain {registry_jar(settings).name}")
    return Fetched("registry", registry_jar(settings), downloaded=True)


def maven_error_lines(output: str) -> list[str]:
    """The lines of Maven's output that say what went wrong (``[ERROR] ...``), minus the boilerplate."""
    lines = [line.strip() for line in output.splitlines() if line.startswith("[ERROR]")]
    lines = [line for line in lines if line != "[ERROR]" and not any(b in line for b in _MAVEN_BOILERPLATE)]
    return lines[:_MAX_ERROR_LINES] or output.strip().splitlines()[-_MAX_ERROR_LINES:]


def _run_maven(settings: DevSettings, goal: list[str], *, cwd: Path, what: str) -> None:
    command = [find_maven(settings.mvn), "-q", "-B", *goal]
    if settings.maven_repo is not None:
        command.append(f"-Dmaven.repo.local={settings.maven_repo}")
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=_MVN_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(cwd, ignore_errors=True)
        raise ArtifactResolutionError(f"could not run Maven to resolve {what}: {exc}") from exc
    if done.returncode != 0:
        shutil.rmtree(cwd, ignore_errors=True)
        details = "\n  ".join(maven_error_lines(done.stdout + done.stderr))
        raise ArtifactResolutionError(
            f"Maven could not resolve {what} (exit {done.returncode}):\n  {details}"
        )


def _partial_dir(home: Path) -> Path:
    partial = home.with_name(f"{home.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def _publish(partial: Path, home: Path) -> None:
    """Rename the finished entry into place; if another process finished first, keep theirs."""
    try:
        partial.rename(home)
    except OSError:
        if not home.is_dir():
            raise
        shutil.rmtree(partial, ignore_errors=True)


def _extract(archive: Path, into: Path) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(into, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise ArtifactResolutionError(f"cannot extract {archive}: {exc}") from exc
