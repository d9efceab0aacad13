"""pysnmp/pyasn1 as the oracle for the codec tests: encode and decode v1/v2c messages.

Tests only: the project's own code never imports pysnmp (v3 included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import univ
from pysnmp.proto import api, rfc1155, rfc1902, rfc1905

from borderwatch.collector.snmp.ber import (
    GET_BULK_REQUEST,
    GET_NEXT_REQUEST,
    GET_REQUEST,
    INFORM_REQUEST,
    REPORT,
    RESPONSE,
    SET_REQUEST,
    SNMPV2_TRAP,
    Message,
)
from borderwatch.collector.snmp.types import Tag, VarBind

V1 = api.PROTOCOL_MODULES[api.SNMP_VERSION_1]
V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]

_TAG_OF: dict[Any, int] = {
    univ.Integer.tagSet: Tag.INTEGER,
    univ.OctetString.tagSet: Tag.OCTET_STRING,
    univ.Null.tagSet: Tag.NULL,
    univ.ObjectIdentifier.tagSet: Tag.OBJECT_IDENTIFIER,
    rfc1902.IpAddress.tagSet: Tag.IP_ADDRESS,
    rfc1902.Counter32.tagSet: Tag.COUNTER32,
    rfc1902.Gauge32.tagSet: Tag.GAUGE32,
    rfc1902.TimeTicks.tagSet: Tag.TIMETICKS,
    rfc1902.Opaque.tagSet: Tag.OPAQUE,
    rfc1902.Counter64.tagSet: Tag.COUNTER64,
    rfc1905.NoSuchObject.tagSet: Tag.NO_SUCH_OBJECT,
    rfc1905.NoSuchInstance.tagSet: Tag.NO_SUCH_INSTANCE,
    rfc1905.EndOfMibView.tagSet: Tag.END_OF_MIB_VIEW,
}

_PDU_CLASSES_V2C = {
    GET_REQUEST: V2C.GetRequestPDU, GET_NEXT_REQUEST: V2C.GetNextRequestPDU,
    RESPONSE: V2C.ResponsePDU, SET_REQUEST: V2C.SetRequestPDU,
    GET_BULK_REQUEST: V2C.GetBulkRequestPDU, INFORM_REQUEST: V2C.InformRequestPDU,
    SNMPV2_TRAP: V2C.SNMPv2TrapPDU, REPORT: V2C.ReportPDU,
}
_PDU_CLASSES_V1 = {
    GET_REQUEST: V1.GetRequestPDU, GET_NEXT_REQUEST: V1.GetNextRequestPDU,
    RESPONSE: V1.GetResponsePDU, SET_REQUEST: V1.SetRequestPDU,
}


def _plain_value(value: Any) -> tuple[int, Any]:
    if value.tagSet == rfc1155.NetworkAddress.tagSet or isinstance(value, univ.Choice):
        value = value.getComponent()
    tag = _TAG_OF[value.tagSet]
    if tag in (Tag.INTEGER, Tag.COUNTER32, Tag.GAUGE32, Tag.TIMETICKS, Tag.COUNTER64):
        return tag, int(value)
    if tag in (Tag.OCTET_STRING, Tag.IP_ADDRESS, Tag.OPAQUE):
        return tag, bytes(value.asOctets())
    if tag == Tag.OBJECT_IDENTIFIER:
        return tag, tuple(value)
    return tag, None


def decode(data: bytes) -> Message:
    """Decode a v1/v2c message with pyasn1 (the oracle) into the codec's Message shape."""
    version = int(api.decodeMessageVersion(data))
    module = api.PROTOCOL_MODULES[version]
    msg, rest = decoder.decode(data, asn1Spec=module.Message())
    if rest:
        raise ValueError("trailing bytes")
    pdu = msg["data"].getComponent()
    pdu_type = pdu.tagSet[0][0] | pdu.tagSet[0][1] | pdu.tagSet[0][2]  # class|format|id
    varbinds = []
    for vb in pdu[3]:
        name = tuple(vb[0])
        value = vb[1]
        if isinstance(value, univ.Choice):
            value = value.getComponent()
            if isinstance(value, univ.Choice):
                value = value.getComponent()
        tag, plain = _plain_value(value)
        varbinds.append(VarBind(name, tag, plain))
    return Message(int(msg["version"]), bytes(msg["community"]), pdu_type, int(pdu[0]),
                   int(pdu[1]), int(pdu[2]), varbinds)


_V2C_VALUES = {
    Tag.INTEGER: V2C.Integer, Tag.OCTET_STRING: V2C.OctetString,
    Tag.OBJECT_IDENTIFIER: V2C.ObjectIdentifier, Tag.IP_ADDRESS: V2C.IpAddress,
    Tag.COUNTER32: V2C.Counter32, Tag.GAUGE32: V2C.Gauge32, Tag.TIMETICKS: V2C.TimeTicks,
    Tag.OPAQUE: V2C.Opaque, Tag.COUNTER64: V2C.Counter64,
}
_V1_VALUES = {
    Tag.INTEGER: V1.Integer, Tag.OCTET_STRING: V1.OctetString,
    Tag.OBJECT_IDENTIFIER: V1.ObjectIdentifier, Tag.IP_ADDRESS: V1.IpAddress,
    Tag.COUNTER32: V1.Counter, Tag.GAUGE32: V1.Gauge, Tag.TIMETICKS: V1.TimeTicks,
    Tag.OPAQUE: V1.Opaque,
}


def pysnmp_value(version: int, tag: int, value: Any) -> Any:
    """A pysnmp value object for a plain (tag, value)."""
    if tag == Tag.NULL:
        return univ.Null("")
    if tag == Tag.NO_SUCH_OBJECT:
        return rfc1905.noSuchObject
    if tag == Tag.NO_SUCH_INSTANCE:
        return rfc1905.noSuchInstance
    if tag == Tag.END_OF_MIB_VIEW:
        return rfc1905.endOfMibView
    return (_V1_VALUES if version == 0 else _V2C_VALUES)[tag](value)


def encode(version: int, community: bytes, pdu_type: int, request_id: int, error_status: int,
           error_index: int, varbinds: Sequence[tuple[tuple[int, ...], int, Any]]) -> bytes:
    """Encode a message with pysnmp/pyasn1 (the oracle)."""
    module = V1 if version == 0 else V2C
    classes = _PDU_CLASSES_V1 if version == 0 else _PDU_CLASSES_V2C
    msg = module.Message()
    module.apiMessage.set_defaults(msg)
    module.apiMessage.set_community(msg, community)
    pdu = classes[pdu_type]()
    if pdu_type == GET_BULK_REQUEST:
        module.apiBulkPDU.set_defaults(pdu)
        module.apiBulkPDU.set_request_id(pdu, request_id)
        module.apiBulkPDU.set_non_repeaters(pdu, error_status)
        module.apiBulkPDU.set_max_repetitions(pdu, error_index)
    else:
        module.apiPDU.set_defaults(pdu)
        module.apiPDU.set_request_id(pdu, request_id)
        module.apiPDU.set_error_status(pdu, error_status)
        module.apiPDU.set_error_index(pdu, error_index)
    module.apiPDU.set_varbinds(
        pdu, [(oid, pysnmp_value(version, tag, value)) for oid, tag, value in varbinds])
    module.apiMessage.set_pdu(msg, pdu)
    return encoder.encode(msg)
