"""The live fibre cut: `borderwatch run` as a real process recording the lab's real agents.

The history engineer's scenario (tests/history/test_live_history.py asserts on it), reused
as is by tests/reports/test_report_live.py: a session fixture, registered in
tests/conftest.py, so that the ~45 s lab run happens once for both. It runs the alert-quality
network of lab/quality.py without its `alerts:` section (the history needs none): every
site up; a second collector on the same state directory (refused); a cut of Q01 (core — Đồng
Đăng hub) held three polls, then repaired; `kill -9` of the collector and a restart on the
same state directory. What it saw and when is a `LiveRun`.
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

from borderwatch.history.reader import HistoryReader
from borderwatch.lab.quality import (
    COMMUNITY_VAR,
    INTERVAL,
    REPO,
    LabProcess,
    free_port,
    inventory_data,
)

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
                [sys.executable, "-m", "borderwatch.cli", "run", "--inventory", str(inventory),
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


@pytest.fixture(scope="session")
def live_fibre_cut(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    """Run the scenario once per session (session scope: the history and report tests
    share it); what it recorded, with every process it started already stopped."""
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
    # The scenario runs here, once per session; the tests only read what it recorded, so
    # the lab and the collectors stop before they run (they would hold loopback addresses
    # and CPU for the rest of the session otherwise).
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
    finally:
        for c in collectors:
            c.stop()
        lab.stop()
    yield run
