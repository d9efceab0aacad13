"""A trap flood: SNMP traps at a fixed rate to a receiver, from chosen source addresses.

    .venv/bin/python bench/trap_flood.py --target 127.0.0.1:1162 [--rate 10000]
        [--seconds 10] [--source 127.0.0.1:public] [--source 127.0.13.50:guess]

Each --source is ADDRESS:COMMUNITY: a socket bound to that loopback address sends v2c
linkDown traps with that community; the rate is shared evenly among the sources. Sends
in 10 ms batches, so the rate holds on a loaded machine as long as the CPU allows (the
figure reached is reported). Prints one JSON object: datagrams sent, seconds, rate.

tests/traps/test_trap_flood.py runs it in a separate process (its CPU is not the
service's event loop) against the service and against a decoy socket, for the baseline.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from borderwatch.collector.snmp.ber import SNMPV2_TRAP, VERSION_2C, encode_message
from borderwatch.collector.snmp.types import Tag

BATCH_SECONDS = 0.01
LINK_DOWN = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)


def trap(community: bytes, request_id: int) -> bytes:
    """A v2c linkDown for ifIndex 1."""
    return encode_message(VERSION_2C, community, SNMPV2_TRAP, request_id, 0, 0, [
        ((1, 3, 6, 1, 2, 1, 1, 3, 0), Tag.TIMETICKS, 12345),
        ((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0), Tag.OBJECT_IDENTIFIER, LINK_DOWN),
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 1), Tag.INTEGER, 1)])


def flood(target: tuple[str, int], sources: list[tuple[str, str]], rate: float,
          seconds: float) -> dict[str, float]:
    """Send for `seconds` at `rate` datagrams per second in total; what was sent."""
    socks = []
    for address, community in sources:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((address, 0))
        s.setblocking(False)
        socks.append((s, [trap(community.encode(), i) for i in range(1, 65)]))
    per_batch = max(1, round(rate * BATCH_SECONDS / len(socks)))
    sent = dropped = 0
    start = time.monotonic()
    batch = 0
    while time.monotonic() - start < seconds:
        for s, packets in socks:
            for i in range(per_batch):
                try:
                    s.sendto(packets[i % len(packets)], target)
                    sent += 1
                except (BlockingIOError, ConnectionRefusedError):
                    dropped += 1  # the local socket buffer is full, or ICMP unreachable
        batch += 1
        wait = start + batch * BATCH_SECONDS - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    took = time.monotonic() - start
    for s, _ in socks:
        s.close()
    return {"sent": sent, "send_errors": dropped, "seconds": round(took, 3),
            "rate": round(sent / took, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="HOST:PORT of the receiver")
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--source", action="append", default=[],
                        help="ADDRESS:COMMUNITY (repeatable; default 127.0.0.1:public)")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    sources = [tuple(s.split(":", 1)) for s in args.source] or [("127.0.0.1", "public")]
    print(json.dumps(flood((host, int(port)), sources, args.rate, args.seconds)))  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
