"""Quick CPU measurements of the SNMP layer (not a test; prints figures).

    .venv/bin/python bench/bench_snmp.py            # codec + walks against a real snmpd
    .venv/bin/python bench/bench_snmp.py --netns    # same, snmpd serving 48 interfaces
                                                    # (root + iproute2: a private netns
                                                    # with 47 tap devices, as in testbed.md)

1. decode CPU per 1,000 varbinds of captured responses: our codec vs pyasn1 (pysnmp's
   v2c Message spec), process time around a loop;
2. CPU-seconds per 1,000 varbinds of the whole client (codec + transport + session +
   asyncio) walking ifTable + ifXTable of a real snmpd many times, v2c and v3.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from servers import start_snmpd  # noqa: E402

from borderwatch.collector.secret import Secret  # noqa: E402
from borderwatch.collector.snmp import ber  # noqa: E402
from borderwatch.collector.snmp.factory import open_session  # noqa: E402
from borderwatch.collector.snmp.settings import SessionSettings  # noqa: E402
from borderwatch.collector.snmp.transport import SnmpTransport  # noqa: E402

IF_TABLE = (1, 3, 6, 1, 2, 1, 2, 2)
IF_X_TABLE = (1, 3, 6, 1, 2, 1, 31, 1, 1)
NETNS = "bwbench-h1"


def cpu_per_1000(fn, varbinds: int, min_seconds: float = 1.0) -> float:  # type: ignore[no-untyped-def]
    loops, spent = 0, 0.0
    start = time.process_time()
    while spent < min_seconds:
        fn()
        loops += 1
        spent = time.process_time() - start
    return spent / (loops * varbinds) * 1000


def bench_decode() -> None:
    from pyasn1.codec.ber import decoder
    from pysnmp.proto import api

    records = [json.loads(line) for name in ("snmpd", "snmpsim")
               for line in (ROOT / "tests/data/packets" / f"{name}.jsonl").read_text().splitlines()]
    packets = [bytes.fromhex(r["response"]) for r in records]
    packets = [p for p in packets if len(ber.decode_message(p).varbinds) >= 40]
    module = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    for data in packets[:3]:
        n = len(ber.decode_message(data).varbinds)
        ours = cpu_per_1000(lambda data=data: ber.decode_message(data), n)
        ber._OID_CACHE.clear()

        def cold(data: bytes = data) -> None:
            ber._OID_CACHE.clear()  # every OID decoded from scratch
            ber.decode_message(data)

        ours_cold = cpu_per_1000(cold, n)
        theirs = cpu_per_1000(lambda data=data: decoder.decode(data, asn1Spec=module.Message()),
                              n, min_seconds=2.0)
        print(f"decode {n:3d}-varbind response ({len(data)} B): ours {ours:.4f} "
              f"(OID cache cold {ours_cold:.4f}), pyasn1 {theirs:.4f} CPU-s per 1,000 "
              f"varbinds, ratio {theirs / ours:.0f}x")


async def bench_walks(port: int, version: str, rounds: int) -> None:
    transport = await SnmpTransport.create(local_address="127.0.0.1")
    if version == "3":
        settings = SessionSettings("127.0.0.1", port, "3", user="testv3user",
                                   auth_protocol="SHA", auth_key=Secret("authpass123"),
                                   priv_protocol="AES", priv_key=Secret("privpass123"),
                                   max_repetitions=25, timeout=2.0)
    else:
        settings = SessionSettings("127.0.0.1", port, community=Secret("public"),
                                   max_repetitions=25, timeout=2.0)
    session = open_session(settings, transport)
    loop = asyncio.get_running_loop()
    for root in (IF_TABLE, IF_X_TABLE):  # warm-up (engine discovery, caches)
        await session.walk(root, deadline=loop.time() + 30)
    varbinds = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        for root in (IF_TABLE, IF_X_TABLE):
            result = await session.walk(root, deadline=loop.time() + 30)
            assert result.complete
            varbinds += len(result.varbinds)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    requests = session.requests_sent
    await session.close()
    await transport.close()
    print(f"walk ifTable+ifXTable v{version}: {varbinds} varbinds in {rounds} rounds, "
          f"{varbinds // rounds} per round, {requests} requests; "
          f"{cpu / varbinds * 1000:.4f} CPU-s per 1,000 varbinds, {varbinds / wall:.0f} varbinds/s")


def run_walks(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_snmpd(Path(tmp))
        try:
            asyncio.run(bench_walks(server.port, "2c", rounds))
            asyncio.run(bench_walks(server.port, "3", max(1, rounds // 10)))
        finally:
            server.stop()


def netns(rounds: int) -> None:
    """Re-run this script's walk part inside a netns with 48 interfaces."""
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    try:
        subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
        for i in range(47):
            subprocess.run(["ip", "-n", NETNS, "tuntap", "add", "dev", f"tap{i}", "mode", "tap"],
                           check=True)
            subprocess.run(["ip", "-n", NETNS, "link", "set", f"tap{i}", "up"], check=True)
        subprocess.run(["ip", "netns", "exec", NETNS, sys.executable, __file__, "--walks-only",
                        "--rounds", str(rounds)], check=True, env=dict(os.environ))
    finally:
        subprocess.run(["ip", "netns", "del", NETNS], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--netns", action="store_true", help="snmpd with 48 interfaces")
    parser.add_argument("--walks-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.netns:
        netns(args.rounds)
        return
    if not args.walks_only:
        bench_decode()
    run_walks(args.rounds)


if __name__ == "__main__":
    main()
