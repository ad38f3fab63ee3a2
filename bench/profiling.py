"""Sampling profiles of measured processes with py-spy, summarised into hot-path lines for the report.

py-spy (``pip install py-spy``, in the dev extra) samples a process from outside, so the profiled code runs
unmodified; ``--format raw`` writes collapsed stacks (``frame;frame;... count``) that :func:`hot_paths`
turns into self-time and inclusive-time shares per function.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")
_OURS = ("bus/", "consumers/", "producers/", "bench/")


def pyspy() -> str | None:
    """The py-spy executable next to this interpreter, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextmanager
def sampling(pid: int, seconds: float, output: Path, *, rate: int = 100) -> Iterator[bool]:
    """py-spy attached to ``pid`` for ``seconds`` while the block runs (yields False if py-spy is missing);
    leaving the block waits for py-spy to write ``output``."""
    executable = pyspy()
    if executable is None:
        yield False
        return
    command = [
        executable, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
        "--rate", str(rate), "--nonblocking", "--format", "raw", "-o", str(output),
    ]  # fmt: skip
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield True
    finally:
        try:
            spy.wait(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def hot_paths(raw: Path, *, top: int = 8) -> list[str]:
    """The functions with the most self time, and our own functions with the most inclusive time."""
    try:
        lines = raw.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        return [f"no profile: {exc}"]
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_name(frame) for frame in stack.split(";")]
        self_time[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    if not total:
        return ["no samples"]
    out = [f"{total} samples; self time:"]
    out += [f"{count / total:.1%} {name}" for name, count in self_time.most_common(top)]
    ours = [(name, count) for name, count in inclusive.most_common() if _is_ours(name)]
    out.append("inclusive time in our code:")
    out += [f"{count / total:.1%} {name}" for name, count in ours[:top]]
    return out


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for root in (*_OURS, "site-packages/", "lib/python"):
        if root in path:
            path = path[path.index(root) :].removeprefix("site-packages/")
            break
    return f"{match['func']} ({path})"


def _is_ours(name: str) -> bool:
    return any(f"({root}" in name for root in _OURS) and "(bench/" not in name
