"""What every notifier is: a named receiver that delivers one notification body or says why not.

A notifier raises `TransientError` for what may pass (5xx, connection refused or reset,
timeout: retried with backoff) and `PermanentError` for what will not (4xx: kept as failed,
never retried). Error messages name the receiver, never its URL (URLs carry tokens).
"""

from __future__ import annotations

from typing import Any, Protocol

import aiohttp


class DeliveryError(Exception):
    """A delivery did not happen."""


class TransientError(DeliveryError):
    """Worth retrying later; `retry_after` (seconds) when the receiver said how long to wait
    (Telegram's 429 `parameters.retry_after`): the dispatcher waits at least that long."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """The receiver refused the notification; retrying would not help."""


class Receiver(Protocol):
    """A notifier the dispatcher can drive."""

    name: str

    async def deliver(self, body: dict[str, Any]) -> None:
        """Deliver one notification (`Notification.to_dict()`), or raise a DeliveryError."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


async def post_json(session: aiohttp.ClientSession, name: str, url: str, payload: Any,
                    seconds: float) -> str | None:
    """POST JSON; 2xx ok, 5xx/408/429/network → TransientError, other 4xx → PermanentError.

    Returns the answer's Date header (the receiver's clock; None if it sent none).
    Messages name the receiver `name` and the HTTP status only: the URL may hold a token.
    """
    try:
        async with session.post(url, json=payload,
                                timeout=aiohttp.ClientTimeout(total=seconds)) as resp:
            body = (await resp.read())[:200]
            status = resp.status
            date = resp.headers.get("Date")
    except TimeoutError:
        raise TransientError(f"receiver {name}: no answer within {seconds:g} s") from None
    except aiohttp.ClientError as exc:
        # the exception text can contain the URL: report its class only
        raise TransientError(f"receiver {name}: connection failed "
                             f"({type(exc).__name__})") from None
    if 200 <= status < 300:
        return date
    detail = body.decode("utf-8", "replace").strip().replace("\n", " ")[:120]
    message = f"receiver {name}: HTTP {status}" + (f": {detail}" if detail else "")
    if status >= 500 or status in (408, 429):
        raise TransientError(message)
    raise PermanentError(message)
