"""The InfluxQL dashboards read as Grafana reads them: targets, variables, substitution.

Grafana's InfluxDB datasource (InfluxQL mode) replaces, before sending a raw query:

* `$timeFilter` with `time >= <from>ms and time <= <to>ms` for an absolute range, or
  `time >= now() - 6h and time <= now()` for a relative one (`now-6h` → `now`);
* `$__interval` (and the old `$interval`) with the panel's interval, never below the
  datasource's min interval (`timeInterval`);
* `$var`, `${var}`, `${var:fmt}`: a single value as is (`:raw` always as is), `All` of a
  variable with `allValue` as that allValue unformatted, a multi selection with `:regex`
  as `(a|b)`.

Query variables run their InfluxQL (after substitution) and offer the `value` column of
`SHOW TAG VALUES`; custom variables offer the values of "text : value, ..." options.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafana_variables import combinations, load_dashboards, offered_values

INFLUXQL_DIR = Path(__file__).resolve().parents[2] / "grafana" / "dashboards" / "influxql"
_VAR = re.compile(r"\$(?:\{(\w+)(?::(\w+))?\}|(\w+))")
BUILTIN_INTERVALS = ("__interval", "interval")


@dataclass(frozen=True)
class InfluxTarget:
    """One InfluxQL panel target of a generated dashboard."""

    dashboard: str
    panel: str
    ref: str
    query: str
    table: bool

    @property
    def id(self) -> str:
        return f"{self.dashboard}/{self.panel}/{self.ref}"


def load_influx_dashboards(directory: Path = INFLUXQL_DIR) -> dict[str, dict[str, Any]]:
    """{file stem: dashboard JSON} of the generated InfluxQL dashboards."""
    return load_dashboards(directory)


def influx_targets(dashboards: dict[str, dict[str, Any]]) -> list[InfluxTarget]:
    """Every target of every panel (rows' nested panels too)."""
    out = []
    for name, dash in dashboards.items():
        stack = list(dash["panels"])
        while stack:
            panel = stack.pop(0)
            stack[:0] = panel.get("panels", [])
            for t in panel.get("targets", []):
                out.append(InfluxTarget(name, panel["title"], t["refId"], t["query"],
                                        t.get("resultFormat") == "table"))
    return out


def variables_used(query: str) -> list[str]:
    """Dashboard variables a query refers to (not $timeFilter / $__interval)."""
    names = []
    for m in _VAR.finditer(query):
        name = m.group(1) or m.group(3)
        if name not in ("timeFilter", *BUILTIN_INTERVALS) and name not in names:
            names.append(name)
    return names


def time_filter(from_ms: int | None = None, to_ms: int | None = None,
                relative: str | None = None) -> str:
    """What Grafana puts for $timeFilter: absolute (ms) or relative (`now() - 1h`)."""
    if relative is not None:
        return f"time >= now() - {relative} and time <= now()"
    return f"time >= {from_ms}ms and time <= {to_ms}ms"


def substitute(query: str, values: dict[str, str], *, timefilter: str, interval: str) -> str:
    """The query as Grafana sends it: variables already formatted in `values`."""
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        if name == "timeFilter":
            return timefilter
        if name in BUILTIN_INTERVALS:
            return interval
        if name not in values:
            raise AssertionError(f"${name} is not a variable of the dashboard: {query}")
        return values[name]
    return _VAR.sub(repl, query)


def variable_values(var: dict[str, Any], resolved: dict[str, str],
                    run: Callable[[str], list[dict[str, Any]]], *, timefilter: str,
                    interval: str) -> list[str]:
    """The values Grafana would offer for `var` given earlier variables' values.

    `run(query)` returns the series of one InfluxQL statement from the real influxd.
    """
    def tag_values() -> list[str]:
        assert var["query"].startswith("SHOW TAG VALUES"), var["query"]
        series = run(substitute(var["query"], resolved, timefilter=timefilter,
                                interval=interval))
        return sorted({row[s["columns"].index("value")] for s in series
                       for row in s["values"]})

    return offered_values(var, tag_values)


def assignments(dash: dict[str, Any], names: list[str],
                run: Callable[[str], list[dict[str, Any]]], *, timefilter: str,
                interval: str) -> Iterator[dict[str, str]]:
    """Every combination of values of the dashboard's variables that `names` needs
    (grafana_variables.combinations), query variables answered by influxd."""
    return combinations(dash["templating"]["list"], names,
                        lambda var, resolved: variable_values(
                            var, resolved, run, timefilter=timefilter, interval=interval))


def select_columns(query: str) -> list[str]:
    """Column names the outer SELECT yields: its `AS "name"`s, else the function name.

    InfluxQL names an unaliased `mean("x")` column `mean`; the outer statement is the one
    before the first FROM at parenthesis depth 0 (a subquery's SELECT does not count).
    """
    assert query.startswith("SELECT "), query
    depth = 0
    items, current = [], ""
    rest = query[len("SELECT "):]
    for i, ch in enumerate(rest):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and rest.startswith(" FROM ", i):
            break
        if depth == 0 and ch == ",":
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    names = []
    for item in items:
        m = re.search(r'\bAS "([^"]+)"\s*$', item.strip())
        names.append(m.group(1) if m else re.match(r"\s*(\w+)\(", item).group(1))
    return names


def group_by_tags(query: str) -> list[str]:
    """Tag keys of the outer GROUP BY (time(...) left out)."""
    m = re.search(r"GROUP BY ((?:time\([^)]*\)|\"[^\"]+\")(?:, (?:time\([^)]*\)|\"[^\"]+\"))*)"
                  r"(?: fill\(\w+\))?$", query)
    if not m:
        return []
    return re.findall(r'"([^"]+)"', re.sub(r"time\([^)]*\)", "", m.group(1)))
