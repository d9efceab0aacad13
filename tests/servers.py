"""Real test servers on loopback (snmpd, snmpsim, Prometheus): started, probed, stopped by PID.

Tests talk to real agents, not mocks. Every helper here checks its port is free before
starting (a leftover server must not answer the readiness probe), waits until the server
answers while checking the process is still alive, keeps the server's log in the caller's
directory, and stops only the process it started: SIGTERM, then SIGKILL after a bound.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import importlib.util
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTALL_HINT = "run scripts/install-debian-deps.sh (Debian packages of the test servers)"

SYS_UPTIME_0 = "1.3.6.1.2.1.1.3.0"
SYS_OBJECT_ID_0 = "1.3.6.1.2.1.1.2.0"

# Test bed credentials of snmpd (see /work/shared/testbed.md); they protect nothing.
SNMPD_COMMUNITY = "public"
SNMPD_SYSONLY_COMMUNITY = "sysonly"
SNMPD_SYSNAME = "testbed-snmpd"
SNMPD_V3_USERS: dict[str, dict[str, str | None]] = {
    "testv3user": {"auth_proto": "SHA", "auth_key": "authpass123",
                   "priv_proto": "AES", "priv_key": "privpass123"},
    "testv3sha256": {"auth_proto": "SHA-256", "auth_key": "authpass123",
                     "priv_proto": "AES-256", "priv_key": "privpass123"},
    "testv3authonly": {"auth_proto": "SHA", "auth_key": "authpass123",
                       "priv_proto": None, "priv_key": None},
}

STOP_TIMEOUT = 5.0


class ServerError(RuntimeError):
    """A test server could not be started (the message includes its log tail)."""


class MissingBinary(ServerError):
    """A server binary is not installed; the message says how to install it."""


# --------------------------------------------------------------------------- ports


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def _pick_port(kind: int, host: str) -> int:
    # Ports below the kernel's ephemeral range: a client socket elsewhere on the machine
    # can never be handed the same port by the kernel while our server is stopped/restarting.
    lo_eph, _ = _ephemeral_range()
    lo, hi = 20000, max(20001, min(lo_eph, 32768) - 1)
    for _ in range(200):
        port = random.randint(lo, hi)
        if port_is_free(port, host=host, kind=kind):
            return port
    raise ServerError(f"no free port found on {host} in {lo}-{hi}")


def port_is_free(port: int, *, host: str = "127.0.0.1", kind: int = socket.SOCK_DGRAM) -> bool:
    """True when nothing is bound to host:port (UDP by default); used before every start."""
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port that is free on host right now (outside the ephemeral range)."""
    return _pick_port(socket.SOCK_DGRAM, host)


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on host right now (outside the ephemeral range)."""
    return _pick_port(socket.SOCK_STREAM, host)


def _require_free(port: int, host: str, kind: int, what: str) -> None:
    if not port_is_free(port, host=host, kind=kind):
        proto = "udp" if kind == socket.SOCK_DGRAM else "tcp"
        raise ServerError(f"{what}: {proto} {host}:{port} is already in use (leftover server?)")


# --------------------------------------------------------------------------- processes


def find_binary(name: str) -> str:
    """Absolute path of a server binary: the venv's bin dir first, then PATH and /usr/sbin."""
    venv_bin = Path(sys.executable).parent / name
    if venv_bin.exists():
        return str(venv_bin)
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/sbin"
    found = shutil.which(name, path=path)
    if not found:
        raise MissingBinary(f"{name} not found: {INSTALL_HINT}")
    return found


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the process we started, SIGKILL it after `timeout` seconds; reap it."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def _spawn(argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None,
           ) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        # A new session: Ctrl-C on pytest does not hit the servers directly, the fixtures'
        # teardown stops them by PID.
        return subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)


def _udp_socket_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def process_owns_udp_port(pid: int, port: int) -> bool:
    """True when process `pid` holds a UDP socket bound to `port` (Linux /proc)."""
    inodes = _udp_socket_inodes(port)
    if not inodes:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (VmRSS), 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def snmpget(host: str, port: int, oids: Iterable[str], *, community: str = SNMPD_COMMUNITY,
            version: str = "2c", timeout: float = 1.0, retries: int = 1,
            extra: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """Run net-snmp's snmpget (numeric OIDs, no MIBs) and return the completed process."""
    argv = [find_binary("snmpget"), "-v", version, "-m", "", "-On", "-t", str(timeout),
            "-r", str(retries)]
    if version != "3":
        argv += ["-c", community]
    argv += [*extra, f"udp:{host}:{port}", *oids]
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout * (retries + 1) + 10)


