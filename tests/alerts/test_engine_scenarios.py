"""Alert-quality scenarios on the example network: one notification per incident.

Each scenario runs the simulated world (tests/alerts/world.py: staggered 30 s polls through
the real NetworkState, engine evaluated every 5 s on a fake clock) from a quiet start,
injects a fault, repairs it, and checks exactly which notifications came out.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import pytest
from world import INTERVAL, TICK, Run, Sent, World

from borderwatch.alerts.engine import Engine, StateError
from borderwatch.alerts.rules import RuleSet, default_rules
from borderwatch.alerts.silence import Matcher, Silence
from borderwatch.alerts.topology import Topology
from borderwatch.collector.inventory import Inventory

THATKHE_AREA = {"hub-thatkhe", "bg-binhnghi", "bg-nanua", "bp-binhnghi", "bp-quockhanh",
                "cm-quockhanh", "cm-quocviet"}
SETTLE = 120.0  # quiet warm-up before a fault: every device polled a few times
DETECT = INTERVAL + TICK  # the bound: one poll interval + 5 s

pytestmark = pytest.mark.slow  # ~2 s per scenario: 20–50 simulated minutes each


def cut(*links: str) -> Callable[[World, float], None]:
    def change(world: World, now: float) -> None:
        world.cut.update(links)
    return change


def repair(*links: str) -> Callable[[World, float], None]:
    def change(world: World, now: float) -> None:
        world.cut.difference_update(links)
    return change


def started(inventory: Inventory, topo: Topology, rules: RuleSet | None = None) -> Run:
    run = Run(inventory, topo, rules or default_rules())
    assert run.run(SETTLE) == [], "the quiet warm-up must not notify"
    return run


def summary(sent: list[Sent]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(status, reason, severity, cut-off site ids) of each notification, in order."""
    return [(s.notification.status, s.notification.reason, s.notification.severity,
             tuple(x.site_id for x in s.notification.cut_off)) for s in sent]


def test_quiet_network_sends_nothing(inventory: Inventory, topo: Topology) -> None:
    run = Run(inventory, topo, default_rules())
    assert run.run(1800) == []
    assert run.engine.open_incidents() == []
    assert run.engine.last_analysis is not None
    assert set(run.engine.last_analysis.status.values()) == {"up"}


def test_single_fibre_cut_pages_once_and_resolves_once(inventory: Inventory,
                                                       topo: Topology) -> None:
    run = started(inventory, topo)
    t_cut = run.now + 7
    sent = run.run(1200, [(7, cut("L27")), (900, repair("L27"))])
    assert summary(sent) == [("firing", "new", "critical", ("bp-thanhloa",)),
                             ("resolved", "resolved", "critical", ("bp-thanhloa",))]
    page = sent[0].notification
    assert sent[0].at - t_cut <= DETECT
    assert [c.element for c in page.root_cause] == ["link:L27"]
    assert page.annotations["summary_vi"].startswith(
        "[NGHIÊM TRỌNG] Mất liên lạc Đồn Biên phòng Thanh Lòa (xã Ba Sơn). Nguyên nhân gốc: "
        "mất tuyến cáp quang Đồng Đăng – Thanh Lòa (L27).")
    assert page.labels["incident"] == sent[1].notification.incident_key
    # the link and the device behind the cut are members, never pages of their own
    assert {a.rule for a in page.alerts} == {"SiteIsolated", "LinkDown", "InterfaceDown",
                                             "DeviceUnreachable"}
    (record,) = [i for i in run.engine.history if i.key == page.incident_key]
    assert {"DeviceUnreachable/device=bptl-sw1", "LinkDown/link=L27",
            "SiteIsolated/site=bp-thanhloa"} <= set(record.seen_alerts)


