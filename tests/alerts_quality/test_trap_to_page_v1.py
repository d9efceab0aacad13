"""Lab faults page through SNMPv1 traps: the alert-quality network with its UPS on an
SNMPv1 credential (lab/quality_traps.py `v1_devices`; the switches keep v2c, as v1 cannot
carry their 64-bit counters), so the lab sends the UPS's traps as v1 Trap-PDUs
(lab/trap_pdu.py: enterprise, generic, specific) and the service polls it in v1. A mains
failure's upsTrapOnBattery arrives as a v1 trap, is accepted with the device's community,
and the incident pages once with the poll-only suite's root cause, then resolves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from borderwatch.lab.quality import SCENARIOS, QualityNet, settle
from borderwatch.lab.quality_traps import run_trapped, trap_quality_network

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
MAINS = next(sc for sc in SCENARIOS if sc.name == "mains-failure")
UPS = ("q-dd-ups",)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[QualityNet]:
    async with trap_quality_network(Path(tmp_path_factory.mktemp("trap-v1")),
                                    v1_devices=UPS) as running:
        await settle(running, 60 + running.timings.ceiling)
        yield running


async def test_a_mains_failure_pages_through_a_v1_trap(net: QualityNet) -> None:
    await settle(net)
    page = await run_trapped(net, MAINS)
    bodies = [h.body for h in page.outcome.hits]
    print(f"\nv1 mains-failure: trap→page {page.trap_to_page}, fault→page "
          f"{page.outcome.detection:.2f} s")
    assert page.trap_at is not None, "no trap of the UPS arrived"
    assert [b["reason"] for b in bodies] == \
        ["new"] + ["escalated"] * MAINS.escalations + ["resolved"], bodies
    n = bodies[0]["notification"]
    assert {c["element"] for c in n["root_cause"]} == MAINS.root_cause, n["root_cause"]
    stats = net.service.traps.stats
    assert stats.traps.get(("upsTrapOnBattery", "1", "trap"), 0) >= 1, stats.traps
    assert {v for (_, v, _), n in stats.traps.items() if n} == {"1"}, stats.traps
    assert stats.results["bad_credentials"] == stats.results["unknown_source"] == 0
    assert stats.results["malformed"] == 0, stats.results
