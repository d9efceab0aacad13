"""The lab against real snmpsim processes: each device answers at its own address with its own
data, counters move, the lab MIB values are there, and stopping leaves no process behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from servers import free_tcp_port, snmpget

from borderwatch.collector.inventory import load_inventory
from borderwatch.lab.agents import Lab, StartProgress
from borderwatch.lab.devices import LabError, agent_specs, lab_community_files, lab_env_communities
from borderwatch.lab.quality import free_port

COMMUNITY_VAR = "BWTEST_LAB_COMMUNITY"
TEST_COMMUNITY = "lab-test-c0mmunity"

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_NAME_1 = "1.3.6.1.2.1.31.1.1.1.1.1"
IF_HC_IN_1 = "1.3.6.1.2.1.31.1.1.1.6.1"
IF_IN_2 = "1.3.6.1.2.1.2.2.1.10.2"
RADIO = "1.3.6.1.4.1.32473.1.1.1"
VSAT = "1.3.6.1.4.1.32473.2"
DCPOWER = "1.3.6.1.4.1.32473.3"

# Addresses away from the repository inventory's 127.0.0.10-99, so a lab someone runs by
# hand on the same machine does not collide with the tests.
DEVICES = {
    "t-mw1": ("127.0.0.201", "custom/huawei-rtn950a"),
    "t-ubnt1": ("127.0.0.202", "network/wifi/ubiquiti-m5"),
    "t-vsat1": ("127.0.0.203", "custom/idirect-x7"),
    "t-dc1": ("127.0.0.204", "custom/huawei-etp48200"),
}


def write_inventory(path: Path, devices: dict[str, tuple[str, str]], port: int,
                    interval: float = 60) -> Path:
    """A minimal valid inventory with the given lab devices (one site)."""
    lines = ["schema_version: 1", "credentials:", "  lab-v2c:", "    version: 2c",
             f"    community_env: {COMMUNITY_VAR}", "defaults:", f"  port: {port}",
             f"  interval: {interval}", "sites:",
             "  - id: test-site", "    name: Test site", "    kind: hub", "    devices:"]
    for dev_id, (address, profile) in devices.items():
        lines.append(f"      - {{id: {dev_id}, address: {address}, credential: lab-v2c, "
                     f"sim_profile: {profile}}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def get(address: str, port: int, *oids: str, community: str = TEST_COMMUNITY) -> list[str]:
    """Values (text after the type) of a GET, in order; fails on timeout or error."""
    res = snmpget(address, port, oids, community=community, timeout=2, retries=1)
    assert res.returncode == 0, res.stderr
    values = []
    for line in res.stdout.strip().splitlines():
        _, _, rest = line.partition(" = ")
        values.append(rest.split(": ", 1)[-1].strip('"'))
    assert len(values) == len(oids), res.stdout
    return values


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return True
    return state == "Z"


@pytest.fixture(scope="module", params=["gated", "per-device"])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A running lab of four devices (lab files and a real dump), stopped at the end.

    Both modes: one shared responder-lite (lab/lite.py) behind the gate (lab/gate.py), the
    default; and one snmpsim per device.
    """
    base = tmp_path_factory.mktemp("lab")
    port = free_port([a for a, _ in DEVICES.values()])
    inv_path = write_inventory(base / "inventory.yaml", DEVICES, port)
    inventory = load_inventory(inv_path, env={COMMUNITY_VAR: TEST_COMMUNITY})
    specs, skipped = agent_specs(inventory)
    assert skipped == []
    # One shared process for the four: it must tell them apart by the endpoint alone.
    running = Lab(specs, base / "state", parallelism=4, per_device=request.param == "per-device",
                  shared_processes=1)
    running.prepare()
    report = running.start()
    try:
        assert not report.failed, [(a.spec.device_id, a.error) for a in report.failed]
        yield running, port, report
    finally:
        pids = {a.pid for a in running.agents}
        running.stop()
        assert all(pid is not None and _gone(pid) for pid in pids)
        assert len(pids) == (1 if request.param == "gated" else len(DEVICES))


