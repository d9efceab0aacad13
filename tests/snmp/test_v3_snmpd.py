"""V3Session (our USM) against a real net-snmp snmpd: SHA/AES-128, SHA-256/AES-256,
authNoPriv, A21 (distinct secret-free errors), A22 (new engine ID), A23 (boots going down)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import sys
import textwrap

import pytest
from servers import REPO_ROOT, SNMPD_SYSNAME, Snmpd, free_udp_port, start_snmpd

from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.factory import open_session
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.snmp.types import (
    SnmpAuthError,
    SnmpError,
    SnmpErrorStatus,
    SnmpSession,
    SnmpTimeout,
    Tag,
    VarBind,
    parse_oid,
)

SYS_NAME = parse_oid("1.3.6.1.2.1.1.5.0")
IF_TABLE = parse_oid("1.3.6.1.2.1.2.2")
IF_X_TABLE = parse_oid("1.3.6.1.2.1.31.1.1")
AUTH_CANARY = "cnry-AUTH-51c0de"
PRIV_CANARY = "cnry-PRIV-9e77aa"

USERS = {
    "SHA/AES-128": {"user": "testv3user", "auth_protocol": "SHA", "priv_protocol": "AES-128"},
    "SHA-256/AES-256": {"user": "testv3sha256", "auth_protocol": "SHA-256",
                        "priv_protocol": "AES-256"},
}

pytest_plugins = ("snmp_fixtures",)  # transport, evil_agent


def v3(snmpd: Snmpd, **kw: object) -> SessionSettings:
    options: dict[str, object] = {
        "user": "testv3user", "auth_protocol": "SHA", "auth_key": Secret("authpass123"),
        "priv_protocol": "AES", "priv_key": Secret("privpass123"), "timeout": 0.5, "retries": 1}
    options.update(kw)
    port = options.pop("port", snmpd.port)
    return SessionSettings(snmpd.address, port, "3", **options)  # type: ignore[arg-type]


def deadline(seconds: float = 20.0) -> float:
    return asyncio.get_running_loop().time() + seconds


@pytest.fixture
async def sessions(transport: SnmpTransport):
    opened: list[SnmpSession] = []

    def make(settings: SessionSettings) -> SnmpSession:
        session = open_session(settings, transport)
        opened.append(session)
        return session

    try:
        yield make
    finally:
        for session in opened:
            await session.close()


@pytest.mark.parametrize("combo", list(USERS), ids=list(USERS))
async def test_get_and_walks_match_v2c(combo: str, snmpd: Snmpd, transport: SnmpTransport,
                                       sessions) -> None:
    session = sessions(v3(snmpd, **USERS[combo]))
    assert await session.get([SYS_NAME], deadline=deadline()) == [
        VarBind(SYS_NAME, Tag.OCTET_STRING, SNMPD_SYSNAME.encode())]
    plain = sessions(SessionSettings(snmpd.address, snmpd.port, community=Secret("public")))
    for root in (IF_TABLE, IF_X_TABLE):
        ours = await session.walk(root, deadline=deadline())
        reference = await plain.walk(root, deadline=deadline())
        assert ours.complete and ours.problem is None and len(ours.varbinds) > 20
        assert [(vb.oid, vb.tag) for vb in ours.varbinds] == [
            (vb.oid, vb.tag) for vb in reference.varbinds]
        for mine, theirs in zip(ours.varbinds, reference.varbinds, strict=True):
            if vb_is_static(mine):
                assert mine.value == theirs.value


def vb_is_static(vb: VarBind) -> bool:
    return vb.tag not in (Tag.COUNTER32, Tag.COUNTER64, Tag.TIMETICKS)


async def test_a19_a21_failures_get_distinct_messages_without_keys(
        snmpd: Snmpd, sessions, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cases = [
        (v3(snmpd, auth_key=Secret(AUTH_CANARY)), SnmpAuthError,
         "wrong auth key or protocol (Wrong SNMP PDU digest)"),
        (v3(snmpd, user="nosuchuser"), SnmpAuthError, "unknown SNMPv3 user"),
        # authNoPriv for a user that must use privacy: the agent's authorizationError
        (v3(snmpd, priv_protocol=None, priv_key=None), SnmpErrorStatus, "authorizationError"),
        # a wrong priv key: net-snmp cannot decrypt and stays silent, but discovery worked
        (v3(snmpd, priv_key=Secret(PRIV_CANARY), timeout=0.3, retries=0), SnmpTimeout,
         "(check user/keys/ACL/reachability; the agent answered engine discovery, so a wrong "
         "priv key or protocol is likely)"),
        # net-snmp drops a request for an unknown context too
        (v3(snmpd, context="nosuchcontext", priv_protocol=None, priv_key=None,
            user="testv3authonly", timeout=0.3, retries=0), SnmpTimeout,
         "the agent answered engine discovery, so an unknown context is likely)"),
        # nothing listens there: a plain timeout, no priv hint
        (v3(snmpd, port=free_udp_port(), timeout=0.2, retries=0), SnmpTimeout,
         "(check user/keys/ACL/reachability)"),
    ]
    messages = []
    for settings, kind, text in cases:
        session = sessions(settings)
        with pytest.raises(kind) as info:
            await session.get([SYS_NAME], deadline=deadline())
        message = str(info.value)
        assert text in message and f"on {settings.target}" in message, message
        messages.append(message + repr(info.value))
    everything = "\n".join(messages) + caplog.text
    for canary in (AUTH_CANARY, PRIV_CANARY, "authpass123", "privpass123"):
        for form in (canary, canary.encode().hex()):
            assert form not in everything


async def test_auth_only_user(snmpd: Snmpd, sessions) -> None:
    session = sessions(v3(snmpd, user="testv3authonly", priv_protocol=None, priv_key=None))
    assert (await session.get([SYS_NAME], deadline=deadline()))[0].value == b"testbed-snmpd"


async def test_sessions_share_one_endpoint_and_keys_never_mix(snmpd: Snmpd, sessions) -> None:
    # Every v3 session of the loop shares one socket; keys live in each session (localised
    # to its agent's engine ID), so a wrong key for "testv3user" on one device cannot spoil
    # the right one on another, however the requests interleave.
    from borderwatch.collector.snmp import v3_transport

    good = [sessions(v3(snmpd)) for _ in range(2)]
    bad = sessions(v3(snmpd, auth_key=Secret(AUTH_CANARY)))
    for _ in range(3):
        outcomes = await asyncio.gather(
            *(s.get([SYS_NAME], deadline=deadline()) for s in (*good, bad)),
            return_exceptions=True)
        assert [o[0].value for o in outcomes[:2]] == [b"testbed-snmpd"] * 2
        assert isinstance(outcomes[2], SnmpAuthError)
    endpoints = v3_transport._ENDPOINTS[asyncio.get_running_loop()]
    assert [e.users for e in endpoints.values()] == [3]
    endpoint = next(iter(endpoints.values()))
    assert endpoint.stats.sent == sum(s.requests_sent for s in (*good, bad))
    for session in (*good, bad):
        await session.close()
        await session.close()  # idempotent
    assert endpoints == {}
    with pytest.raises(SnmpError, match="session closed"):
        await good[0].get([SYS_NAME], deadline=deadline())


async def answers_of_two_polls(session: SnmpSession) -> list[bytes | None]:
    """sysName from two consecutive polls (None for a timeout)."""
    answers: list[bytes | None] = []
    for _ in range(2):
        try:
            answers.append((await session.get([SYS_NAME], deadline=deadline()))[0].value)
        except SnmpTimeout:
            answers.append(None)
    return answers


async def test_a22_engine_id_change_resumes_within_two_polls(
        snmpd: Snmpd, sessions, caplog: pytest.LogCaptureFixture) -> None:
    session = sessions(v3(snmpd))
    assert (await session.get([SYS_NAME], deadline=deadline()))[0].value == b"testbed-snmpd"
    old_persist = snmpd.persist_dir
    snmpd.restart(fresh_engine_id=True)
    assert snmpd.persist_dir != old_persist  # a new engine ID
    caplog.set_level(logging.INFO, logger="borderwatch.collector.snmp")
    sent = session.requests_sent
    # The agent's unknownEngineID report starts discovery at once: the first poll succeeds
    # with three more datagrams (the refused request, discovery, the request again).
    assert await answers_of_two_polls(session) == [b"testbed-snmpd"] * 2
    assert session.requests_sent - sent == 3 + 1
    walk = await session.walk(IF_TABLE, deadline=deadline())
    assert walk.complete and walk.varbinds
    changed = [r for r in caplog.records if "engine ID changed" in r.getMessage()]
    assert len(changed) == 1


async def test_a23_engine_boots_going_down_resyncs(snmpd: Snmpd, sessions) -> None:
    session = sessions(v3(snmpd))
    assert (await session.get([SYS_NAME], deadline=deadline()))[0].value == b"testbed-snmpd"
    snmpd.stop()
    saved = snmpd.workdir / "persist-saved"
    shutil.copytree(snmpd.persist_dir, saved)
    for _ in range(2):  # two restarts on the same persist dir: engineBoots +2
        snmpd.start()
        assert (await answers_of_two_polls(session))[-1] == b"testbed-snmpd"
        snmpd.stop()
    shutil.rmtree(snmpd.persist_dir)
    shutil.copytree(saved, snmpd.persist_dir)  # the older copy: engineBoots goes down
    snmpd.start()
    answers = await answers_of_two_polls(session)
    assert answers[-1] == b"testbed-snmpd", answers


def test_a21_missing_cryptography_fails_at_start_up() -> None:
    # A fresh interpreter in which `cryptography` cannot be imported (sys.modules[...] = None
    # makes both import and importlib.util.find_spec see it as absent).
    code = textwrap.dedent("""
        import sys
        sys.modules["cryptography"] = None
        from borderwatch.collector.secret import Secret
        from borderwatch.collector.snmp.factory import open_session
        from borderwatch.collector.snmp.settings import SessionSettings
        from borderwatch.collector.snmp.types import SnmpError
        from borderwatch.collector.snmp.v3 import require_v3_crypto

        class NoTransport:
            local_address = "127.0.0.1"
            max_in_flight = 64

        auth = dict(user="u", auth_protocol="SHA", auth_key=Secret("cnry-AUTH-51c0de"))
        open_session(SessionSettings("127.0.0.1", 1161, "3", **auth), NoTransport())
        try:
            require_v3_crypto()
        except SnmpError as exc:
            print("require:", exc)
        try:
            open_session(SessionSettings("127.0.0.1", 1161, "3", priv_protocol="AES",
                                         priv_key=Secret("cnry-PRIV-9e77aa"), **auth),
                         NoTransport())
        except SnmpError as exc:
            print("open:", exc)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines == [
        "require: SNMPv3 privacy needs the cryptography package (pip install cryptography)",
        "open: SNMPv3 privacy needs the cryptography package (pip install cryptography)"]
    assert "cnry" not in res.stdout + res.stderr


