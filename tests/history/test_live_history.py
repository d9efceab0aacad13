"""`borderwatch run` as a real process against the lab's real snmpsim agents (the alert-quality
network of lab/quality.py, without its `alerts:` section: the history needs none):

* a fibre cut (lab fault cut-link Q01, core — Đồng Đăng hub) shows up as an isolated interval
  of the hub and the three gates behind it, root cause link:Q01, lasting as long as the cut
  (within what a poll interval, a failing poll and an observation tick allow);
* a second collector pointed at the same state directory is refused, naming the holder's PID;
* `kill -9` of the collector: the next start closes its intervals at its last heartbeat, the
  time until the restart is a collector gap (unknown), and the file passes
  `PRAGMA integrity_check`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from history.reader import HistoryReader, Interval
from lab.quality import COMMUNITY_VAR, INTERVAL, REPO, LabProcess, free_port, inventory_data

pytestmark = pytest.mark.slow

TICK = 1.0  # --history-tick of the collectors here
# A poll of a dead agent fails after timeout × tries (the suite inventory: 1.5 s, 1 retry).
FAIL_TIME = 1.5 * 2
GATES = ("bg-huunghi", "bg-cocnam", "bg-tanthanh")
CUT_OFF = ("hub-dongdang", *GATES)


class Collector:
    """One `borderwatch run` process; output to files (a full pipe would block it)."""

    def __init__(self, directory: Path, inventory: Path, state_dir: Path, env: dict[str, str],
                 name: str) -> None:
        self.out = directory / f"{name}.out"
        self.err = directory / f"{name}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "collector.cli", "run", "--inventory", str(inventory),
                 "--listen", f"127.0.0.1:{free_tcp_port()}", "--state-dir", str(state_dir),
                 "--history-tick", str(TICK)],
                stdout=out, stderr=err, env=env, cwd=REPO)

    def wait_serving(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while "serving" not in self.out.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"collector did not start:\n{self.err.read_text()}")
            time.sleep(0.2)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(timeout=30)


def free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def site_states(path: Path) -> dict[str, str]:
    """Each site's state at the end of what the history holds now."""
    with HistoryReader.open([path]) as reader:
        span = reader.span()
        if span is None:
            return {}
        last = span[1]
        return {iv.element: iv.state for iv in reader.intervals("site", last - 0.001, last)}


def wait_until(predicate, within: float, what: str) -> float:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)
    return time.time()


@dataclass
class LiveRun:
    """What the scenario did and when (wall clock)."""

    path: Path
    cut_sent: float = 0.0  # the lab's fault command sent
    cut: float = 0.0  # ... and its answer: the fault is in effect (agents restarted)
    restore_sent: float = 0.0
    restored: float = 0.0
    killed: float = 0.0
    killed_pid: int = 0
    second_rc: int | None = None
    second_err: str = ""
    integrity: str = ""
    restart_err: str = ""
    notes: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    directory = tmp_path_factory.mktemp("live-history")
    data = inventory_data(free_port(), "http://127.0.0.1:9/unused")
    del data["alerts"]  # the history works without any alert configuration
    inventory = directory / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    community = "h-" + os.urandom(6).hex()
    env = {**os.environ, COMMUNITY_VAR: community}
    state_dir = directory / "state"
    run = LiveRun(state_dir / "history.sqlite")
    lab = LabProcess(inventory, directory / "lab", community)
    lab.start()
    collectors: list[Collector] = []
    try:
        first = Collector(directory, inventory, state_dir, env, "first")
        collectors.append(first)
        first.wait_serving()
        wait_until(lambda: set(site_states(run.path).values()) == {"up"} and
                   len(site_states(run.path)) == 7, 90, "every site up in the history")

        # The inventory from another directory but the same --state-dir: `run` locks the
        # state directory it was given (not var/ beside the inventory), so it refuses.
        # (The history file's own lock, for other writers, is tested in test_writer.py.)
        elsewhere = directory / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / "inventory.yaml").write_text(inventory.read_text())
        second = Collector(directory, elsewhere / "inventory.yaml", state_dir, env, "second")
        collectors.append(second)
        run.second_rc = second.proc.wait(timeout=60)
        run.second_err = second.err.read_text()

        run.cut_sent = time.time()
        run.cut = asyncio.run(lab.fault("cut_link", "Q01"))
        wait_until(lambda: all(site_states(run.path).get(s) == "isolated" for s in CUT_OFF),
                   60, "the hub and its gates isolated")
        time.sleep(3 * INTERVAL)
        run.restore_sent = time.time()
        run.restored = asyncio.run(lab.fault("restore_link", "Q01"))
        wait_until(lambda: set(site_states(run.path).values()) == {"up"}, 90,
                   "every site up again")
        time.sleep(2 * TICK)

        run.killed_pid = first.proc.pid
        first.proc.send_signal(signal.SIGKILL)
        run.killed = time.time()
        first.proc.wait(timeout=30)
        time.sleep(2.0)  # a visible gap between the crash and the restart

        restarted = Collector(directory, inventory, state_dir, env, "restarted")
        collectors.append(restarted)
        restarted.wait_serving()
        wait_until(lambda: set(site_states(run.path).values()) == {"up"}, 90,
                   "every site up after the restart")
        assert restarted.stop() == 0
        run.restart_err = restarted.err.read_text()
        conn = sqlite3.connect(f"{run.path.as_uri()}?mode=ro", uri=True)
        run.integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.close()
        yield run
    finally:
        for c in collectors:
            c.stop()
        lab.stop()


