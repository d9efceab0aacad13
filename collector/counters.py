"""Counter wrap vs reset, and sysUpTime wrap vs reboot: pure decision functions.

SNMP counters are not monotonic on the wire: a Counter32 wraps at 2^32, a reboot (or an
interface re-created, or `clear counters` announced through ifCounterDiscontinuityTime)
starts them again from about 0, and an agent may stop answering the 64-bit column and fall
back to the 32-bit one. Exported totals must never go backwards and rates must never spike,
so every new raw value is classified before it is used.

Decision rule for one device (`classify_uptime`; E = steady-clock seconds between the two
polls, tol = 5 s + 10 % of E; sysUpTime in ticks of 1/100 s):

1. sysUpTime went down and, taken modulo 2^32 ticks, it advanced by E ± tol → WRAPPED.
   sysUpTime wraps after 497.1 days; that is not a reboot (A26).
2. sysUpTime went down by more than tol → REBOOTED ("sysUpTime went back").
   Going back by less than tol is agent jitter → NORMAL.
3. sysUpTime went up but is now below E − tol → REBOOTED: the agent booted after the
   previous poll (and its uptime already passed the old, small value).
4. Anything else → NORMAL. This includes a frozen sysUpTime, as in recorded dumps.

Decision rule for one counter series (`counter_step`), in this order. RESET and GAP both
mean "no delta, no rate this interval, the new raw value is the baseline". The exported
total keeps its value, so one interval has no rate and there is never a spike.

1. No previous value → FIRST.
2. The caller says the series was reset → RESET. Reasons: device REBOOTED (above), or
   ifCounterDiscontinuityTime of the row changed.
3. The counter width changed (64 → 32 when ifHCInOctets disappears and the profile falls
   back to ifInOctets, or back) → RESET. The two counters count from different origins.
4. The elapsed time is <= 0 → GAP (clock trouble; nothing sensible to divide by).
5. Counter32 and `max_rate` is known (e.g. the interface speed in bytes/s):
   if E > 2^32 / max_rate, the counter may have wrapped more than once unseen → GAP.
6. The value went up: delta = cur − prev. If `max_rate` is known and delta / E exceeds
   max_rate × PLAUSIBLE_RATE_FACTOR → RESET ("implausible jump"). Otherwise → NORMAL.
7. The value went down:
   * Counter64 → RESET. A real 64-bit wrap takes decades, even at 100 Gbit/s.
   * Counter32: the wrap hypothesis gives delta = cur + 2^32 − prev. It is plausible
     when delta / E <= max_rate × PLAUSIBLE_RATE_FACTOR (with `max_rate` known), or
     when delta <= 2^31 (without it: one interval cannot use more than half the range,
     or nothing can be told). Plausible → WRAP with that delta; otherwise → RESET.

Why this tells a wrap from a reset when the peers do not: a wrap is only accepted when
the device did not reboot (sysUpTime compared with steady time, so its own 497-day wrap is
no reboot), the row reports no discontinuity, the width did not change, and the implied
rate fits the line. Everything else restarts the series without a spike.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

UPTIME_MODULUS = 2**32  # sysUpTime is a TimeTicks (unsigned 32-bit, 1/100 s)
TICKS_PER_SECOND = 100
COUNTER32_MODULUS = 2**32
COUNTER64_MODULUS = 2**64
# A sample's time is its answer's arrival, not the agent's reading of the counter (the
# return trip and the agent's own caching lie between), so a measured rate can exceed
# the line rate a little on a short interval; beyond this factor a jump is not believed.
PLAUSIBLE_RATE_FACTOR = 1.5


def uptime_tolerance(elapsed: float) -> float:
    """Seconds by which sysUpTime may disagree with wall time without meaning a reboot."""
    return 5.0 + 0.1 * max(elapsed, 0.0)


class UptimeChange(StrEnum):
    """How sysUpTime moved between two polls of one device."""

    FIRST = "first"
    NORMAL = "normal"
    WRAPPED = "wrapped"  # the 497-day TimeTicks wrap: not a reboot
    REBOOTED = "rebooted"


def classify_uptime(prev_ticks: int | None, cur_ticks: int,
                    elapsed: float) -> tuple[UptimeChange, str]:
    """Classify a sysUpTime change (see the module docstring); returns (change, why)."""
    if prev_ticks is None:
        return UptimeChange.FIRST, ""
    tol = uptime_tolerance(elapsed)
    if cur_ticks < prev_ticks:
        advanced = ((cur_ticks - prev_ticks) % UPTIME_MODULUS) / TICKS_PER_SECOND
        if abs(advanced - elapsed) <= tol:
            return UptimeChange.WRAPPED, "sysUpTime wrapped at 2^32 ticks (497 days)"
        back = (prev_ticks - cur_ticks) / TICKS_PER_SECOND
        if back <= tol:
            return UptimeChange.NORMAL, ""
        return UptimeChange.REBOOTED, (
            f"sysUpTime went back from {prev_ticks / TICKS_PER_SECOND:.0f} s "
            f"to {cur_ticks / TICKS_PER_SECOND:.0f} s")
    cur_s = cur_ticks / TICKS_PER_SECOND
    if cur_ticks != prev_ticks and cur_s < elapsed - tol:
        return UptimeChange.REBOOTED, (
            f"uptime {cur_s:.0f} s is shorter than the {elapsed:.0f} s since the last poll")
    return UptimeChange.NORMAL, ""


class Verdict(StrEnum):
    """What a new raw counter value means for the monotonic series."""

    FIRST = "first"  # baseline only
    NORMAL = "normal"
    WRAP = "wrap"  # Counter32 passed 2^32 once
    RESET = "reset"  # restarted: reboot, discontinuity, width change, implausible change
    GAP = "gap"  # too long (or no time) since the previous value to tell wraps apart


class Step(NamedTuple):
    """One classified counter change: add `delta` to the total; rate only when counted."""

    verdict: Verdict
    delta: int = 0
    reason: str = ""

    @property
    def counted(self) -> bool:
        """True when the delta is real traffic (NORMAL or WRAP): a rate exists."""
        return self.verdict is Verdict.NORMAL or self.verdict is Verdict.WRAP


_FIRST = Step(Verdict.FIRST)


def counter_step(prev: int | None, cur: int, *, bits: int, prev_bits: int | None,
                 elapsed: float, reset: str | None = None,
                 max_rate: float | None = None) -> Step:
    """Classify a counter change from `prev` to `cur` (see the module docstring).

    bits: width of the counter now (32 or 64); prev_bits: its width at `prev`.
    reset: why the caller knows the series restarted (reboot, discontinuity), or None.
    max_rate: highest plausible increase per second (e.g. interface speed in bytes/s),
    None when unknown (0 counts as unknown).
    """
    if prev is None:
        return _FIRST
    if reset:
        return Step(Verdict.RESET, 0, reset)
    if prev_bits is not None and prev_bits != bits:
        return Step(Verdict.RESET, 0, f"counter width changed from {prev_bits} to {bits} bits")
    if elapsed <= 0:
        return Step(Verdict.GAP, 0, "no time elapsed since the previous value")
    ceiling = max_rate * PLAUSIBLE_RATE_FACTOR if max_rate else None
    if bits == 32 and max_rate and elapsed > COUNTER32_MODULUS / max_rate:
        return Step(Verdict.GAP, 0, f"Counter32 may have wrapped more than once in "
                                    f"{elapsed:.0f} s")
    if cur >= prev:
        delta = cur - prev
        if ceiling is not None and delta > ceiling * elapsed:
            return Step(Verdict.RESET, 0, f"implausible jump of {delta} in {elapsed:.1f} s")
        return Step(Verdict.NORMAL, delta)
    if bits != 32:
        return Step(Verdict.RESET, 0, f"Counter{bits} went down")
    delta = cur + COUNTER32_MODULUS - prev
    plausible = delta <= ceiling * elapsed if ceiling is not None \
        else delta <= COUNTER32_MODULUS // 2
    if plausible:
        return Step(Verdict.WRAP, delta)
    return Step(Verdict.RESET, 0, "Counter32 went down by more than one plausible wrap")
