"""`--web.config.file`: the file's rules and messages, TLS with a real client and a CA made
here, basic auth (401 for no, wrong or unknown credentials), who may write, and a real
Prometheus scraping over HTTPS with basic auth."""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import bcrypt
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from runtime_helpers import (
    BORDERWATCH,
    REPO_ROOT,
    Dev,
    running_service,
    v2c,
    wait_until,
    write_inventory,
)
from servers import free_tcp_port
from tls_material import Pki, make_pki

from borderwatch.cli import build_parser
from borderwatch.exporters.http import HttpServer, MetricsApp
from borderwatch.exporters.http_auth import write_refusal
from borderwatch.exporters.http_limits import ServerLimits
from borderwatch.exporters.web_config import WebConfig, WebConfigError, load_web_config
from borderwatch.service import run_service

PASSWORD = "s3cret-scrape"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()  # cost 4: fast tests


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _tls_block(pki: Pki, extra: str = "") -> str:
    return (f"tls_server_config:\n  cert_file: {pki.server_cert}\n"
            f"  key_file: {pki.server_key}\n{extra}")


# ---------------------------------------------------------------------------- the file


def test_a_good_file_loads(tmp_path: Path, pki: Pki) -> None:
    # relative paths are relative to the file, as in exporter-toolkit
    (tmp_path / "tls").mkdir()
    for src in (pki.server_cert, pki.server_key, pki.ca):
        (tmp_path / "tls" / src.name).write_bytes(src.read_bytes())
    config = load_web_config(_write(tmp_path / "web.yml", f"""\
tls_server_config:
  cert_file: tls/server.crt
  key_file: tls/server.key
  min_version: TLS13
  client_auth_type: VerifyClientCertIfGiven
  client_ca_file: tls/ca.crt
http_server_config:
  headers:
    X-Frame-Options: deny
basic_auth_users:
  prometheus: {HASH}
"""))
    assert config.tls is not None and config.tls.min_version is ssl.TLSVersion.TLSv1_3
    assert config.tls.cert_file == tmp_path / "tls" / "server.crt"
    assert config.ssl_context is not None and config.auth
    assert config.headers == {"X-Frame-Options": "deny"}
    assert load_web_config(_write(tmp_path / "empty.yml", "")) == WebConfig()


@pytest.mark.parametrize(("text", "expected"), [
    ("tls_server_config:\n  cert_file: a.crt\n",
     ["1: tls_server_config: key_file is required for TLS"]),
    ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  min_version: TLS14\n",
     ["4: tls_server_config.min_version: 'TLS14' is not a TLS version; allowed: TLS10, "
      "TLS11, TLS12, TLS13"]),
    ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n"
     "  client_auth_type: RequireAnyClientCert\n",
     ["4: tls_server_config.client_auth_type: RequireAnyClientCert (a certificate asked for "
      "but not verified) is not supported; use RequireAndVerifyClientCert with "
      "client_ca_file"]),
    ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n"
     "  client_auth_type: RequireAndVerifyClientCert\n",
     ["4: tls_server_config.client_auth_type: RequireAndVerifyClientCert needs "
      "client_ca_file"]),
    ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  cipher_suites: [X]\n",
     ["4: tls_server_config.cipher_suites: Go cipher-suite names are not supported (Python's "
      "ssl chooses modern suites); remove it"]),
    ("basic_auth_users:\n  admin: hunter2\n",
     ["2: basic_auth_users.admin: not a bcrypt hash ($2y$, $2b$ or $2a$, cost 4..31, 60 "
      "characters); make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'` (see "
      "docs/web-config.md)"]),
    ("basic_auth_user:\n  admin: x\n",
     ["1: basic_auth_user: unknown key; allowed: tls_server_config, http_server_config, "
      "basic_auth_users"]),
    ("rate_limit:\n  interval: 1s\n",
     ["1: rate_limit: not supported; put a reverse proxy in front for rate limits"]),
    ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n    Server: bw\n",
     ["3: http_server_config.headers.X-Frame-Options: 'allow' is not allowed; allowed: "
      "deny, sameorigin",
      "4: http_server_config.headers.Server: this header cannot be set; allowed: "
      "Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, "
      "X-XSS-Protection, Content-Security-Policy"]),
    ("- just a list\n", ["1: (document): the web config must be a mapping "
                         "(tls_server_config, basic_auth_users, http_server_config)"]),
])
def test_bad_files_get_file_line_field_messages(tmp_path: Path, text: str,
                                                expected: list[str]) -> None:
    path = _write(tmp_path / "web.yml", text)
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    assert [str(p) for p in caught.value.problems] == [f"{path}:{e}" for e in expected]
    assert "hunter2" not in str(caught.value)  # a password typed as a hash is not echoed


