"""collector.snmp.usm and v3_message against RFC 3414's vectors and pysnmp as the oracle.

Key localisation (RFC 3414 A.3 and pysnmp's functions, every auth hash and every privacy
protocol's key extension), MACs (pysnmp's authenticate_outgoing_message on the same
message), encryption both ways (ours → pysnmp's decrypt, pysnmp's encrypt → ours), and a
whole encoded message taken apart again. The real-agent interop is test_v3_snmpd.py.
"""

from __future__ import annotations

import random

import pytest
from pyasn1.type import univ
from pysnmp.hlapi.v3arch import asyncio as hlapi
from pysnmp.proto.secmod.rfc3414.service import SnmpUSMSecurityModel

from borderwatch.collector.snmp.ber import GET_BULK_REQUEST, GET_REQUEST, RESPONSE, tlv
from borderwatch.collector.snmp.ber import encode_message as v2c
from borderwatch.collector.snmp.types import Tag, VarBind
from borderwatch.collector.snmp.usm import (
    AUTH_PROTOCOLS,
    PRIV_PROTOCOLS,
    EngineKeys,
    localize,
    localize_priv,
    password_to_ku,
)
from borderwatch.collector.snmp.v3_message import (
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    UsmParams,
    authentic,
    decode_envelope,
    decode_scoped_pdu,
    encode_message,
    encode_pdu,
    peek_msg_id,
)

PYSNMP_AUTH = {
    "MD5": hlapi.usmHMACMD5AuthProtocol,
    "SHA": hlapi.usmHMACSHAAuthProtocol,
    "SHA-224": hlapi.usmHMAC128SHA224AuthProtocol,
    "SHA-256": hlapi.usmHMAC192SHA256AuthProtocol,
    "SHA-384": hlapi.usmHMAC256SHA384AuthProtocol,
    "SHA-512": hlapi.usmHMAC384SHA512AuthProtocol,
}
PYSNMP_PRIV = {
    "DES": hlapi.usmDESPrivProtocol,
    "AES-128": hlapi.usmAesCfb128Protocol,
    "AES-192": hlapi.usmAesBlumenthalCfb192Protocol,
    "AES-256": hlapi.usmAesBlumenthalCfb256Protocol,
    "AES-192-C": hlapi.usmAesCfb192Protocol,
    "AES-256-C": hlapi.usmAesCfb256Protocol,
}
ENGINE_ID = bytes.fromhex("000000000000000000000002")  # RFC 3414 A.3's engine ID
NETSNMP_LIKE_ENGINE = bytes.fromhex("80001f88804a1b2c3d4e5f60718293a4")


def auth_service(name: str):
    return SnmpUSMSecurityModel.AUTH_SERVICES[PYSNMP_AUTH[name]]


def priv_service(name: str):
    return SnmpUSMSecurityModel.PRIV_SERVICES[PYSNMP_PRIV[name]]


@pytest.mark.parametrize(("auth", "ku", "kul"), [
    ("MD5", "9faf3283884e92834ebc9847d8edd963", "526f5eed9fcce26f8964c2930787d82b"),
    ("SHA", "9fb5cc0381497b3793528939ff788d5d79145211",
     "6695febc9288e36282235fc7151f128497b38f3f"),
])
def test_rfc3414_a3_vectors(auth: str, ku: str, kul: str) -> None:
    protocol = AUTH_PROTOCOLS[auth]
    assert password_to_ku(b"maplesyrup", protocol).hex() == ku
    assert localize(bytes.fromhex(ku), ENGINE_ID, protocol).hex() == kul


PASSWORDS = [b"maplesyrup", b"authpass123", b"x" * 8, b"a much longer passphrase of 64+ "
             b"bytes that does not divide 1 MiB evenly!!", bytes(range(1, 200))]


