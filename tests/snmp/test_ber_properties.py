"""Property-based tests (hypothesis): our codec and pysnmp/pyasn1 agree on generated messages,
and mutated or truncated responses only ever raise SnmpMalformed (reliability test A11)."""

from __future__ import annotations

import pysnmp_oracle as oracle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borderwatch.collector.snmp import ber
from borderwatch.collector.snmp.types import SnmpMalformed, Tag, VarBind

U32 = 2**32 - 1
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

subids = st.one_of(st.integers(0, 127), st.integers(128, 16_383), st.integers(0, U32),
                   st.sampled_from([0, 1, 127, 128, 255, 256, 16_384, 2**31, U32]))


@st.composite
def oids(draw: st.DrawFn, max_tail: int = 20) -> tuple[int, ...]:
    first = draw(st.integers(0, 2))
    second = draw(st.integers(0, 39)) if first < 2 else draw(subids)
    tail = draw(st.lists(subids, max_size=max_tail))
    return (first, second, *tail)


edge_u32 = st.sampled_from([0, 1, 127, 128, 255, 256, 2**31 - 1, 2**31, U32])
octets = st.one_of(st.binary(max_size=64), st.binary(min_size=120, max_size=2_000))

V1_VALUES = {
    Tag.INTEGER: st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from(
        [0, -1, -128, -129, 127, 128, -(2**31), 2**31 - 1])),
    Tag.OCTET_STRING: octets,
    Tag.NULL: st.none(),
    Tag.OBJECT_IDENTIFIER: oids(max_tail=10),
    Tag.IP_ADDRESS: st.binary(min_size=4, max_size=4),
    Tag.COUNTER32: st.one_of(st.integers(0, U32), edge_u32),
    Tag.GAUGE32: st.one_of(st.integers(0, U32), edge_u32),
    Tag.TIMETICKS: st.one_of(st.integers(0, U32), edge_u32),
    Tag.OPAQUE: st.binary(max_size=40),
}
V2C_VALUES = {
    **V1_VALUES,
    Tag.COUNTER64: st.one_of(st.integers(0, 2**64 - 1),
                             st.sampled_from([0, 2**32, 2**63 - 1, 2**63, 2**64 - 1])),
    Tag.NO_SUCH_OBJECT: st.none(),
    Tag.NO_SUCH_INSTANCE: st.none(),
    Tag.END_OF_MIB_VIEW: st.none(),
}


@st.composite
def varbinds(draw: st.DrawFn, version: int) -> VarBind:
    table = V1_VALUES if version == 0 else V2C_VALUES
    tag = draw(st.sampled_from(sorted(table)))
    return VarBind(draw(oids()), tag, draw(table[tag]))


@st.composite
def messages(draw: st.DrawFn) -> tuple:
    version = draw(st.sampled_from([0, 1]))
    pdu_types = [ber.GET_REQUEST, ber.GET_NEXT_REQUEST, ber.RESPONSE, ber.SET_REQUEST]
    if version == 1:
        pdu_types += [ber.GET_BULK_REQUEST, ber.INFORM_REQUEST, ber.SNMPV2_TRAP, ber.REPORT]
    pdu_type = draw(st.sampled_from(pdu_types))
    vbs = draw(st.lists(varbinds(version), max_size=12))
    status = draw(st.integers(0, 18) if pdu_type != ber.GET_BULK_REQUEST else st.integers(0, 5))
    index = draw(st.integers(0, len(vbs)) if pdu_type != ber.GET_BULK_REQUEST
                 else st.integers(0, 2**31 - 1))
    return (version, draw(st.binary(max_size=40)), pdu_type,
            draw(st.integers(-(2**31), 2**31 - 1)), status, index, vbs)


@SETTINGS
@given(messages())
def test_pysnmp_encoded_messages_decode_the_same(msg: tuple) -> None:
    data = oracle.encode(*msg)
    ours = ber.decode_message(data)
    assert ours == ber.Message(*msg[:6], list(msg[6]))
    assert ours == oracle.decode(data)


@SETTINGS
@given(messages())
def test_our_encoding_decodes_the_same_with_pysnmp_and_is_byte_identical(msg: tuple) -> None:
    data = ber.encode_message(*msg)
    assert oracle.decode(data) == ber.Message(*msg[:6], list(msg[6]))
    assert data == oracle.encode(*msg)


@SETTINGS
@given(st.integers(0, 1), st.binary(max_size=30), st.integers(-(2**31), 2**31 - 1),
       st.lists(oids(), min_size=1, max_size=20), st.integers(0, 3), st.integers(0, 2**31 - 1))
def test_requests_decode_with_pysnmp(version: int, community: bytes, request_id: int,
                                     names: list, non_repeaters: int, reps: int) -> None:
    for pdu_type in (ber.GET_REQUEST, ber.GET_NEXT_REQUEST, ber.GET_BULK_REQUEST):
        if pdu_type == ber.GET_BULK_REQUEST and version == 0:
            continue
        data = ber.encode_request(version, community, pdu_type, request_id, names,
                                  non_repeaters=non_repeaters, max_repetitions=reps)
        decoded = oracle.decode(data)
        assert decoded.pdu_type == pdu_type and decoded.request_id == request_id
        assert [vb.oid for vb in decoded.varbinds] == names
        assert all(vb.tag == Tag.NULL for vb in decoded.varbinds)
        if pdu_type == ber.GET_BULK_REQUEST:
            assert (decoded.error_status, decoded.error_index) == (non_repeaters, reps)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    msg = draw(messages())
    data = bytearray(ber.encode_message(*msg))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "length"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[pos] = draw(st.sampled_from([0x00, 0x30, 0x7F, 0x80, 0x81, 0x84, 0x89, 0xFF]))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[pos:]
        elif kind == "length" and data:
            data[pos:pos + 1] = draw(st.sampled_from(
                [b"\x80", b"\x89" + b"\x01" * 9, b"\x84\xff\xff\xff\xff", b"\x82\xff\xff"]))
    return bytes(data)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated())
def test_mutated_messages_never_raise_anything_but_malformed(data: bytes) -> None:
    try:
        ours = ber.decode_message(data)
    except SnmpMalformed:
        return
    # When we accept a mutation without any bad value, pyasn1 must read the same thing
    # (or refuse a value it constrains more strictly than we do).
    if any(vb.tag == Tag.BAD_VALUE for vb in ours.varbinds):
        return
    try:
        theirs = oracle.decode(data)
    except Exception:
        return
    assert ours == theirs


@SETTINGS
@given(messages(), st.data())
def test_truncated_messages_are_malformed(msg: tuple, data: st.DataObject) -> None:
    encoded = ber.encode_message(*msg)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    try:
        ber.decode_message(encoded[:cut])
    except SnmpMalformed:
        return
    raise AssertionError(f"a message cut at {cut} of {len(encoded)} bytes decoded")
