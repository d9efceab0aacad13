"""The lab's simulated agents: real snmpsim processes behind each device's own address.

By default a few responder-lite processes (lab/lite.py; SHARED_PROCESSES) serve the devices
on backend ports of 127.0.0.1, each a group of them, choosing the data by the endpoint a
request arrived on, and the lab's UDP gate (lab/gate.py) relays each device's own endpoint to
its backend. That starts the repository's 81 devices in seconds with 4 processes instead of
81 (bench/lab_start.py). One agent is
still stopped on its own: the gate closes its port. It is restarted with changed data
(lab/faults.py) as a snmpsim-command-responder process of its own, behind the same gate;
the device keeps that process until the lab stops.

`per_device=True` is the former layout, kept for comparison: one snmpsim-command-responder
per device, bound to the device's address, started a few at a time (each indexes its data
file, which costs CPU).

A device on an SNMPv3 credential (lab/devices.py LabUsm) always has a
snmpsim-command-responder of its own (run through lab/v3agent.py; behind the gate, or on its
address per device): one snmpsim engine per device, with the device's engine ID and its one
USM user. Its user and
keys reach snmpsim in an options file (`--args-from-file`, mode 0600 in the agent's
directory), never on the command line, which every local user can read; the engine ID,
which is no secret, is on it. snmpsim logs v3 keys at level info: the lab runs it at error.

Either way the lab waits until each agent answers an SNMP GET on its own address, and stops
processes by PID (SIGTERM, then SIGKILL after a bound). A lab killed hard leaves pid files
behind; the next start stops those leftovers after checking /proc that the PID still is our
snmpsim for that device.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import itertools
import logging
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from borderwatch.collector.snmp import ber
from borderwatch.lab.devices import AgentSpec, LabError, LabUsm
from borderwatch.lab.dumps import DumpError, write_data_file
from borderwatch.lab.gate import Address, UdpGate

log = logging.getLogger(__name__)

RESPONDER = "snmpsim-command-responder"
LITE_MODULE = "borderwatch.lab.lite"
# the full responder for a v3 device (keeps the empty context)
V3_MODULE = "borderwatch.lab.v3agent"
UDP_DOMAIN = "1.3.6.1.6.1.1"  # snmpUDPDomain; responder-lite appends the endpoint's index
SYS_UPTIME_0 = (1, 3, 6, 1, 2, 1, 1, 3, 0)
# inventory protocol name → snmpsim's (--v3-auth-proto / --v3-priv-proto); AES-192/256 are
# Blumenthal's key extension in both the collector and net-snmp, -C is Reeder's
SNMPSIM_AUTH = {"MD5": "MD5", "SHA": "SHA", "SHA-224": "SHA224", "SHA-256": "SHA256",
                "SHA-384": "SHA384", "SHA-512": "SHA512"}
SNMPSIM_PRIV = {"DES": "DES", "AES-128": "AES", "AES-192": "AES192BLMT",
                "AES-256": "AES256BLMT", "AES-192-C": "AES192", "AES-256-C": "AES256"}
STOP_TIMEOUT = 5.0
PROBE_INTERVAL = 0.1  # first resend of a readiness probe; doubles up to PROBE_INTERVAL_MAX
PROBE_INTERVAL_MAX = 1.0  # a shared process probed for all its devices at once must not drown
BACKEND_HOST = "127.0.0.1"  # where the snmpsim processes listen behind the gate
# Processes the devices share behind the gate. One would do on an idle machine; on a busy
# one the kernel gives each process its share of a core, and one process answering for every
# device fell behind the poller at load 20 (the alert-quality tests, 11 devices). Each costs
# about 40 MiB.
SHARED_PROCESSES = 4
SHARED_INDEX_ALLOWANCE = 2.0  # seconds per device added to the shared process's timeout
BACKEND_PORTS_FROM = 20000  # their ports: from here to the ephemeral range (_free_ports)
PROGRESS_EVERY = 5.0  # seconds between progress lines of a start
SLOW_AFTER = 10.0  # an agent still starting after this many seconds is named as slow
SLOW_NAMED = 5  # at most this many slow agents named in a progress line
_PR_SET_PDEATHSIG = 1


def _responder_binary() -> str:
    beside = Path(sys.executable).parent / RESPONDER
    if beside.exists():
        return str(beside)
    found = shutil.which(RESPONDER)
    if not found:
        raise LabError(f"{RESPONDER} not found: install the project (scripts/setup.sh)")
    return found


def _responder_argv(agent: Agent) -> list[str]:
    """The full responder of an agent with a process of its own (lab/v3agent.py for v3)."""
    if agent.spec.usm is not None:
        return [sys.executable, "-m", V3_MODULE]
    return [_responder_binary()]


def _variation_dir(state_dir: Path) -> Path:
    """A variation-modules dir holding only `numeric`: snmpsim loads every module it finds
    (redis and sql log errors, all cost memory), and the lab needs just this one."""
    import snmpsim  # the modules are data files next to it, not an importable package

    vdir = state_dir / "variation"
    vdir.mkdir(parents=True, exist_ok=True)
    link = vdir / "numeric.py"
    target = (Path(snmpsim.__file__).parent / "variation" / "numeric.py").resolve()
    if not target.is_file():
        raise LabError(f"snmpsim's numeric variation module is missing ({target})")
    if not (link.is_symlink() and link.resolve() == target):
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(target)
    return vdir


def _die_with_parent() -> None:  # runs in the child between fork and exec
    # If the lab process dies without stopping its agents (SIGKILL, crash), the kernel
    # sends each agent SIGTERM. Agents are spawned from the main thread only: the signal
    # fires when the spawning *thread* exits.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _port_is_free(address: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((address, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def memory_of(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in bytes; PSS shares pages fairly between processes."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


@dataclass(eq=False)  # identity: agents are dict keys while they start
class Agent:
    """One simulated device: its data file, and the snmpsim process that serves it.

    An agent of its own process keeps everything under <state-dir>/agents/<device-id>/; an
    agent of the shared responder has that process's data dir, cache, log, pid file and
    process, and the backend port it listens on for this device behind the gate.
    """

    spec: AgentSpec
    data_dir: Path
    data_file: Path
    cache_dir: Path
    log_path: Path
    pid_path: Path
    stamp: Path
    records: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    ready_after: float | None = None
    error: str | None = None
    spawned_at: float | None = None  # wall clock, as snmpsim's `numeric` counts (lab/faults.py)
    backend: Address | None = None  # behind the gate: where its snmpsim process listens

    @classmethod
    def own(cls, spec: AgentSpec, home: Path) -> Agent:
        """An agent with its own process and files under `home`."""
        data_dir = home / "data"
        # snmpsim serves a file under community = its path without extension.
        return cls(spec, data_dir, data_dir / f"{spec.community.reveal()}.snmprec",
                   home / "cache", home / "agent.log", home / "pid", home / "data.build")

    @classmethod
    def sharing(cls, spec: AgentSpec, home: Path, transport_index: int) -> Agent:
        """An agent served by the shared responder-lite as its transport_index-th endpoint."""
        data_dir = home / "data"
        # responder-lite tries <community>/<transport domain OID> before <community>.
        name = f"{UDP_DOMAIN}.{transport_index}.snmprec"
        return cls(spec, data_dir, data_dir / spec.community.reveal() / name,
                   home / "cache", home / "lite.log", home / "pid",
                   home / "stamps" / f"{_dir_name(spec.device_id)}.build")

    def move_to_own(self, home: Path) -> None:
        """From the shared responder to a process of its own: its files under `home`,
        starting from the data it has now (lab/faults.py rewrites it before a restart)."""
        own = Agent.own(self.spec, home)
        if own.data_file == self.data_file:
            return
        own.data_file.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(own.data_dir.parent, 0o700)  # file names in it are the community
        for old in own.data_dir.rglob("*"):  # of an earlier run: snmpsim would serve it too
            if old.is_file():
                old.unlink()
        shutil.copyfile(self.data_file, own.data_file)
        for name in ("data_dir", "data_file", "cache_dir", "log_path", "pid_path", "stamp"):
            setattr(self, name, getattr(own, name))

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        """True while the agent's process runs."""
        return self.proc is not None and self.proc.poll() is None


