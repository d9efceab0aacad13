"""Flapping and resolve texts, found by the alert-quality suite on the real lab
(tests/alerts_quality/) and pinned here on the simulated world.

* The first clear → true of an alert is a change: a flap of n changes is n changes, so the
  flapping page does not come a half-period late.
* An incident is not escalated while it keeps flapping: its member alerts (RedundancyLost,
  then LinkDown) start flapping at different changes, and an escalation for each would be a
  page per change. That holds too when the page came at the first down, before the flap
  could be known; its resolve then says it flapped.
* A resolve leads with what the page led with (not with the last member to clear).
"""

from __future__ import annotations

from pathlib import Path

from test_engine_scenarios import cut, repair, started, summary

from borderwatch.alerts.rules import RuleSet, load_rules
from borderwatch.alerts.topology import Topology
from borderwatch.collector.inventory import Inventory

PERIOD = 45.0  # L26 goes down and up every 45 s: longer than a 30 s poll, shorter than `for`


def _rules(tmp_path: Path, text: str) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text("schema_version: 1\ninclude_defaults: true\n" + text)
    return load_rules(path)


def _flaps(link: str, n: int = 20) -> list:
    return [(PERIOD * i, (cut if i % 2 == 0 else repair)(link)) for i in range(n)]


def test_the_first_down_counts_toward_flapping(inventory: Inventory, topo: Topology,
                                               tmp_path: Path) -> None:
    rules = _rules(tmp_path, "settings:\n  flap: {changes: 3, window: 10m, clear_changes: 1}\n")
    run = started(inventory, topo, rules)
    t0 = run.now
    sent = run.run(1800, _flaps("L26"))
    assert [s[:2] for s in summary(sent)] == [("firing", "new"), ("resolved", "resolved")]
    page = sent[0]
    assert page.notification.flapping
    # changes: down (1), up (2), down (3): flapping once the second cut is seen, before the
    # second repair (counting from the first up would need that repair)
    assert 2 * PERIOD <= page.at - t0 < 3 * PERIOD


def test_a_flapping_incident_is_not_escalated_while_it_flaps(inventory: Inventory,
                                                            topo: Topology,
                                                            tmp_path: Path) -> None:
    # RedundancyLost (warning) flaps after 3 changes, LinkDown (major) after 5: the
    # incident's severity rises while it flaps; group_interval 0s would let that through.
    rules = _rules(tmp_path, """\
settings:
  group_interval: 0s
rules:
  - {name: RedundancyLost, kind: redundancy_lost, severity: warning, for: 1m, clear_for: 1m,
     flap: {changes: 3, window: 10m, clear_changes: 1}}
  - {name: LinkDown, kind: link_down, severity: major, for: 1m,
     flap: {changes: 5, window: 10m, clear_changes: 1}}
""")
    run = started(inventory, topo, rules)
    sent = run.run(2400, _flaps("L26"))
    assert [s[:3] for s in summary(sent)] == [("firing", "new", "warning"),
                                              ("resolved", "resolved", "warning")]
    assert sent[0].notification.flapping
    (record,) = run.engine.history  # LinkDown (major) fired in it; nobody was woken for it
    assert {k.split("/")[0] for k in record.seen_alerts} >= {"RedundancyLost", "LinkDown"}


def test_paged_at_the_first_down_then_flapping_is_one_page_and_a_resolve_that_says_so(
        inventory: Inventory, topo: Topology, tmp_path: Path) -> None:
    # RedundancyLost pages at once and outlasts the up halves (clear_for 1m > 45 s); LinkDown
    # (major) fires only because flapping skips its `for`: that must not escalate the page.
    rules = _rules(tmp_path, """\
settings:
  group_interval: 0s
  flap: {changes: 3, window: 10m, clear_changes: 1}
rules:
  - {name: RedundancyLost, kind: redundancy_lost, severity: warning, for: 0s, clear_for: 1m}
  - {name: LinkDown, kind: link_down, severity: major, for: 1m}
""")
    run = started(inventory, topo, rules)
    t0 = run.now
    sent = run.run(2400, _flaps("L26"))
    assert [s[:3] for s in summary(sent)] == [("firing", "new", "warning"),
                                              ("resolved", "resolved", "warning")]
    page, end = (s.notification for s in sent)
    assert page.at - t0 < PERIOD and not page.flapping  # the first down, not yet a flap
    assert end.flapping and "Đã chập chờn" in end.annotations["summary_vi"]
    assert "It flapped" in end.annotations["summary_en"]
    (record,) = run.engine.history
    assert record.flapped
    assert {k.split("/")[0] for k in record.seen_alerts} >= {"RedundancyLost", "LinkDown"}


def test_the_resolve_leads_with_what_the_page_led_with(inventory: Inventory,
                                                       topo: Topology, tmp_path: Path) -> None:
    # InterfaceDown clears last: at the resolve it is the only member still changing
    rules = _rules(tmp_path, "rules:\n  - {name: InterfaceDown, kind: interface_down, "
                   "severity: warning, for: 1m, clear_for: 3m, interfaces: declared}\n")
    run = started(inventory, topo, rules)
    sent = run.run(1500, [(0, cut("L07")), (900, repair("L07"))])
    page, end = (s.notification for s in sent)
    assert (page.status, end.status) == ("firing", "resolved")
    assert page.headline == end.headline == "redundancy_lost"
    assert end.annotations["summary_vi"].startswith("[ĐÃ KHÔI PHỤC] Đã khôi phục dự phòng")
    assert {s.site_id for s in end.redundancy_lost} == {"hub-dinhlap", "cm-kienmoc",
                                                        "bp-bacxa"}