def test_fibre_cut_to_a_hub_with_sites_behind_it(inventory: Inventory, topo: Topology) -> None:
    """The Thất Khê ring is open at L04 for planned work (maintenance: recorded, silent);
    a landslide then cuts L03: one page naming L03 and the 7 sites cut off, one resolve."""
    windows = ({"name": "L04 re-splicing", "links": ["L04"]},)
    run = started(inventory, topo, _with_maintenance(windows, run_start=True))
    assert run.run(600, [(0, cut("L04"))]) == []  # in maintenance: nothing sent...
    held = [i for i in run.engine.open_incidents() if i.status == "firing"]
    assert [i.last_decision["reason"] for i in held] == ["maintenance"]  # ...but recorded
    assert "hub-thatkhe" in held[0].redundancy_lost
    t_cut = run.now + 3
    sent = run.run(1800, [(3, cut("L03")), (1200, repair("L03"))])
    # hub first (it explains the rest), then posts, gates, communes
    area = ("hub-thatkhe", "bp-binhnghi", "bp-quockhanh", "bg-binhnghi", "bg-nanua",
            "cm-quockhanh", "cm-quocviet")
    assert summary(sent) == [("firing", "new", "critical", area),
                             ("resolved", "resolved", "critical", area)]
    page = sent[0].notification
    assert sent[0].at - t_cut <= DETECT
    assert [c.element for c in page.root_cause] == ["link:L03", "link:L04"]
    assert "Mất liên lạc 7 trạm: " in page.annotations["summary_vi"]
    assert "tuyến cáp quang Na Sầm – Thất Khê (L03)" in page.annotations["summary_vi"]
    assert "7 sites unreachable" in page.annotations["summary_en"]
    # the ring incident is still held by maintenance, its record intact
    (ring,) = run.engine.open_incidents()
    assert ring.roots == ["link:L04"] and ring.last_decision["reason"] == "maintenance"


def test_hub_node_failure_pages_once_for_the_hub_and_its_dependants(
        inventory: Inventory, topo: Topology) -> None:
    """Thất Khê loses power with no battery: both ring fibres report down from outside.
    One page for the 7 sites; the root cause is the node (two links only seen from
    outside at one dark site), with L03 and L04 as its evidence."""
    def blackout(world: World, now: float) -> None:
        world.fail_mains("hub-thatkhe", now, runtime=0)

    def power_back(world: World, now: float) -> None:
        world.restore_mains("hub-thatkhe", now)

    run = started(inventory, topo)
    t0 = run.now + 11
    sent = run.run(300, [(11, blackout)])
    assert [s[:2] for s in summary(sent)] == [("firing", "new")]
    page = sent[0].notification
    assert sent[0].at - t0 <= DETECT
    assert {s.site_id for s in page.cut_off} == THATKHE_AREA
    # tk-agg1's failed poll came before the second link report: the page blames the node
    (root,) = page.root_cause
    assert root.element == "site:hub-thatkhe" and root.evidence == ("L03", "L04")
    assert "Nguyên nhân gốc: mất liên lạc toàn bộ thiết bị tại Nút truyền dẫn Thất Khê " \
        "(tuyến L03, L04 mất tín hiệu)." in page.annotations["summary_vi"]
    (incident,) = run.engine.open_incidents()
    assert incident.roots == ["site:hub-thatkhe"]
    assert incident.evidence == ["link:L03", "link:L04"] and incident.down_sites == [
        "hub-thatkhe"]
    sent = run.run(1500, [(900, power_back)])
    assert [s[:2] for s in summary(sent)] == [("resolved", "resolved")]
    assert sent[0].notification.incident_key == page.incident_key


