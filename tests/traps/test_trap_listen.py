"""The trap receiver's socket: a taken address stops the service with a clear error and
leaves nothing running; a port it may not bind names CAP_NET_BIND_SERVICE (when not root)."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest
from runtime_helpers import Dev, v2c, write_inventory

from borderwatch.collector.inventory import load_inventory
from borderwatch.service import ListenError, start_service


async def test_a_taken_trap_port_is_a_clear_start_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        inv = write_inventory(tmp_path / "inventory.yaml", [Dev("sw1", 9, "c")],
                              {"c": v2c("BW_C")})
        inv.write_text(inv.read_text() + f"traps: {{listen: '127.0.0.1:{port}'}}\n")
        tasks = len(asyncio.all_tasks())
        with pytest.raises(ListenError) as err:
            await start_service(load_inventory(inv, env={"BW_C": "public"}), "127.0.0.1:0",
                                local_address="127.0.0.1", history=None)
    assert str(err.value) == f"traps: cannot listen on udp 127.0.0.1:{port}: address already in use"
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) == tasks  # nothing left running


@pytest.mark.skipif(os.geteuid() == 0, reason="root may bind port 162")
async def test_port_162_without_the_privilege_names_it(tmp_path: Path) -> None:
    inv = write_inventory(tmp_path / "inventory.yaml", [Dev("sw1", 9, "c")], {"c": v2c("BW_C")})
    inv.write_text(inv.read_text() + "traps: {listen: '127.0.0.1:162'}\n")
    with pytest.raises(ListenError) as err:
        await start_service(load_inventory(inv, env={"BW_C": "public"}), "127.0.0.1:0",
                            local_address="127.0.0.1", history=None)
    assert str(err.value) == ("traps: cannot listen on udp 127.0.0.1:162: permission denied (a "
                              "port below 1024 needs CAP_NET_BIND_SERVICE: see README)")
