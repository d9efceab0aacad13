"""A private network namespace with tap devices, so one snmpd serves a 48-row ifTable.

The benchmark runs every process (agents, snmp_exporter, borderwatch, the client) inside
the namespace, so only its own loopback is used and its port space is private: nothing
collides with servers that other people run on the host at the same time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


class Namespace:
    """`ip netns` NAME with `lo` up and `taps` tap devices (each one more ifTable row)."""

    def __init__(self, name: str, taps: int) -> None:
        self.name = name
        self.taps = taps

    def exists(self) -> bool:
        """True if a namespace of this name is already there."""
        listing = _ip("netns", "list", check=False).stdout.split()
        return self.name in listing

    def pids(self) -> list[int]:
        """Processes running inside the namespace."""
        out = _ip("netns", "pids", self.name, check=False).stdout.split()
        return [int(p) for p in out if p.isdigit()]

    def create(self) -> None:
        """Create the namespace; a leftover one without processes is replaced, a busy one
        is refused (it may be another run of this benchmark)."""
        if self.exists():
            busy = self.pids()
            if busy:
                raise RuntimeError(
                    f"network namespace {self.name} exists with processes {busy}: another "
                    f"benchmark is running? (remove it with: ip netns del {self.name})")
            _ip("netns", "del", self.name)
        _ip("netns", "add", self.name)
        try:
            _ip("-n", self.name, "link", "set", "lo", "up")
            # One `ip -batch` call: 47 taps take ~0.1 s instead of ~1 s of forks.
            batch = "".join(f"tuntap add dev tap{i} mode tap\nlink set tap{i} up\n"
                            for i in range(self.taps))
            subprocess.run(["ip", "-n", self.name, "-batch", "-"], input=batch, text=True,
                           check=True, capture_output=True)
        except BaseException:
            self.delete()
            raise

    def delete(self) -> None:
        """Stop what is still running inside (only our processes can be there), then delete."""
        if not self.exists():
            return
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            end = time.monotonic() + wait
            while self.pids() and time.monotonic() < end:
                time.sleep(0.05)
        _ip("netns", "del", self.name, check=False)

    def argv(self, argv: list[str]) -> list[str]:
        """A command line that runs `argv` inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]


def inside(name: str) -> bool:
    """True when this process already runs inside namespace `name`."""
    try:
        here = os.stat("/proc/self/ns/net").st_ino
        there = os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return False
    return here == there


def run_inside(ns: Namespace, script: str, args: list[str]) -> int:
    """Create `ns`, run `python script --inside args...` in it, delete it; the exit code.

    Ctrl-C reaches the child too (same terminal process group): it stops the processes
    it started, then the namespace is deleted here. SIGTERM is forwarded to the child.
    """
    ns.create()
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, forward)
    try:
        child = subprocess.Popen(ns.argv([sys.executable, script, "--inside", *args]))
        return child.wait()
    finally:
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(30)
        ns.delete()
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
