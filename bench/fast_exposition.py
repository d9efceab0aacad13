"""A prototype of a faster /metrics for the profile series (measured by bench/micro.py).

Not used by the service: it shows, with numbers, what exporters/prometheus.py could gain.
The current exporter builds, on every scrape, a prometheus_client Sample (a namedtuple
plus a label dict) per series and lets `generate_latest` escape and join every label
again. But a series' labels change rarely (an interface renamed), only its value does.
So the text `name{site="..",device="..",ifIndex="..",...} ` is built once per series and
kept, keyed by (device, metric, labels); a scrape only formats the values. Entries of
series that disappeared are dropped at the next scrape (generational swap).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from collector.samples import Kind
from collector.state import DeviceSnapshot, NetworkState


def _escape(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _number(value: int | float) -> str:
    # The text format takes Go-style floats; integers are valid as they are, and repr()
    # of a float round-trips. NaN/Inf need Prometheus' spelling.
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


class SeriesText:
    """Renders the profile series of a NetworkState, reusing each series' label text."""

    def __init__(self, state: NetworkState) -> None:
        self._state = state
        self._prefix: dict[tuple, str] = {}

    def render(self, devices: Iterable[DeviceSnapshot] | None = None) -> str:
        """The exposition text of every profile series (families contiguous)."""
        return "".join(self.parts(devices))

    def parts(self, devices: Iterable[DeviceSnapshot] | None = None,
              chunk: int = 1_000_000) -> Iterator[str]:
        """The same text in pieces of at most `chunk` devices of one family, so that a
        caller on the event loop can yield between pieces. Run it to the end: the label
        text cache is swapped when it finishes."""
        devices = list(self._state.device_snapshots() if devices is None else devices)
        by_metric: dict[str, list[DeviceSnapshot]] = {}
        for snap in devices:
            for metric in snap.series:
                by_metric.setdefault(metric, []).append(snap)
        old, new = self._prefix, {}
        for metric, snaps in by_metric.items():
            info = self._state.metric_info(metric)
            # prometheus_client (0.2x) names a counter's HELP/TYPE with the _total suffix.
            family = metric
            help_text = info.help.replace("\\", r"\\").replace("\n", r"\n")
            yield (f"# HELP {family} {help_text}\n# TYPE {family} "
                   f"{'counter' if info.kind is Kind.COUNTER else 'gauge'}\n")
            for start in range(0, len(snaps), chunk):
                out: list[str] = []
                append = out.append
                for snap in snaps[start:start + chunk]:
                    dev = snap.device_id
                    head = None
                    rows = snap.series.get(metric, {})  # replaced, never mutated, by apply()
                    for labels, value in rows.items():
                        key = (dev, metric, labels)
                        prefix = old.pop(key, None)
                        if prefix is None:
                            if head is None:
                                head = f'{metric}{{site="{_escape(snap.site_id)}",' \
                                       f'device="{_escape(dev)}"'
                            parts = "".join(
                                f',{"exported_" + n if n in ("site", "device") else n}='
                                f'"{_escape(v)}"' for n, v in labels)
                            prefix = f"{head}{parts}}} "
                        new[key] = prefix
                        append(prefix + _number(value) + "\n")
                yield "".join(out)
        self._prefix = new
