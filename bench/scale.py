"""`make bench-scale`: 10,000 devices at a 60 s interval for 5 minutes (about 7 minutes).

    sudo .venv/bin/python bench/scale.py [--devices 10000] [--minutes 5] [--taps 3]

One snmpd in a private network namespace serves `--taps` + 1 interfaces on 100 ports,
bound to the namespace's wildcard address; each inventory device is one (127.0.X.Y,
port) pair, so 100 addresses x 100 ports give 10,000 distinct endpoints (snmpd answers
from the address it was asked on). The namespace has no address but loopback, so
nothing leaves it. `borderwatch run` polls them with the built-in `system` + `if-mib`
profiles (3 taps + lo: 4 interfaces, ~50-70 varbinds per poll) while a client scrapes
/metrics every `--scrape-every` seconds, as Prometheus would.

Reported: start-up time, scheduler lag p50/p99 (from the service's own histogram, over
the measured window only), overruns, poll success rate, CPU share of one core, RSS,
/metrics render time; targets from issue 3 next to each figure. Results are added to
bench/results/scale.json.

`--history both` (the default) measures the same set-up twice, back to back against the
same snmpd: `borderwatch run --no-history`, then with its embedded history (on by default
in `run`), and compares CPU and lag (issue 10: at most +10 % CPU, lag p99 < 1 s); the
history file's size after the window is reported too. `--history on|off`: one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import aiohttp  # noqa: E402
import hotspots  # noqa: E402
import subject  # noqa: E402
from agents import start_snmpd  # noqa: E402
from exposition import Parsed, buckets, delta, quantile, sum_metric, value  # noqa: E402
from netns import Namespace, run_inside  # noqa: E402
from procs import Group, Proc, run_in_workdir  # noqa: E402

NETNS = "bwscale"
FIRST_PORT = 20000
PORTS = 100
LISTEN = "127.0.0.1:9730"
RESULTS = ROOT / "bench" / "results" / "scale.json"
LAG = "borderwatch_scheduler_lag_seconds"


def targets(devices: int) -> list[subject.Target]:
    """`devices` distinct (address, port) endpoints: 100 ports per address."""
    out = []
    for k in range(devices):
        a, port = divmod(k, PORTS)
        address = f"127.0.{1 + a // 250}.{1 + a % 250}"
        out.append(subject.Target(f"d{a:03d}-{port:02d}", address, FIRST_PORT + port))
    return out


class Window:
    """Figures taken from scrapes during the measured window."""

    def __init__(self) -> None:
        self.client_s: list[float] = []  # scrape wall time seen by the client
        self.render_s: list[float] = []  # borderwatch_exposition_render_seconds (previous)
        self.scrape_cpu_s: list[float] = []  # CPU-s borderwatch used during a scrape
        self.bytes: list[int] = []
        self.series = 0
        self.rss_mib: list[float] = []


async def measure(proc: Proc, snmpd: Proc, args: argparse.Namespace, n: int) -> dict:
    """Warm-up round, then the window; returns the figures."""
    out: dict = {}
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        out["load_avg_start"] = os.getloadavg()
        polled = await subject.wait_polled(proc, LISTEN, n, limit=args.interval * 2 + 60,
                                           strict=False)
        out["first_round_complete_s"] = polled
        print(f"  every device polled once {polled:.1f} s after listening", flush=True)
        # A full interval more, so that the window starts in the steady state.
        await asyncio.sleep(args.interval)
        text, _, _ = await http_scrape(http, proc)
        base = snapshot(Parsed(text, WANTED))
        cpu0, agent0, t0 = proc.cpu(), snmpd.cpu(), time.monotonic()
        window = Window()
        end = t0 + args.minutes * 60
        while True:
            await asyncio.sleep(max(0.0, min(args.scrape_every, end - time.monotonic())))
            before = proc.cpu()
            text, wall, size = await http_scrape(http, proc)
            window.scrape_cpu_s.append(proc.cpu() - before)
            window.client_s.append(wall)
            window.bytes.append(size)
            parsed = Parsed(text, WANTED)
            render = value(parsed, "borderwatch_exposition_render_seconds")
            if render:
                window.render_s.append(render)
            window.series = text.count("\n") - text.count("\n#") - text.startswith("#")
            window.rss_mib.append(proc.rss_mib())
            elapsed = time.monotonic() - t0
            print(f"  t+{elapsed:5.0f} s: scrape {wall * 1000:6.0f} ms, {window.series} "
                  f"series, CPU so far {(proc.cpu() - cpu0) / elapsed * 100:5.1f} % of a core, "
                  f"RSS {window.rss_mib[-1]:.0f} MiB", flush=True)
            if time.monotonic() >= end:
                break
        t1 = time.monotonic()
        cpu1, agent1 = proc.cpu(), snmpd.cpu()
        out["load_avg_end"] = os.getloadavg()
        last = snapshot(parsed)
    wall = t1 - t0
    lag = delta(last["lag"], base["lag"])
    polls = last["polls"] - base["polls"]
    failures = last["failures"] - base["failures"]
    out.update({
        "window_s": wall,
        "polls": polls,
        "polls_expected": n * wall / args.interval,
        "poll_success_rate": (polls - failures) / polls if polls else None,
        "overruns": last["overruns"] - base["overruns"],
        "missed_ticks": last["missed"] - base["missed"],
        "deadline_kills": last["kills"] - base["kills"],
        "lag_p50_s": quantile(0.5, lag),
        "lag_p99_s": quantile(0.99, lag),
        "lag_max_5min_s": last["lag_max"],
        "lag_buckets": lag,
        "varbinds_per_s": (last["varbinds"] - base["varbinds"]) / wall,
        "varbinds_per_poll": (last["varbinds"] - base["varbinds"]) / polls if polls else None,
        "requests_per_s": (last["requests"] - base["requests"]) / wall,
        "cpu_share_of_one_core": (cpu1 - cpu0) / wall,
        # measured inside the process (the recorder's tick + the writer thread), so it does
        # not depend on how loaded the machine was: the history's share of this run's CPU
        "history_cpu_share_of_one_core": (last["history_cpu"] - base["history_cpu"]) / wall,
        "history_share_of_process_cpu": (last["history_cpu"] - base["history_cpu"])
        / max(1e-9, cpu1 - cpu0),
        "cpu_s_per_1k_varbinds": (cpu1 - cpu0) / max(1, last["varbinds"] - base["varbinds"])
        * 1000,
        "snmpd_cpu_share": (agent1 - agent0) / wall,
        "rss_mib": max(window.rss_mib),
        "peak_rss_mib": proc.hwm_mib(),
        "series": window.series,
        "scrape_client_s": {"median": statistics.median(window.client_s),
                            "max": max(window.client_s)},
        "render_s": {"median": statistics.median(window.render_s),
                     "max": max(window.render_s)} if window.render_s else None,
        "scrape_cpu_s": {"median": statistics.median(window.scrape_cpu_s),
                         "max": max(window.scrape_cpu_s)},
        "scrape_bytes_gzip": statistics.median(window.bytes),
        "scrapes": len(window.client_s),
    })
    return out


async def http_scrape(http: aiohttp.ClientSession, proc: Proc) -> tuple[str, float, int]:
    if not proc.alive():
        raise RuntimeError(f"borderwatch exited:\n{proc.tail()}")
    return await subject.scrape(http, LISTEN)


WANTED = {f"{LAG}_bucket", "borderwatch_scheduler_lag_max_seconds",
          "borderwatch_device_polls_total", "borderwatch_device_poll_failures_total",
          "borderwatch_poll_overruns_total", "borderwatch_scheduler_missed_ticks_total",
          "borderwatch_poll_deadline_kills_total", "borderwatch_poll_varbinds_total",
          "borderwatch_device_snmp_requests_total", "borderwatch_exposition_render_seconds",
          "borderwatch_history_cpu_seconds_total"}


def snapshot(text: Parsed) -> dict:
    """The counters the report is computed from."""
    return {
        "lag": buckets(text, LAG),
        "lag_max": value(text, "borderwatch_scheduler_lag_max_seconds"),
        "polls": sum_metric(text, "borderwatch_device_polls_total"),
        "failures": sum_metric(text, "borderwatch_device_poll_failures_total"),
        "overruns": sum_metric(text, "borderwatch_poll_overruns_total"),
        "missed": sum_metric(text, "borderwatch_scheduler_missed_ticks_total"),
        "kills": sum_metric(text, "borderwatch_poll_deadline_kills_total"),
        "varbinds": sum_metric(text, "borderwatch_poll_varbinds_total"),
        "requests": sum_metric(text, "borderwatch_device_snmp_requests_total"),
        "history_cpu": sum_metric(text, "borderwatch_history_cpu_seconds_total"),
    }


def report(r: dict, args: argparse.Namespace, mode: str = "on") -> str:
    """The figures with issue 3's targets."""
    def ok(good: bool) -> str:
        return "met" if good else "MISSED"

    lag99 = r["lag_p99_s"] or 0.0
    render = (r["render_s"] or r["scrape_client_s"])["median"]
    lines = [
        "== scale run: "
        f"{args.devices} devices, interval {args.interval:g} s, "
        f"{r['window_s'] / 60:.1f} min window, history {mode} ==",
        f"start-up: /metrics listening {r['startup_s']:.1f} s after start "
        f"(inventory load + {args.devices} sessions); every device polled once "
        f"{r['first_round_complete_s']:.0f} s later",
        f"polls {r['polls']:.0f} of {r['polls_expected']:.0f} expected, success "
        f"{100 * (r['poll_success_rate'] or 0):.2f} %; {r['varbinds_per_poll']:.1f} varbinds "
        f"and {r['requests_per_s'] / max(1, r['polls'] / r['window_s']):.1f} requests per "
        f"poll; {r['varbinds_per_s']:.0f} varbinds/s",
        f"scheduler lag p50 {1000 * (r['lag_p50_s'] or 0):.1f} ms, p99 {1000 * lag99:.1f} ms "
        f"(histogram buckets), max {1000 * (r['lag_max_5min_s'] or 0):.0f} ms "
        f"[target p99 < 1 s: {ok(lag99 < 1)}]",
        f"overruns {r['overruns']:.0f}, missed ticks {r['missed_ticks']:.0f}, deadline "
        f"kills {r['deadline_kills']:.0f} [target no overruns: {ok(r['overruns'] == 0)}]",
        f"CPU {100 * r['cpu_share_of_one_core']:.1f} % of one core "
        f"({r['cpu_s_per_1k_varbinds']:.4f} CPU-s per 1k varbinds, scrapes every "
        f"{args.scrape_every:g} s included) [target <= 25 %: "
        f"{ok(r['cpu_share_of_one_core'] <= 0.25)}]; snmpd "
        f"{100 * r['snmpd_cpu_share']:.1f} %",
        f"RSS {r['rss_mib']:.0f} MiB (peak {r['peak_rss_mib']:.0f} MiB) "
        f"[target <= 1024 MiB: {ok(r['peak_rss_mib'] <= 1024)}]",
        f"machine load average (2 cores, shared): {r['load_avg_start'][0]:.1f} at the start, "
        f"{r['load_avg_end'][0]:.1f} at the end of the window",
        f"/metrics: {r['series']} series, {r['scrape_bytes_gzip'] / 1e6:.1f} MB gzip; render "
        f"(server) median {render:.2f} s, max {(r['render_s'] or r['scrape_client_s'])['max']:.2f}"
        f" s; client wall median {r['scrape_client_s']['median']:.2f} s; "
        f"{r['scrape_cpu_s']['median']:.2f} CPU-s per scrape [target <= 1 s: {ok(render <= 1)}]",
    ]
    return "\n".join(lines)