def _endpoint_option(spec: AgentSpec) -> str:
    if ":" in spec.address:
        return f"--agent-udpv6-endpoint=[{spec.address}]:{spec.port}"
    return f"--agent-udpv4-endpoint={spec.address}:{spec.port}"


@dataclass(frozen=True)
class StartProgress:
    """Where a lab start stands, for a progress line: counts, and the agents slow to answer."""

    total: int
    ready: int
    failed: int
    starting: int
    elapsed: float  # seconds since start() began
    slow: tuple[tuple[str, float], ...]  # (device id, seconds starting), slowest first
    slow_after: float  # seconds starting that make an agent "slow"

    def line(self) -> str:
        """E.g. "agents ready 24/81 after 10 s, 6 starting; slow (over 10 s): dd-agg2 14 s"."""
        text = f"agents ready {self.ready}/{self.total} after {self.elapsed:.0f} s"
        if self.starting:
            text += f", {self.starting} starting"
        if self.failed:
            text += f", {self.failed} failed"
        if self.slow:
            # One shared process answers for all its devices at once: a slow one makes every
            # device slow, and a line naming 81 of them is read by nobody.
            named = ", ".join(f"{d} {t:.0f} s" for d, t in self.slow[:SLOW_NAMED])
            more = len(self.slow) - SLOW_NAMED
            text += (f"; slow (over {self.slow_after:g} s): {named}"
                     + (f" and {more} more" if more > 0 else ""))
        return text


