"""Secrets: env and file sources work, missing ones are named (never their value), A50 file
permission warnings, and a canary scan over every output of loading and `check` (A43)."""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
import traceback
import urllib.parse
from pathlib import Path

import pytest
from inventory_helpers import REPO, problems, write

from borderwatch.cli import main
from borderwatch.collector.inventory import InventoryError, load_inventory

COMMUNITY = "cnry-COMM-7f3a9c"
AUTH = "cnry-AUTH-7f3a9c"
PRIV = "cnry-PRIV-7f3a9c"
CANARIES = (COMMUNITY, AUTH, PRIV, "cnry-FILE-7f3a9c", "cnry-INLINE-7f3a9c")


def _forms(secret: str) -> list[str]:
    """The T8 canary forms: plain, hex, base64 and URL-encoded."""
    return [secret, secret.encode().hex(), base64.b64encode(secret.encode()).decode(),
            urllib.parse.quote(secret, safe="")]


def assert_no_canary(text: str) -> None:
    """No canary appears in `text` in any form."""
    for canary in CANARIES:
        for form in _forms(canary):
            assert form not in text, f"secret leaked as {form!r}"


INVENTORY = """\
schema_version: 1
credentials:
  v2:
    version: 2c
    community_env: BW_COMMUNITY
  v3:
    version: 3
    user: monitor
    auth_protocol: SHA-256
    auth_key_env: BW_AUTH
    priv_protocol: AES-256
    priv_key_file: priv.key
sites:
  - id: s
    name: Đồn Biên phòng Bảo Lâm
    kind: border_post
    devices:
      - {id: a, address: 127.0.0.10, credential: v2}
      - {id: b, address: 127.0.0.11, credential: v3}
"""
ENV = {"BW_COMMUNITY": COMMUNITY, "BW_AUTH": AUTH}


@pytest.fixture
def inv_dir(tmp_path: Path) -> Path:
    write(tmp_path, INVENTORY)
    key = tmp_path / "priv.key"
    key.write_text(PRIV + "\n")
    key.chmod(0o600)
    return tmp_path


def test_secrets_resolve_from_env_and_file(inv_dir: Path) -> None:
    inventory = load_inventory(inv_dir / "inv.yaml", env=ENV)
    v2, v3 = inventory.credentials["v2"], inventory.credentials["v3"]
    assert v2.community.reveal() == COMMUNITY
    assert v2.community.source == "environment variable BW_COMMUNITY"
    assert v3.auth_key.reveal() == AUTH
    assert v3.priv_key.reveal() == PRIV  # the file's trailing newline is not part of it
    assert v3.priv_key.source == f"file {inv_dir / 'priv.key'}"  # relative to the inventory
    assert (v3.security_level, v3.auth_protocol, v3.priv_protocol) == (
        "authPriv", "SHA-256", "AES-256")
    assert inventory.secret("v3", "priv_key") is v3.priv_key
    assert inventory.effective("b").credential.auth_key.reveal() == AUTH
    assert inventory.warnings == ()
    assert_no_canary(repr(inventory) + str(inventory) + inventory.model_dump_json())
    assert str(v2.community) == "<secret>"


def test_no_secrets_mode_reads_nothing(inv_dir: Path) -> None:
    (inv_dir / "priv.key").unlink()
    inventory = load_inventory(inv_dir / "inv.yaml", env={}, resolve_secrets=False)
    assert inventory.credentials["v2"].community is None
    with pytest.raises(KeyError):
        inventory.secret("v2")


@pytest.mark.parametrize(("env", "key_text", "expected"), [
    ({}, PRIV, [(5, "credentials.v2.community_env", "environment variable BW_COMMUNITY is not set"),
                (10, "credentials.v3.auth_key_env", "environment variable BW_AUTH is not set")]),
    ({**ENV, "BW_COMMUNITY": ""}, PRIV,
     [(5, "credentials.v2.community_env", "environment variable BW_COMMUNITY is empty")]),
    (ENV, None, [(12, "credentials.v3.priv_key_file",
                  "cannot read secret file {dir}/priv.key: No such file or directory")]),
    (ENV, "\n", [(12, "credentials.v3.priv_key_file", "secret file {dir}/priv.key is empty")]),
    ({**ENV, "BW_AUTH": "cnry-7"}, PRIV,
     [(10, "credentials.v3.auth_key_env", "the auth key from environment variable BW_AUTH is "
       "shorter than 8 characters (SNMPv3 needs at least 8)")]),
], ids=["env-unset", "env-empty", "file-missing", "file-empty", "key-too-short"])
def test_secret_problems_name_the_source(inv_dir: Path, env: dict, key_text: str | None,
                                         expected: list) -> None:
    key = inv_dir / "priv.key"
    if key_text is None:
        key.unlink()
    else:
        key.write_text(key_text)
    got = problems(inv_dir / "inv.yaml", env=env)
    assert got == [(line, field, msg.format(dir=inv_dir)) for line, field, msg in expected]


