"""The per-device part of /metrics as ready text, re-rendered only for devices that changed.

Why: with thousands of devices almost every line of /metrics is a per-device series
(10,000 devices × ~56 series), and building a prometheus_client `Sample` per series on
every scrape, then letting the encoder escape and join every label again, took seconds
of the event loop (polls stalled behind it). A series' labels change rarely (an
interface renamed), its value once per poll, and most devices did not change between
two scrapes at all. So, per device:

  * the profile series are rendered to text once per poll result: the state replaces
    `snapshot.series` with a new dict on every apply (and on staleness), so an identity
    check finds the devices to re-render at the next scrape, nothing else is redone;
  * the label text `name{device="..",ifIndex="..",site=".."} ` of each series is kept
    from one render to the next (reused as a list when the rows come in the same order,
    as they do poll after poll), so a re-render only formats the values;
  * the few device-level families (device_up, polls, scheduler and poll counters) are
    formatted at each scrape from a kept `{device="..",site=".."} ` head.

A scrape then concatenates, family by family, the devices' chunks (HELP/TYPE once per
family, as the text format wants) in slices that yield to the event loop. The families
and their rules come from `exporters.device_families` and `state.metric_info`, the
same as `exporters.prometheus.BorderwatchCollector`, whose output this one matches
sample for sample (tests/runtime/test_device_text_equivalence.py). Label names are
escaped the way prometheus_client does by default (legacy names; others become `_`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.openmetrics.exposition import escape_label_name

from borderwatch.collector.samples import Kind, Labels
from borderwatch.collector.scheduler import Scheduler
from borderwatch.collector.state import DeviceSnapshot, NetworkState
from borderwatch.exporters.device_families import DeviceFamily, PollCounters, families_of

# Longest stretch of rendering between two yields to the event loop (seconds of wall
# time): a poll answer waiting behind a scrape is delayed at most about this much.
SLICE_SECONDS = 0.005
_CHECK_EVERY = 32  # devices between two looks at the clock
_FAMILY_SLICE = 1000  # devices per piece of a device-level family (~1 ms)


def series_labels(site: str, device: str, labels: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The label set of a profile series: ours first, the profile's after."""
    out = {"site": site, "device": device}
    for name, value in labels:
        # A profile label named like ours must not overwrite it (Prometheus' own rule).
        out["exported_" + name if name in ("site", "device") else name] = value
    return out


def escape_value(value: str) -> str:
    """A label value as the text format quotes it."""
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


@functools.cache
def _label_name(name: str) -> str:
    # a handful of distinct names (ifIndex, ifName...): checked once, not per series
    return escape_label_name(name)


def label_text(labels: Mapping[str, str]) -> str:
    """`{a="x",b="y"}`, names sorted as prometheus_client writes them."""
    return "{" + ",".join([f'{_label_name(k)}="{escape_value(v)}"'
                           for k, v in sorted(labels.items())]) + "}"


def value_line(value: int | float) -> str:
    """A sample value and the end of its line. Integers are written exactly (Prometheus
    parses them to the same float64 prometheus_client's float text gives); floats by
    repr(), which round-trips; NaN and the infinities in Prometheus' spelling."""
    if type(value) is int:
        return f"{value}\n"
    value = float(value)
    if value != value:
        return "NaN\n"
    if value in (float("inf"), float("-inf")):
        return "+Inf\n" if value > 0 else "-Inf\n"
    return f"{value!r}\n"


def family_header(sample_name: str, help_text: str, kind: str, openmetrics: bool) -> str:
    """HELP and TYPE lines of a family as prometheus_client writes them in each format:
    the text format names a counter family with its _total, OpenMetrics without, and
    OpenMetrics also escapes double quotes in the help."""
    if openmetrics:
        name = sample_name[:-6] if kind == "counter" and sample_name.endswith("_total") \
            else sample_name
        help_text = help_text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    else:
        name = sample_name
        help_text = help_text.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"


@dataclass(slots=True)
class RenderedText:
    """Families as text, in exposition order, and how many sample lines they hold."""

    parts: list[bytes]
    samples: int


