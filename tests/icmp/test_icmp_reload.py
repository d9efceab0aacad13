"""The pinger follows a hot reload of the real service (issue 12 point 1, issue 13's pinger):
an added device is pinged, a removed one stops and its series go, a changed address is
pinged at its new address (dropped there by nftables: it stops answering). The scenario
(tests/icmp/reload_scenario.py) runs in its own network namespace, as ping_scenario does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCENARIO = Path(__file__).with_name("reload_scenario.py")

def test_pinger_follows_a_hot_reload(netns: str, tmp_path: Path) -> None:
    run = subprocess.run(["ip", "netns", "exec", netns, sys.executable, str(SCENARIO),
                          str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    assert {d: v["up"] for d, v in out["before"].items()} == \
        {"sw1": True, "cam1": True, "cam2": True}
    assert out["reload"] == {"ok": True, "problems": []}
    assert out["targets"] == {"sw1": "127.0.0.1", "cam2": "127.0.0.33", "cam3": "127.0.0.34"}
    # the moved device starts afresh: no old-address round trips in its new series
    assert "cam1" not in out["just_after"] and out["just_after"]["cam2"] is None
    after = out["after"]
    assert set(after) == {"sw1", "cam2", "cam3"}
    assert after["cam3"]["up"] is True and after["sw1"]["up"] is True
    assert after["cam2"]["up"] is False and after["cam2"]["loss"] == 1.0
    assert after["sw1"]["sent"] > out["before"]["sw1"]["sent"]  # never stopped
    assert not any('device="cam1"' in line for line in out["exposition"])
    assert 'borderwatch_icmp_up{device="cam3",site="post"} 1.0' in out["exposition"]
    assert 'borderwatch_icmp_up{device="cam2",site="post"} 0.0' in out["exposition"]
