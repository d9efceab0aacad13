"""Alertmanager's identity of an incident: the same in both instances of an HA pair.

Each instance opens the incident with the key of the first group it saw, which depends on
the order its polls failed (the post behind the hub, or the hub first). The labels it
posts must not: a different `incident` label is a second Alertmanager group and a second
page (seen in tests/alerts_service/test_ha_pair.py under load).
"""

from __future__ import annotations

from typing import Any

from borderwatch.alerts.notify.alertmanager import am_alert


def body(incident_key: str, group: str) -> dict[str, Any]:
    """A firing notification body as the engine makes it for the hub outage."""
    return {"incident_key": incident_key, "group": group, "status": "firing",
            "since": 1796680446.0, "at": 1796680447.0,
            "labels": {"alertname": "SiteIsolated", "severity": "critical",
                       "incident": incident_key, "root_cause": "site:hub",
                       "sites": "hub,post"},
            "cut_off": [{"site_id": "hub", "name": "Hub"}, {"site_id": "post", "name": "Post"}],
            "root_cause": [{"kind": "site", "ident": "hub", "element": "site:hub"}],
            "annotations": {"summary_en": "2 sites unreachable"}}


def test_instances_that_opened_the_incident_differently_post_one_label_set() -> None:
    saw_post_first = am_alert(body("reach:site:post@1796680445", "reach:site:hub"))
    saw_hub_first = am_alert(body("reach:site:hub@1796680446", "reach:site:hub"))
    assert saw_post_first["labels"] == saw_hub_first["labels"]
    assert saw_hub_first["labels"]["incident"] == "reach:site:hub"


def test_without_a_group_the_label_is_the_key_without_its_second() -> None:
    assert am_alert(body("reach:site:hub@1796680446", ""))["labels"]["incident"] == \
        "reach:site:hub"