@dataclass
class LabReport:
    """What a start achieved, for the summary line and the tests."""

    ready: list[Agent]
    failed: list[Agent]
    records: int
    seconds: float
    prepare_seconds: float
    rebuilt: int
    rss: int
    pss: int

    def summary(self) -> str:
        """One line: agents, varbind records, start time, memory."""
        mib = 1024 * 1024
        return (f"{len(self.ready)} agents ready, {len(self.failed)} failed; "
                f"{self.records} varbind records; data files {self.prepare_seconds:.1f} s "
                f"({self.rebuilt} rebuilt), agents started in {self.seconds:.1f} s; "
                f"memory RSS {self.rss / mib:.0f} MiB, PSS {self.pss / mib:.0f} MiB")


class Lab:
    """All agents of an inventory: prepare data, start, stop one or all.

    Default: `shared_processes` shared responders behind the gate (module docstring).
    `per_device`: one process per device, at most `parallelism` starting at once.
    """

    def __init__(self, specs: list[AgentSpec], state_dir: Path, *, parallelism: int = 6,
                 ready_timeout: float = 120.0, per_device: bool = False,
                 shared_processes: int = SHARED_PROCESSES) -> None:
        self.state_dir = Path(state_dir)
        self.parallelism = max(1, parallelism)
        self.ready_timeout = ready_timeout
        self.per_device = per_device
        # Behind the gate: consecutive devices in groups, one shared process per group.
        self._groups: list[list[Agent]] = []
        if per_device:
            self.agents = [Agent.own(s, self._home(s)) for s in specs]
        else:
            shared = [s for s in specs if s.usm is None]
            size = math.ceil(len(shared) / max(1, min(shared_processes, len(shared) or 1)))
            self._groups = [[Agent.sharing(s, self.state_dir / "shared" / str(g), i)
                             for i, s in enumerate(shared[g * size:(g + 1) * size])]
                            for g in range(math.ceil(len(shared) / size) if shared else 0)]
            self.agents = [a for group in self._groups for a in group]
            # v3: an engine of its own each (module docstring)
            self.agents += [Agent.own(s, self._home(s)) for s in specs if s.usm is not None]
        self._gate: UdpGate | None = None
        self._shared_procs: list[subprocess.Popen[bytes]] = []
        self._rebuilt = 0
        self._prepare_seconds = 0.0

    def _home(self, spec: AgentSpec) -> Path:
        return self.state_dir / "agents" / _dir_name(spec.device_id)

    # ------------------------------------------------------------------ data

    def prepare(self) -> None:
        """Write each agent's data file (only those out of date); LabError lists bad profiles."""
        problems = []
        self._rebuilt = 0
        t0 = time.monotonic()
        for agent in self.agents:
            agent.data_file.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(agent.data_dir.parent, 0o700)  # file names in it are the community
            before = agent.stamp.stat().st_mtime_ns if agent.stamp.exists() else None
            try:
                agent.records = write_data_file(agent.spec.sim_profile, agent.spec.device_id,
                                                agent.data_file, agent.stamp,
                                                agent.spec.link_capacity)
            except DumpError as exc:
                problems.append(f"{agent.spec.device_id}: {exc}")
                continue
            if before != agent.stamp.stat().st_mtime_ns:
                self._rebuilt += 1
        # Files of a former community or device: snmpsim would serve them too.
        wanted = {a.data_file for a in self.agents}
        for data_dir in {a.data_dir for a in self.agents}:
            for old in data_dir.rglob("*"):
                if old.is_file() and old not in wanted:
                    old.unlink()
        if self._rebuilt:
            # snmpsim trusts an index only if its mtime is a later whole second than its data
            # file's: an index built in the second the file was written would be built again
            # at every start.
            time.sleep(max(0.0, math.ceil(time.time()) - time.time()))
        self._prepare_seconds = time.monotonic() - t0
        if problems:
            raise LabError("\n".join(problems))

    # ------------------------------------------------------------------ processes

    def start(self, cancel: threading.Event | None = None, *,
              progress: Callable[[StartProgress], None] | None = None,
              progress_every: float = PROGRESS_EVERY, slow_after: float = SLOW_AFTER
              ) -> LabReport:
        """Start every agent, at most `parallelism` starting at once; report who is ready.

        Agents that fail (exit, busy port, no answer in time) are listed with their log
        tail in the report; the others keep running. Setting `cancel` (Ctrl-C during a
        long start) stops launching: the agents not started yet are reported as failed.
        `progress` is called every `progress_every` seconds while agents start (a long
        start should not look hung), naming those starting for over `slow_after` seconds.
        """
        t0 = time.monotonic()
        next_progress = t0 + progress_every
        variation_dir = _variation_dir(self.state_dir)
        pending = deque(self.agents)
        starting: dict[Agent, _Probe] = {}
        if not self.per_device:
            # One process for all: every agent is probed at once, none is spawned below.
            # It indexes every device's data on a cold cache, one device after the other:
            # give it the time that per-device processes get in parallel.
            timeout = self.ready_timeout + SHARED_INDEX_ALLOWANCE * len(self.agents)
            starting = {a: _Probe(a, timeout) for a in self._spawn_shared(variation_dir)}
            for agent in pending:
                if agent.spec.usm is not None:
                    probe = self._spawn_behind_gate(agent, variation_dir)
                    if probe is not None:
                        starting[agent] = probe
            pending.clear()
        while pending or starting:
            if cancel is not None and cancel.is_set():
                for agent in [*pending, *starting]:
                    agent.error = "not started: the lab was stopped"
                for probe in starting.values():
                    probe.close()
                pending.clear()
                starting.clear()
                break
            while pending and len(starting) < self.parallelism:
                agent = pending.popleft()
                probe = self._spawn(agent, variation_dir)
                if probe is not None:
                    starting[agent] = probe
            for agent, probe in list(starting.items()):
                outcome = probe.step()
                if outcome is None:
                    continue
                del starting[agent]
                probe.close()
                if outcome == "ready":
                    agent.ready_after = time.monotonic() - probe.started
                else:
                    agent.error = outcome
                    self._stop_agent(agent)
            now = time.monotonic()
            if progress is not None and now >= next_progress and (pending or starting):
                next_progress = now + progress_every
                progress(self._progress(starting, now - t0, slow_after))
            time.sleep(0.02)
        ready = [a for a in self.agents if a.error is None]
        failed = [a for a in self.agents if a.error is not None]
        rss = pss = 0
        for pid in {a.proc.pid for a in ready if a.proc is not None}:
            r, p = memory_of(pid)
            rss, pss = rss + r, pss + p
        return LabReport(ready, failed, sum(a.records for a in ready),
                         time.monotonic() - t0, self._prepare_seconds, self._rebuilt, rss, pss)

    def _progress(self, starting: dict[Agent, _Probe], elapsed: float,
                  slow_after: float) -> StartProgress:
        now = time.monotonic()
        ages = sorted(((a.spec.device_id, now - p.started) for a, p in starting.items()),
                      key=lambda age: -age[1])
        done = [a for a in self.agents if a.ready_after is not None]
        failed = [a for a in self.agents if a.error is not None]
        return StartProgress(len(self.agents), len(done), len(failed), len(starting), elapsed,
                             tuple(age for age in ages if age[1] > slow_after), slow_after)

    def _spawn(self, agent: Agent, variation_dir: Path) -> _Probe | None:
        self._stop_leftover(agent)
        if not _port_is_free(agent.spec.address, agent.spec.port):
            agent.error = f"udp {agent.spec.endpoint} is already in use by another program"
            return None
        argv = [*_responder_argv(agent), *self._engine_args(agent),
                *self._common_args(agent, variation_dir),
                _endpoint_option(agent.spec), "--logging-method=stdout"]
        agent.proc = self._popen(argv, agent)
        return _Probe(agent, self.ready_timeout)

    def _spawn_behind_gate(self, agent: Agent, variation_dir: Path) -> _Probe | None:
        """A v3 agent's process of its own on a backend port, its endpoint open in the gate
        at once (the probe goes through it); None if the endpoint is busy."""
        assert self._gate is not None
        self._stop_leftover(agent)
        agent.backend = (BACKEND_HOST, _free_ports(BACKEND_HOST, 1)[0])
        if not self._open_gate(agent):
            return None
        argv = [*_responder_argv(agent), *self._engine_args(agent),
                *self._common_args(agent, variation_dir),
                f"--agent-udpv4-endpoint={BACKEND_HOST}:{agent.backend[1]}",
                "--logging-method=stdout"]
        agent.proc = self._popen(argv, agent)
        return _Probe(agent, self.ready_timeout)

    def _open_gate(self, agent: Agent) -> bool:
        """Relay the device's endpoint to its backend; False, with the reason in
        `agent.error`, when the endpoint cannot be had (the device fails alone)."""
        assert self._gate is not None and agent.backend is not None
        try:
            self._gate.open(agent.spec.device_id,
                            (str(ipaddress.ip_address(agent.spec.address)), agent.spec.port),
                            agent.backend)
        except OSError as exc:
            agent.error = (f"udp {agent.spec.endpoint} is already in use by another program"
                           if exc.errno in (errno.EADDRINUSE, errno.EACCES) else
                           f"udp {agent.spec.endpoint}: {exc.strerror or exc}")
            return False
        return True

    def _spawn_shared(self, variation_dir: Path) -> list[Agent]:
        """Open the gate and start the shared responder-lites behind it; the agents to probe.

        A device whose endpoint is busy fails alone; the others start."""
        self._gate = UdpGate()
        opened = []
        for group in self._groups:
            opened += self._spawn_group(group, variation_dir)
        return opened

    def _spawn_group(self, group: list[Agent], variation_dir: Path) -> list[Agent]:
        first = group[0]
        self._stop_leftover(first)
        for agent in group:  # processes of their own, from a fault of an earlier run
            self._stop_leftover(Agent.own(agent.spec, self._home(agent.spec)))
        assert self._gate is not None
        ports = _free_ports(BACKEND_HOST, len(group))
        opened = []
        for agent, port in zip(group, ports, strict=True):
            agent.backend = (BACKEND_HOST, port)
            if self._open_gate(agent):
                opened.append(agent)
        if not opened:
            return []
        # responder-lite logs the community of every request it has no data for: log
        # nothing (tracebacks still reach the log file through stderr). Every agent gets its
        # backend endpoint, opened or not: the N-th endpoint serves the N-th data file.
        argv = [sys.executable, "-m", LITE_MODULE, *self._common_args(first, variation_dir),
                *(f"--agent-udpv4-endpoint={BACKEND_HOST}:{p}" for p in ports),
                "--logging-method=null"]
        proc = self._popen(argv, first)
        self._shared_procs.append(proc)
        for agent in opened:
            agent.proc = proc
            agent.spawned_at = first.spawned_at  # one `numeric` clock for all (lab/faults.py)
        return opened

    @staticmethod
    def _engine_args(agent: Agent) -> list[str]:
        """A v3 agent's engine: its ID on the command line (it must come first: snmpsim
        starts an engine's options there), its user and keys in an options file of mode
        0600 that snmpsim reads (`--args-from-file`). Nothing for a v1/v2c agent."""
        usm = agent.spec.usm
        if usm is None:
            return []
        options = agent.cache_dir.parent / "v3-user.args"
        options.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            options.unlink()
        fd = os.open(options, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(" ".join(_usm_options(usm)) + "\n")
        return [f"--v3-engine-id={usm.engine_id.hex()}", f"--args-from-file={options}"]

    @staticmethod
    def _common_args(agent: Agent, variation_dir: Path) -> list[str]:
        # No secret on the command line: the community is only a file name in data_dir.
        return [f"--data-dir={agent.data_dir}", f"--cache-dir={agent.cache_dir}",
                f"--variation-modules-dir={variation_dir}", "--log-level=error"]

    @staticmethod
    def _popen(argv: list[str], agent: Agent) -> subprocess.Popen[bytes]:
        agent.cache_dir.mkdir(parents=True, exist_ok=True)
        agent.spawned_at = time.time()
        env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")  # it refuses root without this
        with open(agent.log_path, "wb") as logf:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                env=env, start_new_session=True,
                preexec_fn=_die_with_parent)  # main thread only, see _die_with_parent
        agent.pid_path.write_text(str(proc.pid))
        return proc

    def _stop_leftover(self, agent: Agent) -> None:
        try:
            pid = int(agent.pid_path.read_text())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return
        ours = f"--data-dir={agent.data_dir}".encode()
        program = any(RESPONDER.encode() in part or part in (LITE_MODULE.encode(),
                                                             V3_MODULE.encode())
                      for part in cmdline)
        if program and ours in cmdline:
            log.warning("%s: stopping leftover agent pid %d of an earlier lab run",
                        agent.spec.device_id, pid)
            _terminate(pid)

    def _stop_agent(self, agent: Agent) -> None:
        if self._gate is not None:
            self._gate.close(agent.spec.device_id)
        if agent.proc is not None and not any(agent.proc is p for p in self._shared_procs):
            _terminate(agent.proc.pid, agent.proc)
            with contextlib.suppress(FileNotFoundError):
                agent.pid_path.unlink()
        agent.proc = None

    def agent(self, device_id: str) -> Agent:
        """The agent of a device (KeyError if the lab has none)."""
        return next(a for a in self.agents if a.spec.device_id == device_id)

    def stop_one(self, device_id: str) -> None:
        """Stop one device's agent: its port closes (used by lab/faults.py).

        Behind the gate the device leaves the shared responder for good: its data file moves
        to a directory of its own, where a fault rewrites it before start_one()."""
        agent = self.agent(device_id)
        self._stop_agent(agent)
        if not self.per_device:
            agent.move_to_own(self._home(agent.spec))

    def start_one(self, device_id: str) -> Agent:
        """(Re)start one device's agent and wait until it answers; LabError if it does not.

        Behind the gate: a snmpsim-command-responder of its own on a backend port, which the
        gate opens the device's endpoint to once it answers there. The calling thread must
        outlive the agent (see _die_with_parent).
        """
        self.stop_one(device_id)
        agent = self.agent(device_id)
        agent.error = None
        variation_dir = _variation_dir(self.state_dir)
        if self.per_device:
            probe = self._spawn(agent, variation_dir)
        else:
            agent.backend = (BACKEND_HOST, _free_ports(BACKEND_HOST, 1)[0])
            argv = [*_responder_argv(agent), *self._engine_args(agent),
                    *self._common_args(agent, variation_dir),
                    f"--agent-udpv4-endpoint={BACKEND_HOST}:{agent.backend[1]}",
                    "--logging-method=stdout"]
            agent.proc = self._popen(argv, agent)
            probe = _Probe(agent, self.ready_timeout, agent.backend)
        if probe is None:
            raise LabError(f"{device_id}: {agent.error}")
        t0 = time.monotonic()
        try:
            while (outcome := probe.step()) is None:
                time.sleep(0.02)
        finally:
            probe.close()
        if outcome == "ready" and self._gate is not None:
            assert agent.backend is not None
            try:
                self._gate.open(device_id, (str(ipaddress.ip_address(agent.spec.address)),
                                            agent.spec.port), agent.backend)
            except OSError as exc:
                outcome = f"udp {agent.spec.endpoint}: {exc.strerror or exc}"
        if outcome != "ready":
            agent.error = outcome
            self._stop_agent(agent)
            raise LabError(f"{device_id}: {outcome}")
        agent.ready_after = time.monotonic() - t0
        return agent

    def stop(self) -> None:
        """Stop every agent: SIGTERM all, then SIGKILL whoever outlives the bound."""
        if self._gate is not None:
            self._gate.stop()
            self._gate = None
        running = [a.proc for a in self.agents if a.proc is not None]
        running += self._shared_procs
        self._shared_procs = []
        for g in range(len(self._groups)):
            with contextlib.suppress(FileNotFoundError):  # its first agent may have moved
                (self.state_dir / "shared" / str(g) / "pid").unlink()
        procs = list({id(p): p for p in running}.values())
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_TIMEOUT)
        for agent in self.agents:
            agent.proc = None
            with contextlib.suppress(FileNotFoundError):
                agent.pid_path.unlink()

    def processes(self) -> list[int]:
        """PIDs of the lab's running snmpsim processes (for memory figures)."""
        procs = [a.proc for a in self.agents if a.proc is not None]
        procs += self._shared_procs
        return sorted({p.pid for p in procs if p.poll() is None})

    def dead(self) -> list[Agent]:
        """Agents that were ready and have exited since (for the lab's watch loop)."""
        return [a for a in self.agents if a.error is None and a.proc is not None
                and a.proc.poll() is not None]


