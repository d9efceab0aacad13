"""The lab's UDP gate (lab/gate.py) on its own: it relays both ways per client, a closed
device has a closed port, reopening moves the device to another backend, a busy endpoint is
refused. The backends are plain UDP echo sockets: the gate forwards bytes, SNMP is not its
business (the lab tests run it in front of real snmpsim)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from borderwatch.lab.gate import UdpGate

FRONT = "127.0.6.1"  # no other test uses 127.0.6.x


class Echo:
    """A UDP server on 127.0.0.1 answering `<tag>:<datagram>`."""

    def __init__(self, tag: bytes) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = self.sock.getsockname()
        self.tag = tag
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(65535)
                self.sock.sendto(self.tag + b":" + data, peer)
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def gate() -> Iterator[UdpGate]:
    g = UdpGate()
    yield g
    g.stop()


def free_front_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((FRONT, 0))
        return int(s.getsockname()[1])


def ask(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((FRONT, port))
        s.send(data)
        return s.recv(65535)


def test_relays_each_client_to_the_backend_and_back(gate: UdpGate) -> None:
    echo = Echo(b"a")
    port = free_front_port()
    try:
        gate.open("dev", (FRONT, port), echo.address)
        assert ask(port, b"hello") == b"a:hello"
        # Two clients at once: each gets its own answer back.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c1, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c2:
            for c in (c1, c2):
                c.settimeout(5)
                c.connect((FRONT, port))
            c1.send(b"one")
            c2.send(b"two")
            assert (c2.recv(100), c1.recv(100)) == (b"a:two", b"a:one")
        assert ask(port, b"x" * 60000) == b"a:" + b"x" * 60000  # a big datagram whole
    finally:
        echo.close()


def test_a_closed_device_has_a_closed_port_and_reopens_on_another_backend(
        gate: UdpGate) -> None:
    old, new = Echo(b"old"), Echo(b"new")
    port = free_front_port()
    try:
        gate.open("dev", (FRONT, port), old.address)
        assert ask(port, b"1") == b"old:1"
        gate.close("dev")
        assert not gate.is_open("dev")
        with pytest.raises(ConnectionRefusedError):  # ICMP port unreachable, as a dead agent
            for _ in range(3):
                ask(port, b"2", timeout=2)
        gate.open("dev", (FRONT, port), new.address)
        assert ask(port, b"3") == b"new:3"
        gate.open("dev", (FRONT, port), old.address)  # open again: just moves it
        assert ask(port, b"4") == b"old:4"
    finally:
        old.close()
        new.close()


def test_a_busy_endpoint_is_refused_to_the_caller(gate: UdpGate) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind((FRONT, 0))
        with pytest.raises(OSError):
            gate.open("dev", squatter.getsockname(), ("127.0.0.1", 9))
    assert not gate.is_open("dev")


def test_stop_closes_every_endpoint() -> None:
    g = UdpGate()
    port = free_front_port()
    g.open("dev", (FRONT, port), ("127.0.0.1", 9))
    g.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((FRONT, port))  # free again
    with pytest.raises(RuntimeError, match="stopped"):
        g.open("dev", (FRONT, port), ("127.0.0.1", 9))
