"""Check that bench/proposals.py's /metrics says the same as today's (run by hand).

    .venv/bin/python bench/proposals_check.py

Renders the same NetworkState (50 devices, 3 interfaces) with the current exporter and
with the proposals applied, compares the samples (name, sorted labels, value) and runs
`promtool check metrics` on both. Only wall-clock timestamps may differ.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "profiles"), str(ROOT / "tests")]

import proposals  # noqa: E402
from aiohttp.test_utils import make_mocked_request  # noqa: E402
from micro import fleet_state  # noqa: E402

from collector.scheduler import Scheduler  # noqa: E402
from exporters.http import MetricsApp  # noqa: E402
from exporters.prometheus import ExporterSources, PollCounters, build_registry  # noqa: E402

SAMPLE = re.compile(r'^([^{ ]+)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
VOLATILE = ("process_", "borderwatch_exposition_", "borderwatch_asyncio_",
            "borderwatch_device_last_success_timestamp_seconds")


async def render() -> str:
    state = fleet_state(50, 3)
    counters = {s.device_id: PollCounters(site=s.site_id, varbinds=5, requests=2)
                for s in state.device_snapshots()}
    registry = build_registry(ExporterSources(state=state, scheduler=Scheduler([]),
                                              poll_counters=counters, series_cap=100))
    response = await MetricsApp(registry, dict).metrics(make_mocked_request("GET", "/metrics"))
    return response.body.decode()


def samples(text: str) -> list[tuple]:
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#") and not line.startswith(VOLATILE):
            name, labels, value = SAMPLE.match(line).groups()  # type: ignore[union-attr]
            out.append((name, tuple(sorted(LABEL.findall(labels or ""))), float(value)))
    return sorted(out)


def promtool(text: str) -> list[str]:
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True)
    # camelCase label names (ifIndex, sysName...) are snmp_exporter's convention: not errors
    return [line for line in (done.stdout + done.stderr).splitlines()
            if line.strip() and "snake_case" not in line]


def main() -> int:
    before = asyncio.run(render())
    proposals.patch_exposition()
    after = asyncio.run(render())
    same = samples(before) == samples(after)
    print(f"samples: {len(samples(before))} today, {len(samples(after))} with the proposals, "
          f"{'identical' if same else 'DIFFERENT'}")
    for name, text in (("today", before), ("proposals", after)):
        problems = promtool(text)
        print(f"promtool on {name}: {'ok' if not problems else problems[:5]}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
