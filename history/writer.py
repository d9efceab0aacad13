"""`HistoryWriter`: the one thread that writes the history file, fed through a bounded queue.

Why a thread: SQLite calls block, and the event loop polls thousands of devices; the loop
only puts small tuples on a queue (`submit`, never blocks), the thread applies whatever has
queued up in one transaction (batching comes for free under load).

Crash semantics: every batch commits, and the recorder sends a heartbeat every tick (a few
seconds), so `kill -9` loses at most the queued ops and the last few seconds, and SQLite's
WAL journal keeps the file consistent. The next start closes every interval and incident
the dead process left open at its last heartbeat (`_recover`); the time until the new run
starts is a collector gap, which readers report as unknown.

One writer per file: an exclusive `flock` on `<file>.lock` (holding the writer's PID, for
the error message), released by the kernel when the process dies, however it dies. It is
deliberately small and about this file only, so a whole-state-directory lock can coexist.

Retention: the thread prunes at most hourly (by the ops' own times, so a simulated clock
prunes too): intervals and incidents that ended more than `keep_days` ago, roll-ups older
than `rollup_keep_days`.

Day roll-ups (history.daily) are recomputed from the hours, in the same transaction, for
every day whose hourly rows a batch wrote or pruned: they never disagree with the hours.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from borderwatch.history import daily
from borderwatch.history.schema import HistoryError, create_or_open

log = logging.getLogger(__name__)

DAY = 86400.0
PRUNE_EVERY = 3600.0
DEFAULT_KEEP_DAYS = 400.0
DEFAULT_ROLLUP_KEEP_DAYS = 90.0


@dataclass(frozen=True, slots=True)
class Retention:
    """How long the history keeps what (days)."""

    keep_days: float = DEFAULT_KEEP_DAYS  # intervals and incidents
    rollup_keep_days: float = DEFAULT_ROLLUP_KEEP_DAYS  # hourly roll-ups


# Ops: tuples, cheap to build on the event loop. The first item names the op.
STATE = "state"  # (STATE, kind, element, state, cause, t)
INCIDENT_OPEN = "incident_open"  # (.., id, kind, root, sites, t)
INCIDENT_SITES = "incident_sites"  # (.., id, sites)
INCIDENT_CLOSE = "incident_close"  # (.., id, t)
LINK_HOUR = "link_hour"  # (.., link, hour, avg, max, p95)
RADIO_HOUR = "radio_hour"  # (.., link, hour, rsl_min, rsl_avg, rsl_p5, snr_min, fade_min)
POWER_HOUR = "power_hour"  # (.., device, site, hour, on_battery_seconds, charge_min)
BEAT = "beat"  # (BEAT, t)
_STOP = "stop"  # (_STOP, t or None): close everything at t (None: crash, leave it open)
_SYNC = "sync"  # (_SYNC, threading.Event): set once everything before it is committed


class HistoryLock:
    """An exclusive, non-blocking flock on `<history file>.lock` that names its holder."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise HistoryError naming the PID that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise HistoryError(
                f"{self.path.with_suffix('')}: the history is being written by another "
                f"borderwatch process (pid {holder}); one collector per state directory "
                "(stop it, or give this one another --state-dir)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock back (the kernel does so anyway if the process dies)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


@dataclass
class WriterStats:
    """Counters of the writer thread (read from other threads; ints are atomic enough)."""

    ops: int = 0
    batches: int = 0
    dropped: int = 0  # ops refused because the queue was full
    errors: int = 0  # batches that failed to commit (logged)
    cpu_seconds: float = 0.0  # CPU time of the writer thread so far


