"""borderwatch_site_status / _redundancy_lost / _site_info: the status page's view of each
site as Prometheus series, with or without alerts configured.

The table tests drive a real NetworkState with poll results (as test_status_api does) and
compare the metric with the status page built from the same state; the service test runs
the collector against a real snmpd, without an `alerts:` section."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from runtime_helpers import running_service, scrape, wait_until
from servers import start_snmpd
from status_world import (
    DEVICES,
    INTERFACE,
    SITES,
    canaries,
    env_for,
    snmpd_conf,
    write_inventory,
)

from borderwatch.collector.icmp.stats import IcmpRound
from borderwatch.collector.inventory import Inventory, load_inventory
from borderwatch.collector.samples import PollResult
from borderwatch.collector.state import NetworkState
from borderwatch.exporters.site_info import SiteInfoCollector
from borderwatch.exporters.site_status import STATUSES, SiteStatusCollector
from borderwatch.exporters.status import StatusBuilder
from borderwatch.service import device_spec, link_specs

ALL_UP = dict.fromkeys(DEVICES, True)


def _world(tmp_path: Path, *, core: bool = True, ring: bool = False
           ) -> tuple[Inventory, NetworkState]:
    """The status world; `ring` adds L4 hub-dd ↔ xa-yt, so the hub has two paths to the core
    (L1, or L3 + xa-yt + L4)."""
    endpoints = {d: ("127.0.0.1", 1161 + i) for i, d in enumerate(DEVICES)}
    path = write_inventory(tmp_path / "inv.yaml", endpoints)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not core:
        data["sites"][0]["kind"] = "hub"
    if ring:
        for site in data["sites"]:
            for dev in site["devices"]:
                if dev["id"] in ("dd-agg1", "yt-sw1"):
                    dev["interfaces"] = [INTERFACE, "eth1"]
        data["links"].append({"id": "L4", "medium": "fiber", "capacity_mbps": 1000,
                              "a": {"site": "hub-dd", "device": "dd-agg1", "interface": "eth1"},
                              "b": {"site": "xa-yt", "device": "yt-sw1", "interface": "eth1"}})
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    inv = load_inventory(path, env=env_for(canaries()))
    state = NetworkState([device_spec(inv.effective(d.id)) for d in inv.devices],
                         link_specs(inv))
    return inv, state


def _apply(state: NetworkState, answers: dict[str, bool]) -> None:
    for device_id, ok in answers.items():
        state.apply(PollResult(device_id, time.time(), 0.01, ok,
                               error=None if ok else "timeout: no response",
                               sys_uptime_ticks=100_000 if ok else None))


def _families(collector) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {f.name: [(s.labels, s.value) for s in f.samples] for f in collector.collect()}


def _one_hot(samples: list[tuple[dict[str, str], float]]) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for labels, value in samples:
        assert value in (0.0, 1.0)
        out.setdefault(labels["site"], []).append(labels["status"])
    for site, statuses in out.items():
        assert sorted(statuses) == sorted(STATUSES), site  # every status, every time
    return {labels["site"]: labels["status"] for labels, value in samples if value == 1.0}


@pytest.mark.parametrize("answers", [
    {},
    ALL_UP,
    ALL_UP | {"yt-ups1": False},
    ALL_UP | {"yt-sw1": False, "yt-ups1": False},
    ALL_UP | {"bptl-sw1": False},
    ALL_UP | {"dd-agg1": False, "bptl-sw1": False},
    ALL_UP | {"dd-agg1": False},
], ids=["nothing-polled", "all-up", "one-of-two", "both-of-two", "post-down",
        "post-isolated", "answer-beats-topology"])
def test_site_status_is_the_status_pages(tmp_path: Path, answers: dict[str, bool]) -> None:
    """Same state, same answer as /api/status (its degraded is up here)."""
    inv, state = _world(tmp_path)
    builder = StatusBuilder(inv, state)
    collector = SiteStatusCollector(inv, state, builder.topology)
    _apply(state, answers)
    page = {s["id"]: s["status"] for s in builder.build()["sites"]}
    metric = _one_hot(_families(collector)["borderwatch_site_status"])
    assert metric == {site: "up" if status == "degraded" else status
                      for site, status in page.items()}


def test_site_status_flips_with_new_polls(tmp_path: Path) -> None:
    """Read at each collect: the hub going dark turns it down and the post isolated."""
    inv, state = _world(tmp_path)
    collector = SiteStatusCollector(inv, state, StatusBuilder(inv, state).topology)
    _apply(state, ALL_UP)
    assert set(_one_hot(_families(collector)["borderwatch_site_status"]).values()) == {"up"}
    _apply(state, {"dd-agg1": False, "bptl-sw1": False})
    got = _one_hot(_families(collector)["borderwatch_site_status"])
    assert (got["hub-dd"], got["bp-tl"], got["core-ls"]) == ("down", "isolated", "up")


def test_a_silent_agent_whose_host_answers_ping_keeps_its_site_up(tmp_path: Path) -> None:
    """Reachability is SNMP or ping: the hub's agent alone failing takes nothing down, on
    the metric and on the status page alike; ping silent too, the hub is down again."""
    inv, state = _world(tmp_path)
    builder = StatusBuilder(inv, state)
    collector = SiteStatusCollector(inv, state, builder.topology)
    _apply(state, ALL_UP | {"dd-agg1": False, "bptl-sw1": False})
    for answered, hub, post in ((True, "up", "down"), (False, "down", "isolated")):
        now = time.time()
        state.apply_icmp(IcmpRound("dd-agg1", 3, (0.01,) if answered else (), now, now))
        got = _one_hot(_families(collector)["borderwatch_site_status"])
        page = {s["id"]: s["status"] for s in builder.build()["sites"]}
        assert (got["hub-dd"], got["bp-tl"]) == (page["hub-dd"], page["bp-tl"]) == (hub, post)


def _lost(collector: SiteStatusCollector) -> dict[str, float]:
    return {lb["site"]: v for lb, v in
            _families(collector)["borderwatch_site_redundancy_lost"]}


def test_redundancy_lost_when_a_ring_opens(tmp_path: Path) -> None:
    """In the ring, xa-yt going dark leaves the hub (and the post behind it) on L1 alone."""
    inv, state = _world(tmp_path, ring=True)
    collector = SiteStatusCollector(inv, state, StatusBuilder(inv, state).topology)
    _apply(state, ALL_UP)
    assert _lost(collector) == dict.fromkeys([s["id"] for s in SITES], 0.0)
    _apply(state, {"yt-sw1": False, "yt-ups1": False})
    assert _lost(collector) == {"core-ls": 0.0, "hub-dd": 1.0, "bp-tl": 1.0, "xa-yt": 0.0}
    _apply(state, {"yt-sw1": True})  # back: the ring is whole again
    assert set(_lost(collector).values()) == {0.0}


def test_no_redundancy_to_lose_in_a_tree(tmp_path: Path) -> None:
    """Without the ring every path was single by plan: a dark post loses nobody anything."""
    inv, state = _world(tmp_path)
    collector = SiteStatusCollector(inv, state, StatusBuilder(inv, state).topology)
    _apply(state, ALL_UP | {"yt-sw1": False, "yt-ups1": False})
    assert set(_lost(collector).values()) == {0.0}


def test_without_a_core_site_status_stays_and_redundancy_goes(tmp_path: Path) -> None:
    inv, state = _world(tmp_path, core=False)
    builder = StatusBuilder(inv, state)
    assert builder.topology is None
    collector = SiteStatusCollector(inv, state, None)
    _apply(state, ALL_UP | {"dd-agg1": False, "bptl-sw1": False})
    families = _families(collector)
    assert "borderwatch_site_redundancy_lost" not in families
    got = _one_hot(families["borderwatch_site_status"])
    assert (got["hub-dd"], got["bp-tl"]) == ("down", "down")  # no topology: never isolated


def test_site_info_has_every_inventory_site(tmp_path: Path) -> None:
    inv, _ = _world(tmp_path)
    rows = _families(SiteInfoCollector(inv))["borderwatch_site_info"]
    assert [(lb["site"], lb["name"], lb["name_en"], lb["kind"], lb["commune"], v)
            for lb, v in rows] == \
        [(s["id"], s["name"], s["name_en"], s["kind"], s["commune"], 1.0) for s in SITES]
    # the coordinates as the inventory gives them; none for the site without any
    assert [(lb["lat"], lb["lon"]) for lb, _ in rows] == [
        (repr(s["lat"]), repr(s["lon"])) if "lat" in s else ("", "") for s in SITES]


async def test_service_without_alerts_exports_site_status(tmp_path: Path) -> None:
    """A real snmpd refusing the hub's and the post's communities: the hub is down, the
    post isolated behind it, in /metrics, and no alert families (no `alerts:` section)."""
    communities = canaries()
    snmpd = start_snmpd(tmp_path / "snmpd", extra_conf=snmpd_conf(communities))
    try:
        communities["dd-agg1"] += "-refused"
        communities["bptl-sw1"] += "-refused"
        inv = write_inventory(tmp_path / "inv.yaml", {d: snmpd.endpoint for d in DEVICES},
                              defaults={"interval": 2, "timeout": 0.5, "retries": 0})
        async with running_service(inv, env_for(communities)) as service:
            assert service.alerts is None
            await wait_until(lambda: all(s.up is not None
                                         for s in service.state.device_snapshots()),
                             within=20, what="every device polled once")
            scraped = await scrape(service)
    finally:
        snmpd.stop()
    status = _one_hot(scraped["samples"]["borderwatch_site_status"])
    assert status == {"core-ls": "up", "hub-dd": "down", "bp-tl": "isolated", "xa-yt": "up"}
    assert {lb["site"] for lb, _ in scraped["samples"]["borderwatch_site_redundancy_lost"]} \
        == {s["id"] for s in SITES}
    assert {lb["site"]: lb["commune"] for lb, _ in scraped["samples"]["borderwatch_site_info"]} \
        == {s["id"]: s["commune"] for s in SITES}
    assert not [n for n in scraped["samples"] if n.startswith(("borderwatch_alert_",
                                                                "borderwatch_incident_"))]
