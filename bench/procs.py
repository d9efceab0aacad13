"""Processes the benchmark starts: CPU-seconds and memory from /proc, stop by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its threads included) from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces: split after its closing parenthesis.
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def status_kib(pid: int, key: str) -> int:
    """A `kB` line of /proc/PID/status (VmRSS, VmHWM, ...) in KiB; 0 if absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class Proc:
    """One started process; `stop()` ends it by PID (TERM, then KILL)."""

    def __init__(self, name: str, argv: list[str], *, log: Path,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name = name
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        # Own session: a Ctrl-C in the terminal reaches the orchestrator only, which then
        # stops its children in order (and nothing is left behind if it dies).
        self.popen = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=dict(env or os.environ),
                                      cwd=cwd, start_new_session=True)
        self.pid = self.popen.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen.poll() is None

    def cpu(self) -> float:
        """CPU-seconds used so far."""
        return cpu_seconds(self.pid)

    def hwm_mib(self) -> float:
        """Peak resident memory (VmHWM) in MiB."""
        return status_kib(self.pid, "VmHWM") / 1024

    def rss_mib(self) -> float:
        """Resident memory now (VmRSS) in MiB."""
        return status_kib(self.pid, "VmRSS") / 1024

    def tail(self, lines: int = 20) -> str:
        """The last lines of its log (for error messages)."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, grace: float = 8.0) -> int | None:
        """SIGTERM, wait up to `grace` s, then SIGKILL; returns the exit code."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._log.close()
        return self.popen.returncode


class Group:
    """Processes to stop together, newest first (the client side before the agents)."""

    def __init__(self) -> None:
        self.procs: list[Proc] = []

    def start(self, name: str, argv: list[str], **kwargs) -> Proc:  # type: ignore[no-untyped-def]
        """Start a process and remember it for stop_all()."""
        proc = Proc(name, argv, **kwargs)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        """Stop every process still running, newest first."""
        while self.procs:
            self.procs.pop().stop()


def run_in_workdir(prefix: str, body: Callable[[Path, Group], int], *,
                   keep: bool = False) -> int:
    """Run one bench's inside part: `body(workdir, group)` with a fresh work directory and
    an empty process Group; its exit code, or 130 when interrupted.

    However it ends (Ctrl-C, the SIGTERM run_inside forwards, an error) every process of
    the group is stopped and the directory removed (kept with `keep`), so a bench never
    leaves an snmpd behind in the namespace it is about to delete.
    """
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    group = Group()

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    try:
        return body(workdir, group)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr)
        return 130
    finally:
        group.stop_all()
        if keep:
            print(f"work files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
