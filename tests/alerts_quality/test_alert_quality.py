"""Alert quality on the real lab network (lab/quality.py): one scripted fault per test.

A `borderwatch lab` process (one snmpsim agent per device, faults through its control
directory) plays an 11-device border network; the collector service runs in this event
loop with an `alerts:` section whose webhook receiver is the test's. For each fault:
exactly one incident and one page (plus the escalation the rules define for a battery
running low), naming the root cause and the cut-off or affected sites by their Vietnamese
names, then one resolve after the fault ends; nothing else in between. A quiet run first:
no notification, and the lab's traffic stays under the utilisation rule's thresholds.

Detection and resolve times are measured and printed (`-s`), not asserted: the only time
bound is the generous ceiling of each wait. `python -m borderwatch.lab.quality` prints them as a
table.
The rules' durations that a slow machine stretches (LinkDown's `for`, RedundancyLost's
`clear_for`, the flap window, when a device counts as dark) and those ceilings come from
the lab's apply time, measured at the start (`lab.quality.Timings`), so the scenarios hold
under load (`make test-under-load`). Each scenario starts once the engine has forgotten
the previous one's changes (`settle`): they are independent, not a flap across two.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from borderwatch.lab.quality import (
    DASHBOARD,
    INTERVAL,
    SCENARIOS,
    TARGET,
    Outcome,
    QualityNet,
    Scenario,
    quality_network,
    quiet_run,
    run_scenario,
    settle,
    site_name,
    table,
)

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
BY_NAME = {sc.name: sc for sc in SCENARIOS}
OUTCOMES: list[Outcome] = []


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[QualityNet]:
    """The lab, the service and the webhook sink, shared by the module's scenarios."""
    async with quality_network(Path(tmp_path_factory.mktemp("quality"))) as running:
        await settle(running, 60 + running.timings.ceiling)
        print(f"\nalert quality margins: {running.timings.describe()}")
        yield running
    if OUTCOMES:
        print(f"\nalert quality (poll interval {INTERVAL:g} s, target {TARGET:g} s):\n"
              + table(OUTCOMES))


@pytest_asyncio.fixture(loop_scope="module")
async def clean(net: QualityNet) -> AsyncIterator[QualityNet]:
    """A settled network before a scenario; nothing may arrive outside a scenario's incident."""
    waiting = len(net.sink.hits)
    await settle(net)
    assert net.sink.hits[waiting:] == [], "a notification while the network settled"
    before, ran = len(net.sink.hits), len(OUTCOMES)
    yield net
    mine = OUTCOMES[-1].hits if len(OUTCOMES) > ran else []
    assert net.sink.hits[before:] == mine, "a notification outside the scenario's incident"


def _sites(refs: list[dict[str, Any]]) -> set[str]:
    return {r["site_id"] for r in refs}


def check(out: Outcome) -> dict[str, Any]:
    """The assertions every fault shares; returns the page's notification."""
    sc: Scenario = out.scenario
    bodies = [h.body for h in out.hits]
    print(f"\n{sc.name}: detection {out.detection:.1f} s, resolve {out.resolve:.1f} s; "
          + " | ".join(f"{b['status']}/{b['reason']}: {b['text']}" for b in bodies))
    assert len({b["incident_key"] for b in bodies}) == 1, bodies  # one incident
    assert [b["reason"] for b in bodies] == \
        ["new"] + ["escalated"] * sc.escalations + ["resolved"], bodies
    page, end = bodies[0], bodies[-1]
    assert page["language"] == "vi" and end["status"] == "resolved"
    # the resolve came after the fault was over
    assert out.resolved_at is not None and out.restored_at is not None
    assert out.resolved_at > out.restored_at
    assert out.paged_at is not None and out.paged_at > out.requested_at
    n = page["notification"]
    assert {c["element"] for c in n["root_cause"]} == sc.root_cause, n["root_cause"]
    assert _sites(n["cut_off"]) == sc.cut_off
    assert _sites(n["redundancy_lost"]) == sc.redundancy_lost
    # the page comes before a flap is known (three changes); the resolve says it flapped
    assert n["flapping"] is False
    assert end["notification"]["flapping"] is sc.flapping
    for site in sc.named_sites:
        assert site_name(site) in page["text"], (site, page["text"])
        assert site_name(site) in end["text"], (site, end["text"])
    for phrase in sc.phrases:
        assert phrase in page["text"], (phrase, page["text"])
    # the resolve repeats what the last page said: the same root cause, sites, headline
    last, m = bodies[-2]["notification"], end["notification"]
    assert m["root_cause"] == last["root_cause"] and m["cut_off"] == last["cut_off"]
    assert m["headline"] == last["headline"]
    # the lab's traffic never trips the utilisation rule, during faults either
    assert not [a for b in bodies for a in b["notification"]["alerts"]
                if a["kind"] == "link_utilization"]
    return n


