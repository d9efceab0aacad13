"""The alert engine as Prometheus series: firing alerts, open incidents, delivery health.

A prometheus_client custom collector over a running `AlertService` (alerts/service_hook.py),
registered by the service when the inventory has an `alerts:` section. Like the rest of
/metrics it is built at scrape time from what the service already holds (the engine's
memory, the dispatchers' counters, one grouped query on the outbox): a scrape never waits
for an evaluation or a delivery.

* `borderwatch_alert_firing` is borderwatch's `ALERTS{alertstate="firing"}`: one series
  per firing alert instance (rule × subject), value 1. Its label set is bounded by the
  rules and the inventory: the rule, severity, the incident it belongs to, and the
  subject's site / device / link plus `subject` (the rule's subject key, which keeps two
  interface or direction alerts of one device apart).
* `borderwatch_incident_*`: one series per open incident (pending or firing), which is
  what a person is paged about; resolved incidents disappear.
* `borderwatch_alert_outbox_*` and `borderwatch_alert_notifications_*_total`: whether
  pages get out (pending rows and the age of the oldest, per receiver; delivered, refused
  and retried since the process started, from each receiver's delivery loop).

Labels never carry a receiver's URL, token or address: receivers appear by their name.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from borderwatch.alerts.lifecycle import Phase

if TYPE_CHECKING:
    from borderwatch.alerts.service_hook import AlertService

ALERT_LABELS = ("alertname", "severity", "incident", "site", "device", "link", "subject")
INCIDENT_LABELS = ("incident", "family", "status", "severity", "root_cause", "cut_off")
GAUGES = ("borderwatch_alert_firing", "borderwatch_incident_open",
          "borderwatch_incident_cut_off_sites", "borderwatch_incident_since_timestamp_seconds",
          "borderwatch_alert_evaluation_error",
          "borderwatch_alert_last_evaluation_timestamp_seconds",
          "borderwatch_alert_outbox_pending",
          "borderwatch_alert_outbox_oldest_pending_age_seconds")
COUNTERS = ("borderwatch_alert_evaluations", "borderwatch_alert_notifications_delivered",
            "borderwatch_alert_notifications_refused", "borderwatch_alert_notifications_retries")


def _elements(elements: list[str]) -> str:
    # "link:L27, site:hub-thatkhe": the root cause as the engine names it
    return ", ".join(sorted(elements))


class AlertCollector:
    """Families of one AlertService, read at each scrape (its attributes, never a copy)."""

    def __init__(self, service: AlertService, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._service = service
        self._clock = clock

    def describe(self) -> list[Metric]:
        # Names and types only: the registry checks them against other collectors at
        # registration, and `/metrics?name[]=…` finds this collector by them.
        return [*(GaugeMetricFamily(n, "") for n in GAUGES),
                *(CounterMetricFamily(n, "") for n in COUNTERS)]

    def collect(self) -> Iterator[Metric]:
        yield from self._alert_families()
        yield from self._incident_families()
        yield from self._engine_families()
        yield from self._delivery_families()

    # ------------------------------------------------------------------ alerts, incidents

    def _alert_families(self) -> Iterator[Metric]:
        engine = self._service.engine  # read each time: a failed outbox commit replaces it
        member_of = {a: inc.key for inc in engine.incidents.values() for a in inc.alerts}
        firing = GaugeMetricFamily(
            "borderwatch_alert_firing", "A firing alert (rule × subject), value 1: "
            "borderwatch's ALERTS{alertstate=\"firing\"}. `incident` groups it with the "
            "alerts of the same root cause.", labels=ALERT_LABELS)
        for key, alert in sorted(engine.alerts.items()):
            if alert.phase is not Phase.FIRING:
                continue
            subject = alert.subject
            firing.add_metric([alert.rule, alert.severity,
                               member_of.get(key) or alert.incident or "",
                               subject.site or "", subject.device or "", subject.link or "",
                               subject.key], 1.0)
        yield firing

    def _incident_families(self) -> Iterator[Metric]:
        engine = self._service.engine
        open_ = GaugeMetricFamily(
            "borderwatch_incident_open", "An open incident (pending or firing), value 1: "
            "family (reach, link, power, device, redundancy), severity once firing, root "
            "cause elements and cut-off sites (site ids, comma-separated).",
            labels=INCIDENT_LABELS)
        cut_off = GaugeMetricFamily(
            "borderwatch_incident_cut_off_sites",
            "Sites an open incident cuts off (down or isolated).", labels=["incident"])
        since = GaugeMetricFamily(
            "borderwatch_incident_since_timestamp_seconds",
            "Unix time an open incident started firing (opened, while pending).",
            labels=["incident"])
        for inc in engine.open_incidents():
            open_.add_metric([inc.key, inc.family, inc.status, inc.severity or "",
                              _elements(inc.roots), ", ".join(sorted(inc.cut_off))], 1.0)
            cut_off.add_metric([inc.key], len(inc.cut_off))
            # the engine's times are steady; exported times are wall times
            since.add_metric([inc.key], self._service.clocks.to_wall(
                inc.firing_since if inc.firing_since is not None else inc.opened_at))
        yield from (open_, cut_off, since)

    def _engine_families(self) -> Iterator[Metric]:
        svc = self._service
        yield CounterMetricFamily("borderwatch_alert_evaluations",
                                  "Evaluations of the alert rules since the service started.",
                                  value=svc.evaluations)
        yield GaugeMetricFamily(
            "borderwatch_alert_evaluation_error",
            "1 if the latest evaluation of the alert rules failed (see the log), else 0.",
            value=0.0 if svc.last_error is None else 1.0)
        last = svc.engine.last_evaluation
        if last is not None:
            yield GaugeMetricFamily(
                "borderwatch_alert_last_evaluation_timestamp_seconds",
                "Unix time of the latest evaluation of the alert rules (kept across restarts).",
                value=svc.clocks.to_wall(last))

    # ------------------------------------------------------------------ delivery

    def _delivery_families(self) -> Iterator[Metric]:
        svc = self._service
        now = self._clock()
        waiting = svc.outbox.pending_by_receiver()
        # Configured receivers always appear (0 when idle); a receiver dropped from the
        # configuration still shows while rows for it wait (they never leave on their own).
        names = sorted(set(svc.dispatchers) | set(waiting))
        pending = GaugeMetricFamily(
            "borderwatch_alert_outbox_pending",
            "Notifications in the outbox waiting for delivery to the receiver.",
            labels=["receiver"])
        oldest = GaugeMetricFamily(
            "borderwatch_alert_outbox_oldest_pending_age_seconds",
            "Age of the oldest notification waiting for the receiver (0 when none waits).",
            labels=["receiver"])
        for name in names:
            count, created = waiting.get(name, (0, now))
            pending.add_metric([name], count)
            oldest.add_metric([name], max(0.0, now - created))
        yield pending
        yield oldest
        delivered = CounterMetricFamily(
            "borderwatch_alert_notifications_delivered",
            "Notifications the receiver accepted since the service started.",
            labels=["receiver"])
        refused = CounterMetricFamily(
            "borderwatch_alert_notifications_refused",
            "Notifications the receiver refused for good (a 4xx; kept in the outbox, never "
            "retried) since the service started.", labels=["receiver"])
        retries = CounterMetricFamily(
            "borderwatch_alert_notifications_retries",
            "Failed delivery attempts that will be retried (timeout, 5xx, 429, connection "
            "error), since the service started.", labels=["receiver"])
        for name, dispatcher in sorted(svc.dispatchers.items()):
            delivered.add_metric([name], dispatcher.delivered)
            refused.add_metric([name], dispatcher.rejected)
            retries.add_metric([name], dispatcher.failures)
        yield from (delivered, refused, retries)
