"""The lab's UDP gate: each device's address in front of the snmpsim process that serves it.

A few snmpsim processes serve the lab's devices on backend ports of 127.0.0.1; the gate
binds each device's own endpoint (127.0.0.x:port) and relays datagrams both ways. That makes
an agent stoppable on its own although its process is shared: closing the device's socket
leaves its port closed, exactly as a stopped agent process does (ICMP port unreachable,
a poller's timeout), and opening it again towards another backend (a fresh snmpsim process
with the device's changed data, lab/agents.py) restarts just that device. The answers still
come from real snmpsim; the gate only forwards bytes, it never reads or changes them.

One thread does all socket work (selectors); open() and close() hand it a command and wait
for it, so a busy port comes back to the caller as OSError.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Address = tuple[str, int]
IDLE_UPSTREAM = 30.0  # seconds without traffic after which a client's relay socket closes
MAX_DATAGRAM = 65535


@dataclass(eq=False)
class _Front:
    """A device's own endpoint: its socket, where it forwards to, one relay per client."""

    name: str
    sock: socket.socket
    backend: Address
    relays: dict[tuple[object, ...], _Relay] = field(default_factory=dict)


@dataclass(eq=False)
class _Relay:
    """One client of one device: a socket connected to the backend, answers go back."""

    front: _Front
    client: tuple[object, ...]
    sock: socket.socket
    used: float


class UdpGate:
    """Device endpoints relayed to snmpsim backends; each can be closed and reopened alone."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._fronts: dict[str, _Front] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._commands: list[tuple[Callable[[], None], threading.Event, list[BaseException]]] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="lab-gate", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ control (any thread)

    def open(self, name: str, endpoint: Address, backend: Address) -> None:
        """Answer on `endpoint` for device `name` by relaying to `backend`; OSError if busy.

        Opening an open device only moves it to the new backend (its clients' relays close:
        their next request goes to the new process)."""
        self._call(lambda: self._open(name, endpoint, backend))

    def close(self, name: str) -> None:
        """Close the device's endpoint: its port is closed until open() again."""
        self._call(lambda: self._close(name))

    def is_open(self, name: str) -> bool:
        """True while the device's endpoint is bound."""
        return name in self._fronts

    def stop(self) -> None:
        """Close every endpoint and end the thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):
            self._call(self._close_all)
        self._stopping = True
        self._wake()
        self._thread.join(timeout=10)
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    def _call(self, fn: Callable[[], None]) -> None:
        if not self._thread.is_alive():
            raise RuntimeError("the lab's gate has stopped")
        done = threading.Event()
        errors: list[BaseException] = []
        with self._lock:
            self._commands.append((fn, done, errors))
        self._wake()
        if not done.wait(timeout=30):
            raise RuntimeError("the lab's gate did not answer")
        if errors:
            raise errors[0]

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # ------------------------------------------------------------------ the gate's thread

    def _open(self, name: str, endpoint: Address, backend: Address) -> None:
        front = self._fronts.get(name)
        if front is not None:
            self._drop_relays(front)
            front.backend = backend
            return
        family = socket.AF_INET6 if ":" in endpoint[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind(endpoint)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        front = _Front(name, sock, backend)
        self._fronts[name] = front
        self._sel.register(sock, selectors.EVENT_READ, front)

    def _close(self, name: str) -> None:
        front = self._fronts.pop(name, None)
        if front is None:
            return
        self._drop_relays(front)
        self._sel.unregister(front.sock)
        front.sock.close()

    def _close_all(self) -> None:
        for name in list(self._fronts):
            self._close(name)

    def _drop_relays(self, front: _Front) -> None:
        for relay in front.relays.values():
            self._sel.unregister(relay.sock)
            relay.sock.close()
        front.relays.clear()

    def _run(self) -> None:
        next_sweep = time.monotonic() + IDLE_UPSTREAM
        while not self._stopping:
            try:
                for key, _ in self._sel.select(timeout=1.0):
                    target = key.data
                    if target is None:
                        self._run_commands()
                    elif isinstance(target, _Front):
                        if self._fronts.get(target.name) is target:
                            self._from_clients(target)
                    elif target.front.relays.get(target.client) is target:
                        self._from_backend(target)
                now = time.monotonic()
                if now >= next_sweep:
                    next_sweep = now + IDLE_UPSTREAM
                    self._sweep(now)
            except Exception:  # one bad datagram or socket must not end every device's gate
                log.exception("lab gate: unexpected error (relaying goes on)")

    def _run_commands(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass
        with self._lock:
            commands, self._commands = self._commands, []
        for fn, done, errors in commands:
            try:
                fn()
            except Exception as exc:  # handed back to the caller
                errors.append(exc)
            done.set()

    def _from_clients(self, front: _Front) -> None:
        while True:
            try:
                data, client = front.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            relay = front.relays.get(client)
            if relay is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setblocking(False)
                sock.connect(front.backend)
                relay = _Relay(front, client, sock, 0.0)
                front.relays[client] = relay
                self._sel.register(sock, selectors.EVENT_READ, relay)
            relay.used = time.monotonic()
            with contextlib.suppress(OSError):  # refused: the backend is not up (yet)
                relay.sock.send(data)

    def _from_backend(self, relay: _Relay) -> None:
        while True:
            try:
                data = relay.sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP unreachable from an earlier send: nothing to relay
                continue
            relay.used = time.monotonic()
            with contextlib.suppress(OSError):
                relay.front.sock.sendto(data, relay.client)

    def _sweep(self, now: float) -> None:
        for front in self._fronts.values():
            for client, relay in list(front.relays.items()):
                if now - relay.used > IDLE_UPSTREAM:
                    self._sel.unregister(relay.sock)
                    relay.sock.close()
                    del front.relays[client]
