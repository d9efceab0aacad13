"""A raw IPv4 echo socket is handed echo replies only: the kernel drops every other ICMP
type (our own requests on loopback included) before they cost a wake-up and a read."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from collector.icmp.echo_socket import EchoSocket

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a raw socket)")


@root_only
def test_raw_socket_receives_no_echo_request_of_its_own() -> None:
    async def first_packet_type() -> int:
        echo = EchoSocket(socket.AF_INET, "raw", lambda *_: None)
        try:
            raw = echo._sock
            echo._loop.remove_reader(raw.fileno())  # read it here, in order of arrival
            assert echo.send("127.0.0.1", 4242)
            # Loopback queues our request before its reply: without the filter the first
            # packet read is the request (type 8).
            raw.setblocking(True)
            raw.settimeout(10)
            packet = raw.recv(2048)
            raw.setblocking(False)
            echo._loop.add_reader(raw.fileno(), echo._on_readable)
            return packet[(packet[0] & 0x0F) * 4]  # the ICMP type, after the IP header
        finally:
            echo.close()

    assert asyncio.run(first_packet_type()) == 0  # echo reply
