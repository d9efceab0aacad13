"""The anchor: Debian's Go `prometheus-snmp-exporter` with an IF-MIB module written here.

Debian ships an empty snmp.yml and no generator MIBs, so the module is written by hand in
the generator's output format (0.21: auth inside the module): walk 1.3.6.1.2.1.2 (ifNumber
+ ifTable) and 1.3.6.1.2.1.31.1.1 (ifXTable), get sysUpTime.0, version 2 (or 3),
max_repetitions 25. Every column becomes a metric labelled by ifIndex with ifAlias,
ifDescr and ifName looked up, as the generator's `if_mib` module does, so the exporter
renders a realistic exposition for what it walked.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml
from agents import COMMUNITY, V3_AUTH, V3_PRIV, V3_USER
from exposition import sum_metric
from procs import Group, Proc

IF_TABLE = "1.3.6.1.2.1.2.2.1"
IF_X_TABLE = "1.3.6.1.2.1.31.1.1.1"
COLUMNS = [  # (table, column, name, generator type)
    (IF_TABLE, 1, "ifIndex", "gauge"), (IF_TABLE, 2, "ifDescr", "DisplayString"),
    (IF_TABLE, 3, "ifType", "gauge"), (IF_TABLE, 4, "ifMtu", "gauge"),
    (IF_TABLE, 5, "ifSpeed", "gauge"), (IF_TABLE, 6, "ifPhysAddress", "PhysAddress48"),
    (IF_TABLE, 7, "ifAdminStatus", "gauge"), (IF_TABLE, 8, "ifOperStatus", "gauge"),
    (IF_TABLE, 9, "ifLastChange", "gauge"), (IF_TABLE, 10, "ifInOctets", "counter"),
    (IF_TABLE, 11, "ifInUcastPkts", "counter"), (IF_TABLE, 12, "ifInNUcastPkts", "counter"),
    (IF_TABLE, 13, "ifInDiscards", "counter"), (IF_TABLE, 14, "ifInErrors", "counter"),
    (IF_TABLE, 15, "ifInUnknownProtos", "counter"), (IF_TABLE, 16, "ifOutOctets", "counter"),
    (IF_TABLE, 17, "ifOutUcastPkts", "counter"), (IF_TABLE, 18, "ifOutNUcastPkts", "counter"),
    (IF_TABLE, 19, "ifOutDiscards", "counter"), (IF_TABLE, 20, "ifOutErrors", "counter"),
    (IF_TABLE, 21, "ifOutQLen", "gauge"),
    (IF_X_TABLE, 1, "ifName", "DisplayString"),
    (IF_X_TABLE, 2, "ifInMulticastPkts", "counter"),
    (IF_X_TABLE, 3, "ifInBroadcastPkts", "counter"),
    (IF_X_TABLE, 4, "ifOutMulticastPkts", "counter"),
    (IF_X_TABLE, 5, "ifOutBroadcastPkts", "counter"),
    (IF_X_TABLE, 6, "ifHCInOctets", "counter"), (IF_X_TABLE, 7, "ifHCInUcastPkts", "counter"),
    (IF_X_TABLE, 8, "ifHCInMulticastPkts", "counter"),
    (IF_X_TABLE, 9, "ifHCInBroadcastPkts", "counter"),
    (IF_X_TABLE, 10, "ifHCOutOctets", "counter"),
    (IF_X_TABLE, 11, "ifHCOutUcastPkts", "counter"),
    (IF_X_TABLE, 12, "ifHCOutMulticastPkts", "counter"),
    (IF_X_TABLE, 13, "ifHCOutBroadcastPkts", "counter"),
    (IF_X_TABLE, 14, "ifLinkUpDownTrapEnable", "gauge"),
    (IF_X_TABLE, 15, "ifHighSpeed", "gauge"), (IF_X_TABLE, 16, "ifPromiscuousMode", "gauge"),
    (IF_X_TABLE, 17, "ifConnectorPresent", "gauge"), (IF_X_TABLE, 18, "ifAlias", "DisplayString"),
    (IF_X_TABLE, 19, "ifCounterDiscontinuityTime", "gauge"),
]
LOOKUPS = [("ifAlias", f"{IF_X_TABLE}.18"), ("ifDescr", f"{IF_TABLE}.2"),
           ("ifName", f"{IF_X_TABLE}.1")]


def module(version: str) -> dict:
    """One snmp_exporter module (version "2c" or "3") walking what the issue names."""
    metrics = [
        {"name": "sysUpTime", "oid": "1.3.6.1.2.1.1.3", "type": "gauge",
         "help": "sysUpTime - 1.3.6.1.2.1.1.3"},
        {"name": "ifNumber", "oid": "1.3.6.1.2.1.2.1", "type": "gauge",
         "help": "ifNumber - 1.3.6.1.2.1.2.1"},
    ]
    for table, column, name, kind in COLUMNS:
        oid = f"{table}.{column}"
        metrics.append({
            "name": name, "oid": oid, "type": kind, "help": f"{name} - {oid}",
            "indexes": [{"labelname": "ifIndex", "type": "gauge"}],
            "lookups": [{"labels": ["ifIndex"], "labelname": label, "oid": lookup,
                         "type": "DisplayString"} for label, lookup in LOOKUPS],
        })
    out: dict = {
        "walk": ["1.3.6.1.2.1.2", "1.3.6.1.2.1.31.1.1"],
        "get": ["1.3.6.1.2.1.1.3.0"],
        "metrics": metrics,
        "max_repetitions": 25,
        "retries": 3,
        "timeout": "10s",
    }
    if version == "3":
        out["version"] = 3
        out["auth"] = {"username": V3_USER, "security_level": "authPriv",
                       "password": V3_AUTH, "auth_protocol": "SHA",
                       "priv_protocol": "AES", "priv_password": V3_PRIV}
    else:
        out["version"] = 2
        out["auth"] = {"community": COMMUNITY}
    return out


def write_config(path: Path) -> None:
    """snmp.yml with modules `if_mib` (v2c) and `if_mib_v3` (authPriv SHA/AES)."""
    config = {"if_mib": module("2c"), "if_mib_v3": module("3")}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def start(group: Group, workdir: Path, listen: str) -> Proc:
    """Start snmp_exporter with our config; returns once its HTTP port answers."""
    config = workdir / "snmp.yml"
    write_config(config)
    proc = group.start("snmp_exporter",
                       ["prometheus-snmp-exporter", f"--config.file={config}",
                        f"--web.listen-address={listen}", "--log.level=warn"],
                       log=workdir / "snmp_exporter.log")
    asyncio.run(_wait_http(proc, f"http://{listen}/metrics"))
    return proc


async def _wait_http(proc: Proc, url: str, limit: float = 15.0) -> None:
    end = time.monotonic() + limit
    async with aiohttp.ClientSession() as http:
        while True:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > end:
                raise RuntimeError(f"{proc.name} does not answer {url} after {limit} s:\n"
                                   f"{proc.tail()}")
            await asyncio.sleep(0.1)


@dataclass
class ScrapeRound:
    """One round: every target scraped once, all at the same time."""

    wall: float  # seconds from first request to last answer
    varbinds: int  # varbinds the exporter walked/got (sum of snmp_scrape_pdus_returned)
    samples: int  # samples in the answers (what it rendered)
    failed: int  # targets whose scrape failed or returned no varbinds


async def scrape_round(listen: str, targets: list[str], module_name: str) -> ScrapeRound:
    """Scrape every target once, concurrently, as a Prometheus with one job per target."""
    connector = aiohttp.TCPConnector(limit=len(targets))
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def one(target: str) -> tuple[int, int]:
            url = f"http://{listen}/snmp"
            async with http.get(url, params={"target": target, "module": module_name}) as r:
                text = await r.text()
                if r.status != 200:
                    return 0, 0
            pdus = sum_metric(text, "snmp_scrape_pdus_returned")
            samples = sum(1 for line in text.splitlines() if line and line[0] != "#")
            return int(pdus), samples

        t0 = time.perf_counter()
        results = await asyncio.gather(*(one(t) for t in targets))
        wall = time.perf_counter() - t0
    return ScrapeRound(wall, sum(r[0] for r in results), sum(r[1] for r in results),
                       sum(1 for r in results if r[0] == 0))
