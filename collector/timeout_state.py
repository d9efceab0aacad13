"""The devices' round-trip estimates (collector/snmp/rtt.py) across restarts, and as metrics.

Why a file: a restarted collector would otherwise start every device at the initial
2 s timeout and 1 retry, and a VSAT site with a few per cent loss would show false
"down" polls until enough answers came back. The file (`snmp_timeouts.json` in the state
directory, `var/` beside the inventory by default) holds per device the SRTT, RTTVAR,
largest round trip and loss; it is written atomically (temp file, fsync, rename) every
`SAVE_INTERVAL` seconds and at shutdown, and read at start. An unreadable file is
logged once and ignored: the estimates are then learnt again, nothing else is lost.

Metrics (docs/metrics.md): `borderwatch_device_snmp_timeout_seconds` (the per-attempt
timeout the next request uses), `borderwatch_device_snmp_retries`,
`borderwatch_device_snmp_srtt_seconds` and `borderwatch_device_snmp_loss_ratio`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from borderwatch.collector.snmp.rtt import RttEstimator
from borderwatch.collector.snmp.timing import RequestTiming

log = logging.getLogger(__name__)

FILE_NAME = "snmp_timeouts.json"
FORMAT_VERSION = 1
SAVE_INTERVAL = 300.0  # seconds between saves while running (a crash loses at most this)


def timing_of(session: object) -> RequestTiming | None:
    """The session's RequestTiming (v1/v2c and v3 sessions have one; test doubles not)."""
    timing = getattr(session, "timing", None)
    return timing if isinstance(timing, RequestTiming) else None


def load(path: Path) -> dict[str, dict]:
    """device id → saved estimate; {} when the file is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s (%s): SNMP timeouts are learnt again", path, exc)
        return {}
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION \
            or not isinstance(data.get("devices"), dict):
        log.warning("ignoring %s: not a borderwatch timeout file of version %d", path,
                    FORMAT_VERSION)
        return {}
    return data["devices"]


def restore(timings: Mapping[str, RequestTiming], saved: Mapping[str, dict]) -> int:
    """Put saved estimates into the sessions' timings; returns how many were restored."""
    restored = 0
    for device_id, timing in timings.items():
        entry = saved.get(device_id)
        if entry is None:
            continue
        est = RttEstimator.from_dict(entry, timing.estimator.bounds)
        if est.srtt is not None or est.loss is not None:
            timing.estimator = est
            restored += 1
    return restored


def save(path: Path, timings: Mapping[str, RequestTiming]) -> None:
    """Write every estimate atomically (a crash mid-write leaves the previous file)."""
    body = {"version": FORMAT_VERSION,
            "devices": {i: t.estimator.to_dict() for i, t in timings.items()
                        if t.estimator.srtt is not None or t.estimator.loss is not None}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".snmp_timeouts.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(body, out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class TimeoutKeeper:
    """Loads the estimates at start, saves them periodically and at close."""

    def __init__(self, path: Path, timings: Mapping[str, RequestTiming]) -> None:
        self.path = path
        self.timings = dict(timings)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        restored = restore(self.timings, load(self.path))
        if restored:
            log.info("SNMP round-trip estimates of %d device(s) restored from %s", restored,
                     self.path)
        self._task = asyncio.get_running_loop().create_task(self._every(),
                                                            name="borderwatch-timeouts")

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(SAVE_INTERVAL)
            self._save()

    def _save(self) -> None:
        try:
            save(self.path, self.timings)
        except OSError as exc:
            log.warning("cannot save SNMP timeouts to %s: %s", self.path, exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        self._save()


class TimeoutCollector:
    """prometheus_client collector: each device's current SNMP timing (see module doc)."""

    def __init__(self, timings: Mapping[str, RequestTiming], sites: Mapping[str, str]) -> None:
        self._timings = timings
        self._sites = sites

    def describe(self) -> list[Metric]:
        return []  # collected on demand; names are documented in docs/metrics.md

    def collect(self) -> Iterator[Metric]:
        labels = ("site", "device")
        timeout = GaugeMetricFamily(
            "borderwatch_device_snmp_timeout_seconds", "Seconds the next SNMP request to "
            "the device waits for each attempt (measured with timeout: auto, else fixed).",
            labels=labels)
        retries = GaugeMetricFamily(
            "borderwatch_device_snmp_retries", "Resends after a timeout the next SNMP "
            "request to the device may use.", labels=labels)
        srtt = GaugeMetricFamily(
            "borderwatch_device_snmp_srtt_seconds", "Smoothed SNMP round trip of the device "
            "(RFC 6298 SRTT, first-attempt answers only). Absent before the first.",
            labels=labels)
        loss = GaugeMetricFamily(
            "borderwatch_device_snmp_loss_ratio", "Share of SNMP attempts lost in requests "
            "the device answered (moving). Absent before the first answer.", labels=labels)
        for device_id, timing in self._timings.items():
            key = (self._sites.get(device_id, ""), device_id)
            timeout.add_metric(key, timing.timeout())
            retries.add_metric(key, timing.retries())
            est = timing.estimator
            if est.srtt is not None:
                srtt.add_metric(key, est.srtt)
            if est.loss is not None:
                loss.add_metric(key, est.loss)
        yield from (timeout, retries, srtt, loss)
