"""`borderwatch run --traps.listen-address` in a real process: the flag wins over the
inventory's `traps.listen` (a real snmptrap to the flag's port is received, nothing listens
on the file's), turns the receiver on without a `traps:` section, survives a hot reload
(SIGHUP: no restart asked for, the listener stays), and a bad address or a taken port is a
clear one-line error, never a traceback."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from runtime_helpers import BORDERWATCH, Dev, v2c, write_inventory
from servers import free_tcp_port, free_udp_port
from trap_cli import Sender, send

ENV = {**os.environ, "BW_C": "public"}
SOURCE = "127.0.13.21"  # the device: traps come from its address


def inventory(tmp_path: Path, traps: str | None) -> Path:
    inv = write_inventory(tmp_path / "inventory.yaml",
                          [Dev("sw1", 9, "c", address=SOURCE, extra={"icmp": False})],
                          {"c": v2c("BW_C")}, {"interval": 60, "timeout": 0.3, "retries": 0})
    if traps is not None:
        inv.write_text(inv.read_text() + f"traps: {{listen: '{traps}'}}\n")
    inv.chmod(0o600)
    return inv


async def sample(url: str, name: str, **labels: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as resp:
        text = await resp.text()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and labels.items() <= s.labels.items():
                return s.value
    return -1.0


async def accepted(url: str) -> float:
    return await sample(url, "borderwatch_traps_received_total", result="accepted")


def bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("in_file", [True, False], ids=["overrides-file", "no-traps-section"])
async def test_flag_wins_over_the_inventory_and_survives_a_reload(tmp_path: Path,
                                                                  in_file: bool) -> None:
    file_port, flag_port, http_port = free_udp_port(), free_udp_port(), free_tcp_port()
    inv = inventory(tmp_path, f"127.0.0.1:{file_port}" if in_file else None)
    url = f"http://127.0.0.1:{http_port}"
    proc = await asyncio.create_subprocess_exec(
        BORDERWATCH, "run", "--inventory", str(inv), "--listen", f"127.0.0.1:{http_port}",
        "--traps.listen-address", f"127.0.0.1:{flag_port}", "--no-history", env=ENV,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.decode().strip() == f"serving {url}/metrics", line
        assert bindable(file_port)  # the file's address is not used
        assert not bindable(flag_port)

        async def trap_received(before: float) -> float:
            sent = await asyncio.to_thread(send, Sender(SOURCE, community="public"),
                                           f"127.0.0.1:{flag_port}", "coldStart", "2c", "trap")
            assert sent.returncode == 0, sent.stderr
            for _ in range(300):  # bounded: the receiver answers within a moment
                now = await accepted(url)
                if now > before:
                    return now
                await asyncio.sleep(0.1)
            raise AssertionError("the trap to the flag's address was not accepted")

        first = await trap_received(0.0)
        proc.send_signal(signal.SIGHUP)  # the reloaded file gets the same override
        for _ in range(300):
            if await sample(url, "borderwatch_config_reloads_total", result="success") >= 1:
                break
            await asyncio.sleep(0.1)
        assert await sample(url, "borderwatch_config_last_reload_successful") == 1
        assert not bindable(flag_port)
        await trap_received(first)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    log = err.decode()
    assert proc.returncode == 0, log[-2000:]
    assert "reloading" in log and "next restart" not in log, log[-2000:]


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost:1162", "127.0.0.1:70000"])
def test_a_bad_flag_address_is_a_clear_error(tmp_path: Path, address: str) -> None:
    run = subprocess.run([BORDERWATCH, "run", "--inventory", str(inventory(tmp_path, None)),
                          "--traps.listen-address", address], env=ENV, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr == (f"borderwatch: --traps.listen-address: '{address}' is not "
                          "'ADDRESS:PORT' with an IP address and a port 0..65535, e.g. "
                          "0.0.0.0:1162\n")


def test_a_taken_flag_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        run = subprocess.run([BORDERWATCH, "run", "--inventory",
                              str(inventory(tmp_path, "127.0.0.1:0")), "--no-history",
                              "--listen", f"127.0.0.1:{free_tcp_port()}",
                              "--traps.listen-address", f"127.0.0.1:{port}"],
                             env=ENV, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    assert run.stderr.splitlines()[-1] == \
        f"borderwatch: traps: cannot listen on udp 127.0.0.1:{port}: address already in use"
    assert "Traceback" not in run.stderr
