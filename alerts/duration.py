"""Durations as people write them in rule files ("90s", "5m", "1h30m") and as messages show them."""

from __future__ import annotations

import re

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[dhms])+$")
MAX_SECONDS = 30 * 86400  # a month: longer than any sane pending or repeat time


class DurationError(ValueError):
    """Not a duration; the message says what is accepted."""


def parse_duration(value: object) -> float:
    """Seconds from 90, 90.0, "90s", "5m", "1h30m" or "2d"; DurationError otherwise."""
    if isinstance(value, bool):
        raise DurationError(f"expected a duration, got {str(value).lower()}; "
                            "write e.g. 30s, 5m, 1h30m (units: s, m, h, d)")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _WHOLE.match(value.strip()):
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(value.strip()))
    else:
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise DurationError(f"{shown} is not a duration; write e.g. 30s, 5m, 1h30m "
                            "(units: s, m, h, d)")
    if not 0 <= seconds <= MAX_SECONDS:
        raise DurationError(f"{format_duration(seconds) if seconds >= 0 else seconds} is out "
                            f"of range; must be between 0s and {MAX_SECONDS // 86400}d")
    return seconds


def format_duration(seconds: float) -> str:
    """Compact text: 0s, 45s, 5m, 1h30m, 2d3h (rounded to the second)."""
    total = round(seconds)
    if total == 0:
        return "0s"
    out = []
    for unit, size in _UNITS.items():
        n, total = divmod(total, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)
