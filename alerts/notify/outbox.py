"""The durable outbox: every notification for every receiver, on disk before delivery.

A SQLite file in WAL mode with `synchronous=FULL` (each commit is fsync'd): a notification
put here survives a crash or restart, and stays until its receiver took it (delivered
marker) or refused it for good (a 4xx: `failed`). Rows are kept after delivery for the
record; `prune()` drops old delivered ones.

Deliveries to one receiver happen in insertion order, so a resolve never overtakes its
firing. `dedup` is unique per receiver: a notification re-decided after a crash between
the outbox commit and the engine state save is not queued twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from borderwatch.collector.clock import SameClock, SteadyClock, as_clocks

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver TEXT NOT NULL,
    dedup TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    delivered_at REAL,
    failed TEXT,
    last_error TEXT,
    UNIQUE (receiver, dedup)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (receiver, delivered_at, failed, id);
CREATE TABLE IF NOT EXISTS active (
    receiver TEXT NOT NULL,
    incident_key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (receiver, incident_key)
);
"""


@dataclass(frozen=True)
class Entry:
    """One queued notification for one receiver."""

    id: int
    receiver: str
    dedup: str
    body: dict[str, Any]
    created: float
    attempts: int
    next_at: float


def dedup_key(body: dict[str, Any]) -> str:
    """What identifies one notification across re-decisions of the same event.

    A new firing is (key, firing, since) and a resolve (key, resolved, ended_at): both
    are the same when decided again after a restart. Repeats and escalations are
    events of their own, told apart by their evaluation time. The times are the engine's
    steady ones (`steady` in the body), which a wall-clock step does not move.
    """
    key, status, reason = body["incident_key"], body["status"], body["reason"]
    times = body.get("steady") or body  # the engine's steady times, when they differ
    if reason == "new":
        return f"{key}|firing|{times['since']!r}"
    if status == "resolved":
        return f"{key}|resolved|{times.get('ended_at')!r}"
    return f"{key}|{status}|{reason}|{times['at']!r}"


