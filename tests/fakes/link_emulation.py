"""Emulated field links (VSAT, a degraded microwave hop) from what this kernel offers.

The kernel has no netem ("Specified qdisc kind is unknown"), so a profile is built from
three parts, each doing what it can:

- SNMP delay, jitter and loss: the UDP fault proxy (udp_proxy.py) between collector and a
  real agent, per direction (`apply_to_proxy`). Loss is given per round trip and split
  evenly over the two directions; a burst profile adds Gilbert-Elliott loss.
- Random loss for any protocol, ICMP included: an nftables table (`nft_ruleset`) with
  `numgen random` rules, in a network namespace only (`NamespaceShaping`). ICMP by
  default: SNMP already gets its loss from the proxy, and would otherwise get both. The
  rule sits on the output hook only: on the loopback every packet crosses output once
  (and input once), so a round trip meets it twice, as on a real link. For bursts, a
  thread flips a "bad" chain in and out of the path (nftables has no loss state).
- Rate: a `tbf` qdisc (`tc qdisc … tbf`) on the namespace's loopback.

No delay for ICMP (that is netem's job): ICMP sees the profile's loss and rate only.

Used by the tests (proxy part, no root) and by bench/vsat_timeouts.py (all parts, root).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import subprocess
import threading
from dataclasses import dataclass

from .udp_proxy import BurstLoss, UdpProxy  # relative: imported as fakes.… and tests.fakes.…

NFT_TABLE = "bw_emul"


@dataclass(frozen=True)
class LinkProfile:
    """One emulated link. Round-trip figures; the proxy halves them per direction."""

    name: str
    rtt_min: float  # seconds
    rtt_max: float
    loss: float  # share of round trips lost (request or answer), random
    rate_bit: int | None = None  # tbf rate, bit/s
    burst: BurstLoss | None = None  # per-direction burst loss (template, copied per use)

    @property
    def one_way_loss(self) -> float:
        """The per-direction drop probability that loses `loss` of round trips."""
        return 1 - math.sqrt(1 - self.loss)


# A VSAT terminal: 550-650 ms round trip, up to 5 % loss, 2 Mbit/s.
VSAT = LinkProfile("vsat", rtt_min=0.55, rtt_max=0.65, loss=0.05, rate_bit=2_000_000)
# A microwave hop in rain fade: short round trip, losses in bursts (about 1 datagram in
# 13 is in a bad stretch, where 70 % are lost: ~5 % lost on average, several in a row).
MICROWAVE_DEGRADED = LinkProfile("microwave-degraded", rtt_min=0.004, rtt_max=0.012, loss=0.0,
                                 rate_bit=20_000_000, burst=BurstLoss(0.02, 0.25, 0.0, 0.7))
PROFILES = {p.name: p for p in (VSAT, MICROWAVE_DEGRADED)}


def vsat(loss: float = VSAT.loss) -> LinkProfile:
    """The VSAT profile with another loss (the issue's range is 2-5 %)."""
    return LinkProfile(VSAT.name, VSAT.rtt_min, VSAT.rtt_max, loss, VSAT.rate_bit)


def apply_to_proxy(proxy: UdpProxy, profile: LinkProfile) -> None:
    """Set the proxy's two directions to the profile: each gets half the round trip,
    with jitter spanning rtt_min..rtt_max, and its share of the loss."""
    half_mid = (profile.rtt_min + profile.rtt_max) / 4
    half_jitter = (profile.rtt_max - profile.rtt_min) / 4
    for direction in (proxy.to_agent, proxy.to_client):
        direction.delay = half_mid
        direction.jitter = half_jitter
        direction.drop = profile.one_way_loss
        direction.burst = None if profile.burst is None else BurstLoss(
            profile.burst.enter, profile.burst.leave, profile.burst.loss_good,
            profile.burst.loss_bad)


def nft_ruleset(profile: LinkProfile, protocols: tuple[str, ...] = ("icmp", "ipv6-icmp"),
                table: str = NFT_TABLE) -> str:
    """The nftables table of the profile's random loss for `protocols` (nftables' names;
    empty: every protocol), on the output hook (see the module docstring). Burst profiles
    get an empty `gate` chain that NamespaceShaping points at `bad` during bursts."""
    match = f"meta l4proto {{ {', '.join(protocols)} }} " if protocols else ""
    per_mille = round(profile.one_way_loss * 1000)
    lines = [f"table inet {table} {{"]
    if profile.burst is not None:
        bad = round(profile.burst.loss_bad * 1000)
        lines += ["  chain bad {", f"    {match}numgen random mod 1000 < {bad} drop", "  }",
                  "  chain gate {", "  }"]
    lines += ["  chain output {", "    type filter hook output priority 0; policy accept;"]
    if per_mille:
        lines.append(f"    {match}numgen random mod 1000 < {per_mille} drop")
    if profile.burst is not None:
        lines.append("    jump gate")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def tbf_args(profile: LinkProfile, dev: str = "lo") -> list[str]:
    """`tc` arguments of the profile's rate limit (a token bucket: no netem needed)."""
    return ["qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{profile.rate_bit}bit",
            "burst", "32kbit", "latency", "400ms"]


def in_private_netns() -> bool:
    """True when this process runs in a namespace made with `ip netns` (bench/netns.py),
    not the host's (whose PID 1 may not be readable from here to compare with)."""
    try:
        here = os.stat("/proc/self/ns/net").st_ino
        return any(os.stat(os.path.join("/run/netns", name)).st_ino == here
                   for name in os.listdir("/run/netns"))
    except OSError:
        return False


class NamespaceShaping:
    """The profile's nftables loss and tbf rate on this network namespace (root, and
    never the host's: refused there). A context manager; undone on exit."""

    def __init__(self, profile: LinkProfile, *, dev: str = "lo", seed: int = 1,
                 step: float = 0.02,
                 protocols: tuple[str, ...] = ("icmp", "ipv6-icmp")) -> None:
        self.profile = profile
        self.protocols = protocols
        self.dev = dev
        self._rng = random.Random(seed)
        self._step = step  # seconds per Gilbert-Elliott step of the nftables burst gate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> NamespaceShaping:
        if not in_private_netns():
            raise RuntimeError("refusing to shape the host's network namespace; run inside "
                               "a private one (bench/netns.py)")
        subprocess.run(["nft", "-f", "-"], input=nft_ruleset(self.profile, self.protocols),
                       text=True,
                       check=True, capture_output=True)
        if self.profile.rate_bit:
            subprocess.run(["tc", *tbf_args(self.profile, self.dev)], check=True,
                           capture_output=True)
        if self.profile.burst is not None:
            self._thread = threading.Thread(target=self._gate, name="bw-burst-gate",
                                            daemon=True)
            self._thread.start()
        return self

    def _gate(self) -> None:
        assert self.profile.burst is not None
        state = BurstLoss(self.profile.burst.enter, self.profile.burst.leave)
        bad = False
        while not self._stop.wait(self._step):
            state.lost(self._rng)
            if state.bad != bad:
                bad = state.bad
                rule = "jump bad" if bad else ""
                cmd = f"flush chain inet {NFT_TABLE} gate\n" + (
                    f"add rule inet {NFT_TABLE} gate {rule}\n" if rule else "")
                subprocess.run(["nft", "-f", "-"], input=cmd, text=True, check=False,
                               capture_output=True)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with contextlib.suppress(OSError):
            subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], check=False,
                           capture_output=True)
            if self.profile.rate_bit:
                subprocess.run(["tc", "qdisc", "del", "dev", self.dev, "root"], check=False,
                               capture_output=True)
