"""`borderwatch schema`: the inventory's JSON Schema, generated from the models.

The committed copy (collector/schema/inventory.schema.json) is what editors load through
the `yaml-language-server` comment at the top of inventory.yaml; a test fails when it
drifts from the models.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from borderwatch.collector.inventory.models import Inventory

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "inventory.schema.json"
REGENERATE = "run `borderwatch schema -o collector/schema/inventory.schema.json`"


def render_schema() -> str:
    """The JSON Schema text, stable byte for byte for the same models."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              **Inventory.model_json_schema()}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def schema_command(args: argparse.Namespace) -> int:
    """Print the schema, or write it to args.output."""
    text = render_schema()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0
