"""A1: 20 unreachable devices do not slow down 20 healthy ones (real snmpd, real silence).

The healthy devices are compared with a baseline run without the dead ones, as ratios
(cycle counts, inter-poll intervals); the dead ones are 10 ports where nothing listens
and 10 behind the UDP fault proxy dropping every request (drop=1.0).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import statistics
from pathlib import Path

import pytest
from fakes.udp_proxy import UdpProxy
from runtime_helpers import (
    Dev,
    ResultLog,
    running_service,
    scrape,
    v2c,
    values_by_device,
    write_inventory,
)
from servers import free_udp_port, start_snmpd

HEALTHY = [f"ok-{i:02d}" for i in range(20)]
WINDOW = 6.0  # seconds measured per run, after WARMUP
WARMUP = 1.5
DEFAULTS = {"interval": 1, "timeout": 0.4, "retries": 1}  # dead polls give up after 0.8 s
SYSTEM_ONLY = {"profile": ["system"]}  # one GET per poll: measure scheduling, not snmpd


def _community(device_id: str) -> str:
    return "c-" + device_id  # one community (and credential) per device: A49 forbids twins


@pytest.fixture
def snmpd20(tmp_path: Path):
    """A real snmpd that accepts one community per healthy test device."""
    extra = "\n".join(f"rocommunity {_community(d)} 127.0.0.0/8" for d in HEALTHY)
    server = start_snmpd(tmp_path / "snmpd", extra_conf=extra)
    try:
        yield server
    finally:
        server.stop()


async def _run(tmp: Path, snmpd_port: int, dead: list[Dev]) -> tuple[ResultLog, dict]:
    devices = [Dev(d, snmpd_port, d, extra=SYSTEM_ONLY) for d in HEALTHY] + dead
    creds = {d.id: v2c(_env(d.id)) for d in devices}
    env = {_env(d.id): _community(d.id) for d in devices}
    inv = write_inventory(tmp / f"inv-{len(devices)}.yaml", devices, creds, DEFAULTS)
    log = ResultLog()
    async with running_service(inv, env) as service:
        service.result_listeners.append(log)
        await asyncio.sleep(WARMUP)
        log.results.clear()
        await asyncio.sleep(WINDOW)
        scraped = await scrape(service)
        stats = {d: service.scheduler.stats[d] for d in service.devices}
    return log, {"scrape": scraped, "stats": stats}


def _env(device_id: str) -> str:
    return "BW_" + device_id.upper().replace("-", "_")


def _cadence(log: ResultLog) -> tuple[float, float, list[float]]:
    """Mean polls per healthy device, mean inter-poll interval, healthy durations."""
    counts, gaps, durations = [], [], []
    for device in HEALTHY:
        results = log.for_device(device)
        counts.append(len(results))
        starts = [r.started for r in results]
        gaps += [b - a for a, b in itertools.pairwise(starts)]
        durations += [r.duration for r in results]
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return statistics.mean(counts), statistics.mean(gaps), durations


@pytest.mark.slow
async def test_dead_devices_do_not_delay_healthy_ones(tmp_path: Path, snmpd20,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    base_log, _ = await _run(tmp_path, snmpd20.port, [])
    base_count, base_gap, _ = _cadence(base_log)
    caplog.clear()

    proxy = await UdpProxy.start(snmpd20.endpoint)
    proxy.to_agent.drop = 1.0  # a blackhole in front of a live agent
    try:
        dead = [Dev(f"dead-port-{i}", free_udp_port(), f"dead-port-{i}") for i in range(10)]
        dead += [Dev(f"dead-drop-{i}", proxy.port, f"dead-drop-{i}") for i in range(10)]
        load_log, info = await _run(tmp_path, snmpd20.port, dead)
    finally:
        proxy.close()
    count, gap, durations = _cadence(load_log)

    dead_ids = [d.id for d in dead]
    dead_durations = [r.duration for d in dead_ids for r in load_log.for_device(d)]
    print(f"\nA1 healthy polls/device: baseline {base_count:.2f}, with 20 dead {count:.2f} "
          f"(ratio {count / base_count:.3f}); mean interval {base_gap:.3f} s vs {gap:.3f} s "
          f"(ratio {gap / base_gap:.3f}); healthy max poll {max(durations) * 1000:.1f} ms, "
          f"dead poll median {statistics.median(dead_durations):.3f} s")
    # On cadence: the same number of cycles and the same spacing as without dead devices.
    assert count / base_count >= 0.85
    assert gap / base_gap <= 1.15
    # No healthy poll ever waited for a dead device's timeouts.
    assert max(durations) < 0.5 * statistics.median(dead_durations)
    # Dead devices: up 0, each polled on its own cadence, each logged once (not per poll).
    up = values_by_device(info["scrape"], "borderwatch_device_up")
    assert all(up[d] == 0 for d in dead_ids) and all(up[h] == 1 for h in HEALTHY)
    assert all(len(load_log.for_device(d)) >= 3 for d in dead_ids)
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    for d in dead_ids:
        assert sum(f"device {d} " in m and "unreachable" in m for m in messages) == 1, d
    assert not [m for m in messages if any(h in m for h in HEALTHY)]
    assert all(info["stats"][h].overruns == 0 for h in HEALTHY)
