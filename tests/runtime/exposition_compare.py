"""Parse two expositions into comparable samples (for the /metrics text-path tests).

The reference is prometheus_client's rendering of `registry.collect()`; the subject is
what /metrics serves from exporters.device_text. Both are parsed with prometheus_client's
own parsers (text format and OpenMetrics), so formatting may differ (label order, integer
vs float spelling) but every sample, type and help text must be the same.
"""

from __future__ import annotations

import gzip
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text
from runtime_helpers import fetch

from borderwatch.exporters.http import SERIES_METRIC

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# Values that legitimately differ between two renders of the same state: the size and
# time of the previous response, tasks alive while serving, the 5-minute lag window, and
# the process' own CPU, memory and file descriptors.
VOLATILE = ("borderwatch_exposition_bytes", "borderwatch_exposition_render_seconds",
            "borderwatch_exposition_scrapes", "borderwatch_exposition_renders",
            "borderwatch_http_", "borderwatch_asyncio_tasks",
            "borderwatch_scheduler_lag_max_seconds", "process_")

Parsed = dict[str, Any]


def parse(text: str, *, openmetrics: bool = False) -> Parsed:
    """{"samples": {(name, labels): value}, "families": {name: (type, help)}}.

    Values as the float64 Prometheus stores (the parser gives an int for an integer
    text, and prometheus_client writes integers as floats); NaN as "NaN" (NaN != NaN).
    """
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], object] = {}
    families: dict[str, tuple[str, str]] = {}
    for family in (parse_openmetrics if openmetrics else parse_text)(text):
        assert family.name not in families, f"family {family.name} appears twice"
        families[family.name] = (family.type, family.documentation)
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in samples, f"sample {key} appears twice"
            samples[key] = "NaN" if s.value != s.value else float(s.value)
    return {"samples": samples, "families": families}


def stable(parsed: Parsed, volatile: tuple[str, ...] = ()) -> Parsed:
    """Without the volatile families and the series self-metric (the reference lacks it)."""
    skip = (*VOLATILE, *volatile, SERIES_METRIC)
    return {"samples": {k: v for k, v in parsed["samples"].items()
                        if not k[0].startswith(skip)},
            "families": {k: v for k, v in parsed["families"].items()
                         if not k.startswith(skip)}}


def reference(registry: Any, *, openmetrics: bool = False,
              names: list[str] | None = None) -> Parsed:
    """prometheus_client's rendering of everything the registry collects."""
    source = registry.restricted_registry(names) if names else registry
    text = (generate_openmetrics if openmetrics else generate_latest)(source).decode()
    return parse(text, openmetrics=openmetrics)


async def served(url: str, *, openmetrics: bool = False, packed: bool = False,
                 names: list[str] | None = None) -> Parsed:
    """What /metrics serves, fetched over HTTP and parsed; checks the series self-metric."""
    headers = {"Accept": OPENMETRICS} if openmetrics else {}
    if packed:
        headers["Accept-Encoding"] = "gzip"
    query = "?" + "&".join(f"name[]={n}" for n in names) if names else ""
    status, got, body = await fetch(url + "/metrics" + query, headers)
    assert status == 200, body[:500]
    if packed:
        assert got["Content-Encoding"] == "gzip"
        body = gzip.decompress(body)
    text = body.decode()
    if openmetrics:
        assert got["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
        assert text.endswith("# EOF\n")
    else:
        assert got["Content-Type"].startswith("text/plain; version=0.0.4")
    parsed = parse(text, openmetrics=openmetrics)
    series = [v for (name, _), v in parsed["samples"].items() if name == SERIES_METRIC]
    if not names or SERIES_METRIC in names:
        assert series == [len(parsed["samples"])]
    return parsed


def assert_same(new: Parsed, old: Parsed, volatile: tuple[str, ...] = ()) -> None:
    """Every stable sample, type and help text equal; a readable diff when not.
    `volatile`: more name prefixes to leave out (families that move on their own)."""
    a, b = stable(new, volatile), stable(old, volatile)
    missing = sorted(set(b["samples"]) - set(a["samples"]))[:5]
    extra = sorted(set(a["samples"]) - set(b["samples"]))[:5]
    assert not missing and not extra, f"missing from /metrics: {missing}; extra: {extra}"
    differ = [(k, a["samples"][k], v) for k, v in b["samples"].items()
              if a["samples"][k] != v][:5]
    assert not differ, differ
    assert a["families"] == b["families"]
