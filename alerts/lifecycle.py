"""One alert's life: inactive → pending → firing → resolved, as a pure function of (state, now).

As Prometheus' alerting rules, plus three things a flaky border network needs:

* hysteresis: a threshold alert fires past `threshold` and clears only back at `clear`;
  between the two the previous condition holds;
* `clear_for`: a firing alert resolves only after its condition stayed clear this long;
* flap detection: `changes` condition changes within `window` make the alert fire at once as
  *flapping* (bypassing `for`, so that a link that never stays down long enough still
  raises one alert), and it cannot resolve until the window holds at most `clear_changes`.

No data (`cond` None) holds a firing alert and drops a pending one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from borderwatch.alerts.rules import Flap, Rule
from borderwatch.alerts.signals import Signal, Subject


class Phase(StrEnum):
    """Where an alert is in its life."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


class Transition(StrEnum):
    """What a step changed (NONE most of the time)."""

    NONE = "none"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    DROPPED = "dropped"  # pending, then cleared before it fired: nobody heard of it


@dataclass
class AlertState:
    """The remembered state of one alert instance (one rule × one subject)."""

    rule: str
    subject: Subject
    severity: str
    phase: Phase = Phase.INACTIVE
    cond: bool | None = None  # the condition after hysteresis, at the last evaluation with data
    value: float | None = None
    active_since: float | None = None  # condition true since (pending or firing)
    firing_since: float | None = None
    clear_since: float | None = None  # condition false since, while firing
    resolved_at: float | None = None
    changes: list[float] = field(default_factory=list)  # condition changes within the window
    flapping: bool = False
    last_data: float | None = None  # last evaluation with data
    info: dict[str, Any] = field(default_factory=dict)
    incident: str | None = None  # set once it was part of a notified incident (sticky)

    @property
    def key(self) -> str:
        """Unique alert key: rule name and subject."""
        return f"{self.rule}/{self.subject.key}"

    @property
    def active(self) -> bool:
        """Pending or firing."""
        return self.phase is not Phase.INACTIVE

    def forgettable(self) -> bool:
        """Nothing left to remember: inactive with no flap history."""
        return self.phase is Phase.INACTIVE and not self.changes and not self.flapping

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out = asdict(self)
        out["subject"] = self.subject.to_dict()
        out["phase"] = str(self.phase)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertState:
        """Inverse of to_dict."""
        data = dict(data)
        data["subject"] = Subject.from_dict(data["subject"])
        data["phase"] = Phase(data["phase"])
        return cls(**data)


def condition(rule: Rule, signal: Signal | None, previous: bool | None) -> bool | None:
    """The rule's condition for a signal, with hysteresis; None when there is no data."""
    if signal is None:
        return None
    spec = rule.spec
    if spec.direction is None:
        return signal.observed
    if signal.observed is False:  # the evaluator forces it clear (e.g. not on battery)
        return False
    if signal.value is None:
        return None
    value, threshold, clear = signal.value, rule.threshold, rule.clear_at
    assert threshold is not None and clear is not None  # the loader guarantees it
    if spec.direction == "above":
        if value > threshold:
            return True
        if value <= clear:
            return False
    else:
        if value < threshold:
            return True
        if value >= clear:
            return False
    return bool(previous)  # inside the hysteresis band: keep what it was


def step(alert: AlertState, rule: Rule, flap: Flap | None, signal: Signal | None,
         now: float) -> Transition:
    """Advance one alert to `now` given this evaluation's signal (None: no data)."""
    cond = condition(rule, signal, alert.cond)
    if signal is not None:
        alert.value = signal.value
        if signal.info:
            alert.info = dict(signal.info)
    if cond is not None:
        alert.last_data = now
        if alert.cond is not None and cond != alert.cond:
            alert.changes.append(now)
        alert.cond = cond
    if flap is not None:
        alert.changes = [t for t in alert.changes if t > now - flap.window]
        if not alert.flapping and len(alert.changes) >= flap.changes:
            alert.flapping = True
        elif alert.flapping and len(alert.changes) <= flap.clear_changes:
            alert.flapping = False
    else:
        alert.changes = []
        alert.flapping = False

    if alert.phase is Phase.INACTIVE:
        if alert.flapping or cond:
            alert.phase, alert.active_since = Phase.PENDING, now
            alert.resolved_at = None
            if alert.flapping or rule.for_ <= 0:
                return _fire(alert, now)
            return Transition.PENDING
        return Transition.NONE

    if alert.phase is Phase.PENDING:
        if alert.flapping:
            return _fire(alert, now)
        if not cond:
            alert.phase, alert.active_since = Phase.INACTIVE, None
            return Transition.DROPPED
        since = alert.active_since if alert.active_since is not None else now
        if now - since >= rule.for_:
            return _fire(alert, now)
        return Transition.NONE

    # FIRING
    if cond:
        alert.clear_since = None
    elif cond is False:
        if alert.clear_since is None:
            alert.clear_since = now
        if not alert.flapping and now - alert.clear_since >= rule.clear_for:
            alert.phase = Phase.INACTIVE
            alert.resolved_at = now
            alert.active_since = alert.clear_since = None
            return Transition.RESOLVED
    return Transition.NONE


def _fire(alert: AlertState, now: float) -> Transition:
    alert.phase = Phase.FIRING
    alert.firing_since = now
    alert.clear_since = None
    return Transition.FIRING


def resolve(alert: AlertState, now: float) -> Transition:
    """End an alert whose subject or rule no longer exists."""
    was = alert.phase
    alert.phase, alert.active_since, alert.clear_since = Phase.INACTIVE, None, None
    alert.changes, alert.flapping = [], False
    if was is Phase.FIRING:
        alert.resolved_at = now
        return Transition.RESOLVED
    return Transition.DROPPED if was is Phase.PENDING else Transition.NONE
