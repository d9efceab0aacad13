"""The network state read back from a central TSDB, for the alert engine of every shard.

With `run --shard i/n` no collector sees the whole topology: a site's status needs every
site between it and the core, which another shard may poll. The central evaluator
(`borderwatch alerts --source prometheus URL`, borderwatch/central.py) runs the same engine on
a `TsdbState`: device and interface state read from the TSDB that scrapes all shards,
through the Prometheus HTTP API's instant queries (`/api/v1/query`; VictoriaMetrics
answers the same API), turned into the `DeviceSnapshot`s and `LinkSnapshot`s the engine
gets from the in-process collector. Links are judged by the collector's own functions
(collector.state.link_end, judge_link) from both ends' interfaces, whichever shard polled
each end; the shards' own `borderwatch_link_up` is ignored, since a shard sees only its end.

What a device is, from the TSDB:
- `up`: its latest `borderwatch_device_up` sample. A device with no sample, or whose
  sample is older than `stale_after` seconds by the TSDB's clock, is unknown (`up=None`),
  never down: its shard or the scrape is gone, not the device. (Prometheus also ends a
  series at once when its target's scrape fails, with a staleness marker.)
- its latest success from `borderwatch_device_last_success_timestamp_seconds`, as an age
  on the TSDB's clock, so the evaluator's clock never compares with a shard's;
- its measurements (every metric of the profiles' catalog) and, for counters, their
  `rate()` over `rate_window`, so the threshold rules see what they see in `run`;
- its ping view from the `borderwatch_icmp_*` gauges.

When two instances export the same device (an HA pair of shards, a resharding), the one
whose `borderwatch_device_up` sample is the newest wins, for every series of that device.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from borderwatch.collector.icmp.stats import IcmpSnapshot
from borderwatch.collector.profiles import MetricInfo
from borderwatch.collector.samples import Kind, Labels
from borderwatch.collector.state import (
    DeviceSnapshot,
    InterfaceState,
    LinkSnapshot,
    interfaces_by_name,
    interfaces_from_series,
    judge_link,
    link_end,
)
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec

log = logging.getLogger(__name__)

# The labels that say where a series came from, not what it measures: left out of a
# measurement's labels (a profile's rows are keyed by their own labels, e.g. ifIndex).
ORIGIN_LABELS = frozenset({"__name__", "site", "device", "instance", "job"})

# name → PromQL: the per-device queries besides the measurements (one table, one loop).
DEVICE_QUERIES: dict[str, str] = {
    "up": "borderwatch_device_up",
    "age": "time() - timestamp(borderwatch_device_up)",
    "success_age": "time() - borderwatch_device_last_success_timestamp_seconds",
    "partial": "borderwatch_device_partial",
    "icmp_up": "borderwatch_icmp_up",
    "icmp_age": "time() - timestamp(borderwatch_icmp_up)",
    "icmp_rtt": "borderwatch_icmp_rtt_seconds",
    "icmp_rtt_average": "borderwatch_icmp_rtt_average_seconds",
    "icmp_jitter": "borderwatch_icmp_rtt_jitter_seconds",
    "icmp_loss": "borderwatch_icmp_loss_ratio",
}


class TsdbError(Exception):
    """The TSDB could not be read: which query, where, and why (no secret in it)."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant query's answer: its labels and value."""

    labels: Mapping[str, str]
    value: float

    @property
    def device(self) -> str:
        return self.labels.get("device", "")

    @property
    def instance(self) -> str:
        return self.labels.get("instance", "")


