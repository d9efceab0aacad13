"""Shared fixtures: real snmpd, snmpsim and Prometheus servers on loopback (see servers.py)."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import worker_net  # noqa: F401  (first: each xdist worker's BW_QUALITY_NET, see there)
from live_fibre_cut import live_fibre_cut  # noqa: F401  (a session fixture: history, reports)
from servers import (
    REPO_ROOT,
    SNMPSIM_TEST_DUMPS,
    SNMPSIM_V3_USER,
    MissingBinary,
    Prometheus,
    Snmpd,
    Snmpsim,
    free_udp_port,
    make_dump_dir,
    start_prometheus,
    start_snmpd,
    start_snmpsim,
)
from timing_modules import TIMING_MODULES

from borderwatch.collector.snmp.transport import SnmpTransport

# Persistent and git-ignored (/var/ in .gitignore): the data copies and snmpsim's index live
# at stable paths, because snmpsim keys its index by the data file's path and mtime, so a
# second run starts in about a second instead of re-indexing every dump.
SNMPSIM_TEST_CACHE = REPO_ROOT / "var" / "cache" / "snmpsim-tests"


@contextlib.contextmanager
def _installed() -> Iterator[None]:
    """Turn a missing server binary into a test failure that says how to install it."""
    try:
        yield
    except MissingBinary as exc:
        pytest.fail(str(exc), pytrace=False)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive lock: concurrent test runs must not index the same snmpsim cache at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture
def snmpd(tmp_path: Path) -> Iterator[Snmpd]:
    """A real net-snmp snmpd on 127.0.0.1 and a free port, test bed config (servers.py)."""
    with _installed():
        server = start_snmpd(tmp_path / "snmpd")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def snmpsim_dumps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    """One snmpsim for the whole session serving SNMPSIM_TEST_DUMPS on one 127.0.0.1 port.

    Use `snmpsim_dumps.community_for("cisco-c3560")` for a dump's community and
    `.endpoint` (or `.address`, `.port`) for where it listens. Read-only: tests
    must not change its data (it is shared by the session).
    """
    data_dir = SNMPSIM_TEST_CACHE / "data"
    cache_dir = SNMPSIM_TEST_CACHE / "index"
    log_path = tmp_path_factory.mktemp("snmpsim") / "snmpsim.log"
    with _installed(), _file_lock(SNMPSIM_TEST_CACHE / ".lock"):
        make_dump_dir(data_dir, SNMPSIM_TEST_DUMPS)
        server = start_snmpsim(data_dir, cache_dir, [("127.0.0.1", free_udp_port())],
                               probe_community=SNMPSIM_TEST_DUMPS[0],
                               v3_users=[SNMPSIM_V3_USER], log_path=log_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[..., Prometheus]]:
    """Start real Prometheus servers: factory(["127.0.0.1:PORT", ...], scrape_interval="1s")."""
    started: list[Prometheus] = []

    def factory(scrape_targets: list[str], **kwargs: Any) -> Prometheus:
        with _installed():
            server = start_prometheus(tmp_path / f"prometheus-{len(started)}", scrape_targets,
                                      **kwargs)
        started.append(server)
        return server

    try:
        yield factory
    finally:
        for server in started:
            server.stop()


@pytest.fixture
async def transport() -> AsyncIterator[SnmpTransport]:
    """The shared v1/v2c transport, bound to loopback as tests must be."""
    t = await SnmpTransport.create(max_in_flight=64, local_address="127.0.0.1",
                                   local_address6="::1")
    try:
        yield t
    finally:
        await t.close()



def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of timing_modules.TIMING_MODULES `timing`."""
    tests_dir = Path(__file__).parent
    for item in items:
        relative = item.path.relative_to(tests_dir).as_posix()
        if relative.startswith(TIMING_MODULES):
            item.add_marker(pytest.mark.timing)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile`: whole modules per worker, some modules together (worker_groups)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from worker_groups import GroupedFileScheduling

    return GroupedFileScheduling(config, log)
