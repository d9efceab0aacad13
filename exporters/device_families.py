"""The per-device families borderwatch adds to the profile series: one definition, two renderers.

Each family here has one series per device (`site`, `device` labels). Both exposition
paths read this table: `exporters.prometheus.BorderwatchCollector` builds
prometheus_client families from it (`registry.collect()`, used by tools and tests), and
`exporters.device_text.DeviceText` renders the same families straight to text for
/metrics. Keeping names, help texts and the "when is a series absent" rules in one
place is what keeps the two outputs identical.

A family reads one of three sources:
  * "state": the device's `DeviceSnapshot` (plus the number of profile series it
    contributes to this exposition), for every device of the topology;
  * "scheduler": the device's `collector.scheduler` stats, for every scheduled job;
  * "counters": the service's per-device `PollCounters`, for every device it polls.
A value of None means "no series for this device" (e.g. no `up` before the first poll).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Source = Literal["state", "scheduler", "counters"]
UPTIME_FAMILY = "borderwatch_device_uptime_seconds"


@dataclass(slots=True)
class PollCounters:
    """Per-device running totals the service keeps across polls (state keeps only the latest)."""

    site: str
    varbinds: int = 0  # varbinds received, all polls
    requests: int = 0  # SNMP requests sent, retries included (v1/v2c and v3)
    series_dropped: int = 0  # samples dropped by the per-device series cap
    strings_truncated: int = 0  # device strings cut to their bound (collector.device_strings)


@dataclass(frozen=True, slots=True)
class DeviceFamily:
    """One per-device family: how it is named, described and read."""

    name: str  # as prometheus_client names the family: a counter without its _total
    help: str
    type: Literal["gauge", "counter"]
    source: Source
    # state: (snapshot, profile series of the device) -> value; the others: (stats) -> value
    value: Callable[..., int | float | None]
    # True: left out when a profile already exports a family of this name (uptime)
    unless_profile: bool = False

    @property
    def sample_name(self) -> str:
        """The name its sample lines carry (counters end in _total)."""
        return self.name + "_total" if self.type == "counter" else self.name


def _up(snap: Any, n: int) -> float | None:
    return None if snap.up is None else 1.0 if snap.up else 0.0


def _partial(snap: Any, n: int) -> float | None:
    return None if not snap.up or snap.partial is None else 1.0 if snap.partial else 0.0


def _uptime(snap: Any, n: int) -> float | None:
    # a stale or failed device keeps its last sysUpTime in state; do not export it
    return snap.uptime_seconds if snap.up and not snap.stale else None


def _icmp(read: Callable[[Any], float | int | None]) -> Callable[[Any, int], float | None]:
    """A value of the device's ICMP snapshot; absent when the device is not pinged."""
    return lambda snap, n: None if snap.icmp is None else read(snap.icmp)


# ICMP reachability (collector/icmp): every pinged device, SNMP or not.
ICMP_FAMILIES: tuple[DeviceFamily, ...] = (
    DeviceFamily("borderwatch_icmp_up",
                 "1 if the device answered an echo request of its latest ping round, 0 if "
                 "none (absent if not pinged).", "gauge", "state",
                 _icmp(lambda i: 1.0 if i.up else 0.0)),
    DeviceFamily("borderwatch_icmp_rtt_seconds", "Round trip of the latest echo reply.",
                 "gauge", "state", _icmp(lambda i: i.rtt_last)),
    DeviceFamily("borderwatch_icmp_rtt_average_seconds",
                 "Mean round trip over the last `window` rounds.", "gauge", "state",
                 _icmp(lambda i: i.rtt_average)),
    DeviceFamily("borderwatch_icmp_rtt_jitter_seconds",
                 "Mean absolute difference of consecutive round trips over the last "
                 "`window` rounds.", "gauge", "state", _icmp(lambda i: i.rtt_jitter)),
    DeviceFamily("borderwatch_icmp_loss_ratio",
                 "Echo requests without a reply / requests sent, over the last `window` "
                 "rounds.", "gauge", "state", _icmp(lambda i: i.loss_ratio)),
    DeviceFamily("borderwatch_icmp_echo_requests", "Echo requests sent to the device.",
                 "counter", "state", _icmp(lambda i: i.sent_total)),
    DeviceFamily("borderwatch_icmp_echo_replies", "Echo replies received from the device.",
                 "counter", "state", _icmp(lambda i: i.received_total)),
)


