"""The `borderwatch` command: argument parsing and dispatch, nothing else."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from borderwatch.alerts.central_cli import add_alerts_subcommand
from borderwatch.alerts.promrules_command import add_rules_arguments, rules_command
from borderwatch.alerts.silence_cli import add_silence_subcommand, silence_command
from borderwatch.collector.logging_setup import setup_logging
from borderwatch.collector.shard import add_shard_option
from borderwatch.collector.version import package_version
from borderwatch.history.settings import add_run_options
from borderwatch.lab.control import add_fault_subcommand
from borderwatch.reports.cli import add_report_subcommand, report_command

DEFAULT_INVENTORY = "inventory.yaml"
DEFAULT_LISTEN = "127.0.0.1:9730"


def build_parser() -> argparse.ArgumentParser:
    """The full CLI; every subcommand has its own --help."""
    parser = argparse.ArgumentParser(
        prog="borderwatch",
        description=(
            "Monitor telecom links, radios and power at border posts, gates and communes "
            "over SNMP, and expose the state to Prometheus."
        ),
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity (default: INFO; secrets are never logged at any level)",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="text lines (default), or one JSON object per line (time, level, logger, "
        "message, exception) for log shippers",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "run",
        help="run the service: poll, serve /metrics and the /status page, alert",
        description="Poll every device of the inventory on its cadence and serve Prometheus "
        "/metrics, /healthz and the /status page (JSON: /api/status); with an alerts: section, "
        "also evaluate the alert rules, send notifications and serve /api/silences. "
        "Ctrl-C (SIGINT) or SIGTERM stops it cleanly.",
    )
    p.add_argument(
        "--inventory", default=DEFAULT_INVENTORY, help="inventory file (default: %(default)s)"
    )
    p.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        help="HOST:PORT to serve every route on (default: %(default)s, loopback only; "
        "a non-loopback address logs a warning)",
    )
    p.add_argument(
        "--web.config.file",
        "--web-config-file",
        dest="web_config_file",
        metavar="FILE",
        help="TLS and basic auth for the listener, in Prometheus exporter-toolkit's "
        "web-config.yml format (see docs/web-config.md)",
    )
    p.add_argument(
        "--traps.listen-address",
        "--traps-listen-address",
        dest="traps_listen",
        metavar="ADDRESS:PORT",
        help="UDP address of the trap receiver; wins over the inventory's traps.listen and "
        "turns the receiver on without a traps: section (e.g. 0.0.0.0:1162; port 162 needs "
        "CAP_NET_BIND_SERVICE)",
    )
    add_run_options(p)  # --state-dir, --no-history, retention
    add_shard_option(p)  # --shard i/n

    p = sub.add_parser(
        "check",
        help="validate an inventory file",
        description="Validate an inventory (and the alert rules file and receiver secrets it "
        "names); print every problem as file:line: field: message. Exit 0 when valid "
        "(warnings allowed), 1 if there is any problem, 2 if the file cannot be read.",
    )
    p.add_argument(
        "path", nargs="?", default=DEFAULT_INVENTORY, help="inventory file (default: %(default)s)"
    )
    p.add_argument(
        "--no-secrets",
        action="store_true",
        help="do not read secrets (environment variables, secret files): check the "
        "structure only",
    )
    p.add_argument(
        "--web.config.file",
        "--web-config-file",
        dest="web_config_file",
        metavar="FILE",
        help="also check this web config file (TLS, basic auth), as `run` would load it",
    )

    p = sub.add_parser(
        "poll",
        help="poll one device once and print what it answered",
        description="Poll one device once (for debugging a site): one line per interface "
        "and per other sample, or JSON with --json. On a terminal, long names, descriptions, "
        "aliases and labels are cut to its width, ending in …; piped, or with --wide, every "
        "value is shown in full.",
    )
    p.add_argument("device", help="device id from the inventory")
    p.add_argument(
        "--inventory", default=DEFAULT_INVENTORY, help="inventory file (default: %(default)s)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--wide", action="store_true",
                   help="show every value in full, however wide the table gets")

    p = sub.add_parser(
        "lab",
        help="run simulated SNMP agents for an inventory; `lab fault` injects faults",
        description="Start a snmpsim agent for each device of the inventory that has a "
        "sim_profile, answering on the device's own loopback address (real device dumps plus "
        "the lab's own radio/VSAT/power data), with moving counters. A few snmpsim processes "
        "serve them all behind the lab's UDP gate. Ctrl-C stops them all.",
    )
    p.add_argument(
        "--inventory", default=DEFAULT_INVENTORY, help="inventory file (default: %(default)s)"
    )
    p.add_argument(
        "--state-dir",
        default="var/lab",
        help="where the lab keeps its data and snmpsim index cache (default: %(default)s)",
    )
    p.add_argument(
        "--agent-per-device",
        action="store_true",
        help="the former layout, for comparison: one snmpsim process per device on its own "
        "address (about 25 MiB and a few seconds of CPU each) instead of one shared process "
        "behind the lab's UDP gate",
    )
    # The shared process is the default now; the old flag is still accepted.
    p.add_argument("--shared", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--with-collector",
        action="store_true",
        help="also run the service (`borderwatch run`) on the lab's inventory",
    )
    p.add_argument(
        "--listen", default=DEFAULT_LISTEN,
        help="with --with-collector: HOST:PORT the service listens on (default: %(default)s)"
    )
    p.add_argument(
        "--scenario", help="YAML file of timed faults the lab runs (see lab/README-faults.md)"
    )
    add_fault_subcommand(p)  # `borderwatch lab fault VERB TARGET`: talks to a running lab

    p = sub.add_parser(
        "rules",
        help="generate Prometheus alerting rules from the alert rules",
        description="Write the Prometheus alerting rules (and Alertmanager inhibit rules) "
        "equivalent to the alert rules the service runs; what cannot be expressed is "
        "skipped with a comment. See alerts/README.md.",
    )
    add_rules_arguments(p, DEFAULT_INVENTORY)

    add_alerts_subcommand(sub, DEFAULT_INVENTORY)  # `borderwatch alerts --source ...`
    add_silence_subcommand(sub)  # `borderwatch silence add|list|expire`: the running service

    add_report_subcommand(sub, DEFAULT_INVENTORY)  # `borderwatch report`: planners' reports

    p = sub.add_parser("schema", help="print the inventory JSON Schema (for editors)",
                       description="Print the JSON Schema of the inventory, generated from "
                       "its models (`make schema` writes collector/schema/).")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="write to this file instead of stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # here, not at exit, where a closed pipe is a Python error
        return code
    except BrokenPipeError:
        # The reader went away (`borderwatch poll DEVICE | head`): stop quietly like `cat`,
        # and keep Python from failing again while flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _dispatch(args: argparse.Namespace) -> int:
    """Run the chosen command. Each command's modules are imported here, when it runs, for
    start-up time only: the service (aiohttp, influxdb-client, the exporters) or the lab
    (snmpsim) nearly double the parser's import time, and `check` or `--help` need
    neither. borderwatch/ is the top layer, so no import here dodges a cycle."""
    if args.command == "check":
        from borderwatch.check import check_command

        code = check_command(args)
        if args.web_config_file is not None:
            from borderwatch.exporters.web_config import check_web_config

            code = max(code, check_web_config(args.web_config_file))
        return code
    if args.command == "schema":
        from borderwatch.collector.inventory.schema import schema_command

        return schema_command(args)
    if args.command == "run":
        from borderwatch.service import run_command

        return run_command(args)
    if args.command == "poll":
        from borderwatch.service import poll_command

        return poll_command(args)
    if args.command == "lab":
        from borderwatch.lab.cli import lab_command
        from borderwatch.service import run_beside_lab

        return lab_command(args, run_collector=run_beside_lab)
    if args.command == "rules":
        return rules_command(args)
    if args.command == "alerts":
        from borderwatch.central import alerts_command

        return alerts_command(args)
    if args.command == "silence":
        return silence_command(args)
    if args.command == "report":
        return report_command(args)
    raise AssertionError(args.command)  # argparse guarantees one of the above


if __name__ == "__main__":
    sys.exit(main())
