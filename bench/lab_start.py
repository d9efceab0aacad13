"""How long `borderwatch lab` takes to start, and how much memory the running lab uses.

    .venv/bin/python bench/lab_start.py                       # default lab, 5 starts
    .venv/bin/python bench/lab_start.py --agent-per-device --runs 2   # the former layout
    .venv/bin/python bench/lab_start.py --quality-net --fault ''      # the suite's 11 agents

Each run starts `borderwatch lab` on the inventory (the repository's: 81 devices on fixed
127.0.0.x addresses, so no other lab may run on it meanwhile) as its own process, measures
the wall time until it prints "lab running", then the RSS and PSS of the lab process and all
its descendants (the snmpsim processes) from /proc. With --fault LINK it then cuts and
restores that link through `borderwatch lab fault` (their time, and the memory after: each
device a fault restarts gets an snmpsim process of its own). Then SIGINT, and the time until
the lab has exited. The first run starts with an empty state dir (data files written, index
cache built: "cold"), the others reuse it ("warm"). Prints every run, the warm medians and
the load average; nothing passes or fails. --quality-net starts the network the alert-quality,
live history and live report tests start (lab/quality.py: 11 agents on 127.0.3.x) instead;
those tests always start cold, in a fresh directory.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMUNITY_VAR = "BORDERWATCH_LAB_COMMUNITY"
MIB = 1024 * 1024


def descendants(pid: int) -> list[int]:
    """pid and every process below it (by parent pid, from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory(pids: list[int]) -> tuple[int, int]:
    """Summed (RSS, PSS) in bytes of the processes, from smaps_rollup."""
    rss = pss = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss += int(line.split()[1]) * 1024
    return rss, pss


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def fault(state: Path, env: dict[str, str], *args: str) -> float:
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "borderwatch.cli", "lab", "fault", *args,
                          "--state-dir", str(state)], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"lab fault {' '.join(args)}: {res.stdout}{res.stderr}")
    return time.monotonic() - t0


def one_run(inventory: Path, state: Path, env: dict[str, str], per_device: bool,
            link: str | None) -> dict[str, float | str]:
    argv = [sys.executable, "-m", "borderwatch.cli", "lab", "--inventory", str(inventory),
            "--state-dir", str(state)] + (["--agent-per-device"] if per_device else [])
    load = loadavg()
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=REPO)
    assert proc.stdout is not None
    lines = []
    result: dict[str, float | str] = {"load": load}
    try:
        for line in proc.stdout:
            lines.append(line)
            if "lab running" in line:
                break
        else:
            raise RuntimeError("the lab exited:\n" + "".join(lines))
        result["start_s"] = time.monotonic() - t0
        summary = next((x for x in lines if "agents ready" in x and "varbind" in x), "")
        m = re.search(r"agents started in ([\d.]+) s", summary)
        result["agents_s"] = float(m.group(1)) if m else float("nan")
        found = re.search(r"(\d+) failed", summary)
        result["failed"] = found.group(1) if found else "?"
        for line in lines:
            if line.startswith("FAILED"):
                print(line.rstrip()[:300], file=sys.stderr)
        time.sleep(1.0)  # past start-up allocations
        pids = descendants(proc.pid)
        result["procs"] = len(pids)
        rss, pss = memory(pids)
        result["rss_mib"], result["pss_mib"] = rss / MIB, pss / MIB
        if link:
            result["cut_s"] = fault(state, env, "cut-link", link)
            result["restore_s"] = fault(state, env, "restore-link", link)
            pids = descendants(proc.pid)
            rss, pss = memory(pids)
            result["procs_after_fault"] = len(pids)
            result["rss_after_fault_mib"] = rss / MIB
    finally:
        t1 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        result["stop_s"] = time.monotonic() - t1
        result["load_after"] = loadavg()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inventory", type=Path, default=REPO / "inventory.yaml")
    parser.add_argument("--runs", type=int, default=5, help="starts (the first one cold)")
    parser.add_argument("--agent-per-device", action="store_true",
                        help="measure the former layout: one snmpsim process per device")
    parser.add_argument("--fault", metavar="LINK", default="L27",
                        help="link to cut and restore after each start ('' for none)")
    parser.add_argument("--quality-net", action="store_true",
                        help="the alert-quality tests' network instead of --inventory, every "
                        "start cold")
    args = parser.parse_args()
    community = os.environ.get(COMMUNITY_VAR) or secrets.token_urlsafe(12)
    env = {**os.environ, COMMUNITY_VAR: community}
    runs = []
    with tempfile.TemporaryDirectory(prefix="bw-lab-bench-") as tmp:
        if args.quality_net:
            import yaml

            from borderwatch.lab import quality
            args.inventory = Path(tmp) / "quality.yaml"
            args.inventory.write_text(yaml.safe_dump(
                quality.inventory_data(quality.free_port(), "http://127.0.0.1:9/unused"),
                allow_unicode=True, sort_keys=False))
            env[quality.COMMUNITY_VAR] = community
        for n in range(args.runs):
            state = Path(tmp) / (f"state{n}" if args.quality_net else "state")
            r = one_run(args.inventory, state, env, args.agent_per_device, args.fault or None)
            r["cache"] = "cold" if n == 0 or args.quality_net else "warm"
            runs.append(r)
            print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in r.items()), flush=True)
    warm = runs if args.quality_net else runs[1:] or runs
    keys = ["start_s", "agents_s", "rss_mib", "pss_mib", "procs", "stop_s"]
    if args.fault:
        keys += ["cut_s", "restore_s", "rss_after_fault_mib", "procs_after_fault"]
    mode = "one process per device" if args.agent_per_device else "shared process + gate"
    print(f"\n{mode}, {args.inventory.name}; medians of {len(warm)} {warm[0]['cache']} run(s)"
          f" (cold start: {runs[0]['start_s']:.1f} s):")
    for key in keys:
        values = [float(r[key]) for r in warm if key in r]
        print(f"  {key:22} {statistics.median(values):8.1f}"
              f"   (min {min(values):.1f}, max {max(values):.1f})")
    print(f"  load average at the starts: {', '.join(str(r['load']) for r in runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
