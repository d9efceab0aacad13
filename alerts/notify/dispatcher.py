"""Delivery loops: one per receiver, draining the outbox in order with retry and backoff.

A transient failure retries the same entry after an exponential delay with full jitter
(retry_initial · 2^attempts, capped at retry_max, times a random factor in [0.5, 1]);
nothing behind it is delivered meanwhile, so order is kept. A permanent failure marks the
entry failed and moves on. A receiver's own wait (`TransientError.retry_after`, e.g.
Telegram's 429) is honoured. `wake()` starts a pass at once (a new notification).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

from borderwatch.alerts.notify.outbox import Outbox
from borderwatch.alerts.notify.receiver import PermanentError, Receiver, TransientError

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 3600.0  # seconds; a receiver asking for longer is not believed


def backoff(attempts: int, initial: float, cap: float, rng: Callable[[], float]) -> float:
    """Delay before retry number `attempts` (1 = first retry): exponential, capped, jittered."""
    base = min(cap, initial * 2 ** max(0, attempts - 1))
    return base * (0.5 + 0.5 * rng())


class Dispatcher:
    """Runs the delivery loop of one receiver."""

    def __init__(self, receiver: Receiver, outbox: Outbox, *, retry_initial: float = 1.0,
                 retry_max: float = 60.0, rng: Callable[[], float] = random.random) -> None:
        self.receiver = receiver
        self.outbox = outbox
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._rng = rng
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failures = 0  # transient, each retry counted
        self.rejected = 0  # permanent

    def start(self) -> None:
        """Start the loop (pending entries from before a restart go out first)."""
        self._task = asyncio.create_task(self._run(), name=f"notify-{self.receiver.name}")

    def wake(self) -> None:
        """Something new was queued."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop the loop; undelivered entries stay in the outbox for the next start."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        await self.receiver.close()

    async def _run(self) -> None:
        name = self.receiver.name
        while True:
            self._wake.clear()
            await self.drain()
            due = self.outbox.next_due(name)
            timeout = None if due is None else max(0.05, due - self.outbox.clock.now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def drain(self) -> None:
        """Deliver what is due, in order, until done or a transient failure."""
        name = self.receiver.name
        for entry in self.outbox.due(name):
            try:
                await self.receiver.deliver(entry.body)
            except TransientError as exc:
                self.failures += 1
                delay = backoff(entry.attempts + 1, self.retry_initial, self.retry_max,
                                self._rng)
                if exc.retry_after is not None:
                    # the receiver's own wait (a rate limit) beats our backoff, even past
                    # retry_max: an earlier retry would only be limited again
                    delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER))
                self.outbox.retry(entry.id, self.outbox.clock.now() + delay, str(exc))
                log.warning("notification %s not delivered (attempt %d): %s; retry in %.1f s",
                            entry.dedup, entry.attempts + 1, exc, delay)
                return
            except PermanentError as exc:
                self.rejected += 1
                self.outbox.failed(entry.id, str(exc))
                log.error("notification %s refused, not retried: %s", entry.dedup, exc)
                continue
            except Exception as exc:  # a bug in a notifier must not stop the loop
                self.failures += 1
                delay = backoff(entry.attempts + 1, self.retry_initial, self.retry_max,
                                self._rng)
                self.outbox.retry(entry.id, self.outbox.clock.now() + delay,
                                  type(exc).__name__)
                log.exception("notifier %s crashed; retry in %.1f s", name, delay)
                return
            self.delivered += 1
            self.outbox.delivered(entry.id)
            log.info("notification %s delivered to %s", entry.dedup, name)


class Reposter:
    """Calls `repost()` of an Alertmanager notifier every resend interval."""

    def __init__(self, notifier: object, interval: float) -> None:
        self.notifier = notifier
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start re-posting."""
        self._task = asyncio.create_task(self._run(), name="alertmanager-repost")

    async def stop(self) -> None:
        """Stop re-posting."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.notifier.repost()  # type: ignore[attr-defined]
