"""The influxd test server: its own loopback ports whatever the environment says, clean stop."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from influxd_server import InfluxError, start_influxd
from servers import free_tcp_port, port_is_free


def test_influxd_ignores_env_overrides_and_stops_cleanly(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # influxd reads INFLUXDB_* as config overrides: one must not move the listener.
    elsewhere = free_tcp_port()
    monkeypatch.setenv("INFLUXDB_HTTP_BIND_ADDRESS", f"127.0.0.1:{elsewhere}")
    monkeypatch.setenv("INFLUXDB_REPORTING_DISABLED", "false")
    server = start_influxd(tmp_path / "influxd")
    try:
        assert server.ping()
        assert port_is_free(elsewhere, kind=socket.SOCK_STREAM)
        conf = (tmp_path / "influxd" / "influxdb.conf").read_text()
        assert "reporting-disabled = true" in conf
        assert f'bind-address = "127.0.0.1:{server.port}"' in conf
        assert all(str(tmp_path) in line for line in conf.splitlines() if "dir =" in line)
        with pytest.raises(InfluxError, match="invalid number"):
            server.write([b"m,site=s f=1u 1700000000000"])
        with pytest.raises(InfluxError, match="error parsing query"):
            server.query("SELEKT 1")
        proc = server.proc
    finally:
        server.stop()
    assert proc is not None and proc.poll() is not None
    assert not server.ping()  # (a bind test would trip over TIME_WAIT)
