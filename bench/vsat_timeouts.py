"""`timeout: auto` against fixed 1 s and 5 s timeouts on an emulated VSAT link.

    sudo .venv/bin/python bench/vsat_timeouts.py [--repeats 3] [--devices 8] [--polls 40]
    sudo .venv/bin/python bench/vsat_timeouts.py --profile microwave-degraded

Why: the issue's "done when" for adaptive timeouts is a measurement, not a test: poll
success on a VSAT link (550-650 ms round trip, 2-5 % loss, 2 Mbit/s) with `timeout: auto`,
with a fixed 1 s and a fixed 5 s timeout, and for each how long a really dead device takes
to be declared down. Figures are medians over `--repeats` runs.

Set-up, in a private network namespace (`bwvsat`, root; bench/netns.py): one real snmpd
(with tap devices: an 8-row ifTable) on one port per emulated device; in front of each
port its own UDP fault proxy (tests/fakes/udp_proxy.py) set to the link profile
(tests/fakes/link_emulation.py: delay, jitter and loss per direction, seeded); the
profile's nftables ICMP loss and tbf rate on the namespace's loopback, with the ICMP loss
measured by pinging through it (raw socket) so the report shows the emulation works.

Each mode (auto, fixed 1 s, fixed 5 s; retries `auto` for auto, 1 for the fixed ones, the
former default) gets its own `--devices` devices, polled back to back `--polls` times
each with the poller the service uses (system and if-mib profiles: a GET and the table
walks, ~4 requests), all modes at the same time so they share the machine's load. A poll
succeeds when it is ok and no walk failed. Auto starts each repeat unlearnt (2 s, 1 retry).

Dead device: after its polls, each device's proxy drops everything both ways (what a cut
link or a powered-off device looks like from the collector), and one more poll is timed
from its start to the failed result. state.py emits UNREACHABLE (device down) on the first
failed poll, so this is the time from the first poll after the death to "down"; the wait
for that poll to start (up to one interval) is the same for every mode and not included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import struct
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from agents import COMMUNITY, start_snmpd  # noqa: E402
from netns import Namespace, run_inside  # noqa: E402
from procs import Group, run_in_workdir  # noqa: E402

from borderwatch.collector.poller import Poller  # noqa: E402
from borderwatch.collector.samples import ProblemKind  # noqa: E402
from borderwatch.collector.secret import Secret  # noqa: E402
from borderwatch.collector.snmp.settings import SessionSettings  # noqa: E402
from borderwatch.collector.snmp.transport import SnmpTransport  # noqa: E402
from borderwatch.collector.snmp.v2c import V2cSession  # noqa: E402
from borderwatch.collector.topology_spec import DeviceSpec  # noqa: E402
from tests.fakes.link_emulation import (  # noqa: E402
    PROFILES,
    LinkProfile,
    NamespaceShaping,
    apply_to_proxy,
    vsat,
)
from tests.fakes.udp_proxy import UdpProxy  # noqa: E402

NETNS = "bwvsat"
FIRST_PORT = 17161
POLL_DEADLINE = 48.0  # a 60 s interval's default poll deadline (interval × 0.8)
MODES: dict[str, tuple[float | str, int | str]] = {
    "auto": ("auto", "auto"), "fixed 1 s": (1.0, 1), "fixed 5 s": (5.0, 1)}


@dataclass
class ModeRun:
    """One mode's figures in one repeat."""

    polls: int = 0
    ok: int = 0
    requests: int = 0
    down_after: list[float] = field(default_factory=list)  # per device, seconds
    not_down: int = 0  # dead-device polls that did not fail (must stay 0)
    timeouts: list[float] = field(default_factory=list)  # per device, before the death
    retries: list[int] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)  # why polls failed
    resends: int = 0  # datagrams re-sent (the transport's retries)
    duplicates: int = 0  # answers that came after another copy had answered

    @property
    def success(self) -> float:
        return self.ok / self.polls if self.polls else 0.0


async def device_run(name: str, index: int, port: int, mode: str, profile: LinkProfile,
                     polls: int, transport: SnmpTransport, out: ModeRun, seed: int) -> None:
    """Poll one emulated device `polls` times, then kill its link and time the down poll."""
    proxy = await UdpProxy.start(("127.0.0.1", port), seed=seed)
    try:
        apply_to_proxy(proxy, profile)
        timeout, retries = MODES[mode]
        session = V2cSession(SessionSettings(
            proxy.host, proxy.port, community=Secret(COMMUNITY), timeout=timeout,
            retries=retries), transport)
        poller = Poller()
        spec = DeviceSpec(device_id=f"{name}-{index}", site_id="vsat", profiles=("if-mib",))
        loop = asyncio.get_running_loop()
        for _ in range(polls):
            result = await poller.poll(spec, session, loop.time() + POLL_DEADLINE)
            out.polls += 1
            out.requests += result.requests
            good = result.ok and not result.problem_kinds.get(ProblemKind.FAILED.value)
            out.ok += good
            if not good:
                why = result.error or "; ".join(result.problems)
                out.failures[why.split(" on ")[0].split(":")[0][:60]] += 1
        out.timeouts.append(session.timing.timeout())
        out.retries.append(session.timing.retries())
        proxy.to_agent.blackhole = proxy.to_client.blackhole = True
        started = loop.time()
        result = await poller.poll(spec, session, started + POLL_DEADLINE)
        if result.ok:
            out.not_down += 1
        else:
            out.down_after.append(loop.time() - started)
    finally:
        proxy.close()


