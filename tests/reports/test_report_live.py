"""Live: on the lab's real agents, a fibre cut is injected and repaired while `borderwatch
run` records (the history engineer's scenario, tests/live_fibre_cut.py: the session's one
run, shared with tests/history/test_live_history.py), then `borderwatch report --from -Nm`
lists that outage with the cut link as root cause, the sites behind it, and a duration right
to within the detection margins (one poll interval plus the failure debounce and an
observation tick on each side)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
from live_fibre_cut import CUT_OFF, FAIL_TIME, TICK, LiveRun
from report_history import run_report

from borderwatch.lab.quality import INTERVAL


@pytest.mark.slow
def test_report_lists_the_live_fibre_cut(live_fibre_cut: LiveRun, tmp_path: Path) -> None:
    live = live_fibre_cut
    minutes = math.ceil((time.time() - live.cut_sent) / 60) + 1
    out = tmp_path / "report.json"
    inventory = live.path.parent.parent / "inventory.yaml"
    result = run_report([f"--from=-{minutes}m", "--inventory", str(inventory),
                         "--history", str(live.path), "--format", "json", "-o", str(out)])
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    cut = [o for o in doc["outages"] if o["root_cause"] == ["link:Q01"]]
    assert len(cut) == 1, doc["outages"]
    (outage,) = cut
    assert outage["kind"] == "isolated" and outage["sites"] == sorted(CUT_OFF)
    margin = INTERVAL + FAIL_TIME + TICK
    assert live.restore_sent - live.cut - margin <= outage["duration_seconds"] \
        <= live.restored - live.cut_sent + margin
    ranking = {r["element"]: r for r in doc["root_causes"]}
    assert set(ranking["link:Q01"]["sites"]) == set(CUT_OFF)
