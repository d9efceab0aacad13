"""The generic webhook notifier: one JSON POST per notification.

Body (version 1; receivers should ignore keys they do not know)::

    {
      "version": 1,
      "receiver": "ops",                      # the receiver's name in the inventory
      "dedup_key": "<incident>|firing|<since>",  # the same for a re-delivery: drop repeats
      "incident_key": "reach:link:L27",       # stable for the incident's whole life
      "status": "firing" | "resolved",
      "reason": "new" | "escalated" | "repeat" | "resolved" | "removed_from_inventory",
      "severity": "critical" | "major" | "warning",
      "language": "vi" | "en",
      "text": "...",                          # the summary in the receiver's language
      "dashboard": "http://..." | null,
      "notification": { Notification.to_dict(): root_cause, cut_off, alerts, since, ... }
    }

A delivery can happen twice (a crash after the POST but before the delivered marker):
`dedup_key` is what a receiver drops duplicates by.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from borderwatch.alerts.notify.outbox import dedup_key
from borderwatch.alerts.notify.receiver import post_json


def dashboard_link(template: str | None, body: dict[str, Any]) -> str | None:
    """The dashboard URL of a notification: `{site}` becomes the first affected site."""
    if not template:
        return None
    sites = [s["site_id"] for s in body.get("cut_off", ())]
    if not sites:
        sites = [a["site"]["site_id"] for a in body.get("alerts", ()) if a.get("site")]
    return template.replace("{site}", sites[0] if sites else "")


def webhook_payload(name: str, body: dict[str, Any], language: str,
                    dashboard: str | None = None) -> dict[str, Any]:
    """The documented webhook body for one notification."""
    return {
        "version": 1, "receiver": name, "dedup_key": dedup_key(body),
        "incident_key": body["incident_key"], "status": body["status"],
        "reason": body["reason"], "severity": body["severity"], "language": language,
        "text": body["annotations"].get(f"summary_{language}", ""),
        "dashboard": dashboard_link(dashboard, body), "notification": body,
    }


class WebhookNotifier:
    """POSTs the documented JSON to one URL (which may carry a token; it is never logged)."""

    def __init__(self, name: str, url: str, *, language: str = "vi", timeout: float = 10.0,
                 dashboard: str | None = None) -> None:
        self.name = name
        self._url = url
        self.language = language
        self.timeout = timeout
        self.dashboard = dashboard
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.name!r})"  # never the URL

    async def deliver(self, body: dict[str, Any]) -> None:
        """POST one notification."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        await post_json(self._session, self.name, self._url,
                        webhook_payload(self.name, body, self.language, self.dashboard),
                        self.timeout)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