def _usm_options(usm: LabUsm) -> list[str]:
    """snmpsim's options for the one USM user of a v3 agent (they hold its keys)."""
    out = [f"--v3-user={usm.user}"]
    if usm.auth_protocol and usm.auth_key is not None:
        out += [f"--v3-auth-proto={SNMPSIM_AUTH[usm.auth_protocol]}",
                f"--v3-auth-key={usm.auth_key.reveal()}"]
    if usm.priv_protocol and usm.priv_key is not None:
        out += [f"--v3-priv-proto={SNMPSIM_PRIV[usm.priv_protocol]}",
                f"--v3-priv-key={usm.priv_key.reveal()}"]
    return out


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _free_ports(host: str, count: int) -> list[int]:
    """`count` distinct UDP ports free on `host` now, below the kernel's ephemeral range.

    Below it because the port is released before snmpsim binds it: meanwhile the lab's own
    relay and probe sockets (and every other client on the machine) take ephemeral ports,
    which would steal one of the kernel's own choices."""
    low = _ephemeral_low()
    candidates = random.sample(range(BACKEND_PORTS_FROM, max(low, BACKEND_PORTS_FROM + count)),
                               k=min(max(low - BACKEND_PORTS_FROM, count), 4 * count + 64))
    socks: list[socket.socket] = []
    try:
        for port in candidates:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((host, port))
            except OSError:
                s.close()
                continue
            socks.append(s)
            if len(socks) == count:
                return [s.getsockname()[1] for s in socks]
        raise LabError(f"not {count} free UDP ports on {host} below {low}")
    finally:
        for s in socks:
            s.close()


