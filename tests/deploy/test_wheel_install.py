"""Done-when of the package: the built wheel, pip-installed into a fresh venv outside the
repository, gives a working `borderwatch --version`, `check`, `run` and `report`.

One test on purpose (slow: a wheel build, a venv, an install of every dependency from the
pip cache). It builds from a copy of the files git knows, so nothing lying around in the
checkout can stand in for a file the package forgot, and runs the installed command with
the repository off every path: its working directory is the test's, PYTHONPATH is unset.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest
from runtime_helpers import Dev, v2c, write_inventory
from servers import REPO_ROOT, SNMPD_COMMUNITY, free_tcp_port, start_snmpd

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
# Data files the runtime reads, named here so that an emptied package-data table fails too.
ESSENTIAL_DATA = ["collector/profiles/if-mib.yaml", "collector/schema/inventory.schema.json",
                  "exporters/static/status.html", "alerts/default_rules.yaml",
                  "lab/snmprec/huawei-rtn950a.snmprec", "reports/templates/report.html.j2"]
NOT_PACKAGES = {"tests", "bench", "scripts", "docs", "deploy"}
NAMESPACE = "borderwatch"  # the one top-level package: the folders install under it
INSTALL_TIMEOUT = 900  # seconds; pip resolves and installs ~30 dependencies on a loaded box


def source_copy(dest: Path) -> Path:
    """The files git tracks (or would: untracked but not ignored), copied to `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = REPO_ROOT / name
        if src.is_file():  # a file deleted but not yet committed is listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(src.read_bytes())
    return dest


def in_wheel(source: str) -> str:
    """Where a source file lands in the wheel: `collector/x.py` → `borderwatch/collector/x.py`."""
    return source if source.startswith(f"{NAMESPACE}/") else f"{NAMESPACE}/{source}"


def expected_in_wheel() -> set[str]:
    """Source paths of every module of every top-level package (subpackages included: one
    without an __init__.py would be left out) and of every file package-data names."""
    packages = {p.parent.name for p in REPO_ROOT.glob("*/__init__.py")} - NOT_PACKAGES
    files = {str(p.relative_to(REPO_ROOT)) for pkg in packages
             for p in (REPO_ROOT / pkg).rglob("*.py")}
    for pkg, patterns in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        folder = REPO_ROOT / pkg.removeprefix(f"{NAMESPACE}.")
        for pattern in patterns:
            files |= {str(p.relative_to(REPO_ROOT)) for p in folder.glob(pattern)
                      if p.is_file()}
    return files


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


@pytest.mark.slow
def test_built_wheel_installs_and_runs_outside_the_repository(tmp_path: Path) -> None:
    # Build the wheel from a clean copy of the sources (setuptools from the pip cache).
    dist = tmp_path / "dist"
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist),
                 str(source_copy(tmp_path / "src"))], timeout=INSTALL_TIMEOUT)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("borderwatch-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        contents = set(zf.namelist())
    print(f"\n{wheel.name}: {len(contents)} files")
    expected = expected_in_wheel()
    assert set(ESSENTIAL_DATA) <= expected, "package-data no longer names a runtime file"
    assert sorted({in_wheel(f) for f in expected} - contents) == [], "missing from the wheel"
    # one namespace: nothing else at the top of site-packages (no `collector`, no `grafana`)
    assert {name.split("/")[0] for name in contents} == {
        NAMESPACE, f"{wheel.name.split('-')[0]}-{PYPROJECT['project']['version']}.dist-info"}

    # A fresh venv outside the repository; the wheel's dependencies from the index/cache.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    installed = run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                     str(wheel)], timeout=INSTALL_TIMEOUT)
    assert installed.returncode == 0, installed.stderr[-3000:]
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
           "LANG": "C.UTF-8"}
    borderwatch = str(venv / "bin" / "borderwatch")
    where = run([str(venv / "bin" / "python"), "-c",
                 "from borderwatch import collector, exporters\n"
                 "print(collector.__file__, exporters.__file__)"],
                cwd=tmp_path, env=env, timeout=60, check=True).stdout
    assert str(REPO_ROOT) not in where and where.count(str(venv)) == 2, where

    # --version: the version pyproject.toml declares.
    version = run([borderwatch, "--version"], cwd=tmp_path, env=env, timeout=60)
    assert (version.returncode, version.stdout.strip()) == (
        0, f"borderwatch {PYPROJECT['project']['version']}"), version

    # check: the repository's inventory, its lab credential given by the environment.
    site = tmp_path / "site"
    site.mkdir()
    (site / "inventory.yaml").write_bytes((REPO_ROOT / "inventory.yaml").read_bytes())
    checked = run([borderwatch, "check", "inventory.yaml"], cwd=site, timeout=120,
                  env={**env, "BORDERWATCH_LAB_COMMUNITY": "lab-secret-for-the-test"})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "lab-secret-for-the-test" not in checked.stdout + checked.stderr

    # run: a tiny inventory polling a real snmpd; /metrics answers with the device up.
    # The layout of deploy/borderwatch.service: configuration in etc/, state in state/
    # (--state-dir, working directory, and the link etc/var -> state of docs/deployment.md).
    etc, state = tmp_path / "etc", tmp_path / "state"
    etc.mkdir()
    state.mkdir()
    (etc / "var").symlink_to(state)
    snmpd = start_snmpd(tmp_path / "snmpd")
    port = free_tcp_port()
    inventory = write_inventory(etc / "inventory.yaml",
                                [Dev("edge1", snmpd.port, "v2c", extra={"profile": ["system"]})],
                                {"v2c": v2c("BW_EDGE_COMMUNITY")}, {"interval": 5})
    service = subprocess.Popen(
        [borderwatch, "run", "--inventory", str(inventory), "--state-dir", str(state),
         "--listen", f"127.0.0.1:{port}"],
        cwd=state, env={**env, "BW_EDGE_COMMUNITY": SNMPD_COMMUNITY},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert service.stdout is not None
        assert service.stdout.readline().strip() == f"serving http://127.0.0.1:{port}/metrics"
        up_line = 'borderwatch_device_up{device="edge1"'
        deadline = time.monotonic() + 60
        metrics = ""
        while not any(line.startswith(up_line) and line.endswith(" 1.0")
                      for line in metrics.splitlines()):
            assert time.monotonic() < deadline, f"edge1 never up in /metrics:\n{metrics}"
            time.sleep(0.3)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
                metrics = resp.read().decode()
        assert f'version="{PYPROJECT["project"]["version"]}"' in metrics  # build_info
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=60)
    finally:
        if service.poll() is None:
            service.kill()
            service.communicate()
        snmpd.stop()
    assert service.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert sorted(p.name for p in etc.iterdir()) == ["inventory.yaml", "var"]  # etc unchanged
    assert (state / "history.sqlite").is_file()  # the history went to --state-dir

    # report: the planners' report from that history, templates read from the package
    report = run([borderwatch, "report", "--from", "1 hour ago", "--inventory", str(inventory),
                  "--state-dir", str(state), "-o", str(tmp_path / "report.html")],
                 cwd=tmp_path, env=env, timeout=300)
    assert report.returncode == 0, report.stdout + report.stderr[-3000:]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Trạm test-hub" in html and 'id="planning-unavailable"' in html  # no core site