def inner(args: argparse.Namespace) -> int:
    """Runs inside the namespace: snmpd, the service, the window, the report."""
    return run_in_workdir("bwscale-", lambda workdir, group: _run(args, workdir, group),
                          keep=args.keep)


def _run(args: argparse.Namespace, workdir: Path, group: Group) -> int:
    ports = [FIRST_PORT + p for p in range(PORTS)]
    print(f"starting snmpd: {PORTS} ports x {args.taps + 1} interfaces ...", flush=True)
    snmpd = start_snmpd(group, workdir / "snmpd", "snmpd", "0.0.0.0", ports)
    devices = targets(args.devices)
    inventory = workdir / "inventory.yaml"
    subject.write_inventory(inventory, devices, interval=args.interval,
                            max_in_flight=args.max_in_flight)
    modes = ["off", "on"] if args.history == "both" else [args.history]
    runs: dict[str, dict] = {}
    for mode in modes:
        runs[mode] = one_run(args, workdir, group, snmpd, inventory, len(devices), mode,
                             profile=args.profile and mode == modes[-1])
    result = runs[modes[-1]]
    text = "\n\n".join(report(runs[m], args, m) for m in modes)
    if len(modes) == 2:
        text += "\n\n" + compare(runs["off"], runs["on"])
    print()
    print(text)
    if "profile_text" in result:
        print(f"\nprofile (30 s after the window):\n{result['profile_text']}")
    results = RESULTS
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps({"args": vars(args), "result": result, "runs": runs,
                                   "report": text}, indent=2, default=str) + "\n")
    print(f"\nwrote {results.relative_to(ROOT)}")
    return 0


