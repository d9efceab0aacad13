"""Silences on a running AlertService over HTTP (aiohttp on loopback) and through the
`borderwatch silence` command: validation with clear 400s, the silence mutes the page
and expiring it lets the page through, and it survives a restart of the service."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import bcrypt
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from alert_network import ENV, FAST_RULES
from core_post_service import alert_service, write_inventory
from loopback_http import serve_on_loopback
from prometheus_client import CollectorRegistry
from tls_material import make_pki

from borderwatch.alerts.silence_api import SilenceApi, attach_silence_api
from borderwatch.alerts.silence_cli import add_silence_subcommand, silence_command
from borderwatch.collector.samples import PollResult
from borderwatch.exporters.http import HttpServer, MetricsApp
from borderwatch.exporters.http_auth import Access
from borderwatch.exporters.http_limits import ListenerStats
from borderwatch.exporters.web_config import load_web_config

T0 = 1_795_693_105.0  # 2026-11-26 18:38:25 +07:00
# FAST_RULES in rules.yaml; one webhook where nothing answers (pages stay in the outbox).
WEBHOOK_ALERTS = {"rules": "rules.yaml", "webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/"}]}
class Running:
    """An AlertService with a hand-moved clock, its silence API served on loopback."""

    def __init__(self, tmp: Path) -> None:
        if not (tmp / "inventory.yaml").exists():  # a restart keeps the first one's files
            (tmp / "rules.yaml").write_text(FAST_RULES)
            write_inventory(tmp, WEBHOOK_ALERTS)
        self.now = T0
        self.alerts, self.state, inv = alert_service(tmp, lambda: self.now)
        self.interval = inv.effective("post-sw").interval
        self.app = web.Application()
        attach_silence_api(self.app, self.alerts)
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> Running:
        self.runner, port = await serve_on_loopback(self.app)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def poll(self, seconds: float, post_up: bool) -> list:
        """Move the clock, record one poll of each device, evaluate."""
        self.now += seconds
        self.state.apply(PollResult("core-sw", self.now, 0.01, True))
        self.state.apply(PollResult("post-sw", self.now, 0.3 if not post_up else 0.01,
                                    post_up, None if post_up else "timeout"))
        return self.alerts.evaluate()

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        self.alerts.outbox.close()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    svc = await Running(tmp_path).start()
    try:
        yield svc
    finally:
        await svc.close()


async def call(method: str, url: str, body: object = None, *, raw: str | None = None,
               content_type: str = "application/json") -> tuple[int, dict]:
    data = raw if raw is not None else (None if body is None else json.dumps(body))
    async with aiohttp.ClientSession() as s, s.request(
            method, url, data=data, headers={"Content-Type": content_type}) as resp:
        return resp.status, await resp.json()


GOOD = {"matchers": ["site=post"], "duration": "1h", "created_by": "trucban",
        "comment": "thay cáp L1"}


@pytest.mark.parametrize(("body", "message"), [
    ({**GOOD, "matchers": []}, "matchers: give a non-empty list, e.g. [\"site=bp-thanhloa\"]"),
    ({**GOOD, "matchers": ["sitee=post"]}, "matchers[0]: unknown label 'sitee'; incidents "
     "have: alertname, rule, severity, incident, group, site, device, link"),
    ({**GOOD, "matchers": ["site post"]}, "matchers[0]: 'site post' is not a matcher; write "
     "name=value, name!=value, name=~regex or name!~regex"),
    ({**GOOD, "matchers": ["link=~L(1"]}, "matchers[0]: matcher link=~'L(1': bad regex"),
    ({**GOOD, "matchers": ["severity!=warning"]}, "matchers: at least one must select "
     "something"),
    ({**GOOD, "comment": " "}, "comment: required (who silences, and why)"),
    ({k: v for k, v in GOOD.items() if k != "created_by"}, "created_by: required"),
    ({**GOOD, "duration": "soon"}, "duration: 'soon' is not a duration"),
    ({**GOOD, "duration": "45d"}, "duration: 45d is out of range"),
    ({**GOOD, "ends_at": "2026-11-26T20:00:00+07:00"}, "give ends_at or duration, not both"),
    ({**{k: v for k, v in GOOD.items() if k != "duration"},
      "ends_at": "2026-11-26T18:00:00+07:00"}, "ends_at: the silence would be over already"),
    ({**{k: v for k, v in GOOD.items() if k != "duration"},
      "ends_at": "2026-11-26T20:00:00"}, "ends_at: '2026-11-26T20:00:00' has no time zone"),
    ({**GOOD, "until": "tomorrow"}, "unknown field(s) until; allowed: matchers, starts_at"),
    (["site=post"], "the body must be a JSON object"),
])
async def test_bad_silences_get_a_clear_400(running: Running, body: object,
                                            message: str) -> None:
    status, answer = await call("POST", f"{running.url}/api/silences", body)
    assert status == 400
    assert answer["error"].startswith(message)
    assert running.alerts.engine.silences == {}


async def test_only_json_from_loopback_may_change_silences(running: Running) -> None:
    status, answer = await call("POST", f"{running.url}/api/silences", raw="matchers=x",
                                content_type="application/x-www-form-urlencoded")
    assert status == 415 and "Content-Type: application/json" in answer["error"]
    status, answer = await call("POST", f"{running.url}/api/silences", raw="{nope")
    assert status == 400 and answer["error"].startswith("the body is not JSON")

    class Remote(asyncio.Transport):
        def get_extra_info(self, name: str, default: object = None) -> object:
            return ("192.0.2.7", 40000) if name == "peername" else default

    # Who may write is the listener's rule (exporters/http_auth.py), applied before the
    # handler: a remote peer of a listener without basic auth is refused.
    request = make_mocked_request("POST", "/api/silences", transport=Remote())
    refused = await Access(ListenerStats()).middleware(request, SilenceApi(running.alerts).create)
    assert refused.status == 403
    assert running.alerts.engine.silences == {}


async def test_a_silence_mutes_the_page_until_it_is_expired(running: Running) -> None:
    status, made = await call("POST", f"{running.url}/api/silences", GOOD)
    assert status == 201
    assert made["state"] == "active" and made["matchers_text"] == ["site=post"]
    assert made["starts_at"] == "2026-11-26T11:38:25Z" and \
        made["ends_at"] == "2026-11-26T12:38:25Z"
    assert (made["created_by"], made["comment"]) == ("trucban", "thay cáp L1")
    saved = json.loads(running.alerts.state_path.read_text())  # on disk before the answer
    assert [s["id"] for s in saved["silences"]] == [made["id"]]
    sent = []
    for dt in (1, running.interval, 4):  # the post stays dark: its page is due, but muted
        sent += running.poll(dt, post_up=False)
    assert sent == []
    (incident,) = running.alerts.engine.open_incidents()
    assert incident.last_decision["reason"] == "silenced"
    assert incident.last_decision["detail"] == made["id"]
    assert running.alerts.outbox.rows() == []
    status, gone = await call("DELETE", f"{running.url}/api/silences/{made['id']}")
    assert status == 200 and gone["state"] == "expired"
    sent = running.poll(1, post_up=False)
    assert [(n.status, n.reason) for n in sent] == [("firing", "new")]
    assert len(running.alerts.outbox.rows("ops")) == 1
    status, listed = await call("GET", f"{running.url}/api/silences?state=expired")
    assert [s["id"] for s in listed["silences"]] == [made["id"]]
    status, missing = await call("DELETE", f"{running.url}/api/silences/nope")
    assert status == 404 and missing == {"error": "no silence 'nope'"}


async def test_silences_survive_a_restart(tmp_path: Path) -> None:
    first = await Running(tmp_path).start()
    try:
        status, made = await call("POST", f"{first.url}/api/silences",
                                  {**GOOD, "duration": "3h"})
        assert status == 201
    finally:
        await first.close()
    second = await Running(tmp_path).start()
    try:
        status, listed = await call("GET", f"{second.url}/api/silences")
        assert status == 200
        assert [(s["id"], s["state"], s["ends_at"]) for s in listed["silences"]] == \
            [(made["id"], "active", "2026-11-26T14:38:25Z")]
    finally:
        await second.close()


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="borderwatch")
    add_silence_subcommand(parser.add_subparsers(dest="command"))
    return parser.parse_args(["silence", *argv])


async def test_the_cli_adds_lists_and_expires(running: Running,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = ["--url", running.url]
    code = await asyncio.to_thread(silence_command, _args(
        *url, "add", "site=post", "link=~L.*", "--duration", "90m", "--author", "trucban",
        "--comment", "bảo dưỡng"))
    out, err = capsys.readouterr()
    assert code == 0
    (silence_id,) = running.alerts.engine.silences
    assert out == f"{silence_id}\n"
    assert err == "silenced until 20:08 26/11/2026 (UTC+07:00): site=post link=~L.*\n"
    code = await asyncio.to_thread(silence_command, _args(*url, "list"))
    out, _ = capsys.readouterr()
    header, row = out.splitlines()
    assert code == 0 and header.split() == ["ID", "STATE", "STARTS", "(UTC+07)", "ENDS",
                                             "(UTC+07)", "BY", "MATCHERS", "COMMENT"]
    assert row.split() == [silence_id, "active", "18:38", "26/11/2026", "20:08", "26/11/2026",
                           "trucban", "site=post", "link=~L.*", "bảo", "dưỡng"]
    running.now += 60
    code = await asyncio.to_thread(silence_command, _args(*url, "expire", silence_id))
    out, _ = capsys.readouterr()
    assert code == 0 and out == f"{silence_id} expired\n"
    code = await asyncio.to_thread(silence_command, _args(*url, "list", "--json",
                                                          "--state", "active"))
    assert code == 0 and json.loads(capsys.readouterr().out) == []
    # refused by the service: exit 1 with its reason
    code = await asyncio.to_thread(silence_command, _args(
        *url, "add", "sitee=post", "--comment", "x"))
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("borderwatch: silence add: the service answered 400: "
                                        "matchers[0]: unknown label 'sitee'")


async def test_the_cli_says_when_the_service_is_not_there(
        running: Running, capsys: pytest.CaptureFixture[str]) -> None:
    url = running.url
    await running.runner.cleanup()
    code = await asyncio.to_thread(silence_command, _args("--url", url, "list"))
    assert code == 1
    assert capsys.readouterr().err.startswith(
        f"borderwatch: silence list: cannot reach the service at {url}: ")


async def test_borderwatch_run_serves_the_silence_api(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The wiring: a whole service with `alerts:` answers `borderwatch silence` on its own
    /metrics listener, and the silence lands in the engine it evaluates with."""
    from runtime_helpers import running_service

    (tmp_path / "rules.yaml").write_text(FAST_RULES)
    path = write_inventory(tmp_path, WEBHOOK_ALERTS)
    async with running_service(path, ENV, base_dir=tmp_path) as service:
        url = service.http.url
        code = await asyncio.to_thread(silence_command, _args(
            "--url", url, "add", "site=post", "--comment", "thay ắc quy"))
        out, _ = capsys.readouterr()
        assert code == 0
        assert list(service.alerts.engine.silences) == [out.strip()]
        code = await asyncio.to_thread(silence_command, _args("--url", url, "list", "--json"))
        listed = json.loads(capsys.readouterr().out)
        assert code == 0 and [s["id"] for s in listed] == [out.strip()]