def test_microwave_fade(inventory: Inventory, topo: Topology) -> None:
    """Rain fade on L30 (both ends 15 dB below plan for 10 min): one major notification for
    the link (both radios' alerts in it), one resolve."""
    def fade(world: World, now: float) -> None:
        world.fade_db.update({"ms-mw5": 15.0, "bptm-mw1": 15.0})

    def clear(world: World, now: float) -> None:
        world.fade_db.clear()

    run = started(inventory, topo)
    sent = run.run(1500, [(0, fade), (600, clear)])
    assert summary(sent) == [("firing", "new", "major", ()), ("resolved", "resolved", "major",
                                                              ())]
    page = sent[0].notification
    assert page.headline == "radio_fade"
    assert {a.subject for a in page.alerts if a.rule == "RadioFade"} == {
        "device=bptm-mw1,interface=radio-1,series=ifIndex=1;radio=radio-1",
        "device=ms-mw5,interface=radio-1,series=ifIndex=1;radio=radio-1"}
    assert page.annotations["summary_vi"].startswith(
        "[CHÍNH] Suy giảm tín hiệu tuyến viba Mẫu Sơn – Tú Mịch (L30): mức thu -60.0 dBm, "
        "thấp hơn thiết kế 15.0 dB.")
    assert sent[0].notification.incident_key == sent[1].notification.incident_key


def test_mains_failure_with_battery_countdown(inventory: Inventory, topo: Topology) -> None:
    """Mẫu Sơn loses mains with 50 min of battery: one page (on battery), one escalation when
    less than 30 min remain, no page per poll as the runtime counts down, one resolve when
    mains returns before the battery is empty."""
    def mains_off(world: World, now: float) -> None:
        world.fail_mains("hub-mauson", now, runtime=50 * 60)

    def mains_on(world: World, now: float) -> None:
        world.restore_mains("hub-mauson", now)

    run = started(inventory, topo)
    sent = run.run(3000, [(0, mains_off), (35 * 60, mains_on)])
    assert summary(sent) == [("firing", "new", "major", ()),
                             ("firing", "escalated", "critical", ()),
                             ("resolved", "resolved", "critical", ())]
    first, worse = sent[0].notification, sent[1].notification
    assert first.annotations["summary_vi"].startswith(
        "[CHÍNH] Mất điện lưới tại Trạm chuyển tiếp viba đỉnh Mẫu Sơn: đang chạy ắc quy, "
        "còn khoảng ")
    assert "Sắp cạn ắc quy" in worse.annotations["summary_vi"]
    assert 19 * 60 <= sent[1].at - sent[0].at <= 22 * 60  # 50 → below 30 min left


def test_battery_exhausted_site_goes_dark(inventory: Inventory, topo: Topology) -> None:
    """When Mẫu Sơn's battery runs out the repeater goes dark: Tú Mịch (only reachable over
    L30) is cut off; the page names the repeater as root cause and its power state."""
    def mains_off(world: World, now: float) -> None:
        world.fail_mains("hub-mauson", now, runtime=20 * 60)

    run = started(inventory, topo)
    sent = run.run(40 * 60, [(0, mains_off)])
    reasons = [(s.notification.headline, s.notification.reason) for s in sent]
    # 20 min of battery is already below the 30 min threshold: the power page says so
    assert reasons == [("battery_runtime_low", "new"), ("isolation", "new")]
    assert sent[0].notification.severity == "critical"
    assert "Sắp cạn ắc quy tại Trạm chuyển tiếp viba đỉnh Mẫu Sơn" in \
        sent[0].notification.annotations["summary_vi"]
    page = sent[1].notification
    assert [s.site_id for s in page.cut_off] == ["hub-mauson", "bp-tumich"]
    assert page.down_sites == ("hub-mauson",)
    assert [c.element for c in page.root_cause] == ["site:hub-mauson"]
    assert "đang chạy ắc quy do mất điện lưới" in page.annotations["summary_vi"]


def test_device_reboot_does_not_page(inventory: Inventory, topo: Topology) -> None:
    """bptl-sw1 restarts its agent: two polls missed, uptime back near 0; no notification."""
    def reboot(world: World, now: float) -> None:
        world.mute_agents.add("bptl-sw1")

    def back(world: World, now: float) -> None:
        world.mute_agents.discard("bptl-sw1")
        world.boot_time["bptl-sw1"] = now - 20

    run = started(inventory, topo)
    assert run.run(900, [(1, reboot), (65, back)]) == []
    assert run.state.device("bptl-sw1").reboots == 1  # state saw it; alerts stayed quiet
    assert run.engine.open_incidents() == []


