"""The Prometheus Alertmanager v2 notifier: each incident is one alert in Alertmanager.

Firing: POST /api/v2/alerts with startsAt = when the incident started and endsAt a few
resend intervals ahead; while the incident lasts the alert is re-posted every
`resend_interval` (as Prometheus does), so Alertmanager never resolves it on its own,
and an Alertmanager that restarted (it keeps no alerts on disk) learns it again.
Resolved: the same labels with endsAt = when it ended. The set to re-post lives in the
outbox file, so it survives a restart of borderwatch too.

Labels: alertname, severity, incident (the incident key), root_cause, sites (cut-off
site ids), site (the first one), link (the root-cause link, if any); they are fixed at
the first post of an incident (they are Alertmanager's identity of the alert; later
changes go to the `labels_now` annotation). Annotations: summary_vi, summary_en,
root_cause and cut_off (readable), dashboard.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp

from alerts.notify.outbox import Outbox
from alerts.notify.receiver import DeliveryError, post_json
from alerts.notify.webhook import dashboard_link

log = logging.getLogger(__name__)

ENDS_AHEAD = 4  # endsAt of a firing alert: this many resend intervals ahead


def iso(t: float) -> str:
    """RFC 3339 UTC time, as Alertmanager wants it."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _cause_text(cause: dict[str, Any]) -> str:
    ends = " – ".join(e["name"] for e in cause.get("ends", ()))
    what = cause["kind"] + (f" {cause['medium']}" if cause.get("medium") else "")
    return f"{what} {cause['ident']}" + (f" ({ends})" if ends else "")


def am_alert(body: dict[str, Any], dashboard: str | None = None) -> dict[str, Any]:
    """Labels, annotations, startsAt (and endsAt for a resolve) of a notification."""
    labels = {k: v for k, v in body["labels"].items() if v}
    sites = [s["site_id"] for s in body.get("cut_off", ())]
    if sites:
        labels["site"] = sites[0]
    links = [c["ident"] for c in body.get("root_cause", ()) if c["kind"] == "link"]
    if links:
        labels["link"] = links[0]
    link = dashboard_link(dashboard, body)
    annotations = {
        "summary_vi": body["annotations"].get("summary_vi", ""),
        "summary_en": body["annotations"].get("summary_en", ""),
        "root_cause": "; ".join(_cause_text(c) for c in body.get("root_cause", ())),
        "cut_off": ", ".join(s["name"] for s in body.get("cut_off", ())),
    }
    if link:
        annotations["dashboard"] = link
    alert: dict[str, Any] = {"labels": labels,
                             "annotations": {k: v for k, v in annotations.items() if v},
                             "startsAt": iso(body["since"])}
    if link:
        alert["generatorURL"] = link
    if body["status"] == "resolved":
        alert["endsAt"] = iso(body.get("ended_at") or body["at"])
    return alert


class AlertmanagerNotifier:
    """Posts incidents to Alertmanager and keeps the firing ones alive until they resolve."""

    def __init__(self, name: str, url: str, outbox: Outbox, *, timeout: float = 10.0,
                 resend_interval: float = 60.0, dashboard: str | None = None) -> None:
        self.name = name
        self._endpoint = url.rstrip("/") + "/api/v2/alerts"
        self.outbox = outbox
        self.timeout = timeout
        self.resend_interval = resend_interval
        self.dashboard = dashboard
        self.reposts = 0  # successful re-posts (tests, self-metrics)
        self.repost_failures = 0
        self._session: aiohttp.ClientSession | None = None
        # One POST at a time: a re-post that read the active set before a resolve must
        # not reach Alertmanager after it (it would fire the alert again).
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"AlertmanagerNotifier({self.name!r})"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def _with_ends(self, alert: dict[str, Any], now: float) -> dict[str, Any]:
        if "endsAt" in alert:
            return alert
        return {**alert, "endsAt": iso(now + ENDS_AHEAD * self.resend_interval)}

    async def deliver(self, body: dict[str, Any]) -> None:
        """Post one notification; remember firing ones for re-posting, forget resolved."""
        alert = am_alert(body, self.dashboard)
        async with self._lock:
            before = self.outbox.active(self.name).get(body["incident_key"])
            if before is not None:
                # Alertmanager identifies an alert by its label set: keep the labels of
                # the first post for the incident's life (an escalation changes sites,
                # severity or alertname; new labels would be a second alert, and the
                # old one would end as a false "resolved"). The news is in annotations.
                alert["annotations"]["labels_now"] = ", ".join(
                    f"{k}={v}" for k, v in sorted(alert["labels"].items()))
                alert["labels"] = before["labels"]
            await post_json(self._client(), self.name, self._endpoint,
                            [self._with_ends(alert, time.time())], self.timeout)
            self.outbox.set_active(self.name, body["incident_key"],
                                   None if body["status"] == "resolved" else alert)

    async def repost(self) -> bool:
        """Re-post every active alert with a fresh endsAt (one request); False if it failed."""
        async with self._lock:
            active = self.outbox.active(self.name)
            if not active:
                return True
            try:
                await post_json(self._client(), self.name, self._endpoint,
                                [self._with_ends(a, time.time()) for a in active.values()],
                                self.timeout)
            except DeliveryError as exc:
                self.repost_failures += 1
                log.warning("re-posting %d active alert(s) failed: %s", len(active), exc)
                return False
        self.reposts += 1
        return True

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
