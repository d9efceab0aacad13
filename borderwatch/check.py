"""`borderwatch check PATH`: print every problem of an inventory and a one-line summary.

The alert rules file the inventory names (`alerts.rules`) is checked too, against the
inventory's ids and the profiles' metrics, as the service would load it; so are the alert
receivers' secrets (SMTP passwords, Telegram tokens), read as the service reads them at start.

Exit codes: 0 valid (warnings allowed), 1 problems found, 2 the file cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from borderwatch.alerts.notify.secrets import SecretError, resolve_receiver_secrets
from borderwatch.alerts.rules import KnownIds, RulesError, load_rules
from borderwatch.alerts.service_hook import resolve_path
from borderwatch.collector.inventory import InventoryError, InventoryFileError, load_inventory
from borderwatch.collector.inventory.models import Inventory
from borderwatch.collector.profiles import metric_catalog


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
    secrets_ok = args.no_secrets or _check_receiver_secrets(inventory, Path(path))
    rules_rc = _check_rules(inventory, Path(path))
    return rules_rc or (0 if secrets_ok else 1)


def _check_receiver_secrets(inventory: Inventory, path: Path) -> bool:
    """Read every receiver secret from its env variable or file; print what cannot be read."""
    if inventory.alerts is None:
        return True
    try:
        resolve_receiver_secrets(inventory.alerts, base_dir=path.resolve().parent)
    except SecretError as exc:
        for problem in exc.problems:
            print(f"{path}: {problem}")
        print(f"{path}: {_plural(len(exc.problems), 'problem')} with alert receiver secrets")
        return False
    return True


def _check_rules(inventory: Inventory, path: Path) -> int:
    """Check the rules file named by `alerts.rules` (none named: nothing to do)."""
    if inventory.alerts is None or not inventory.alerts.rules:
        return 0
    rules_path = resolve_path(inventory.alerts.rules, path.parent)
    known = KnownIds(frozenset(s.id for s in inventory.sites),
                     frozenset(link.id for link in inventory.links),
                     frozenset(d.id for d in inventory.devices))
    try:
        ruleset = load_rules(rules_path, known=known, metrics=metric_catalog())
    except RulesError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{rules_path}: {_plural(len(exc.problems), 'problem')}")
        return 1
    print(f"{rules_path}: {_plural(len(ruleset.rules), 'rule')}, "
          f"{_plural(len(ruleset.maintenance), 'maintenance window')}, OK")
    return 0