async def test_the_cli_over_tls_with_basic_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The listener with a web config (TLS, basic auth): the CLI needs --cacert and a user;
    without them, or with a wrong password, the service refuses (401) and nothing changes."""
    pki = make_pki(tmp_path / "pki")
    hashed = bcrypt.hashpw(b"pw-trucban", bcrypt.gensalt(4)).decode()
    web_yml = tmp_path / "web.yml"
    web_yml.write_text(f"tls_server_config:\n  cert_file: {pki.server_cert}\n"
                       f"  key_file: {pki.server_key}\nbasic_auth_users:\n  trucban: {hashed}\n")
    svc = Running(tmp_path)
    app = MetricsApp(CollectorRegistry(), dict)
    attach_silence_api(app.app, svc.alerts)
    http = HttpServer(app, "127.0.0.1", 0, web_config=load_web_config(web_yml))
    await http.start()
    try:
        add = ("add", "site=post", "--duration", "1h", "--comment", "thay cáp")
        tls = ("--url", http.url, "--cacert", str(pki.ca))
        monkeypatch.setenv("BORDERWATCH_PASSWORD", "wrong")
        code = await asyncio.to_thread(silence_command, _args(*tls, "--user", "trucban", *add))
        assert code == 1 and "the service answered 401" in capsys.readouterr().err
        monkeypatch.delenv("BORDERWATCH_PASSWORD")
        code = await asyncio.to_thread(silence_command, _args(*tls, *add))  # no user at all
        assert code == 1 and "the service answered 401" in capsys.readouterr().err
        assert svc.alerts.engine.silences == {}
        monkeypatch.setenv("BORDERWATCH_PASSWORD", "pw-trucban")
        code = await asyncio.to_thread(silence_command, _args(*tls, "--user", "trucban", *add))
        assert code == 0, capsys.readouterr().err
        assert len(svc.alerts.engine.silences) == 1
    finally:
        await http.stop()
        await svc.close()
