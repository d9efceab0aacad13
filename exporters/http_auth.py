"""Who may use the listener: basic auth on every route, and who may change things.

Basic auth follows exporter-toolkit's web handler: users from `basic_auth_users` with
bcrypt hashes; an unknown user is checked against a fixed hash, so a wrong name costs
as much as a wrong password (no user enumeration by timing); a verdict is cached per
(user, hash, password) so that Prometheus' scrape every 15 s does not pay bcrypt's
~60 ms each time; and one bcrypt runs at a time, in a worker thread (bcrypt releases
the GIL), so a flood of wrong passwords costs one core-thread and never the event loop.

Write routes (every method but GET and HEAD: silences today, /-/reload later) need:
  * an authenticated user when basic auth is configured (every request has one then);
  * otherwise a listener on loopback only AND a loopback peer: without users, anyone
    who can reach a non-loopback listener could mute pages, so writes are refused there.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping

import bcrypt
from aiohttp import web

from borderwatch.exporters.http_limits import ListenerStats, is_write

log = logging.getLogger(__name__)

USER_KEY = web.RequestKey("borderwatch_user", str)  # request[USER_KEY]: the authenticated user
CACHE_SIZE = 256  # (user, password) verdicts kept; exporter-toolkit keeps 100
# bcrypt of "fakepassword" at cost 10 (exporter-toolkit's): checked for unknown users.
_DUMMY_HASH = b"$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="borderwatch", charset="UTF-8"'}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BasicAuth:
    """Checks `Authorization: Basic` headers against bcrypt hashes; caches verdicts."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        self._verdicts: OrderedDict[bytes, bool] = OrderedDict()
        self._one_at_a_time = asyncio.Lock()

    async def user(self, header: str | None) -> str | None:
        """The user the header authenticates, or None."""
        credentials = _decode(header)
        if credentials is None:
            return None
        name, password = credentials
        hashed = self._users.get(name)
        known = hashed is not None
        hashed = hashed if hashed is not None else _DUMMY_HASH
        # Digest, not the password itself: the cache never holds a password in clear.
        key = hashlib.sha256(b"\0".join([name.encode(), hashed, password.encode()])).digest()
        verdict = self._verdicts.get(key)
        if verdict is None:
            async with self._one_at_a_time:
                verdict = self._verdicts.get(key)  # (decided while this one queued?)
                if verdict is None:
                    verdict = await asyncio.to_thread(bcrypt.checkpw, password.encode(),
                                                      hashed)
            self._verdicts[key] = verdict
            if len(self._verdicts) > CACHE_SIZE:
                self._verdicts.popitem(last=False)
        else:
            self._verdicts.move_to_end(key)
        return name if verdict and known else None


def _decode(header: str | None) -> tuple[str, str] | None:
    """(user, password) of a Basic Authorization header, None if absent or malformed."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = text.partition(":")
    return (name, password) if sep else None


def _peer_is_loopback(request: web.BaseRequest) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False  # a unix socket would have no address; refuse rather than guess


def write_refusal(*, auth: bool, listener_loopback: bool, user: str | None,
                  peer_loopback: bool) -> str | None:
    """Why a write request is refused, or None when it may go ahead."""
    if auth:
        return None if user is not None else "authentication required"
    if not listener_loopback:
        return ("changes (silences, reload) are refused: this listener is reachable from "
                "the network and has no basic_auth_users; add them to the "
                "--web.config.file (see docs/web-config.md)")
    if not peer_loopback:
        return "changes are accepted from the service's own host (loopback) only"
    return None


class Access:
    """The listener's access rules, as one middleware and one response hook.

    Set by the HttpServer when it starts (`configure`): the app's middlewares are fixed
    when it is built, the listener's address and web config are known only then.
    """

    def __init__(self, stats: ListenerStats) -> None:
        self.stats = stats
        self.auth: BasicAuth | None = None
        self.listener_loopback = True
        self.headers: dict[str, str] = {}

    def configure(self, users: Mapping[str, bytes], headers: Mapping[str, str], *,
                  listener_loopback: bool) -> None:
        """Rules for the listener about to start."""
        self.auth = BasicAuth(users) if users else None
        self.headers = dict(headers)
        self.listener_loopback = listener_loopback

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The same rules for every route: 401 without a valid user when users are
        configured, 403 for a write that `write_refusal` refuses."""
        user = None
        if self.auth is not None:
            user = await self.auth.user(request.headers.get("Authorization"))
            if user is None:
                self.stats.auth_failures += 1
                raise web.HTTPUnauthorized(text="401 Unauthorized\n", headers=_CHALLENGE)
            request[USER_KEY] = user
        if is_write(request):
            refusal = write_refusal(auth=self.auth is not None,
                                    listener_loopback=self.listener_loopback, user=user,
                                    peer_loopback=_peer_is_loopback(request))
            if refusal is not None:
                self.stats.writes_refused += 1
                return web.json_response({"error": refusal}, status=403)
        return await handler(request)

    async def on_response_prepare(self, request: web.Request,
                                  response: web.StreamResponse) -> None:
        """The web config's headers on every answer (errors and streamed bodies too)."""
        if self.headers:
            response.headers.update(self.headers)
