"""Differential tests: real datagrams from snmpd and snmpsim, our codec vs pysnmp/pyasn1."""

from __future__ import annotations

import json
from pathlib import Path

import pysnmp_oracle as oracle
import pytest

from borderwatch.collector.snmp import ber
from borderwatch.collector.snmp.types import Tag

PACKETS = Path(__file__).resolve().parents[1] / "data" / "packets"


def _records() -> list[dict[str, str]]:
    out = []
    for path in sorted(PACKETS.glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


RECORDS = _records()
IDS = [f"{r['source']}: {r['name']} #{i}" for i, r in enumerate(RECORDS)]


def test_corpus_covers_the_interesting_shapes() -> None:
    # Guards against a silently empty or one-sided corpus.
    assert {r["source"] for r in RECORDS} == {"snmpd 5.9", "snmpsim 1.2.2"}
    responses = [ber.decode_message(bytes.fromhex(r["response"])) for r in RECORDS]
    requests = [ber.decode_message(bytes.fromhex(r["request"])) for r in RECORDS]
    tags = {vb.tag for m in responses for vb in m.varbinds}
    for tag in (Tag.INTEGER, Tag.OCTET_STRING, Tag.OBJECT_IDENTIFIER, Tag.COUNTER32,
                Tag.GAUGE32, Tag.TIMETICKS, Tag.COUNTER64, Tag.NO_SUCH_OBJECT,
                Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW):
        assert tag in tags, f"no {tag.name} in the captured responses"
    assert {m.version for m in responses} == {0, 1}
    assert any(m.error_status == 2 for m in responses)  # v1 noSuchName
    assert {m.pdu_type for m in requests} >= {ber.GET_REQUEST, ber.GET_NEXT_REQUEST,
                                              ber.GET_BULK_REQUEST}
    assert sum(len(m.varbinds) for m in responses) > 300


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_response_decodes_like_pysnmp(record: dict[str, str]) -> None:
    data = bytes.fromhex(record["response"])
    ours = ber.decode_message(data)
    assert ours == oracle.decode(data)
    assert ours.pdu_type == ber.RESPONSE
    assert Tag.BAD_VALUE not in {vb.tag for vb in ours.varbinds}


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_request_decodes_like_pysnmp(record: dict[str, str]) -> None:
    # Requests are ours or net-snmp's: both sides must read them the same way.
    data = bytes.fromhex(record["request"])
    assert ber.decode_message(data) == oracle.decode(data)


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_reencoding_gives_the_agent_bytes(record: dict[str, str]) -> None:
    # Agents and net-snmp tools encode minimally, as we do: decode → encode is the identity.
    for key in ("request", "response"):
        data = bytes.fromhex(record[key])
        m = ber.decode_message(data)
        again = ber.encode_message(m.version, m.community, m.pdu_type, m.request_id,
                                   m.error_status, m.error_index, m.varbinds)
        assert again == data


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_every_cut_of_a_real_response_is_malformed(record: dict[str, str]) -> None:
    # A11: a valid response cut at every offset.
    data = bytes.fromhex(record["response"])
    for cut in range(len(data)):
        with pytest.raises(ber.MalformedPacket):
            ber.decode_message(data[:cut])