def test_flapping_redundant_link_is_one_flapping_alert(inventory: Inventory,
                                                       topo: Topology) -> None:
    """L26 (Bảo Lâm airMAX backup) goes down and up every 45 s for 15 minutes: never down
    long enough for LinkDown's `for`, so flap detection raises one flapping alert; one
    resolve after it calms down."""
    run = started(inventory, topo)
    flaps = [(45 * i, (cut if i % 2 == 0 else repair)("L26")) for i in range(20)]
    sent = run.run(2700, flaps)
    assert [s[:2] for s in summary(sent)] == [("firing", "new"), ("resolved", "resolved")]
    page = sent[0].notification
    assert page.flapping
    assert "Chập chờn" in page.annotations["summary_vi"]
    assert [c.element for c in page.root_cause] == ["link:L26"]


def test_flapping_single_homed_link_pages_once(inventory: Inventory, topo: Topology) -> None:
    """L27 flaps: the first cut pages at once (the post is cut off); the flapping holds the
    incident open instead of resolving and re-paging at every change."""
    run = started(inventory, topo)
    flaps = [(40 * i, (cut if i % 2 == 0 else repair)("L27")) for i in range(20)]
    sent = run.run(2700, flaps)
    assert [s[:2] for s in summary(sent)] == [("firing", "new"), ("resolved", "resolved")]


def test_cut_that_leaves_a_site_on_its_backup_path(inventory: Inventory,
                                                    topo: Topology) -> None:
    """L07 (only fibre into Đình Lập) is cut: nothing is isolated, Đình Lập, Kiên Mộc and
    Bắc Xa now hang on Bắc Xa's 2 Mbit/s VSAT. One notification (redundancy lost, with the
    remaining capacity), one resolve."""
    run = started(inventory, topo)
    sent = run.run(1500, [(0, cut("L07")), (900, repair("L07"))])
    assert summary(sent) == [("firing", "new", "major", ()),
                             ("resolved", "resolved", "major", ())]
    page = sent[0].notification
    assert page.headline == "redundancy_lost" and page.cut_off == ()
    assert {s.site_id for s in page.redundancy_lost} == {"hub-dinhlap", "cm-kienmoc",
                                                         "bp-bacxa"}
    text = page.annotations["summary_vi"]
    assert text.startswith("[CHÍNH] Mất dự phòng: 3 trạm chỉ còn một đường truyền")
    assert "mất tuyến cáp quang Lộc Bình – Đình Lập (L07)" in text
    assert "Dung lượng còn lại 2 Mbit/s (thiết kế 1000 Mbit/s)" in text


def test_silence_suppresses_but_keeps_the_record(inventory: Inventory, topo: Topology) -> None:
    run = started(inventory, topo)
    silence = Silence((Matcher("site", "bp-thanhloa"),), starts_at=run.now,
                      ends_at=run.now + 600, created_by="noc", comment="known cut")
    run.engine.add_silence(silence)
    assert run.run(500, [(0, cut("L27"))]) == []
    (incident,) = run.engine.open_incidents()
    assert incident.status == "firing"
    assert incident.last_decision["reason"] == "silenced"
    assert incident.last_decision["detail"] == silence.id
    assert incident.cut_off == ["bp-thanhloa"]
    # the silence expires while the post is still cut off: now it is notified
    sent = run.run(300)
    assert summary(sent) == [("firing", "new", "critical", ("bp-thanhloa",))]
    assert sent[0].at >= silence.ends_at


def test_a_silence_after_the_page_keeps_the_resolve(inventory: Inventory,
                                                    topo: Topology) -> None:
    """The README's story: paged, then silenced ("the crew is on its way"), then repaired:
    nothing more while silenced, but the resolve goes out (the on-call needs the all-clear)."""
    run = started(inventory, topo)
    sent = run.run(120, [(0, cut("L27"))])
    assert [s[:2] for s in summary(sent)] == [("firing", "new")]
    run.engine.add_silence(Silence((Matcher("site", "bp-thanhloa"),), starts_at=run.now,
                                   ends_at=run.now + 7200, comment="crew on the way"))
    assert run.run(1800) == []  # no repeat while silenced
    sent = run.run(300, [(0, repair("L27"))])
    assert [s[:2] for s in summary(sent)] == [("resolved", "resolved")]


