"""`V2cSession`: SNMP v1/v2c GET and walks over the shared transport and our own codec."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from borderwatch.collector.snmp.ber import (
    GET_BULK_REQUEST,
    GET_NEXT_REQUEST,
    GET_REQUEST,
    VERSION_1,
    VERSION_2C,
    Message,
    encode_request,
)
from borderwatch.collector.snmp.settings import SessionSettings, resolve_address
from borderwatch.collector.snmp.timing import RequestTiming
from borderwatch.collector.snmp.transport import RequestCount, SnmpTransport
from borderwatch.collector.snmp.types import (
    OID,
    SnmpDeadline,
    SnmpErrorStatus,
    SnmpMalformed,
    SnmpTimeout,
    Tag,
    VarBind,
    error_status_name,
    oid_str,
    timeout_error,
)
from borderwatch.collector.snmp.walk import NO_SUCH_NAME, TOO_BIG, ColumnWalker, Page

log = logging.getLogger(__name__)


def _describe(oids: Sequence[OID]) -> str:
    first = oid_str(oids[0]) if oids else "nothing"
    return first if len(oids) <= 1 else f"{first} (+{len(oids) - 1} more)"


class V2cSession(ColumnWalker):
    """One device spoken to with SNMP v1 or v2c; implements SnmpSession and
    ColumnWalkSession (several table columns per request, see walk.ColumnWalker).

    `max_repetitions` and `max_oids_per_get` start from the settings and are halved for
    the life of the session when the agent answers tooBig (reliability test A17).
    """

    def __init__(self, settings: SessionSettings, transport: SnmpTransport) -> None:
        if settings.version not in ("1", "2c") or settings.community is None:
            raise ValueError("V2cSession needs version 1 or 2c and a community")
        self.settings = settings
        self.target = settings.target
        self.max_repetitions = settings.max_repetitions
        self.max_oids_per_get = settings.max_oids_per_get
        self._transport = transport
        self._version = VERSION_1 if settings.version == "1" else VERSION_2C
        self._bulk = self._version == VERSION_2C
        self._community = settings.community.reveal().encode()
        self._address: str | None = None
        self._count = RequestCount()
        self.timing = RequestTiming(settings)  # timeout/retries, fixed or measured

    @property
    def requests_sent(self) -> int:
        """Datagrams sent by this session so far, retries included."""
        return self._count.sent

    async def _resolve(self) -> str:
        if self._address is None:
            self._address = await resolve_address(self.settings.address, self.settings.port)
        return self._address

    async def _request(self, pdu_type: int, oids: Sequence[OID], *, deadline: float,
                       what: str, started: float, rows: int = 0,
                       max_repetitions: int = 0) -> Message:
        """One request/response; errors get the target, operation and elapsed time."""
        version, community = self._version, self._community

        def build(request_id: int) -> bytes:
            return encode_request(version, community, pdu_type, request_id, oids,
                                  max_repetitions=max_repetitions)

        settings, timing, count = self.settings, self.timing, self._count
        address = self._address or await self._resolve()  # resolved once per session
        timeout, retries = timing.timeout(), timing.retries()
        try:
            message = await self._transport.request(
                address, settings.port, build, timeout=timeout, retries=retries,
                deadline=deadline, accept_any_source=settings.accept_any_source, count=count)
        except SnmpTimeout as exc:
            if not isinstance(exc, SnmpDeadline):  # the deadline cut it: says nothing
                timing.silent()
            raise timeout_error(
                exc, what=what, target=self.target, rows=rows,
                elapsed=asyncio.get_running_loop().time() - started,
                attempts=retries + 1, timeout=timeout,
                silent_hint="check community/ACL/reachability") from None
        except SnmpMalformed as exc:
            raise SnmpMalformed(f"malformed response to {what} from {self.target}: {exc}") \
                from None
        timing.answered(count.answer_time, count.attempts, count.last_wait)
        return message

    # ------------------------------------------------------------------ get

    async def get(self, oids: Sequence[OID], *, deadline: float) -> list[VarBind]:
        """GET in chunks of at most max_oids_per_get OIDs; one VarBind per OID, in order.

        Missing objects come back with an exception tag (v1 noSuchName → noSuchInstance).
        """
        wanted = [tuple(oid) for oid in oids]
        started = asyncio.get_running_loop().time()
        what = f"get of {_describe(wanted)}"
        out: list[VarBind] = []
        pos = 0
        while pos < len(wanted):
            chunk = wanted[pos:pos + self.max_oids_per_get]
            out.extend(await self._get_chunk(chunk, deadline, what, started))
            pos += len(chunk)
        return out

    async def _get_chunk(self, chunk: list[OID], deadline: float, what: str,
                         started: float) -> list[VarBind]:
        message = await self._request(GET_REQUEST, chunk, deadline=deadline, what=what,
                                      started=started)
        status, index = message.error_status, message.error_index
        if status == 0:
            if [vb.oid for vb in message.varbinds] != chunk:
                raise SnmpMalformed(
                    f"malformed response to {what} from {self.target}: "
                    "varbinds do not match the request")
            return message.varbinds
        if status == TOO_BIG and len(chunk) > 1:
            half = len(chunk) // 2
            self.max_oids_per_get = max(1, min(self.max_oids_per_get, half))
            log.debug("%s answered tooBig to a get of %d OIDs; now %d per request",
                      self.target, len(chunk), self.max_oids_per_get)
            return (await self._get_chunk(chunk[:half], deadline, what, started)
                    + await self._get_chunk(chunk[half:], deadline, what, started))
        if status == NO_SUCH_NAME and self._version == VERSION_1 and 1 <= index <= len(chunk):
            # v1 fails the whole PDU for one missing name: mark it and ask for the rest.
            rest = chunk[:index - 1] + chunk[index:]
            found = await self._get_chunk(rest, deadline, what, started) if rest else []
            found.insert(index - 1, VarBind(chunk[index - 1], Tag.NO_SUCH_INSTANCE, None))
            return found
        raise SnmpErrorStatus(status, index, f"agent answered {error_status_name(status)} "
                                             f"(index {index}) to {what} on {self.target}")

    # ------------------------------------------------------------------ walk

    async def _next_page(self, last: OID, repetitions: int, *, deadline: float, what: str,
                         started: float, rows: int) -> Page:
        return await self._next_rows((last,), repetitions, deadline=deadline, what=what,
                                     started=started, rows=rows)

    async def _next_rows(self, lasts: Sequence[OID], repetitions: int, *, deadline: float,
                         what: str, started: float, rows: int) -> Page:
        if self._bulk:
            message = await self._request(GET_BULK_REQUEST, lasts, deadline=deadline,
                                          what=what, started=started, rows=rows,
                                          max_repetitions=repetitions)
        else:
            message = await self._request(GET_NEXT_REQUEST, lasts, deadline=deadline,
                                          what=what, started=started, rows=rows)
        return Page(message.error_status, message.error_index, message.varbinds,
                    self._count.answer_time)

    async def close(self) -> None:
        """Nothing to release: the transport is shared and owned by the caller."""