def isolated_by(reader: HistoryReader, site: str, cause: str, start: float, end: float
                ) -> list[Interval]:
    return [iv for iv in reader.intervals("site", start, end)
            if iv.element == site and iv.state == "isolated" and iv.cause == cause]


def test_fibre_cut_isolates_the_sites_behind_it_with_the_link_as_root_cause(live: LiveRun
                                                                           ) -> None:
    # The lab applies a fault by restarting agents, which takes seconds on a loaded
    # machine: each fault is somewhere between its command and the lab's answer. On top,
    # detection waits for the next poll of the sites and for it to fail, the repair for
    # the next poll that answers, each then for the next observation tick.
    margin = INTERVAL + FAIL_TIME + TICK
    shortest = live.restore_sent - live.cut - margin
    longest = live.restored - live.cut_sent + margin
    with HistoryReader.open([live.path]) as reader:
        for site in CUT_OFF:
            got = isolated_by(reader, site, "link:Q01", live.cut_sent - 60, live.restored + 60)
            assert len(got) == 1, (site, got)
            (iv,) = got
            assert live.cut_sent <= iv.start <= live.cut + margin, (site, iv, live)
            assert live.restore_sent <= iv.end <= live.restored + margin, (site, iv, live)
            assert shortest <= iv.end - iv.start <= longest, (site, iv, live)
        others = {iv.element for iv in reader.intervals("site", live.cut - 60,
                                                         live.restored + 60)
                  if iv.state not in ("up", "unknown")}
        assert others == set(CUT_OFF)  # nobody else: the core, Lộc Bình, Bắc Xa stayed up
        # The first incident is the cut; while the lab restarts the agents one by one on
        # the repair, the history may see the sites come back in steps (their own causes).
        incidents = [i for i in reader.incidents(live.cut - 60, live.restored + 60)
                     if i.kind == "isolated"]
        assert (incidents[0].root_cause, incidents[0].sites) == (
            ("link:Q01",), tuple(sorted(CUT_OFF)))
        links = [iv for iv in reader.intervals("link", live.cut - 60, live.restored + 60)
                 if iv.element == "Q01" and iv.state == "down"]
        assert len(links) == 1


def test_second_collector_on_the_same_state_dir_is_refused(live: LiveRun) -> None:
    assert live.second_rc == 1
    assert "is using state directory" in live.second_err
    assert f"pid {live.killed_pid}" in live.second_err
    assert "Traceback" not in live.second_err


def test_kill_9_closes_intervals_at_the_last_heartbeat(live: LiveRun) -> None:
    assert live.integrity == "ok"
    conn = sqlite3.connect(f"{live.path.as_uri()}?mode=ro", uri=True)
    runs = conn.execute("SELECT pid, started, last_beat, stopped FROM runs ORDER BY id"
                        ).fetchall()
    open_rows = conn.execute('SELECT COUNT(*) FROM intervals WHERE "end" IS NULL').fetchone()
    conn.close()
    assert open_rows == (0,)  # the restarted collector stopped cleanly
    killed = next(r for r in runs if r[0] == live.killed_pid)
    restarted = runs[-1]
    _, _, beat, stopped = killed
    assert stopped == beat  # closed at its last heartbeat by the next start
    assert live.restored < beat <= live.killed  # it kept beating until it died
    assert "previous collector stopped without closing" in live.restart_err
    with HistoryReader.open([live.path]) as reader:
        for iv in reader.intervals("site", beat - 1, restarted[1] + 1):
            if iv.start == beat:
                assert (iv.state, iv.cause, iv.end) == ("unknown", "collector-gap",
                                                         restarted[1]), iv
            if iv.end == beat:
                assert iv.state == "up"
