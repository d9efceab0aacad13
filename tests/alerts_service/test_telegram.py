"""The Telegram notifier against a local server in the Bot API's shape: the text in each
language (HTML escaped), 429 retry_after honoured, 400/403 refused once, 5xx and a server
that is down retried, and the bot token nowhere but in the request path."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from runtime_helpers import wait_until
from sample_notification import SINCE, fibre_cut
from telegram_api import BotApi

from borderwatch.alerts.notify.dispatcher import Dispatcher
from borderwatch.alerts.notify.outbox import Outbox
from borderwatch.alerts.notify.receiver import PermanentError, TransientError
from borderwatch.alerts.notify.telegram import TelegramNotifier
from borderwatch.collector.secret import Secret

TOKEN = "123456:cnry-TOKEN-AAHk9x"  # a canary in the Bot API's token form
DASH = "http://grafana.lan/d/borderwatch?var-site={site}&orgId=1"


def bot(api_url: str, name: str = "tg", **kw) -> TelegramNotifier:
    return TelegramNotifier(name, Secret(TOKEN, "test"), kw.pop("chat_id", -1001234567890),
                            base_url=api_url, timeout=3, dashboard=DASH, **kw)


async def test_plain_vietnamese_and_html_english() -> None:
    api = await BotApi(TOKEN).start()
    vi, en = bot(api.base_url, "vi"), bot(api.base_url, "en", language="en",
                                          parse_mode="HTML", chat_id="@borderwatch_noc")
    try:
        await vi.deliver(fibre_cut().to_dict())
        await en.deliver(fibre_cut("resolved", SINCE + 600).to_dict())
    finally:
        await vi.close()
        await en.close()
        await api.stop()
    first, second = api.ok()
    assert first["chat_id"] == -1001234567890 and "parse_mode" not in first
    assert first["text"].startswith("[NGHIÊM TRỌNG] Mất liên lạc 2 trạm: Đồn Biên phòng "
                                    "Thanh Lòa (xã Thanh Lòa), Cửa khẩu Cốc Nam (xã Tân Mỹ). "
                                    "Nguyên nhân gốc: mất tuyến cáp quang Đồng Đăng – Thanh "
                                    "Lòa (L27);")
    assert first["text"].endswith("\nBảng theo dõi: http://grafana.lan/d/borderwatch?"
                                  "var-site=bp-thanhloa&orgId=1")
    assert second["chat_id"] == "@borderwatch_noc" and second["parse_mode"] == "HTML"
    assert second["text"].startswith("<b>[RESOLVED]</b> Communications restored with Don "
                                     "Bien phong Thanh Loa")
    assert second["text"].endswith('\n<a href="http://grafana.lan/d/borderwatch?'
                                   'var-site=bp-thanhloa&amp;orgId=1">Dashboard</a>')


async def test_429_waits_retry_after_then_delivers_once(tmp_path: Path) -> None:
    api = await BotApi(TOKEN, script=[429], retry_after=2).start()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    disp = Dispatcher(bot(api.base_url), outbox, retry_initial=0.1, retry_max=0.2)
    disp.start()
    try:
        outbox.put(["tg"], fibre_cut().to_dict())
        disp.wake()
        await wait_until(lambda: outbox.pending() == 0, 20, "the delivery")
        await asyncio.sleep(0.5)
        assert [s.status for s in api.sent] == [429, 200]
        (row,) = outbox.rows("tg")
        assert row["last_error"] == ("receiver tg: Telegram 429: Too Many Requests: retry "
                                     "after 2 (retry after 2 s)")
        # the retry waited for Telegram, not for our 0.2 s backoff cap
        assert api.sent[1].at - api.sent[0].at >= 2.0
    finally:
        await disp.stop()
        outbox.close()
        await api.stop()


@pytest.mark.parametrize(("status", "text"), [
    (400, "receiver tg: Telegram 400: Bad Request: chat not found"),
    (403, "receiver tg: Telegram 403: Forbidden: bot was blocked by the user"),
])
async def test_400_and_403_are_refused_once(tmp_path: Path, status: int, text: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = await BotApi(TOKEN, script=[status]).start()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    disp = Dispatcher(bot(api.base_url), outbox, retry_initial=0.1, retry_max=0.2)
    disp.start()
    try:
        outbox.put(["tg"], fibre_cut().to_dict())
        outbox.put(["tg"], fibre_cut("resolved", SINCE + 600).to_dict())
        disp.wake()
        await wait_until(lambda: outbox.pending() == 0, 20, "both handled")
        await asyncio.sleep(0.5)
        assert [s.status for s in api.sent] == [status, 200]
        first, second = outbox.rows("tg")
        assert first["failed"] == text and second["delivered_at"] is not None
        assert caplog.text.count(text) == 1
        assert "cnry-TOKEN" not in caplog.text
    finally:
        await disp.stop()
        outbox.close()
        await api.stop()


async def test_a_wrong_token_is_refused_without_showing_it() -> None:
    api = await BotApi("999:other").start()
    tg = bot(api.base_url)
    try:
        with pytest.raises(PermanentError) as info:
            await tg.deliver(fibre_cut().to_dict())
    finally:
        await tg.close()
        await api.stop()
    assert str(info.value) == "receiver tg: Telegram 401: Unauthorized"
    assert "cnry" not in repr(tg) and "cnry" not in str(info.value)


async def test_5xx_and_down_are_retried_and_the_url_never_shows(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = BotApi(TOKEN, script=[502, 500])
    await api.start()
    port = api.port
    await api.stop()  # down: connection refused
    tg = bot(f"http://127.0.0.1:{port}")
    with pytest.raises(TransientError) as info:
        await tg.deliver(fibre_cut().to_dict())
    assert str(info.value) == "receiver tg: connection failed (ClientConnectorError)"
    outbox = Outbox(tmp_path / "outbox.sqlite")
    disp = Dispatcher(tg, outbox, retry_initial=0.1, retry_max=0.3)
    disp.start()
    try:
        outbox.put(["tg"], fibre_cut().to_dict())
        disp.wake()
        await wait_until(lambda: (outbox.rows("tg")[0]["attempts"] or 0) >= 2, 20,
                         "two refused connections")
        await api.start(port)
        await wait_until(lambda: outbox.pending() == 0, 20, "delivery once it is back")
        await asyncio.sleep(0.5)
        assert [s.status for s in api.sent] == [502, 500, 200]
        assert len(api.ok()) == 1
        errors = " ".join(str(r["last_error"]) for r in outbox.rows())
        assert "Telegram 500: Internal Server Error" in errors
        shown = caplog.text + errors + repr(tg)
        assert "cnry-TOKEN" not in shown and f"127.0.0.1:{port}" not in shown
    finally:
        await disp.stop()
        outbox.close()
        await api.stop()
