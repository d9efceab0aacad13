"""The agents of the benchmark: one net-snmp snmpd posing as many devices on many ports."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from procs import Group, Proc

from borderwatch.collector.snmp import ber

COMMUNITY = "bwbench"  # a benchmark-only community: it never leaves the private namespace
V3_USER, V3_AUTH, V3_PRIV = "bwbench3", "bwbench-auth-key", "bwbench-priv-key"
SYS_UPTIME_0 = (1, 3, 6, 1, 2, 1, 1, 3, 0)
MAX_LINE = 3800  # snmpd cuts a config line at ~4 kB (testbed.md)
MAX_SOCKETS = 120  # and one process handles up to ~128 sockets


def snmpd_config(bind: str, ports: list[int]) -> str:
    """snmpd.conf serving `ports` on `bind` (v2c COMMUNITY and v3 user V3_USER, authPriv)."""
    addresses = ",".join(f"udp:{bind}:{p}" for p in ports)
    if len(addresses) > MAX_LINE or len(ports) > MAX_SOCKETS:
        raise ValueError(f"{len(ports)} ports do not fit one snmpd; use fewer per process")
    return "\n".join([
        f"agentaddress {addresses}",
        "master no",
        "dontLogTCPWrappersConnects yes",
        f"rocommunity {COMMUNITY} 127.0.0.0/8",
        f"createUser {V3_USER} SHA {V3_AUTH} AES {V3_PRIV}",
        f"rouser {V3_USER} priv",
        "sysLocation borderwatch benchmark",
        "sysName bwbench-snmpd",
        "",
    ])


def answers(address: str, port: int, timeout: float = 0.3) -> bool:
    """True if a v2c GET of sysUpTime.0 to address:port gets a response."""
    request = ber.encode_request(ber.VERSION_2C, COMMUNITY.encode(), ber.GET_REQUEST, 4242,
                                 [SYS_UPTIME_0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(request, (address, port))
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return False
    return ber.decode_message(data).request_id == 4242


def start_snmpd(group: Group, workdir: Path, name: str, bind: str, ports: list[int],
                probe_address: str = "127.0.0.1", timeout: float = 20.0) -> Proc:
    """Start one snmpd serving `ports`; returns once every port answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    persist = workdir / "persist"
    persist.mkdir(exist_ok=True)
    conf = workdir / "snmpd.conf"
    conf.write_text(snmpd_config(bind, ports))
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(persist),
               SNMPCONFPATH=f"{workdir}:{persist}")
    proc = group.start(name, ["snmpd", "-f", "-m", "", "-Lf", str(workdir / "snmpd.log"),
                              "-p", str(workdir / "snmpd.pid")],
                       log=workdir / "snmpd.out", env=env)
    waiting = list(ports)
    end = time.monotonic() + timeout
    while waiting:
        if not proc.alive():
            raise RuntimeError(f"{name} exited: {(workdir / 'snmpd.log').read_text()[-2000:]}")
        if time.monotonic() > end:
            raise RuntimeError(f"{name}: ports {waiting[:5]}... do not answer after {timeout} s")
        waiting = [p for p in waiting if not answers(probe_address, p)]
    return proc
