"""The pinger following a hot reload, run inside a private network namespace by
test_icmp_reload.py (issue 12 point 1 for issue 13's pinger).

A real `borderwatch run` service (start_service, in process) with a real snmpd (sw1) and
two ICMP-only devices pings them over a raw socket. An nftables rule in this namespace
drops every packet to 127.0.0.33, so a device moved there stops answering. The inventory
file is then rewritten and reloaded through the service's own Reloader: cam1 removed,
cam2 moved to 127.0.0.33, cam3 added. Prints one JSON object of what each phase showed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: servers.py

import aiohttp
import yaml
from servers import SNMPD_COMMUNITY, start_snmpd

from borderwatch.collector.inventory import load_inventory
from borderwatch.service import start_service

ENV = {"BW_C": SNMPD_COMMUNITY}
DEAD = "127.0.0.33"
CUT = ("add table inet bwcut\n"
       "add chain inet bwcut in { type filter hook input priority 0 ; }\n"
       f"add rule inet bwcut in ip daddr {DEAD} drop\n")
ICMP = {"interval": 0.3, "count": 1, "timeout": 0.2, "window": 3, "socket": "raw"}


def write(path: Path, snmpd_port: int, cams: dict[str, str]) -> None:
    devices = [{"id": "sw1", "address": "127.0.0.1", "port": snmpd_port, "credential": "c",
                "profile": ["system"]}]
    devices += [{"id": c, "address": a, "snmp": False} for c, a in cams.items()]
    data = {"schema_version": 1,
            "credentials": {"c": {"version": "2c", "community_env": "BW_C"}},
            "defaults": {"interval": 1, "timeout": 0.5, "retries": 0, "icmp": ICMP},
            "sites": [{"id": "post", "name": "Đồn", "kind": "border_post",
                       "devices": devices}]}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    path.chmod(0o600)


async def main(workdir: Path) -> dict:
    await asyncio.to_thread(subprocess.run, ["ip", "link", "set", "lo", "up"], check=True)
    await asyncio.to_thread(subprocess.run, ["nft", "-f", "-"], input=CUT, text=True,
                            check=True)
    agent = start_snmpd(workdir / "snmpd")
    path = workdir / "inventory.yaml"
    write(path, agent.port, {"cam1": "127.0.0.31", "cam2": "127.0.0.32"})
    load = functools.partial(load_inventory, path, env=ENV)
    service = await start_service(load(), "127.0.0.1:0", local_address="127.0.0.1",
                                  reload_from=load)
    state = service.state

    def icmp() -> dict[str, dict | None]:
        return {s.device_id: None if s.icmp is None else
                {"up": s.icmp.up, "sent": s.icmp.sent_total, "loss": s.icmp.loss_ratio}
                for s in state.device_snapshots()}

    async def until(what: str, done) -> None:
        for _ in range(600):  # bounded: 600 × 0.05 s plus the rounds themselves
            if done(icmp()):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}: {icmp()}")

    out: dict = {}
    try:
        await until("two rounds of each device",
                    lambda s: all(v is not None and v["sent"] >= 2 for v in s.values()))
        out["before"] = icmp()
        write(path, agent.port, {"cam2": DEAD, "cam3": "127.0.0.34"})
        outcome = await service.reloader.reload("test")
        out["reload"] = {"ok": outcome.ok, "problems": list(outcome.problems)}
        out["targets"] = {t.device_id: t.address for t in service.icmp.pinger.targets}
        out["just_after"] = icmp()
        await until("cam3 answered twice, cam2 missed twice at its new address",
                    lambda s: (s.get("cam3") or {}).get("sent", 0) >= 2
                    and (s.get("cam2") or {}).get("sent", 0) >= 2)
        out["after"] = icmp()
        async with aiohttp.ClientSession() as http, \
                http.get(f"{service.http.url}/metrics") as response:
            out["exposition"] = [line for line in (await response.text()).splitlines()
                                 if line.startswith("borderwatch_icmp_up")]
    finally:
        await service.close()
        agent.stop()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1]))), ensure_ascii=False))