def parse_result(body: Any, what: str) -> list[Sample]:
    """An `/api/v1/query` answer (vector) → samples; TsdbError for anything else."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise TsdbError(f"{what}: {error or 'not a Prometheus API answer'}")
    data = body.get("data") or {}
    if data.get("resultType") != "vector":
        raise TsdbError(f"{what}: expected a vector, got {data.get('resultType')!r}")
    out = []
    for row in data.get("result", []):
        try:
            out.append(Sample(dict(row["metric"]), float(row["value"][1])))
        except (KeyError, IndexError, TypeError, ValueError):
            raise TsdbError(f"{what}: malformed series {str(row)[:200]!r}") from None
    return out


class PromQueryClient:
    """Instant queries against a Prometheus-compatible HTTP API, with a deadline each."""

    def __init__(self, url: str, session: aiohttp.ClientSession, *, timeout: float) -> None:
        self.url = url.rstrip("/")
        self._session = session
        self._timeout = timeout

    async def query(self, expr: str) -> list[Sample]:
        """POST /api/v1/query (a long selector does not fit a URL); TsdbError on failure."""
        what = f"query {expr[:80]!r} at {self.url}"
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                async with self._session.post(self.url + "/api/v1/query",
                                              data={"query": expr}) as resp:
                    try:
                        body = await resp.json(content_type=None)
                    except ValueError:
                        raise TsdbError(f"{what}: HTTP {resp.status}, not JSON") from None
        except TimeoutError:
            raise TsdbError(f"{what} timed out after "
                            f"{time.monotonic() - started:.1f} s") from None
        except aiohttp.ClientError as exc:
            raise TsdbError(f"{what}: {type(exc).__name__}: {exc}") from None
        return parse_result(body, what)


def measurement_queries(catalog: Mapping[str, MetricInfo], rate_window: str
                        ) -> dict[str, str]:
    """The profiles' metrics: one selector for every raw value, one rate() per counter
    (rate() drops the metric name, so each counter needs a query of its own)."""
    names = sorted(catalog)
    queries = {"series": '{__name__=~"' + "|".join(names) + '"}'}
    for name in names:
        if catalog[name].kind == Kind.COUNTER:
            queries[f"rate:{name}"] = f"rate({name}[{rate_window}])"
    return queries


def _row(sample: Sample) -> Labels:
    return tuple(sorted((k, v) for k, v in sample.labels.items() if k not in ORIGIN_LABELS))


def _chosen(up: Iterable[Sample], age: Iterable[Sample], stale_after: float
            ) -> dict[str, str]:
    """Per device, the instance whose `device_up` sample is the newest and fresh enough."""
    ages = {(s.device, s.instance): s.value for s in age}
    best: dict[str, tuple[float, str]] = {}
    for s in up:
        a = ages.get((s.device, s.instance), math.inf)
        if a <= stale_after and (s.device not in best or a < best[s.device][0]):
            best[s.device] = (a, s.instance)
    return {device: instance for device, (_, instance) in best.items()}


def build_snapshots(devices: Sequence[DeviceSpec], links: Sequence[LinkSpec],
                    results: Mapping[str, list[Sample]], now: float, *, stale_after: float
                    ) -> tuple[list[DeviceSnapshot], list[LinkSnapshot]]:
    """The engine's input from the queries' answers (pure): `now` is the evaluator's steady
    time when they were read; ages from the TSDB's clock become times on that clock."""
    chosen = _chosen(results.get("up", []), results.get("age", []), stale_after)

    def mine(name: str) -> dict[str, list[Sample]]:
        out: dict[str, list[Sample]] = {}
        for s in results.get(name, []):
            if s.device in chosen and chosen[s.device] == s.instance:
                out.setdefault(s.device, []).append(s)
        return out

    by_query = {name: mine(name) for name in results}

    def one(name: str, device: str) -> float | None:
        rows = by_query.get(name, {}).get(device)
        return rows[0].value if rows else None

    snaps: list[DeviceSnapshot] = []
    by_name: dict[str, dict[str, InterfaceState]] = {}
    for spec in devices:
        snap = DeviceSnapshot(spec.device_id, spec.site_id, spec.address, spec.interval,
                              snmp=spec.snmp)
        up = one("up", spec.device_id)
        if up is not None:
            snap.up = up == 1
            snap.stale = not snap.up
            success_age = one("success_age", spec.device_id)
            if success_age is not None and math.isfinite(success_age):
                snap.last_success_steady = now - max(0.0, success_age)
            partial = one("partial", spec.device_id)
            snap.partial = None if partial is None else partial == 1
            series: dict[str, dict[Labels, int | float]] = {}
            rates: dict[str, dict[Labels, float]] = {}
            for s in by_query.get("series", {}).get(spec.device_id, []):
                series.setdefault(s.labels["__name__"], {})[_row(s)] = s.value
            for name, per_device in by_query.items():
                if name.startswith("rate:"):
                    for s in per_device.get(spec.device_id, []):
                        rates.setdefault(name[5:], {})[_row(s)] = s.value
            if snap.up:
                snap.series, snap.rates = series, rates
                snap.interfaces = interfaces_from_series(series, rates)
            snap.icmp = _icmp(functools.partial(one, device=spec.device_id), now, stale_after)
        snaps.append(snap)
        by_name[spec.device_id] = interfaces_by_name(snap.interfaces.values())
    snap_of = {s.device_id: s for s in snaps}
    link_snaps = []
    for spec in links:
        link = LinkSnapshot(spec)
        judge_link(link, link_end(spec.a_device, spec.a_interface, snap_of.get(spec.a_device),
                                  by_name.get(spec.a_device, {})),
                   link_end(spec.b_device, spec.b_interface, snap_of.get(spec.b_device),
                            by_name.get(spec.b_device, {})))
        link_snaps.append(link)
    return snaps, link_snaps


