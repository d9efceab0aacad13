"""deploy/borderwatch.service: systemd itself (`systemd-analyze verify`, offline) accepts
it, its hardening is what docs/deployment.md says, and its exposure stays low.

systemd-analyze works on unit files without a running systemd (this runs in a container).
It insists that ExecStart's binary exists: a drop-in, as an administrator would write for
another install path, points it at this checkout's console script; the unit file itself
is verified unchanged.
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

from servers import REPO_ROOT, find_binary

from borderwatch.cli import build_parser
from borderwatch.history.settings import state_dir

UNIT = REPO_ROOT / "deploy" / "borderwatch.service"
BORDERWATCH = REPO_ROOT / ".venv" / "bin" / "borderwatch"
# `systemd-analyze security` scores exposure 0 (locked down) to 10 (a unit with no
# hardening: 9.6). The unit measures 1.9; above 2.5 something was lost.
MAX_EXPOSURE = 2.5


def unit_dir(tmp_path: Path) -> Path:
    """A copy of the unit plus a drop-in whose ExecStart is a binary that exists here."""
    shutil.copy(UNIT, tmp_path / UNIT.name)
    args = shlex.split(service()["ExecStart"])[1:]
    dropin = tmp_path / f"{UNIT.name}.d"
    dropin.mkdir()
    (dropin / "test-install-path.conf").write_text(
        "[Service]\nExecStart=\nExecStart=" + shlex.join([str(BORDERWATCH), *args]) + "\n")
    return tmp_path / UNIT.name


def service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(UNIT)
    return parser["Service"]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    run = subprocess.run([find_binary("systemd-analyze"), "verify", str(unit_dir(tmp_path))],
                         capture_output=True, text=True, timeout=120)
    # Unknown keys and unparsable values are only warnings (exit 0): none is allowed.
    assert (run.returncode, run.stdout + run.stderr) == (0, ""), run


def test_exposure_stays_low(tmp_path: Path) -> None:
    run = subprocess.run([find_binary("systemd-analyze"), "security", "--offline=yes",
                          f"--threshold={round(MAX_EXPOSURE * 10)}", str(unit_dir(tmp_path))],
                         capture_output=True, text=True, timeout=120)
    overall = [line for line in run.stdout.splitlines() if "Overall exposure" in line]
    print(*overall)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr


def test_hardening_and_only_the_capabilities_icmp_and_port_162_need() -> None:
    svc = service()
    assert svc["DynamicUser"] == "yes"
    assert svc["StateDirectory"] == "borderwatch"
    assert svc["NoNewPrivileges"] == "yes"
    assert svc["ProtectSystem"] == "strict"
    assert svc["ProtectHome"] == "yes"
    assert svc["PrivateTmp"] == "yes"
    needed = {"CAP_NET_RAW", "CAP_NET_BIND_SERVICE"}  # ICMP raw sockets; UDP port 162
    assert set(svc["AmbientCapabilities"].split()) == needed
    assert set(svc["CapabilityBoundingSet"].split()) == needed
    assert svc["EnvironmentFile"].lstrip("-") == "/etc/borderwatch/borderwatch.env"


def test_the_service_keeps_its_state_in_the_state_directory() -> None:
    """ProtectSystem=strict leaves only /var/lib/borderwatch writable: whatever `run` writes
    must go there: its working directory, and --state-dir (the history)."""
    svc = service()
    state = f"/var/lib/{svc['StateDirectory']}"
    assert svc["WorkingDirectory"] == state
    argv = shlex.split(svc["ExecStart"])
    assert argv[1] == "run"
    assert argv[argv.index("--state-dir") + 1] == state, argv
    # ...and the option means that to `run` itself
    args = build_parser().parse_args(argv[1:])
    assert str(state_dir(args)) == state