FALLBACK = INVENTORY.replace("community_env: BW_COMMUNITY",
                             "community_env: BW_COMMUNITY\n    community_file: comm.txt")


@pytest.mark.parametrize(("env", "file_text", "expected"), [
    (ENV, None, COMMUNITY),  # the variable wins; the file need not exist
    ({"BW_AUTH": AUTH}, "cnry-FILE-7f3a9c\n", "cnry-FILE-7f3a9c"),  # unset: the file
], ids=["variable-set", "variable-unset"])
def test_community_env_with_a_file_as_fallback(inv_dir: Path, env: dict, file_text: str | None,
                                               expected: str) -> None:
    path = write(inv_dir, FALLBACK)
    if file_text is not None:
        (inv_dir / "comm.txt").write_text(file_text)
        (inv_dir / "comm.txt").chmod(0o600)
    inventory = load_inventory(path, env=env, log_warnings=False)
    assert inventory.credentials["v2"].community.reveal() == expected
    assert inventory.warnings == ()


@pytest.mark.parametrize(("env", "file_text", "mode", "expected"), [
    ({"BW_AUTH": AUTH}, None, 0o600,
     "environment variable BW_COMMUNITY is not set and secret file {dir}/comm.txt does not "
     "exist: set BW_COMMUNITY, or create the file (mode 600)"),
    ({"BW_AUTH": AUTH}, "\n", 0o600,
     "environment variable BW_COMMUNITY is not set, and secret file {dir}/comm.txt is empty"),
    ({"BW_AUTH": AUTH}, "", 0o700,  # a directory where the file should be
     "environment variable BW_COMMUNITY is not set, and cannot read secret file "
     "{dir}/comm.txt: Is a directory"),
], ids=["both-missing", "file-empty", "file-unreadable"])
def test_fallback_file_is_read_as_strictly_as_alone(inv_dir: Path, env: dict,
                                                     file_text: str | None, mode: int,
                                                     expected: str) -> None:
    path = write(inv_dir, FALLBACK)
    if file_text == "":
        (inv_dir / "comm.txt").mkdir(mode=mode)
    elif file_text is not None:
        (inv_dir / "comm.txt").write_text(file_text)
        (inv_dir / "comm.txt").chmod(mode)
    assert problems(path, env=env) == [(6, "credentials.v2.community_file",
                                        expected.format(dir=inv_dir))]


def test_fallback_file_readable_by_others_warns_and_an_empty_variable_is_an_error(
        inv_dir: Path) -> None:
    path = write(inv_dir, FALLBACK)
    (inv_dir / "comm.txt").write_text("cnry-FILE-7f3a9c\n")
    (inv_dir / "comm.txt").chmod(0o644)
    inventory = load_inventory(path, env={"BW_AUTH": AUTH}, log_warnings=False)
    comm = inv_dir / "comm.txt"
    assert [str(w) for w in inventory.warnings] == [
        f"{path}:6: credentials.v2.community_file: warning: secret file {comm} is readable by "
        f"group/others (mode 0644); run chmod 600 {comm}"]
    # Set but empty is a mistake, not "unset": the file is not a silent way around it.
    assert problems(path, env={**ENV, "BW_COMMUNITY": ""}) == [
        (5, "credentials.v2.community_env", "environment variable BW_COMMUNITY is empty")]


def test_a_lab_credential_says_how_to_create_its_file(tmp_path: Path) -> None:
    """Only simulated devices use it: the lab writes the file on its first start."""
    path = write(tmp_path, INVENTORY.replace(
        "community_env: BW_COMMUNITY", "community_env: BW_COMMUNITY\n    community_file: c.txt")
        .replace("credential: v2}", "credential: v2, sim_profile: UPS/eaton-93e-80}"))
    assert problems(path, env={"BW_AUTH": AUTH}, resolve_secrets=True) == [
        (6, "credentials.v2.community_file", f"environment variable BW_COMMUNITY is not set "
         f"and {tmp_path / 'c.txt'} does not exist: start the lab once (`borderwatch lab "
         f"--inventory {path}`), which writes the lab community there, or set BW_COMMUNITY"),
        (13, "credentials.v3.priv_key_file",
         f"cannot read secret file {tmp_path / 'priv.key'}: No such file or directory")]


def test_a50_secret_file_readable_by_others_warns(inv_dir: Path) -> None:
    (inv_dir / "priv.key").chmod(0o644)
    inventory = load_inventory(inv_dir / "inv.yaml", env=ENV, log_warnings=False)
    key = inv_dir / "priv.key"
    assert [str(w) for w in inventory.warnings] == [
        f"{inv_dir / 'inv.yaml'}:12: credentials.v3.priv_key_file: warning: secret file {key} is "
        f"readable by group/others (mode 0644); run chmod 600 {key}"]


