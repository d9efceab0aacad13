"""Per-device round-trip estimation for `timeout: auto` (RFC 6298 style), pure and clocked
by its caller: it is fed outcomes of requests and says what timeout and retries to use.

Why each rule:

- SRTT/RTTVAR with alpha = 1/8, beta = 1/4 and RTO = SRTT + max(G, 4 × RTTVAR), clamped to
  [`lo`, `hi`] (RFC 6298 §2). A fibre device gets a timeout of a fraction of a second, a
  VSAT one a little above its 600 ms round trip, without anyone configuring either.
- Karn's rule (RFC 6298 §3): a request answered after a retransmission gives no sample.
  The transports re-send the *same* datagram with the same request-id/msgID (a late
  answer to attempt 1 still answers the request, which on a slow link saves a round
  trip), so the id cannot tie an answer to the transmission it answers: timing it from
  the first send would count the lost attempt's timeout as round-trip time, from the last
  send could under-estimate it by the same amount. Distinct ids per attempt would make
  the match exact but throw the late-but-valid answers away; the same-id design is kept.
  One exception, by timing instead of ids: an answer that arrives sooner after the last
  send than half the fastest round trip the device ever showed cannot answer that send.
  It answers an earlier one: the resend was spurious (the timeout too short, nothing
  lost), so it is not counted as loss, and with two attempts the answer is exactly
  attempt 1's, a valid sample (the idea of Eifel/F-RTO, RFC 3522/5682, without their
  timestamps). That is what lets a too-short timeout (a VSAT answer after 0.7 s on a
  0.6 s timeout) correct itself without a loss-inflated retry count.
- Back-off (RFC 6298 §5.5): a request that got no answer at all doubles the timeout of
  the next ones until a valid sample arrives, so a round trip that grew past the
  estimate (fibre failing over to VSAT) is caught up with despite Karn's rule.
- Retries sized to loss: the share of attempts that went unanswered in requests that
  *were* answered (a dead device is not a lossy one) as a moving average, and as many
  attempts as bring a request's failure probability under `target_failure` (1e-4: a
  poll is 10-20 requests, and should fail on loss alone at most 1-2 times in 1,000), within
  [`min_retries`, `max_retries`].
- A dead device is not waited on longer than its history justifies: a request is given
  `timeout × (retries + 1)`, both from the device's own history (its round trip and its
  loss), so a fibre device that dies is declared down in well under a second, a VSAT
  one in a few seconds; and the back-off stops at `ceiling()`: a few times the largest
  round trip the device has shown, not the global upper bound, once it has a history.

Times are seconds; the caller measures them on the monotonic clock (collector/clock.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

ALPHA = 1 / 8
BETA = 1 / 4
K = 4
LOSS_WEIGHT = 1 / 256  # decay per answered request of the loss sums: a memory of ~256
# requests (~20 polls), long enough that a few per cent of loss reads steadily


@dataclass(frozen=True, slots=True)
class RttBounds:
    """The bounds and targets of the estimate (one set for the whole process)."""

    lo: float = 0.3  # no timeout below: a busy agent's answer time varies by 100s of ms
    hi: float = 10.0  # nor above: nothing worth polling answers slower
    initial: float = 2.0  # before any sample (the former fixed default)
    granularity: float = 0.01  # G of RFC 6298: the clock's and the event loop's jitter
    min_retries: int = 1
    max_retries: int = 4
    initial_retries: int = 1  # before any loss is known
    target_failure: float = 1e-4  # a request may fail on loss alone this often (a poll
    # of 10-20 requests: 1-2 in 1,000)
    history_factor: float = 2.0  # back-off ceiling: this × the largest round trip seen
    min_samples: int = 3  # samples before the history caps the back-off
    loss_prior: float = 8.0  # attempts "seen answered" before the first: one early
    # loss must not read as 50 % (and 4 retries)


class RttEstimator:
    """The round-trip estimate and loss of one device; see the module docstring."""

    __slots__ = ("_lost", "_retries", "_sent", "_timeout", "backoff", "bounds", "loss",
                 "max_rtt", "min_rtt", "rttvar", "samples", "srtt")

    def __init__(self, bounds: RttBounds | None = None) -> None:
        self.bounds = bounds or RttBounds()
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.samples = 0
        self.max_rtt = 0.0  # largest sample seen (decays slowly towards SRTT)
        self.min_rtt: float | None = None  # smallest sample seen
        self.loss: float | None = None  # share of attempts lost, None before any answer
        self._lost = 0.0
        self._sent = self.bounds.loss_prior
        self.backoff = 1.0
        # timeout() and retries() are read before every request: computed once per
        # input (_refresh) instead of at each read
        self._timeout = self.bounds.initial
        self._retries = self.bounds.initial_retries

    # ------------------------------------------------------------------ outputs

    def base_timeout(self) -> float:
        """RTO without back-off: SRTT + max(G, K × RTTVAR), clamped (RFC 6298 §2)."""
        b = self.bounds
        if self.srtt is None:
            return b.initial
        rto = self.srtt + max(b.granularity, K * self.rttvar)
        return min(b.hi, max(b.lo, rto))

    def ceiling(self) -> float:
        """The longest per-attempt wait the device's history justifies."""
        b = self.bounds
        if self.samples < b.min_samples:
            return b.hi  # no history yet: only the global bound
        return min(b.hi, max(self.base_timeout(), b.history_factor * self.max_rtt, b.lo))

    def timeout(self) -> float:
        """Seconds to wait for one attempt's answer now."""
        return self._timeout

    def retries(self) -> int:
        """Resends after a timeout: enough that loss alone fails `target_failure` of
        requests, or fewer when the device has never answered enough to say."""
        return self._retries

    def _refresh(self) -> None:
        base = self.base_timeout()
        # without back-off the ceiling (never below the base) cannot bind: skip it, as this
        # runs after every answer of every device
        self._timeout = base if self.backoff <= 1.0 else min(self.ceiling(), base * self.backoff)
        self._retries = self._retries_for_loss()

    def _retries_for_loss(self) -> int:
        b = self.bounds
        if self.loss is None:
            return b.initial_retries
        if self.loss <= 0.0:
            return b.min_retries
        if self.loss >= 1.0:
            return b.max_retries
        attempts = math.ceil(math.log(b.target_failure) / math.log(self.loss))
        return min(b.max_retries, max(b.min_retries, attempts - 1))

    # ------------------------------------------------------------------ inputs

    def answered(self, elapsed: float, attempts: int, last_wait: float | None = None) -> None:
        """A request was answered `elapsed` seconds after its first send and `last_wait`
        after its last one, `attempts` datagrams having been sent for it. A first-attempt
        answer is a sample; so is a second-attempt one that came too soon to answer the
        resend (module docstring); other answers after a resend are not (Karn)."""
        attempts = max(1, attempts)
        spurious = (attempts > 1 and last_wait is not None and self.min_rtt is not None
                    and last_wait < self.min_rtt / 2)
        self._note_loss(attempts - 1 - (1 if spurious else 0), attempts)
        if attempts == 1 or (spurious and attempts == 2):
            self.sample(elapsed)  # refreshes
        else:  # Karn: ambiguous, and the back-off stays until a valid sample
            self._refresh()

    def silent(self) -> None:
        """A request got no answer to any attempt: back off (up to the ceiling)."""
        b = self.bounds
        self.backoff = min(self.backoff * 2, b.hi / b.lo)  # the ceiling caps the timeout
        self._refresh()

    def sample(self, rtt: float) -> None:
        """One valid round-trip measurement (RFC 6298 §2.2-2.3); ends any back-off."""
        rtt = max(0.0, rtt)
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar = (1 - BETA) * self.rttvar + BETA * abs(self.srtt - rtt)
            self.srtt = (1 - ALPHA) * self.srtt + ALPHA * rtt
        self.samples += 1
        # the largest round trip seen, forgotten slowly (1/64 per sample) towards SRTT
        self.max_rtt = max(rtt, self.max_rtt - (self.max_rtt - self.srtt) / 64)
        self.min_rtt = rtt if self.min_rtt is None else min(self.min_rtt, rtt)
        self.backoff = 1.0
        self._refresh()

    def _note_loss(self, lost: int, sent: int) -> None:
        # Decaying sums of attempts lost and sent: their ratio is the per-attempt loss.
        # (Under Karn's ambiguity an attempt answered late counts as lost: conservative.)
        keep = 1 - LOSS_WEIGHT
        self._lost = self._lost * keep + lost
        self._sent = self._sent * keep + sent
        self.loss = self._lost / self._sent

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """What the state file keeps (no back-off: a restart starts from the estimate)."""
        return {"srtt": self.srtt, "rttvar": self.rttvar, "samples": self.samples,
                "max_rtt": self.max_rtt, "min_rtt": self.min_rtt, "loss": self.loss}

    @classmethod
    def from_dict(cls, data: Any, bounds: RttBounds | None = None) -> RttEstimator:
        """An estimator from to_dict() output; anything malformed gives a fresh one."""
        est = cls(bounds)
        if not isinstance(data, dict):
            return est
        try:
            srtt, rttvar = data.get("srtt"), float(data.get("rttvar", 0.0))
            samples, max_rtt = int(data.get("samples", 0)), float(data.get("max_rtt", 0.0))
            loss, min_rtt = data.get("loss"), data.get("min_rtt")
            values = [rttvar, max_rtt] + [float(v) for v in (srtt, loss, min_rtt)
                                          if v is not None]
            if any(not math.isfinite(v) or v < 0 for v in values) or samples < 0:
                return est
            if srtt is not None:
                est.srtt = min(float(srtt), est.bounds.hi)
                est.rttvar = min(rttvar, est.bounds.hi)
                est.samples = samples
                est.max_rtt = min(max_rtt, est.bounds.hi)
                est.min_rtt = None if min_rtt is None else min(float(min_rtt), est.bounds.hi)
            if loss is not None:
                est.loss = min(1.0, float(loss))
                est._sent = 1 / LOSS_WEIGHT  # a full memory's worth of weight behind it
                est._lost = est.loss * est._sent
        except (TypeError, ValueError):
            return cls(bounds)
        est._refresh()
        return est
