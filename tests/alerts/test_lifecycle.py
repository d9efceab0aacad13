"""One alert's state machine, table-driven: for, clear_for, hysteresis, flapping, no data."""

from __future__ import annotations

import pytest

from borderwatch.alerts.lifecycle import AlertState, Phase, Transition, condition, resolve, step
from borderwatch.alerts.rules import Flap, Rule
from borderwatch.alerts.signals import Signal, Subject

SUBJECT = Subject("link", link="L27")
NO_FLAP = None
FLAP = Flap(changes=4, window=300, clear_changes=1)


def yes_no(for_: float = 0, clear_for: float = 0) -> Rule:
    return Rule.model_validate({"name": "Down", "kind": "link_down", "severity": "major",
                                "for": for_, "clear_for": clear_for})


def above(threshold: float, clear: float | None, for_: float = 0) -> Rule:
    return Rule.model_validate({"name": "Util", "kind": "link_utilization",
                                "severity": "warning", "threshold": threshold, "clear": clear,
                                "for": for_})


def below(threshold: float, clear: float | None) -> Rule:
    return Rule.model_validate({"name": "Snr", "kind": "radio_snr_low", "severity": "major",
                                "threshold": threshold, "clear": clear})


def run(rule: Rule, flap: Flap | None, steps: list[tuple[float, object]]
        ) -> list[tuple[float, str, str]]:
    """Feed (time, observation) pairs; an observation is True/False (yes/no kinds), a number
    (threshold kinds) or None (no data). Returns (time, transition, phase) per step."""
    alert = AlertState(rule.name, SUBJECT, rule.severity)
    out = []
    for t, obs in steps:
        if obs is None:
            signal = None
        elif isinstance(obs, bool):
            signal = Signal(SUBJECT, observed=obs)
        else:
            signal = Signal(SUBJECT, value=float(obs))  # type: ignore[arg-type]
        out.append((t, str(step(alert, rule, flap, signal, t)), str(alert.phase)))
    return out


CASES = [
    pytest.param(yes_no(), NO_FLAP, [(0, True), (10, True), (20, False)],
                 [(0, "firing", "firing"), (10, "none", "firing"), (20, "resolved", "inactive")],
                 id="for-0-fires-at-once"),
    pytest.param(yes_no(for_=60), NO_FLAP, [(0, True), (30, True), (60, True), (90, False)],
                 [(0, "pending", "pending"), (30, "none", "pending"),
                  (60, "firing", "firing"), (90, "resolved", "inactive")], id="for-60"),
    pytest.param(yes_no(for_=60), NO_FLAP, [(0, True), (30, False), (45, True), (90, True),
                                            (105, True)],
                 [(0, "pending", "pending"), (30, "dropped", "inactive"),
                  (45, "pending", "pending"), (90, "none", "pending"),
                  (105, "firing", "firing")], id="pending-restarts-after-a-clear"),
    pytest.param(yes_no(clear_for=60), NO_FLAP, [(0, True), (30, False), (60, True),
                                                 (90, False), (120, False), (150, False)],
                 [(0, "firing", "firing"), (30, "none", "firing"), (60, "none", "firing"),
                  (90, "none", "firing"), (120, "none", "firing"),
                  (150, "resolved", "inactive")], id="clear-for-holds-through-a-blip"),
    pytest.param(yes_no(for_=60), NO_FLAP, [(0, True), (30, None), (60, True)],
                 [(0, "pending", "pending"), (30, "dropped", "inactive"),
                  (60, "pending", "pending")], id="no-data-drops-pending"),
    pytest.param(yes_no(), NO_FLAP, [(0, True), (30, None), (600, None), (630, False)],
                 [(0, "firing", "firing"), (30, "none", "firing"), (600, "none", "firing"),
                  (630, "resolved", "inactive")], id="no-data-holds-firing"),
    pytest.param(above(0.85, 0.75), NO_FLAP,
                 [(0, 0.5), (10, 0.9), (20, 0.8), (30, 0.86), (40, 0.76), (50, 0.75)],
                 [(0, "none", "inactive"), (10, "firing", "firing"), (20, "none", "firing"),
                  (30, "none", "firing"), (40, "none", "firing"),
                  (50, "resolved", "inactive")], id="hysteresis-above"),
    pytest.param(above(0.85, 0.75), NO_FLAP, [(0, 0.8), (10, 0.84)],
                 [(0, "none", "inactive"), (10, "none", "inactive")],
                 id="band-does-not-start-an-alert"),
    pytest.param(above(0.85, None), NO_FLAP, [(0, 0.86), (10, 0.85)],
                 [(0, "firing", "firing"), (10, "resolved", "inactive")],
                 id="no-clear-means-threshold"),
    pytest.param(below(20, 23), NO_FLAP, [(0, 25), (10, 19.9), (20, 22), (30, 23)],
                 [(0, "none", "inactive"), (10, "firing", "firing"), (20, "none", "firing"),
                  (30, "resolved", "inactive")], id="hysteresis-below"),
    pytest.param(yes_no(for_=120), FLAP,
                 [(0, True), (30, False), (60, True), (90, False), (120, True), (150, False),
                  (400, False), (700, False)],
                 [(0, "pending", "pending"), (30, "dropped", "inactive"),
                  (60, "pending", "pending"), (90, "dropped", "inactive"),
                  (120, "firing", "firing"),  # 4th change: flapping, fires past `for`
                  (150, "none", "firing"),  # flapping: cannot resolve
                  (400, "none", "firing"),  # window still holds 2 changes
                  (700, "resolved", "inactive")],  # calm again and clear: one resolve
                 id="flapping-fires-and-holds"),
]


