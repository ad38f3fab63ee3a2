"""requirements.lock pins every dependency within pyproject.toml's bounds, and the environment follows it.

`make install` (CI) and the Dockerfile install with ``-c requirements.lock``; ``make lock`` rewrites it.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
EXTRAS = ("ingress", "views", "cli", "all", "dev")


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not name==version"
            pins[canonicalize_name(name)] = version
    return pins


def test_every_dependency_is_pinned_within_its_bounds() -> None:
    pins = _locked()
    for text in metadata.requires("lgsp-bus") or []:
        requirement = Requirement(text)
        if requirement.name == "lgsp-bus":
            continue  # the extras that bring other extras
        wanted = requirement.marker is None or any(
            requirement.marker.evaluate({"extra": extra}) for extra in ("", *EXTRAS)
        )
        if not wanted:
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement.specifier}: run make lock"
        )


def test_the_environment_has_the_locked_versions() -> None:
    stale = {}
    for name, version in _locked().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a platform-specific package (uvloop on Windows) or one of another Python
        if installed != version:
            stale[name] = (installed, version)
    assert not stale, f"installed vs locked: {stale}; run make install"
