"""The BER codec on hand-made datagrams: known encodings, the A11 corpus, A12 bad values."""

from __future__ import annotations

import pysnmp_oracle as oracle
import pytest

from borderwatch.collector.snmp import ber
from borderwatch.collector.snmp.ber import MalformedPacket, decode_message, encode_message, tlv
from borderwatch.collector.snmp.types import BadValue, SnmpMalformed, Tag, VarBind

SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
IF_HC_IN = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1)


def response(varbinds: bytes | list, request_id: int = 4242, version: int = 1) -> bytes:
    return encode_message(version, b"public", ber.RESPONSE, request_id, 0, 0, varbinds)


def raw_varbind(oid: tuple[int, ...], tag: int, content: bytes) -> bytes:
    return tlv(0x30, tlv(0x06, ber.encode_oid(oid)) + tlv(tag, content))


GOOD = response([VarBind(SYS_UPTIME, Tag.TIMETICKS, 12345),
                 VarBind(SYS_NAME, Tag.OCTET_STRING, b"gw")])


def test_known_bytes_of_a_get_request() -> None:
    # snmpget -v2c -c public ... sysUpTime.0 with request-id 1, as on the wire
    expected = bytes.fromhex(
        "302602010104067075626c6963a019020101020100020100300e300c06082b060102010103000500")
    assert ber.encode_request(1, b"public", ber.GET_REQUEST, 1, [SYS_UPTIME]) == expected
    assert oracle.decode(expected) == decode_message(expected)


def test_decodes_every_value_type() -> None:
    vbs = [
        VarBind((1, 3, 6, 1, 1), Tag.INTEGER, -2147483648),
        VarBind((1, 3, 6, 1, 2), Tag.INTEGER, 2147483647),
        VarBind((1, 3, 6, 1, 3), Tag.OCTET_STRING, b""),
        VarBind((1, 3, 6, 1, 4), Tag.OCTET_STRING, bytes(range(256)) * 4),
        VarBind((1, 3, 6, 1, 5), Tag.NULL, None),
        VarBind((1, 3, 6, 1, 6), Tag.OBJECT_IDENTIFIER, (2, 999, 4294967295, 0)),
        VarBind((1, 3, 6, 1, 7), Tag.IP_ADDRESS, b"\x0a\x00\x00\x01"),
        VarBind((1, 3, 6, 1, 8), Tag.COUNTER32, 4294967295),
        VarBind((1, 3, 6, 1, 9), Tag.GAUGE32, 0),
        VarBind((1, 3, 6, 1, 10), Tag.TIMETICKS, 2147483648),
        VarBind((1, 3, 6, 1, 11), Tag.OPAQUE, b"\x9f\x78\x04\x00\x00\x00\x00"),
        VarBind((1, 3, 6, 1, 12), Tag.COUNTER64, 18446744073709551615),
        VarBind((1, 3, 6, 1, 13), Tag.NO_SUCH_OBJECT, None),
        VarBind((1, 3, 6, 1, 14), Tag.NO_SUCH_INSTANCE, None),
        VarBind((1, 3, 6, 1, 15), Tag.END_OF_MIB_VIEW, None),
    ]
    data = response(vbs)
    assert decode_message(data).varbinds == vbs
    assert oracle.decode(data).varbinds == vbs
    assert data == oracle.encode(1, b"public", ber.RESPONSE, 4242, 0, 0, vbs)


@pytest.mark.parametrize("oid", [
    (0, 0), (1, 39), (2, 0), (2, 39), (2, 40), (2, 999), (2, 4294967295),
    (1, 3, 6, 1, 4, 1, 4294967295), (1, 3, 6, 1, 4, 1, 128, 16383, 16384, 2097151),
    (1, 3) + (1,) * 126,
])
def test_oid_edge_values_round_trip_like_pysnmp(oid: tuple[int, ...]) -> None:
    data = response([VarBind(oid, Tag.NULL, None)])
    assert decode_message(data).varbinds[0].oid == oid
    assert oracle.decode(data).varbinds[0].oid == oid
    assert data == oracle.encode(1, b"public", ber.RESPONSE, 4242, 0, 0, [(oid, Tag.NULL, None)])


@pytest.mark.parametrize("oid", [(1,), (3, 1), (1, 40), (1, 3, -1), (1, 3, 4294967296),
                                 (1, 3) + (1,) * 127])