def _dir_name(device_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in device_id)


def _exited(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1]
    except (OSError, IndexError):
        return True
    return state == "Z"  # a zombie has exited; only its parent can reap it


def _terminate(pid: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM, wait up to STOP_TIMEOUT, SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return
        elif _exited(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait(timeout=STOP_TIMEOUT)


_request_ids = itertools.count(0x4C41_0000)  # "LA.."; any ids work, the socket is per probe


class _Probe:
    """Readiness of one starting agent: SNMP GET sysUpTime.0 on its own address and port
    (or on `target`: its backend port, before the gate opens its endpoint to it)."""

    def __init__(self, agent: Agent, timeout: float, target: Address | None = None) -> None:
        self.agent = agent
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        address, port = target or (str(ipaddress.ip_address(agent.spec.address)),
                                   agent.spec.port)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        # connect(): the kernel then delivers only datagrams from the agent's own endpoint.
        self.sock.connect((address, port))
        self.request_id = next(_request_ids) & 0x7FFF_FFFF
        self.packet = ber.encode_request(ber.VERSION_2C, agent.spec.community.reveal().encode(),
                                         ber.GET_REQUEST, self.request_id, [SYS_UPTIME_0])
        self.next_send = 0.0
        self.interval = PROBE_INTERVAL

    def step(self) -> str | None:
        """None while starting, "ready" when answered, else the failure text."""
        agent = self.agent
        assert agent.proc is not None
        if self._answered():
            return "ready"
        code = agent.proc.poll()
        if code is not None:
            return f"exited with code {code}; log {agent.log_path}:\n{_log_tail(agent.log_path)}"
        now = time.monotonic()
        if now > self.deadline:
            return (f"no SNMP answer within {self.deadline - self.started:.0f} s; "
                    f"log {agent.log_path}:\n{_log_tail(agent.log_path)}")
        if now >= self.next_send:
            self.next_send = now + self.interval
            self.interval = min(PROBE_INTERVAL_MAX, self.interval * 2)
            with contextlib.suppress(OSError):  # ECONNREFUSED until the agent binds
                self.sock.send(self.packet)
        return None

    def _answered(self) -> bool:
        while True:
            try:
                data = self.sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:  # ICMP port unreachable from an earlier send
                continue
            try:
                msg = ber.decode_message(data)
            except ber.MalformedPacket:
                continue
            if msg.pdu_type == ber.RESPONSE and msg.request_id == self.request_id:
                return True

    def close(self) -> None:
        self.sock.close()