def test_silence_expired_early_by_operator(inventory: Inventory, topo: Topology) -> None:
    run = started(inventory, topo)
    silence = Silence((Matcher("link", "L2.", "=~"),), starts_at=run.now,
                      ends_at=run.now + 3600)
    run.engine.add_silence(silence)
    assert run.run(200, [(0, cut("L27"))]) == []
    run.engine.expire_silence(silence.id, run.now)
    assert [s[:2] for s in summary(run.run(30))] == [("firing", "new")]


def test_maintenance_window_suppresses_but_keeps_the_record(inventory: Inventory,
                                                            topo: Topology) -> None:
    windows = ({"name": "thanhloa power work", "sites": ["bp-thanhloa"]},)
    run = started(inventory, topo, _with_maintenance(windows, run_start=True))
    assert run.run(900, [(0, cut("L27")), (600, repair("L27"))]) == []
    (record,) = run.engine.history
    assert record.suppressed == "maintenance: thanhloa power work"
    assert record.all_cut_off == ["bp-thanhloa"] and "link:L27" in record.all_roots
    assert record.notifications == 0


@pytest.mark.parametrize("when", [60.0, 400.0], ids=["while-firing", "before-resolve"])
def test_state_round_trips_through_json_without_re_paging(inventory: Inventory,
                                                          topo: Topology,
                                                          when: float) -> None:
    """Save the engine's state mid-incident, restart from the JSON: no second page, one
    resolve, the same incident key."""
    run = started(inventory, topo)
    first = run.run(when, [(0, cut("L27"))])
    assert [s[:2] for s in summary(first)] == [("firing", "new")]
    run.engine = Engine.load_json(topo, default_rules(), run.engine.dump_json())
    rest = run.run(1200, [(600 - when, repair("L27"))])
    assert [s[:2] for s in summary(rest)] == [("resolved", "resolved")]
    assert rest[0].notification.incident_key == first[0].notification.incident_key
    assert json.loads(json.dumps(run.engine.dump_state())) == run.engine.dump_state()


def test_round_trip_while_pending_fires_once(inventory: Inventory, topo: Topology) -> None:
    """Saved while LinkDown of a redundant link is pending: after the restart it fires when
    its `for` is due (not earlier, not twice)."""
    run = started(inventory, topo)
    assert run.run(40, [(0, cut("L10"))]) == []
    state = json.loads(json.dumps(run.engine.dump_state()))
    assert any(a["phase"] == "pending" for a in state["alerts"])
    run.engine = Engine(topo, default_rules(), state=state)
    sent = run.run(600)
    assert [s[:2] for s in summary(sent)] == [("firing", "new")]


def test_repeat_interval(inventory: Inventory, topo: Topology) -> None:
    base = default_rules()
    rules = RuleSet(base.settings.model_copy(update={"repeat_interval": 1200.0}), base.rules)
    run = started(inventory, topo, rules)
    sent = run.run(3000, [(0, cut("L27"))])
    assert [s[:2] for s in summary(sent)] == [("firing", "new"), ("firing", "repeat"),
                                              ("firing", "repeat")]
    for earlier, later in itertools.pairwise(sent):
        assert 1200 <= later.at - earlier.at <= 1200 + TICK


# ----------------------------------------------------------------------------- helpers

def _with_maintenance(windows: tuple[dict, ...], *, run_start: bool) -> RuleSet:
    """Default rules plus maintenance windows covering the whole test run."""
    import datetime

    from world import T0

    from borderwatch.alerts.rules import Maintenance

    start = datetime.datetime.fromtimestamp(T0 - 60, datetime.UTC)
    end = start + datetime.timedelta(days=1)
    base = default_rules()
    extra = tuple(Maintenance(start=start, end=end, **w) for w in windows)
    return RuleSet(base.settings, base.rules, extra, base.sources)


