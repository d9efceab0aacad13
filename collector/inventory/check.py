"""`borderwatch check PATH`: print every problem of an inventory and a one-line summary.

Exit codes: 0 valid (warnings allowed), 1 problems found, 2 the file cannot be read.
"""

from __future__ import annotations

import argparse
import sys

from collector.inventory import InventoryError, InventoryFileError, load_inventory


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def check_command(args: argparse.Namespace) -> int:
    """Validate args.path (secrets too unless args.no_secrets) and report like a linter."""
    path = args.path
    try:
        inventory = load_inventory(path, resolve_secrets=not args.no_secrets,
                                   log_warnings=False)
    except InventoryFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    except InventoryError as exc:
        for problem in sorted(exc.problems + exc.warnings, key=lambda p: (p.line or 0)):
            print(problem)
        summary = _plural(len(exc.problems), "problem")
        if exc.warnings:
            summary += f", {_plural(len(exc.warnings), 'warning')}"
        print(f"{path}: {summary}")
        return 1
    for warning in inventory.warnings:
        print(warning)
    summary = (f"{path}: {_plural(len(inventory.sites), 'site')}, "
               f"{_plural(len(inventory.devices), 'device')}, "
               f"{_plural(len(inventory.links), 'link')}, OK")
    if inventory.warnings:
        summary += f" ({_plural(len(inventory.warnings), 'warning')})"
    if args.no_secrets:
        summary += " (secrets not checked: --no-secrets)"
    print(summary)
    return 0
