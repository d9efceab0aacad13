"""The e-mail notifier against a real SMTP server on loopback (aiosmtpd): decoded subject
and body in Vietnamese and English, STARTTLS + login with the password never shown,
implicit TLS (SMTPS, port 465 style) with login, an untrusted certificate kept for later,
a plain-text server where TLS was asked, 5xx refused once, 4xx and a server that is down
retried and delivered once."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from runtime_helpers import wait_until
from sample_notification import SINCE, fibre_cut
from smtp_server import SmtpServer, self_signed
from smtps_server import SmtpsServer

from borderwatch.alerts.notify.dispatcher import Dispatcher
from borderwatch.alerts.notify.outbox import Outbox
from borderwatch.alerts.notify.receiver import PermanentError, TransientError
from borderwatch.alerts.notify.smtp import SmtpNotifier, message_id
from borderwatch.collector.secret import Secret

DASH = "http://grafana.lan/d/borderwatch?var-site={site}"
PASSWORD = "cnry-SMTP-5e1d0b"  # a canary: must appear nowhere but on the wire


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One self-signed certificate for 127.0.0.1 shared by the implicit-TLS tests."""
    return self_signed(tmp_path_factory.mktemp("smtps"))


@pytest.fixture
def server():
    smtp = SmtpServer().start()
    try:
        yield smtp
    finally:
        smtp.stop()


def notifier(port: int, name: str = "mail", language: str = "vi", **kw) -> SmtpNotifier:
    return SmtpNotifier(name, "127.0.0.1", port, sender="borderwatch@langson.example.vn",
                        to=("noc@langson.example.vn", "truc-ban@langson.example.vn"),
                        language=language, timeout=5, dashboard=DASH, **kw)


async def run(outbox: Outbox, *notifiers: SmtpNotifier) -> list[Dispatcher]:
    disps = [Dispatcher(n, outbox, retry_initial=0.2, retry_max=0.5) for n in notifiers]
    for d in disps:
        d.start()
    return disps


async def stop(disps: list[Dispatcher], outbox: Outbox) -> None:
    for d in disps:
        await d.stop()
    outbox.close()


async def test_subject_and_body_in_vietnamese_and_english(tmp_path: Path,
                                                          server: SmtpServer) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    disps = await run(outbox, notifier(server.port, "mail-vi", "vi"),
                      notifier(server.port, "mail-en", "en"))
    try:
        outbox.put(["mail-vi", "mail-en"], fibre_cut().to_dict())
        outbox.put(["mail-vi", "mail-en"], fibre_cut("resolved", SINCE + 600).to_dict())
        for d in disps:
            d.wake()
        await wait_until(lambda: outbox.pending() == 0, 20, "four e-mails")
    finally:
        await stop(disps, outbox)
    got = server.mailbox.messages
    assert len(got) == 4
    by_lang = {(str(r.message["Content-Language"]), str(r.message["X-Borderwatch-Status"])): r
               for r in got}
    vi, en = by_lang["vi", "firing"], by_lang["en", "firing"]
    assert vi.rcpt_tos == ["noc@langson.example.vn", "truc-ban@langson.example.vn"]
    assert vi.mail_from == "borderwatch@langson.example.vn"
    # headers arrive RFC 2047-encoded; the parser decodes them back
    assert b"=?utf-8?" in vi.raw.split(b"\r\n\r\n")[0]
    assert str(vi.message["Subject"]) == (
        "[NGHIÊM TRỌNG] Mất liên lạc Đồn Biên phòng Thanh Lòa và 1 trạm khác — mất tuyến cáp "
        "quang Đồng Đăng – Thanh Lòa (L27) (+1)")
    assert str(en.message["Subject"]) == (
        "[CRITICAL] Unreachable: Don Bien phong Thanh Loa (Đồn Biên phòng Thanh Lòa) and 1 "
        "more sites — fibre link Dong Dang–Thanh Loa (L27) down (+1)")
    part = vi.message.get_body(("plain",))
    assert part.get_content_charset() == "utf-8"
    text = part.get_content().replace("\r\n", "\n")  # CRLF lines on the wire
    assert text.startswith("[NGHIÊM TRỌNG] Mất liên lạc 2 trạm: Đồn Biên phòng Thanh Lòa "
                           "(xã Thanh Lòa), Cửa khẩu Cốc Nam (xã Tân Mỹ).")
    assert "  - Cửa khẩu Cốc Nam (xã Tân Mỹ) [ck-coc-nam]\n" in text
    assert "  - Cửa khẩu Cốc Nam đang chạy ắc quy do mất điện lưới (còn khoảng 45 phút)\n" \
        in text
    assert "Bắt đầu: 18:38 26/11/2026\n" in text
    assert "Bảng theo dõi: http://grafana.lan/d/borderwatch?var-site=bp-thanhloa\n" in text
    en_text = en.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Root cause:\n  - fibre link Dong Dang–Thanh Loa (L27) down\n" in en_text
    assert "Since: 18:38 26/11/2026 (UTC+07:00)\n" in en_text
    assert "Dashboard: http://grafana.lan/d/borderwatch?var-site=bp-thanhloa\n" in en_text
    # the resolve threads under its firing; ids are stable per notification
    vi_end = by_lang["vi", "resolved"]
    assert str(vi_end.message["Subject"]).startswith(
        "[ĐÃ KHÔI PHỤC] Đã khôi phục liên lạc Đồn Biên phòng Thanh Lòa")
    assert "Kết thúc: 18:48 26/11/2026" in vi_end.message.get_body(("plain",)).get_content()
    assert vi_end.message["In-Reply-To"] == vi.message["Message-ID"] == \
        message_id(f"reach:link:L27|firing|{SINCE!r}")
    assert "In-Reply-To" not in vi.message