def _answered(res: subprocess.CompletedProcess[str]) -> bool:
    # Any response counts (a value, noSuchObject...): a timeout prints nothing on stdout.
    return res.returncode == 0 or bool(res.stdout.strip())


def _wait_ready(proc: subprocess.Popen[bytes], probe: Callable[[], bool], *, what: str,
                log_path: Path, timeout: float, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise ServerError(f"{what} exited with code {proc.returncode} before it was ready; "
                              f"log {log_path}:\n{log_tail(log_path)}")
        if probe():
            return
        if time.monotonic() > deadline:
            stop_process(proc)
            raise ServerError(f"{what} not ready after {timeout:.0f}s; "
                              f"log {log_path}:\n{log_tail(log_path)}")
        time.sleep(interval)


# --------------------------------------------------------------------------- snmpd


def snmpd_config(address: str, port: int, extra_conf: str = "") -> str:
    """The test bed snmpd.conf: v2c public + sysonly view, three v3 users, sysName."""
    lines = [
        f"agentaddress udp:{address}:{port}",
        "master no",
        "dontLogTCPWrappersConnects yes",
        f"rocommunity {SNMPD_COMMUNITY} 127.0.0.0/8",
        "view systemonly included .1.3.6.1.2.1.1",
        f"rocommunity {SNMPD_SYSONLY_COMMUNITY} 127.0.0.0/8 -V systemonly",
    ]
    for user, u in SNMPD_V3_USERS.items():
        priv = f" {u['priv_proto']} {u['priv_key']}" if u["priv_proto"] else ""
        lines.append(f"createUser {user} {u['auth_proto']} {u['auth_key']}{priv}")
    for user, u in SNMPD_V3_USERS.items():
        lines.append(f"rouser {user} {'priv' if u['priv_proto'] else 'auth'}")
    lines += ["sysLocation Border site 7, test bed", f"sysName {SNMPD_SYSNAME}"]
    return "\n".join(lines) + "\n" + extra_conf + ("\n" if extra_conf else "")


@dataclass
class Snmpd:
    """A running net-snmp snmpd on loopback (v2c community `public`, v3 users of the test bed)."""

    workdir: Path
    address: str
    port: int
    extra_conf: str = ""
    persist_dir: Path = field(init=False)
    log_path: Path = field(init=False)
    conf_path: Path = field(init=False)
    pid_path: Path = field(init=False)
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _generation: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.persist_dir = self.workdir / "persist"
        self.log_path = self.workdir / "snmpd.log"
        self.conf_path = self.workdir / "snmpd.conf"
        self.pid_path = self.workdir / "snmpd.pid"

    @property
    def pid(self) -> int:
        """PID of the running snmpd."""
        if self.proc is None:
            raise ServerError("snmpd is not running")
        return self.proc.pid

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.address, self.port

    def start(self, timeout: float = 15.0) -> None:
        """Start snmpd and wait until it answers SNMP GET sysUpTime.0."""
        binary = find_binary("snmpd")
        _require_free(self.port, self.address, socket.SOCK_DGRAM, "snmpd")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.persist_dir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(snmpd_config(self.address, self.port, self.extra_conf))
        # Not `-C -c FILE`: -C also skips the persistent snmpd.conf, so a restart would get a
        # new engine ID and engineBoots 1. SNMPCONFPATH limited to our two dirs reads our
        # config plus the persist dir, and no system file (/etc/snmp).
        env = dict(os.environ, SNMP_PERSISTENT_DIR=str(self.persist_dir),
                   SNMPCONFPATH=f"{self.workdir}:{self.persist_dir}")
        argv = [binary, "-f", "-m", "", "-Lf", str(self.log_path), "-p", str(self.pid_path)]
        self.proc = _spawn(argv, self.workdir / "snmpd.stdout.log", env=env)
        proc = self.proc

        def probe() -> bool:
            res = snmpget(self.address, self.port, [SYS_UPTIME_0], timeout=0.3, retries=0)
            return _answered(res) and process_owns_udp_port(proc.pid, self.port)

        _wait_ready(proc, probe, what=f"snmpd on {self.address}:{self.port}",
                    log_path=self.log_path, timeout=timeout)

    def stop(self) -> None:
        """Stop snmpd (SIGTERM, then SIGKILL after a bound); idempotent."""
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def restart(self, fresh_engine_id: bool = False) -> None:
        """Stop and start on the same port; same persist dir (engine ID, boots) unless fresh."""
        self.stop()
        if fresh_engine_id:
            # net-snmp keeps its engine ID in the persist dir: a new dir means a new engine ID.
            self._generation += 1
            self.persist_dir = self.workdir / f"persist-{self._generation}"
        self.start()


def start_snmpd(workdir: Path, *, address: str = "127.0.0.1", port: int | None = None,
                extra_conf: str = "") -> Snmpd:
    """Start a real snmpd with the test bed config in workdir; stop it with `.stop()`."""
    server = Snmpd(Path(workdir), address, port or free_udp_port(address), extra_conf)
    server.start()
    return server


# --------------------------------------------------------------------------- snmpsim


def snmpsim_data_root() -> Path:
    """The data directory of the installed snmpsim-data package."""
    spec = importlib.util.find_spec("snmpsim_data")
    if spec is None or not spec.submodule_search_locations:
        raise MissingBinary("python package snmpsim-data is missing: run scripts/setup.sh")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


DUMP_SUFFIXES = (".snmprec", ".snmprec.bz2")


def dump_path(name: str) -> Path:
    """Locate a dump of snmpsim-data by its relative name, e.g. 'network/switch/cisco-c3560'."""
    root = snmpsim_data_root()
    for suffix in DUMP_SUFFIXES:
        candidate = root / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no snmpsim-data dump {name!r} under {root}")


def make_dump_dir(dest: Path, names: Iterable[str]) -> Path:
    """Copy dumps (not symlinks) into dest keeping their relative paths; community = name.

    Every copy is a plain .snmprec: a .bz2 dump is decompressed. snmpsim serves a
    .snmprec.bz2 through Python's BZ2File, whose seek() decompresses from the start of
    the file on every backward seek, and it seeks back for nearly every OID it answers:
    a 60-row GETBULK on cisco-c3560 cost ~0.35 s of snmpsim's one thread (1-2 s on a
    loaded machine), ~0.03 s from the plain file, for the same records. Tests then met
    their SNMP timeouts only on a quiet machine.

    A copy carries its source's mtime (older than any index snmpsim built) and is left
    alone while it still does, so that snmpsim's index cache stays valid across runs.
    """
    dest = Path(dest)
    for name in names:
        src = dump_path(name)
        target = dest / f"{name}.snmprec"
        stale = dest / f"{name}.snmprec.bz2"  # a compressed copy an older make_dump_dir left
        stale.unlink(missing_ok=True)  # two files of one community: snmpsim serves either
        src_stat = src.stat()
        if target.exists() and target.stat().st_mtime_ns == src_stat.st_mtime_ns:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        if src.name.endswith(".bz2"):
            with bz2.open(src) as packed, open(tmp, "wb") as plain:
                shutil.copyfileobj(packed, plain)
        else:
            shutil.copyfile(src, tmp)
        os.utime(tmp, ns=(src_stat.st_atime_ns, src_stat.st_mtime_ns))
        os.replace(tmp, target)
    return dest


def data_dir_communities(data_dir: Path) -> list[str]:
    """Communities snmpsim serves for a data dir: relative paths without the extension."""
    out = []
    for path in sorted(Path(data_dir).rglob("*")):
        if path.is_file():
            rel = path.relative_to(data_dir).as_posix()
            for suffix in DUMP_SUFFIXES:
                if rel.endswith(suffix):
                    out.append(rel[: -len(suffix)])
    return out


@dataclass
class Snmpsim:
    """A running snmpsim-command-responder serving a data dir on one or more UDP endpoints."""

    data_dir: Path
    cache_dir: Path
    endpoints: list[tuple[str, int]]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    communities: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """PID of the running responder."""
        if self.proc is None:
            raise ServerError("snmpsim is not running")
        return self.proc.pid

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.endpoints[0]

    @property
    def address(self) -> str:
        return self.endpoints[0][0]

    @property
    def port(self) -> int:
        return self.endpoints[0][1]

    def community_for(self, basename: str) -> str:
        """The community of a dump given its file's base name, e.g. 'cisco-c3560'."""
        matches = [c for c in self.communities if c.rsplit("/", 1)[-1] == basename]
        if len(matches) != 1:
            raise KeyError(f"{basename!r}: {matches or 'no such dump'} in {self.data_dir}")
        return matches[0]

    def stop(self) -> None:
        """Stop the responder (SIGTERM, then SIGKILL after a bound); idempotent."""
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


def snmpsim_argv(data_dir: Path, cache_dir: Path, endpoints: Sequence[tuple[str, int]],
                 v3_users: Sequence[dict[str, str]] = ()) -> list[str]:
    """Command line of snmpsim-command-responder for a data dir and endpoints."""
    argv = [find_binary("snmpsim-command-responder"), f"--data-dir={data_dir}",
            f"--cache-dir={cache_dir}", "--logging-method=stdout", "--log-level=error"]
    for user in v3_users:
        argv.append(f"--v3-user={user['user']}")
        for key, opt in (("auth_key", "--v3-auth-key"), ("auth_proto", "--v3-auth-proto"),
                         ("priv_key", "--v3-priv-key"), ("priv_proto", "--v3-priv-proto")):
            if user.get(key):
                argv.append(f"{opt}={user[key]}")
    argv += [f"--agent-udpv4-endpoint={host}:{port}" for host, port in endpoints]
    return argv


def snmpsim_env() -> dict[str, str]:
    """Environment for snmpsim: it refuses to run as root without SNMPSIM_ALLOW_ROOT."""
    return dict(os.environ, SNMPSIM_ALLOW_ROOT="true")


def start_snmpsim(data_dir: Path, cache_dir: Path, endpoints: list[tuple[str, int]], *,
                  probe_community: str, probe_oid: str = SYS_UPTIME_0,
                  v3_users: Sequence[dict[str, str]] = (), log_path: Path | None = None,
                  timeout: float = 180.0) -> Snmpsim:
    """Start snmpsim on endpoints; ready when every endpoint answers a GET with probe_community.

    v3_users: dicts with keys user, auth_key, auth_proto, priv_key, priv_proto (snmpsim's
    spellings: SHA, SHA256, AES, AES256...). The first start of a big data dir indexes it
    (seconds to a minute), hence the generous timeout; a warm cache_dir starts in ~1 s.
    """
    data_dir, cache_dir = Path(data_dir), Path(cache_dir)
    for host, port in endpoints:
        _require_free(port, host, socket.SOCK_DGRAM, "snmpsim")
    cache_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path) if log_path else data_dir.parent / "snmpsim.log"
    argv = snmpsim_argv(data_dir, cache_dir, endpoints, v3_users)
    proc = _spawn(argv, log_path, env=snmpsim_env())
    server = Snmpsim(data_dir, cache_dir, list(endpoints), log_path, proc,
                     data_dir_communities(data_dir))
    pending = list(endpoints)

    def probe() -> bool:
        while pending:
            host, port = pending[0]
            res = snmpget(host, port, [probe_oid], community=probe_community,
                          timeout=0.5, retries=0)
            if not (_answered(res) and process_owns_udp_port(proc.pid, port)):
                return False
            pending.pop(0)
        return True

    try:
        _wait_ready(proc, probe, what=f"snmpsim on {endpoints}", log_path=log_path,
                    timeout=timeout, interval=0.2)
    except BaseException:
        server.stop()
        raise
    return server


