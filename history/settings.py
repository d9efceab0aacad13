"""Where the history lives and how long it keeps what: `borderwatch run`'s options
(--state-dir, --no-history, retention) and the `HistorySettings` they become.

Light on purpose (no topology, no SQLite work): the CLI imports it to build its parser.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from borderwatch.history.schema import DEFAULT_FILE_NAME
from borderwatch.history.writer import DEFAULT_KEEP_DAYS, DEFAULT_ROLLUP_KEEP_DAYS, Retention

DEFAULT_STATE_DIR = "var"  # relative to the inventory file's directory
# Seconds between observations of the state (and heartbeats): how late a change is
# recorded at most after the state saw it, and about what a kill -9 loses.
DEFAULT_TICK = 2.0


def history_path(state_dir: str | Path) -> Path:
    """Where the history of a state directory lives (`borderwatch report` reads it too)."""
    return Path(state_dir) / DEFAULT_FILE_NAME


@dataclass(frozen=True, slots=True)
class HistorySettings:
    """What the service needs to keep a history."""

    path: Path
    retention: Retention = field(default_factory=Retention)
    tick: float = DEFAULT_TICK  # seconds between observations, and between heartbeats
    rollup_every: float = 60.0  # seconds between utilisation / radio samples


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """`borderwatch run`'s state directory and history options."""
    parser.add_argument(
        "--state-dir", default=None,
        help=f"where the collector keeps its history ({DEFAULT_FILE_NAME}); default: "
        f"{DEFAULT_STATE_DIR}/ next to the inventory file")
    parser.add_argument("--no-history", action="store_true",
                        help="do not keep the embedded history")
    parser.add_argument(
        "--history-keep-days", type=_positive, default=DEFAULT_KEEP_DAYS, metavar="DAYS",
        help="days of state intervals and incidents to keep (default: %(default)s)")
    parser.add_argument(
        "--history-rollup-days", type=_positive, default=DEFAULT_ROLLUP_KEEP_DAYS,
        metavar="DAYS", help="days of hourly roll-ups to keep (default: %(default)s)")
    parser.add_argument(
        "--history-tick", type=_positive_seconds, default=DEFAULT_TICK, metavar="SECONDS",
        help="seconds between observations of the state and heartbeats; a change is "
        "recorded at most this late (default: %(default)s)")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of days > 0, not {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"must be seconds in (0, 60], not {text!r}")
    return value


def default_state_dir(inventory: str | Path) -> Path:
    """var/ next to the inventory file: where `run` (and `lab --with-collector`) keep
    their history unless told otherwise, and where `report` looks by default."""
    return Path(inventory).resolve().parent / DEFAULT_STATE_DIR


def state_dir(args: argparse.Namespace) -> Path:
    """The state directory of `run`: --state-dir, or the default next to the inventory."""
    if getattr(args, "state_dir", None):
        return Path(args.state_dir)
    return default_state_dir(args.inventory)


def settings_from_args(args: argparse.Namespace) -> HistorySettings | None:
    """HistorySettings from `run`'s options; None with --no-history."""
    if getattr(args, "no_history", False):
        return None
    retention = Retention(keep_days=getattr(args, "history_keep_days", DEFAULT_KEEP_DAYS),
                          rollup_keep_days=getattr(args, "history_rollup_days",
                                                   DEFAULT_ROLLUP_KEEP_DAYS))
    return HistorySettings(history_path(state_dir(args)), retention,
                           tick=getattr(args, "history_tick", DEFAULT_TICK))