class _Device:
    """One device's rendered profile series, kept until its snapshot's series change."""

    __slots__ = ("chunks", "count", "head", "layout", "prefixes", "snap", "version")

    def __init__(self, snap: DeviceSnapshot) -> None:
        self.snap = snap
        self.version = -1  # snap.series_version the chunks were made from
        self.chunks: dict[str, bytes] = {}  # metric -> its sample lines for this device
        self.count = 0  # profile series in `chunks`
        self.layout: tuple[str, ...] = ()  # the metrics of `chunks`, in order (_layout)
        self.head = label_text({"site": snap.site_id, "device": snap.device_id}) + " "
        # metric -> (row labels in order, their `name{...} ` text). Tuples, not lists:
        # the garbage collector stops tracking a tuple of strings after one pass, so
        # the cache adds nothing to the (stop-the-world) full collections' work.
        self.prefixes: dict[str, tuple[tuple[Labels, ...], tuple[str, ...]]] = {}

    def refresh(self) -> None:
        """Re-render the profile series if the state replaced them since the last time.

        Written to allocate no lasting container when the rows are the same as last
        time (the usual poll): the kept label lists stay, only new bytes are made.
        With millions of objects in the process, every container that outlives a
        collection makes the next full garbage collection come sooner.
        """
        snap = self.snap
        if snap.series_version == self.version:
            return
        series = snap.series
        prefixes, chunks = self.prefixes, self.chunks
        if chunks.keys() != series.keys():  # a metric came or went: new chunk map
            chunks = {}
            # The label texts of a metric that is missing from this poll (a failed or
            # partial poll) are kept for the poll that brings it back, unless the
            # device's metrics changed for good (a new profile: the map only grows).
            if len(prefixes) > 2 * len(series) + 8:
                prefixes = {m: prefixes[m] for m in series if m in prefixes}
        count = 0
        for metric, rows in series.items():
            kept = prefixes.get(metric)
            if kept is None or len(kept[0]) != len(rows) or kept[0] != tuple(rows):
                kept = prefixes[metric] = self._label_texts(metric, rows, kept)
            # (value_line inlined for integers and finite floats, most values: it is
            # a third of the cost; `v - v == 0` is False for NaN and the infinities)
            chunks[metric] = "".join(
                [f"{t}{v}\n" if (c := v.__class__) is int or (c is float and v - v == 0)
                 else t + value_line(v)
                 for t, v in zip(kept[1], rows.values(), strict=True)]).encode()
            count += len(rows)
        self.prefixes, self.chunks, self.count = prefixes, chunks, count
        self.layout = _layout(chunks)
        self.version = snap.series_version

    def _label_texts(self, metric: str, rows: Mapping[Labels, object],
                     kept: tuple[tuple[Labels, ...], tuple[str, ...]] | None
                     ) -> tuple[tuple[Labels, ...], tuple[str, ...]]:
        """Rows changed (renamed, added, removed, reordered): reuse what text there is."""
        known = dict(zip(*kept, strict=True)) if kept is not None else {}
        site, device = self.snap.site_id, self.snap.device_id
        keys = tuple(rows)
        return keys, tuple([known.get(k) or
                            metric + label_text(series_labels(site, device, k)) + " "
                            for k in keys])


_LAYOUTS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _layout(chunks: Mapping[str, bytes]) -> tuple[str, ...]:
    """The metrics of a device's chunks in order, as one tuple shared by every device
    with the same ones: devices of one profile then have the very same layout object,
    and a scrape can tell by identity that they all do (DeviceText._profile_chunks)."""
    key = tuple(chunks)
    found = _LAYOUTS.get(key)
    if found is None:
        if len(_LAYOUTS) > 10_000:  # bounded: profiles change rarely, but a reload can
            _LAYOUTS.clear()
        found = _LAYOUTS[key] = key
    return found


