"""`make bench`: borderwatch against Go snmp_exporter, side by side in one run.

    sudo .venv/bin/python bench/compare.py [--rounds 6] [--interval 10] [--no-v3]

Builds the set-up of bench/README.md inside a private network namespace (root needed):
one snmpd serving a 48-interface IF-MIB on 100 ports (100 "devices"), Debian's
prometheus-snmp-exporter scraping all 100 at once per round, then `borderwatch run`
polling the same 100 targets with the same OIDs and max-repetitions while a client
scrapes its /metrics once per round. CPU-seconds come from /proc/PID/stat of each
process; varbinds from each side's own counters. Prints a table and writes
bench/results/latest.json. Every process started here is stopped by PID at the end, on
errors and on Ctrl-C; the namespace is deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import aiohttp  # noqa: E402
import anchor  # noqa: E402
import hotspots  # noqa: E402
import subject  # noqa: E402
from agents import start_snmpd  # noqa: E402
from exposition import sum_metric  # noqa: E402
from netns import Namespace, run_inside  # noqa: E402
from procs import Group, Proc, run_in_workdir  # noqa: E402

NETNS = "bwbench"
TAPS = 47  # + lo = 48 ifTable rows
FIRST_PORT = 20000  # the namespace has its own port space: no clash with the host
EXPORTER_LISTEN = "127.0.0.1:9116"
BORDERWATCH_LISTEN = "127.0.0.1:9730"
RESULTS = ROOT / "bench" / "results" / "latest.json"


@dataclass
class Round:
    """One measured round of one poller."""

    cpu_s: float  # CPU-seconds the poller process used in the round
    varbinds: int  # varbinds it received in the round
    wall_s: float  # wall-clock seconds of the round
    agent_cpu_s: float  # CPU-seconds snmpd used meanwhile (for reference)
    extra: dict = field(default_factory=dict)

    @property
    def per_1k(self) -> float:
        return self.cpu_s / self.varbinds * 1000 if self.varbinds else float("nan")


@dataclass
class Phase:
    """All rounds of one poller in one configuration."""

    name: str
    rounds: list[Round] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    notes: list[str] = field(default_factory=list)
    profile: dict | None = None

    def per_1k(self) -> tuple[float, float, float]:
        """(median, min, max) CPU-seconds per 1,000 varbinds over the rounds."""
        values = [r.per_1k for r in self.rounds]
        return statistics.median(values), min(values), max(values)

    def varbinds_per_round(self) -> float:
        return statistics.median(r.varbinds for r in self.rounds)

    def wall_rate(self) -> float:
        """Varbinds per wall-clock second (the exporter: as fast as it goes; borderwatch:
        as paced by its interval)."""
        return statistics.median(r.varbinds / r.wall_s for r in self.rounds)

    def summary(self) -> dict:
        med, lo, hi = self.per_1k()
        return {"cpu_s_per_1k_varbinds": {"median": med, "min": lo, "max": hi},
                "varbinds_per_round": self.varbinds_per_round(),
                "varbinds_per_wall_s": self.wall_rate(),
                "varbinds_per_cpu_s": 1000 / med,
                "peak_rss_mib": self.peak_rss_mib, "notes": self.notes,
                "rounds": [dict(asdict(r), cpu_s_per_1k_varbinds=r.per_1k)
                           for r in self.rounds],
                "profile": self.profile}


# ----------------------------------------------------------------------------- phases


def exporter_phase(name: str, exporter: Proc, snmpd: Proc, targets: list[str], module: str,
                   rounds: int) -> Phase:
    """Warm-up round, then `rounds` rounds of every target scraped at once."""
    phase = Phase(name)
    asyncio.run(anchor.scrape_round(EXPORTER_LISTEN, targets, module))  # warm-up
    for i in range(rounds):
        cpu0, agent0, t0 = exporter.cpu(), snmpd.cpu(), time.perf_counter()
        got = asyncio.run(anchor.scrape_round(EXPORTER_LISTEN, targets, module))
        wall = time.perf_counter() - t0
        rnd = Round(exporter.cpu() - cpu0, got.varbinds, wall, snmpd.cpu() - agent0,
                    {"samples": got.samples, "failed_targets": got.failed})
        phase.rounds.append(rnd)
        print(f"  {name} round {i + 1}: {rnd.varbinds} varbinds, {rnd.cpu_s:.3f} CPU-s, "
              f"{wall:.2f} s wall, {rnd.per_1k:.4f} CPU-s/1k"
              + (f", {got.failed} target(s) FAILED" if got.failed else ""), flush=True)
    phase.peak_rss_mib = exporter.hwm_mib()
    phase.notes.append("varbinds = sum of snmp_scrape_pdus_returned over the targets "
                       "(what its walks and get returned); CPU includes rendering /snmp")
    return phase


async def _borderwatch_rounds(phase: Phase, proc: Proc, snmpd: Proc, interval: float,
                              rounds: int, devices: int) -> None:
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        await subject.wait_polled(proc, BORDERWATCH_LISTEN, devices, limit=3 * interval + 30)
        # Baseline: the scrape that ends round 0. Each round = one interval = one poll of
        # every device (fixed-grid scheduler) + one full /metrics scrape.
        text, _, _ = await subject.scrape(http, BORDERWATCH_LISTEN)
        cpu_prev, agent_prev = proc.cpu(), snmpd.cpu()
        vb_prev = sum_metric(text, "borderwatch_poll_varbinds_total")
        fail_prev = sum_metric(text, "borderwatch_device_poll_failures_total")
        over_prev = sum_metric(text, "borderwatch_poll_overruns_total")
        start = time.monotonic()
        t_prev = start
        for i in range(rounds):
            await asyncio.sleep(max(0.0, start + (i + 1) * interval - time.monotonic()))
            before_scrape = proc.cpu()
            text, scrape_s, size = await subject.scrape(http, BORDERWATCH_LISTEN)
            cpu, agent, now = proc.cpu(), snmpd.cpu(), time.monotonic()
            vb = sum_metric(text, "borderwatch_poll_varbinds_total")
            fails = sum_metric(text, "borderwatch_device_poll_failures_total")
            overruns = sum_metric(text, "borderwatch_poll_overruns_total")
            series = sum(1 for line in text.splitlines() if line and line[0] != "#")
            rnd = Round(cpu - cpu_prev, int(vb - vb_prev), now - t_prev, agent - agent_prev,
                        {"scrape_s": scrape_s, "scrape_bytes_gzip": size, "series": series,
                         "scrape_cpu_s": cpu - before_scrape,
                         "poll_failures": fails - fail_prev, "overruns": overruns - over_prev})
            phase.rounds.append(rnd)
            print(f"  {phase.name} round {i + 1}: {rnd.varbinds} varbinds, {rnd.cpu_s:.3f} "
                  f"CPU-s, {rnd.per_1k:.4f} CPU-s/1k; scrape {scrape_s * 1000:.0f} ms, "
                  f"{cpu - before_scrape:.2f} CPU-s, {series} series"
                  + (f", {fails - fail_prev:.0f} FAILED polls" if fails > fail_prev else ""),
                  flush=True)
            cpu_prev, agent_prev, vb_prev, t_prev = cpu, agent, vb, now
            fail_prev, over_prev = fails, overruns


def borderwatch_phase(name: str, group: Group, workdir: Path, snmpd: Proc,
                      ports: list[int], *, version: str, interval: float, rounds: int,
                      profile: bool) -> Phase:
    """Start borderwatch on the targets, measure `rounds` intervals, profile one more."""
    phase = Phase(name)
    inventory = workdir / f"inventory-{version}.yaml"
    subject.write_inventory(inventory, [subject.Target(f"dev{p}", "127.0.0.1", p)
                                        for p in ports], interval=interval, version=version)
    tag = version
    proc = subject.start(group, workdir, inventory, BORDERWATCH_LISTEN, name=f"bw-{tag}")
    try:
        startup = asyncio.run(subject.wait_listening(proc, BORDERWATCH_LISTEN))
        phase.notes.append(f"listening {startup:.2f} s after start")
        asyncio.run(_borderwatch_rounds(phase, proc, snmpd, interval, rounds, len(ports)))
        phase.peak_rss_mib = proc.hwm_mib()
        if profile:
            phase.profile = asyncio.run(profile_round(proc, workdir / f"pyspy-{tag}.txt",
                                                      interval))
    finally:
        group.procs.remove(proc)
        proc.stop()
    phase.notes.append("varbinds = delta of sum(borderwatch_poll_varbinds_total) between "
                       "scrapes (rows the walks returned + GET varbinds); CPU includes one "
                       "full /metrics scrape per round")
    return phase


async def profile_round(proc: Proc, out: Path, interval: float) -> dict | None:
    """py-spy over one more round (polls + one /metrics scrape), not a measured one."""
    if hotspots.py_spy() is None:
        print("  (py-spy not available: no profile of this phase; see --cprofile)")
        return None
    seconds = max(interval, 5.0)
    print(f"  profiling one more round with py-spy ({seconds:.0f} s) ...", flush=True)
    spy = hotspots.start_recording(proc.pid, seconds, out)
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        await asyncio.sleep(seconds / 2)
        await subject.scrape(http, BORDERWATCH_LISTEN)
    _, err = await asyncio.to_thread(spy.communicate)
    if spy.returncode != 0:
        print(f"  py-spy failed: {err.strip()[-300:]}")
        return None
    prof = hotspots.load_folded(out)
    return {"text": prof.table(), **prof.as_dict()}


def cprofile_phase(group: Group, workdir: Path, ports: list[int], interval: float) -> dict:
    """Fallback profile without py-spy: a separate borderwatch under cProfile for 2 rounds."""
    inventory = workdir / "inventory-2c.yaml"
    out = workdir / "cprofile.out"
    proc = subject.start(group, workdir, inventory, BORDERWATCH_LISTEN, name="bw-cprofile",
                         argv_prefix=[sys.executable, "-m", "cProfile", "-o", str(out),
                                      "-m", "borderwatch.cli"])
    try:
        asyncio.run(subject.wait_listening(proc, BORDERWATCH_LISTEN))
        time.sleep(2 * interval)
    finally:
        group.procs.remove(proc)
        proc.stop(grace=20)  # SIGTERM: the service stops cleanly and cProfile writes out
    prof = hotspots.load_cprofile(out)
    return {"text": prof.table(), **prof.as_dict()}


# ----------------------------------------------------------------------------- report


def table(phases: dict[str, Phase], anchor_key: str, subject_key: str) -> str:
    """The side-by-side table."""
    lines = [
        f"{'poller':34} {'CPU-s per 1k varbinds':>22} {'varbinds':>9} {'varbinds/s':>11} "
        f"{'varbinds per':>12} {'peak RSS':>9}",
        f"{'':34} {'median (min - max)':>22} {'per round':>9} {'wall':>11} "
        f"{'CPU-second':>12} {'(VmHWM)':>9}",
    ]
    for phase in phases.values():
        med, lo, hi = phase.per_1k()
        lines.append(f"{phase.name:34} {med:8.4f} ({lo:.4f}-{hi:.4f}) "
                     f"{phase.varbinds_per_round():9.0f} {phase.wall_rate():11.0f} "
                     f"{1000 / med:12.0f} {phase.peak_rss_mib:6.1f} MiB")
    ratio = phases[subject_key].per_1k()[0] / phases[anchor_key].per_1k()[0]
    lines.append(f"ratio borderwatch / snmp_exporter (medians, v2c): {ratio:.2f}"
                 f"  (target <= 1.00: {'met' if ratio <= 1 else 'MISSED'})")
    return "\n".join(lines)


def environment() -> dict:
    """What the figures were measured on."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    version = subprocess.run(["prometheus-snmp-exporter", "--version"], capture_output=True,
                             text=True).stderr.splitlines()
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu": cpu,
            "cores": os.cpu_count(), "python": platform.python_version(),
            "snmp_exporter": version[0] if version else "", "load_avg": os.getloadavg()}


