"""scripts/system_deps.sh: the README's commands install the system tools the tests use, or say how.

The script is run for real, on a simulated machine: a PATH holding only a shell and the few tools the script
itself calls, where none of the tools the tests use exists. ``apt-get`` there is a recorder that "installs" a
package by placing its command on that PATH, so the whole path is exercised: find what is missing, install it,
check it is there now. The real ``apt-get`` is exercised by every CI run on a fresh machine (and the last test
here checks that this machine has everything the suite needs, so nothing is skipped).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "system_deps.sh"
TEST_PACKAGES = {
    "openjdk-17-jdk-headless",
    "maven",
    "prometheus",
    "prometheus-alertmanager",
    "wrk",
    "chromium",
    "postgresql",
    "nodejs",
    "npm",
}
# The command each package brings (what the script checks for), as the fake apt-get installs them.
COMMANDS = {
    "openjdk-17-jdk-headless": "java",
    "maven": "mvn",
    "prometheus": "promtool",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "wrk": "wrk",
    "chromium": "chromium",
    "nodejs": "node",
    "npm": "npm",
}
JAVA_17 = "#!/bin/bash\necho 'openjdk version \"17.0.15\" 2025-04-15' >&2\n"


def _machine(tmp_path: Path, *, uid: int = 0) -> tuple[dict[str, str], Path]:
    """A bare machine: its PATH, and the file where its apt-get records what it was asked."""
    bin_dir = tmp_path / "bin"
    pool = tmp_path / "pool"  # what each package would bring: a stand-in for its command
    for folder in (bin_dir, pool):
        folder.mkdir()
    for tool in ("bash", "sed", "head", "make"):
        found = shutil.which(tool)
        assert found is not None, tool
        (bin_dir / tool).symlink_to(found)
    for command in COMMANDS.values():
        (pool / command).write_text(JAVA_17 if command == "java" else "#!/bin/bash\n")
        (pool / command).chmod(0o755)
    log = tmp_path / "apt.log"
    pg_root = tmp_path / "usr-lib-postgresql"
    cases = "\n".join(
        f"  {package}) /bin/cp {pool}/{command} {bin_dir}/;;" for package, command in COMMANDS.items()
    )
    (bin_dir / "apt-get").write_text(
        "#!/bin/bash\n"
        f'echo "$*" >> {log}\n'
        '[[ " $* " == *" install "* ]] || exit 0\n'
        'for arg in "$@"; do case "$arg" in\n'
        f"  postgresql) /bin/mkdir -p {pg_root}/15/bin; : > {pg_root}/15/bin/initdb;;\n"
        f"{cases}\n"
        "esac; done\n"
    )
    (bin_dir / "id").write_text(f"#!/bin/bash\necho {uid}\n")
    for name in ("apt-get", "id"):
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "LGSP_SYSTEM_DEPS_PG_GLOB": f"{pg_root}/*/bin/initdb",
    }
    return env, log


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run(
        [bash, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_installs_every_missing_tool_as_root(tmp_path: Path) -> None:
    env, log = _machine(tmp_path)
    result = _run(env, "test")
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[0].endswith("update -q")
    installed = set(calls[1].split()) & TEST_PACKAGES
    assert installed == TEST_PACKAGES
    # A second run finds everything and does nothing.
    again = _run(env, "test")
    assert again.returncode == 0
    assert again.stdout == again.stderr == ""
    assert len(log.read_text().splitlines()) == 2


def test_make_test_runs_the_install_first(tmp_path: Path) -> None:
    """`make test` installs the tools first: the Makefile calls the script, not a copy of it."""
    env, log = _machine(tmp_path)
    make = Path(env["PATH"]) / "make"
    dry = subprocess.run(
        [str(make), "-C", str(REPO), "-n", "test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "scripts/system_deps.sh test" in dry.stdout, dry.stdout + dry.stderr
    result = subprocess.run(
        [str(make), "-C", str(REPO), "system-deps"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert set(log.read_text().splitlines()[1].split()) & TEST_PACKAGES == TEST_PACKAGES


def test_demo_needs_only_java_and_maven(tmp_path: Path) -> None:
    env, log = _machine(tmp_path)
    assert _run(env, "demo").returncode == 0
    installed = set(log.read_text().splitlines()[1].split()) & TEST_PACKAGES
    assert installed == {"openjdk-17-jdk-headless", "maven"}


def test_without_root_or_sudo_stops_with_the_command_to_run(tmp_path: Path) -> None:
    env, log = _machine(tmp_path, uid=1000)
    result = _run(env, "bench")
    assert result.returncode == 1
    assert not log.exists(), "apt-get must not be called without root"
    assert "apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven wrk" in result.stderr
    assert "sudo sh -c" in result.stderr


def test_an_install_that_leaves_a_tool_missing_fails(tmp_path: Path) -> None:
    env, _ = _machine(tmp_path)
    # An apt-get that reports success but installs nothing: the run stops, not a test later.
    (Path(env["PATH"]) / "apt-get").write_text("#!/bin/bash\nexit 0\n")
    result = _run(env, "bench")
    assert result.returncode == 1
    assert "still missing after apt-get install: openjdk-17-jdk-headless maven wrk" in result.stderr


def test_this_machine_has_what_the_suite_uses() -> None:
    """`make test` ran the script before pytest, so nothing the suite uses may be missing (no skips)."""
    result = subprocess.run(
        ["bash", str(SCRIPT), "test", "--check"],
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
