"""Ping and SNMP together, end to end in a private network namespace (issue 13, point 1).

With the post's snmpd stopped while 127.0.0.9 answers ping, the page says "SNMP agent"
and no site is down; with every packet to the post dropped (nftables in the namespace),
the site is down as before ICMP existed. The scenario (tests/icmp/ping_scenario.py) runs in
its own namespace so that its agents, its raw ICMP socket and its firewall rule touch
nothing of the host's loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCENARIO = Path(__file__).with_name("ping_scenario.py")

@pytest.fixture
def outcome(netns: str, tmp_path: Path) -> dict:
    run = subprocess.run(["ip", "netns", "exec", netns, sys.executable, str(SCENARIO),
                          str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_agent_stopped_host_answers_ping_then_whole_site_cut(outcome: dict) -> None:
    assert outcome["healthy"] == []
    # the agent is silent, the host answers: one warning about the agent, nothing cut off
    (page,) = outcome["agent_stopped"]
    assert (page["status"], page["headline"], page["severity"], page["rules"]) == \
        ("firing", "snmp_agent_down", "warning", ["SnmpAgentDown"])
    assert page["cut_off"] == []
    assert "SNMP agent of device post-sw" in page["en"] and "site is not down" in page["en"]
    assert "Tác nhân SNMP của thiết bị post-sw" in page["vi"]
    assert "unreachable" not in page["en"] and "Mất liên lạc" not in page["vi"]
    assert outcome["agent_stopped_status"] == {"core": "up", "post": "up"}
    assert 'borderwatch_device_up{device="post-sw",site="post"} 0.0' in outcome["exposition"]
    assert 'borderwatch_icmp_up{device="post-sw",site="post"} 1.0' in outcome["exposition"]
    assert [(n["status"], n["rules"]) for n in outcome["agent_back"]] == \
        [("resolved", ["SnmpAgentDown"])]
    # the whole post cut (SNMP and ICMP dropped): down as before, no agent warning
    (cut,) = outcome["cut"]
    assert (cut["status"], cut["headline"], cut["cut_off"]) == ("firing", "site_down", ["post"])
    assert "SnmpAgentDown" not in cut["rules"] and "SiteDown" in cut["rules"]
    assert "Don Bien phong Thanh Loa unreachable" in cut["en"]
    assert outcome["cut_status"]["post"] in ("down", "isolated")
    assert outcome["cut_icmp_up"] is False