def _icmp(value: Callable[[str], float | None], now: float, stale_after: float
          ) -> IcmpSnapshot | None:
    """The ping view from the `borderwatch_icmp_*` gauges (None: not pinged, or stale).
    The TSDB keeps no reply time: a round that answered counts as a reply now."""
    up, age = value("icmp_up"), value("icmp_age")
    if up is None or age is None or age > stale_after:
        return None
    round_at = now - max(0.0, age)
    loss = value("icmp_loss")
    return IcmpSnapshot(up=up == 1, rtt_last=value("icmp_rtt"),
                        rtt_average=value("icmp_rtt_average"),
                        rtt_jitter=value("icmp_jitter"),
                        loss_ratio=loss if loss is not None else (0.0 if up == 1 else 1.0),
                        sent_total=0, received_total=0, last_round_steady=round_at,
                        last_reply_steady=round_at if up == 1 else None,
                        last_reply_wall=None)


@dataclass
class TsdbState:
    """The engine's StateView over the TSDB: `refresh()` reads, the snapshots stay until
    the next successful read (the evaluator does not evaluate after a failed one)."""

    devices: list[DeviceSpec]
    links: list[LinkSpec]
    client: PromQueryClient
    queries: dict[str, str]
    clock: Callable[[], float]  # steady seconds: the engine's clock
    stale_after: float
    up: bool | None = None  # the latest refresh read every query
    last_error: str | None = None
    last_success_wall: float | None = None
    refreshes: int = 0
    failures: int = 0
    _devices: list[DeviceSnapshot] = field(default_factory=list)
    _links: list[LinkSnapshot] = field(default_factory=list)

    async def refresh(self) -> bool:
        """Read every query now; False (logged once per outage) if the TSDB failed."""
        self.refreshes += 1
        names = list(self.queries)
        try:
            answers = await asyncio.gather(*(self.client.query(self.queries[n])
                                             for n in names))
        except TsdbError as exc:
            self.failures += 1
            self.last_error = str(exc)
            if self.up is not False:
                log.error("TSDB unreadable, alerts not evaluated until it answers: %s", exc)
            self.up = False
            return False
        if self.up is False:
            log.warning("TSDB answers again: evaluating")
        self.up, self.last_error = True, None
        self.last_success_wall = time.time()
        self._devices, self._links = build_snapshots(
            self.devices, self.links, dict(zip(names, answers, strict=True)), self.clock(),
            stale_after=self.stale_after)
        return True

    def device_snapshots(self) -> list[DeviceSnapshot]:
        """Every device of the inventory as the latest read saw it."""
        return self._devices

    def link_snapshots(self) -> list[LinkSnapshot]:
        """Every link, judged from both ends as the latest read saw them."""
        return self._links
