"""Read the generated dashboards as Grafana would: targets, variables, and their substitution.

Grafana's Prometheus datasource replaces `$var`, `${var}` and `${var:raw}` with the selected
value, and the built-ins `$__rate_interval` / `$__interval` / `$__range` with durations.
A single-value variable is inserted as is; `All` of a variable with `allValue` inserts the
allValue; a multi-value selection becomes `(a|b)` (regex-escaped, which site ids never need).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}
_VAR = re.compile(r"\$(?:\{(\w+)(?::(\w+))?\}|(\w+))")
_LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?(\w+)\)$")


@dataclass(frozen=True)
class Target:
    """One panel query of a generated dashboard."""

    dashboard: str
    panel: str
    ref: str
    expr: str
    instant: bool

    @property
    def id(self) -> str:
        return f"{self.dashboard}/{self.panel}/{self.ref}"


def load_dashboards(directory: Path = DASHBOARD_DIR) -> dict[str, dict[str, Any]]:
    """{file stem: dashboard JSON} of every generated dashboard."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def targets(dashboards: dict[str, dict[str, Any]]) -> list[Target]:
    """Every query target of every panel, rows included (nested panels too)."""
    out = []
    for name, dash in dashboards.items():
        for panel in _panels(dash["panels"]):
            for t in panel.get("targets", []):
                out.append(Target(name, panel["title"], t["refId"], t["expr"],
                                  bool(t.get("instant"))))
    return out


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def variables_used(expr: str) -> list[str]:
    """Dashboard variables an expression refers to, built-ins excluded, in first-use order."""
    names = []
    for m in _VAR.finditer(expr):
        name = m.group(1) or m.group(3)
        # `$1` is a label_replace reference: Grafana leaves names it does not know alone.
        if name not in BUILTINS and not name.isdigit() and name not in names:
            names.append(name)
    return names


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace every variable reference with its (already formatted) value."""
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        if name in BUILTINS:
            return BUILTINS[name]
        return values.get(name, m.group(0))  # unknown: left as is, like Grafana
    return _VAR.sub(repl, expr)


def custom_options(query: str) -> list[tuple[str, str]]:
    """(text, value) pairs of a custom variable, parsed as Grafana does ("text : value")."""
    options = []
    for part in re.findall(r"(?:\\,|[^,])+", query):
        part = part.replace("\\,", ",")
        m = re.match(r"^\s*(.+)\s:\s(.+)$", part)
        text, value = (m.group(1).strip(), m.group(2).strip()) if m else (part.strip(),) * 2
        options.append((text, value))
    return options


def variable_values(var: dict[str, Any], resolved: dict[str, str],
                    series: Callable[[str], list[dict[str, str]]]) -> list[str]:
    """The values Grafana would offer for `var` given earlier variables' values.

    `series(selector)` asks the real Prometheus for the series matching a selector
    (/api/v1/series), which is what Grafana's `label_values(selector, label)` does.
    """
    if var["type"] == "custom":
        values = [v for _, v in custom_options(var["query"])]
    elif var["type"] == "query":
        m = _LABEL_VALUES.match(var["query"])
        assert m, f"unsupported variable query {var['query']!r}"
        selector, label = m.group(1), m.group(2)
        assert selector, "label_values without a selector scans every series"
        found = series(substitute(selector, resolved))
        values = sorted({s[label] for s in found if label in s})
    else:
        raise AssertionError(f"unsupported variable type {var['type']!r}")
    if var.get("includeAll"):
        values = [var.get("allValue") or "|".join(values), *values]
    return values


def assignments(dash: dict[str, Any], names: list[str],
                series: Callable[[str], list[dict[str, str]]]) -> Iterator[dict[str, str]]:
    """Every combination of values of the dashboard's variables that `names` needs.

    Variables are resolved in dashboard order (a later one may depend on an earlier one,
    as site depends on commune); unused ones take their first value (All where offered).
    """
    variables = dash["templating"]["list"]

    def walk(i: int, resolved: dict[str, str]) -> Iterator[dict[str, str]]:
        if i == len(variables):
            yield dict(resolved)
            return
        var = variables[i]
        values = variable_values(var, resolved, series)
        chosen = values if var["name"] in names else values[:1]
        for value in chosen:
            yield from walk(i + 1, {**resolved, var["name"]: value})

    yield from itertools.islice(walk(0, {}), 500)