async def _run(net: QualityNet, name: str) -> tuple[Outcome, dict[str, Any]]:
    out = await run_scenario(net, BY_NAME[name])
    OUTCOMES.append(out)
    return out, check(out)


async def test_quiet_run_sends_nothing_and_traffic_stays_under_the_utilisation_rule(
        clean: QualityNet) -> None:
    hits, peak = await quiet_run(clean)
    print(f"\nquiet run: peak utilisation {peak}")
    assert hits == []
    assert set(peak) == {"Q01", "Q02", "Q03", "Q04", "Q05", "Q06", "Q07"}
    # below the built-in rule's clear level (0.75), not just its threshold (0.85)
    assert max(peak.values()) < 0.75, peak
    assert not [k for k in clean.service.alerts.engine.alerts if "Utilization" in k]


async def test_fibre_cut_to_a_hub_pages_once_for_the_four_sites_behind_it(
        clean: QualityNet) -> None:
    out, n = await _run(clean, "fibre-cut")
    assert n["headline"] == "isolation"
    # the hub leads the cut-off sites (it explains the rest), and the dashboard link is its
    assert n["cut_off"][0]["site_id"] == "hub-dongdang"
    assert out.hits[0].body["dashboard"] == DASHBOARD.replace("{site}", "hub-dongdang")
    assert n["labels"]["alertname"] == "SiteIsolated" and n["severity"] == "critical"
    # the devices behind the cut were unreachable and are members, not pages of their own
    members = {a["rule"] for a in n["alerts"]}
    assert "SiteIsolated" in members


async def test_microwave_fade_below_threshold(clean: QualityNet) -> None:
    _, n = await _run(clean, "microwave-fade")
    kinds = {a["kind"] for a in n["alerts"]}
    assert "radio_fade" in kinds, kinds
    fade = next(a for a in n["alerts"] if a["kind"] == "radio_fade")
    assert fade["value"] > 10  # dB below plan, past the threshold
    assert n["cut_off"] == []


async def test_mains_failure_with_battery_countdown(clean: QualityNet) -> None:
    out, n = await _run(clean, "mains-failure")
    assert n["headline"] == "on_battery" and n["severity"] == "major"
    worse = out.firing()[1]["notification"]
    assert worse["severity"] == "critical"
    assert "battery_runtime_low" in {a["kind"] for a in worse["alerts"]}
    # the runtime counted down between the page and the escalation
    first, later = n["power"][0]["runtime_seconds"], worse["power"][0]["runtime_seconds"]
    assert later < first and later < 1800, (first, later)
    assert "mất điện lưới" in out.hits[0].body["text"].lower()


async def test_device_reboot(clean: QualityNet) -> None:
    _, n = await _run(clean, "reboot")
    assert n["headline"] == "site_down"
    snap = next(s for s in clean.service.state.device_snapshots() if s.device_id == "q-bx-vsat")
    assert snap.reboots >= 1  # sysUpTime started again near 0: the state saw a reboot


async def test_flapping_link_pages_once_at_its_first_down(clean: QualityNet) -> None:
    out, n = await _run(clean, "flapping")
    assert n["headline"] == "redundancy_lost"
    assert "chập chờn" in out.hits[-1].body["text"].lower()  # the resolve: it flapped
    record = next(i for i in reversed(clean.service.alerts.engine.history)
                  if i.key == out.hits[0].body["incident_key"])
    assert record.flapped
    # LinkDown (for: 10s) fired only as flapping, inside the incident: no escalation
    assert {k.split("/")[0] for k in record.seen_alerts} >= {"RedundancyLost", "LinkDown"}


async def test_cut_leaving_a_site_on_its_backup_path(clean: QualityNet) -> None:
    _, n = await _run(clean, "backup-path")
    assert n["headline"] == "redundancy_lost" and n["cut_off"] == []
    analysis = clean.service.alerts.engine.last_analysis
    assert analysis is not None and analysis.status["hub-locbinh"] == "up"
    assert "mất dự phòng" in n["annotations"]["summary_vi"].lower()