def bottleneck(phases: dict[str, Phase], key: str) -> str:
    """One sentence: where borderwatch's CPU went (from its profile)."""
    prof = phases[key].profile
    if not prof or not prof.get("components"):
        return "no profile"
    (top, share), *_ = prof["components"].items()
    return f"{top} at {share * 100:.0f} % of borderwatch's busy time"


# ----------------------------------------------------------------------------- main


def inner(args: argparse.Namespace) -> int:
    """Runs inside the namespace: start everything, measure, report, stop everything."""
    return run_in_workdir("bwbench-", lambda workdir, group: _run(args, workdir, group),
                          keep=args.keep)


def _run(args: argparse.Namespace, workdir: Path, group: Group) -> int:
    ports = list(range(FIRST_PORT, FIRST_PORT + args.devices))
    print(f"starting snmpd: {args.devices} ports x {TAPS + 1} interfaces ...", flush=True)
    snmpd = start_snmpd(group, workdir / "snmpd", "snmpd", "127.0.0.1", ports)
    exporter = anchor.start(group, workdir, EXPORTER_LISTEN)
    phases: dict[str, Phase] = {}
    targets = [f"127.0.0.1:{p}" for p in ports]
    v3_ports = ports[:args.v3_devices]

    print("snmp_exporter v2c: all targets at once per round", flush=True)
    phases["exporter-v2c"] = exporter_phase("snmp_exporter 0.21 (Go), v2c", exporter,
                                            snmpd, targets, "if_mib", args.rounds)
    print(f"borderwatch v2c: interval {args.interval:g} s, one /metrics scrape per "
          "round", flush=True)
    phases["borderwatch-v2c"] = borderwatch_phase(
        "borderwatch, v2c", group, workdir, snmpd, ports, version="2c",
        interval=args.interval, rounds=args.rounds, profile=True)
    if args.cprofile or phases["borderwatch-v2c"].profile is None:
        phases["borderwatch-v2c"].profile = cprofile_phase(group, workdir, ports,
                                                           args.interval)
    if args.v3_devices:
        print(f"snmp_exporter v3 (authPriv SHA/AES), {len(v3_ports)} targets", flush=True)
        phases["exporter-v3"] = exporter_phase(
            f"snmp_exporter, v3 ({len(v3_ports)} targets)", exporter, snmpd,
            targets[:len(v3_ports)], "if_mib_v3", args.rounds)
        print("borderwatch v3", flush=True)
        phases["borderwatch-v3"] = borderwatch_phase(
            f"borderwatch, v3 ({len(v3_ports)} devices)", group, workdir, snmpd,
            v3_ports, version="3", interval=args.interval, rounds=args.rounds,
            profile=True)
    report(args, phases)
    return 0


