"""`borderwatch alerts`: its arguments (the command itself is borderwatch/central.py, imported
only when it runs, so that building the CLI stays fast)."""

from __future__ import annotations

from typing import Any

SOURCES = ("prometheus", "victoriametrics")  # both answer the Prometheus query API
DEFAULT_LISTEN = "127.0.0.1:9731"


def add_alerts_subcommand(sub: Any, default_inventory: str) -> None:
    """`borderwatch alerts --source prometheus URL --inventory FILE [...]`."""
    p = sub.add_parser(
        "alerts", help="evaluate the alert rules centrally, on the state of every shard in a "
        "TSDB", description="Read device and link state from a central Prometheus or "
        "VictoriaMetrics that scrapes every `run --shard` instance, run the alert engine "
        "on the whole topology and notify as the inventory's alerts: section says. "
        "Ctrl-C (SIGINT) or SIGTERM stops it cleanly.")
    p.add_argument("--source", nargs=2, metavar=("KIND", "URL"), required=True,
                   help="where the state is: `prometheus URL` (also `victoriametrics URL`: "
                   "the same query API), e.g. prometheus http://127.0.0.1:9090")
    p.add_argument("--inventory", default=default_inventory,
                   help="the whole inventory, as every shard reads it (default: %(default)s)")
    p.add_argument("--listen", default=DEFAULT_LISTEN,
                   help="HOST:PORT for /metrics, /healthz, /api/status and /api/silences "
                   "(default: %(default)s)")
    p.add_argument("--stale-after", type=float, default=None, metavar="SECONDS",
                   help="a device whose latest borderwatch_device_up sample is older is "
                   "unknown, not down (default: 3 poll intervals of the slowest device plus "
                   "60 s for the scrape)")
    p.add_argument("--rate-window", default="5m", metavar="DURATION",
                   help="PromQL range of the counters' rate() (default: %(default)s; at "
                   "least 2 scrape intervals)")
    p.add_argument("--query-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="deadline of each query (default: %(default)s)")
