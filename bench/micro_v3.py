"""Micro-benchmark of the SNMPv3 message path: ours (collector.snmp.usm/v3_message) vs pysnmp.

    .venv/bin/python bench/micro_v3.py [--seconds 1.0]

Process CPU per message and per 1,000 varbinds, no network: building an authPriv GETBULK
request, and opening a 25-varbind authPriv response (MAC check, AES decryption, decoding),
for SHA/AES-128 and SHA-256/AES-256; the same response decoded as plain v2c for scale;
and pysnmp's USM (the path borderwatch took before) processing the same response.
Nothing passes or fails; numbers vary ±15 % with the machine's load.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from borderwatch.collector.snmp import ber  # noqa: E402
from borderwatch.collector.snmp.types import Tag, VarBind  # noqa: E402
from borderwatch.collector.snmp.usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS, EngineKeys  # noqa: E402
from borderwatch.collector.snmp.v3_message import (  # noqa: E402
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    UsmParams,
    authentic,
    decode_envelope,
    decode_scoped_pdu,
    encode_message,
    encode_pdu,
)

ENGINE = bytes.fromhex("80001f88804a1b2c3d4e5f60718293a4")
VARBINDS = [VarBind((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, i), Tag.COUNTER64, 10**12 + i * 7919)
            for i in range(1, 26)]


def cpu_per_call(fn: Callable[[], object], seconds: float) -> float:
    """CPU-seconds per call of fn, over at least `seconds` of process CPU."""
    fn()
    calls, start = 0, time.process_time()
    spent = 0.0
    while spent < seconds:
        fn()
        calls += 1
        spent = time.process_time() - start
    return spent / calls


def line(name: str, per_call: float, varbinds: int) -> None:
    print(f"{name:44} {per_call * 1e6:8.1f} us/message "
          f"{per_call / varbinds * 1000:8.5f} CPU-s/1k varbinds", flush=True)


def response(keys: EngineKeys) -> bytes:
    v2c = ber.encode_message(1, b"", ber.RESPONSE, 4242, 0, 0, VARBINDS)
    pdu = v2c[v2c.index(bytes((ber.RESPONSE,))):]
    return encode_message(4242, FLAG_AUTH | FLAG_PRIV, UsmParams(ENGINE, 3, 98765, b"user"),
                          pdu, context_engine_id=ENGINE, context_name=b"", keys=keys)


def ours(auth: str, priv: str, seconds: float) -> None:
    keys = EngineKeys(ENGINE, AUTH_PROTOCOLS[auth], b"authpass123", PRIV_PROTOCOLS[priv],
                      b"privpass123")
    data = response(keys)
    oid = VARBINDS[0].oid

    def build() -> bytes:
        pdu = encode_pdu(ber.GET_BULK_REQUEST, 4242, (oid,), max_repetitions=25)
        return encode_message(4242, FLAG_AUTH | FLAG_PRIV | FLAG_REPORTABLE,
                              UsmParams(ENGINE, 3, 98765, b"user"), pdu,
                              context_engine_id=ENGINE, context_name=b"", keys=keys)

    def open_() -> list[VarBind]:
        envelope = decode_envelope(data)
        assert authentic(data, envelope, keys)
        plain = keys.decrypt(envelope.data, 3, 98765, envelope.priv_params)
        return decode_scoped_pdu(plain).message.varbinds

    assert open_() == VARBINDS
    line(f"ours {auth}/{priv}: build GETBULK request", cpu_per_call(build, seconds), 25)
    line(f"ours {auth}/{priv}: open 25-varbind response", cpu_per_call(open_, seconds), 25)


def pysnmp_usm(seconds: float) -> None:
    """pysnmp's USM processIncomingMsg on the same kind of response (SHA/AES-128)."""
    from pyasn1.codec.ber import decoder
    from pysnmp.entity import config, engine
    from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
    from pysnmp.proto.secmod.rfc3414.service import SnmpUSMSecurityModel

    snmp_engine = engine.SnmpEngine()
    config.add_v3_user(snmp_engine, "user", config.USM_AUTH_HMAC96_SHA, "authpass123",
                       config.USM_PRIV_CFB128_AES, "privpass123", securityEngineId=ENGINE)
    keys = EngineKeys(ENGINE, AUTH_PROTOCOLS["SHA"], b"authpass123", PRIV_PROTOCOLS["AES-128"],
                      b"privpass123")
    data = response(keys)
    usm = snmp_engine.security_models[SnmpUSMSecurityModel.SECURITY_MODEL_ID]

    def process() -> object:
        message, _ = decoder.decode(data, asn1Spec=SNMPv3Message())
        # (engine, message processing model, max size, params, model, level, whole, msg)
        return usm.process_incoming_message(
            snmp_engine, 3, 65507, message["msgSecurityParameters"], 3, 3, data, message)

    try:
        process()
    except Exception as exc:  # pysnmp's internals: report, don't fail the other figures
        print(f"pysnmp USM: could not run ({type(exc).__name__}: {exc})")
        return
    line("pysnmp SHA/AES-128: decode + USM incoming", cpu_per_call(process, seconds), 25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU-s per case")
    args = parser.parse_args()
    v2c = ber.encode_message(1, b"public", ber.RESPONSE, 4242, 0, 0, VARBINDS)
    line("v2c: decode the same 25-varbind response",
         cpu_per_call(lambda: ber.decode_message(v2c), args.seconds), 25)
    for auth, priv in (("SHA", "AES-128"), ("SHA-256", "AES-256"), ("MD5", "DES")):
        ours(auth, priv, args.seconds)
    pysnmp_usm(args.seconds)


if __name__ == "__main__":
    main()
