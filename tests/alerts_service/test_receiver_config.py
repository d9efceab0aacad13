"""The `alerts.email` and `alerts.telegram` sections: file:line errors like the rest of the
inventory, secrets from env or file resolved when the service starts, never shown; implicit
TLS (`tls: true`) from the inventory to a real SMTPS server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from alert_network import ENV
from sample_notification import fibre_cut
from smtp_server import self_signed
from smtps_server import SmtpsServer

from borderwatch.alerts.notify.smtp import SmtpNotifier
from borderwatch.alerts.notify.telegram import TelegramNotifier
from borderwatch.alerts.service_hook import AlertsConfigError, AlertService
from borderwatch.collector.inventory import InventoryError, load_inventory
from borderwatch.collector.inventory.models import Alerts
from borderwatch.collector.state import NetworkState
from borderwatch.service import device_spec, link_specs

SITES = {
    "schema_version": 1,
    "credentials": {"lab": {"version": "2c", "community_env": "BW_ALERTS_COMMUNITY"}},
    "sites": [{"id": "core", "name": "Trung tâm", "kind": "core",
               "devices": [{"id": "core-sw", "address": "127.0.0.1", "port": 9,
                            "credential": "lab"}]}],
}
MAIL = {"name": "mail", "host": "127.0.0.1", "sender": "bw@langson.example.vn",
        "to": ["noc@langson.example.vn"]}
CHAT = {"name": "tg", "chat_id": -100123, "token_env": "BW_TG_TOKEN"}
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "cnry-SMTP-cfg91x"
TOKEN = "77:cnry-TOKEN-cfg02"


def write(tmp: Path, alerts: dict) -> Path:
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump({**SITES, "alerts": alerts}, allow_unicode=True,
                                   sort_keys=False))
    return path


def service(tmp: Path, alerts: dict, env: dict[str, str]) -> AlertService:
    inv = load_inventory(write(tmp, alerts), env=ENV)
    state = NetworkState([device_spec(inv.effective(d)) for d in inv.devices],
                         link_specs(inv))
    return AlertService(inv, state, base_dir=tmp, env=env)


def test_bad_receivers_are_reported_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, {
        "email": [{**MAIL, "host": "smtp.langson.example.vn", "username": "bw",
                   "password_env": "SMTP_PW", "password_file": "pw.txt",
                   "to": ["noc@langson.example.vn\nBcc: x@evil.example"]}],
        "telegram": [{"name": "mail", "chat_id": "noc"}]})
    with pytest.raises(InventoryError) as info:
        load_inventory(path, env=ENV)
    lines = str(info.value).splitlines()
    assert len(lines) == 2  # these two problems only
    assert f"{path}:21: alerts.email[0].to[0]: 'noc@langson.example.vn\\nBcc: " \
        "x@evil.example' is not an e-mail address like noc@example.vn" in lines
    assert f"{path}:29: alerts.telegram[0].chat_id: 'noc' is not a Telegram chat id: give " \
        "a number (groups are negative, e.g. -1001234567890) or @channelusername" in lines
    fixed = {"name": "tg", "chat_id": "@borderwatch_noc"}
    path = write(tmp_path, {
        "email": [{**MAIL, "host": "smtp.langson.example.vn", "username": "bw",
                   "password_env": "SMTP_PW", "password_file": "pw.txt"}],
        "telegram": [fixed, {**CHAT, "name": "mail"}]})
    with pytest.raises(InventoryError) as info:
        load_inventory(path, env=ENV)
    text = str(info.value)
    assert "alerts.email[0].starttls: login to smtp.langson.example.vn without STARTTLS or " \
        "TLS would send the password in clear; set starttls: true (port 587) or tls: true " \
        "(port 465)" in text
    assert "alerts.email[0].password_file: the password is given more than once " \
        "(password_env, password_file)" in text
    assert "alerts.telegram[0]: the bot token is missing; give token_env or token_file" in text
    path = write(tmp_path, {"email": [MAIL], "telegram": [{**CHAT, "name": "mail"}]})
    with pytest.raises(InventoryError) as info:
        load_inventory(path, env=ENV)
    assert str(info.value).splitlines() == [
        f"{path}:16: alerts.email: receiver names must be unique; repeated: mail"]


def test_implicit_tls_options(tmp_path: Path) -> None:
    """tls: true counts as encrypted for login, brings port 465 and ca_file; not with
    starttls: true, refused at the tls line."""
    remote = {**MAIL, "host": "smtp.langson.example.vn", "username": "bw",
              "password_env": "SMTP_PW"}
    path = write(tmp_path, {"email": [{**remote, "tls": True, "starttls": True}]})
    with pytest.raises(InventoryError) as info:
        load_inventory(path, env=ENV)
    line = [x.strip() for x in path.read_text().splitlines()].index("tls: true") + 1
    assert str(info.value).splitlines() == [
        f"{path}:{line}: alerts.email[0].tls: give tls: true (implicit TLS, port 465) or "
        "starttls: true (port 587), not both"]
    section = Alerts.model_validate({"email": [
        {**remote, "tls": True, "ca_file": "ca.pem"},  # login over TLS: allowed
        {**remote, "name": "m2", "tls": True, "port": 8465},
        {**remote, "name": "m3", "starttls": True}]})
    assert [(m.port, m.tls, m.starttls) for m in section.email] == \
        [(465, True, False), (8465, True, False), (25, False, True)]
    path = write(tmp_path, {"email": [{**MAIL, "tls": False, "ca_file": "ca.pem"}]})
    with pytest.raises(InventoryError) as info:
        load_inventory(path, env=ENV)
    assert "alerts.email[0].ca_file: ca_file is only used with starttls: true or tls: true" \
        in str(info.value)


# aiosmtpd warns about AUTH without its STARTTLS; this listener is TLS-only (smtps_server)
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_implicit_tls_from_the_inventory_reaches_a_real_smtps_server(
        tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = SmtpsServer((cert, key), password=PASSWORD).start()
    alerts = {"email": [{**MAIL, "port": server.port, "tls": True, "ca_file": cert.name,
                         "username": "bw", "password_env": "BW_SMTP_PW"}]}
    svc = service(tmp_path, alerts, env={"BW_SMTP_PW": PASSWORD})
    try:
        (mail,) = svc.receivers
        assert isinstance(mail, SmtpNotifier)
        assert (mail.tls, mail.starttls, mail.ca_file) == (True, False, str(cert))
        await mail.deliver(fibre_cut().to_dict())
    finally:
        svc.outbox.close()
        server.stop()
    (got,) = server.mailbox.messages
    assert got.tls and got.login == "bw"
    assert str(got.message["Subject"]).startswith("[NGHIÊM TRỌNG] Mất liên lạc")


def test_missing_secrets_stop_the_alerts_naming_the_source(tmp_path: Path) -> None:
    alerts = {"email": [{**MAIL, "username": "bw", "password_env": "BW_SMTP_PW"}],
              "telegram": [{**CHAT, "token_env": None, "token_file": "tg.token"}]}
    alerts["telegram"][0].pop("token_env")
    with pytest.raises(AlertsConfigError) as info:
        service(tmp_path, alerts, env={})
    assert str(info.value) == (
        "alerts.email[0] (mail).password_env: environment variable BW_SMTP_PW is not set; "
        f"alerts.telegram[0] (tg).token_file: cannot read secret file {tmp_path}/tg.token: "
        "No such file or directory")


def test_secrets_reach_the_notifiers_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "tg.token").write_text(TOKEN + "\n")
    alerts = {"email": [{**MAIL, "username": "bw", "password_env": "BW_SMTP_PW",
                         "language": "en"}],
              "telegram": [{"name": "tg", "chat_id": -100123, "token_file": "tg.token",
                            "parse_mode": "HTML"}]}
    svc = service(tmp_path, alerts, env={"BW_SMTP_PW": PASSWORD})
    try:
        mail, chat = svc.receivers
        assert isinstance(mail, SmtpNotifier) and isinstance(chat, TelegramNotifier)
        assert mail._password is not None and mail._password.reveal() == PASSWORD
        assert chat._token.reveal() == TOKEN  # one trailing newline dropped
        assert (mail.language, chat.parse_mode, chat.base_url) == \
            ("en", "HTML", "https://api.telegram.org")
        shown = repr(mail) + repr(chat) + repr(svc.config) + str(svc.config.model_dump())
        assert "cnry" not in shown
        assert "environment variable BW_SMTP_PW" in repr(svc.config.email[0].password)
    finally:
        svc.outbox.close()


def test_the_readme_example_is_valid() -> None:
    """alerts/notify/README.md's `alerts:` example must load: people copy it."""
    readme = Path(__file__).resolve().parents[2] / "alerts" / "notify" / "README.md"
    block = readme.read_text(encoding="utf-8").split("```yaml\n", 1)[1].split("```", 1)[0]
    section = Alerts.model_validate(yaml.safe_load(block)["alerts"])
    assert [r.name for r in section.email] == ["noc-mail"]
    assert section.telegram[0].chat_id == -1001234567890
    assert section.receiver_names() == ["noc", "alertmanager", "noc-mail", "noc-chat"]


def _check(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`borderwatch check PATH` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "borderwatch.cli", "check", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env})


def test_check_reads_receiver_secrets_as_the_service_would(tmp_path: Path) -> None:
    path = write(tmp_path, {"email": [{**MAIL, "username": "bw", "password_file": "smtp.pw"}],
                            "telegram": [CHAT]})
    run = _check(path, ENV)
    assert run.returncode == 1, run.stdout
    assert f"{path}: alerts.email[0] (mail).password_file: cannot read secret file " \
        f"{tmp_path / 'smtp.pw'}" in run.stdout
    assert f"{path}: alerts.telegram[0] (tg).token_env: environment variable BW_TG_TOKEN " \
        "is not set" in run.stdout
    (tmp_path / "smtp.pw").write_text(PASSWORD + "\n")
    (tmp_path / "smtp.pw").chmod(0o600)
    run = _check(path, {**ENV, "BW_TG_TOKEN": TOKEN})
    assert run.returncode == 0, run.stdout
    assert PASSWORD not in run.stdout + run.stderr and TOKEN not in run.stdout + run.stderr
