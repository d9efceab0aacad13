"""One writer per state directory: an flock held for the whole life of a running service.

Two services on the same state directory would both rewrite the alert state, both page,
and one would drop the silences made through the other. So `borderwatch run` locks every
directory it keeps state in before anything else starts: the state root (`var` next to
the inventory, always, even with neither `alerts:` nor `influx:`), the alerts' state_dir
and the influx spool directory (each may be configured elsewhere). Each lock is
`fcntl.flock` on `<dir>/borderwatch.lock`, which holds the holder's PID for the message
of the one refused. The kernel releases an flock when its holder dies, even by kill -9:
the next start takes over cleanly, with no stale lock file to remove by hand.

The spool keeps its own `.lock` as a second line: it protects the spool directory from
any other writer that opens it directly (a test, a tool), not only from a second service.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

LOCK_FILE = "borderwatch.lock"


class StateDirBusy(Exception):
    """Another process holds a state directory (or it cannot be locked at all)."""


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "pid unknown"
    return f"pid {text}" if text.isdigit() else "pid unknown"


def _lock_one(directory: Path) -> int:
    """Lock one directory; the open fd holds the lock (StateDirBusy if another does)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StateDirBusy(f"state directory {directory}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = _holder(fd)
        os.close(fd)
        raise StateDirBusy(f"another borderwatch ({holder}) is using state directory "
                           f"{directory}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


@contextlib.contextmanager
def locked(directories: Iterable[Path]) -> Iterator[list[Path]]:
    """Hold the locks of these directories (de-duplicated) for the `with` block."""
    unique = sorted({Path(d).resolve() for d in directories})
    fds: list[int] = []
    try:
        for directory in unique:
            fds.append(_lock_one(directory))
        yield unique
    finally:
        for fd in reversed(fds):
            os.close(fd)  # closing the last fd of the open file releases the flock
