"""Fault injection into a real running lab (one shared snmpsim behind the lab's gate, a
process of its own for each device a fault restarts): after each fault snmpget shows the
changed values, after the restore they are back; plus the CLI and scenario paths."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import snmpget

from borderwatch.collector.inventory import load_inventory
from borderwatch.lab.agents import Lab
from borderwatch.lab.control import ControlLoop, load_scenario, send
from borderwatch.lab.devices import agent_specs
from borderwatch.lab.faults import FaultError, FaultInjector, Topology
from borderwatch.lab.quality import free_port

COMMUNITY_VAR = "BWTEST_LAB_COMMUNITY"
TEST_COMMUNITY = "lab-fault-c0mmunity"
REPO = Path(__file__).resolve().parents[2]

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
OPER_1 = "1.3.6.1.2.1.2.2.1.8.1"  # radio-1 is ifIndex 1 in the lab radio files
HC_IN_1 = "1.3.6.1.2.1.31.1.1.1.6.1"
IN_1 = "1.3.6.1.2.1.2.2.1.10.1"
OPER_2, HC_IN_2 = "1.3.6.1.2.1.2.2.1.8.2", "1.3.6.1.2.1.31.1.1.1.6.2"
RSL_1, SNR_1 = "1.3.6.1.4.1.32473.1.1.1.3.1", "1.3.6.1.4.1.32473.1.1.1.5.1"
UPS_SOURCE, UPS_ON_BATTERY = "1.3.6.1.2.1.33.1.4.1.0", "1.3.6.1.2.1.33.1.2.2.0"
UPS_MINUTES = "1.3.6.1.2.1.33.1.2.3.0"
DC_MAINS, DC_CURRENT, DC_RUNTIME = (f"1.3.6.1.4.1.32473.3.{i}.0" for i in (1, 3, 5))

# Away from the repository inventory (127.0.0.10-99) and from test_lab_agents (.201-.245).
DEVICES = {  # id: (address, sim_profile, site)
    "f-mw-a": ("127.0.0.171", "custom/huawei-rtn950a", "site-a"),
    "f-mw-b": ("127.0.0.172", "custom/huawei-rtn950a", "site-b"),
    "f-ups-a": ("127.0.0.173", "UPS/eaton-93e-80", "site-a"),
    "f-dc-a": ("127.0.0.174", "custom/huawei-etp48200", "site-a"),
}


def write_inventory(path: Path, port: int) -> Path:
    """Two sites joined by microwave link L1 (radio-1 at both ends)."""
    lines = ["schema_version: 1", "credentials:", "  lab-v2c:", "    version: 2c",
             f"    community_env: {COMMUNITY_VAR}", "defaults:", f"  port: {port}",
             "  interval: 60", "sites:"]
    for site in ("site-a", "site-b"):
        lines += [f"  - id: {site}", f"    name: {site}", "    kind: hub", "    devices:"]
        for dev, (address, profile, dev_site) in DEVICES.items():
            if dev_site == site:
                ifs = ", interfaces: [radio-1]" if "rtn" in profile else ""
                lines.append(f"      - {{id: {dev}, address: {address}, credential: lab-v2c, "
                             f"sim_profile: {profile}{ifs}}}")
    lines += ["links:",
              "  - {id: L1, medium: microwave, capacity_mbps: 400,",
              "     a: {site: site-a, device: f-mw-a, interface: radio-1},",
              "     b: {site: site-b, device: f-mw-b, interface: radio-1}}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def get(dev: str, port: int, *oids: str, community: str = TEST_COMMUNITY) -> list[str]:
    """Values of a GET on a lab device, in order; fails on timeout or error."""
    res = snmpget(DEVICES[dev][0], port, oids, community=community, timeout=2, retries=2)
    assert res.returncode == 0, res.stderr
    values = [line.partition(" = ")[2].split(": ", 1)[-1].strip('"')
              for line in res.stdout.strip().splitlines()]
    assert len(values) == len(oids), res.stdout
    return values


def ticks(text: str) -> int:
    return int(text.split(")")[0].strip("("))


def silent(dev: str, port: int) -> bool:
    res = snmpget(DEVICES[dev][0], port, [SYS_NAME], community=TEST_COMMUNITY, timeout=0.5,
                  retries=0)
    return res.returncode != 0 and "Timeout" in res.stderr


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """A running 4-device lab and its fault injector (faults cleared after each test)."""
    base = tmp_path_factory.mktemp("faultlab")
    port = free_port([a for a, _, _ in DEVICES.values()])
    inventory = load_inventory(write_inventory(base / "inventory.yaml", port),
                               env={COMMUNITY_VAR: TEST_COMMUNITY})
    running = Lab(agent_specs(inventory)[0], base / "state", parallelism=4, shared_processes=2)
    running.prepare()
    report = running.start()
    try:
        assert not report.failed, [(a.spec.device_id, a.error) for a in report.failed]
        assert len(running.processes()) == 2  # two snmpsim processes serve the four devices
        yield FaultInjector(running, Topology.from_inventory(inventory)), port
    finally:
        running.stop()


@pytest.fixture
def faults(lab):
    injector, port = lab
    yield injector, port
    injector.apply("clear")


def test_cut_link_downs_both_ends_freezes_counters_and_restore_brings_them_back(faults):
    injector, port = faults
    before = {d: get(d, port, OPER_1, HC_IN_1) for d in ("f-mw-a", "f-mw-b")}
    assert all(v[0] == "1" for v in before.values())
    injector.apply("cut_link", "L1")
    for dev in ("f-mw-a", "f-mw-b"):
        oper, hc = get(dev, port, OPER_1, HC_IN_1)
        assert oper == "2"
        # Counters continued up to the cut (no reset), then stand still.
        assert int(hc) >= int(before[dev][1])
        c32 = get(dev, port, IN_1)[0]
        time.sleep(1.1)
        assert get(dev, port, HC_IN_1, OPER_2) == [hc, "1"]  # eth-1 is not on the link
        assert get(dev, port, IN_1) == [c32]  # the 32-bit twin stands still too
    frozen = int(get("f-mw-a", port, HC_IN_1)[0])
    injector.apply("restore_link", "L1")
    oper, hc1 = get("f-mw-a", port, OPER_1, HC_IN_1)
    time.sleep(1.1)
    hc2 = get("f-mw-a", port, HC_IN_1)[0]
    assert oper == "1" and frozen <= int(hc1) < int(hc2)  # moving again, from where it stood


def test_counters_and_uptime_continue_across_a_fault_restart(faults):
    injector, port = faults
    up1, eth1 = get("f-mw-a", port, SYS_UPTIME, HC_IN_2)
    injector.apply("fade_link", "L1", db=5)  # restarts the agent
    up2, eth2 = get("f-mw-a", port, SYS_UPTIME, HC_IN_2)
    assert ticks(up2) > ticks(up1)  # no reboot seen by a poller
    assert int(eth2) > int(eth1)


def test_fade_lowers_rsl_and_snr_at_both_ends_and_unfade_restores(faults):
    injector, port = faults
    before = {d: [int(v) for v in get(d, port, RSL_1, SNR_1)] for d in ("f-mw-a", "f-mw-b")}
    injector.apply("fade_link", "L1", db=25)
    for dev, (rsl, snr) in before.items():
        rsl2, snr2 = (int(v) for v in get(dev, port, RSL_1, SNR_1))
        # 25 dB = 250 tenths; the files' sine and noise move a few tens at most.
        assert rsl - rsl2 > 150 and snr - snr2 > 150, (dev, rsl, rsl2, snr, snr2)
    injector.apply("unfade_link", "L1")
    for dev, (rsl, snr) in before.items():
        rsl3, snr3 = (int(v) for v in get(dev, port, RSL_1, SNR_1))
        assert abs(rsl3 - rsl) < 100 and abs(snr3 - snr) < 100


def test_mains_failure_puts_ups_and_dc_plant_on_battery_and_restore_ends_it(faults):
    injector, port = faults
    assert get("f-ups-a", port, UPS_SOURCE) == ["3"]  # normal(3)
    mains, current = get("f-dc-a", port, DC_MAINS, DC_CURRENT)
    assert mains == "1" and int(current) > 0
    minutes0 = int(get("f-ups-a", port, UPS_MINUTES)[0])
    runtime0 = int(get("f-dc-a", port, DC_RUNTIME)[0])
    injector.apply("fail_mains", "site-a", drain=120)  # 2 minutes of runtime per second
    source, secs1, minutes1 = get("f-ups-a", port, UPS_SOURCE, UPS_ON_BATTERY, UPS_MINUTES)
    mains, current, runtime1 = get("f-dc-a", port, DC_MAINS, DC_CURRENT, DC_RUNTIME)
    assert source == "5" and mains == "2" and int(current) < 0
    time.sleep(2.1)
    secs2, minutes2 = get("f-ups-a", port, UPS_ON_BATTERY, UPS_MINUTES)
    runtime2 = int(get("f-dc-a", port, DC_RUNTIME)[0])
    assert int(secs2) >= int(secs1) + 1  # seconds on battery rise
    assert int(minutes2) < int(minutes1) <= minutes0  # and the runtime counts down
    assert runtime2 < int(runtime1) <= runtime0
    assert get("f-mw-b", port, SYS_NAME) == ["f-mw-b"]  # another site: untouched
    injector.apply("restore_mains", "site-a")
    assert get("f-ups-a", port, UPS_SOURCE, UPS_MINUTES) == ["3", str(minutes0)]
    mains, current = get("f-dc-a", port, DC_MAINS, DC_CURRENT)
    assert mains == "1" and int(current) > 0


def test_reboot_is_silent_then_uptime_and_counters_start_near_zero(faults):
    injector, port = faults
    assert ticks(get("f-mw-b", port, SYS_UPTIME)[0]) > 100_000
    injector.apply("reboot", "f-mw-b", down=1.5)
    assert silent("f-mw-b", port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "f-mw-b" in injector.status()["agents_down"]:
        injector.run_due()
        time.sleep(0.1)
    uptime, hc = get("f-mw-b", port, SYS_UPTIME, HC_IN_1)
    assert ticks(uptime) < 3000  # under 30 s since the boot
    assert int(hc) < 10**11  # the file's counter started near 9.8e12


def test_kill_and_revive(faults):
    injector, port = faults
    injector.apply("kill", "f-mw-a")
    assert silent("f-mw-a", port)
    assert get("f-mw-b", port, SYS_NAME) == ["f-mw-b"]  # the others keep running
    injector.apply("revive", "f-mw-a")
    assert get("f-mw-a", port, SYS_NAME) == ["f-mw-a"]


def test_a_stopped_agent_has_its_port_closed_like_a_stopped_process(faults):
    """Behind the gate as before it: a killed device's port is closed (ICMP port unreachable,
    which a connected socket sees as refused), while the process that served it still serves
    the other devices; revive gives the device a snmpsim process of its own."""
    injector, port = faults
    before = injector.lab.processes()
    neighbour = injector.lab.agent("f-mw-a").pid  # the shared process, unless a fault moved it
    injector.apply("kill", "f-ups-a")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((DEVICES["f-ups-a"][0], port))
        s.settimeout(5)
        with pytest.raises(ConnectionRefusedError):
            for _ in range(3):  # the first send can return before the ICMP error arrives
                s.send(b"\x30\x00")
                s.recv(100)
    assert get("f-mw-a", port, SYS_NAME) == ["f-mw-a"]
    assert neighbour in injector.lab.processes()
    injector.apply("revive", "f-ups-a")
    assert get("f-ups-a", port, SYS_NAME) == ["f-ups-a"]
    own = injector.lab.agent("f-ups-a").pid
    assert own is not None and own not in before


def test_flap_toggles_the_link_for_the_given_cycles(faults):
    injector, port = faults
    injector.apply("flap_link", "L1", period=1.5, cycles=2)
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (injector.status()["pending_steps"] or not seen):
        injector.run_due()
        state = get("f-mw-a", port, OPER_1)[0]
        if not seen or seen[-1] != state:
            seen.append(state)
        time.sleep(0.1)
    assert seen == ["2", "1", "2", "1"]


def test_unknown_targets_are_refused(faults):
    injector, _ = faults
    with pytest.raises(FaultError, match="no link 'L99'"):
        injector.apply("cut_link", "L99")
    with pytest.raises(FaultError, match="no site"):
        injector.apply("fail_mains", "nowhere")
    with pytest.raises(FaultError, match="site-b: no simulated UPS or DC power plant"):
        injector.apply("fail_mains", "site-b")  # only a radio there
    with pytest.raises(FaultError, match="no simulated device 'ghost'"):
        injector.apply("kill", "ghost")
    with pytest.raises(FaultError, match="unknown fault '_boot'"):
        injector.apply("_boot", "f-mw-a")  # internal steps are not requests


def test_control_directory_round_trip(faults, tmp_path: Path):
    injector, port = faults
    loop = ControlLoop(injector, tmp_path)
    loop.start()
    try:
        answer = send(tmp_path, {"action": "cut_link", "target": "L1", "options": {}})
        assert answer["ok"], answer
        assert get("f-mw-b", port, OPER_1) == ["2"]
        assert send(tmp_path, {"action": "status"})["status"]["cut_links"] == ["L1"]
        bad = send(tmp_path, {"action": "cut_link", "target": "nope"})
        assert not bad["ok"] and "no link" in bad["message"]
    finally:
        loop.stop()
    gone = send(tmp_path, {"action": "status"})  # no lab listening any more: what to do
    assert gone == {"ok": False, "message": f"no lab is running with state dir {tmp_path}: "
                    f"start one (`borderwatch lab --inventory FILE --state-dir {tmp_path}`), "
                    "or give the --state-dir of the lab that runs"}


def test_scenario_file_is_parsed_and_bad_steps_name_their_number(tmp_path: Path):
    good = tmp_path / "s.yaml"
    good.write_text("steps:\n  - {at: 70s, restore_link: L27}\n  - {at: 10, cut_link: L27}\n"
                    "  - {at: 1m, fade_link: L3, db: 30}\n")
    assert load_scenario(good) == [(10.0, "cut_link", "L27", {}),
                                   (60.0, "fade_link", "L3", {"db": 30.0}),
                                   (70.0, "restore_link", "L27", {})]
    bad = tmp_path / "b.yaml"
    bad.write_text("- {at: 1s, cut_link: L1}\n- {at: 2s, cut_link: L1, explode: L1}\n")
    with pytest.raises(ValueError, match=r"step 2: .*unknown keys: explode"):
        load_scenario(bad)
    bad.write_text("- {at: soon, cut_link: L1}\n")
    with pytest.raises(ValueError, match="step 1: not a duration"):
        load_scenario(bad)


def test_cli_scenario_and_lab_fault_command_against_a_running_lab(tmp_path: Path):
    port = free_port([a for a, _, _ in DEVICES.values()])
    inv = write_inventory(tmp_path / "inv.yaml", port)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("- {at: 0s, cut_link: L1}\n- {at: 2s, restore_link: L1}\n")
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if k != COMMUNITY_VAR}
    cli = [sys.executable, "-m", "borderwatch.cli", "lab"]
    proc = subprocess.Popen([*cli, "--inventory", str(inv), "--state-dir", str(state),
                             "--scenario", str(scenario)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "lab running" in line or "FAILED" in line:
                break
        assert any("lab running" in line for line in lines), "".join(lines)
        community = (state / "secrets" / COMMUNITY_VAR).read_text().strip()
        seen = []
        deadline = time.monotonic() + 40
        while seen[-2:] != ["2", "1"]:  # the scenario cuts L1, then restores it
            res = snmpget(DEVICES["f-mw-a"][0], port, [OPER_1], community=community,
                          timeout=1, retries=3)
            state_now = res.stdout.strip().rpartition(": ")[2] if res.returncode == 0 else ""
            if state_now and (not seen or seen[-1] != state_now):
                seen.append(state_now)
            assert time.monotonic() < deadline, seen
            time.sleep(0.2)
        fault = subprocess.run([*cli, "fault", "fail-mains", "site-a", "--drain", "60",
                                "--state-dir", str(state)], capture_output=True, text=True,
                               env=env, cwd=REPO, timeout=90)
        # A summary, then one aligned line per agent touched (issue 14: one run-on line).
        assert fault.returncode == 0, fault
        assert re.fullmatch(
            r"mains failed at site-a: its UPSes and DC plants run on battery\n"
            r"  f-ups-a  restarted with the change \(\d+\.\d s silent\)\n"
            r"  f-dc-a   restarted with the change \(\d+\.\d s silent\)\n", fault.stdout), fault
        res = snmpget(DEVICES["f-ups-a"][0], port, [UPS_SOURCE], community=community,
                      timeout=2, retries=2)
        assert res.stdout.strip().endswith("5"), res
        restored = subprocess.run([*cli, "fault", "restore-mains", "site-a", "--json",
                                   "--state-dir", str(state)], capture_output=True, text=True,
                                  env=env, cwd=REPO, timeout=90)
        assert restored.returncode == 0, restored
        answer = json.loads(restored.stdout)
        assert (answer["ok"], answer["summary"]) == (True, "mains restored at site-a")
        assert [(e["device"], e["effect"]) for e in answer["effects"]] == [
            ("f-ups-a", "restarted"), ("f-dc-a", "restarted")]
        assert all(isinstance(e["seconds"], float) for e in answer["effects"])
        bad = subprocess.run([*cli, "fault", "cut-link", "L404", "--state-dir", str(state)],
                             capture_output=True, text=True, env=env, cwd=REPO, timeout=90)
        assert bad.returncode == 1 and "no link 'L404'" in bad.stderr
        bad_json = subprocess.run([*cli, "fault", "cut-link", "L404", "--json", "--state-dir",
                                   str(state)], capture_output=True, text=True, env=env,
                                  cwd=REPO, timeout=90)
        assert bad_json.returncode == 1
        assert json.loads(bad_json.stdout) == {"ok": False, "message": "no link 'L404' in the "
                                               "inventory"}
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    text = "".join(lines) + out
    assert proc.returncode == 0, text
    assert community not in text + fault.stdout + restored.stdout + bad.stderr
    assert not list(state.glob("agents/*/pid"))


def test_every_link_end_of_the_repository_inventory_resolves_to_an_interface(tmp_path: Path):
    # Dumps name interfaces in hex ('4x') ifName/ifDescr; a cut must find them all.
    inventory = load_inventory(REPO / "inventory.yaml",
                               env={"BORDERWATCH_LAB_COMMUNITY": TEST_COMMUNITY})
    injector = FaultInjector(Lab(agent_specs(inventory)[0], tmp_path),
                             Topology.from_inventory(inventory))
    unresolved = []
    for link, ends in injector.topology.links.items():
        injector.cuts = {link: [[time.time(), None]]}
        for dev, ifname in ends:
            if dev in injector.agents and not injector.device_faults(dev).cuts:
                unresolved.append((link, dev, ifname))
    assert len(injector.topology.links) > 10 and unresolved == []


def test_bad_scenario_stops_the_lab_before_it_starts(tmp_path: Path):
    inv = write_inventory(tmp_path / "inv.yaml", 16161)
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("- {at: 5s, cut_link: L1, fade_link: L1}\n")
    res = subprocess.run([sys.executable, "-m", "borderwatch.cli", "lab", "--inventory", str(inv),
                          "--state-dir", str(tmp_path / "state"), "--scenario", str(scenario)],
                         capture_output=True, text=True, cwd=REPO, timeout=60,
                         env={**os.environ, COMMUNITY_VAR: TEST_COMMUNITY})
    assert res.returncode == 2 and "bad.yaml: step 1: needs exactly one of" in res.stderr
    # nothing was started
    assert not (tmp_path / "state" / "agents").exists()
    assert not (tmp_path / "state" / "shared").exists()
