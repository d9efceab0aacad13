"""One state directory, one writer (issue 11, point 10), with real `borderwatch run` processes.

A second service on the same state directory is refused with the holder's PID; after a
kill -9 of the holder the kernel has released its flock and a new service takes over. A
silence the API confirmed survives a kill -9 right after the answer. The alert state file
is rewritten only when something in it changed, not at every tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from alert_network import ENV, FAST_RULES
from core_post_service import INVENTORY, alert_service, write_inventory
from runtime_helpers import BORDERWATCH
from servers import free_tcp_port

from borderwatch.collector.samples import PollResult

NOWHERE_HOOK = {"rules": "rules.yaml", "webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/"}]}


@contextlib.asynccontextmanager
async def run(inventory: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`borderwatch run` on a free port; yields (process, base URL) once it serves."""
    port = free_tcp_port()
    proc = await asyncio.create_subprocess_exec(
        BORDERWATCH, "run", "--inventory", str(inventory), "--listen", f"127.0.0.1:{port}",
        env={**os.environ, **ENV}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.decode().strip() == f"serving http://127.0.0.1:{port}/metrics", line
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def refused(inventory: Path) -> tuple[int, str]:
    """Start a second `borderwatch run`; its exit code and stderr (it must not serve)."""
    proc = await asyncio.create_subprocess_exec(
        BORDERWATCH, "run", "--inventory", str(inventory),
        "--listen", f"127.0.0.1:{free_tcp_port()}", env={**os.environ, **ENV},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, err.decode()


async def kill9(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    await proc.wait()


@pytest.mark.parametrize("alerts", [None, NOWHERE_HOOK], ids=["plain", "alerts"])
async def test_a_second_service_on_the_same_state_dir_is_refused_until_the_first_dies(
        tmp_path: Path, alerts: dict | None) -> None:
    (tmp_path / "rules.yaml").write_text(FAST_RULES)
    inventory = write_inventory(tmp_path, alerts) if alerts else write_inventory(tmp_path, {})
    if alerts is None:  # no alerts: section at all: the state root is still locked
        text = inventory.read_text().replace("alerts: {}\n", "")
        assert "alerts" not in text
        inventory.write_text(text)
    async with run(inventory) as (first, _):
        code, err = await refused(inventory)
        assert code == 1, err
        assert f"another borderwatch (pid {first.pid}) is using state directory " \
               f"{(tmp_path / 'var').resolve()}" in err, err
        assert "Traceback" not in err
        await kill9(first)
        async with run(inventory) as (second, url):  # the kernel released the flock
            async with aiohttp.ClientSession() as s, s.get(f"{url}/healthz") as resp:
                assert resp.status == 200
            assert (tmp_path / "var" / "borderwatch.lock").read_text().strip() == \
                str(second.pid)


async def test_a_spool_directory_shared_by_two_inventories_is_refused_with_the_pid(
        tmp_path: Path) -> None:
    """Each state directory is locked, wherever it lies: two inventories in different
    directories (different `var/`) that name the same influx spool cannot both run."""
    spool = tmp_path / "shared-spool"
    inventories = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        path = tmp_path / name / "inventory.yaml"
        path.write_text(yaml.safe_dump({**INVENTORY, "influx": {
            "url": "http://127.0.0.1:9", "org": "bw", "bucket": "bw",
            "spool": {"dir": str(spool)}}}, allow_unicode=True))
        inventories.append(path)
    async with run(inventories[0]) as (first, _):
        code, err = await refused(inventories[1])
        assert code == 1, err
        assert f"another borderwatch (pid {first.pid}) is using state directory " \
               f"{spool.resolve()}" in err, err


async def test_a_confirmed_silence_survives_a_kill_9_right_after_the_answer(
        tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(FAST_RULES)
    inventory = write_inventory(tmp_path, NOWHERE_HOOK)
    silence = {"matchers": ["site=post"], "duration": "2h", "created_by": "trucban",
               "comment": "thay cáp L1"}
    async with run(inventory) as (proc, url):
        async with aiohttp.ClientSession() as s, s.post(f"{url}/api/silences",
                                                         json=silence) as resp:
            assert resp.status == 201
            created = await resp.json()
        await kill9(proc)  # no shutdown, no final save
    async with run(inventory) as (_, url), aiohttp.ClientSession() as s, \
            s.get(f"{url}/api/silences") as resp:
        listed = (await resp.json())["silences"]
    assert [(x["id"], x["state"], x["comment"]) for x in listed] == \
        [(created["id"], "active", "thay cáp L1")]


def test_the_state_file_is_written_only_when_it_changed(tmp_path: Path) -> None:
    """Ticks with nothing new (a down site that stays down, then a network that stays up)
    leave state.json alone: each write replaces the file (new inode), so the inode
    counts the writes."""
    (tmp_path / "rules.yaml").write_text(FAST_RULES)
    write_inventory(tmp_path, NOWHERE_HOOK)
    now = 1_795_693_105.0
    svc, state, _ = alert_service(tmp_path, lambda: now)
    inodes: list[int | None] = []
    try:
        for post_up, ticks in ((True, 3), (False, 12), (True, 12)):
            for _ in range(ticks):
                now += 5.0
                state.apply(PollResult("core-sw", now, 0.01, True))
                state.apply(PollResult("post-sw", now, 0.01 if post_up else 0.3, post_up,
                                       None if post_up else "timeout"))
                svc.evaluate()
                path = svc.state_path
                inodes.append(os.stat(path).st_ino if path.exists() else None)
    finally:
        svc.outbox.close()
    writes = sum(1 for a, b in itertools.pairwise(inodes) if a != b)
    # the cut, the firing, the clear, the resolve: a handful of writes over 27 ticks,
    # and the last ticks (nothing changing any more) write nothing
    assert 1 <= writes <= 8, inodes
    assert len(set(inodes[-6:])) == 1, inodes
    saved = json.loads(svc.state_path.read_text())
    assert saved["version"] == 1
