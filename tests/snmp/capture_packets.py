"""Capture real request/response datagrams from snmpd and snmpsim into tests/data/packets/.

Run from the repository root:  .venv/bin/python tests/snmp/capture_packets.py

It starts a real snmpd and a real snmpsim on loopback (tests/servers.py), puts a small UDP
relay in front of each, and drives them two ways: requests encoded by our codec, and
net-snmp's own snmpget/snmpgetnext/snmpbulkwalk (so requests encoded by another
implementation are captured too). Every datagram pair through the relay is written as one
JSON line {"name", "source", "request", "response"} (hex) to <source>.jsonl. The
differential tests decode each with our codec and with pysnmp/pyasn1 and compare.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/ (servers.py)
sys.path.insert(0, str(HERE.parents[1]))  # repository root (collector)

from servers import (  # noqa: E402
    REPO_ROOT,
    find_binary,
    make_dump_dir,
    start_snmpd,
    start_snmpsim,
)

from borderwatch.collector.snmp import ber  # noqa: E402

OUT = REPO_ROOT / "tests" / "data" / "packets"
SNMPSIM_DUMPS = ("network/switch/cisco-c3560", "network/wifi/ubiquiti-m5", "UPS/eaton-93e-80",
                 "network/router/cisco-unmarked-0")


class Relay:
    """A UDP relay on 127.0.0.1 recording (request, response) pairs, one client at a time."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.back.settimeout(2.0)
        self.pairs: list[tuple[bytes, bytes]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.front.settimeout(0.2)
        while not self._stop:
            try:
                request, client = self.front.recvfrom(65535)
            except TimeoutError:
                continue
            self.back.sendto(request, self.upstream)
            try:
                response, _ = self.back.recvfrom(65535)
            except TimeoutError:
                continue
            self.pairs.append((request, response))
            self.front.sendto(response, client)

    def take(self) -> list[tuple[bytes, bytes]]:
        pairs, self.pairs = self.pairs, []
        return pairs

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.front.close()
        self.back.close()


def ask(relay: Relay, payload: bytes) -> None:
    """Send one request of our own encoding through the relay and wait for the answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(3.0)
        s.sendto(payload, ("127.0.0.1", relay.port))
        s.recvfrom(65535)


def netsnmp(tool: str, relay: Relay, community: str, version: str, *args: str) -> None:
    argv = [find_binary(tool), f"-v{version}", "-c", community, "-m", "", "-On", "-t", "3",
            "-r", "0", *args[:-1], f"udp:127.0.0.1:{relay.port}", args[-1]] if args else []
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


def oid(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.strip(".").split("."))


def capture_snmpd(workdir: Path) -> list[dict[str, str]]:
    server = start_snmpd(workdir / "snmpd")
    relay = Relay(server.endpoint)
    records: list[dict[str, str]] = []

    def keep(name: str) -> None:
        for request, response in relay.take():
            records.append({"name": name, "source": "snmpd 5.9", "request": request.hex(),
                            "response": response.hex()})

    try:
        c = b"public"
        ask(relay, ber.encode_request(1, c, ber.GET_REQUEST, 1001, [
            oid("1.3.6.1.2.1.1.3.0"), oid("1.3.6.1.2.1.1.5.0"), oid("1.3.6.1.2.1.1.2.0")]))
        keep("v2c get sysUpTime sysName sysObjectID")
        ask(relay, ber.encode_request(1, c, ber.GET_REQUEST, 1002, [
            oid("1.3.6.1.2.1.1.5.1"), oid("1.3.6.1.2.1.99.1.0"), oid("1.3.6.1.2.1.1.6.0")]))
        keep("v2c get noSuchInstance noSuchObject sysLocation")
        ask(relay, ber.encode_request(1, c, ber.GET_NEXT_REQUEST, 1003, [oid("1.3.6.1.2.1.1")]))
        keep("v2c getnext system")
        ask(relay, ber.encode_request(1, c, ber.GET_BULK_REQUEST, 1004, [oid("1.3.6.1.2.1.2.2")],
                                      max_repetitions=40))
        keep("v2c getbulk ifTable r=40")
        ask(relay, ber.encode_request(1, c, ber.GET_BULK_REQUEST, 1005,
                                      [oid("1.3.6.1.2.1.31.1.1")], max_repetitions=60))
        keep("v2c getbulk ifXTable r=60 (Counter64)")
        ask(relay, ber.encode_request(1, c, ber.GET_BULK_REQUEST, 1006, [
            oid("1.3.6.1.2.1.1.3"), oid("1.3.6.1.2.1.2.2.1.2"), oid("1.3.6.1.2.1.2.2.1.10")],
            non_repeaters=1, max_repetitions=5))
        keep("v2c getbulk non-repeaters 1")
        ask(relay, ber.encode_request(1, b"sysonly", ber.GET_BULK_REQUEST, 1007,
                                      [oid("1.3.6.1.2.1.1.9.1.4")], max_repetitions=40))
        keep("v2c getbulk end of sysonly view (endOfMibView)")
        ask(relay, ber.encode_request(0, c, ber.GET_REQUEST, 1008, [oid("1.3.6.1.2.1.1.5.0")]))
        keep("v1 get sysName")
        ask(relay, ber.encode_request(0, c, ber.GET_REQUEST, 1009, [
            oid("1.3.6.1.2.1.1.5.0"), oid("1.3.6.1.2.1.1.5.7")]))
        keep("v1 get noSuchName")
        ask(relay, ber.encode_request(0, b"sysonly", ber.GET_NEXT_REQUEST, 1010,
                                      [oid("1.3.6.1.2.1.1.9.1.4.99")]))
        keep("v1 getnext past end of view")
        netsnmp("snmpbulkwalk", relay, "public", "2c", "-Cr25", "1.3.6.1.2.1.31.1.1")
        keep("net-snmp snmpbulkwalk ifXTable")
        netsnmp("snmpwalk", relay, "public", "1", "1.3.6.1.2.1.2.2.1.2")
        keep("net-snmp snmpwalk v1 ifDescr")
        netsnmp("snmpget", relay, "public", "2c", "1.3.6.1.2.1.1.3.0")
        keep("net-snmp snmpget sysUpTime")
    finally:
        relay.close()
        server.stop()
    return records


def capture_snmpsim(workdir: Path) -> list[dict[str, str]]:
    data = make_dump_dir(workdir / "data", SNMPSIM_DUMPS)
    cache = REPO_ROOT / "var" / "cache" / "snmpsim-capture"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_snmpsim(data, cache, [("127.0.0.1", port)],
                           probe_community=SNMPSIM_DUMPS[0], log_path=workdir / "snmpsim.log")
    relay = Relay(server.endpoint)
    records: list[dict[str, str]] = []

    def keep(name: str) -> None:
        for request, response in relay.take():
            records.append({"name": name, "source": "snmpsim 1.2.2", "request": request.hex(),
                            "response": response.hex()})

    try:
        c3560 = b"network/switch/cisco-c3560"
        ask(relay, ber.encode_request(1, c3560, ber.GET_BULK_REQUEST, 2001,
                                      [oid("1.3.6.1.2.1.31.1.1")], max_repetitions=50))
        keep("c3560 getbulk ifXTable r=50")
        ask(relay, ber.encode_request(1, c3560, ber.GET_BULK_REQUEST, 2002,
                                      [oid("1.3.6.1.2.1.2.2.1.10")], max_repetitions=25))
        keep("c3560 getbulk ifInOctets r=25")
        ask(relay, ber.encode_request(1, c3560, ber.GET_REQUEST, 2003, [
            oid("1.3.6.1.2.1.1.3.0"), oid("1.3.6.1.2.1.1.2.0"), oid("1.3.6.1.2.1.33.1.2.4.0")]))
        keep("c3560 get sysUpTime sysObjectID upsBatteryCharge (missing)")
        ubnt = b"network/wifi/ubiquiti-m5"
        ask(relay, ber.encode_request(1, ubnt, ber.GET_BULK_REQUEST, 2004,
                                      [oid("1.3.6.1.4.1.41112.1.4")], max_repetitions=30))
        keep("ubiquiti-m5 getbulk airMAX")
        ups = b"UPS/eaton-93e-80"
        ask(relay, ber.encode_request(1, ups, ber.GET_BULK_REQUEST, 2005,
                                      [oid("1.3.6.1.2.1.33.1.2")], max_repetitions=10))
        keep("eaton-93e-80 getbulk upsBattery")
        unmarked = b"network/router/cisco-unmarked-0"
        ask(relay, ber.encode_request(0, unmarked, ber.GET_NEXT_REQUEST, 2006,
                                      [oid("1.3.6.1.2.1.2.2.1.10")]))
        keep("cisco-unmarked-0 v1 getnext ifInOctets")
        last = oid("1.3.6.1.4.1.41112.1.4.7.1.12")
        ask(relay, ber.encode_request(1, ubnt, ber.GET_BULK_REQUEST, 2007, [last],
                                      max_repetitions=5))
        keep("ubiquiti-m5 getbulk at the end of data (endOfMibView, last OID repeated)")
        ask(relay, ber.encode_request(0, ubnt, ber.GET_NEXT_REQUEST, 2008,
                                      [(*last, 1, 104, 114, 81, 0, 52, 37)]))
        keep("ubiquiti-m5 v1 getnext past the end of data (noSuchName)")
        netsnmp("snmpbulkwalk", relay, "network/wifi/ubiquiti-m5", "2c", "-Cr20",
                "1.3.6.1.2.1.2.2.1")
        keep("net-snmp snmpbulkwalk ubiquiti-m5 ifTable")
    finally:
        relay.close()
        server.stop()
    return records


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for source, capture in (("snmpd", capture_snmpd), ("snmpsim", capture_snmpsim)):
            records = capture(Path(tmp))
            path = OUT / f"{source}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in records))
            print(f"{path}: {len(records)} request/response pairs")


if __name__ == "__main__":
    main()
