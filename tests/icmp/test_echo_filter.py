"""The raw IPv4 echo socket against the kernel's real ICMP on loopback: it is handed echo
replies only (the kernel drops every other type, our own requests included, before they
cost a wake-up and a read), and read on the pinger's schedule, a reply's arrival is the
kernel's stamp, not the time it was read."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import time

import pytest

from borderwatch.collector.icmp.echo_socket import EchoSocket

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a raw socket)")


@root_only
def test_raw_socket_receives_no_echo_request_of_its_own() -> None:
    async def first_packet_type() -> int:
        echo = EchoSocket(socket.AF_INET, "raw", lambda *_: None)
        try:
            raw = echo._sock
            if not echo.timestamped:
                echo._loop.remove_reader(raw.fileno())  # read it here, in order of arrival
            assert echo.send("127.0.0.1", 4242)
            # Loopback queues our request before its reply: without the filter the first
            # packet read is the request (type 8).
            raw.setblocking(True)
            raw.settimeout(10)
            packet = raw.recv(2048)
            return packet[(packet[0] & 0x0F) * 4]  # the ICMP type, after the IP header
        finally:
            echo.close()

    assert asyncio.run(first_packet_type()) == 0  # echo reply


@root_only
def test_a_drained_reply_carries_its_arrival_not_the_read() -> None:
    async def scenario() -> tuple[float, list[tuple[str, int, float]], float]:
        replies: list[tuple[str, int, float]] = []
        echo = EchoSocket(socket.AF_INET, "raw", lambda *a: replies.append(a))
        try:
            if not echo.timestamped:
                pytest.skip("no kernel arrival stamps on this platform")
            sent = time.monotonic()
            assert echo.send("127.0.0.1", 4343)
            assert select.select([echo._sock], [], [], 10)[0], "no reply within 10 s"
            seen = time.monotonic()  # the reply is queued by now
            await asyncio.sleep(0.05)  # read later, as the pinger's tick would
            echo.drain()
            return sent, replies, seen
        finally:
            echo.close()

    sent, replies, seen = asyncio.run(scenario())
    assert [(source, seq) for source, seq, _ in replies] == [("127.0.0.1", 4343)]
    assert sent <= replies[0][2] <= seen