class DeviceText:
    """Renders the profile series and the per-device families of a NetworkState as text."""

    def __init__(self, state: NetworkState, scheduler: Scheduler | None = None,
                 poll_counters: Mapping[str, PollCounters] | None = None) -> None:
        self._state = state
        self._scheduler = scheduler
        self._counters = poll_counters
        self._devices: dict[str, _Device] = {}
        self._heads: dict[str, tuple[str, str]] = {}  # device -> (site, '{device=..} ')

    async def render(self, names: frozenset[str] | None = None, *,
                     openmetrics: bool = False) -> RenderedText:
        """Every per-device family (only those with a sample name in `names`, if given),
        yielding to the event loop every SLICE_SECONDS. State may change during the
        pauses: each device is rendered as it is when its turn comes, and its
        borderwatch_device_series counts what was rendered for it."""
        snaps = self._state.device_snapshots()
        entries: list[_Device] = []
        cache = self._devices
        pause = _Pause()
        for i, snap in enumerate(snaps):
            entry = cache.get(snap.device_id)
            if entry is None or entry.snap is not snap:
                entry = cache[snap.device_id] = _Device(snap)
            entry.refresh()
            entries.append(entry)
            if i % _CHECK_EVERY == 0:
                await pause.maybe()
        if len(cache) > len(snaps):  # devices left the topology: forget their text
            current = {s.device_id for s in snaps}
            for device_id in [d for d in cache if d not in current]:
                del cache[device_id]
        profile = self._profile_chunks(entries)

        parts: list[bytes] = []
        samples = 0
        state = self._state
        for metric, chunks in profile.items():
            if names is not None and metric not in names:
                continue
            info = state.metric_info(metric)
            kind = "counter" if info.kind is Kind.COUNTER else "gauge"
            parts.append(family_header(metric, info.help, kind, openmetrics).encode())
            parts += chunks
            if names is not None:  # (otherwise all of them are counted below, cheaper)
                samples += sum(chunk.count(b"\n") for chunk in chunks)
        if names is None:
            samples = sum(e.count for e in entries)

        heads = [e.head for e in entries]
        snapshots, counts = [e.snap for e in entries], [e.count for e in entries]
        for family in families_of("state"):
            if family.unless_profile and family.sample_name in profile:
                continue
            if names is None or family.sample_name in names:
                values = map(family.value, snapshots, counts)
                samples += await self._family(parts, family, heads, values, openmetrics, pause)
        for source, by_device in (("scheduler", self._scheduler and self._scheduler.stats),
                                  ("counters", self._counters)):
            if by_device is None:
                continue
            items = list(by_device.items())  # {device_id: stats with a .site}
            heads = [self._head(st.site, device_id) for device_id, st in items]
            for family in families_of(source):  # type: ignore[arg-type]
                if names is None or family.sample_name in names:
                    values = map(family.value, [st for _, st in items])
                    samples += await self._family(parts, family, heads, values, openmetrics,
                                                  pause)
        if len(self._heads) > 2 * len(snaps) + 100:  # devices left: forget their heads
            self._heads = {}
        return RenderedText(parts, samples)

    @staticmethod
    def _profile_chunks(entries: list[_Device]) -> dict[str, list[bytes]]:
        """metric -> the devices' chunks of it in device order; families in first-seen
        order. When every device with data has the same layout (one profile for all,
        the usual fleet) the lists are one transposition of the devices' chunk rows,
        done in C; otherwise device by device."""
        having = [e for e in entries if e.layout]  # (a device without data has none)
        if having and all(e.layout is having[0].layout for e in having):
            rows = [tuple(e.chunks.values()) for e in having]
            return {metric: list(column) for metric, column
                    in zip(having[0].layout, zip(*rows, strict=True), strict=True)}
        profile: dict[str, list[bytes]] = {}
        for entry in entries:
            for metric, chunk in entry.chunks.items():
                chunks = profile.get(metric)
                if chunks is None:
                    chunks = profile[metric] = []
                chunks.append(chunk)
        return profile

    def _head(self, site: str, device: str) -> str:
        """`{device="..",site=".."} `, kept from one scrape to the next."""
        kept = self._heads.get(device)
        if kept is None or kept[0] != site:
            kept = self._heads[device] = (site, label_text({"site": site, "device": device})
                                          + " ")
        return kept[1]

    @staticmethod
    async def _family(parts: list[bytes], family: DeviceFamily, heads: list[str],
                      values: Iterable[int | float | None], openmetrics: bool,
                      pause: _Pause) -> int:
        """Append one family's header and a line per device with a value; returns the
        number of lines. `heads` and `values` go device by device."""
        name = family.sample_name
        parts.append(family_header(name, family.help, family.type, openmetrics).encode())
        values = list(values)
        count = 0
        for start in range(0, len(heads), _FAMILY_SLICE):
            end = start + _FAMILY_SLICE
            lines = [f"{name}{h}{v}\n" if (c := v.__class__) is int or (
                         c is float and v - v == 0) else f"{name}{h}{value_line(v)}"
                     for h, v in zip(heads[start:end], values[start:end], strict=True)
                     if v is not None]
            parts.append("".join(lines).encode())
            count += len(lines)
            await pause.maybe()
        return count


class _Pause:
    """Yields to the event loop once SLICE_SECONDS have passed since the last yield."""

    __slots__ = ("_since",)

    def __init__(self) -> None:
        self._since = time.perf_counter()

    async def maybe(self) -> None:
        if time.perf_counter() - self._since >= SLICE_SECONDS:
            await asyncio.sleep(0)
            self._since = time.perf_counter()