def test_unreadable_tls_files_are_named(tmp_path: Path, pki: Pki) -> None:
    path = _write(tmp_path / "web.yml", f"tls_server_config:\n  cert_file: {pki.server_cert}\n"
                  f"  key_file: {pki.client_key}\n")  # a key that is not the cert's
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    [problem] = caught.value.problems
    assert problem.line == 2 and problem.field == "tls_server_config.cert_file"
    assert f"cannot load the certificate {pki.server_cert} with the key {pki.client_key}" in \
        problem.message
    missing = _write(tmp_path / "web2.yml", "tls_server_config:\n  cert_file: nope.crt\n"
                     "  key_file: nope.key\n")
    with pytest.raises(WebConfigError) as caught:
        load_web_config(missing)
    assert str(caught.value).splitlines() == [
        f"{missing}:2: tls_server_config.cert_file: no such file: {tmp_path / 'nope.crt'}",
        f"{missing}:3: tls_server_config.key_file: no such file: {tmp_path / 'nope.key'}"]


def test_run_refuses_a_bad_web_config_before_starting(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    for flag in ("--web.config.file", "--web-config-file"):
        args = build_parser().parse_args(["run", flag, "w.yml"])
        assert args.web_config_file == "w.yml"
    bad = _write(tmp_path / "web.yml", "basic_auth_users:\n  admin: hunter2\n")
    assert run_service(tmp_path / "no-inventory.yaml", "127.0.0.1:0",
                       web_config_file=bad) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: basic_auth_users.admin: not a bcrypt hash" in err
    assert "hunter2" not in err and "Traceback" not in err


# ---------------------------------------------------------------------------- the listener


@pytest.fixture
async def secured(tmp_path: Path, pki: Pki) -> AsyncIterator[HttpServer]:
    config = load_web_config(_write(tmp_path / "web.yml", _tls_block(pki) + f"""\
http_server_config:
  headers:
    X-Content-Type-Options: nosniff
basic_auth_users:
  prometheus: {HASH}
"""))
    app = MetricsApp(CollectorRegistry(), lambda: {"status": "ok"})

    async def write(request: web.Request) -> web.Response:
        return web.Response(text="written\n")

    app.app.router.add_post("/api/write", write)
    http = HttpServer(app, "127.0.0.1", 0, web_config=config)
    await http.start()
    try:
        yield http
    finally:
        await http.stop()


def _client_tls(pki: Pki, *, cert: bool = False,
                version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert:
        context.load_cert_chain(pki.client_cert, pki.client_key)
    if version is not None:
        context.maximum_version = version
    return context


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


async def _get(url: str, context: ssl.SSLContext | None, *, auth: dict[str, str] | None,
               method: str = "GET") -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as http, \
            http.request(method, url, ssl=context, headers=auth) as resp:
        return resp.status, dict(resp.headers), await resp.text()


async def test_tls_and_basic_auth_on_every_route(secured: HttpServer, pki: Pki) -> None:
    assert secured.url.startswith("https://127.0.0.1:")
    good = _basic("prometheus", PASSWORD)
    tls = _client_tls(pki)
    for path in ("/metrics", "/healthz", "/", "/status", "/nowhere"):
        for auth in (None, _basic("prometheus", "wrong"), _basic("nobody", PASSWORD)):
            status, headers, _ = await _get(secured.url + path, tls, auth=auth)
            assert status == 401, (path, auth)
            assert headers["WWW-Authenticate"].startswith("Basic realm=")
            assert headers["X-Content-Type-Options"] == "nosniff"  # on errors too
    status, headers, body = await _get(secured.url + "/metrics", tls, auth=good)
    assert status == 200 and "borderwatch_exposition_series" in body
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert secured._app.listener.auth_failures == 15
    # writes: an authenticated user may, from anywhere the listener is reachable
    assert (await _get(secured.url + "/api/write", tls, auth=None, method="POST"))[0] == 401
    assert (await _get(secured.url + "/api/write", tls, auth=good, method="POST"))[0] == 200
    # plain HTTP to the TLS port gets nothing
    with pytest.raises(aiohttp.ClientError):
        await _get(secured.url.replace("https:", "http:") + "/metrics", None, auth=good)
    # a client that does not trust our CA refuses the server
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await _get(secured.url + "/metrics", ssl.create_default_context(), auth=good)


async def test_min_version_and_client_certificates(tmp_path: Path, pki: Pki) -> None:
    config = load_web_config(_write(tmp_path / "web.yml", _tls_block(pki, f"""\
  min_version: TLS13
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: {pki.ca}
""")))
    http = HttpServer(MetricsApp(CollectorRegistry(), dict), "127.0.0.1", 0, web_config=config)
    await http.start()
    try:
        status, _, _ = await _get(http.url + "/healthz", _client_tls(pki, cert=True), auth=None)
        assert status == 200
        with pytest.raises(aiohttp.ClientError):  # no client certificate
            await _get(http.url + "/healthz", _client_tls(pki), auth=None)
        with pytest.raises(aiohttp.ClientError):  # TLS 1.2 only: below min_version
            await _get(http.url + "/healthz",
                       _client_tls(pki, cert=True, version=ssl.TLSVersion.TLSv1_2), auth=None)
    finally:
        await http.stop()


@pytest.mark.parametrize(("auth", "listener", "user", "peer", "refused"), [
    (False, True, None, True, None),  # today's default: loopback only, no users
    (False, True, None, False, "changes are accepted from the service's own host"),
    (False, False, None, True, "changes (silences, reload) are refused: this listener is "
                               "reachable from the network and has no basic_auth_users"),
    (True, False, "prometheus", False, None),
    (True, True, None, True, "authentication required"),
])
def test_who_may_write(auth: bool, listener: bool, user: str | None, peer: bool,
                       refused: str | None) -> None:
    why = write_refusal(auth=auth, listener_loopback=listener, user=user, peer_loopback=peer)
    assert (why is None) if refused is None else (why is not None and why.startswith(refused))


# ---------------------------------------------------------------------------- Prometheus


@pytest.mark.slow
async def test_prometheus_scrapes_over_https_with_basic_auth(
        tmp_path: Path, pki: Pki, snmpd, prometheus_factory) -> None:
    config = load_web_config(_write(tmp_path / "web.yml", _tls_block(pki) +
                                    f"basic_auth_users:\n  prometheus: {HASH}\n"))
    inv = write_inventory(tmp_path / "inventory.yaml", [Dev("sw1", snmpd.port, "c")],
                          {"c": v2c("BW_C")}, {"interval": 1, "timeout": 0.5, "retries": 1})
    async with running_service(inv, {"BW_C": "public"}, web_config=config) as service:
        await wait_until(lambda: all(s.up for s in service.state.device_snapshots()),
                         within=20, what="a first poll")
        prom = prometheus_factory(
            [f"127.0.0.1:{service.http.port}"], scrape_interval="1s",
            scrape_options={"scheme": "https",
                            "tls_config": {"ca_file": str(pki.ca)},
                            "basic_auth": {"username": "prometheus", "password": PASSWORD}})
        up = await asyncio.to_thread(prom.wait_for, 'up{job="borderwatch"}',
                                     lambda r: bool(r) and r[0]["value"][1] == "1", 40)
        assert up[0]["metric"]["instance"] == f"127.0.0.1:{service.http.port}"
        device = await asyncio.to_thread(
            prom.wait_for, 'borderwatch_device_up{device="sw1"}',
            lambda r: bool(r) and r[0]["value"][1] == "1", 30)
        assert device[0]["metric"]["site"] == "test-hub"
        assert service.metrics_app.listener.auth_failures == 0


def test_the_documented_example_loads(tmp_path: Path, pki: Pki) -> None:
    """docs/web-config.md's file is valid as written (its TLS files put in place)."""
    doc = (REPO_ROOT / "docs" / "web-config.md").read_text(encoding="utf-8")
    example = re.findall(r"```yaml\n(tls_server_config:.*?)```", doc, re.S)[0]
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "borderwatch.crt").write_bytes(pki.server_cert.read_bytes())
    (tmp_path / "tls" / "borderwatch.key").write_bytes(pki.server_key.read_bytes())
    config = load_web_config(_write(tmp_path / "web.yml", example))
    assert set(config.users) == {"prometheus", "trucban"} and config.ssl_context is not None
    assert bcrypt.checkpw(b"change-me-prometheus", config.users["prometheus"])


async def test_a_tls_handshake_that_never_comes_is_cut(tmp_path: Path, pki: Pki) -> None:
    """The head deadline covers the TLS handshake: a client that connects and says nothing
    (not even a ClientHello) is closed."""
    config = load_web_config(_write(tmp_path / "web.yml", _tls_block(pki)))
    app = MetricsApp(CollectorRegistry(), dict, limits=ServerLimits(header_timeout=0.5))
    http = HttpServer(app, "127.0.0.1", 0, web_config=config)
    await http.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
        async with asyncio.timeout(20):
            assert await reader.read() == b""
        writer.close()
    finally:
        await http.stop()


def test_check_validates_the_web_config_too(tmp_path: Path, pki: Pki) -> None:
    inv = write_inventory(tmp_path / "inventory.yaml", [Dev("sw1", 16100, "c")],
                          {"c": v2c("BW_C")})
    good = _write(tmp_path / "good.yml", _tls_block(pki) + f"basic_auth_users:\n  p: {HASH}\n")
    bad = _write(tmp_path / "bad.yml", "basic_auth_users:\n  p: hunter2\n")
    env = {**os.environ, "BW_C": "public"}
    ok = subprocess.run([BORDERWATCH, "check", str(inv), "--web.config.file", str(good)],
                        capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines()[-1] == f"{good}: TLS, 1 basic-auth user, OK"
    refused = subprocess.run([BORDERWATCH, "check", str(inv), "--web-config-file", str(bad)],
                             capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode == 1
    assert refused.stdout.splitlines()[-2:] == [
        f"{bad}:2: basic_auth_users.p: not a bcrypt hash ($2y$, $2b$ or $2a$, cost 4..31, 60 "
        "characters); make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'` (see "
        "docs/web-config.md)", f"{bad}: 1 problem"]
    assert "hunter2" not in refused.stdout + refused.stderr


@pytest.mark.slow
async def test_borderwatch_run_serves_https_with_basic_auth_to_curl(tmp_path: Path, pki: Pki,
                                                                    snmpd) -> None:
    """The CLI end to end: `borderwatch run --web.config.file` in its own process, curl as
    the TLS client trusting the test's CA."""
    web_yml = _write(tmp_path / "web.yml", _tls_block(pki) +
                     f"basic_auth_users:\n  prometheus: {HASH}\n")
    inv = write_inventory(tmp_path / "inventory.yaml", [Dev("sw1", snmpd.port, "c")],
                          {"c": v2c("BW_C")}, {"interval": 1, "timeout": 0.5, "retries": 1})
    port = free_tcp_port()
    proc = await asyncio.create_subprocess_exec(
        BORDERWATCH, "run", "--inventory", str(inv), "--listen", f"127.0.0.1:{port}",
        "--web.config.file", str(web_yml), env={**os.environ, "BW_C": "public"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        url = f"https://127.0.0.1:{port}"
        assert line.decode().strip() == f"serving {url}/metrics", line

        async def curl(*args: str) -> tuple[str, str]:
            done = await asyncio.create_subprocess_exec(
                "curl", "-sS", "--cacert", str(pki.ca), "-o", str(tmp_path / "body"),
                "-w", "%{http_code}", *args, f"{url}/metrics",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await done.communicate()
            return out.decode(), err.decode()

        assert (await curl())[0] == "401"
        assert (await curl("-u", "prometheus:wrong"))[0] == "401"
        assert (await curl("-u", f"prometheus:{PASSWORD}"))[0] == "200"
        assert "borderwatch_device_up" in (tmp_path / "body").read_text()
    finally:
        proc.terminate()
        await proc.wait()
