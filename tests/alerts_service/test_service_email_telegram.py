"""The whole service with an e-mail and a Telegram receiver that are down when an incident
fires, and stay down across a restart of the service: nothing is lost, and each receiver
gets the page and the resolve exactly once when it is back. Real snmpd agents (hub
blackholed by the T2 proxy), a real SMTP server (aiosmtpd), the Bot API-shaped server."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from alert_network import ENV, build
from runtime_helpers import running_service, wait_until
from servers import Snmpd
from smtp_server import SmtpServer
from telegram_api import BotApi

TOKEN = "424242:cnry-TOKEN-svc7Qz"


def attempts(service, name: str) -> int:
    return sum(r["attempts"] for r in service.alerts.outbox.rows(name))


async def test_email_and_telegram_down_across_a_restart_get_each_message_once(
        tmp_path: Path, snmpd: Snmpd, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    smtp = SmtpServer()  # its port is known, nothing listens yet: connection refused
    api = await BotApi(TOKEN, outage=503).start()
    token_file = tmp_path / "telegram.token"
    token_file.write_text(TOKEN + "\n")
    os.chmod(token_file, 0o600)
    net = await build(tmp_path, snmpd.port, {
        "email": [{"name": "mail", "host": "127.0.0.1", "port": smtp.port, "timeout": 3,
                   "sender": "borderwatch@langson.example.vn",
                   "to": ["noc@langson.example.vn"], "language": "vi"}],
        "telegram": [{"name": "tg", "chat_id": -1001234567890, "token_file": "telegram.token",
                      "base_url": api.base_url, "language": "en", "timeout": 3}]})
    try:
        async with running_service(net.inventory, ENV, base_dir=tmp_path) as service:
            assert [r.name for r in service.alerts.receivers] == ["mail", "tg"]
            await wait_until(lambda: all(s.up for s in service.state.device_snapshots()), 20,
                             "every device answering")
            net.cut("hub-sw")
            net.cut("post-sw")
            await wait_until(lambda: attempts(service, "mail") >= 2 and
                             attempts(service, "tg") >= 2, 30, "failed tries at both")
            assert [(n.status, n.reason) for n in service.alerts.sent] == [("firing", "new")]
            (row,) = service.alerts.outbox.rows("mail")
            assert row["last_error"] == \
                "receiver mail: connection failed (ConnectionRefusedError)"
            (row,) = service.alerts.outbox.rows("tg")
            assert row["last_error"] == "receiver tg: Telegram 503: Error"
        async with running_service(net.inventory, ENV, base_dir=tmp_path) as service:
            before = attempts(service, "tg")
            await wait_until(lambda: attempts(service, "tg") > before, 20,
                             "a try after the restart, still down")
            api.outage = 429  # rate-limited on the way back (retry_after 1 s)
            await wait_until(lambda: 429 in [s.status for s in api.sent], 20,
                             "a rate-limited try")
            api.outage = None
            smtp.start()
            await wait_until(lambda: len(smtp.mailbox.messages) == 1, 30, "the e-mail")
            await wait_until(lambda: len(api.ok()) == 1, 30, "the Telegram message")
            assert service.alerts.sent == []  # the restart did not page again
            net.cut("hub-sw", False)
            net.cut("post-sw", False)
            await wait_until(lambda: len(smtp.mailbox.messages) == 2 and len(api.ok()) == 2,
                             40, "both resolves")
            await asyncio.sleep(2)  # more ticks and dispatch passes: nothing more arrives
        mails = smtp.mailbox.messages
        assert [str(m.message["X-Borderwatch-Status"]) for m in mails] == \
            ["firing", "resolved"]
        subject = str(mails[0].message["Subject"])
        assert subject.startswith("[NGHIÊM TRỌNG] Mất liên lạc Nút truyền dẫn Đồng Đăng và 1 "
                                  "trạm khác — ")
        assert str(mails[1].message["Subject"]).startswith(
            "[ĐÃ KHÔI PHỤC] Đã khôi phục liên lạc Nút truyền dẫn Đồng Đăng")
        texts = [b["text"] for b in api.ok()]
        assert texts[0].startswith("[CRITICAL] 2 sites unreachable: ")
        assert texts[1].startswith("[RESOLVED] Communications restored with ")
        assert 429 in [s.status for s in api.sent] and 503 in [s.status for s in api.sent]
        assert TOKEN not in caplog.text and "cnry-TOKEN" not in caplog.text
    finally:
        net.close()
        smtp.stop()
        await api.stop()
