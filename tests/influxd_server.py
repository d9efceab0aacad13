"""A real InfluxDB 1.x (`influxd`, Debian's 1.6.7) on loopback: InfluxQL over /query.

Why 1.x: it is the only InfluxDB installable here, and InfluxQL, its query language, is
also what InfluxDB 2.x (through DBRP mappings and /query) and 3.x answer, so the
dashboards' InfluxQL can be run against a real engine. It has no /api/v2/write, so the
tests post borderwatch's line protocol to /write?db=&precision=ms themselves.

The server gets a temporary config of its own: HTTP and the RPC (backup) listener on free
127.0.0.1 ports, meta/data/wal in the test's directory, no usage reporting, no _internal
monitor database. INFLUXDB_* variables of the caller's environment are dropped: influxd
reads them as config overrides (one could move the listener to a default port). Stopped
by PID only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servers import ServerError, _spawn, _wait_ready, find_binary, free_tcp_port, stop_process

DATABASE = "borderwatch"
MAX_I64 = 2**63 - 1
_UNSIGNED = re.compile(rb"=(\d+)u(?=,|$)")


class InfluxError(ServerError):
    """influxd answered a write or a query with an error (its message in `str()`)."""


def influxd_config(workdir: Path, http_port: int, rpc_port: int) -> str:
    """influxdb.conf for a throwaway server: loopback only, everything under workdir."""
    return "\n".join([
        "reporting-disabled = true",
        f'bind-address = "127.0.0.1:{rpc_port}"',  # the RPC (backup/restore) service
        "[meta]",
        f'  dir = "{workdir / "meta"}"',
        "[data]",
        f'  dir = "{workdir / "data"}"',
        f'  wal-dir = "{workdir / "wal"}"',
        "  query-log-enabled = false",
        "[monitor]",
        "  store-enabled = false",  # no _internal database
        "[http]",
        f'  bind-address = "127.0.0.1:{http_port}"',
        "  log-enabled = false",
        "[logging]",
        '  level = "warn"',
        "  suppress-logo = true",
        "",
    ])


@dataclass
class Influxd:
    """One influxd process we started, with its database created."""

    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    database: str = DATABASE

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "influxd.log"

    def _request(self, path: str, params: dict[str, str], body: bytes | None = None,
                 timeout: float = 10.0) -> tuple[int, bytes]:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def ping(self) -> bool:
        """True when GET /ping answers 204."""
        try:
            return self._request("/ping", {}, timeout=1.0)[0] == 204
        except OSError:
            return False

    def write(self, lines: Iterable[bytes], precision: str = "ms") -> None:
        """POST line protocol to /write?db=&precision=; InfluxError with the server's reason."""
        status, body = self._request("/write", {"db": self.database, "precision": precision},
                                     b"\n".join(lines) + b"\n")
        if status != 204:
            raise InfluxError(f"write: HTTP {status}: {body.decode(errors='replace')}")

    def query(self, q: str) -> list[dict[str, Any]]:
        """Run InfluxQL (POST /query, epoch=ms); the statement results, InfluxError on error.

        One statement per call: the result of each is checked for an `error` key, which
        influxd reports with HTTP 200 for a statement that parsed but failed.
        """
        data = urllib.parse.urlencode({"q": q}).encode()
        status, body = self._request("/query", {"db": self.database, "epoch": "ms"}, data)
        if status != 200:
            raise InfluxError(f"query {q!r}: HTTP {status}: {body.decode(errors='replace')}")
        answer = json.loads(body)
        if "error" in answer:
            raise InfluxError(f"query {q!r}: {answer['error']}")
        results = answer["results"]
        for r in results:
            if "error" in r:
                raise InfluxError(f"query {q!r}: {r['error']}")
        return results

    def series(self, q: str) -> list[dict[str, Any]]:
        """The series of a one-statement query (empty list when it matched nothing)."""
        (result,) = self.query(q)
        return result.get("series", [])

    def stop(self) -> None:
        """Stop influxd (SIGTERM, then SIGKILL after a bound); idempotent."""
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


def start_influxd(workdir: Path, database: str = DATABASE, timeout: float = 30.0) -> Influxd:
    """Start influxd on free 127.0.0.1 ports with a temp config; ready on /ping; db created."""
    binary = find_binary("influxd")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    http_port = free_tcp_port()
    rpc_port = free_tcp_port()
    while rpc_port == http_port:
        rpc_port = free_tcp_port()
    conf = workdir / "influxdb.conf"
    conf.write_text(influxd_config(workdir, http_port, rpc_port))
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
    server = Influxd(workdir, http_port, database=database)
    server.proc = _spawn([binary, "run", "-config", str(conf)], server.log_path, env=env)
    try:
        _wait_ready(server.proc, server.ping, what="influxd", log_path=server.log_path,
                    timeout=timeout)
        server.query(f'CREATE DATABASE "{database}"')
    except BaseException:
        server.stop()
        raise
    return server


def field_section(line: bytes) -> tuple[bytes, bytes, bytes]:
    """(series key, field set, timestamp) of one line; spaces escaped with `\\` are kept."""
    i = 0
    while True:
        i = line.index(b" ", i)
        if line[i - 1:i] != b"\\":
            break
        i += 1
    head, rest = line[:i], line[i + 1:]
    fields, _, ts = rest.rpartition(b" ")
    return head, fields, ts


def to_influxdb1(line: bytes) -> bytes:
    """The line with unsigned fields (`123u`) written as integers (`123i`), else unchanged.

    InfluxDB 1.x parses no `u` suffix unless built with unsigned support (Debian's 1.6.7
    answers "invalid number"); 2.x and 3.x take it.
    Counters above 2^63 - 1 cannot be integers: ValueError rather than a wrong value.
    """
    head, fields, ts = field_section(line)

    def integer(m: re.Match[bytes]) -> bytes:
        if int(m.group(1)) > MAX_I64:
            raise ValueError(f"counter {m.group(1)!r} does not fit an InfluxDB 1.x integer")
        return b"=" + m.group(1) + b"i"

    return head + b" " + _UNSIGNED.sub(integer, fields) + b" " + ts


def write_lines(server: Influxd, lines: list[bytes]) -> tuple[int, int]:
    """Post each line verbatim; a refused line must be accepted once its counters are `i`.

    Returns (verbatim, rewritten). Any other refusal (a tag, an escape, a field type the
    server rejects) fails: that is what this write checks about the schema.
    """
    verbatim = rewritten = 0
    for line in lines:
        try:
            server.write([line])
            verbatim += 1
        except InfluxError as exc:
            changed = to_influxdb1(line)
            assert changed != line and "invalid number" in str(exc), (line, str(exc))
            server.write([changed])
            rewritten += 1
    return verbatim, rewritten
