"""Pick the session implementation for a device's settings (v1/v2c or v3 USM)."""

from __future__ import annotations

from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.snmp.types import SnmpSession
from borderwatch.collector.snmp.v2c import V2cSession


def open_session(settings: SessionSettings, transport: SnmpTransport) -> SnmpSession:
    """A session for one device. v1/v2c share `transport`; v3 sessions share one v3
    endpoint per local address, bound like `transport` and under its in-flight cap.

    The v3 modules are imported only when a v3 session is opened. A v3 device with privacy
    fails here, at start-up, if `cryptography` is missing (SnmpError "SNMPv3 privacy needs
    the cryptography package").
    """
    if settings.version in ("1", "2c"):
        return V2cSession(settings, transport)
    from borderwatch.collector.snmp.v3 import V3Session

    return V3Session(settings, local_address=transport.local_address,
                     max_in_flight=transport.max_in_flight)


async def create_transport(*, max_in_flight: int = 64, local_address: str = "0.0.0.0",
                           local_address6: str = "::") -> SnmpTransport:
    """The process-wide v1/v2c transport (bind 127.0.0.1 / ::1 in tests; see transport.py)."""
    return await SnmpTransport.create(max_in_flight=max_in_flight, local_address=local_address,
                                      local_address6=local_address6)
