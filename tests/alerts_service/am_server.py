"""A real Prometheus Alertmanager on loopback for the notifier tests: start, stop, restart.

Reuses tests/servers.py's port and process helpers. `--cluster.listen-address=` keeps it
off 0.0.0.0:9094; the same `--storage.path` across restarts keeps its notification log
(so a restarted Alertmanager does not page again what it paged before).
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servers import _require_free, _spawn, _wait_ready, find_binary, free_tcp_port, stop_process


def am_config(webhook_url: str, *, group_wait: str = "1s", group_interval: str = "1s",
              repeat_interval: str = "1h") -> str:
    """One route to one webhook, grouped per incident, fast timers for tests."""
    return (
        "route:\n"
        "  receiver: hook\n"
        "  group_by: [incident]\n"
        f"  group_wait: {group_wait}\n"
        f"  group_interval: {group_interval}\n"
        f"  repeat_interval: {repeat_interval}\n"
        "receivers:\n"
        "  - name: hook\n"
        "    webhook_configs:\n"
        f"      - url: {webhook_url}\n"
        "        send_resolved: true\n")


@dataclass
class Alertmanager:
    """A running Alertmanager on 127.0.0.1 (stop/start keep port, config and storage)."""

    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # cluster member: its gossip port and its peers' (None: no cluster, the default)
    cluster_port: int | None = None
    peers: tuple[int, ...] = ()
    peer_timeout: str = "15s"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "alertmanager.log"

    def start(self, timeout: float = 20.0, *, restart: bool = False) -> None:
        """Start (again) with the same config, storage and port; wait for /-/ready."""
        if not restart:
            # On a restart the port is ours: connections we closed linger in TIME_WAIT
            # and fail a plain bind check, while Alertmanager binds with SO_REUSEADDR.
            _require_free(self.port, "127.0.0.1", socket.SOCK_STREAM, "alertmanager")
        argv = [find_binary("prometheus-alertmanager"),
                f"--config.file={self.workdir / 'am.yml'}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=debug"]
        if self.cluster_port is None:
            argv.append("--cluster.listen-address=")
        else:  # gossip on loopback only, peered with the others
            argv += [f"--cluster.listen-address=127.0.0.1:{self.cluster_port}",
                     f"--cluster.advertise-address=127.0.0.1:{self.cluster_port}",
                     f"--cluster.peer-timeout={self.peer_timeout}",
                     "--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=2s"]
            argv += [f"--cluster.peer=127.0.0.1:{p}" for p in self.peers]
        self.proc = _spawn(argv, self.log_path)
        _wait_ready(self.proc, self._ready, what="alertmanager", log_path=self.log_path,
                    timeout=timeout)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def status(self) -> dict[str, Any]:
        """GET /api/v2/status (cluster status and peers among others)."""
        with urllib.request.urlopen(self.url + "/api/v2/status", timeout=5) as resp:
            return json.loads(resp.read())

    def alerts(self) -> list[dict[str, Any]]:
        """GET /api/v2/alerts (active, silenced, inhibited)."""
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=5) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        """SIGTERM (then SIGKILL) the process we started; idempotent."""
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


def start_alertmanager(workdir: Path, webhook_url: str, **timers: str) -> Alertmanager:
    """Write the config and start a real Alertmanager on a free port."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "am.yml").write_text(am_config(webhook_url, **timers))
    am = Alertmanager(workdir, free_tcp_port())
    am.start()
    return am


def start_cluster(workdir: Path, webhook_url: str, size: int = 2, *,
                  peer_timeout: str = "15s", **timers: str) -> list[Alertmanager]:
    """`size` real Alertmanagers peered over loopback gossip, each with its own storage,
    all notifying the same webhook: the cluster deduplicates through its notification log
    (the member at position 0 sends, the others wait `peer_timeout` and see it sent)."""
    members = [Alertmanager(workdir / f"am{i}", free_tcp_port(), cluster_port=free_tcp_port(),
                            peer_timeout=peer_timeout) for i in range(size)]
    for i, am in enumerate(members):
        am.workdir.mkdir(parents=True, exist_ok=True)
        (am.workdir / "am.yml").write_text(am_config(webhook_url, **timers))
        am.peers = tuple(m.cluster_port for j, m in enumerate(members)
                         if j != i and m.cluster_port is not None)
    try:
        for am in members:
            am.start()
    except BaseException:
        for am in members:
            am.stop()
        raise
    return members
