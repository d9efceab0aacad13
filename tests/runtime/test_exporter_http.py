"""The HTTP surface: formats (A31), no free-form targets (A46), loopback bind (A44), series cap.

The service polls a real snmpd; promtool (from the Prometheus package) checks the
exposition it serves.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from runtime_helpers import (
    Dev,
    fetch,
    running_service,
    scrape,
    v2c,
    values_by_device,
    wait_until,
    write_inventory,
)
from servers import find_binary, free_tcp_port

from borderwatch.cli import DEFAULT_LISTEN, build_parser
from borderwatch.collector.profiles import metric_catalog
from borderwatch.exporters.http import HttpServer, MetricsApp, is_loopback, parse_listen
from borderwatch.service import run_service

# promtool lint findings that are deliberate: IF-MIB label names as snmp_exporter spells
# them (ifIndex, ifName...), required by the issue; anything else fails the test.
ALLOWED_LINT = ("label names should be written in 'snake_case' not 'camelCase'",)


@pytest.fixture
def inventory(tmp_path: Path, snmpd) -> Path:
    return write_inventory(tmp_path / "inventory.yaml",
                           [Dev("ls-core-sw1", snmpd.port, "c"),
                            Dev("ls-core-sw2", snmpd.port, "c2",
                                extra={"profile": ["system"]})],
                           {"c": v2c("BW_C"), "c2": v2c("BW_C")},
                           {"interval": 1, "timeout": 0.3, "retries": 0})


ENV = {"BW_C": "public"}


async def _polled(service) -> None:
    await wait_until(lambda: all(s.up for s in service.state.device_snapshots()), within=10,
                     what="a successful poll of every device")


async def test_formats_gzip_openmetrics_and_promtool(inventory: Path) -> None:
    async with running_service(inventory, ENV) as service:
        await _polled(service)
        url = f"{service.http.url}/metrics"
        status, headers, plain = await fetch(url)
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert "Content-Encoding" not in headers
        status, headers, packed = await fetch(url, {"Accept-Encoding": "gzip"})
        assert status == 200 and headers["Content-Encoding"] == "gzip"
        unpacked = gzip.decompress(packed).decode()
        assert len(packed) < len(unpacked) / 3
        names = {f.name for f in text_string_to_metric_families(unpacked)}
        assert names == {f.name for f in text_string_to_metric_families(plain.decode())}
        status, headers, om = await fetch(url, {
            "Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8"})
        assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
        assert om.endswith(b"# EOF\n")
        # name[] restricts the exposition, as client_python's handlers do
        status, _, only = await fetch(url + "?name[]=borderwatch_device_up")
        assert status == 200
        assert {f.name for f in text_string_to_metric_families(only.decode())} == \
            {"borderwatch_device_up"}

        scraped = await scrape(service)
        series = sum(len(v) for v in scraped["samples"].values())
        exposed = scraped["samples"]["borderwatch_exposition_series"][0][1]
        # the self-metric counts every sample line of the exposition that carries it
        assert exposed == series
        assert scraped["samples"]["borderwatch_exposition_bytes"][0][1] > 0

    promtool = find_binary("promtool")
    res = await asyncio.to_thread(subprocess.run, [promtool, "check", "metrics"], input=plain,
                                  capture_output=True, timeout=30)
    findings = [line for line in (res.stdout + res.stderr).decode().splitlines() if line]
    assert res.returncode in (0, 3), findings  # 3: lint findings only; 1: does not parse
    unexpected = [f for f in findings if not f.endswith(ALLOWED_LINT)]
    assert not unexpected, unexpected


async def test_no_route_takes_a_target_and_no_snmp_is_sent(tmp_path: Path) -> None:
    """A46: every route refuses parameters; nothing reaches an address named in a request."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.9", 0))
    sink.setblocking(False)
    port = sink.getsockname()[1]
    # One device whose first tick is hours away: any SNMP traffic would come from HTTP.
    inv = write_inventory(tmp_path / "inv.yaml", [Dev("only", port, "c", address="127.0.0.8",
                                                      extra={"interval": 86400})],
                          {"c": v2c("BW_C")})
    try:
        async with running_service(inv, ENV) as service:
            base = service.http.url
            long = "x" * 5000
            cases = {
                f"/metrics?target=127.0.0.9:{port}": 400,
                "/metrics?device=../../etc": 400,
                "/metrics?module=if_mib&target=127.0.0.9": 400,
                f"/metrics?name[]={long}": 400,
                "/healthz?target=127.0.0.9": 400,
                "/?target=127.0.0.9": 400,
                f"/snmp?target=127.0.0.9:{port}": 404,
                "/probe?target=127.0.0.9": 404,
                "/devices/only": 404,
                "/devices/../../etc/passwd": 404,
                f"/{long}": 404,
            }
            for path, expect in cases.items():
                status, _, _ = await fetch(base + path)
                assert status == expect, path
            async with aiohttp.ClientSession() as client, \
                    client.post(base + "/metrics", data=b"target=127.0.0.9") as resp:
                assert resp.status == 405
            await asyncio.sleep(0.3)
            assert service.transport.stats.sent == 0
        with pytest.raises(BlockingIOError):
            sink.recvfrom(2048)
    finally:
        sink.close()


