"""ICMP reachability: echo requests to every pinged device, folded into the same state.

`echo_socket.py` opens one ICMP socket (icmplib; raw as root or with CAP_NET_RAW, else an
unprivileged datagram socket where net.ipv4.ping_group_range allows) and matches replies to
requests; `pinger.py` spreads one round per device over the interval with bounded
concurrency; `stats.py` turns rounds into RTT, jitter, loss and reachability.
"""

from borderwatch.collector.icmp.pinger import Pinger, PingTarget
from borderwatch.collector.icmp.settings import IcmpSettings
from borderwatch.collector.icmp.stats import IcmpRound, IcmpSnapshot, IcmpStats

__all__ = ["IcmpRound", "IcmpSettings", "IcmpSnapshot", "IcmpStats", "PingTarget", "Pinger"]
