"""lab.quality's margins, from the lab's measured apply time, keep the scenarios apart from
what a slow lab does on its own: checked on the rules file as the engine loads it, for apply
times from a quiet machine (0.3 s) to one under stress-ng on a busy host (5 s, seen).

Each check is one way a loaded run failed: the flap's third change outside a fixed 16 s
window; an agent's restart longer than darkness (a second incident); darkness capped below
a fixed reboot silence; partial polls flapping DeviceDataIncomplete past its `for`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from borderwatch.alerts.rules import Flap, Rule, RuleSet, load_rules
from borderwatch.lab.quality import FLAP_PERIOD, INTERVAL, RETRIES, TICK, TIMEOUT, Timings

APPLY_TIMES = (0.3, 1.0, 2.0, 3.0, 5.0)


def _rules(timings: Timings, tmp_path: Path
           ) -> tuple[dict[str, tuple[Rule, Flap | None]], RuleSet]:
    path = tmp_path / "rules.yaml"
    path.write_text(timings.rules())
    ruleset = load_rules(path)
    return {r.name: (r, ruleset.flap(r)) for r in ruleset.rules}, ruleset


@pytest.mark.parametrize("apply", APPLY_TIMES)
def test_margins_follow_the_apply_time(apply: float, tmp_path: Path) -> None:
    t = Timings(apply)
    rules, ruleset = _rules(t, tmp_path)
    restart = t.SLACK * apply  # the longest restart the margins allow for
    seen_late = INTERVAL + TIMEOUT * (RETRIES + 1) + 2 * TICK  # a poll, its retry, ticks
    # a flap's first three changes, each FLAP_PERIOD plus a restart after the last, seen
    # up to a poll late, fall within the window of the flapping scenario's rules
    for name in ("LinkDown", "RedundancyLost"):
        _, flap = rules[name]
        assert flap is not None and flap.changes == 3
        assert flap.window >= 2 * (FLAP_PERIOD + restart) + seen_late, (name, flap)
    # a restart (silent up to `restart`, then seen a poll late) is not yet darkness...
    dark = ruleset.settings.dark_after_intervals * INTERVAL
    assert dark >= restart + TICK, (dark, restart)
    # ... while the reboot's silence outlasts darkness, its first failed poll and a tick
    assert t.reboot_down >= dark + seen_late, (t.reboot_down, dark)
    # an unreachable device does not page while its agent restarts
    unreachable, flap = rules["DeviceUnreachable"]
    assert flap is None and unreachable.for_ >= restart + seen_late
    # the backup-path cut: its link stays down for the page, the hold and a late restore
    assert rules["LinkDown"][0].for_ >= t.late


def test_partial_polls_do_not_flap_device_data_incomplete(tmp_path: Path) -> None:
    rules, _ = _rules(Timings(1.0), tmp_path)
    rule, flap = rules["DeviceDataIncomplete"]
    assert flap is None and rule.for_ >= 300
