"""The C modules' comparison tests, run again with the modules built under AddressSanitizer and
UndefinedBehaviorSanitizer.

``bus/signing/_merkle.c`` walks inclusion proofs read from a Kafka header that anyone with write access to a
topic can forge, and ``bus/_codec.c`` writes every published record: an out-of-bounds read or write there is a
crash or worse, which the comparison tests alone would only see if it changed a result. Here the same tests
run in a child interpreter whose modules were compiled with ``tests.native.SANITIZER_FLAGS``; any memory
error or undefined behaviour stops it with a report.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.native import REPO, sanitizer_environment

pytestmark = pytest.mark.unit

NATIVE_TESTS = ("tests/unit/test_merkle_native.py", "tests/unit/test_codec_native.py")
OVERFLOW = "import ctypes; ctypes.memset(ctypes.c_char_p(bytes(16)), 0, 18)"
"""Two bytes past a ``bytes`` object's buffer (16 bytes and its terminating NUL), through an intercepted
``memset``: what a C function filling a record's bytes one too far would do."""


@pytest.fixture(scope="module")
def environment() -> dict[str, str]:
    found = sanitizer_environment()
    if found is None:
        pytest.skip("this machine's C compiler has no AddressSanitizer runtime")
    return found


def _child(argv: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=REPO, env=environment, capture_output=True, text=True, timeout=600
    )


def test_the_sanitized_interpreter_stops_at_a_write_past_a_bytes_object(environment: dict[str, str]) -> None:
    """The run below can fail: the runtime is loaded, and guards each Python object as its own allocation."""
    child = _child(["-c", OVERFLOW], environment)
    assert child.returncode != 0
    assert "ERROR: AddressSanitizer: heap-buffer-overflow" in child.stderr


def test_the_c_modules_pass_their_comparisons_under_the_sanitizers(environment: dict[str, str]) -> None:
    child = _child(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *NATIVE_TESTS], environment)
    output = child.stdout + child.stderr
    assert child.returncode == 0, output[-4000:]
    for report in ("AddressSanitizer", "runtime error:"):
        assert report not in output, output[-4000:]
    summary = re.search(r"^(\d+) passed in ", child.stdout, re.MULTILINE)
    assert summary is not None, child.stdout[-2000:]
    assert int(summary.group(1)) > 50  # both files ran (105 tests today), not a collection that found none
    assert "skipped" not in child.stdout.splitlines()[-1]
