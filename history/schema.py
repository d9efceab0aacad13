"""The history file's SQLite schema, and opening a file as a borderwatch history.

One place for the table layout, so the writer (history.writer) and the reader
(history.reader) cannot drift apart. Layout:

* `meta(key, value)`: `application` = "borderwatch-history" (how a history file is told
  from any other SQLite file) and `schema_version`.
* `runs`: one row per collector process that wrote to the file (pid, started, last
  heartbeat, stopped). Time covered by no run is a collector gap (unknown).
* `elements`: devices, links and sites by kind and inventory id, numbered; the big tables
  refer to them by number (a fraction of the bytes of repeating the ids).
* `intervals`: one row per state interval of one element, `end` NULL while open.
* `incidents`: outages and lost redundancy, with root cause and sites.
* `link_hours`, `radio_hours`, `power_hours`: hourly roll-ups (hour = unix seconds of the
  hour's start, UTC).
* `link_days`, `radio_days`, `power_days` (schema 2): the hourly roll-ups summed per UTC day
  (history.daily), kept equal to the hours by the writer.

Schema versions: 1 had no day tables and indexed intervals on (element, start) only; 2 adds
the day tables and makes the intervals' index covering (a report reads a year of intervals
from the index alone, without a table lookup per row). The writer upgrades a version-1 file
when it opens it (`_upgrade`, logged; seconds for a year of 10,000 devices); readers read
both (a version-1 file's roll-ups are summed by the hour, more slowly).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from borderwatch.history import daily

log = logging.getLogger(__name__)

APPLICATION = "borderwatch-history"
SCHEMA_VERSION = 2
DEFAULT_FILE_NAME = "history.sqlite"


class HistoryError(Exception):
    """A history file that cannot be used, with a message for people: the file name and what
    is wrong (corrupt, locked, not a borderwatch history, newer schema)."""


DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started REAL NOT NULL,
    last_beat REAL NOT NULL,
    stopped REAL
);
CREATE TABLE IF NOT EXISTS elements (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (kind, name)
);
CREATE TABLE IF NOT EXISTS intervals (
    element INTEGER NOT NULL REFERENCES elements(id),
    state TEXT NOT NULL,
    cause TEXT,
    start REAL NOT NULL,
    "end" REAL
);
-- covering: a period's intervals per element come from the index alone
CREATE INDEX IF NOT EXISTS intervals_by_element_cover
    ON intervals (element, start, "end", state, cause);
CREATE INDEX IF NOT EXISTS intervals_open ON intervals (element) WHERE "end" IS NULL;
CREATE INDEX IF NOT EXISTS intervals_by_end ON intervals ("end");
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    root_cause TEXT NOT NULL,
    sites TEXT NOT NULL,
    start REAL NOT NULL,
    "end" REAL
);
CREATE TABLE IF NOT EXISTS link_hours (
    link INTEGER NOT NULL REFERENCES elements(id),
    hour REAL NOT NULL,
    util_avg REAL, util_max REAL, util_p95 REAL,
    PRIMARY KEY (hour, link)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS radio_hours (
    link INTEGER NOT NULL REFERENCES elements(id),
    hour REAL NOT NULL,
    rsl_min REAL, rsl_avg REAL, rsl_p5 REAL, snr_min REAL, fade_margin_min REAL,
    PRIMARY KEY (hour, link)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS power_hours (
    device INTEGER NOT NULL REFERENCES elements(id),
    site TEXT NOT NULL,
    hour REAL NOT NULL,
    on_battery_seconds REAL NOT NULL,
    charge_min REAL,
    PRIMARY KEY (hour, device)
) WITHOUT ROWID;
""" + daily.DDL


def _describe(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"{path}: the history file is locked by another process ({text})"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return f"{path}: not a borderwatch history file, or corrupt ({text})"
    return f"{path}: cannot read the history file ({text})"


def check_identity(conn: sqlite3.Connection, path: Path) -> int:
    """Raise HistoryError unless `conn` is a borderwatch history this code can read; its
    schema version."""
    try:
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables:
            raise HistoryError(f"{path}: not a borderwatch history file (no 'meta' table; "
                               "it is some other SQLite database)")
        meta = dict(conn.execute("SELECT key, value FROM meta"))
    except sqlite3.Error as exc:
        raise HistoryError(_describe(path, exc)) from None
    if meta.get("application") != APPLICATION:
        raise HistoryError(f"{path}: not a borderwatch history file (application is "
                           f"{meta.get('application')!r}, expected {APPLICATION!r})")
    try:
        version = int(meta.get("schema_version", ""))
    except ValueError:
        raise HistoryError(f"{path}: corrupt history file (schema_version is "
                           f"{meta.get('schema_version')!r})") from None
    if version > SCHEMA_VERSION:
        raise HistoryError(f"{path}: history schema version {version} is newer than this "
                           f"borderwatch understands ({SCHEMA_VERSION}); upgrade borderwatch")
    if version < 1:
        raise HistoryError(f"{path}: corrupt history file (schema_version {version})")
    return version


def open_read_only(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to an existing history file, identity checked."""
    p = Path(path)
    if not p.exists():
        raise HistoryError(f"{p}: no such history file")
    if not p.is_file():
        raise HistoryError(f"{p}: not a file")
    try:
        # mode=ro: never creates or changes the file; a WAL file a live writer keeps is read.
        conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise HistoryError(_describe(p, exc)) from None
    try:
        check_identity(conn, p)
    except HistoryError:
        conn.close()
        raise
    return conn


def create_or_open(path: Path) -> sqlite3.Connection:
    """The writer's connection: creates the file and tables if needed, WAL mode, checked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=5.0, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise HistoryError(_describe(path, exc)) from None
    try:
        fresh = not any(conn.execute("SELECT 1 FROM sqlite_master LIMIT 1"))
        version = SCHEMA_VERSION if fresh else check_identity(conn, path)
        # WAL: readers (borderwatch report) never block the writer. synchronous=NORMAL: a
        # process crash (kill -9) loses nothing committed; a power cut may lose the last
        # commits but never corrupts the file.
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise HistoryError(f"{path}: cannot switch the history file to WAL mode "
                               f"(got {mode!r}); is it on a network file system?")
        conn.execute("PRAGMA synchronous=NORMAL")
        if version < SCHEMA_VERSION:
            _upgrade(conn, path, version)
        conn.executescript(DDL)
        if fresh:
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [("application", APPLICATION),
                              ("schema_version", str(SCHEMA_VERSION))])
    except sqlite3.Error as exc:
        conn.close()
        raise HistoryError(_describe(path, exc)) from None
    except HistoryError:
        conn.close()
        raise
    return conn


def _upgrade(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """Bring an older file to SCHEMA_VERSION in one transaction (a crash half-way leaves
    the old version, and the next start does it again)."""
    began = time.monotonic()
    conn.execute("BEGIN")
    try:
        for statement in DDL.split(";"):  # not executescript: it would commit
            if statement.strip():
                conn.execute(statement)
        conn.execute("DROP INDEX IF EXISTS intervals_by_element")
        days = daily.rebuild(conn)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                     (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    log.warning("history: upgraded %s from schema %d to %d (day roll-ups of %d days, "
                "covering interval index) in %.1f s", path, version, SCHEMA_VERSION, days,
                time.monotonic() - began)
