"""Read the generated dashboards as Grafana would: targets, variables, and their substitution.

Grafana's Prometheus datasource replaces `$var`, `${var}` and `${var:raw}` with the selected
value, and the built-ins `$__rate_interval` / `$__interval` / `$__range` with durations.
A single-value variable is inserted as is; `All` of a variable with `allValue` inserts the
allValue; a multi-value selection becomes `(a|b)` (regex-escaped, which site ids never need).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grafana_variables
from grafana_variables import combinations, offered_values

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
    return grafana_variables.load_dashboards(directory)


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


def variable_values(var: dict[str, Any], resolved: dict[str, str],
                    series: Callable[[str], list[dict[str, str]]]) -> list[str]:
    """The values Grafana would offer for `var` given earlier variables' values.

    `series(selector)` asks the real Prometheus for the series matching a selector
    (/api/v1/series), which is what Grafana's `label_values(selector, label)` does.
    """
    def label_values() -> list[str]:
        m = _LABEL_VALUES.match(var["query"])
        assert m, f"unsupported variable query {var['query']!r}"
        selector, label = m.group(1), m.group(2)
        assert selector, "label_values without a selector scans every series"
        found = series(substitute(selector, resolved))
        return sorted({s[label] for s in found if label in s})

    return offered_values(var, label_values)


def assignments(dash: dict[str, Any], names: list[str],
                series: Callable[[str], list[dict[str, str]]]) -> Iterator[dict[str, str]]:
    """Every combination of values of the dashboard's variables that `names` needs
    (grafana_variables.combinations), query variables answered by Prometheus."""
    return combinations(dash["templating"]["list"], names,
                        lambda var, resolved: variable_values(var, resolved, series))
