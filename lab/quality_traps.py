"""Trap-to-page time on the real lab: the alert-quality network with a trap receiver.

The suite network of lab.quality, with a `traps:` section: its lab process sends the
faults' traps from the devices (lab/traps.py), the service receives them. Two of the
suite's scenarios, a fibre cut and a mains failure, run as there; measured is the time
from the first trap of an affected device (its arrival at the receiver) to the page at
the webhook, against the issue's target of 2 s, next to the fault-to-page time.

    python -m borderwatch.lab.quality_traps      # both scenarios, then the table

tests/alerts_quality/test_trap_to_page.py runs the same and asserts what arrived; the
times are measured and printed, never asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from borderwatch.lab.quality import (
    SCENARIOS,
    Outcome,
    QualityNet,
    Scenario,
    quality_network,
    run_scenario,
    settle,
)

TARGET = 2.0  # seconds from the trap to the page (issue 13)
# scenario → the devices whose traps announce it
TRAPPED: dict[str, tuple[str, ...]] = {"fibre-cut": ("q-core-sw", "q-dd-agg"),
                                       "mains-failure": ("q-dd-ups",)}


@dataclass
class TrapPage:
    """A scenario's outcome and when the first trap of its devices arrived (wall clock)."""

    outcome: Outcome
    trap_at: float | None

    @property
    def trap_to_page(self) -> float | None:
        """Seconds from the trap's arrival to the page (negative: a poll paged first)."""
        if self.trap_at is None or self.outcome.paged_at is None:
            return None
        return self.outcome.paged_at - self.trap_at


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def trap_quality_network(directory: Path, v1_devices: tuple[str, ...] = (),
                               v3_devices: tuple[str, ...] = ()
                               ) -> AsyncIterator[QualityNet]:
    """lab.quality's network with `traps:` (the lab sends, the service receives);
    `v1_devices` are polled in SNMPv1 and send v1 traps, `v3_devices` SNMPv3."""
    async with quality_network(directory, f"127.0.0.1:{_free_udp_port()}",
                               v1_devices, v3_devices) as net:
        yield net


async def run_trapped(net: QualityNet, sc: Scenario) -> TrapPage:
    """Run a scenario; the first trap of its devices after the fault was requested."""
    out = await run_scenario(net, sc)
    devices = TRAPPED[sc.name]
    arrivals = [t for t, d in net.service.traps.stats.arrivals
                if d in devices and t >= out.requested_at
                and (out.restored_at is None or t < out.restored_at)]
    return TrapPage(out, min(arrivals, default=None))


def table(pages: list[TrapPage]) -> str:
    """Trap-to-page and fault-to-page times, one row per scenario."""
    def s(v: float | None) -> str:
        return "—" if v is None else f"{v:5.2f} s"

    rows = [f"{'scenario':<14} {'trap→page':>9} {'fault→page':>10}  note", "-" * 60]
    for p in pages:
        t = p.trap_to_page
        note = ("no trap" if p.trap_at is None else "a poll paged first" if t is not None
                and t < 0 else f"within the {TARGET:g} s target" if t is not None and t <= TARGET
                else f"over the {TARGET:g} s target")
        rows.append(f"{p.outcome.scenario.name:<14} {s(t):>9} {s(p.outcome.detection):>10}  "
                    f"{note}")
    return "\n".join(rows)


async def _main() -> int:
    chosen = [sc for sc in SCENARIOS if sc.name in TRAPPED]
    with tempfile.TemporaryDirectory(prefix="bw-quality-traps-") as tmp:
        t0 = time.monotonic()
        async with trap_quality_network(Path(tmp)) as net:
            await settle(net, 90)
            print(f"lab and service ready in {time.monotonic() - t0:.1f} s; "
                  + net.timings.describe())
            pages = []
            for sc in chosen:
                await settle(net)
                pages.append(await run_trapped(net, sc))
        print(table(pages))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
