"""Dashboards checked against Grafana's schema by a round trip through grafana-foundation-sdk.

Grafana cannot be installed here; grafana-foundation-sdk (a test dependency in
pyproject.toml) is Grafana's maintained schema as Python classes. A key its typed models
do not know is dropped by `from_json(...).to_json()`, so what a round trip loses is what
Grafana's schema does not define. Shared by the Prometheus and the InfluxQL dashboard tests.
"""

from __future__ import annotations

import importlib
import json
from typing import Any


def lost_keys(original: Any, round_trip: Any, path: str = "") -> list[str]:
    """Keys of `original` that the typed round trip dropped (unknown to the schema)."""
    lost = []
    if isinstance(original, dict) and isinstance(round_trip, dict):
        for key, value in original.items():
            if key not in round_trip:
                lost.append(f"{path}/{key}")
            else:
                lost += lost_keys(value, round_trip[key], f"{path}/{key}")
    elif isinstance(original, list) and isinstance(round_trip, list):
        for i, (a, b) in enumerate(zip(original, round_trip, strict=False)):
            lost += lost_keys(a, b, f"{path}[{i}]")
    return lost


def plain(obj: Any) -> Any:
    """The SDK's objects (and enums) as plain JSON values, comparable with the file's."""
    return json.loads(json.dumps(obj, default=lambda o: o.to_json()
                                 if hasattr(o, "to_json") else o.value))


def dashboard_losses(dash: dict[str, Any]) -> list[str]:
    """What the round trip of the dashboard, and of each panel's options, loses.

    Targets are left to the caller: their model depends on the datasource (the SDK has
    one for Prometheus, none for InfluxDB).
    """
    # No skip on ImportError: a missing package must fail, not pass quietly.
    from grafana_foundation_sdk.models.dashboard import Dashboard

    lost = lost_keys(dash, plain(Dashboard.from_json(dash).to_json()))
    for p in dash["panels"]:
        if p["type"] != "row":
            options = importlib.import_module(f"grafana_foundation_sdk.models.{p['type']}")
            lost += [f"{p['title']}: options{k}" for k in
                     lost_keys(p["options"], plain(options.Options.from_json(p["options"])
                                                   .to_json()))]
    return lost
