"""The private network namespace of the end-to-end ICMP scenarios (ping_scenario.py,
reload_scenario.py): their agents, raw ICMP socket and nftables drop rules touch nothing of
the host's loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest


@pytest.fixture
def netns(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test module; skips where one cannot be made."""
    if os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"):
        pytest.skip("needs root, ip and nft (a network namespace, a raw ICMP socket, "
                    "a drop rule)")
    name = f"bw-{request.module.__name__.rpartition('.')[2]}-{os.getpid()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)  # a leftover
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)
