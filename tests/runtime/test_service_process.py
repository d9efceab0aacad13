"""`borderwatch run` as a real process: SIGTERM mid-poll (A10), bounded resources (A28).

The process polls a real snmpd, partly through the UDP fault proxy (running in this
test's event loop, so every wait here is an await, never a blocking sleep).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fakes.udp_proxy import UdpProxy
from runtime_helpers import (
    BORDERWATCH,
    Dev,
    fetch,
    proc_stats,
    v2c,
    wait_until,
    write_inventory,
)
from servers import free_tcp_port, free_udp_port, start_snmpd

EXIT_BOUND = 15.0  # seconds from SIGTERM to exit (polls cancel at once; generous for CI)


def _communities(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:02d}" for i in range(n)]


@contextlib.asynccontextmanager
async def borderwatch_run(inventory: Path, env: dict[str, str], *args: str,
                          ) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """Start `borderwatch run` on a free port; yields (process, base URL) once it serves."""
    port = free_tcp_port()
    proc = await asyncio.create_subprocess_exec(
        BORDERWATCH, *args, "run", "--inventory", str(inventory),
        "--listen", f"127.0.0.1:{port}", env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.decode().strip() == f"serving {url}/metrics", line
        yield proc, url
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def health(url: str) -> dict:
    status, _, body = await fetch(f"{url}/healthz")
    assert status == 200
    return json.loads(body)


@pytest.mark.slow
async def test_sigterm_with_50_polls_in_flight_exits_cleanly(tmp_path: Path) -> None:
    names = _communities("walk", 50)
    snmpd = start_snmpd(tmp_path / "snmpd", extra_conf="\n".join(
        f"rocommunity {c} 127.0.0.0/8" for c in names))
    proxy = await UdpProxy.start(snmpd.endpoint)
    proxy.to_client.delay = 1.0  # every round trip 1 s: IF-MIB walks stay in flight
    try:
        devices = [Dev(c, proxy.port, c) for c in names]  # profile auto: system + if-mib
        env = {f"BW_{c.upper()}": c for c in names}
        inv = write_inventory(tmp_path / "inventory.yaml", devices,
                              {c: v2c(f"BW_{c.upper()}") for c in names},
                              {"interval": 4, "timeout": 2.5, "retries": 0,
                               "poll_deadline": 3.8})
        async with borderwatch_run(inv, env, "--log-level", "DEBUG") as (proc, url):
            await wait_until(lambda: proxy.to_agent.seen >= 50, within=20,
                             what="requests of every device")
            in_flight = 0

            async def many_in_flight() -> bool:
                nonlocal in_flight
                in_flight = (await health(url))["polls_in_flight"]
                return in_flight >= 40

            deadline = time.monotonic() + 20
            while not await many_in_flight():
                assert time.monotonic() < deadline, f"only {in_flight} polls in flight"
                await asyncio.sleep(0.1)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), EXIT_BOUND)
            took = time.monotonic() - t0
    finally:
        proxy.close()
        snmpd.stop()
    stderr = err.decode()
    print(f"\nA10: SIGTERM with {in_flight} polls in flight: exit {proc.returncode} "
          f"after {took:.2f} s")
    assert proc.returncode == 0, stderr[-3000:]
    assert "Task was destroyed" not in stderr and "Traceback" not in stderr, stderr[-3000:]
    assert "received SIGTERM" in stderr and stderr.rstrip().endswith("stopped")
    assert "never retrieved" not in stderr  # no future with an unobserved exception


@pytest.mark.slow
async def test_resources_stay_flat_with_30_percent_dead(tmp_path: Path) -> None:
    """A28: ~2000 polls at 0.2 s intervals, 6 of 20 devices dead: RSS, fds and tasks flat."""
    names = _communities("res", 14)
    snmpd = start_snmpd(tmp_path / "snmpd", extra_conf="\n".join(
        f"rocommunity {c} 127.0.0.0/8" for c in names))
    try:
        devices = [Dev(c, snmpd.port, c, extra={"profile": ["system"]}) for c in names]
        devices += [Dev(f"dead{i}", free_udp_port(), f"dead{i}") for i in range(6)]
        creds = {d.id: v2c(f"BW_{d.id.upper()}") for d in devices}
        env = {f"BW_{d.id.upper()}": d.id for d in devices}
        inv = write_inventory(tmp_path / "inventory.yaml", devices, creds,
                              {"interval": 0.2, "timeout": 0.08, "retries": 1})
        async with borderwatch_run(inv, env) as (proc, url):
            samples: list[dict] = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < 20:
                await asyncio.sleep(1.0)
                h = await health(url)
                samples.append({**proc_stats(proc.pid), "tasks": h["asyncio_tasks"],
                                "t": time.monotonic() - t0})
            _, body = (await fetch(f"{url}/metrics"))[1:]
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), EXIT_BOUND)
    finally:
        snmpd.stop()
    polls = sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
                if line.startswith("borderwatch_device_polls_total{"))
    warm = [s for s in samples if 5 <= s["t"] < 8]
    late = [s for s in samples if s["t"] >= 17]
    rss_ratio = max(s["rss"] for s in late) / max(s["rss"] for s in warm)
    print(f"\nA28: {polls:.0f} polls; RSS {max(s['rss'] for s in warm) / 2**20:.1f} → "
          f"{max(s['rss'] for s in late) / 2**20:.1f} MiB (×{rss_ratio:.3f}); fds "
          f"{[s['fds'] for s in samples]}; tasks {[s['tasks'] for s in samples]}")
    assert polls >= 1500
    assert rss_ratio < 1.10
    assert max(s["fds"] for s in late) <= max(s["fds"] for s in warm) + 1  # +1: a scrape
    # loops (20) + polls in flight (≤ 20) + server tasks: bounded, no growth
    assert max(s["tasks"] for s in late) <= max(s["tasks"] for s in warm) + 5
    assert max(s["tasks"] for s in samples) <= 20 + 20 + 10
    assert proc.returncode == 0, err.decode()[-2000:]
