"""The lab silences sites a fault cuts off from the core, on real snmpsim agents: a cut of
the only link to a post, or a stopped hub agent, leaves the post's agent silent (the poller
at the core could not reach it); a repair brings it back with its counters continued."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import snmpget

from borderwatch.collector.inventory import load_inventory
from borderwatch.lab.agents import Lab
from borderwatch.lab.devices import agent_specs
from borderwatch.lab.faults import FaultInjector, FaultResult, Topology
from borderwatch.lab.quality import NET, free_port

COMMUNITY_VAR = "BWTEST_CUTOFF_COMMUNITY"
COMMUNITY = "lab-cutoff-c0mmunity"
# lab.quality's NET (127.0.3 unless BW_QUALITY_NET says otherwise), away from its .10-.50
DEVICES = {"c-core": (f"{NET}.110", "core", "core", "Gi0/49"),
           "c-hub": (f"{NET}.111", "hub", "hub", "Gi0/49"),
           "c-post": (f"{NET}.112", "post", "border_post", "Gi0/49")}
SYS_UPTIME, HC_IN_49 = "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.31.1.1.1.6.10149"


def _inventory(path: Path, port: int) -> Path:
    lines = ["schema_version: 1", "credentials:", "  v2:", "    version: 2c",
             f"    community_env: {COMMUNITY_VAR}", "defaults:", f"  port: {port}", "sites:"]
    for dev, (address, site, kind, _) in DEVICES.items():
        lines += [f"  - id: {site}", f"    name: {site}", f"    kind: {kind}", "    devices:",
                  f"      - {{id: {dev}, address: {address}, credential: v2, "
                  "sim_profile: network/switch/cisco-c3560, interfaces: [Gi0/49, Gi0/50]}"]
    lines += ["links:",
              "  - {id: K1, medium: fiber, capacity_mbps: 1000, a: {site: core, device: c-core,"
              " interface: Gi0/49}, b: {site: hub, device: c-hub, interface: Gi0/49}}",
              "  - {id: K2, medium: fiber, capacity_mbps: 1000, a: {site: hub, device: c-hub,"
              " interface: Gi0/50}, b: {site: post, device: c-post, interface: Gi0/49}}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FaultInjector, int]]:
    base = tmp_path_factory.mktemp("cutoff")
    port = free_port([a for a, *_ in DEVICES.values()])
    inventory = load_inventory(_inventory(base / "inventory.yaml", port),
                               env={COMMUNITY_VAR: COMMUNITY})
    running = Lab(agent_specs(inventory)[0], base / "state", parallelism=3)
    running.prepare()
    report = running.start()
    try:
        assert not report.failed, [(a.spec.device_id, a.error) for a in report.failed]
        injector = FaultInjector(running, Topology.from_inventory(inventory))
        yield injector, port
        injector.apply("clear")
    finally:
        running.stop()


def answers(dev: str, port: int, *oids: str) -> list[str] | None:
    res = snmpget(DEVICES[dev][0], port, oids or (SYS_UPTIME,), community=COMMUNITY,
                  timeout=1, retries=1)
    if res.returncode != 0:
        return None
    return [line.rpartition(": ")[2] for line in res.stdout.strip().splitlines()]


def effects(result: FaultResult) -> list[tuple[str, str]]:
    """(device, effect) of each agent a fault touched, in the order they are printed."""
    return [(e.device, e.what) for e in result.effects]


def test_a_cut_silences_the_site_behind_it_until_the_repair(lab) -> None:
    injector, port = lab
    before = answers("c-post", port, HC_IN_49)
    assert before is not None
    cut = injector.apply("cut_link", "K2")
    # One effect per agent (issue 14: c-post was listed twice, once as "applies when reachable")
    assert effects(cut) == [("c-hub", "restarted"), ("c-post", "cut_off")]
    assert answers("c-post", port) is None
    assert answers("c-hub", port) is not None  # the near end still answers
    assert injector.status()["cut_off"] == ["c-post"]
    restored = injector.apply("restore_link", "K2")
    assert effects(restored) == [("c-hub", "restarted"), ("c-post", "reachable")]
    after = answers("c-post", port, HC_IN_49)
    assert after is not None and int(after[0]) >= int(before[0])  # counters continued
    assert injector.status()["cut_off"] == []


def test_a_stopped_hub_agent_cuts_off_the_post_and_revive_brings_both_back(lab) -> None:
    injector, port = lab
    killed = injector.apply("kill", "c-hub")
    assert effects(killed) == [("c-hub", "stopped"), ("c-post", "cut_off")]
    assert injector.status()["cut_off"] == ["c-hub", "c-post"]
    assert answers("c-post", port) is None and answers("c-core", port) is not None
    revived = injector.apply("revive", "c-hub")
    assert effects(revived) == [("c-hub", "restarted"), ("c-post", "reachable")]
    assert answers("c-hub", port) is not None and answers("c-post", port) is not None
    assert injector.status()["cut_off"] == []