# --------------------------------------------------------------------------- prometheus


@dataclass
class Prometheus:
    """A running Prometheus on 127.0.0.1 scraping the given targets."""

    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log_path: Path = field(default=Path(), repr=False)

    @property
    def pid(self) -> int:
        """PID of the running Prometheus."""
        if self.proc is None:
            raise ServerError("prometheus is not running")
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _get(self, path: str, params: dict[str, str] | None = None, timeout: float = 5.0) -> Any:
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query via /api/v1/query; returns data.result (list of {metric, value})."""
        body = self._get("/api/v1/query", {"query": expr})
        if body.get("status") != "success":
            raise ServerError(f"prometheus query {expr!r} failed: {body}")
        return body["data"]["result"]

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets (health, lastError) from /api/v1/targets."""
        return self._get("/api/v1/targets")["data"]["activeTargets"]

    def wait_for(self, expr: str, predicate: Callable[[list[dict[str, Any]]], bool],
                 timeout: float = 30.0, interval: float = 0.5) -> list[dict[str, Any]]:
        """Poll `expr` until predicate(result) is true; AssertionError with the last result."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while True:
            result = self.query(expr)
            if predicate(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"prometheus: {expr!r} did not satisfy the predicate within {timeout}s; "
                    f"last result {result}; targets {self.targets()}")
            time.sleep(interval)

    def stop(self) -> None:
        """Stop Prometheus (SIGTERM, then SIGKILL after a bound); idempotent."""
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


def prometheus_config(scrape_targets: Sequence[str], scrape_interval: str,
                      rule_files: Sequence[Path] = (),
                      scrape_options: Mapping[str, Any] | None = None) -> str:
    """prometheus.yml scraping targets ("host:port" or "host:port/path") as job borderwatch.

    `scrape_options`: more keys of every scrape job (scheme, tls_config, basic_auth...).
    """
    targets_by_path: dict[str, list[str]] = {}
    for target in scrape_targets:
        hostport, _, path = target.partition("/")
        targets_by_path.setdefault("/" + (path or "metrics"), []).append(hostport)
    lines = ["global:", f"  scrape_interval: {scrape_interval}",
             f"  evaluation_interval: {scrape_interval}", f"  scrape_timeout: {scrape_interval}"]
    if rule_files:
        lines.append("rule_files:")
        lines += [f"  - {json.dumps(str(p))}" for p in rule_files]
    lines.append("scrape_configs:")
    for i, (path, hosts) in enumerate(sorted(targets_by_path.items())):
        lines += [f"  - job_name: {'borderwatch' if i == 0 else f'borderwatch{i}'}",
                  f"    metrics_path: {json.dumps(path)}",
                  *(f"    {key}: {json.dumps(value)}" for key, value in
                    (scrape_options or {}).items()),
                  "    static_configs:",
                  f"      - targets: {json.dumps(list(hosts))}"]
    return "\n".join(lines) + "\n"


def start_prometheus(workdir: Path, scrape_targets: list[str], *, scrape_interval: str = "1s",
                     rule_files: Sequence[Path] = (), timeout: float = 30.0,
                     scrape_options: Mapping[str, Any] | None = None) -> Prometheus:
    """Start Prometheus on a free 127.0.0.1 port scraping targets; ready on GET /-/ready.

    Prometheus 2.42 syncs scrape targets on a 5 s ticker, so the first samples show up about
    5 s after start whatever the scrape interval: use `wait_for`, not a sleep.
    """
    binary = find_binary("prometheus")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_tcp_port()
    _require_free(port, "127.0.0.1", socket.SOCK_STREAM, "prometheus")
    conf = workdir / "prometheus.yml"
    conf.write_text(prometheus_config(scrape_targets, scrape_interval, rule_files,
                                      scrape_options))
    log_path = workdir / "prometheus.log"
    argv = [binary, f"--config.file={conf}", f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle",
            "--log.level=warn"]
    proc = _spawn(argv, log_path)
    server = Prometheus(workdir, port, proc, log_path)

    def probe() -> bool:
        try:
            with urllib.request.urlopen(server.url + "/-/ready", timeout=1) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    try:
        _wait_ready(proc, probe, what=f"prometheus on 127.0.0.1:{port}", log_path=log_path,
                    timeout=timeout)
    except BaseException:
        server.stop()
        raise
    return server


# The dumps served by the session-wide snmpsim; community = the relative path.
SNMPSIM_TEST_DUMPS = (
    "network/switch/cisco-c3560",
    "network/router/cisco-unmarked-0",
    "network/wifi/ubiquiti-m5",
    "UPS/eaton-93e-80",
    "network/router/huawei-s5720",
    "iot/geist-temperature-sensor",
    "network/router/vyatta-unknown",
    "cloud/arista-dcs-7150s-52-cl",
)
# An SNMPv3 user of the session snmpsim (context name = community); test credentials only.
SNMPSIM_V3_USER = {"user": "simv3", "auth_key": "authpass123", "auth_proto": "SHA",
                   "priv_key": "privpass123", "priv_proto": "AES"}