def report(args: argparse.Namespace, phases: dict[str, Phase]) -> None:
    """Print the table and profiles; write bench/results/latest.json."""
    print()
    print(f"== borderwatch vs snmp_exporter: {args.devices} targets x 48 interfaces, "
          f"{args.rounds} rounds each ==")
    print(table(phases, "exporter-v2c", "borderwatch-v2c"))
    if "borderwatch-v3" in phases:
        v3 = phases["borderwatch-v3"].per_1k()[0] / phases["exporter-v3"].per_1k()[0]
        print(f"ratio borderwatch / snmp_exporter (medians, v3): {v3:.2f}")
    print(f"bottleneck (v2c): {bottleneck(phases, 'borderwatch-v2c')}")
    for phase in phases.values():
        if phase.profile:
            print(f"\nprofile of {phase.name}:\n{phase.profile['text']}")
    bw, ex = phases["borderwatch-v2c"].per_1k()[0], phases["exporter-v2c"].per_1k()[0]
    result = {
        "borderwatch_cpu_s_per_1k_varbinds": bw,
        "snmp_exporter_cpu_s_per_1k_varbinds": ex,
        "ratio": bw / ex,
        "target_ratio": 1.0,
        "bottleneck": bottleneck(phases, "borderwatch-v2c"),
        "setup": {"targets": args.devices, "interfaces_per_target": TAPS + 1,
                  "rounds": args.rounds, "borderwatch_interval_s": args.interval,
                  "max_repetitions": 25, "borderwatch_profiles": ["system", "if-mib"],
                  "exporter_walk": ["1.3.6.1.2.1.2", "1.3.6.1.2.1.31.1.1"],
                  "exporter_get": ["1.3.6.1.2.1.1.3.0"]},
        "environment": environment(),
        "phases": {k: p.summary() for k, p in phases.items()},
    }
    if "borderwatch-v3" in phases:
        result["v3"] = {
            "borderwatch_cpu_s_per_1k_varbinds": phases["borderwatch-v3"].per_1k()[0],
            "snmp_exporter_cpu_s_per_1k_varbinds": phases["exporter-v3"].per_1k()[0],
            "ratio": phases["borderwatch-v3"].per_1k()[0] / phases["exporter-v3"].per_1k()[0]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


def outer(args: argparse.Namespace) -> int:
    """Create the namespace, run this script inside it, delete the namespace."""
    if os.geteuid() != 0:
        print("bench: needs root (ip netns, tap devices)", file=sys.stderr)
        return 2
    missing = [t for t in ("ip", "snmpd", "prometheus-snmp-exporter") if not shutil.which(t)]
    if missing:
        print(f"bench: missing {', '.join(missing)}: run `bash scripts/setup.sh`",
              file=sys.stderr)
        return 2
    hotspots.ensure_py_spy()  # needs the network: before entering the namespace
    return run_inside(Namespace(NETNS, TAPS), __file__, sys.argv[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds (default 6)")
    parser.add_argument("--devices", type=int, default=100, help="targets (default 100)")
    parser.add_argument("--interval", type=float, default=10.0,
                        help="borderwatch poll interval = round length, s (default 10)")
    parser.add_argument("--v3-devices", type=int, default=20,
                        help="targets of the SNMPv3 phases (default 20; 0 skips them)")
    parser.add_argument("--no-v3", dest="v3_devices", action="store_const", const=0)
    parser.add_argument("--cprofile", action="store_true",
                        help="also profile with cProfile (a separate 2-interval run)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1 or not 1 <= args.devices <= 110:
        parser.error("--rounds >= 1 and 1 <= --devices <= 110 (one snmpd process)")
    return inner(args) if args.inside else outer(args)


if __name__ == "__main__":
    sys.exit(main())
