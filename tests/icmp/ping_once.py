"""Ping a few loopback targets with one socket mode and print what came back, as JSON.

Run by test_pinger.py, inside a network namespace when the test needs its own
net.ipv4.ping_group_range (the sysctl is per namespace).
"""

from __future__ import annotations

import asyncio
import json
import sys

from borderwatch.collector.icmp import IcmpSettings, Pinger, PingTarget
from borderwatch.collector.icmp.stats import IcmpRound


async def main(mode: str, addresses: list[str]) -> dict:
    got: dict[str, list[IcmpRound]] = {a: [] for a in addresses}
    done = asyncio.Event()

    def on_round(r: IcmpRound) -> None:
        got[r.device_id].append(r)
        if all(len(v) >= 2 for v in got.values()):
            done.set()

    pinger = Pinger([PingTarget(a, a) for a in addresses],
                    IcmpSettings(interval=0.3, count=2, spacing=0.01, timeout=1.0, socket=mode),
                    on_round)
    pinger.start()
    if not pinger.stats.socket_kind:
        done.set()  # no socket could be opened: nothing will come back
    try:
        await asyncio.wait_for(done.wait(), 60)
    except TimeoutError:
        pass
    finally:
        await pinger.stop()
    return {"kind": pinger.stats.socket_kind, "error": pinger.stats.error,
            "rounds": {a: [[r.sent, len(r.rtts), min(r.rtts, default=None)] for r in v]
                       for a, v in got.items()}}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2:]))))