def test_dead_aggregation_switch_is_one_incident(inventory: Inventory, topo: Topology) -> None:
    """dd-agg2 at Đồng Đăng dies (dd-agg1 there still answers): the four sites behind it are
    cut off and the posts it also fed lose redundancy; one page blames the switch."""
    def crash(world: World, now: float) -> None:
        world.dead_devices.add("dd-agg2")

    def fixed(world: World, now: float) -> None:
        world.dead_devices.discard("dd-agg2")

    run = started(inventory, topo)
    sent = run.run(1200, [(0, crash), (600, fixed)])
    assert [s[:2] for s in summary(sent)] == [("firing", "new"), ("resolved", "resolved")]
    page = sent[0].notification
    assert [c.element for c in page.root_cause] == ["device:dd-agg2"]
    assert {s.site_id for s in page.cut_off} == {"bg-gadongdang", "bp-thanhloa",
                                                 "cm-dongdang", "cm-vanlang"}
    (record,) = [i for i in run.engine.history if i.key == page.incident_key]
    assert "DeviceUnreachable/device=dd-agg2" in record.seen_alerts
    assert "RedundancyLost/site=bp-baolam" in record.seen_alerts


@pytest.mark.parametrize(("text", "message"), [
    ("[]", "engine state must be a JSON object"),
    ("{", "engine state is not JSON: Expecting property name enclosed in double quotes: "
          "line 1 column 2 (char 1)"),
    ('{"version": 7}', "engine state version 7 is not supported (expected 1)"),
    ('{"version": 1, "alerts": [{"rule": "X"}]}', "engine state cannot be loaded: "
     "'subject'"),
])
def test_unusable_saved_state(topo: Topology, text: str, message: str) -> None:
    with pytest.raises(StateError) as info:
        Engine.load_json(topo, default_rules(), text)
    assert str(info.value) == message


def test_rules_or_devices_gone_after_restart(inventory: Inventory, topo: Topology) -> None:
    """A restart with a rule removed: its firing alert resolves (no orphan incident)."""
    run = started(inventory, topo)
    first = run.run(120, [(0, cut("L27"))])
    assert [s[:2] for s in summary(first)] == [("firing", "new")]
    base = default_rules()
    rules = RuleSet(base.settings, tuple(r for r in base.rules if r.kind not in (
        "site_isolated", "link_down", "interface_down", "device_unreachable", "site_down")))
    run.engine = Engine.load_json(topo, rules, run.engine.dump_json())
    rest = run.run(60)
    assert [s[:2] for s in summary(rest)] == [("resolved", "resolved")]
    assert run.engine.open_incidents() == []


def test_device_data_incomplete_is_one_low_severity_alert(inventory: Inventory,
                                                          topo: Topology) -> None:
    """A switch whose ifTable walk loops (issue 11): it answers, so nothing else fires; after
    DeviceDataIncomplete's `for` one warning says its data is incomplete, and one resolve."""
    def loops(world: World, now: float) -> None:
        world.incomplete["bptm-mw1"] = {"loop": 1}

    def fixed(world: World, now: float) -> None:
        world.incomplete.clear()

    run = started(inventory, topo)
    start = run.now
    sent = run.run(1800, [(0, loops), (900, fixed)])
    assert summary(sent) == [("firing", "new", "warning", ()),
                             ("resolved", "resolved", "warning", ())]
    page = sent[0].notification
    assert [(a.rule, a.subject) for a in page.alerts] == [("DeviceDataIncomplete",
                                                           "device=bptm-mw1")]
    assert page.annotations["summary_vi"].startswith(
        "[CẢNH BÁO] Dữ liệu của thiết bị bptm-mw1 tại Đồn Biên phòng Tú Mịch không đầy đủ (loop).")
    assert "không đầy đủ (loop)" in page.annotations["summary_vi"]
    assert "incomplete (loop)" in page.annotations["summary_en"]
    # fired no earlier than its `for` after the first partial poll
    assert sent[0].at - start >= 300
