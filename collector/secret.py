"""A value that must never be printed: communities, v3 keys, tokens."""

from __future__ import annotations


class Secret:
    """Holds a secret string; str(), repr() and format() all redact it.

    Only `reveal()` gives the value, so that a secret reaching a log line, an exception
    message, a metric label or JSON output by accident shows '<secret>' instead
    (the snmp_exporter `Secret` idea).
    """

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, source: str = "") -> None:
        self._value = value
        self._source = (
            source  # where it came from, e.g. "env BORDERWATCH_LAB_COMMUNITY"; safe to show
        )

    def reveal(self) -> str:
        """The secret itself, for the wire only."""
        return self._value

    @property
    def source(self) -> str:
        """Where the secret was read from (an env variable or file name, never the value)."""
        return self._source

    def __str__(self) -> str:
        return "<secret>"

    def __repr__(self) -> str:
        return f"Secret(<redacted>{', from ' + self._source if self._source else ''})"

    def __format__(self, spec: str) -> str:
        return "<secret>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple:
        # Pickling/copying would be a way to leak it into a file; refuse.
        raise TypeError("Secret values cannot be pickled")
