"""`borderwatch check` and `borderwatch schema` as a user runs them: output and exit codes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from inventory_helpers import EXAMPLE, FIXTURES, REPO, write

from borderwatch.collector.inventory.schema import REGENERATE, SCHEMA_PATH, render_schema

BASE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def borderwatch(*args: str, env: dict[str, str] | None = None,
                cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run the console script the way a user does (python -m, same interpreter)."""
    return subprocess.run([sys.executable, "-m", "borderwatch.cli", *args], cwd=cwd,
                          capture_output=True, text=True, env={**BASE_ENV, **(env or {})},
                          timeout=60)


def test_example_passes_with_the_lab_community_set() -> None:
    run = borderwatch("check", "inventory.yaml", env={"BORDERWATCH_LAB_COMMUNITY": "public"})
    assert (run.returncode, run.stdout, run.stderr) == (
        0, "inventory.yaml: 38 sites, 81 devices, 49 links, OK\n", "")


def test_example_without_the_variable_or_the_lab_file_says_what_to_do(tmp_path: Path) -> None:
    """Before the lab ever ran: the error names the variable, the file and the lab command."""
    shutil.copy(EXAMPLE, tmp_path / "inventory.yaml")
    run = borderwatch("check", "inventory.yaml", cwd=tmp_path)
    line = next(i for i, text in enumerate(EXAMPLE.read_text().splitlines(), 1)
                if "community_file:" in text)
    secret = tmp_path / "var" / "lab" / "secrets" / "BORDERWATCH_LAB_COMMUNITY"
    assert (run.returncode, run.stdout) == (1, (
        f"inventory.yaml:{line}: credentials.lab-v2c.community_file: environment variable "
        f"BORDERWATCH_LAB_COMMUNITY is not set and {secret} does not exist: start the lab once "
        "(`borderwatch lab --inventory inventory.yaml`), which writes the lab community there, "
        "or set BORDERWATCH_LAB_COMMUNITY\ninventory.yaml: 1 problem\n"))


def test_example_passes_with_the_file_the_lab_writes(tmp_path: Path) -> None:
    """Once the lab ran, `check` needs no variable: it reads the lab's community file."""
    shutil.copy(EXAMPLE, tmp_path / "inventory.yaml")
    secret = tmp_path / "var" / "lab" / "secrets" / "BORDERWATCH_LAB_COMMUNITY"
    secret.parent.mkdir(parents=True)
    secret.write_text("cnry-COMM-7f3a9c\n")
    secret.chmod(0o600)
    run = borderwatch("check", "inventory.yaml", cwd=tmp_path)
    assert (run.returncode, run.stdout, run.stderr) == (
        0, "inventory.yaml: 38 sites, 81 devices, 49 links, OK\n", "")


def test_example_passes_with_no_secrets() -> None:
    run = borderwatch("check", "--no-secrets")  # the path defaults to inventory.yaml
    assert (run.returncode, run.stdout) == (
        0, "inventory.yaml: 38 sites, 81 devices, 49 links, OK (secrets not checked: "
           "--no-secrets)\n")


def test_all_problems_are_printed_then_counted(tmp_path: Path) -> None:
    path = tmp_path / "a49.yaml"
    shutil.copy(FIXTURES / "a49_all_errors.yaml", path)
    path.chmod(0o600)
    run = borderwatch("check", str(path), env={"BW_TEST_COMMUNITY": "x",
                                               "BW_TEST_AUTH": "cnry-AUTH-7f3a9c1"})
    lines = run.stdout.splitlines()
    assert run.returncode == 1
    assert lines[-1] == f"{path}: 13 problems, 1 warning"
    assert len(lines) == 15
    assert all(line.startswith(f"{path}:") for line in lines)
    assert f"{path}:7: credentials.v2-dup-key.community: duplicate key" in run.stdout


def test_warnings_do_not_fail_the_check(tmp_path: Path) -> None:
    path = write(tmp_path, "schema_version: 1\ncredentials:\n  c: {version: 1, community: "
                           "cnry-INLINE-7f3a9c}\n", mode=0o644)
    run = borderwatch("check", str(path))
    assert run.returncode == 0
    assert run.stdout.splitlines()[-1] == f"{path}: 0 sites, 0 devices, 0 links, OK (2 warnings)"
    assert "cnry-INLINE" not in run.stdout + run.stderr


@pytest.mark.parametrize(("target", "message"), [
    ("missing.yaml", "cannot read: No such file or directory"),
    (".", "cannot read: Is a directory"),
])
def test_unreadable_file_exits_2(tmp_path: Path, target: str, message: str) -> None:
    run = borderwatch("check", str(tmp_path / target))
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == f"{tmp_path / target}: file: {message}\n"


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0,
                    reason="needs root and setpriv to run the check as another user")
def test_permission_denied_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "schema_version: 1\n", mode=0o600)  # root's file, nobody runs
    tmp_path.chmod(0o755)
    code = "import sys; from borderwatch.cli import main; sys.exit(main(sys.argv[1:]))"
    run = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                          sys.executable, "-c", code, "check", str(path)], cwd=REPO,
                         capture_output=True, text=True, env=BASE_ENV, timeout=60)
    assert (run.returncode, run.stderr) == (2, f"{path}: file: cannot read: Permission denied\n")


def test_bad_content_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "junk.yaml"
    path.write_bytes(b"\xff\xfe\x00junk")
    run = borderwatch("check", str(path))
    assert (run.returncode, run.stdout) == (1, (
        f"{path}:1: file: not UTF-8 text (byte 0xff at offset 0); an inventory is UTF-8 YAML\n"
        f"{path}: 1 problem\n"))


def test_help() -> None:
    run = borderwatch("check", "--help")
    assert run.returncode == 0
    assert "--no-secrets" in run.stdout


def test_schema_has_not_drifted_from_the_models() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), REGENERATE


def test_schema_command_prints_and_writes_the_same(tmp_path: Path) -> None:
    printed = borderwatch("schema")
    written = borderwatch("schema", "-o", str(tmp_path / "s.json"))
    assert printed.returncode == written.returncode == 0
    assert printed.stdout == (tmp_path / "s.json").read_text(encoding="utf-8") == render_schema()
