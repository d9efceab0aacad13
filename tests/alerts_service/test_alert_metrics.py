"""/metrics of a service with alerts on: site status, firing alerts, open incidents and the
outbox's self-metrics, on real snmpd agents behind UDP fault proxies (alert_network).

The hub's and the post's agents are blackholed: the hub is down, the post isolated behind
it; SiteIsolated fires at once and its incident is delivered to four webhook receivers
(real aiohttp servers on loopback): one accepts, one answers 503 first, one refuses with
400, and one points at a port where nothing listens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alert_network import ENV, build
from hook_receiver import Receiver
from runtime_helpers import running_service, scrape, wait_until
from servers import Snmpd, free_tcp_port

from borderwatch.alerts.metrics import ALERT_LABELS, COUNTERS, GAUGES, INCIDENT_LABELS
from borderwatch.exporters.site_status import STATUSES


def samples(scraped: dict[str, Any], name: str) -> list[tuple[dict[str, str], float]]:
    return scraped["samples"].get(name, [])


def by_receiver(scraped: dict[str, Any], name: str) -> dict[str, float]:
    return {labels["receiver"]: value for labels, value in samples(scraped, name)}


def site_status(scraped: dict[str, Any]) -> dict[str, str]:
    """{site: its status} from the one-hot series (asserting it is one-hot)."""
    out: dict[str, list[str]] = {}
    for labels, value in samples(scraped, "borderwatch_site_status"):
        out.setdefault(labels["site"], [])
        if value == 1:
            out[labels["site"]].append(labels["status"])
        else:
            assert value == 0, (labels, value)
    assert all(len(v) == 1 for v in out.values()), out
    return {site: v[0] for site, v in out.items()}


async def test_alert_and_site_metrics_follow_an_outage(tmp_path: Path, snmpd: Snmpd) -> None:
    ops = await Receiver(script=[503]).start()  # fails once, then takes it
    refuser = await Receiver(script=[400]).start()  # refuses for good
    nobody = f"http://127.0.0.1:{free_tcp_port()}/hook"  # nothing listens there
    hooks = [{"name": "ops", "url": ops.url("/ops")},
             {"name": "refuser", "url": refuser.url("/refuser")},
             {"name": "down", "url": nobody}]
    net = await build(tmp_path, snmpd.port, {"webhooks": [
        {**h, "language": "en", "timeout": 2} for h in hooks]})
    try:
        async with running_service(net.inventory, ENV, base_dir=tmp_path) as service:
            await wait_until(lambda: all(s.up for s in service.state.device_snapshots()), 20,
                             "every device answering")
            before = await scrape(service)
            assert site_status(before) == {"core": "up", "hub": "up", "post": "up"}
            assert {lb["site"]: v for lb, v in
                    samples(before, "borderwatch_site_redundancy_lost")} == \
                {"core": 0, "hub": 0, "post": 0}
            assert samples(before, "borderwatch_alert_firing") == []
            assert samples(before, "borderwatch_incident_open") == []
            assert by_receiver(before, "borderwatch_alert_outbox_pending") == \
                {"ops": 0, "refuser": 0, "down": 0}
            assert by_receiver(before, "borderwatch_alert_outbox_oldest_pending_age_seconds") \
                == {"ops": 0, "refuser": 0, "down": 0}
            info = {lb["site"]: lb for lb, _ in samples(before, "borderwatch_site_info")}
            assert info["post"]["name"] == "Đồn Biên phòng Thanh Lòa"
            assert info["post"]["kind"] == "border_post"

            net.cut("hub-sw")
            net.cut("post-sw")
            sent = service.alerts.dispatchers
            await wait_until(lambda: sent["ops"].delivered >= 1 and
                             sent["refuser"].rejected >= 1 and sent["down"].failures >= 1, 30,
                             "delivered, refused and retried")
            after = await scrape(service)
            # the engine's times are steady; the exported ones are on the wall clock
            engine_since = {i.key: service.alerts.clocks.to_wall(i.firing_since)
                            for i in service.alerts.engine.open_incidents()}
    finally:
        net.close()
        await ops.stop()
        await refuser.stop()

    assert site_status(after) == {"core": "up", "hub": "down", "post": "isolated"}
    alerts = [lb for lb, v in samples(after, "borderwatch_alert_firing") if v == 1]
    isolated = [lb for lb in alerts if lb["alertname"] == "SiteIsolated"]
    assert [(lb["site"], lb["severity"], lb["subject"]) for lb in isolated] == \
        [("post", "critical", "site=post")]
    (incident,) = [lb for lb, _ in samples(after, "borderwatch_incident_open")]
    assert isolated[0]["incident"] == incident["incident"]
    assert (incident["status"], incident["severity"], incident["family"]) == \
        ("firing", "critical", "reach")
    assert incident["root_cause"] == "site:hub"
    assert incident["cut_off"] == "hub, post"
    key = incident["incident"]
    assert samples(after, "borderwatch_incident_cut_off_sites") == [({"incident": key}, 2)]
    ((labels, since),) = samples(after, "borderwatch_incident_since_timestamp_seconds")
    # equal but for the microseconds between two readings of the clocks' offset
    assert labels == {"incident": key} and since == pytest.approx(engine_since[key], abs=0.01)
    # delivery: each receiver's own story
    delivered = by_receiver(after, "borderwatch_alert_notifications_delivered_total")
    refused = by_receiver(after, "borderwatch_alert_notifications_refused_total")
    retries = by_receiver(after, "borderwatch_alert_notifications_retries_total")
    pending = by_receiver(after, "borderwatch_alert_outbox_pending")
    oldest = by_receiver(after, "borderwatch_alert_outbox_oldest_pending_age_seconds")
    assert delivered["ops"] >= 1 and delivered["refuser"] == 0 and delivered["down"] == 0
    assert refused == {"ops": 0, "refuser": 1, "down": 0}
    assert retries["ops"] >= 1 and retries["refuser"] == 0 and retries["down"] >= 1
    assert pending["ops"] == 0 and pending["refuser"] == 0 and pending["down"] >= 1
    assert oldest["ops"] == 0 and oldest["down"] > 0
    assert after["samples"]["borderwatch_alert_evaluations_total"][0][1] >= 1
    assert after["samples"]["borderwatch_alert_evaluation_error"][0][1] == 0
    # no receiver URL (or any part of it) in the exposition
    assert nobody not in after["text"] and ops.url("/ops") not in after["text"]


def test_label_sets_are_what_the_docs_say() -> None:
    """The label names the docs and the dashboards rely on."""
    assert ALERT_LABELS == ("alertname", "severity", "incident", "site", "device", "link",
                            "subject")
    assert INCIDENT_LABELS == ("incident", "family", "status", "severity", "root_cause",
                               "cut_off")
    assert STATUSES == ("up", "unknown", "down", "isolated")
    names = set(GAUGES) | set(COUNTERS)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    missing = [n for n in names | {"borderwatch_site_status", "borderwatch_site_info",
                                   "borderwatch_site_redundancy_lost"}
               if f"`{n}`" not in docs and f"`{n}_total`" not in docs]
    assert missing == []
