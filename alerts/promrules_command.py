"""`borderwatch rules`: write (or `--check`) the Prometheus rules generated from the alert rules.

`--check` writes nothing: alone it proves the rules and inventory load and generate (what the
service would run), with `--output` (and `--inhibit-output`) it also compares those files;
either way it prints what it checked.

Exit codes: 0 written / in sync, 1 bad rules or inventory (every problem as file:line) or,
with --check, a file that differs from what would be generated; 2 a file cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from borderwatch.alerts.promrules import Generated

BUILTIN = "alerts/default_rules.yaml"  # as the generated header names it (no absolute path)


def add_rules_arguments(p: argparse.ArgumentParser, default_inventory: str) -> None:
    """The options of `borderwatch rules`."""
    p.add_argument("--inventory", default=default_inventory,
                   help="inventory (sites, links, devices; its alerts.rules names the rules "
                   "file; default: %(default)s)")
    p.add_argument("--rules", metavar="FILE",
                   help="rules file to use instead of the inventory's alerts.rules")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="Prometheus rules file to write (default: stdout)")
    p.add_argument("--inhibit-output", metavar="FILE",
                   help="also write an Alertmanager configuration with the inhibit rules "
                   "(root-cause suppression) to FILE")
    p.add_argument("--dashboard-url", metavar="URL",
                   help="dashboard link in the annotations, {site} replaced by the site "
                   "(default: the inventory's alerts.dashboard_url, else the Grafana site "
                   "dashboard's relative path)")
    p.add_argument("--check", action="store_true",
                   help="write nothing: check that the rules and inventory generate, and "
                   "with --output (and --inhibit-output) exit 1 if those files differ from "
                   "what would be generated (the CI drift check)")


class Built(NamedTuple):
    """What `build` made, and from what (for the --check summary)."""

    generated: Generated
    source: str  # "alerts/default_rules.yaml and inventory.yaml", as the header says
    rules: int  # rules in the rule set


def build(args: argparse.Namespace) -> Built:
    """Load inventory and rules as the service does and generate; errors propagate."""
    from borderwatch.alerts.promrules import generate
    from borderwatch.alerts.rules import KnownIds, load_rules
    from borderwatch.alerts.service_hook import resolve_path
    from borderwatch.alerts.topology import Topology
    from borderwatch.collector.inventory import load_inventory
    from borderwatch.collector.profiles import metric_catalog

    inventory = load_inventory(args.inventory, resolve_secrets=False, log_warnings=False)
    topology = Topology.from_inventory(inventory)
    alerts = inventory.alerts
    base = Path(args.inventory).parent
    if args.rules:
        path: Path | None = Path(args.rules)
        shown = args.rules
    elif alerts is not None and alerts.rules:
        path = resolve_path(alerts.rules, base)
        shown = str(path)
    else:
        path, shown = None, BUILTIN
    ruleset = load_rules(path, known=KnownIds.from_topology(topology), metrics=metric_catalog())
    if len(ruleset.sources) > 1:
        shown = f"{BUILTIN} + {shown}"
    dashboard = args.dashboard_url or (alerts.dashboard_url if alerts is not None else None)
    source = f"{shown} and {args.inventory}"
    return Built(generate(ruleset, topology, dashboard_url=dashboard, source=source), source,
                 len(ruleset.rules))


def rules_command(args: argparse.Namespace) -> int:
    """Generate, write or check; report problems like `borderwatch check`."""
    # imported here, not at the top: building the CLI parser must stay cheap for every command
    from borderwatch.alerts.promrules import PromRulesError
    from borderwatch.alerts.rules import RulesError
    from borderwatch.collector.inventory import InventoryError, InventoryFileError

    if args.check and args.inhibit_output and not args.output:
        print("borderwatch rules: --check with --inhibit-output needs --output too (the "
              "rules file to compare)", file=sys.stderr)
        return 2
    try:
        built = build(args)
    except InventoryFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (InventoryError, RulesError) as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except (PromRulesError, ValueError) as exc:  # ValueError: a topology without a core
        print(f"borderwatch rules: {exc}", file=sys.stderr)
        return 1
    generated = built.generated
    outputs = [(args.output, generated.rules_yaml)]
    if args.inhibit_output:
        outputs.append((args.inhibit_output, generated.inhibit_yaml))
    if args.check:
        return _check(built, [(n, t) for n, t in outputs if n is not None])
    for skipped in generated.skipped:
        print(f"skipped {skipped}", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(generated.rules_yaml)
    for name, text in outputs:
        if name is not None:
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            Path(name).write_text(text, encoding="utf-8")
            print(f"wrote {name}", file=sys.stderr)
    print(f"{len(generated.alerts)} alerts, {len(generated.skipped)} skipped", file=sys.stderr)
    return 0


def _check(built: Built, outputs: list[tuple[str, str]]) -> int:
    """Say what was checked (stdout) and which files are stale (stderr); 1 if any is."""
    print(f"{built.source}: {built.rules} rules, {len(built.generated.alerts)} Prometheus "
          f"alerts generated, {len(built.generated.skipped)} skipped (no PromQL form), OK")
    stale = 0
    for name, text in outputs:
        if Path(name).exists() and Path(name).read_text(encoding="utf-8") == text:
            print(f"{name}: up to date")
            continue
        stale += 1
        print(f"{name} is out of date: run `borderwatch rules` with the same options "
              "without --check", file=sys.stderr)
    if not outputs:
        print("no file compared: give --output (and --inhibit-output) to compare written files")
    return 1 if stale else 0