async def test_default_bind_is_loopback_and_other_binds_warn(
        caplog: pytest.LogCaptureFixture) -> None:
    """A44: defaults listen on 127.0.0.1; a non-loopback address works but logs a WARNING."""
    args = build_parser().parse_args(["run"])
    assert args.listen == DEFAULT_LISTEN == "127.0.0.1:9730"
    host, port = parse_listen(args.listen)
    assert is_loopback(host) and port == 9730
    assert parse_listen("[::1]:9730") == ("::1", 9730) and is_loopback("::1")
    assert parse_listen(":9730") == ("0.0.0.0", 9730) and not is_loopback("0.0.0.0")
    for bad in ("9730", "127.0.0.1:http", "127.0.0.1:70000"):
        with pytest.raises(ValueError, match="--listen"):
            parse_listen(bad)

    app = MetricsApp(CollectorRegistry(), dict)
    caplog.set_level(logging.WARNING, logger="borderwatch.exporters.http")
    loopback = HttpServer(app, "127.0.0.1", 0)
    await loopback.start()
    await loopback.stop()
    assert not caplog.records
    anywhere = HttpServer(app, "0.0.0.0", 0)
    await anywhere.start()
    try:
        assert [r.levelno for r in caplog.records] == [logging.WARNING]
        assert "0.0.0.0" in caplog.records[0].getMessage()
    finally:
        await anywhere.stop()


async def test_series_cap_drops_extra_series_and_counts_them(
        inventory: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A31: a device with more series than the cap exports `cap` of them and counts the rest."""
    caplog.set_level(logging.WARNING, logger="borderwatch.service")
    async with running_service(inventory, ENV, series_cap=20) as service:
        await wait_until(lambda: service.state.device("ls-core-sw1").polls >= 2, within=10,
                         what="two polls of ls-core-sw1")
        scraped = await scrape(service)
    per_device = values_by_device(scraped, "borderwatch_device_series")
    dropped = values_by_device(scraped, "borderwatch_device_series_dropped_total")
    assert per_device["ls-core-sw1"] == 20
    assert per_device["ls-core-sw2"] < 20 and dropped["ls-core-sw2"] == 0
    polls = values_by_device(scraped, "borderwatch_device_polls_total")["ls-core-sw1"]
    assert dropped["ls-core-sw1"] > 0 and dropped["ls-core-sw1"] % polls == 0
    profile_metrics = set(metric_catalog())
    exported = [labels for name, rows in scraped["samples"].items() if name in profile_metrics
                for labels, _ in rows if labels.get("device") == "ls-core-sw1"]
    assert len(exported) == 20
    warnings = [r.getMessage() for r in caplog.records if "series" in r.getMessage()]
    assert len(warnings) == 1 and "ls-core-sw1" in warnings[0]  # once, not per poll


def test_run_service_reports_a_taken_port_and_a_bad_listen(
        inventory: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("BW_C", "public")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run_service(inventory, f"127.0.0.1:{port}", local_address="127.0.0.1") == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in err
    assert "Traceback" not in err
    assert run_service(inventory, "localhost") == 2
    assert "--listen 'localhost': expected HOST:PORT" in capsys.readouterr().err


def test_run_service_stops_when_the_callers_flag_is_set(
        inventory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab's way (`borderwatch lab --with-collector`): its own signal handlers set a
    threading.Event; run_service must notice it, shut down and return 0."""
    monkeypatch.setenv("BW_C", "public")
    port = free_tcp_port()
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run_service(
        inventory, f"127.0.0.1:{port}", stop=stop, local_address="127.0.0.1")))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        health = None
        while health is None or health["devices_up"] < 2:
            assert time.monotonic() < deadline, health
            time.sleep(0.2)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    health = json.loads(r.read())
            except OSError:
                continue
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive() and result == [0]
