"""The generated Alertmanager inhibit rules (alerts/prometheus/alertmanager.inhibit.yml) in a
REAL Alertmanager: alerts shaped like the generated Prometheus rules' are posted to its v2
API, and Alertmanager itself says which ones it inhibits, and by what.
"""

from __future__ import annotations

import datetime
import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from am_server import Alertmanager
from servers import free_tcp_port

INHIBIT_FILE = Path(__file__).resolve().parents[2] / "alerts/prometheus/alertmanager.inhibit.yml"


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    shutil.copy(INHIBIT_FILE, tmp_path / "am.yml")  # am_server starts from workdir/am.yml
    am = Alertmanager(tmp_path, free_tcp_port())
    am.start()
    try:
        yield am
    finally:
        am.stop()


def post(am: Alertmanager, alerts: list[dict[str, str]]) -> None:
    now = datetime.datetime.now(datetime.UTC)
    body = [{"labels": labels, "startsAt": now.isoformat(),
             "endsAt": (now + datetime.timedelta(hours=1)).isoformat()} for labels in alerts]
    req = urllib.request.Request(am.url + "/api/v2/alerts", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def states(am: Alertmanager) -> dict[tuple[str, str], tuple[str, int]]:
    """(alertname, subject) → (state, number of inhibiting alerts), as Alertmanager sees it."""
    out = {}
    for alert in am.alerts():
        labels = alert["labels"]
        subject = labels.get("device") or labels.get("link") or labels.get("site", "")
        out[(labels["alertname"], subject)] = (alert["status"]["state"],
                                               len(alert["status"]["inhibitedBy"]))
    return out


def test_a_cut_off_site_inhibits_its_device_alerts_but_not_the_root_cause(
        alertmanager: Alertmanager) -> None:
    post(alertmanager, [
        # Bình Nghi is cut off: the link towards it is the root cause
        {"alertname": "SiteIsolated", "site": "bp-binhnghi", "status": "isolated",
         "severity": "critical"},
        {"alertname": "LinkDown", "link": "L37", "a_site": "hub-thatkhe",
         "b_site": "bp-binhnghi", "medium": "microwave", "severity": "major"},
        {"alertname": "DeviceUnreachable", "site": "bp-binhnghi", "device": "bpbn-sw1",
         "severity": "major"},
        {"alertname": "InterfaceDown", "site": "bp-binhnghi", "device": "bpbn-mw1",
         "ifIndex": "1", "ifName": "radio-1", "severity": "warning"},
        # a device elsewhere is down on its own: it pages
        {"alertname": "DeviceUnreachable", "site": "hub-nasam", "device": "ns-mw1",
         "severity": "major"},
        # a flapping link: the flapping alert replaces the plain one
        {"alertname": "LinkDownFlapping", "link": "L07", "a_site": "hub-locbinh",
         "b_site": "hub-dinhlap", "medium": "fiber", "severity": "major", "flapping": "true"},
        {"alertname": "LinkDown", "link": "L07", "a_site": "hub-locbinh",
         "b_site": "hub-dinhlap", "medium": "fiber", "severity": "major"},
    ])
    assert states(alertmanager) == {
        ("SiteIsolated", "bp-binhnghi"): ("active", 0),
        ("LinkDown", "L37"): ("active", 0),
        ("DeviceUnreachable", "bpbn-sw1"): ("suppressed", 1),
        ("InterfaceDown", "bpbn-mw1"): ("suppressed", 1),
        ("DeviceUnreachable", "ns-mw1"): ("active", 0),
        ("LinkDownFlapping", "L07"): ("active", 0),
        ("LinkDown", "L07"): ("suppressed", 1),
    }