# Users only this test creates: every auth hash, and the privacy protocols net-snmp has
# besides those of the test bed (DES, AES-192 with its key extension).
MORE_USERS = {
    "v3md5des": ("MD5", "DES"),
    "v3sha224aes": ("SHA-224", "AES"),
    "v3sha384aes256": ("SHA-384", "AES-256"),
    "v3sha512aes192": ("SHA-512", "AES-192"),
    "v3sha512only": ("SHA-512", None),
}


async def test_every_auth_hash_and_des_and_aes192_against_snmpd(
        tmp_path, transport: SnmpTransport) -> None:
    conf = []
    for user, (auth, priv) in MORE_USERS.items():
        conf.append(f"createUser {user} {auth} authpass-{user}"
                    + (f" {priv} privpass-{user}" if priv else ""))
        conf.append(f"rouser {user} {'priv' if priv else 'auth'}")
    server = start_snmpd(tmp_path / "snmpd", extra_conf="\n".join(conf))
    answers: dict[str, object] = {}
    try:
        for user, (auth, priv) in MORE_USERS.items():
            settings = SessionSettings(
                server.address, server.port, "3", user=user, auth_protocol=auth,
                auth_key=Secret(f"authpass-{user}"), priv_protocol=priv,
                priv_key=Secret(f"privpass-{user}") if priv else None, timeout=1, retries=1)
            session = open_session(settings, transport)
            try:
                answers[user] = (await session.get([SYS_NAME], deadline=deadline()))[0].value
                walk = await session.walk(IF_TABLE, deadline=deadline())
                assert walk.complete and len(walk.varbinds) > 20
            except SnmpError as exc:
                answers[user] = str(exc)
            finally:
                await session.close()
    finally:
        server.stop()
    assert answers == {user: SNMPD_SYSNAME.encode() for user in MORE_USERS}