@pytest.mark.parametrize("auth", list(AUTH_PROTOCOLS))
@pytest.mark.parametrize("password", PASSWORDS, ids=lambda p: f"len{len(p)}")
def test_auth_keys_match_pysnmp(auth: str, password: bytes) -> None:
    protocol = AUTH_PROTOCOLS[auth]
    service = auth_service(auth)
    ours = password_to_ku(password, protocol)
    assert ours == bytes(service.hash_passphrase(password))
    assert localize(ours, NETSNMP_LIKE_ENGINE, protocol) == bytes(
        service.localize_key(univ.OctetString(ours), univ.OctetString(NETSNMP_LIKE_ENGINE)))


@pytest.mark.parametrize("auth", list(AUTH_PROTOCOLS))
@pytest.mark.parametrize("priv", list(PRIV_PROTOCOLS))
def test_priv_keys_match_pysnmp(auth: str, priv: str) -> None:
    protocol = AUTH_PROTOCOLS[auth]
    service = priv_service(priv)
    ku = bytes(service.hash_passphrase(PYSNMP_AUTH[auth], b"privpass123"))
    assert ku == password_to_ku(b"privpass123", protocol)
    theirs = bytes(service.localize_key(PYSNMP_AUTH[auth], univ.OctetString(ku),
                                        univ.OctetString(NETSNMP_LIKE_ENGINE)))
    ours = localize_priv(ku, NETSNMP_LIKE_ENGINE, protocol, PRIV_PROTOCOLS[priv])
    assert ours == theirs[:PRIV_PROTOCOLS[priv].key_length]
    assert len(ours) == PRIV_PROTOCOLS[priv].key_length


def keys_for(auth: str, priv: str | None) -> tuple[EngineKeys, bytes, bytes]:
    """Our keys and the localised (auth, priv) keys as pysnmp computes them."""
    keys = EngineKeys(NETSNMP_LIKE_ENGINE, AUTH_PROTOCOLS[auth], b"authpass123",
                      PRIV_PROTOCOLS[priv] if priv else None, b"privpass123" if priv else None)
    a = auth_service(auth)
    auth_key = bytes(a.localize_key(a.hash_passphrase(b"authpass123"),
                                    univ.OctetString(NETSNMP_LIKE_ENGINE)))
    priv_key = b""
    if priv:
        p = priv_service(priv)
        priv_key = bytes(p.localize_key(PYSNMP_AUTH[auth],
                                        p.hash_passphrase(PYSNMP_AUTH[auth], b"privpass123"),
                                        univ.OctetString(NETSNMP_LIKE_ENGINE)))
    return keys, auth_key, priv_key


@pytest.mark.parametrize("priv", list(PRIV_PROTOCOLS))
@pytest.mark.parametrize("size", [0, 1, 7, 8, 15, 16, 17, 1400])
def test_encryption_round_trips_with_pysnmp(priv: str, size: int) -> None:
    keys, _, priv_key = keys_for("SHA", priv)
    service = priv_service(priv)
    plaintext = random.Random(size).randbytes(size)
    boots, engine_time = 7, 123456
    ciphertext, salt = keys.encrypt(plaintext, boots, engine_time)
    theirs = bytes(service.decrypt_data(univ.OctetString(priv_key),
                                        (boots, engine_time, univ.OctetString(salt)),
                                        univ.OctetString(ciphertext)))
    assert theirs[:size] == plaintext  # DES pads to 8 bytes
    encrypted, their_salt = service.encrypt_data(univ.OctetString(priv_key),
                                                 (boots, engine_time, None), plaintext)
    assert keys.decrypt(bytes(encrypted), boots, engine_time, bytes(their_salt))[:size] == \
        plaintext
    # a fresh salt for every message: no two ciphertexts of the same text alike
    again, salt2 = keys.encrypt(plaintext, boots, engine_time)
    assert salt2 != salt and (size == 0 or again != ciphertext)