class Outbox:
    """Append, fetch due, mark delivered / retry / failed; one SQLite file.

    Times: `next_at` (when a retry is due) is a deadline, so it is on the steady clock
    (collector.clock; a SteadyClock resumed from the engine state continues across
    restarts), or a retry would wait an hour after the wall clock stepped back an hour.
    `created` and `delivered_at` are wall times, for the record and for people.
    """

    def __init__(self, path: str | Path,
                 clock: Callable[[], float] | SteadyClock | SameClock | None = None) -> None:
        self.clock = as_clocks(clock)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # fsync at every commit
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the file (everything is committed already)."""
        self._db.close()

    def put(self, receivers: list[str], body: dict[str, Any], now: float | None = None
            ) -> int:
        """Queue one notification for each receiver in one transaction; returns rows added.

        `now` (tests): a simulated time, both created and first due."""
        created, due = (self.clock.wall(), self.clock.now()) if now is None else (now, now)
        text = json.dumps(body, ensure_ascii=False, sort_keys=True)
        dedup = dedup_key(body)
        added = 0
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for receiver in receivers:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (receiver, dedup, body, created, next_at) "
                    "VALUES (?, ?, ?, ?, ?)", (receiver, dedup, text, created, due))
                added += cur.rowcount
        return added

    def due(self, receiver: str, now: float | None = None, limit: int = 100) -> list[Entry]:
        """Undelivered entries of a receiver, oldest first, up to the first not due yet
        (`now`: steady time, default the outbox's clock)."""
        now = self.clock.now() if now is None else now
        rows = self._db.execute(
            "SELECT id, receiver, dedup, body, created, attempts, next_at FROM outbox "
            "WHERE receiver = ? AND delivered_at IS NULL AND failed IS NULL ORDER BY id "
            "LIMIT ?", (receiver, limit)).fetchall()
        out = []
        for row in rows:
            if row[6] > now:
                break  # keep order: nothing overtakes an entry waiting for its retry
            out.append(Entry(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5],
                             row[6]))
        return out

    def next_due(self, receiver: str) -> float | None:
        """When (steady time) the oldest pending entry of a receiver is due (None: nothing
        pending)."""
        row = self._db.execute(
            "SELECT next_at FROM outbox WHERE receiver = ? AND delivered_at IS NULL AND "
            "failed IS NULL ORDER BY id LIMIT 1", (receiver,)).fetchone()
        return None if row is None else row[0]

    def delivered(self, entry_id: int, now: float | None = None) -> None:
        """The receiver took it."""
        with self._db:
            self._db.execute("UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 "
                             "WHERE id = ?", (self.clock.wall() if now is None else now,
                                              entry_id))

    def retry(self, entry_id: int, at: float, error: str) -> None:
        """A transient failure: try again at steady time `at`."""
        with self._db:
            self._db.execute("UPDATE outbox SET attempts = attempts + 1, next_at = ?, "
                             "last_error = ? WHERE id = ?", (at, error, entry_id))

    def failed(self, entry_id: int, error: str) -> None:
        """A permanent failure (the receiver refused it): never retried, kept for the record."""
        with self._db:
            self._db.execute("UPDATE outbox SET attempts = attempts + 1, failed = ?, "
                             "last_error = ? WHERE id = ?", (error, error, entry_id))

    def rows(self, receiver: str | None = None) -> list[dict[str, Any]]:
        """Every row (for tests, an API and debugging), oldest first."""
        sql = ("SELECT id, receiver, dedup, created, attempts, next_at, delivered_at, failed, "
               "last_error, body FROM outbox")
        args: tuple = ()
        if receiver is not None:
            sql += " WHERE receiver = ?"
            args = (receiver,)
        cols = ("id", "receiver", "dedup", "created", "attempts", "next_at", "delivered_at",
                "failed", "last_error", "body")
        out = []
        for row in self._db.execute(sql + " ORDER BY id", args):
            item = dict(zip(cols, row, strict=True))
            item["body"] = json.loads(item["body"])
            out.append(item)
        return out

    def pending(self, receiver: str | None = None) -> int:
        """How many entries wait for delivery."""
        sql = "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed IS NULL"
        args: tuple = ()
        if receiver is not None:
            sql += " AND receiver = ?"
            args = (receiver,)
        return int(self._db.execute(sql, args).fetchone()[0])

    def pending_by_receiver(self) -> dict[str, tuple[int, float]]:
        """{receiver: (entries waiting, creation time of the oldest)} for receivers with any
        (read side of the self-metrics; one indexed scan, nothing is locked for long)."""
        rows = self._db.execute(
            "SELECT receiver, COUNT(*), MIN(created) FROM outbox WHERE delivered_at IS NULL "
            "AND failed IS NULL GROUP BY receiver ORDER BY receiver").fetchall()
        return {receiver: (int(count), float(oldest)) for receiver, count, oldest in rows}

    def prune(self, older_than: float) -> int:
        """Drop delivered or failed rows created before `older_than`; returns how many."""
        with self._db:
            cur = self._db.execute("DELETE FROM outbox WHERE created < ? AND "
                                   "(delivered_at IS NOT NULL OR failed IS NOT NULL)",
                                   (older_than,))
        return cur.rowcount

    # -- Alertmanager's active set: what must be re-posted until it resolves

    def set_active(self, receiver: str, incident_key: str, alert: dict[str, Any] | None
                   ) -> None:
        """Remember (or forget, with None) the alert last posted for an incident."""
        with self._db:
            if alert is None:
                self._db.execute("DELETE FROM active WHERE receiver = ? AND incident_key = ?",
                                 (receiver, incident_key))
            else:
                self._db.execute("INSERT OR REPLACE INTO active VALUES (?, ?, ?)",
                                 (receiver, incident_key, json.dumps(alert, ensure_ascii=False)))

    def active(self, receiver: str) -> dict[str, dict[str, Any]]:
        """The alerts to keep re-posting, by incident key."""
        return {k: json.loads(b) for k, b in self._db.execute(
            "SELECT incident_key, body FROM active WHERE receiver = ? ORDER BY incident_key",
            (receiver,))}
