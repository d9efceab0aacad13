"""Which lab sites a cut leaves without a path to the core (lab.faults.Topology): their
agents go silent, as devices behind a real cut stop answering the poller at the core."""

from __future__ import annotations

from borderwatch.lab.faults import Topology

# core ─L1─ hub ─L2─ post ; core ─L3─ gate ─L4─ hub (a second way into the hub)
TOPO = Topology(
    links={"L1": (("core-sw", "p1"), ("hub-sw", "p1")),
           "L2": (("hub-sw", "p2"), ("post-sw", "p1")),
           "L3": (("core-sw", "p2"), ("gate-sw", "p1")),
           "L4": (("gate-sw", "p2"), ("hub-sw", "p3"))},
    site_of={"core-sw": "core", "hub-sw": "hub", "hub-ups": "hub", "post-sw": "post",
             "gate-sw": "gate"},
    cores=frozenset({"core"}))


def test_everything_is_reachable_without_faults() -> None:
    assert TOPO.reachable_sites(()) == {"core", "hub", "post", "gate"}


def test_a_cut_with_a_second_path_cuts_nobody_off() -> None:
    assert TOPO.reachable_sites({"L1"}) == {"core", "hub", "post", "gate"}


def test_cuts_that_leave_no_path_cut_off_everything_behind() -> None:
    assert TOPO.reachable_sites({"L1", "L4"}) == {"core", "gate"}
    assert TOPO.reachable_sites({"L2"}) == {"core", "hub", "gate"}


def test_without_a_core_site_nothing_is_ever_cut_off() -> None:
    # e.g. a two-site lab of hubs: faults keep their old meaning (interfaces only)
    assert Topology(TOPO.links, TOPO.site_of).reachable_sites({"L1", "L2"}) is None


def test_a_repair_wakes_a_hub_before_the_sites_behind_it() -> None:
    # core ─R1─ hub ─R2─ gate: by name the gate ("a-gate-sw") would come back first and
    # answer through a hub still dark, which no real repair does
    topo = Topology(links={"R1": (("core-sw", "p1"), ("z-hub-sw", "p1")),
                           "R2": (("z-hub-sw", "p2"), ("a-gate-sw", "p1"))},
                    site_of={"core-sw": "core", "z-hub-sw": "hub", "m-hub-ups": "hub",
                             "a-gate-sw": "gate"},
                    cores=frozenset({"core"}))
    assert topo.hops(()) == {"core": 0, "hub": 1, "gate": 2}
    assert topo.wake_order({"a-gate-sw", "z-hub-sw", "m-hub-ups"}, ()) == \
        ["m-hub-ups", "z-hub-sw", "a-gate-sw"]
