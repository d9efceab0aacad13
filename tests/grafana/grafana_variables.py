"""Dashboard variables as Grafana resolves them, whatever the datasource.

The Prometheus dashboards (dashboard_targets.py) and the InfluxQL ones
(influxql_targets.py) differ only in how a query variable asks its datasource for values;
loading the files, custom variables, `All`, and walking the combinations of values in
dashboard order are Grafana's, and live here once.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

MAX_COMBINATIONS = 500  # a query needing more is cut here (none does today)


def load_dashboards(directory: Path) -> dict[str, dict[str, Any]]:
    """{file stem: dashboard JSON} of the generated dashboards in `directory`."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def custom_options(query: str) -> list[tuple[str, str]]:
    """(text, value) pairs of a custom variable, parsed as Grafana does ("text : value").

    Options are split on commas not escaped as `\\,`; Grafana's pattern is
    `^\\s*(.+)\\s:\\s(.+)$`, so an option without " : " is its own text and value.
    """
    options = []
    for part in re.findall(r"(?:\\,|[^,])+", query):
        part = part.replace("\\,", ",")
        m = re.match(r"^\s*(.+)\s:\s(.+)$", part)
        text, value = (m.group(1).strip(), m.group(2).strip()) if m else (part.strip(),) * 2
        options.append((text, value))
    return options


def offered_values(var: dict[str, Any], query_values: Callable[[], list[str]]) -> list[str]:
    """The values Grafana offers for `var`: `query_values()` asks the datasource.

    A custom variable offers its options' values; `includeAll` puts All first (its
    allValue, else every value joined as a regex alternation).
    """
    if var["type"] == "custom":
        values = [v for _, v in custom_options(var["query"])]
    elif var["type"] == "query":
        values = query_values()
    else:
        raise AssertionError(f"unsupported variable type {var['type']!r}")
    if var.get("includeAll"):
        values = [var.get("allValue") or "|".join(values), *values]
    return values


def combinations(variables: list[dict[str, Any]], names: list[str],
                 values_of: Callable[[dict[str, Any], dict[str, str]], list[str]],
                 ) -> Iterator[dict[str, str]]:
    """Every combination of the values of the variables `names` needs, in dashboard order.

    `values_of(var, resolved)` gives a variable's values once earlier ones are chosen (a
    later variable may depend on an earlier one: site on commune); a variable not in
    `names` takes its first value (All where offered, so a site list is complete).
    """
    def walk(i: int, resolved: dict[str, str]) -> Iterator[dict[str, str]]:
        if i == len(variables):
            yield dict(resolved)
            return
        var = variables[i]
        values = values_of(var, resolved)
        chosen = values if var["name"] in names else values[:1]
        for value in chosen:
            yield from walk(i + 1, {**resolved, var["name"]: value})

    yield from itertools.islice(walk(0, {}), MAX_COMBINATIONS)
