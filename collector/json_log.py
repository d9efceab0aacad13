"""`--log-format json`: one JSON object per log record, one record per line, for log
shippers (Vector, Fluent Bit, Promtail, journald's JSON readers)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message"[, "exception"][, "stack"]} on one line.

    The message carries text from devices and HTTP clients (an ifName, a silence comment).
    JSON-encoding it is what makes the record unforgeable: a newline, an ESC or a quote in
    that text becomes an escape inside the "message" string, never a line or a key of its
    own. ensure_ascii also escapes U+2028, U+2029 and NEL, which some readers split lines
    on (Python's str.splitlines does); a JSON reader turns them back into the same text.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=True)
