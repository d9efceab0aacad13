"""What one poll of one device produces: the contract between poller, state and exporters."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs; hashable, cheap to compare


class Kind(StrEnum):
    """How a sample's value behaves over time."""

    GAUGE = "gauge"
    COUNTER = "counter"  # raw device counter; state makes it monotonic


# Not frozen, though nothing may change a Sample once made: a frozen dataclass sets each
# field through object.__setattr__, which made one Sample cost ~3x as much to build (the
# mapper builds one per value of every poll). unsafe_hash keeps it hashable by value.
@dataclass(slots=True, unsafe_hash=True)
class Sample:
    """One value read from a device, already mapped to its metric by the profile.

    `metric` is the exported metric name (e.g. 'borderwatch_interface_receive_bytes_total');
    `counter_bits` is 32 or 64 for counters (which wrap value to assume), None for gauges.
    `t` is when the answer that carried the value arrived, on the poller's steady clock
    (PollResult.started_steady is the poll's start on it): a column walked after a retry
    arrives seconds after the poll began, and a rate must divide by the time between the
    two answers, not between two poll starts. None: not stamped (built by hand), the
    poll's own time stands in.
    """

    metric: str
    labels: Labels
    value: float | int
    kind: Kind = Kind.GAUGE
    counter_bits: int | None = None
    # not part of equality or repr: two polls that read the same values read the same
    t: float | None = field(default=None, compare=False, repr=False)


class ProblemKind(StrEnum):
    """Why a successful poll is partial (PollResult.problem_kinds; the exported
    borderwatch_device_poll_problems{kind} and the "device data incomplete" alert)."""

    LOOP = "loop"  # a walk's OIDs did not increase: the rest of that column is missing
    ROWS_BOUND = "rows_bound"  # a table reached its row bound
    REQUESTS_BOUND = "requests_bound"  # the poll reached its request bound
    SAMPLES_BOUND = "samples_bound"  # the poll reached its samples bound
    REFUSED = "refused"  # varbinds of the wrong type (counted per varbind)
    FAILED = "failed"  # a walk or GET after the first GET failed (timeout, error, ...)
    MISMATCH = "mismatch"  # a profile named for the device answers none of its objects


@dataclass(slots=True)
class PollResult:
    """Outcome of one poll. A failed poll is data (ok=False, error), never an exception."""

    device_id: str
    started: float  # wall clock (time.time()) at the start of the poll
    duration: float  # seconds
    ok: bool
    error: str | None = (
        None  # short, secret-free reason when not ok ("timeout", "malformed response: ...")
    )
    samples: list[Sample] = field(default_factory=list)
    sys_uptime_ticks: int | None = None  # sysUpTime.0 in 1/100 s, for reboot detection
    varbinds: int = 0  # how many varbinds were received (for self-metrics and benchmarks)
    requests: int = 0  # SNMP requests sent, retries included
    problems: list[str] = field(
        default_factory=list
    )  # partial failures: profile mismatch, OID loop, ...
    profile: str | None = None  # the profile(s) actually used, e.g. "if-mib+ups-mib"
    bad_varbinds: int = 0  # varbinds refused as the wrong type (A12), counted once each
    strings_truncated: int = 0  # device strings cut to collector.device_strings.MAX_CHARS
    # ProblemKind value → how many problems of that kind (refused: varbinds); empty when
    # the poll read everything it was asked to. `problems` has the texts.
    problem_kinds: dict[str, int] = field(default_factory=dict)
    # The poll's start on the poller's steady clock (the scale of Sample.t): with
    # `started` it turns an answer's steady time into wall time (`wall_time`).
    started_steady: float | None = None
    # When the answer carrying sysUpTime arrived (steady, as Sample.t); None: not stamped.
    sys_uptime_at: float | None = None

    def wall_time(self, t: float | None) -> float:
        """The wall time of steady time `t` of this poll: the poll's wall start plus the
        steady time since then, so a wall-clock step during the poll moves none of its
        answers relative to each other (`started` itself for an unstamped value)."""
        if t is None or self.started_steady is None:
            return self.started
        return self.started + (t - self.started_steady)