def test_each_device_answers_at_its_own_address_with_its_own_data(lab) -> None:
    running, port, report = lab
    assert len(report.ready) == len(DEVICES)
    assert report.records == sum(a.records for a in running.agents) > 300
    object_ids = {}
    for dev_id, (address, _) in DEVICES.items():
        name, object_id = get(address, port, SYS_NAME, SYS_OBJECT_ID)
        assert name == dev_id  # the lab sets sysName to the device id
        object_ids[dev_id] = object_id
    assert object_ids["t-ubnt1"].startswith(".1.3.6.1.4.1.41112")  # the real airMAX dump
    assert object_ids["t-mw1"].startswith(".1.3.6.1.4.1.2011.")  # Huawei
    assert object_ids["t-vsat1"].startswith(".1.3.6.1.4.1.13732.")  # iDirect
    # SNMPv1 works too, with noSuchName for a missing object.
    res = snmpget(DEVICES["t-dc1"][0], port, [SYS_NAME, "1.3.6.1.2.1.1.99.0"],
                  community=TEST_COMMUNITY, version="1", timeout=2)
    assert "noSuchName" in res.stdout + res.stderr
    assert get(DEVICES["t-dc1"][0], port, SYS_NAME) == ["t-dc1"]
    # A community the lab does not use gets silence, as on a real agent.
    res = snmpget(DEVICES["t-mw1"][0], port, [SYS_NAME], community="public", timeout=0.5,
                  retries=0)
    assert res.returncode != 0 and "Timeout" in res.stderr
    # snmpsim's "index" community lists data files, whose names are the lab community.
    res = subprocess.run(["snmpgetnext", "-v2c", "-c", "index", "-On", "-t", "0.5", "-r", "0",
                          f"{DEVICES['t-mw1'][0]}:{port}", "1.3.6.1.4.1.20408.999"],
                         capture_output=True, text=True, timeout=10)
    assert TEST_COMMUNITY not in res.stdout and ".1.3.6.1.4.1.20408.999" not in res.stdout


def _ticks(text: str) -> int:
    return int(text.split(")")[0].strip("("))  # "(371234622) 42 days, 23:12:26.22"


def test_counters_and_uptime_move_between_two_reads(lab) -> None:
    _, port, _ = lab
    mw = DEVICES["t-mw1"][0]
    ubnt = DEVICES["t-ubnt1"][0]
    uptime1, hc1 = get(mw, port, SYS_UPTIME, IF_HC_IN_1)
    c1 = int(get(ubnt, port, IF_IN_2)[0])
    time.sleep(1.5)
    uptime2, hc2 = get(mw, port, SYS_UPTIME, IF_HC_IN_1)
    c2 = int(get(ubnt, port, IF_IN_2)[0])
    assert 100 <= _ticks(uptime2) - _ticks(uptime1) <= 1000  # hundredths of a second
    assert int(hc2) > int(hc1)
    assert (c2 - c1) % 2**32 > 0  # the 32-bit counter of a real dump's up interface


def test_lab_mib_values_are_present(lab) -> None:
    _, port, _ = lab
    mw = DEVICES["t-mw1"][0]
    assert get(mw, port, IF_NAME_1) == ["radio-1"]
    name, rsl, tsl, snr, mse, modulation, planned, capacity = get(
        mw, port, *(f"{RADIO}.{col}.1" for col in range(2, 10)))
    assert name == "radio-1"
    assert -900 < int(rsl) < -200 and -900 < int(planned) < -200
    assert 0 < int(snr) < 600 and -600 < int(mse) < 0
    assert -200 < int(tsl) < 400
    assert 1 <= int(modulation) <= 10 and int(capacity) > 0
    esno, txpwr, lock, accepted = get(DEVICES["t-vsat1"][0], port,
                                      *(f"{VSAT}.{i}.0" for i in range(1, 5)))
    assert (lock, accepted) == ("1", "1") and int(esno) > 0 and int(txpwr) < 100
    mains, volts, amps, temp, runtime, load, alarms = get(
        DEVICES["t-dc1"][0], port, *(f"{DCPOWER}.{i}.0" for i in range(1, 8)))
    assert mains == "1" and 4000 < int(volts) < 6000 and int(runtime) > 0
    assert int(load) > 0 and alarms == "0" and -200 < int(temp) < 800 and int(amps) != 0


