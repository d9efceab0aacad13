"""Silence matchers and maintenance-window scope."""

from __future__ import annotations

import datetime

import pytest

from borderwatch.alerts.rules import Maintenance
from borderwatch.alerts.silence import Matcher, Silence, covering_window, in_scope
from borderwatch.alerts.topology import Topology

LABELS = {"site": ["bp-thanhloa", "hub-dongdang"], "link": ["L27"], "severity": ["critical"],
          "device": []}


@pytest.mark.parametrize(("matcher", "hit"), [
    (Matcher("site", "bp-thanhloa"), True),  # any value of a multi-valued label
    (Matcher("site", "bp-tumich"), False),
    (Matcher("site", "bp-tumich", "!="), True),
    (Matcher("site", "hub-dongdang", "!="), False),
    (Matcher("link", "L2.", "=~"), True),
    (Matcher("link", "L2", "=~"), False),  # full match, as Alertmanager
    (Matcher("severity", "warning|major", "!~"), True),
    (Matcher("device", ""), True),  # empty value matches an absent label
    (Matcher("team", "noc"), False),
])
def test_matchers(matcher: Matcher, hit: bool) -> None:
    assert matcher.matches(LABELS) is hit


@pytest.mark.parametrize(("text", "matcher"), [
    ("site=bp-thanhloa", Matcher("site", "bp-thanhloa")),
    ('severity!="warning"', Matcher("severity", "warning", "!=")),
    ("link=~L2.*", Matcher("link", "L2.*", "=~")),
    (" rule !~ Radio.* ", Matcher("rule", "Radio.*", "!~")),
])
def test_matcher_parse(text: str, matcher: Matcher) -> None:
    assert Matcher.parse(text) == matcher


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Matcher.parse("site"), "'site' is not a matcher; write name=value, name!=value, "
                                    "name=~regex or name!~regex"),
    (lambda: Matcher("site", "x", "=="), "matcher op '==' is not allowed; allowed: =, !=, =~, "
                                        "!~"),
    (lambda: Matcher("site", "(", "=~"), "matcher site=~'(': bad regex (missing ), unterminated "
                                        "subpattern at position 0)"),
    (lambda: Silence((), 0, 10), "a silence needs at least one matcher"),
    (lambda: Silence((Matcher("a", "b"),), 10, 10), "a silence must end after it starts"),
])
def test_bad_matchers_and_silences(make, message: str) -> None:
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value) == message


def test_silence_window_id_and_round_trip() -> None:
    s = Silence((Matcher("site", "bp-thanhloa"),), 100.0, 200.0, "noc", "fibre crew on site")
    assert not s.active(99.9) and s.active(100.0) and s.active(199.9) and not s.active(200.0)
    assert s.matches(LABELS)
    same = Silence((Matcher("site", "bp-thanhloa"),), 100.0, 200.0, "noc", "fibre crew on site")
    assert s.id == same.id and len(s.id) == 12  # deterministic: no clock, no randomness
    assert Silence.from_dict(s.to_dict()) == s


def window(**scope) -> Maintenance:
    start = datetime.datetime(2026, 12, 1, 22, tzinfo=datetime.timezone(
        datetime.timedelta(hours=7)))
    return Maintenance(name="w", start=start, end=start + datetime.timedelta(hours=4), **scope)


@pytest.mark.parametrize(("scope", "element", "covered"), [
    (dict(sites=["bp-thanhloa"]), "site:bp-thanhloa", True),
    (dict(sites=["bp-thanhloa"]), "device:bptl-sw1", True),  # its devices
    (dict(sites=["bp-thanhloa"]), "link:L27", True),  # links ending there
    (dict(sites=["bp-thanhloa"]), "link:L25", False),
    (dict(sites=["bp-thanhloa"]), "site:hub-dongdang", False),
    (dict(devices=["dd-agg2"]), "link:L27", True),  # a device covers its links
    (dict(devices=["dd-agg2"]), "device:dd-agg1", False),
    (dict(links=["L27"]), "link:L27", True),
    (dict(links=["L27"]), "site:bp-thanhloa", False),  # the link, not what it feeds
])
def test_maintenance_scope(topo: Topology, scope: dict, element: str, covered: bool) -> None:
    assert in_scope(window(**scope), element, topo) is covered


def test_covering_window_needs_every_element_and_the_time(topo: Topology) -> None:
    w = window(links=["L04"])
    during = w.start.timestamp() + 60
    assert covering_window([w], ["link:L04"], topo, during) is w
    assert covering_window([w], ["link:L03", "link:L04"], topo, during) is None
    assert covering_window([w], ["link:L04"], topo, w.end.timestamp()) is None
    assert covering_window([w], [], topo, during) is None
