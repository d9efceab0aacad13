"""How much work one poll of one device may cost: rows per table, requests, samples.

A broken or hostile agent can invent table rows for ever (issue 11: one poll of such an
agent sent 20,977 requests, built 300,002 samples and took the collector from 66 MB to
566 MB). Every poll is therefore bounded, whatever the agent answers, and the bounds
come from what the profile expects, not from a number picked for the largest chassis:

* rows per table: `max(ROW_MARGIN × expected_rows, MIN_ROW_BOUND)`, where a profile's
  table declares `expected_rows` (if-mib: 256, so 1,024 rows; a 48-port switch has ~60);
* requests per poll: REQUEST_MARGIN × the requests a poll needs to read every selected
  table at its row bound (per column: the rows bound / the rows one request asks for,
  plus one to see the end) and its scalars, plus REQUEST_SLACK for probes and fallbacks;
* samples per poll: every table at its row bound × its metrics, plus the scalars.

So a device within its bounds never meets one, and a device that exceeds one costs at
most a fixed multiple of a normal poll. The inventory can override each bound per
device (`limits:`), e.g. for a chassis with more interfaces than the profile expects.
A bound that is hit makes the poll partial (a problem of kind rows_bound,
requests_bound or samples_bound), never a failure: the rows read so far are kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

ROW_MARGIN = 4  # × a table's expected_rows
MIN_ROW_BOUND = 64  # rows, for tables that expect only a handful
DEFAULT_EXPECTED_ROWS = 16  # a profile table that does not say
REQUEST_MARGIN = 2  # × the planned requests (agents that answer short pages)
REQUEST_SLACK = 16  # probes of `profile: auto`, GETs of fallback instances


def row_bound(expected_rows: int) -> int:
    """The rows a table may have before its walk stops (see the module docstring)."""
    return max(ROW_MARGIN * expected_rows, MIN_ROW_BOUND)


@dataclass(frozen=True, slots=True)
class PollLimits:
    """A device's overrides of the derived bounds; None keeps the derived one."""

    rows_per_table: int | None = None
    requests_per_poll: int | None = None
    samples_per_poll: int | None = None


@dataclass(frozen=True, slots=True)
class TableCost:
    """What a table costs at its row bound: the columns walked and the metrics per row."""

    rows: int  # the row bound in force for this table
    columns: int  # columns walked, fallback columns included
    metrics: int  # samples one row may give


def requests_bound(tables: Iterable[TableCost], scalar_gets: int, rows_per_request: int,
                   ) -> int:
    """REQUEST_MARGIN × the requests of a poll that reads every table at its row bound."""
    per = max(1, rows_per_request)
    planned = scalar_gets + sum(t.columns * (math.ceil(t.rows / per) + 1) for t in tables)
    return REQUEST_MARGIN * planned + REQUEST_SLACK


def samples_bound(tables: Iterable[TableCost], scalar_metrics: int) -> int:
    """The samples of a poll that reads every table at its row bound."""
    return scalar_metrics + sum(t.rows * t.metrics for t in tables)