@pytest.mark.parametrize(("rule", "flap", "steps", "expected"), CASES)
def test_lifecycle(rule: Rule, flap: Flap | None, steps: list, expected: list) -> None:
    assert run(rule, flap, steps) == expected


def test_flapping_flag_and_change_window() -> None:
    rule, alert = yes_no(for_=300), AlertState("Down", SUBJECT, "major")
    for i, t in enumerate((0, 10, 20, 30)):
        step(alert, rule, FLAP, Signal(SUBJECT, observed=i % 2 == 0), t)
    assert alert.changes == [10, 20, 30]  # the first observation is not a change
    assert not alert.flapping and alert.phase is Phase.INACTIVE
    step(alert, rule, FLAP, Signal(SUBJECT, observed=True), 40)  # the 4th change
    assert alert.flapping and alert.phase is Phase.FIRING
    step(alert, rule, FLAP, Signal(SUBJECT, observed=True), 341)
    assert alert.changes == [] and not alert.flapping  # the window moved on
    assert alert.phase is Phase.FIRING and alert.cond is True  # still down: still firing


def test_first_observation_is_not_a_change() -> None:
    rule, alert = yes_no(), AlertState("Down", SUBJECT, "major")
    step(alert, rule, FLAP, Signal(SUBJECT, observed=False), 0)
    assert alert.changes == []


def test_forced_clear_overrides_the_value() -> None:
    rule = Rule.model_validate({"name": "Batt", "kind": "battery_runtime_low",
                                "severity": "critical", "threshold": 1800})
    assert condition(rule, Signal(SUBJECT, value=600), None) is True
    assert condition(rule, Signal(SUBJECT, value=600, observed=False), True) is False
    assert condition(rule, Signal(SUBJECT), True) is None


def test_resolve_when_the_subject_disappears() -> None:
    rule, alert = yes_no(), AlertState("Down", SUBJECT, "major")
    step(alert, rule, NO_FLAP, Signal(SUBJECT, observed=True), 0)
    assert resolve(alert, 50) is Transition.RESOLVED and alert.resolved_at == 50
    assert resolve(alert, 60) is Transition.NONE


def test_state_round_trip() -> None:
    rule, alert = yes_no(for_=60), AlertState("Down", SUBJECT, "major")
    step(alert, rule, FLAP, Signal(SUBJECT, observed=True, info={"reason": "x"}), 0)
    again = AlertState.from_dict(alert.to_dict())
    assert again == alert and again.key == "Down/link=L27"