def one_run(args: argparse.Namespace, workdir: Path, group: Group, snmpd: Proc,
            inventory: Path, n: int, mode: str, *, profile: bool) -> dict:
    """Start `borderwatch run` with history `mode` ("on"/"off"), measure, stop it."""
    state = workdir / f"state-{mode}"
    run_args = ["--state-dir", str(state)] + (["--no-history"] if mode == "off" else [])
    print(f"borderwatch (history {mode}): {args.devices} devices, interval "
          f"{args.interval:g} s", flush=True)
    proc = subject.start(group, workdir, inventory, LISTEN, name=f"borderwatch-{mode}",
                         run_args=run_args)
    startup = asyncio.run(subject.wait_listening(proc, LISTEN))
    print(f"  /metrics listening {startup:.1f} s after start", flush=True)
    result = asyncio.run(measure(proc, snmpd, args, n))
    result["startup_s"] = startup
    history = state / "history.sqlite"
    if mode == "on":
        files = [history, history.with_name(history.name + "-wal")]
        result["history_bytes"] = sum(f.stat().st_size for f in files if f.exists())
    if profile and hotspots.py_spy():
        print("profiling 30 s with py-spy (after the window) ...", flush=True)
        spy = hotspots.start_recording(proc.pid, 30, workdir / "pyspy.txt")
        spy.communicate()
        prof = hotspots.load_folded(workdir / "pyspy.txt")
        result["profile"] = prof.as_dict()
        result["profile_text"] = prof.table()
    proc.stop(grace=60)  # a clean stop closes the history (and frees the port)
    group.procs.remove(proc)
    return result