@pytest.mark.parametrize("per_device", [False, True], ids=["gated", "per-device"])
def test_a_busy_port_fails_one_agent_and_not_the_others(tmp_path: Path, per_device: bool
                                                        ) -> None:
    devices = {"t-busy": ("127.0.0.211", "custom/huawei-rtn905"),
               "t-fine": ("127.0.0.212", "custom/huawei-rtn905")}
    port = free_port([a for a, _ in devices.values()])
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", devices, port),
                         env={COMMUNITY_VAR: TEST_COMMUNITY})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.211", port))
        running = Lab(agent_specs(inv)[0], tmp_path / "state", per_device=per_device)
        running.prepare()
        progress: list[StartProgress] = []
        try:
            # Progress at every step, every starting agent counted as slow: the first step
            # spawns both (t-busy fails at once) before t-fine can have answered.
            report = running.start(progress=progress.append, progress_every=0.0,
                                   slow_after=0.0)
            assert [a.spec.device_id for a in report.failed] == ["t-busy"]
            assert "already in use" in (report.failed[0].error or "")
            assert get("127.0.0.212", port, SYS_NAME) == ["t-fine"]
        finally:
            running.stop()
    assert progress and all((p.total, p.ready, p.failed, p.starting) == (2, 0, 1, 1)
                            for p in progress)
    assert {name for p in progress for name, _ in p.slow} == {"t-fine"}
    assert progress[0].line().startswith("agents ready 0/2 after 0 s, 1 starting, 1 failed; "
                                         "slow (over 0 s): t-fine ")


def test_progress_line_names_counts_and_slow_agents() -> None:
    line = StartProgress(81, 24, 1, 6, 10.2, (("dd-agg2", 14.3), ("bptl-sw1", 11.0)),
                         10.0).line()
    assert line == ("agents ready 24/81 after 10 s, 6 starting, 1 failed; slow (over 10 s): "
                    "dd-agg2 14 s, bptl-sw1 11 s")
    assert StartProgress(4, 4, 0, 0, 3.0, (), 10.0).line() == "agents ready 4/4 after 3 s"
    # The shared process keeps all of them waiting: the line names five, counts the rest.
    slow = tuple((f"d{i}", 12.0) for i in range(81))
    assert StartProgress(81, 0, 0, 81, 12.0, slow, 10.0).line() == (
        "agents ready 0/81 after 12 s, 81 starting; slow (over 10 s): d0 12 s, d1 12 s, "
        "d2 12 s, d3 12 s, d4 12 s and 76 more")


@pytest.mark.parametrize("per_device", [False, True], ids=["gated", "per-device"])
def test_a_leftover_agent_of_a_killed_lab_is_stopped_on_the_next_start(tmp_path: Path,
                                                                       per_device: bool) -> None:
    devices = {"t-left": ("127.0.0.213", "custom/idirect-x7")}
    port = free_port(["127.0.0.213"])
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", devices, port),
                         env={COMMUNITY_VAR: TEST_COMMUNITY})
    first = Lab(agent_specs(inv)[0], tmp_path / "state", per_device=per_device)
    first.prepare()
    assert not first.start().failed
    old_pid = first.agents[0].pid
    assert old_pid is not None
    # The first lab "dies" without stopping: its agent keeps running, its pid file stays.
    # Its gate lives in the lab's own process, so it dies with it: close it here.
    if first._gate is not None:
        first._gate.stop()
    second = Lab(agent_specs(inv)[0], tmp_path / "state", per_device=per_device)
    second.prepare()
    try:
        report = second.start()
        assert not report.failed
        assert second.agents[0].pid != old_pid and _gone(old_pid)
        assert get("127.0.0.213", port, SYS_NAME) == ["t-left"]
    finally:
        second.stop()
        first.stop()


