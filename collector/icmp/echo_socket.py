"""`EchoSocket`: one ICMP socket per address family, shared by every echo request in flight.

Why one shared socket: a raw ICMP socket receives a copy of *every* ICMP packet the host
gets, so one socket per target (icmplib's `async_ping`) costs O(targets²) copies at scale.
One socket with a reader callback costs one copy per reply; the pinger matches replies to
its requests by sequence number.

Why the packets are built here and not by icmplib's `ICMPSocket.send`: at 10,000 targets the
pinger sends ~1,000 requests a second, and icmplib builds an `ICMPRequest` object and sums
the whole packet for each one. Only the sequence number changes between two requests, so
the checksum is the sum of the fixed words (precomputed) plus the sequence number.

Which socket (icmplib opens it):
* raw (`SOCK_RAW`): root or `CAP_NET_RAW`; the identifier is ours, replies to other
  processes' pings arrive too and are told apart by identifier.
* unprivileged (`SOCK_DGRAM`, "ping sockets"): any process whose group is inside
  `net.ipv4.ping_group_range`; the kernel picks the identifier and delivers only our
  replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import platform
import random
import socket
import struct
import sys
import time
from collections.abc import Callable

from icmplib import ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import ICMPLibError, SocketPermissionError

log = logging.getLogger(__name__)

_ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
_ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}
_PAYLOAD = b"borderwatch-icmp"  # fixed, an even length: the checksum sums 16-bit words
_READS_PER_WAKEUP = 512  # bounded, so that a reply storm cannot hold the loop
# Linux raw IPv4 sockets: setsockopt(SOL_RAW, ICMP_FILTER, mask), a bit set per ICMP type
# the kernel should not queue (linux/icmp.h). Python's socket module names neither.
_SOL_RAW = 255
_ICMP_FILTER = 1
_ONLY_ECHO_REPLY = struct.pack("=I", ~(1 << _ECHO_REPLY[socket.AF_INET]) & 0xFFFFFFFF)
# SO_TIMESTAMPNS (asm-generic/socket.h: x86 and arm; Python's socket module lacks it): the
# kernel stamps each datagram with its arrival time, handed over as ancillary data.
_SO_TIMESTAMPNS = 35 if sys.platform == "linux" and platform.machine() in (
    "x86_64", "aarch64", "arm64", "i686", "i386") else None
_TIMESPEC = struct.Struct("@ll")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)
RECEIVE_BUFFER = 4 << 20  # bytes: seconds of replies for 10,000 targets


class IcmpUnavailable(Exception):
    """No ICMP socket can be opened with this process's privileges (message says how to fix)."""


HOW_TO_ALLOW = ("run as root, give the process CAP_NET_RAW (systemd: "
                "AmbientCapabilities=CAP_NET_RAW), or allow unprivileged ping sockets for its "
                "group: sysctl net.ipv4.ping_group_range='0 2147483647'")


def open_icmp(family: int, mode: str) -> tuple[ICMPv4Socket | ICMPv6Socket, bool]:
    """An icmplib socket for `family` and whether it is raw; mode auto|raw|unprivileged.

    auto tries the unprivileged socket first (it needs no privilege and sees only our
    replies), then raw. Raises IcmpUnavailable naming what was tried."""
    cls = ICMPv4Socket if family == socket.AF_INET else ICMPv6Socket
    tries = {"auto": (False, True), "raw": (True,), "unprivileged": (False,)}[mode]
    failed = []
    for privileged in tries:
        try:
            return cls(privileged=privileged), privileged
        except SocketPermissionError:
            failed.append("raw" if privileged else "unprivileged")
        except ICMPLibError as exc:
            failed.append(f"{'raw' if privileged else 'unprivileged'} ({exc})")
    raise IcmpUnavailable(f"cannot open an ICMP socket ({', '.join(failed)} refused): "
                          f"{HOW_TO_ALLOW}")


def _keep_only_echo_replies(sock: socket.socket) -> None:
    """Have the kernel drop every ICMP type but echo reply before it reaches a raw IPv4
    socket. Why: a raw socket is handed a copy of every ICMP packet the host receives;
    on loopback (the lab, the benches) that includes each of our own echo requests, so
    half the wake-ups and reads were spent parsing and discarding them, and on a router
    host the same goes for everyone's unreachables and requests. `_parse` still checks
    the type, so a kernel without the option (it is Linux-only) loses nothing but time."""
    with contextlib.suppress(OSError):
        sock.setsockopt(_SOL_RAW, _ICMP_FILTER, _ONLY_ECHO_REPLY)


def _stamp_arrivals(sock: socket.socket) -> bool:
    """Ask the kernel to stamp each datagram's arrival (SO_TIMESTAMPNS); False where it
    cannot (another platform, or the option refused)."""
    if _SO_TIMESTAMPNS is None:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def normalise(address: str) -> str:
    """The text form replies come back with (IPv6 compressed), for matching."""
    return ipaddress.ip_address(address).compressed


# (source address as the kernel gives it, sequence number, monotonic time of arrival)
ReplyHandler = Callable[[str, int, float], None]


