"""`RequestTiming`: the timeout and retries one session sends each request with, and the
place its outcomes are fed back to the device's round-trip estimate (rtt.py).

Fixed numbers from the inventory win (`timeout: 1.5`, `retries: 2`); `auto` takes them
from the estimate. The estimate runs in both cases, so the round trip and loss of a
device with fixed timeouts are known too (metrics, and a later switch to `auto`).
"""

from __future__ import annotations

from borderwatch.collector.snmp.rtt import RttBounds, RttEstimator
from borderwatch.collector.snmp.settings import AUTO, REFERENCE_TIMEOUT, SessionSettings

# Retries with a fixed timeout and no retries given: the former default.
FIXED_RETRIES_DEFAULT = 1


class RequestTiming:
    """Per-session: `timeout()`/`retries()` before a request, `answered()`/`silent()` after."""

    __slots__ = ("_fixed_retries", "_fixed_timeout", "estimator")

    def __init__(self, settings: SessionSettings, bounds: RttBounds | None = None) -> None:
        self.estimator = RttEstimator(bounds)
        self._fixed_timeout = None if settings.timeout == AUTO else float(settings.timeout)
        if settings.retries != AUTO:
            self._fixed_retries: int | None = int(settings.retries)
        elif self._fixed_timeout is not None:
            self._fixed_retries = FIXED_RETRIES_DEFAULT
        else:
            self._fixed_retries = None

    @property
    def adaptive(self) -> bool:
        """True when the timeout comes from the estimate."""
        return self._fixed_timeout is None

    def answer_reference(self) -> float:
        """The timeout walk.py's answer-time rule compares answer times with (joint walks
        for an agent answering within an eighth of it): the fixed timeout, as always; for
        `auto`, REFERENCE_TIMEOUT plus eight times the fastest round trip seen, i.e. the
        former 2 s default's rule applied to the agent's own share of the answer time,
        the link's round trip taken out. Otherwise a VSAT agent (0.6 s answers: more
        than an eighth of 2 s) would be walked column by column because of its link.
        """
        fixed = self._fixed_timeout
        if fixed is not None:
            return fixed
        return REFERENCE_TIMEOUT + 8 * (self.estimator.min_rtt or 0.0)

    def timeout(self) -> float:
        """Seconds to wait for each attempt of the next request."""
        fixed = self._fixed_timeout
        return fixed if fixed is not None else self.estimator.timeout()

    def retries(self) -> int:
        """Resends after a timeout for the next request."""
        fixed = self._fixed_retries
        return fixed if fixed is not None else self.estimator.retries()

    def answered(self, elapsed: float, attempts: int, last_wait: float | None = None) -> None:
        """A request was answered `elapsed` s after its first send, `last_wait` s after
        its last one, `attempts` datagrams having been sent for it."""
        self.estimator.answered(elapsed, attempts, last_wait)

    def silent(self) -> None:
        """A request's attempts all went unanswered (not: the poll's deadline cut it)."""
        self.estimator.silent()
