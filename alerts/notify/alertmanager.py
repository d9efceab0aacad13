"""The Prometheus Alertmanager v2 notifier: each incident is one alert in Alertmanager.

Firing: POST /api/v2/alerts with startsAt = when the incident started and endsAt
`ends_ahead` ahead (4 resend intervals, at least 15 min, so that a restart or stop of
borderwatch of several minutes resolves nothing); while the incident lasts the alert is
re-posted every `resend_interval` (as Prometheus does), so Alertmanager never resolves it
on its own, and an Alertmanager that restarted (it keeps no alerts on disk) learns it
again. The price: a borderwatch that is gone for good leaves its alerts firing in
Alertmanager for up to `ends_ahead`.

Times are Alertmanager's: it judges endsAt on its own clock (an endsAt in its past
resolves the alert; one before startsAt is refused). Our wall clock may be stepped or
simply differ from the Alertmanager host's, so times are sent on the steady clock moved by
the offset to Alertmanager's clock, read from the Date header of its answers (a GET
before the first post). startsAt never lies after Alertmanager's now and endsAt never
before startsAt, so every post is valid whatever either clock did.
Resolved: the same labels with endsAt = when it ended. The set to re-post lives in the
outbox file, so it survives a restart of borderwatch too.

Labels: alertname, severity, incident (the topology group that explains the incident at
its first post, see `incident_label`), root_cause, sites (cut-off site ids), site (the
first one), link (the root-cause link, if any); they are fixed at the first post of an
incident (they are Alertmanager's identity of the alert; later changes go to the
`labels_now` annotation).
Every label comes from the topology and what the devices answered, never from the
process or its clock, so the two instances of an HA pair post the same alert and an
Alertmanager cluster pages once (docs/deployment.md). Annotations: summary_vi, summary_en,
root_cause and cut_off (readable), dashboard.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from borderwatch.alerts.notify.outbox import Outbox
from borderwatch.alerts.notify.receiver import DeliveryError, post_json
from borderwatch.alerts.notify.webhook import dashboard_link
from borderwatch.collector.clock import SameClock, SteadyClock

log = logging.getLogger(__name__)

ENDS_AHEAD = 4  # endsAt of a firing alert: this many resend intervals ahead...
MIN_ENDS_AHEAD = 900.0  # ...and at least 15 min: longer than a realistic restart
OFFSET_SLACK = 2.0  # s: a new reading of Alertmanager's clock closer than this is noise
# A resolve's endsAt lies at least this far in Alertmanager's past. One in its future is
# not a resolve: Alertmanager merges it with the firing alert it holds and keeps that
# one's later endsAt (15 min ahead), so the resolve would be lost. Covers the error of the
# offset (Date has 1 s resolution; readings within OFFSET_SLACK are not taken).
RESOLVE_MARGIN = OFFSET_SLACK + 1.0


def iso(t: float) -> str:
    """RFC 3339 UTC time, as Alertmanager wants it."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _cause_text(cause: dict[str, Any]) -> str:
    ends = " – ".join(e["name"] for e in cause.get("ends", ()))
    what = cause["kind"] + (f" {cause['medium']}" if cause.get("medium") else "")
    return f"{what} {cause['ident']}" + (f" ({ends})" if ends else "")


def stable_incident(key: str) -> str:
    """The incident key without the second it was opened (`reach:site:post@1796666012`
    → `reach:site:post`): the same in every instance that sees the same outage, and still
    unique among open incidents (a group joins the open incident that holds it, so a key
    repeats only after its incident ended, when Alertmanager takes it as firing again)."""
    return key.split("@", 1)[0]


def incident_label(body: dict[str, Any]) -> str:
    """The `incident` label: the topology group that explains the incident now (e.g.
    `reach:site:hub`), else the incident key without its opening second.

    Not the incident key itself: an incident keeps the key of the group that opened it,
    and that depends on the order in which an instance saw the evidence. One instance
    that polled the post behind a hub before the hub opens `reach:site:post` and keeps it
    when the hub's failure joins it, the other opens `reach:site:hub`: two label sets,
    two Alertmanager groups, two pages from an HA pair. The group at the first post is
    what both derive from the same observations (as the `root_cause` label is), and the
    notifier keeps the first post's labels for the incident's life."""
    return body.get("group") or stable_incident(body["labels"]["incident"])


