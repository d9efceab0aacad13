"""Rounds of echo requests → RTT (last, average, jitter), loss ratio and reachability.

A round is `count` requests to one device; it answers if any request does (one lost echo
on a VSAT hop with a few per cent loss is not an outage). Loss, average and jitter are
computed over the last `window` rounds, so they move smoothly and need no histogram
buckets guessed for both 1 ms fibre and 600 ms VSAT. Jitter is the mean absolute difference
of consecutive round trips (the idea of RFC 3550's interarrival jitter, unsmoothed).
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class IcmpRound:
    """One round: what was sent and the round trips (seconds) of the replies, in order."""

    device_id: str
    sent: int
    rtts: tuple[float, ...]
    started: float  # steady clock
    started_wall: float

    @property
    def answered(self) -> bool:
        """True if any request of the round got its reply."""
        return bool(self.rtts)


@dataclass(slots=True)
class IcmpSnapshot:
    """A device's ICMP view now; owned by collector.state, read-only for others."""

    up: bool  # the latest round got a reply
    rtt_last: float | None  # seconds, the latest reply
    rtt_average: float | None  # seconds, mean over the window
    rtt_jitter: float | None  # seconds, mean |Δ| of consecutive round trips in the window
    loss_ratio: float  # lost / sent over the window
    sent_total: int
    received_total: int
    last_round_steady: float
    last_reply_steady: float | None  # steady start of the latest round that answered
    last_reply_wall: float | None


@dataclass(slots=True)
class IcmpStats:
    """Rolling per-device statistics; `add()` returns the new snapshot."""

    window: int = 10
    rounds: deque[IcmpRound] = field(default_factory=deque)
    sent_total: int = 0
    received_total: int = 0
    last_reply: IcmpRound | None = None

    def add(self, r: IcmpRound) -> IcmpSnapshot:
        """Fold one round in and describe the window."""
        self.rounds.append(r)
        while len(self.rounds) > self.window:
            self.rounds.popleft()
        self.sent_total += r.sent
        self.received_total += len(r.rtts)
        if r.answered:
            self.last_reply = r
        sent = sum(x.sent for x in self.rounds)
        rtts = [t for x in self.rounds for t in x.rtts]
        jitter = (sum(abs(b - a) for a, b in itertools.pairwise(rtts))
                  / (len(rtts) - 1)) if len(rtts) > 1 else None
        last = self.last_reply
        return IcmpSnapshot(
            up=r.answered, rtt_last=rtts[-1] if rtts else None,
            rtt_average=sum(rtts) / len(rtts) if rtts else None, rtt_jitter=jitter,
            loss_ratio=1.0 - len(rtts) / sent if sent else 0.0,
            sent_total=self.sent_total, received_total=self.received_total,
            last_round_steady=r.started,
            last_reply_steady=last.started if last else None,
            last_reply_wall=last.started_wall if last else None)
