"""Process-wide logging configuration (one place, called once by the CLI)."""

from __future__ import annotations

import logging
import sys

from borderwatch.collector.device_strings import escape_controls
from borderwatch.collector.json_log import JsonFormatter

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class OneLineFormatter(logging.Formatter):
    """One record = one line, whatever the message, its arguments or its traceback hold.

    Log text carries strings from devices and HTTP clients (an ifName, a silence comment).
    A newline in one would start a line that reads like a record of its own ("... ERROR
    borderwatch.service: ..."), and ESC sequences would drive the operator's terminal.
    Every control character of the formatted record is escaped (\\n, \\x1b, \\u2028),
    tracebacks included: their line breaks become \\n too, so a grep for a record finds
    all of it.
    """

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(super().format(record))


def setup_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Log to stderr with UTC timestamps, one line per record (text, or a JSON object for
    `--log-format json`); quiet chatty libraries."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())  # JSON escaping keeps each record one line
    else:
        handler.setFormatter(OneLineFormatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("pysnmp", "asyncio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