def am_alert(body: dict[str, Any], dashboard: str | None = None) -> dict[str, Any]:
    """Labels, annotations, startsAt (and endsAt for a resolve) of a notification."""
    labels = {k: v for k, v in body["labels"].items() if v}
    if "incident" in labels:
        labels["incident"] = incident_label(body)
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
                 resend_interval: float = 60.0, dashboard: str | None = None,
                 clock: SteadyClock | SameClock | None = None) -> None:
        """`clock`: the engine's clocks; None is a simulated one on the wall clock (tests
        of the shape: bodies' times are sent as they are, Alertmanager's clock unread)."""
        self.name = name
        self._clocks = SameClock(time.time) if clock is None else clock
        # Alertmanager's clock minus our steady clock, once read (SteadyClock only)
        self._am_offset: float | None = None
        self.ends_ahead = max(ENDS_AHEAD * resend_interval, MIN_ENDS_AHEAD)
        self._status = url.rstrip("/") + "/api/v2/status"
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

    # ------------------------------------------------------------------ clocks

    def _offset(self) -> float:
        """What turns a steady time into Alertmanager's time (our wall clock's until read)."""
        if self._am_offset is not None:
            return self._am_offset
        return self._clocks.to_wall(0.0)  # exactly 0 for a simulated clock

    def _note_date(self, date: str | None) -> None:
        """Read Alertmanager's clock from an answer's Date header (1 s resolution)."""
        if date is None or not isinstance(self._clocks, SteadyClock):
            return
        try:
            # a lower bound: the header is truncated to the second and was written before
            # we read it, so times computed with it never lie in Alertmanager's future
            theirs = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        offset = theirs - self._clocks.now()
        if self._am_offset is None or abs(offset - self._am_offset) > OFFSET_SLACK:
            if self._am_offset is not None:
                log.info("Alertmanager %s: its clock moved %+.0f s against ours", self.name,
                         offset - self._am_offset)
            self._am_offset = offset
        else:
            self._am_offset = max(self._am_offset, offset)  # the tighter lower bound

    async def _read_clock(self) -> None:
        """Before the first post: one GET for Alertmanager's Date (best effort)."""
        if self._am_offset is not None or not isinstance(self._clocks, SteadyClock):
            return
        try:
            async with self._client().get(
                    self._status, timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                await resp.read()
                self._note_date(resp.headers.get("Date"))
        except (TimeoutError, aiohttp.ClientError):
            pass  # the post itself will say what is wrong; its answer has a Date too

    def _timed(self, alert: dict[str, Any], ended: float | None = None) -> dict[str, Any]:
        """The alert as posted now: startsAt/endsAt on Alertmanager's clock, always valid."""
        now, off = self._clocks.now(), self._offset()
        since = alert.get("since")
        if since is None and "startsAt" in alert:  # remembered before times were steady
            since = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00")
                                           ).timestamp() - off
        out = {k: v for k, v in alert.items() if k not in ("since", "startsAt", "endsAt")}
        their_now = now + off
        starts = their_now if since is None else min(since + off, their_now)
        if ended is None:
            ends = their_now + self.ends_ahead
        else:  # surely in Alertmanager's past, and startsAt before it
            ends = min(ended + off, their_now - RESOLVE_MARGIN)
            starts = min(starts, ends - 0.001)
        return {**out, "startsAt": iso(starts), "endsAt": iso(ends)}

    # ------------------------------------------------------------------ posting

    async def deliver(self, body: dict[str, Any]) -> None:
        """Post one notification; remember firing ones for re-posting, forget resolved."""
        alert = am_alert(body, self.dashboard)
        times = body.get("steady") or body  # the engine's own (steady) times
        alert["since"] = times["since"]
        resolved = body["status"] == "resolved"
        ended = (times.get("ended_at") or times["at"]) if resolved else None
        async with self._lock:
            await self._read_clock()
            before = self.outbox.active(self.name).get(body["incident_key"])
            if before is not None:
                # Alertmanager identifies an alert by its label set: keep the labels of
                # the first post for the incident's life (an escalation changes sites,
                # severity or alertname; new labels would be a second alert, and the
                # old one would end as a false "resolved"). The news is in annotations.
                alert["annotations"]["labels_now"] = ", ".join(
                    f"{k}={v}" for k, v in sorted(alert["labels"].items()))
                alert["labels"] = before["labels"]
            self._note_date(await post_json(self._client(), self.name, self._endpoint,
                                            [self._timed(alert, ended)], self.timeout))
            self.outbox.set_active(self.name, body["incident_key"],
                                   None if resolved else alert)

    async def repost(self) -> bool:
        """Re-post every active alert with a fresh endsAt (one request); False if it failed."""
        async with self._lock:
            active = self.outbox.active(self.name)
            if not active:
                return True
            try:
                await self._read_clock()
                self._note_date(await post_json(
                    self._client(), self.name, self._endpoint,
                    [self._timed(a) for a in active.values()], self.timeout))
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