DEVICE_FAMILIES: tuple[DeviceFamily, ...] = (
    DeviceFamily("borderwatch_device_up",
                 "1 if the latest poll of the device succeeded, 0 if it failed "
                 "(absent before the first poll).", "gauge", "state", _up),
    DeviceFamily("borderwatch_device_partial",
                 "1 if the device's latest poll succeeded but left its data incomplete (a "
                 "walk looped or reached a bound, values were refused; kinds in "
                 "borderwatch_device_poll_problems), 0 if complete; absent when it failed.",
                 "gauge", "state", _partial),
    DeviceFamily("borderwatch_device_partial_polls",
                 "Successful polls of the device that left its data incomplete, since start.",
                 "counter", "state", lambda snap, n: snap.partial_polls),
    DeviceFamily("borderwatch_device_poll_duration_seconds",
                 "Duration of the device's latest poll.", "gauge", "state",
                 lambda snap, n: snap.poll_duration),
    DeviceFamily("borderwatch_device_last_success_timestamp_seconds",
                 "Unix time at which the latest successful poll started.", "gauge", "state",
                 lambda snap, n: snap.last_success),
    DeviceFamily("borderwatch_device_polls",
                 "Polls of the device since the collector started.", "counter", "state",
                 lambda snap, n: snap.polls),
    DeviceFamily("borderwatch_device_poll_failures",
                 "Polls of the device that failed (timeout, bad answer).", "counter", "state",
                 lambda snap, n: snap.failures),
    DeviceFamily("borderwatch_device_reboots",
                 "Reboots detected (sysUpTime went back), since start.", "counter", "state",
                 lambda snap, n: snap.reboots),
    DeviceFamily("borderwatch_device_series",
                 "Series the device contributes to this exposition.", "gauge", "state",
                 lambda snap, n: n),
    # The system profile normally provides uptime (from the same sysUpTime); never
    # export a family twice.
    DeviceFamily(UPTIME_FAMILY, "Time since the SNMP agent (re)started, from sysUpTime.",
                 "gauge", "state", _uptime, unless_profile=True),
    DeviceFamily("borderwatch_poll_overruns",
                 "Ticks skipped because the device's previous poll was still running.",
                 "counter", "scheduler", lambda st: st.overruns),
    DeviceFamily("borderwatch_scheduler_missed_ticks",
                 "Ticks passed over because the scheduler itself woke up more than an "
                 "interval late (event loop blocked).", "counter", "scheduler",
                 lambda st: st.missed_ticks),
    DeviceFamily("borderwatch_poll_deadline_kills",
                 "Polls cancelled by the scheduler for running past their deadline (a bug "
                 "below the scheduler if not 0).", "counter", "scheduler",
                 lambda st: st.deadline_kills),
    DeviceFamily("borderwatch_poll_varbinds", "Varbinds received from the device, all polls.",
                 "counter", "counters", lambda c: c.varbinds),
    DeviceFamily("borderwatch_device_snmp_requests",
                 "SNMP requests sent to the device (retries included, v1/v2c and v3).",
                 "counter", "counters", lambda c: c.requests),
    DeviceFamily("borderwatch_device_series_dropped",
                 "Series dropped because the device produced more than the per-device "
                 "series cap.", "counter", "counters", lambda c: c.series_dropped),
    DeviceFamily("borderwatch_device_strings_truncated",
                 "Strings from the device (sysDescr, ifAlias, ...) cut to 256 characters, "
                 "counted at every poll that received one.", "counter", "counters",
                 lambda c: c.strings_truncated),
    *ICMP_FAMILIES,
)


def families_of(source: Source) -> tuple[DeviceFamily, ...]:
    """The families that read `source`, in exposition order."""
    return tuple(f for f in DEVICE_FAMILIES if f.source == source)