class HistoryWriter:
    """Owns the history file: lock, crash recovery, the writer thread, retention."""

    def __init__(self, path: str | Path, *, retention: Retention | None = None,
                 queue_max: int = 200_000) -> None:
        self.path = Path(path)
        self.retention = retention or Retention()
        self.stats = WriterStats()
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=queue_max)
        self._lock = HistoryLock(self.path)
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._run_id = 0
        self._elements: dict[tuple[str, str], int] = {}
        self._last_prune = -float("inf")
        self._drop_logged = False

    # ------------------------------------------------------------------ caller side

    def open(self, now: float) -> None:
        """Lock, open (creating if needed), recover after a crash, start a run and the thread.

        Raises HistoryError (locked by another process, not a history, corrupt)."""
        self._lock.acquire()
        try:
            self._conn = create_or_open(self.path)
            try:
                self._recover()
                cur = self._conn.execute(
                    "INSERT INTO runs (pid, host, started, last_beat) VALUES (?, ?, ?, ?)",
                    (os.getpid(), socket.gethostname(), now, now))
            except sqlite3.DatabaseError as exc:
                raise HistoryError(f"{self.path}: corrupt history file, or unwritable "
                                   f"({exc})") from None
            self._run_id = int(cur.lastrowid or 0)
        except BaseException:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._lock.release()
            raise
        self._thread = threading.Thread(target=self._run, name="borderwatch-history",
                                        daemon=True)
        self._thread.start()

    def submit(self, op: tuple[Any, ...]) -> bool:
        """Queue one op; never blocks. A full queue drops the op (counted, logged once)."""
        try:
            self._queue.put_nowait(op)
            return True
        except queue.Full:
            self.stats.dropped += 1
            if not self._drop_logged:
                self._drop_logged = True
                log.error("history: the writer is behind (%d ops queued); dropping history "
                          "records (counted)", self._queue.qsize())
            return False

    def queue_length(self) -> int:
        """Ops waiting for the writer thread."""
        return self._queue.qsize()

    def sync(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed; False on timeout."""
        done = threading.Event()
        self._queue.put((_SYNC, done))  # blocking put: a sync must not be dropped
        return done.wait(timeout)

    def close(self, now: float | None) -> None:
        """Commit what is queued, close every open interval at `now`, end the run, unlock.

        `now=None` is the crash drill: stop without closing anything (what `kill -9`
        leaves behind, minus the lost seconds), so tests can restart on a simulated clock."""
        if self._thread is None:
            return
        self._queue.put((_STOP, now))
        self._thread.join()
        self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._lock.release()

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        assert self._conn is not None
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 50_000:
                    batch.append(self._queue.get_nowait())
            stop = next((op for op in batch if op[0] == _STOP), None)
            syncs = [op[1] for op in batch if op[0] == _SYNC]
            try:
                self._apply([op for op in batch if op[0] not in (_STOP, _SYNC)])
                if stop is not None and stop[1] is not None:
                    self._close_all(stop[1])
            except sqlite3.Error:
                self.stats.errors += 1
                log.exception("history: writing %d record(s) failed", len(batch))
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            self.stats.cpu_seconds = time.thread_time()
            for done in syncs:
                done.set()
            if stop is not None:
                return

    def _apply(self, ops: list[tuple[Any, ...]]) -> None:
        assert self._conn is not None
        conn = self._conn
        beat: float | None = None
        days: set[float] = set()  # days whose hourly roll-ups changed: their day rows too
        conn.execute("BEGIN")
        for op in ops:
            name = op[0]
            if name == STATE:
                _, kind, element, state, cause, t = op
                eid = self._element(kind, element)
                # MAX: a wall clock stepped back (NTP) must not give a negative interval
                conn.execute('UPDATE intervals SET "end" = MAX(start, ?) WHERE element = ? '
                             'AND "end" IS NULL', (t, eid))
                conn.execute('INSERT INTO intervals (element, state, cause, start) '
                             "VALUES (?, ?, ?, ?)", (eid, state, cause, t))
                beat = t if beat is None else max(beat, t)
            elif name == BEAT:
                beat = op[1] if beat is None else max(beat, op[1])
            elif name == INCIDENT_OPEN:
                _, iid, kind, root, sites, t = op
                conn.execute("INSERT OR REPLACE INTO incidents VALUES (?, ?, ?, ?, ?, NULL)",
                             (iid, kind, ",".join(root), ",".join(sites), t))
            elif name == INCIDENT_SITES:
                conn.execute("UPDATE incidents SET sites = ? WHERE id = ?",
                             (",".join(op[2]), op[1]))
            elif name == INCIDENT_CLOSE:
                conn.execute('UPDATE incidents SET "end" = ? WHERE id = ?', (op[2], op[1]))
            elif name == LINK_HOUR:
                days.add(daily.day_of(op[2]))
                conn.execute("INSERT OR REPLACE INTO link_hours VALUES (?, ?, ?, ?, ?)",
                             (self._element("link", op[1]), *op[2:]))
            elif name == RADIO_HOUR:
                days.add(daily.day_of(op[2]))
                conn.execute("INSERT OR REPLACE INTO radio_hours VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (self._element("link", op[1]), *op[2:]))
            elif name == POWER_HOUR:
                days.add(daily.day_of(op[3]))
                # A restart within the hour adds to the hour the previous run flushed.
                conn.execute(
                    "INSERT INTO power_hours VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (hour, device) DO UPDATE SET "
                    "on_battery_seconds = on_battery_seconds + excluded.on_battery_seconds, "
                    "charge_min = MIN(COALESCE(charge_min, excluded.charge_min), "
                    "COALESCE(excluded.charge_min, charge_min))",
                    (self._element("device", op[1]), *op[2:]))
            else:
                raise ValueError(f"unknown history op {name!r}")
        for day in sorted(days):
            daily.recompute_day(conn, day)
        if beat is not None:
            conn.execute("UPDATE runs SET last_beat = MAX(last_beat, ?) WHERE id = ?",
                         (beat, self._run_id))
            if beat - self._last_prune >= PRUNE_EVERY:
                self._prune(beat)
                self._last_prune = beat
        conn.execute("COMMIT")
        self.stats.ops += len(ops)
        self.stats.batches += 1

    def _element(self, kind: str, name: str) -> int:
        key = (kind, name)
        eid = self._elements.get(key)
        if eid is None:
            assert self._conn is not None
            self._conn.execute("INSERT OR IGNORE INTO elements (kind, name) VALUES (?, ?)", key)
            eid = self._conn.execute("SELECT id FROM elements WHERE kind = ? AND name = ?",
                                     key).fetchone()[0]
            self._elements[key] = eid
        return eid

    def _prune(self, now: float) -> None:
        assert self._conn is not None
        conn = self._conn
        keep = now - self.retention.keep_days * DAY
        conn.execute('DELETE FROM intervals WHERE "end" < ?', (keep,))
        conn.execute('DELETE FROM incidents WHERE "end" < ?', (keep,))
        conn.execute("DELETE FROM runs WHERE COALESCE(stopped, last_beat) < ? AND id != ?",
                     (keep, self._run_id))
        rollups = now - self.retention.rollup_keep_days * DAY
        for table in daily.HOUR_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE hour < ?", (rollups,))
        for table in daily.DAY_TABLES:  # days wholly pruned; the one cut in two is redone
            conn.execute(f"DELETE FROM {table} WHERE day + ? <= ?", (DAY, rollups))
        daily.recompute_day(conn, daily.day_of(rollups))

    def _recover(self) -> None:
        """Close what a crashed run left open at its last heartbeat."""
        assert self._conn is not None
        conn = self._conn
        row = conn.execute("SELECT MAX(COALESCE(stopped, last_beat)) FROM runs").fetchone()
        last = row[0] if row else None
        crashed = conn.execute("SELECT COUNT(*) FROM runs WHERE stopped IS NULL").fetchone()[0]
        conn.execute("BEGIN")
        conn.execute("UPDATE runs SET stopped = last_beat WHERE stopped IS NULL")
        if last is not None:
            conn.execute('UPDATE intervals SET "end" = MAX(start, ?) WHERE "end" IS NULL',
                         (last,))
            conn.execute('UPDATE incidents SET "end" = MAX(start, ?) WHERE "end" IS NULL',
                         (last,))
        conn.execute("COMMIT")
        if crashed:
            log.warning("history: the previous collector stopped without closing %s (crash "
                        "or kill); its open intervals end at its last heartbeat", self.path)

    def _close_all(self, now: float) -> None:
        assert self._conn is not None
        conn = self._conn
        conn.execute("BEGIN")
        conn.execute('UPDATE intervals SET "end" = ? WHERE "end" IS NULL', (now,))
        conn.execute('UPDATE incidents SET "end" = ? WHERE "end" IS NULL', (now,))
        conn.execute("UPDATE runs SET last_beat = MAX(last_beat, ?), stopped = ? WHERE id = ?",
                     (now, now, self._run_id))
        conn.execute("COMMIT")