@pytest.mark.parametrize("auth", list(AUTH_PROTOCOLS))
@pytest.mark.parametrize("priv", [None, "AES-128", "DES", "AES-256"])
def test_whole_message_mac_matches_pysnmp_and_parses_back(auth: str, priv: str | None) -> None:
    keys, auth_key, _ = keys_for(auth, priv)
    flags = FLAG_AUTH | FLAG_REPORTABLE | (FLAG_PRIV if priv else 0)
    oids = [(1, 3, 6, 1, 2, 1, 2, 2, 1, 10), (1, 3, 6, 1, 2, 1, 1, 3, 0)]
    pdu = encode_pdu(GET_BULK_REQUEST, 4242, oids, max_repetitions=25)
    usm = UsmParams(NETSNMP_LIKE_ENGINE, 3, 98765, b"testv3user")
    message = encode_message(4242, flags, usm, pdu, context_engine_id=NETSNMP_LIKE_ENGINE,
                             context_name=b"", keys=keys)
    envelope = decode_envelope(message)
    assert peek_msg_id(message) == envelope.msg_id == 4242
    assert envelope.flags == flags and envelope.usm == usm
    assert len(envelope.auth_params) == AUTH_PROTOCOLS[auth].mac_length
    # pysnmp signs the same message with its MAC field zeroed: the same bytes must result
    off, size = envelope.auth_offset, len(envelope.auth_params)
    zeroed = message[:off] + bytes(size) + message[off + size:]
    signed = auth_service(auth).authenticate_outgoing_message(univ.OctetString(auth_key),
                                                             zeroed)
    assert bytes(signed) == message
    assert authentic(message, envelope, keys)
    tampered = bytearray(message)
    tampered[-1] ^= 1
    assert not authentic(bytes(tampered), decode_envelope(bytes(tampered)), keys)
    plain = keys.decrypt(envelope.data, 3, 98765, envelope.priv_params) if priv \
        else envelope.data
    scoped = decode_scoped_pdu(plain)
    assert scoped.context_engine_id == NETSNMP_LIKE_ENGINE and scoped.context_name == b""
    request = scoped.message
    assert (request.pdu_type, request.request_id, request.error_index) == (
        GET_BULK_REQUEST, 4242, 25)
    assert [vb.oid for vb in request.varbinds] == oids


def test_scoped_pdu_decodes_responses_and_ignores_des_padding() -> None:
    varbinds = [VarBind((1, 3, 6, 1, 2, 1, 1, 5, 0), Tag.OCTET_STRING, b"testbed"),
                VarBind((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 2), Tag.COUNTER64, 2**40)]
    whole = v2c(1, b"", RESPONSE, 77, 0, 0, varbinds)
    pdu = whole[whole.index(bytes((RESPONSE,))):]  # the PDU element of the v2c message
    scoped = tlv(0x30, tlv(4, b"\x80\x00") + tlv(4, b"ctx") + pdu)
    for padding in (b"", b"\x00" * 5):
        decoded = decode_scoped_pdu(scoped + padding)
        assert decoded.context_name == b"ctx"
        assert decoded.message.varbinds == varbinds and decoded.message.request_id == 77


def test_discovery_message_has_no_user_and_no_security() -> None:
    message = encode_message(9, FLAG_REPORTABLE, UsmParams(b"", 0, 0, b""),
                             encode_pdu(GET_REQUEST, 9, ()), context_engine_id=b"",
                             context_name=b"", keys=None)
    envelope = decode_envelope(message)
    assert envelope.flags == FLAG_REPORTABLE and envelope.usm == UsmParams(b"", 0, 0, b"")
    assert envelope.auth_params == envelope.priv_params == b""
    assert decode_scoped_pdu(envelope.data).message.varbinds == []


def test_keys_never_show_in_repr() -> None:
    keys, auth_key, priv_key = keys_for("SHA-256", "AES-256")
    text = repr(keys)
    assert text == "EngineKeys(auth=SHA-256, priv=AES-256)"
    for secret in (auth_key, priv_key, b"authpass123", b"privpass123"):
        assert secret.hex() not in text and secret.decode("latin-1") not in text