async def one_repeat(args: argparse.Namespace, profile: LinkProfile, repeat: int
                     ) -> dict[str, ModeRun]:
    transports = {mode: await SnmpTransport.create(local_address="127.0.0.1")
                  for mode in MODES}
    runs = {mode: ModeRun() for mode in MODES}
    jobs = []
    for m, mode in enumerate(MODES):
        transport = transports[mode]
        for d in range(args.devices):
            port = FIRST_PORT + m * args.devices + d
            seed = 1000 * repeat + 100 * m + d
            jobs.append(device_run(mode.replace(" ", ""), d, port, mode, profile, args.polls,
                                   transport, runs[mode], seed))
    try:
        await asyncio.gather(*jobs)
    finally:
        for mode, transport in transports.items():
            runs[mode].resends = transport.stats.retries
            runs[mode].duplicates = transport.stats.dropped["duplicate"]
            await transport.close()
    return runs


def icmp_loss(count: int = 2000, gap: float = 0.001) -> float:
    """Share of echo requests to 127.0.0.1 left unanswered (raw socket: root)."""
    ident = os.getpid() & 0xFFFF
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.setblocking(False)
        answered: set[int] = set()

        def drain() -> None:
            while True:
                try:
                    data = sock.recv(2048)
                except BlockingIOError:
                    return
                header = (data[0] & 0x0F) * 4
                kind, _, _, rid, seq = struct.unpack("!BBHHH", data[header:header + 8])
                if kind == 0 and rid == ident:
                    answered.add(seq)

        for seq in range(count):
            body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"borderwatch"
            checksum = _checksum(body)
            with contextlib.suppress(PermissionError):  # nftables dropped it on output
                sock.sendto(body[:2] + struct.pack("!H", checksum) + body[4:],
                            ("127.0.0.1", 0))
            drain()
            time.sleep(gap)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            drain()
            time.sleep(0.01)
    return 1 - len(answered) / count


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def report(profile: LinkProfile, results: list[dict[str, ModeRun]], icmp: float) -> None:
    print(f"\nprofile {profile.name}: round trip {1000 * profile.rtt_min:.0f}-"
          f"{1000 * profile.rtt_max:.0f} ms, SNMP loss {100 * profile.loss:.1f} % of round "
          f"trips{' + bursts' if profile.burst else ''}; ICMP loss through nftables measured "
          f"{100 * icmp:.1f} % (expected {100 * profile.loss:.1f} %"
          f"{' plus the bursts' if profile.burst else ''})")
    print(f"{len(results)} repeat(s); medians over the repeats (per-repeat values in brackets)")
    print(f"{'mode':<10} {'poll success':>24} {'polls':>6} {'req/poll':>8} "
          f"{'declared down after (s)':>30} {'learnt timeout / retries':>26}")
    for mode in MODES:
        runs = [r[mode] for r in results]
        success = [r.success for r in runs]
        down = [statistics.median(r.down_after) for r in runs if r.down_after]
        polls = sum(r.polls for r in runs)
        req = sum(r.requests for r in runs) / max(1, polls)
        learnt = statistics.median(t for r in runs for t in r.timeouts)
        retries = statistics.median(t for r in runs for t in r.retries)
        per_success = ", ".join(f"{100 * s:.1f}" for s in success)
        per_down = ", ".join(f"{d:.1f}" for d in down)
        not_down = sum(r.not_down for r in runs)
        print(f"{mode:<10} {100 * statistics.median(success):>6.2f} % [{per_success}]"
              f"{polls:>6} {req:>8.1f} {statistics.median(down) if down else float('nan'):>8.2f}"
              f" [{per_down}]{'':>4} {learnt:>7.2f} s / {retries:g}"
              f"{f'  ({not_down} dead-device polls did not fail!)' if not_down else ''}")
    print("\nresends per poll (duplicate answers: resends that were not needed), and why the "
          "failed polls failed:")
    for mode in MODES:
        runs = [r[mode] for r in results]
        polls = max(1, sum(r.polls for r in runs))
        failures: Counter[str] = Counter()
        for r in runs:
            failures.update(r.failures)
        print(f"  {mode:<10} {sum(r.resends for r in runs) / polls:.2f} "
              f"({sum(r.duplicates for r in runs) / polls:.2f} duplicates); "
              + (", ".join(f"{n} × {why}" for why, n in failures.most_common(3)) or "none"))


def _run(args: argparse.Namespace, workdir: Path, group: Group) -> int:
    profile = vsat(args.loss) if args.profile == "vsat" else PROFILES[args.profile]
    ports = [FIRST_PORT + p for p in range(len(MODES) * args.devices)]
    start_snmpd(group, workdir / "snmpd", "snmpd", "127.0.0.1", ports)
    with NamespaceShaping(profile, seed=args.seed):
        icmp = icmp_loss()
        results = []
        for repeat in range(args.repeats):
            started = time.monotonic()
            results.append(asyncio.run(one_repeat(args, profile, repeat)))
            print(f"repeat {repeat + 1}/{args.repeats}: {time.monotonic() - started:.0f} s, "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)
    report(profile, results, icmp)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="vsat")
    parser.add_argument("--loss", type=float, default=0.05,
                        help="VSAT loss per round trip (the issue's range: 0.02-0.05)")
    parser.add_argument("--devices", type=int, default=8, help="devices per mode")
    parser.add_argument("--polls", type=int, default=40, help="polls per device and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        return run_in_workdir("bwvsat-", lambda workdir, group: _run(args, workdir, group))
    if os.geteuid() != 0:
        print("vsat_timeouts: needs root (ip netns, nftables, tc)", file=sys.stderr)
        return 2
    return run_inside(Namespace(NETNS, 7), __file__, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