def test_encoder_refuses_invalid_oids(oid: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        ber.encode_oid(oid)


@pytest.mark.parametrize(("tag", "value"), [
    (Tag.INTEGER, 2**31), (Tag.COUNTER32, -1), (Tag.COUNTER32, 2**32), (Tag.COUNTER64, 2**64),
    (Tag.IP_ADDRESS, b"\x01\x02\x03"), (Tag.OCTET_STRING, "text"), (0x47, 1),
])
def test_encoder_refuses_values_the_type_cannot_hold(tag: int, value: object) -> None:
    with pytest.raises(ValueError):
        ber.encode_value(tag, value)  # type: ignore[arg-type]


def _nested(depth: int) -> bytes:
    data = b"\x05\x00"
    for _ in range(depth):
        data = tlv(0x30, data)
    return data


# A11: the malformed corpus. Each row: datagram, a word the short reason must contain.
MALFORMED = {
    "zero-length datagram": (b"", "empty"),
    "wrong outer tag": (b"\x31" + GOOD[1:], "expected message SEQUENCE at offset 0"),
    "trailing garbage": (GOOD + b"\x00\x01", "trailing garbage"),
    "indefinite length (pyasn1 #119)": (bytes.fromhex("038060 0000"), "expected message"),
    "indefinite outer length": (b"\x30\x80" + GOOD[2:] + b"\x00\x00", "indefinite length"),
    "length larger than the packet": (b"\x30\x82\xff\xff" + GOOD[2:], "length exceeds"),
    "9-byte length": (b"\x30\x89" + b"\x00" * 8 + b"\x20" + GOOD[2:], "9-byte length"),
    "5-byte length": (b"\x30\x85\x00\x00\x00\x00\x20" + GOOD[2:], "5-byte length"),
    "0xff length octet": (b"\x30\xff" + GOOD[2:], "127-byte length"),
    "nesting 10,000 deep": (_nested(10_000), "expected version"),
    "65,000 bytes of garbage": (b"\x30\x83\x00\xfd\xe3" + b"\xa5" * 64_995, "expected version"),
    "SNMPv3 message": (GOOD[:4] + b"\x03" + GOOD[5:], "unsupported SNMP version field 3"),
    "v1 Trap-PDU": (tlv(0x30, tlv(2, b"\x00") + tlv(4, b"public") + tlv(0xA4, b"")),
                    "unsupported PDU type 0xa4"),
    "request-id over Integer32": (
        tlv(0x30, tlv(2, b"\x01") + tlv(4, b"c") + tlv(0xA2, tlv(2, b"\x01" + b"\x00" * 4)
                                                      + b"\x02\x01\x00\x02\x01\x00\x30\x00")),
        "request-id out of range"),
    "varbind list is not a SEQUENCE": (
        encode_message(1, b"c", ber.RESPONSE, 1, 0, 0, b"")[:-2] + b"\x31\x00", "varbind list"),
    "varbind missing its value": (response(tlv(0x30, tlv(0x06, b"\x2b\x06"))), "value missing"),
    "value longer than its varbind": (
        response(b"\x30\x06\x06\x01\x2b\x04\x05ab"), "length exceeds"),
    "extra bytes inside a varbind": (
        response(tlv(0x30, tlv(0x06, b"\x2b") + b"\x05\x00\x00")), "extra bytes in varbind"),
    "varbind name is not an OID": (response(tlv(0x30, b"\x04\x01\x2b\x05\x00")), "expected OID"),
    "OID with a 0x80 padding octet": (
        response(tlv(0x30, tlv(0x06, b"\x2b\x80\x01") + b"\x05\x00")), "non-minimal"),
    "OID ending inside a sub-identifier": (
        response(tlv(0x30, tlv(0x06, b"\x2b\x86") + b"\x05\x00")), "ends inside"),
    "empty OID": (response(tlv(0x30, b"\x06\x00\x05\x00")), "empty OID"),
    "OID sub-identifier over 2^32": (
        response(tlv(0x30, tlv(0x06, b"\x2b\x90\x80\x80\x80\x00") + b"\x05\x00")), "too large"),
    "OID of 129 sub-identifiers": (
        response(tlv(0x30, tlv(0x06, b"\x2b" + b"\x01" * 127) + b"\x05\x00")), "longer than 128"),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_corpus_raises_a_short_reason(case: str) -> None:
    data, word = MALFORMED[case]
    with pytest.raises(SnmpMalformed) as info:
        decode_message(data)
    reason = str(info.value)
    assert word in reason
    assert len(reason) < 80 and "\n" not in reason


def test_request_id_is_reported_when_the_header_was_readable() -> None:
    bad = response(tlv(0x30, b"\x04\x01\x2b\x05\x00"), request_id=777)
    with pytest.raises(MalformedPacket) as info:
        decode_message(bad)
    assert info.value.request_id == 777
    with pytest.raises(MalformedPacket) as info:
        decode_message(b"\x30\x03\x02\x01")
    assert info.value.request_id is None


def test_a_valid_65000_byte_response_decodes() -> None:
    big = b"x" * 64_900
    data = response([VarBind(SYS_NAME, Tag.OCTET_STRING, big)])
    assert len(data) > 64_900
    assert decode_message(data).varbinds[0].value == big


# A12: well-framed but unacceptable values cost one varbind, not the response.
BAD_VALUES = {
    "Counter32 in 5 bytes (> 2^32-1)": (Tag.COUNTER32, b"\x01\x00\x00\x00\x00", "Counter32 out"),
    "Counter32 in 6 bytes": (Tag.COUNTER32, b"\x00\x00\xff\xff\xff\xff", "Counter32 out"),
    "Gauge32 empty": (Tag.GAUGE32, b"", "Gauge32 out"),
    "TimeTicks negative beyond int32": (Tag.TIMETICKS, b"\xfe\xff\xff\xff\xff", "TimeTicks out"),
    "Counter64 in 9 bytes (> 2^64-1)": (Tag.COUNTER64, b"\x01" + b"\x00" * 8, "Counter64 out"),
    "Counter64 in 10 bytes": (Tag.COUNTER64, b"\x00" * 10, "Counter64 out"),
    "INTEGER over Integer32": (Tag.INTEGER, b"\x00\x80\x00\x00\x00", "Integer32"),
    "INTEGER empty": (Tag.INTEGER, b"", "Integer32"),
    "IpAddress of 5 bytes": (Tag.IP_ADDRESS, b"\x01\x02\x03\x04\x05", "IpAddress of 5"),
    "NULL with content": (Tag.NULL, b"\x00", "NULL with 1"),
    "endOfMibView with content": (Tag.END_OF_MIB_VIEW, b"\x01", "endOfMibView"),
    "OID value with 0x80 padding": (Tag.OBJECT_IDENTIFIER, b"\x2b\x80\x01", "non-minimal"),
    "unknown application tag": (0x47, b"\x01", "unknown value type 0x47"),
    "constructed value": (0x30, b"\x05\x00", "unknown value type 0x30"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES), ids=list(BAD_VALUES))
def test_bad_value_is_marked_and_the_rest_is_kept(case: str) -> None:
    tag, content, word = BAD_VALUES[case]
    vbl = (ber.encode_varbind(SYS_UPTIME, Tag.TIMETICKS, 5) + raw_varbind(IF_HC_IN, tag, content)
           + ber.encode_varbind(SYS_NAME, Tag.OCTET_STRING, b"gw"))
    got = decode_message(response(vbl)).varbinds
    assert got[0] == VarBind(SYS_UPTIME, Tag.TIMETICKS, 5)
    assert got[2] == VarBind(SYS_NAME, Tag.OCTET_STRING, b"gw")
    assert got[1].oid == IF_HC_IN and got[1].tag == Tag.BAD_VALUE
    assert isinstance(got[1].value, BadValue) and got[1].value.wire_tag == tag
    assert word in got[1].value.reason


def test_type_confusion_is_decoded_as_sent() -> None:
    # A12: ifHCInOctets as OCTET STRING, sysName as INTEGER, an OID where a Gauge belongs:
    # well-formed, so the codec reports what came; judging types is the poller's job.
    vbl = [VarBind(IF_HC_IN, Tag.OCTET_STRING, b"12345"), VarBind(SYS_NAME, Tag.INTEGER, 7),
           VarBind((1, 3, 6, 1, 2, 1, 2, 2, 1, 5, 1), Tag.OBJECT_IDENTIFIER, (1, 3, 6))]
    assert decode_message(response(vbl)).varbinds == vbl


@pytest.mark.parametrize(("tag", "content", "value"), [
    (Tag.COUNTER32, b"\xff", 4294967295),  # net-snmp reads a signed -1 this way
    (Tag.COUNTER32, b"\x80\x00\x00\x00", 2147483648),
    (Tag.GAUGE32, b"\x00\x00\x00\x00\x05", 5),  # non-minimal but in range
    (Tag.COUNTER64, b"\xff\xff", 18446744073709551615),
    (Tag.COUNTER64, b"\x00\xff\xff\xff\xff\xff\xff\xff\xff", 18446744073709551615),
    (Tag.INTEGER, b"\xff\xff\xff\xff\xff", -1),  # non-minimal 5-byte -1
])
def test_lenient_readings_of_unsigned_and_nonminimal_values(tag: int, content: bytes,
                                                            value: int) -> None:
    vb = decode_message(response(raw_varbind(SYS_UPTIME, tag, content))).varbinds[0]
    assert (vb.tag, vb.value) == (tag, value)


def test_getbulk_fields_and_requests_decode() -> None:
    data = ber.encode_request(1, b"c", ber.GET_BULK_REQUEST, -5, [SYS_UPTIME, SYS_NAME],
                              non_repeaters=1, max_repetitions=30)
    m = decode_message(data)
    assert (m.pdu_type, m.request_id, m.error_status, m.error_index) == (
        ber.GET_BULK_REQUEST, -5, 1, 30)
    assert [vb.tag for vb in m.varbinds] == [Tag.NULL, Tag.NULL]
    assert oracle.decode(data) == m
    with pytest.raises(ValueError):
        ber.encode_request(0, b"c", ber.GET_BULK_REQUEST, 1, [SYS_UPTIME])