def test_bad_sim_profile_and_non_loopback_address_are_refused(tmp_path: Path) -> None:
    devices = {"t-nodump": ("127.0.0.214", "network/switch/no-such-dump"),
               "t-nolab": ("127.0.0.215", "custom/no-such-file")}
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", devices, 16161),
                         env={COMMUNITY_VAR: TEST_COMMUNITY})
    lab = Lab(agent_specs(inv)[0], tmp_path / "state")
    with pytest.raises(LabError) as err:
        lab.prepare()
    assert "t-nodump" in str(err.value) and "t-nolab" in str(err.value)

    inv = load_inventory(write_inventory(tmp_path / "inv2.yaml",
                                         {"t-remote": ("192.0.2.7", "custom/idirect-x7")}, 161),
                         env={COMMUNITY_VAR: TEST_COMMUNITY})
    with pytest.raises(LabError, match=r"t-remote: address 192\.0\.2\.7 is not a loopback"):
        agent_specs(inv)


def test_unset_community_is_generated_once_and_remembered(tmp_path: Path) -> None:
    inv_path = write_inventory(tmp_path / "inv.yaml", {"t-x": ("127.0.0.216", "custom/idirect-x7")},
                               16161)
    env: dict[str, str] = {}
    assert lab_env_communities(inv_path, tmp_path / "state", env) == [COMMUNITY_VAR]
    first = env[COMMUNITY_VAR]
    secret_file = tmp_path / "state" / "secrets" / COMMUNITY_VAR
    assert secret_file.stat().st_mode & 0o077 == 0
    env2: dict[str, str] = {}
    lab_env_communities(inv_path, tmp_path / "state", env2)
    assert env2[COMMUNITY_VAR] == first
    # A variable that is already set is left alone.
    env3 = {COMMUNITY_VAR: "mine"}
    assert lab_env_communities(inv_path, tmp_path / "state", env3) == []
    assert env3[COMMUNITY_VAR] == "mine"


