"""The lab slice polled in-process and written to a real influxd as borderwatch's lines.

A slice of the repository's inventory, simulated by the lab's shared snmpsim responder
(real dumps, the lab's microwave, VSAT, UPS and DC power files):

* ls-core: microwave radio (L08 a-end), VSAT hub modem (L22 b-end), Eaton UPS;
* hub-mauson: microwave radio (L08 b-end), Huawei DC plant;
* bg-banchat: VSAT terminal (L22 a-end);
* bp-thanhloa: its switch has no agent (a failed poll: `device up=0`).

Each device is polled `rounds` times with borderwatch.service.poll_once (the collector's
own Poller and SNMP sessions) and pinged as many rounds by the collector's Pinger (the
lab's loopback addresses answer; the `icmp` points need a raw socket, i.e. root, or
net.ipv4.ping_group_range, else there are none and `Written.icmp_error` says why), every
PollResult and ping round is encoded by
exporters.line_protocol.encode_result, exactly the bytes InfluxWriter sends, and posted
to influxd's /write. InfluxDB 1.x refuses the `u` suffix of counters, so those lines go in
with their counters as integers (influxd_server.to_influxdb1); everything else verbatim.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from influxd_server import Influxd, write_lines
from inventory_slice import slice_addresses, slice_sites
from servers import REPO_ROOT

from borderwatch.collector.icmp import IcmpSettings, Pinger, PingTarget
from borderwatch.collector.icmp.stats import IcmpRound, IcmpStats
from borderwatch.collector.inventory import Inventory, load_inventory
from borderwatch.collector.samples import PollResult
from borderwatch.exporters.line_protocol import encode_icmp, encode_result
from borderwatch.lab.agents import Lab
from borderwatch.lab.devices import agent_specs
from borderwatch.lab.quality import free_port
from borderwatch.service import poll_once

COMMUNITY_VAR = "BWTEST_INFLUXQL_COMMUNITY"
COMMUNITY = "influxql-test-c0mmunity"
KEEP_SITES = ("ls-core", "hub-mauson", "bg-banchat", "bp-thanhloa")
KEEP_DEVICES = ("ls-core-mw1", "ls-core-vsat-hub", "ls-core-ups1", "ms-mw1", "ms-dcpwr1",
                "bc-vsat1", "bptl-sw1")
NO_AGENT = ("bptl-sw1",)
KEEP_LINKS = ("L08", "L22")
FIRST_ADDRESS = 245  # 127.0.0.246-252: no other test uses them (the lab tests: 201-244)


def slice_inventory(dest: Path, port: int) -> Path:
    """The KEEP_* part of inventory.yaml on 127.0.0.246+:port (timeouts short for the dark site)."""
    data = yaml.safe_load((REPO_ROOT / "inventory.yaml").read_text())
    data["credentials"] = {"lab-v2c": {"version": "2c", "community_env": COMMUNITY_VAR}}
    data["defaults"] = {"interval": 5, "timeout": 1, "retries": 0, "port": port}
    data.pop("influx", None)
    data.pop("alerts", None)
    data.pop("reports", None)  # planners' candidates name sites the slice leaves out
    sites = slice_sites(data["sites"], KEEP_SITES, KEEP_DEVICES, NO_AGENT, FIRST_ADDRESS)
    data["sites"] = sites
    data["links"] = [ln for ln in data["links"] if ln["id"] in KEEP_LINKS]
    dest.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return dest


@dataclass
class Written:
    """What went into influxd: the polls, the lines as encoded, and how they were sent."""

    inventory: Inventory
    results: list[PollResult] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)  # encode_result's bytes, unchanged
    icmp_lines: int = 0  # `icmp` points (ping rounds)
    icmp_error: str = ""  # why no device could be pinged
    verbatim: int = 0  # lines influxd took as they are
    rewritten: int = 0  # lines with counters, sent with `i` instead of `u`


async def _poll_round(inventory: Inventory) -> list[PollResult]:
    polls = [poll_once(inventory, d, local_address="127.0.0.1") for d in KEEP_DEVICES]
    return [result for _, result in await asyncio.gather(*polls)]


async def _ping_rounds(inventory: Inventory, rounds: int, gap: float
                       ) -> tuple[list[bytes], str]:
    """`rounds` rounds of the real pinger (two echoes each) to every device, `gap` s apart,
    as the `icmp` lines the writer sends; ([], why) when no ICMP socket can be opened."""
    stats: dict[str, IcmpStats] = {}
    lines: list[bytes] = []
    done = asyncio.Event()

    def on_round(r: IcmpRound) -> None:
        snaps = stats.setdefault(r.device_id, IcmpStats(5))
        if len(snaps.rounds) >= rounds:
            return
        lines.extend(encode_icmp(r, snaps.add(r),
                                 inventory.effective(r.device_id).site_id).lines)
        if len(stats) == len(KEEP_DEVICES) and all(len(v.rounds) >= rounds
                                                    for v in stats.values()):
            done.set()

    pinger = Pinger([PingTarget(d, inventory.effective(d).address) for d in KEEP_DEVICES],
                    IcmpSettings(interval=gap, count=2, spacing=0.01, timeout=1.0), on_round)
    pinger.start()
    try:
        if not pinger.stats.socket_kind:
            return [], pinger.stats.error or "no ICMP socket"
        await asyncio.wait_for(done.wait(), 60)
    finally:
        await pinger.stop()
    return lines, ""


def poll_and_write(base: Path, server: Influxd, rounds: int = 3, gap: float = 1.2) -> Written:
    """Start the lab slice, poll every device `rounds` times `gap` s apart, write, stop the lab.

    Several rounds: rates (non_negative_derivative) need two points of a counter.
    """
    port = free_port(slice_addresses(KEEP_DEVICES, FIRST_ADDRESS))
    inv_path = slice_inventory(base / "inventory.yaml", port)
    env = {**os.environ, COMMUNITY_VAR: COMMUNITY}
    inventory = load_inventory(inv_path, env=env)
    specs, skipped = agent_specs(inventory)
    assert skipped == list(NO_AGENT)
    lab = Lab(specs, base / "lab")
    written = Written(inventory)
    try:
        lab.prepare()
        report = lab.start()
        assert not report.failed, [(a.spec.device_id, a.error) for a in report.failed]
        for i in range(rounds):
            if i:
                time.sleep(gap)
            written.results += asyncio.run(_poll_round(inventory))
        ping_lines, written.icmp_error = asyncio.run(_ping_rounds(inventory, rounds, gap))
    finally:
        lab.stop()
    site_of = {d.id: s.id for s in inventory.sites for d in s.devices}
    for result in written.results:
        written.lines += encode_result(result, site_of[result.device_id]).lines
    written.lines += ping_lines
    written.icmp_lines = len(ping_lines)
    written.verbatim, written.rewritten = write_lines(server, written.lines)
    return written