@pytest.mark.parametrize(("mode", "file_warning"), [(0o644, True), (0o640, True), (0o600, False)])
def test_a50_inline_secret_warnings(tmp_path: Path, mode: int, file_warning: bool) -> None:
    path = write(tmp_path, INVENTORY.replace("community_env: BW_COMMUNITY",
                                             "community: cnry-INLINE-7f3a9c")
                 .replace("priv_key_file: priv.key", "priv_key_env: BW_AUTH"), mode=mode)
    inventory = load_inventory(path, env=ENV, log_warnings=False)
    assert inventory.credentials["v2"].community.reveal() == "cnry-INLINE-7f3a9c"
    expected = [f"{path}:5: credentials.v2.community: warning: the community is written inline "
                "in the inventory (value not shown); move it to community_env or community_file"]
    if file_warning:
        expected.insert(0, f"{path}: file: warning: {path} holds inline secrets and is readable "
                           f"by group/others (mode {mode:04o}); run chmod 600 {path}")
    assert [str(w) for w in inventory.warnings] == expected


def test_warnings_are_logged_once_without_values(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, INVENTORY.replace("community_env: BW_COMMUNITY",
                                             "community: cnry-INLINE-7f3a9c")
                 .replace("priv_key_file: priv.key", "priv_key_env: BW_AUTH"), mode=0o644)
    with caplog.at_level(logging.DEBUG):
        load_inventory(path, env=ENV)
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: file: warning: {path} holds inline secrets and is readable by group/others "
        f"(mode 0644); run chmod 600 {path}",
        f"{path}:5: credentials.v2.community: warning: the community is written inline in the "
        "inventory (value not shown); move it to community_env or community_file"]
    assert_no_canary(caplog.text)


# Inventories whose errors sit right next to secrets (A43 for the inventory's outputs).
LEAKY = {
    "dup-inline": "schema_version: 1\ncredentials:\n  c:\n    version: 2c\n"
                  "    community: cnry-COMM-7f3a9c\n    community: cnry-INLINE-7f3a9c\n",
    "secret-in-env-field": "schema_version: 1\ncredentials:\n  c: {version: 2c, "
                           "community_env: cnry-COMM-7f3a9c}\n",
    "secret-typed-key": "schema_version: 1\ncredentials:\n  c: {version: 2c, "
                        "comunity: cnry-COMM-7f3a9c}\n",
    "secret-as-number": "schema_version: 1\ncredentials:\n  c: {version: 2c, community: 1234}\n"
                        "x: cnry-COMM-7f3a9c\n",
    "v3-inline-short": "schema_version: 1\ncredentials:\n  c: {version: 3, user: u, "
                       "auth_protocol: MD5, auth_key: cnry-AU}\n",
    "v3-bad-protocol": "schema_version: 1\ncredentials:\n  c: {version: 3, user: u, "
                       "auth_protocol: cnry-AUTH-7f3a9c, auth_key_env: BW_AUTH}\n",
    "syntax": "schema_version: 1\ncredentials:\n  c: {version: 2c, community: 'cnry-COMM-7f3a9c\n",
    "bad-int-tag": "schema_version: 1\nx: !!int cnry-COMM-7f3a9c\n",
    "latin1": "schema_version: 1\ncredentials:\n  c: {version: 2c, community: cnry-COMM-7f3a9c}\n"
              "name: S\xf8n\n",
}


@pytest.mark.parametrize("name", LEAKY)
def test_errors_never_show_secrets(tmp_path: Path, name: str) -> None:
    path = tmp_path / "leaky.yaml"
    text = LEAKY[name]
    path.write_bytes(text.encode("latin-1" if name == "latin1" else "utf-8"))
    with pytest.raises(InventoryError) as info:
        load_inventory(path, env={"BW_AUTH": AUTH})
    error = info.value
    assert error.problems
    rendered = "".join(traceback.format_exception(error))
    assert_no_canary(str(error) + repr(error) + rendered + "".join(map(str, error.warnings)))
    # Nothing holding the text rides along as the exception's cause or context.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.fixture
def root_logging():
    """main() configures the root logger; put it back for the tests that follow."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    root.handlers[:], level = saved
    root.setLevel(level)


def test_check_output_never_shows_secrets(tmp_path: Path, capsys: pytest.CaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch, root_logging) -> None:
    monkeypatch.setenv("BW_AUTH", AUTH)
    outputs = []
    for name, text in LEAKY.items():
        path = write(tmp_path, text, name=f"{name}.yaml", mode=0o644)
        code = main(["--log-level", "DEBUG", "check", str(path)])
        out = capsys.readouterr()
        assert code == 1, (name, out)
        outputs.append(out.out + out.err)
    # And once through the real console entry point, in its own process.
    run = subprocess.run([sys.executable, "-m", "borderwatch.cli", "--log-level", "DEBUG",
                          "check", str(tmp_path / "dup-inline.yaml")], cwd=REPO,
                         capture_output=True, text=True, timeout=60,
                         env={"BW_AUTH": AUTH, "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1
    outputs.append(run.stdout + run.stderr)
    assert_no_canary("\n".join(outputs))