def compare(off: dict, on: dict) -> str:
    """Issue 10's cost of the history: CPU with it against without, lag p99 with it."""
    ratio = on["cpu_share_of_one_core"] / off["cpu_share_of_one_core"]
    lag99 = on["lag_p99_s"] or 0.0
    return "\n".join([
        "== history on vs off (back to back, same snmpd) ==",
        f"history's own CPU in the 'on' run (self-metric): "
        f"{100 * on['history_cpu_share_of_one_core']:.2f} % of one core = "
        f"{100 * on['history_share_of_process_cpu']:.1f} % of the collector's CPU, i.e. "
        f"without it x{1 / max(1e-9, 1 - on['history_share_of_process_cpu']):.3f} "
        f"[target <= x1.10: "
        f"{'met' if on['history_share_of_process_cpu'] <= 1 - 1 / 1.10 else 'MISSED'}]",
        f"CPU {100 * on['cpu_share_of_one_core']:.1f} % vs "
        f"{100 * off['cpu_share_of_one_core']:.1f} % of one core: x{ratio:.3f} "
        f"[target <= x1.10: {'met' if ratio <= 1.10 else 'MISSED'}]",
        f"lag p99 {1000 * lag99:.1f} ms with history vs "
        f"{1000 * (off['lag_p99_s'] or 0):.1f} ms without [target < 1 s: "
        f"{'met' if lag99 < 1 else 'MISSED'}]",
        f"history file after start-up + warm-up + window: "
        f"{on.get('history_bytes', 0) / 1e6:.2f} MB"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--minutes", type=float, default=5.0, help="measured window")
    parser.add_argument("--taps", type=int, default=3, help="interfaces per device - 1")
    parser.add_argument("--scrape-every", type=float, default=30.0,
                        help="seconds between /metrics scrapes (default 30)")
    parser.add_argument("--max-in-flight", type=int, default=64,
                        help="defaults.max_in_flight of the inventory (default 64)")
    parser.add_argument("--history", choices=["on", "off", "both"], default="both",
                        help="run with the embedded history, without, or both back to back "
                        "(default: both)")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.devices <= 250 * 250 * PORTS:
        parser.error("--devices out of range")
    if args.inside:
        return inner(args)
    if os.geteuid() != 0:
        print("bench-scale: needs root (ip netns, tap devices)", file=sys.stderr)
        return 2
    hotspots.ensure_py_spy()
    return run_inside(Namespace(NETNS, args.taps), __file__, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