def test_a_community_file_is_generated_where_the_inventory_reads_it(tmp_path: Path) -> None:
    """community_env + community_file (as the shipped inventory): the lab writes the file the
    collector falls back to, relative to the inventory, once; never over an existing one."""
    inv_path = write_inventory(tmp_path / "inv.yaml", {"t-f": ("127.0.0.216", "custom/idirect-x7")},
                               16161)
    inv_path.write_text(inv_path.read_text().replace(
        f"community_env: {COMMUNITY_VAR}",
        f"community_env: {COMMUNITY_VAR}\n    community_file: var/lab/secrets/community"))
    secret = tmp_path / "var" / "lab" / "secrets" / "community"
    env: dict[str, str] = {}
    assert lab_env_communities(inv_path, tmp_path / "state", env) == []  # not the state dir
    assert lab_community_files(inv_path, env) == [secret]
    assert (secret.stat().st_mode & 0o777, secret.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    first = secret.read_text()
    assert lab_community_files(inv_path, env) == [] and secret.read_text() == first
    assert load_inventory(inv_path, env=env).secret("lab-v2c").reveal() == first.strip()
    secret.unlink()
    assert lab_community_files(inv_path, {COMMUNITY_VAR: "mine"}) == []  # the variable wins
    assert not secret.exists()


def test_cli_lab_runs_until_sigint_and_leaves_nothing_behind(tmp_path: Path) -> None:
    devices = {"t-cli1": ("127.0.0.221", "custom/huawei-rtn950a"),
               "t-cli2": ("127.0.0.222", "UPS/eaton-93e-80")}
    port = free_port([a for a, _ in devices.values()])
    inv_path = write_inventory(tmp_path / "inv.yaml", devices, port)
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if k != COMMUNITY_VAR}
    proc = subprocess.Popen(
        [sys.executable, "-m", "borderwatch.cli", "lab", "--inventory", str(inv_path),
         "--state-dir", str(state)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env, cwd=Path(__file__).resolve().parents[2])
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "lab running" in line or "FAILED" in line:
                break
        assert any("lab running" in line for line in lines), "".join(lines)
        community = (state / "secrets" / COMMUNITY_VAR).read_text().strip()
        pids = [int(p.read_text()) for p in state.glob("shared/*/pid")]  # shared snmpsims
        assert len(pids) == 2  # one per device: fewer devices than SHARED_PROCESSES
        assert get("127.0.0.221", port, SYS_NAME, community=community) == ["t-cli1"]
        assert get("127.0.0.222", port, SYS_NAME, community=community) == ["t-cli2"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    lines.append(out)
    text = "".join(lines)
    assert proc.returncode == 0, text
    assert f"lab community set in ${COMMUNITY_VAR}" in text and "lab stopped" in text
    assert "2 agents ready, 0 failed" in text
    assert community not in text  # the secret is never printed
    deadline = time.monotonic() + 10
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(p) for p in pids)
    assert not list(state.glob("shared/*/pid")) and not list(state.glob("agents/*/pid"))


def test_cli_lab_with_collector_serves_metrics_of_the_lab_devices(tmp_path: Path) -> None:
    devices = {"t-wc1": ("127.0.0.231", "custom/huawei-rtn905"),
               "t-wc2": ("127.0.0.232", "custom/huawei-etp48200")}
    port = free_port([a for a, _ in devices.values()])
    inv_path = write_inventory(tmp_path / "inv.yaml", devices, port, interval=5)
    listen = f"127.0.0.1:{free_tcp_port()}"
    env = {k: v for k, v in os.environ.items() if k != COMMUNITY_VAR}
    proc = subprocess.Popen(
        [sys.executable, "-m", "borderwatch.cli", "lab", "--inventory", str(inv_path),
         "--state-dir", str(tmp_path / "state"), "--with-collector", "--listen", listen],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        cwd=Path(__file__).resolve().parents[2])
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "serving http://" in line or "FAILED" in line:
                break
        assert any(f"serving http://{listen}/metrics" in line for line in lines), "".join(lines)
        deadline = time.monotonic() + 30
        ups: dict[str, str] = {}
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://{listen}/metrics", timeout=5) as resp:
                body = resp.read().decode()
            ups = {m.group(1): m.group(2) for m in re.finditer(
                r'^borderwatch_device_up\{[^}]*device="([^"]+)"[^}]*\} (\S+)$', body, re.M)}
            if len(ups) == len(devices):
                break
            time.sleep(0.5)
        assert ups == {"t-wc1": "1.0", "t-wc2": "1.0"}, "".join(lines)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    text = "".join(lines) + out
    assert proc.returncode == 0, text
    assert "lab stopped" in text
    community = (tmp_path / "state" / "secrets" / COMMUNITY_VAR).read_text().strip()
    assert community not in text and community not in body


def test_cancel_during_start_stops_launching_and_stop_cleans_up(tmp_path: Path) -> None:
    devices = {f"t-can{i}": (f"127.0.0.{240 + i}", "custom/idirect-x7") for i in range(5)}
    port = free_port([a for a, _ in devices.values()])
    inv = load_inventory(write_inventory(tmp_path / "inv.yaml", devices, port),
                         env={COMMUNITY_VAR: TEST_COMMUNITY})
    running = Lab(agent_specs(inv)[0], tmp_path / "state", parallelism=1, per_device=True)
    running.prepare()
    cancel = threading.Event()
    first_pid = tmp_path / "state" / "agents" / "t-can0" / "pid"

    def ctrl_c_once_the_first_agent_is_spawned() -> None:
        deadline = time.monotonic() + 30
        while not first_pid.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        cancel.set()

    threading.Thread(target=ctrl_c_once_the_first_agent_is_spawned, daemon=True).start()
    try:
        report = running.start(cancel=cancel)
        not_started = [a for a in report.failed if a.error == "not started: the lab was stopped"]
        assert len(report.ready) + len(not_started) == len(devices)
        assert len(not_started) >= len(devices) - 2  # one at a time: at most 1-2 got going
        pids = [a.pid for a in running.agents if a.pid is not None]
        assert pids  # the first agent was spawned before the cancel
    finally:
        running.stop()
    assert all(_gone(p) for p in pids)
    assert not list((tmp_path / "state").glob("agents/*/pid"))
