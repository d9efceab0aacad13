"""`borderwatch report`: read the history, build the report, write HTML, CSV or JSON.

    borderwatch report --from last-month [--to …] [--by site|commune|kind|medium]
        [--format html|csv|json] [--lang vi|en] [-o FILE|DIR|FILE.zip]
        [--inventory inventory.yaml] [--history FILE ...] [--max-new-link-km KM]

Exit codes: 0 report written (also an empty one for a period with no data, which says so),
1 bad history or inventory file, 2 bad arguments (an unreadable time, --from after --to).
Every error is one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from borderwatch.reports.period import PeriodError, parse_period

FORMATS = ("html", "csv", "json")


def add_report_subcommand(subparsers: Any, default_inventory: str) -> argparse.ArgumentParser:
    """Add `report` to the `borderwatch` sub-command parsers."""
    p = subparsers.add_parser(
        "report", help="availability, outages, single points of failure and capacity "
        "over a period, as HTML, CSV or JSON",
        description="Build a planners' report from the collector's history: availability "
        "(up/down/isolated/unknown) per site, commune, kind and link medium with SLA "
        "compliance, outages with root causes, MTTR/MTBF, single points of failure and the "
        "best new link, hot links, fading radios and battery time.")
    p.add_argument("--from", dest="start", default="last-month", help=(
        "start: a date (2026-11-01), an ISO time, today, yesterday, this-month, last-month, "
        "this-year, last-year, last-7d, last-24h, -5m, '2 hours ago' (default: last-month; "
        "times without offset are Vietnam time, UTC+7)"))
    p.add_argument("--to", dest="end", help="end (exclusive), same forms; default: the end of "
                   "a named --from period, else now")
    p.add_argument("--by", choices=("site", "commune", "kind", "medium"), default="site",
                   help="grouping of the main availability table (default: %(default)s)")
    p.add_argument("--format", choices=FORMATS, default="html",
                   help="output format (default: %(default)s)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi",
                   help="language of the report (default: %(default)s)")
    p.add_argument("-o", "--output", help="output file (html, json; default stdout); for csv a "
                   "directory (one file per table) or a FILE.zip")
    p.add_argument("--inventory", default=default_inventory,
                   help="inventory file: names, places, SLA targets (default: %(default)s)")
    p.add_argument("--history", action="append", metavar="FILE", help=(
        "history file; repeat for shards or a replaced server (default: history.sqlite in "
        "the state directory)"))
    p.add_argument("--state-dir", default=None, help=(
        "the collector's state directory, as given to `borderwatch run` (default: var/ next "
        "to the inventory file)"))
    p.add_argument("--max-new-link-km", type=float, metavar="KM", help=(
        "weigh every site pair this close as a new link (default: the inventory's "
        "reports.max_new_link_km)"))
    p.add_argument("--util-threshold", type=float, metavar="RATIO", help=(
        "p95 utilisation ratio (0..1) above which a link runs hot (default: the inventory's "
        "reports.util_p95_threshold, else 0.8)"))
    return p


class TerminalProgress:
    """One self-overwriting line on stderr, only when stderr is a terminal (a cron job's
    mail or a pipe gets no control characters)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, label: str, fraction: float) -> None:
        if not self.enabled:
            return
        if fraction >= 1.0:
            self.stream.write("\r\033[K")
        else:
            self.stream.write(f"\r\033[Kreport: reading history {fraction:4.0%} {label}")
        self.stream.flush()


def _fail(message: str, code: int = 1) -> int:
    print(f"borderwatch report: {message}", file=sys.stderr)
    return code


def report_command(args: argparse.Namespace, *, now: float | None = None) -> int:
    """Run `borderwatch report`; returns the exit code."""
    from borderwatch.collector.inventory import InventoryError, load_inventory
    from borderwatch.history.reader import HistoryError, HistoryReader
    from borderwatch.history.settings import history_path, state_dir
    from borderwatch.reports.build import ReportOptions, build_report

    now = time.time() if now is None else now
    try:
        period = parse_period(args.start, args.end, now=now)
    except PeriodError as exc:
        return _fail(str(exc), 2)
    if args.format == "csv" and not args.output:
        return _fail("--format csv needs -o DIR (one CSV per table) or -o FILE.zip", 2)
    if args.util_threshold is not None and not 0 < args.util_threshold <= 1:
        return _fail("--util-threshold is a ratio of capacity: 0 < RATIO <= 1", 2)
    if args.max_new_link_km is not None and args.max_new_link_km <= 0:
        return _fail("--max-new-link-km must be positive", 2)
    try:
        # secrets are not needed to name sites: a planner's machine has no communities
        inventory = load_inventory(args.inventory, resolve_secrets=False)
    except InventoryError as exc:
        return _fail(f"invalid inventory:\n{exc}")
    except OSError as exc:
        return _fail(f"cannot read the inventory {args.inventory}: {exc.strerror or exc}")
    paths = args.history or [str(history_path(state_dir(args)))]
    options = ReportOptions(period=period, by=args.by, lang=args.lang,
                            max_new_link_km=args.max_new_link_km,
                            util_threshold=args.util_threshold,
                            history_files=tuple(str(p) for p in paths),
                            generated_at=now)
    try:
        with HistoryReader.open(paths) as reader:
            doc = build_report(reader, inventory, options, TerminalProgress(sys.stderr))
    except HistoryError as exc:
        return _fail(str(exc))
    return _write(doc, args)


def _write(doc: dict[str, Any], args: argparse.Namespace) -> int:
    from borderwatch.reports.render_files import to_json, write_csv, write_text
    from borderwatch.reports.render_html import render_html

    try:
        if args.format == "json":
            write_text(to_json(doc), args.output)
        elif args.format == "html":
            write_text(render_html(doc), args.output)
        else:
            write_csv(doc, args.output)
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror or exc}")
    if doc["empty"]:
        print(f"borderwatch report: {doc['notice']}", file=sys.stderr)
    return 0