async def test_column_walks_equal_per_column_walks_with_fewer_requests(snmpd: Snmpd,
                                                                       sessions) -> None:
    # The shared multi-column walk (walk.ColumnWalker) over USM: the same rows as walking
    # column by column, in a fraction of the (encrypted, authenticated) requests.
    columns = [(*IF_TABLE, 1, c) for c in range(1, 23)] + [(*IF_X_TABLE, 1, c)
                                                            for c in range(1, 20)]
    single, joint = sessions(v3(snmpd)), sessions(v3(snmpd))
    expected = []
    for root in columns:
        result = await single.walk(root, deadline=deadline())
        expected.append((result.complete, result.problem, [(vb.oid, vb.tag)
                                                           for vb in result.varbinds]))
    assert joint.walks_columns
    got = []
    for i in range(0, len(columns), joint.columns_per_request):
        for result in await joint.walk_columns(columns[i:i + joint.columns_per_request],
                                               deadline=deadline()):
            assert not isinstance(result, Exception), result
            got.append((result.complete, result.problem, [(vb.oid, vb.tag)
                                                          for vb in result.varbinds]))
    assert got == expected and sum(len(rows) for _, _, rows in got) > 100
    assert joint.walks_columns
    assert joint.requests_sent < single.requests_sent / 2, (joint.requests_sent,
                                                            single.requests_sent)