async def test_4xx_is_retried_and_5xx_refused_once(tmp_path: Path, server: SmtpServer,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server.mailbox.script = ["451 4.3.0 Try again later", "250 OK",
                             "554 5.7.1 Message rejected"]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    disps = await run(outbox, notifier(server.port))
    try:
        outbox.put(["mail"], fibre_cut().to_dict())
        outbox.put(["mail"], fibre_cut("resolved", SINCE + 600).to_dict())
        outbox.put(["mail"], fibre_cut("resolved", SINCE + 900).to_dict())
        disps[0].wake()
        await wait_until(lambda: outbox.pending() == 0, 20, "all three handled")
        await asyncio.sleep(0.7)  # past the longest backoff: nothing is tried again
    finally:
        await stop(disps, Outbox(tmp_path / "outbox.sqlite"))
    assert server.mailbox.data_attempts == 4  # 451, 250, 554, 250
    assert [str(r.message["X-Borderwatch-Status"]) for r in server.mailbox.messages] == \
        ["firing", "resolved"]
    rows = Outbox(tmp_path / "outbox.sqlite").rows("mail")
    assert rows[0]["attempts"] == 2 and "SMTP 451 4.3.0 Try again later" in \
        rows[0]["last_error"]
    assert rows[1]["failed"] == ("receiver mail: message refused: SMTP 554 5.7.1 Message "
                                 "rejected")
    assert rows[2]["delivered_at"] is not None
    refused = [r for r in caplog.records if "refused, not retried" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.ERROR


async def test_recipients_refused(server: SmtpServer) -> None:
    server.mailbox.refuse = {"noc@langson.example.vn": "550 5.1.1 No such user",
                             "truc-ban@langson.example.vn": "550 5.1.1 No such user"}
    mail = notifier(server.port)
    with pytest.raises(PermanentError, match=r"every recipient refused: "
                       r"noc@langson.example.vn \(550\), truc-ban@langson.example.vn \(550\)"):
        await mail.deliver(fibre_cut().to_dict())
    # one mailbox full (4xx), the other gone: worth another try later
    server.mailbox.refuse["noc@langson.example.vn"] = "452 4.2.2 Mailbox full"
    with pytest.raises(Exception) as info:
        await mail.deliver(fibre_cut().to_dict())
    assert type(info.value).__name__ == "TransientError"
    # one refused for good, one took it: delivered (a retry would duplicate it)
    del server.mailbox.refuse["noc@langson.example.vn"]
    await mail.deliver(fibre_cut().to_dict())
    assert [r.rcpt_tos for r in server.mailbox.messages] == [["noc@langson.example.vn"]]
    assert mail.partial == 1


async def test_starttls_login_and_the_password_never_shows(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cert, key = self_signed(tmp_path)
    server = SmtpServer(password=PASSWORD, tls=(cert, key)).start()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    good = notifier(server.port, "good", starttls=True, ca_file=str(cert),
                    username="borderwatch", password=Secret(PASSWORD, "test"))
    bad = notifier(server.port, "bad", starttls=True, ca_file=str(cert),
                   username="borderwatch", password=Secret(PASSWORD + "-wrong", "test"))
    untrusted = notifier(server.port, "untrusted", starttls=True,  # system CAs only
                         username="borderwatch", password=Secret(PASSWORD, "test"))
    disps = await run(outbox, good, bad, untrusted)
    try:
        outbox.put(["good", "bad", "untrusted"], fibre_cut().to_dict())
        for d in disps:
            d.wake()
        await wait_until(lambda: outbox.pending("good") == 0 and outbox.pending("bad") == 0
                         and (outbox.rows("untrusted")[0]["attempts"] or 0) >= 2, 20,
                         "delivery, refusal and retries")
        rows = {r["receiver"]: r for r in outbox.rows()}
    finally:
        await stop(disps, outbox)
        server.stop()
    (got,) = server.mailbox.messages
    assert got.tls and got.login == "borderwatch"
    assert rows["bad"]["failed"].startswith("receiver bad: login refused: SMTP 535")
    assert rows["untrusted"]["failed"] is None  # a certificate can be fixed: kept, retried
    assert rows["untrusted"]["last_error"].startswith("receiver untrusted: TLS failed (")
    assert ("borderwatch", PASSWORD.encode()) in server.mailbox.logins
    shown = caplog.text + repr(good) + repr(bad) + "".join(
        str(r["last_error"]) for r in rows.values())
    assert PASSWORD not in shown and "5e1d0b" not in shown


async def test_server_down_then_back_delivers_once(tmp_path: Path) -> None:
    server = SmtpServer()  # its port, not listening yet: connection refused
    outbox = Outbox(tmp_path / "outbox.sqlite")
    disps = await run(outbox, notifier(server.port))
    try:
        outbox.put(["mail"], fibre_cut().to_dict())
        disps[0].wake()
        await wait_until(lambda: (outbox.rows("mail")[0]["attempts"] or 0) >= 2, 20,
                         "two refused connections")
        assert outbox.rows("mail")[0]["last_error"] == \
            "receiver mail: connection failed (ConnectionRefusedError)"
        server.start()
        await wait_until(lambda: outbox.pending() == 0, 20, "delivery once it is back")
        await asyncio.sleep(0.7)
        assert len(server.mailbox.messages) == 1
    finally:
        await stop(disps, outbox)
        server.stop()


async def test_a_server_that_never_answers_times_out_and_is_retried(tmp_path: Path) -> None:
    """A42: a mail server that accepts the connection and then hangs (as under kill -STOP):
    the delivery gives up at the receiver's timeout and is retried later."""
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # never a greeting

    hang = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = hang.sockets[0].getsockname()[1]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    mail = SmtpNotifier("mail", "127.0.0.1", port, sender="bw@langson.example.vn",
                        to=("noc@langson.example.vn",), timeout=0.5)
    disps = await run(outbox, mail)
    try:
        outbox.put(["mail"], fibre_cut().to_dict())
        disps[0].wake()
        await wait_until(lambda: (outbox.rows("mail")[0]["attempts"] or 0) >= 2, 20,
                         "two timed-out tries")
        row = outbox.rows("mail")[0]
        assert row["last_error"] == "receiver mail: no answer within 0.5 s"
        assert row["delivered_at"] is None and row["failed"] is None
        assert len(held) >= 2  # it did connect each time
    finally:
        await stop(disps, outbox)
        for w in held:
            w.close()
        hang.close()
        await hang.wait_closed()


# aiosmtpd warns about AUTH without its STARTTLS; this listener is TLS-only (smtps_server)
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_implicit_tls_login_delivers_in_vietnamese_and_the_password_never_shows(
        tmp_path: Path, cert: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    """SMTPS (RFC 8314): TLS from the first byte, certificate verified against ca_file."""
    caplog.set_level(logging.DEBUG)
    server = SmtpsServer(cert, password=PASSWORD).start()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    good = notifier(server.port, "good", tls=True, ca_file=str(cert[0]),
                    username="borderwatch", password=Secret(PASSWORD, "test"))
    bad = notifier(server.port, "bad", tls=True, ca_file=str(cert[0]),
                   username="borderwatch", password=Secret(PASSWORD + "-wrong", "test"))
    disps = await run(outbox, good, bad)
    try:
        outbox.put(["good", "bad"], fibre_cut().to_dict())
        for d in disps:
            d.wake()
        await wait_until(lambda: outbox.pending() == 0, 20, "delivery and refusal")
        rows = {r["receiver"]: r for r in outbox.rows()}
    finally:
        await stop(disps, outbox)
        server.stop()
    (got,) = server.mailbox.messages
    assert got.tls and got.login == "borderwatch"
    assert str(got.message["Subject"]) == (
        "[NGHIÊM TRỌNG] Mất liên lạc Đồn Biên phòng Thanh Lòa và 1 trạm khác — mất tuyến cáp "
        "quang Đồng Đăng – Thanh Lòa (L27) (+1)")
    text = got.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Nguyên nhân gốc:\n  - mất tuyến cáp quang Đồng Đăng – Thanh Lòa (L27)\n" in text
    assert rows["good"]["delivered_at"] is not None
    assert rows["bad"]["failed"].startswith("receiver bad: login refused: SMTP 535")
    assert ("borderwatch", PASSWORD.encode()) in server.mailbox.logins
    shown = caplog.text + repr(good) + repr(bad) + "".join(
        str(r["last_error"]) + str(r["failed"]) for r in rows.values())
    assert PASSWORD not in shown and "5e1d0b" not in shown


async def test_implicit_tls_untrusted_certificate_is_kept_until_trusted(
        tmp_path: Path, cert: tuple[Path, Path]) -> None:
    """A certificate the system CAs don't trust: retried, never dropped; once the receiver
    trusts it (ca_file, after a restart) the waiting message goes out, once."""
    server = SmtpsServer(cert).start()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    disps = await run(outbox, notifier(server.port, tls=True))  # system CAs only
    try:
        outbox.put(["mail"], fibre_cut().to_dict())
        disps[0].wake()
        await wait_until(lambda: (outbox.rows("mail")[0]["attempts"] or 0) >= 2, 20,
                         "two refused handshakes")
        await disps[0].stop()
        row = outbox.rows("mail")[0]
        assert row["last_error"] == "receiver mail: TLS failed (CERTIFICATE_VERIFY_FAILED)"
        assert row["failed"] is None and row["delivered_at"] is None
        assert server.mailbox.messages == []
        disps = await run(outbox, notifier(server.port, tls=True, ca_file=str(cert[0])))
        await wait_until(lambda: outbox.pending() == 0, 20, "delivery once trusted")
        await asyncio.sleep(0.7)  # past the longest backoff: nothing is sent again
    finally:
        await stop(disps, outbox)
        server.stop()
    (got,) = server.mailbox.messages
    assert got.tls and str(got.message["X-Borderwatch-Status"]) == "firing"


async def test_implicit_tls_to_a_plain_text_server_fails_at_once(
        server: SmtpServer, cert: tuple[Path, Path]) -> None:
    """tls: true against a server that greets in plain text (port 25/587 by mistake): the
    handshake fails on the greeting, well before the timeout, with a hint, and is retried."""
    mail = notifier(server.port, tls=True, ca_file=str(cert[0]))
    with pytest.raises(TransientError) as info:
        await mail.deliver(fibre_cut().to_dict())
    # not "no answer within 5 s": it did not wait for the timeout
    assert str(info.value) == (
        f"receiver mail: TLS failed (WRONG_VERSION_NUMBER): the server on port {server.port} "
        "answered in plain text, not implicit TLS (a STARTTLS port needs starttls: true)")
    assert server.mailbox.messages == [] and server.mailbox.data_attempts == 0


def test_tls_and_starttls_together_are_refused() -> None:
    with pytest.raises(ValueError, match=r"tls \(implicit\) and starttls exclude each other"):
        notifier(465, tls=True, starttls=True)
