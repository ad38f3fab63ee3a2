"""Real ways for the view store's disk to fail under a running ``lgsp views run``.

- :class:`HeldLock`: another connection holds SQLite's write lock (``BEGIN EXCLUSIVE``) on the store file:
  the builder's ``BEGIN IMMEDIATE`` waits its busy timeout, then gets ``SQLITE_BUSY``.
- :class:`FileSizeLimit`: the builder's ``RLIMIT_FSIZE`` is lowered from outside (``prlimit``): every write
  past the limit fails with ``EFBIG``, as a full disk or an exhausted quota fails it; no privileges needed.
- :class:`Tmpfs`: a small tmpfs holds the store; a ballast file fills it until ``ENOSPC`` (``SQLITE_FULL``):
  a really full disk. Mounting needs root (CAP_SYS_ADMIN); :func:`Tmpfs.mount` says why when it cannot.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Self

_CHUNK: Final = 64 * 1024


class HeldLock:
    """SQLite's write lock on ``path``, held by a connection of this process until :meth:`release`."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._conn.execute("BEGIN EXCLUSIVE")

    def offsets(self) -> dict[tuple[str, int], int]:
        """The committed offsets, read through the lock holder's own transaction."""
        rows = self._conn.execute("SELECT topic, partition_no, next_offset FROM consumer_offsets").fetchall()
        return {(str(topic), int(part)): int(offset) for topic, part, offset in rows}

    def release(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")
        self._conn.close()


class FileSizeLimit:
    """Lower another process's file-size limit to ``limit`` bytes; :meth:`restore` puts the old one back."""

    def __init__(self, pid: int, limit: int) -> None:
        self._pid = pid
        self._previous = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, self._previous[1]))

    def restore(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            resource.prlimit(self._pid, resource.RLIMIT_FSIZE, self._previous)


class Tmpfs:
    """A tmpfs of ``size_mb`` mounted on ``path`` (unmounted by :meth:`close`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ballast = path / "ballast"

    @classmethod
    def mount(cls, path: Path, size_mb: int) -> tuple[Self | None, str]:
        """The mounted filesystem, or None and the reason it could not be mounted."""
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return None, "mounting a tmpfs needs root"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "lgsp-faults", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            return None, f"mount failed: {(done.stderr or done.stdout).strip()}"
        return cls(path), "mounted"

    def fill(self) -> int:
        """Write a ballast file until the filesystem is full; its size in bytes."""
        written = 0
        block = b"\0" * _CHUNK
        with self._ballast.open("ab", buffering=0) as ballast:
            for size in (_CHUNK, 4096, 512, 1):
                piece = block[:size]
                while True:
                    try:
                        written += ballast.write(piece) or 0
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        return written

    def drain(self) -> None:
        """Delete the ballast: the space is free again."""
        self._ballast.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def close(self) -> None:
        subprocess.run(["umount", "--lazy", str(self.path)], capture_output=True, check=False)


@contextlib.contextmanager
def maybe_tmpfs(path: Path, size_mb: int) -> Iterator[tuple[Tmpfs | None, str]]:
    """A tmpfs on ``path`` if this process may mount one (else ``path`` is a plain directory)."""
    mounted, why = Tmpfs.mount(path, size_mb)
    try:
        yield mounted, why
    finally:
        if mounted is not None:
            mounted.close()
