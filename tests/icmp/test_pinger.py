"""The pinger against the kernel's real ICMP: loopback answers every echo request.

Raw sockets need root (or CAP_NET_RAW); unprivileged ping sockets need the process's group
inside net.ipv4.ping_group_range, a per-namespace sysctl: those cases run in a namespace of
their own, with the sysctl set there, so the host's setting is neither read nor changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PING_ONCE = Path(__file__).with_name("ping_once.py")
root_only = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                               reason="needs root and ip (raw sockets, network namespaces)")


def ping_once(mode: str, *addresses: str, netns: str | None = None) -> dict:
    argv = [sys.executable, str(PING_ONCE), mode, *addresses]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"bwping-{os.getpid()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def sysctl_in(netns: str, value: str) -> None:
    subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-q", "-w",
                    f"net.ipv4.ping_group_range={value}"], check=True)


@root_only
def test_raw_socket_pings_loopback_addresses_and_names() -> None:
    out = ping_once("raw", "127.0.0.1", "127.0.0.42", "localhost")
    assert (out["kind"], out["error"]) == ("raw", "")
    for address, rounds in out["rounds"].items():
        assert len(rounds) >= 2, address
        assert all(sent == 2 and answered == 2 and rtt > 0 for sent, answered, rtt in rounds)


@root_only
def test_unprivileged_ping_socket_where_the_sysctl_allows(netns: str) -> None:
    sysctl_in(netns, "0 2147483647")
    out = ping_once("unprivileged", "127.0.0.1", "127.0.0.7", netns=netns)
    assert (out["kind"], out["error"]) == ("unprivileged", "")
    assert all(r[1] == 2 for rounds in out["rounds"].values() for r in rounds)


@root_only
def test_auto_prefers_the_unprivileged_socket_then_raw(netns: str) -> None:
    sysctl_in(netns, "0 2147483647")
    assert ping_once("auto", "127.0.0.1", netns=netns)["kind"] == "unprivileged"
    sysctl_in(netns, "1 0")  # nobody may: the kernel's default
    assert ping_once("auto", "127.0.0.1", netns=netns)["kind"] == "raw"


@root_only
def test_unprivileged_refused_says_how_to_allow_it(netns: str) -> None:
    sysctl_in(netns, "1 0")
    out = ping_once("unprivileged", "127.0.0.1", netns=netns)
    assert out["kind"] == "" and out["rounds"] == {"127.0.0.1": []}
    assert out["error"] == (
        "cannot open an ICMP socket (unprivileged refused): run as root, give the process "
        "CAP_NET_RAW (systemd: AmbientCapabilities=CAP_NET_RAW), or allow unprivileged ping "
        "sockets for its group: sysctl net.ipv4.ping_group_range='0 2147483647'")
