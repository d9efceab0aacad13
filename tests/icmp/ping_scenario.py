"""The ping-and-SNMP scenario, run inside a private network namespace by test_ping_and_snmp.py.

Everything is real: two net-snmp agents (core 127.0.0.1, post 127.0.0.9), the poller, the
pinger over a raw ICMP socket, NetworkState and the alert engine with the built-in rules.
Only the engine's clock is simulated (one 30 s poll interval per cycle), as in
tests/alerts/test_engine_snmpsim.py. Phases:

1. healthy;
2. the post's snmpd is stopped; 127.0.0.9 still answers ping;
3. snmpd is back, then the whole post is cut: an nftables rule in this namespace drops every
   packet to 127.0.0.9 (SNMP and ICMP alike).

Prints one JSON object: the notifications of each phase, the site statuses, and the ICMP
families of the Prometheus exposition.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: servers.py

from prometheus_client import generate_latest
from servers import SNMPD_COMMUNITY, free_udp_port, start_snmpd

from borderwatch.alerts.engine import Engine
from borderwatch.alerts.rules import default_rules
from borderwatch.alerts.topology import DeviceInfo, SiteInfo, Topology
from borderwatch.collector.icmp import IcmpSettings, Pinger, PingTarget
from borderwatch.collector.poller import Poller
from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.factory import open_session
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.state import NetworkState
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec
from borderwatch.exporters.prometheus import ExporterSources, build_registry

INTERVAL = 30.0
POST = "127.0.0.9"
CUT = ("add table inet bwcut\n"
       "add chain inet bwcut in { type filter hook input priority 0 ; }\n"
       f"add rule inet bwcut in ip daddr {POST} drop\n")
PING = IcmpSettings(interval=0.5, count=2, spacing=0.05, timeout=0.2, window=5, socket="raw")


def notes(sent: list) -> list[dict]:
    return [{"status": n.status, "headline": n.headline, "severity": n.severity,
             "rules": sorted({a.rule for a in n.alerts}), "cut_off": [s.site_id for s in
                                                                       n.cut_off],
             "vi": n.annotations["summary_vi"], "en": n.annotations["summary_en"]}
            for n in sent]


async def main(workdir: Path) -> dict:
    await asyncio.to_thread(subprocess.run, ["ip", "link", "set", "lo", "up"], check=True)
    core_agent = start_snmpd(workdir / "core", address="127.0.0.1", port=free_udp_port())
    post_agent = start_snmpd(workdir / "post", address=POST, port=free_udp_port(POST))
    link = LinkSpec("L1", "core", "core-sw", "lo", "post", "post-sw", "lo", "fiber", 1e9)
    topo = Topology([SiteInfo("core", "Trung tâm", "core"),
                     SiteInfo("post", "Đồn Biên phòng Thanh Lòa", "border_post")], [link],
                    [DeviceInfo("core-sw", "core", "switch", ("lo",)),
                     DeviceInfo("post-sw", "post", "switch", ("lo",))])
    specs = [DeviceSpec("core-sw", "core", profiles=("if-mib",), interval=INTERVAL),
             DeviceSpec("post-sw", "post", profiles=("if-mib",), interval=INTERVAL)]
    state = NetworkState(specs, [link], icmp_window=PING.window)
    engine = Engine(topo, default_rules())
    transport = await SnmpTransport.create(local_address="127.0.0.1")
    sessions = {d: open_session(SessionSettings(a.address, a.port, community=Secret(
        SNMPD_COMMUNITY), timeout=0.5, retries=0), transport)
        for d, a in (("core-sw", core_agent), ("post-sw", post_agent))}
    pinger = Pinger([PingTarget("core-sw", "127.0.0.1"), PingTarget("post-sw", POST)], PING,
                    state.apply_icmp, clock=state.now)
    pinger.start()
    poller = Poller()
    t0 = time.time()
    k = 0

    async def cycles(n: int) -> list:
        nonlocal k
        sent = []
        for _ in range(n):
            loop = asyncio.get_running_loop()
            for result in await asyncio.gather(*(
                    poller.poll(spec, sessions[spec.device_id], loop.time() + 5)
                    for spec in specs)):
                state.apply(result)
            # a full ping round after the change (interval + count × timeout, with margin)
            await asyncio.sleep(2 * (PING.interval + PING.count * PING.timeout))
            sent += engine.evaluate(state, t0 + k * INTERVAL)
            k += 1
        return sent

    out: dict = {}
    try:
        out["healthy"] = notes(await cycles(2))
        post_agent.stop()
        out["agent_stopped"] = notes(await cycles(5))
        out["agent_stopped_status"] = dict(engine.last_analysis.status)
        text = generate_latest(build_registry(ExporterSources(state=state))).decode()
        out["exposition"] = [line for line in text.splitlines()
                             if line.startswith("borderwatch_icmp_up")
                             or line.startswith("borderwatch_device_up")]
        post_agent.start()
        out["agent_back"] = notes(await cycles(2))
        await asyncio.to_thread(subprocess.run, ["nft", "-f", "-"], input=CUT, text=True,
                                check=True)
        out["cut"] = notes(await cycles(5))
        out["cut_status"] = dict(engine.last_analysis.status)
        out["cut_icmp_up"] = state.device("post-sw").icmp.up
    finally:
        await pinger.stop()
        for session in sessions.values():
            await session.close()
        await transport.close()
        core_agent.stop()
        post_agent.stop()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1]))), ensure_ascii=False))