class EchoSocket:
    """Sends echo requests over one ICMP socket and hands each echo reply to `on_reply`."""

    def __init__(self, family: int, mode: str, on_reply: ReplyHandler) -> None:
        self.family = family
        self._icmp, self.raw = open_icmp(family, mode)
        self._sock = self._icmp.sock
        self._sock.setblocking(False)
        # A raw socket queues every ICMP packet of the host (on loopback our own requests
        # too): a default-sized buffer overflows while the loop is busy for a moment, and
        # an overflow is a lost reply. SO_RCVBUFFORCE passes net.core.rmem_max (root).
        for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            if option is not None:
                with contextlib.suppress(OSError):
                    self._sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
                    break
        if self.raw and family == socket.AF_INET:
            _keep_only_echo_replies(self._sock)
        # Raw sockets see everyone's replies: our identifier tells ours apart. The kernel
        # replaces it on a datagram socket (and filters for us, and computes the checksum,
        # as it does for every ICMPv6 socket).
        self._ident = random.randrange(1, 0x10000)
        self._type = _ECHO_REQUEST[family]
        self._fixed_sum = (self._type << 8) + self._ident + sum(
            struct.unpack(f"!{len(_PAYLOAD) // 2}H", _PAYLOAD))
        self._on_reply = on_reply
        self._loop = asyncio.get_running_loop()
        # With the kernel's arrival stamps the owner reads the socket on its own schedule
        # (`drain()`, the pinger's ticks) and the round trips stay exact; without them,
        # every reply wakes the event loop as it arrives.
        self.timestamped = _stamp_arrivals(self._sock)
        self._reading = not self.timestamped
        if self._reading:
            self._loop.add_reader(self._sock.fileno(), self._on_readable)
        self.send_errors = 0  # requests the kernel refused (no route, a firewall's reject)

    @property
    def kind(self) -> str:
        """'raw' or 'unprivileged' (for the log and borderwatch_icmp_socket_info)."""
        return "raw" if self.raw else "unprivileged"

    def send(self, address: str, seq: int) -> bool:
        """Send one echo request with sequence number `seq`; False if the kernel refused it."""
        total = self._fixed_sum + seq
        total = (total & 0xFFFF) + (total >> 16)
        total = (total & 0xFFFF) + (total >> 16)
        packet = struct.pack("!BBHHH", self._type, 0, ~total & 0xFFFF, self._ident, seq) \
            + _PAYLOAD
        try:
            self._sock.sendto(packet, (address, 0))
        except OSError:  # no route, a firewall's reject, a full send buffer: a lost request
            self.send_errors += 1
            return False
        return True

    def drain(self) -> None:
        """Read the replies queued on a timestamped socket (at most _READS_PER_WAKEUP);
        each goes to `on_reply` with its arrival on the monotonic clock.

        Why not a reader callback: at 10,000 targets ~1,000 replies a second arrive one
        by one, and a wake-up of the event loop per reply (an epoll_wait, a turn of the
        loop) cost several times the reading. The pinger drains every TICK instead, and
        the kernel's arrival stamp keeps the round trip exact however late it reads."""
        mono, wall = time.monotonic(), time.time()
        recvmsg, unpack = self._sock.recvmsg, _TIMESPEC.unpack_from
        for _ in range(_READS_PER_WAKEUP):
            try:
                packet, ancillary, _flags, source = recvmsg(2048, _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error queued on the socket; the request times out
                return
            seq = self._our_seq(packet)
            if seq is None:
                continue
            arrived = mono
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS \
                        and len(data) >= _TIMESPEC.size:
                    sec, nsec = unpack(data)
                    # the wall-clock stamp moved to the monotonic clock (never later
                    # than now: a wall-clock step in between cannot make it so)
                    arrived = min(mono, mono - (wall - (sec + nsec * 1e-9)))
            self._on_reply(source[0], seq, arrived)

    def _on_readable(self) -> None:
        now = time.monotonic()
        for _ in range(_READS_PER_WAKEUP):
            try:
                packet, source = self._sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error queued on the socket; the request times out
                return
            seq = self._our_seq(packet)
            if seq is not None:
                self._on_reply(source[0], seq, now)

    def _our_seq(self, packet: bytes) -> int | None:
        """The sequence number of an echo reply to one of our requests, else None (not a
        reply, or another process's ping seen by a raw socket)."""
        parsed = self._parse(packet)
        if parsed is None or (self.raw and parsed[0] != self._ident):
            return None
        return parsed[1]

    def _parse(self, packet: bytes) -> tuple[int, int] | None:
        """(identifier, sequence) of an echo reply, None for anything else."""
        if self.family == socket.AF_INET and self.raw:
            if not packet:
                return None
            packet = packet[(packet[0] & 0x0F) * 4:]  # raw IPv4 sockets include the IP header
        if len(packet) < 8:
            return None
        kind, _code, _sum, ident, seq = struct.unpack_from("!BBHHH", packet)
        return (ident, seq) if kind == _ECHO_REPLY[self.family] else None

    def close(self) -> None:
        """Stop reading and close the socket; requests still waiting time out as lost."""
        if self._reading and self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
        self._icmp.close()
