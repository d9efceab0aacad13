"""Lab faults page through SNMPv3 traps: the alert-quality network with its UPS on an
SNMPv3 authPriv credential (lab/quality_traps.py `v3_devices`): the lab runs it as a
snmpsim engine of its own with the credential's user and keys (lab/agents.py), the service
polls it in v3 and so learns its engine ID, and a mains failure's upsTrapOnBattery leaves
the device as a v3 Trap of that engine (lab/traps.py). It is accepted as v3 (user, keys,
and the engine ID polling discovered), and the incident pages once with the poll-only
suite's root cause, then resolves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from borderwatch.lab.quality import SCENARIOS, V3_AUTH_VAR, V3_PRIV_VAR, QualityNet, settle
from borderwatch.lab.quality_traps import run_trapped, trap_quality_network

pytestmark = pytest.mark.slow
MAINS = next(sc for sc in SCENARIOS if sc.name == "mains-failure")
UPS = ("q-dd-ups",)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[QualityNet]:
    async with trap_quality_network(Path(tmp_path_factory.mktemp("trap-v3")),
                                    v3_devices=UPS) as running:
        await settle(running, 60 + running.timings.ceiling)
        yield running


@pytest.mark.asyncio(loop_scope="module")
async def test_a_mains_failure_pages_through_a_v3_trap(net: QualityNet) -> None:
    await settle(net)
    page = await run_trapped(net, MAINS)
    bodies = [h.body for h in page.outcome.hits]
    print(f"\nv3 mains-failure: trap→page {page.trap_to_page}, fault→page "
          f"{page.outcome.detection:.2f} s")
    stats = net.service.traps.stats
    assert page.trap_at is not None, ("no trap of the UPS arrived", stats.results)
    assert [b["reason"] for b in bodies] == \
        ["new"] + ["escalated"] * MAINS.escalations + ["resolved"], bodies
    n = bodies[0]["notification"]
    assert {c["element"] for c in n["root_cause"]} == MAINS.root_cause, n["root_cause"]
    assert stats.traps.get(("upsTrapOnBattery", "3", "trap"), 0) >= 1, stats.traps
    assert {v for (_, v, _), n in stats.traps.items() if n} == {"3"}, stats.traps
    assert stats.results["bad_credentials"] == stats.results["unknown_source"] == 0
    assert stats.results["engine_id_mismatch"] == 0, stats.results
    assert stats.results["malformed"] == 0, stats.results


def test_the_v3_keys_stay_off_command_lines_and_out_of_the_lab_files(net: QualityNet) -> None:
    """snmpsim gets the user's keys from an options file of mode 0600 (lab/agents.py):
    no process's command line, and no other file of the lab (logs included), holds one."""
    keys = [net.lab.env[V3_AUTH_VAR].encode(), net.lab.env[V3_PRIV_VAR].encode()]
    ours = str(net.directory).encode()
    agents = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes()
        except OSError:
            continue
        if ours in argv and b"borderwatch.lab.v3agent" in argv:
            agents += 1
        if ours in argv:
            assert not any(k in argv for k in keys), cmdline
    assert agents == 1, "the v3 UPS's own snmpsim process not found"
    options = [f for f in net.directory.rglob("v3-user.args")]
    assert len(options) == 1 and options[0].stat().st_mode & 0o077 == 0, options
    for file in net.directory.rglob("*"):
        if file.is_file() and file not in options:
            data = file.read_bytes()
            assert not any(k in data for k in keys), file
