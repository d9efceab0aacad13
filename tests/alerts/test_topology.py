"""Topology on the example inventory: SPOFs of the plan, isolation and root cause, redundancy."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from borderwatch.alerts.topology import (
    Health,
    SiteInfo,
    Topology,
    analyse,
    capacity_risks,
    critical_elements,
    single_points,
)
from borderwatch.collector.topology_spec import LinkSpec

THATKHE_DEPENDANTS = ("bg-binhnghi", "bg-nanua", "bp-binhnghi", "bp-quockhanh",
                      "cm-quockhanh", "cm-quocviet")


def health(topo: Topology, *, dark: Iterable[str] = (), dark_devices: Iterable[str] = (),
           unknown: Iterable[str] = (), down: Iterable[str] = (), up_links: Iterable[str] = (),
           confirmed: Iterable[str] = (), since: float = 100.0,
           answered_at: dict[str, float] | None = None) -> Health:
    """Every device up and every link up, except as listed (sites' devices all at once)."""
    device_up: dict[str, bool | None] = {d: True for d in topo.devices}
    for site in dark:
        for d in topo.site_devices(site):
            device_up[d] = False
    for d in dark_devices:
        device_up[d] = False
    for site in unknown:
        for d in topo.site_devices(site):
            device_up[d] = None
    last_success = {d: since - 50 for d in topo.devices}
    last_success.update(answered_at or {})
    links = {k: "up" for k in topo.links}
    links.update({k: "down" for k in down})
    links.update({k: "up" for k in up_links})
    down_since = {f"link:{k}": since for k in down}
    down_since.update({f"device:{d}": since for d in dark_devices})
    return Health(device_up=device_up, last_success=last_success, link_state=links,
                  down_since=down_since, confirmed_cuts=frozenset(confirmed))


# ----------------------------------------------------------------------------- the plan

def test_planned_single_points_match_the_notes(topo: Topology) -> None:
    """langson-notes §4: hub-thatkhe (6), hub-dongdang (4), hub-nasam (3); L12, L20, L27,
    L30, L33 are link SPOFs; Lộc Bình and Hữu Nghị are dual-homed."""
    points = {p.element: p.dependants for p in single_points(topo)}
    assert points["site:hub-thatkhe"] == THATKHE_DEPENDANTS
    assert points["site:hub-dongdang"] == ("bg-gadongdang", "bp-thanhloa", "cm-dongdang",
                                           "cm-vanlang")
    assert points["site:hub-nasam"] == ("bg-nahinh", "bp-nahinh", "cm-thuyhung")
    assert points["link:L20"] == ("bg-nanua", "bp-quockhanh", "cm-quockhanh")
    for link, site in (("L12", "bg-gadongdang"), ("L27", "bp-thanhloa"),
                       ("L30", "bp-tumich"), ("L33", "bp-binhxa")):
        assert points[f"link:{link}"] == (site,)
    dependants = {s for sites in points.values() for s in sites}
    assert "hub-locbinh" not in dependants and "bg-huunghi" not in dependants
    # L19 and L49 both protect Bình Nghi gate: neither alone is a SPOF, their shared node is.
    assert "link:L19" not in points and "link:L49" not in points
    assert "bg-binhnghi" in points["site:hub-thatkhe"]
    assert "site:ls-core" not in points  # the core is the reference point
    # most dependants first
    sizes = [len(p.dependants) for p in single_points(topo)]
    assert sizes == sorted(sizes, reverse=True)


def test_capacity_risk_of_dinh_lap(topo: Topology) -> None:
    """L07 cut keeps Đình Lập connected, but only over Bắc Xa's 2 Mbit/s VSAT."""
    risks = {r.link_id: r for r in capacity_risks(topo)}
    assert risks["L07"].sites == ("bp-bacxa", "cm-kienmoc", "hub-dinhlap")
    assert risks["L07"].capacity_bps == 2e6
    assert topo.planned_capacity["hub-dinhlap"] == 1e9


def test_parallel_links_are_not_critical() -> None:
    sites = [SiteInfo("core", "Core", "core"), SiteInfo("a", "A", "hub"),
             SiteInfo("b", "B", "border_post")]
    links = [LinkSpec("L1", "core", "c1", "p1", "a", "a1", "p1"),
             LinkSpec("L2", "core", "c1", "p2", "a", "a1", "p2"),
             LinkSpec("L3", "a", "a1", "p3", "b", "b1", "p1")]
    topo = Topology(sites, links)
    crit = critical_elements(topo.graph, topo.cores)
    assert crit["a"] == frozenset()
    assert crit["b"] == {"link:L3", "site:a"}


def test_topology_needs_a_core() -> None:
    with pytest.raises(ValueError, match="no site of kind 'core'"):
        Topology([SiteInfo("a", "A", "hub")], [])


# ----------------------------------------------------------------------------- analyse

CASES = [
    # id, evidence, outages as (root, isolated, down), statuses to check
    pytest.param(dict(), [], {"bp-thanhloa": "up", "ls-core": "up"}, id="quiet"),
    pytest.param(dict(down=["L27"], dark=["bp-thanhloa"]),
                 [(("link:L27",), ("bp-thanhloa",), ())], {"bp-thanhloa": "isolated"},
                 id="L27-cut"),
    pytest.param(dict(down=["L27"]),  # before bp-thanhloa's own poll fails: predicted
                 [(("link:L27",), ("bp-thanhloa",), ())], {"bp-thanhloa": "isolated"},
                 id="L27-cut-predicted"),
    pytest.param(dict(down=["L03", "L04"], dark=["hub-thatkhe", *THATKHE_DEPENDANTS]),
                 [(("site:hub-thatkhe",), THATKHE_DEPENDANTS, ("hub-thatkhe",))],
                 {"hub-thatkhe": "down", "bg-nanua": "isolated"}, id="thatkhe-node-down"),
    pytest.param(dict(down=["L03", "L04"], confirmed=["L04"],
                      dark=["hub-thatkhe", *THATKHE_DEPENDANTS]),
                 [(("link:L03", "link:L04"), tuple(sorted(("hub-thatkhe",
                                                          *THATKHE_DEPENDANTS))), ())],
                 {"hub-thatkhe": "isolated"}, id="thatkhe-ring-cut-twice"),
    pytest.param(dict(down=["L03", "L04"], unknown=["hub-thatkhe"]),
                 [(("link:L03", "link:L04"), tuple(sorted(("hub-thatkhe",
                                                          *THATKHE_DEPENDANTS))), ())],
                 {"hub-thatkhe": "isolated", "cm-quocviet": "isolated"},
                 id="thatkhe-cut-not-yet-dark"),
    pytest.param(dict(dark=["hub-thatkhe", *THATKHE_DEPENDANTS]),  # links not reported yet
                 [(("site:hub-thatkhe",), THATKHE_DEPENDANTS, ("hub-thatkhe",))],
                 {"hub-thatkhe": "down"}, id="thatkhe-dark-observed"),
    pytest.param(dict(dark=["bp-thanhloa"]),  # uplink fine, site silent
                 [(("site:bp-thanhloa",), (), ("bp-thanhloa",))], {"bp-thanhloa": "down"},
                 id="site-down-uplink-up"),
    pytest.param(dict(dark=["hub-mauson", "bp-tumich"], down=["L08", "L09", "L17", "L28"]),
                 [(("site:hub-mauson",), ("bp-tumich",), ("hub-mauson",))],
                 {"bg-chima": "up", "bp-bason": "up"}, id="mauson-power"),
    pytest.param(dict(dark_devices=["dd-agg2"], down=["L13", "L24", "L25"],
                      dark=["bg-gadongdang", "bp-thanhloa", "cm-dongdang", "cm-vanlang"],
                      answered_at={"dd-agg1": 130.0}),  # its neighbour answered since
                 [(("device:dd-agg2",), ("bg-gadongdang", "bp-thanhloa", "cm-dongdang",
                                         "cm-vanlang"), ())],
                 {"hub-dongdang": "up", "bp-baolam": "up"}, id="dd-agg2-dead"),
    pytest.param(dict(down=["L06"]), [], {"hub-locbinh": "up"}, id="locbinh-dual-homed"),
    pytest.param(dict(down=["L10"]), [], {"bg-huunghi": "up"}, id="huunghi-dual-homed"),
    pytest.param(dict(down=["L07"]), [], {"hub-dinhlap": "up", "cm-kienmoc": "up"},
                 id="dinhlap-on-vsat"),
    pytest.param(dict(down=["L20", "L21"], dark=["cm-quockhanh", "bg-nanua", "bp-quockhanh"]),
                 [(("link:L20",), ("bg-nanua", "bp-quockhanh", "cm-quockhanh"), ())],
                 {}, id="chain-cut-inner-link-is-evidence"),
]


@pytest.mark.parametrize(("evidence", "outages", "statuses"), CASES)
def test_outages_and_root_causes(topo: Topology, evidence: dict, outages: list,
                                 statuses: dict) -> None:
    result = analyse(topo, health(topo, **evidence))
    assert [(o.root, o.isolated, o.down) for o in result.outages] == outages
    for site, status in statuses.items():
        assert result.status[site] == status, site
    assert result.contradictions == ()
    unreachable = {s for o in result.outages for s in o.sites}
    assert {s for s, st in result.status.items() if st in ("down", "isolated")} == unreachable


def test_inner_failed_links_are_evidence_not_root(topo: Topology) -> None:
    result = analyse(topo, health(topo, down=["L20", "L21"],
                                  dark=["cm-quockhanh", "bg-nanua", "bp-quockhanh"]))
    (outage,) = result.outages
    assert outage.evidence == ("link:L20", "link:L21")
    assert outage.since == 100.0 and outage.predicted


RING = ("hub-nasam", "hub-thatkhe", "hub-binhgia", "bg-cocnam", "bg-nahinh", "bg-tanthanh",
        "bp-cocnam-tks", "bp-nahinh", "bp-tanthanh", "cm-thuyhung", *THATKHE_DEPENDANTS)
REDUNDANCY = [
    pytest.param(["L07"], {"hub-dinhlap": ("link:L07",), "cm-kienmoc": ("link:L07",),
                           "bp-bacxa": ("link:L07",)}, id="L07"),
    # Lộc Bình is dual-homed (and has the VSAT path via Đình Lập–Bắc Xa as a third way).
    pytest.param(["L06"], {}, id="L06-locbinh-keeps-two-paths"),
    # ... and still two after L09 too: L16 → Chi Ma → L17 → Mẫu Sơn → L08
    pytest.param(["L06", "L09"], {}, id="L06-L09-locbinh-via-chima"),
    pytest.param(["L10"], {}, id="L10-huunghi-keeps-L11"),
    # opening the northern ring at L04 leaves every site on it on a chain
    pytest.param(["L04"], {s: ("link:L04",) for s in RING}, id="L04-ring-open"),
    pytest.param(["L27"], {}, id="single-homed-cut-is-isolation-not-redundancy"),
]


@pytest.mark.parametrize(("down", "lost"), REDUNDANCY)
def test_redundancy_lost(topo: Topology, down: list[str], lost: dict) -> None:
    result = analyse(topo, health(topo, down=down))
    assert {s: r.causes for s, r in result.redundancy_lost.items()} == lost
    for site in lost:
        assert result.status[site] == "up"


def test_dinhlap_backup_capacity(topo: Topology) -> None:
    result = analyse(topo, health(topo, down=["L07"]))
    item = result.redundancy_lost["hub-dinhlap"]
    assert item.capacity_bps == 2e6 and item.planned_capacity_bps == 1e9
    assert item.single_points == ("link:L31", "link:L32", "site:bp-bacxa")


def test_mauson_power_failure_causes_lost_redundancy(topo: Topology) -> None:
    result = analyse(topo, health(topo, dark=["hub-mauson", "bp-tumich"],
                                  down=["L08", "L09", "L17", "L28"]))
    assert {s: r.causes for s, r in result.redundancy_lost.items()} == {
        s: ("site:hub-mauson",) for s in ("bg-chima", "bp-bason", "bp-chima", "cm-bason")}


def test_answer_after_the_failure_contradicts_the_prediction(topo: Topology) -> None:
    """A site that answers a poll started after its only link was seen down is reachable
    by some path the inventory lacks: it is not reported isolated, and the contradiction
    is reported."""
    result = analyse(topo, health(topo, down=["L27"], since=100.0,
                                  answered_at={"bptl-sw1": 130.0}))
    assert result.outages == ()
    assert result.status["bp-thanhloa"] == "up"
    assert "bp-thanhloa" in result.contradictions[0] and "link:L27" in \
        result.contradictions[0]
    # an answer from before the failure does not count
    result = analyse(topo, health(topo, down=["L27"], since=100.0,
                                  answered_at={"bptl-sw1": 99.0}))
    assert result.status["bp-thanhloa"] == "isolated"


def test_unknown_sites_are_transit_but_not_up(topo: Topology) -> None:
    """Before the first poll nothing is dark: no outage, statuses unknown."""
    result = analyse(topo, Health())
    assert result.outages == () and result.redundancy_lost == {}
    assert set(result.status.values()) == {"unknown", "up"}
    assert result.status["ls-core"] == "up"


def test_single_missed_poll_at_a_hub_is_not_an_outage_of_its_dependants(topo: Topology) -> None:
    """The hub's devices are dark but its dependants still answer: only the hub is down."""
    result = analyse(topo, health(topo, dark=["hub-thatkhe"]))
    assert [(o.root, o.isolated) for o in result.outages] == [(("site:hub-thatkhe",), ())]
    for site in THATKHE_DEPENDANTS:
        assert result.status[site] == "up"


def test_device_is_blamed_only_when_its_site_answered_since(topo: Topology) -> None:
    """A fibre cut isolates a hub: its switch's poll fails first while the hub's other
    devices last answered before the cut. That is no evidence against the switch: the
    root cause stays the cut link."""
    h = health(topo, down=["L03", "L04"], confirmed=["L04"], dark_devices=["tk-agg1"])
    result = analyse(topo, h)
    assert result.dead_devices == ()
    assert [o.root for o in result.outages] == [("link:L03", "link:L04")]
    # ...but if tk-mw1 answered after tk-agg1 failed, the switch itself is dead
    h = health(topo, down=["L03", "L04"], confirmed=["L04"], dark_devices=["tk-agg1"],
               answered_at={"tk-mw1": 150.0})
    assert analyse(topo, h).dead_devices == ("tk-agg1",)


def test_failing_device_with_its_link_reported_down_is_dead_without_debounce(
        topo: Topology) -> None:
    """dd-agg2's latest poll failed (not yet dark) and a neighbour reports L13 down; dd-agg1
    answered since: dd-agg2 is dead now, and the sites behind it are cut off."""
    h = health(topo, down=["L13"], answered_at={"dd-agg1": 130.0})
    device_up = dict(h.device_up, **{"dd-agg2": None})
    h = Health(device_up=device_up, last_success=h.last_success, link_state=h.link_state,
               down_since={**h.down_since, "device:dd-agg2": 100.0},
               failing=frozenset({"dd-agg2"}))
    result = analyse(topo, h)
    assert result.dead_devices == ("dd-agg2",)
    assert [o.root for o in result.outages] == [("device:dd-agg2",)]
