"""A48: hostile YAML. Nothing executes, limits hold (peak RSS measured in a subprocess),
every error names the file and line; a BOM and CRLF line ends are fine."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from inventory_helpers import EXAMPLE, LAB_ENV, REPO, problems, write

from borderwatch.collector.inventory import InventoryError, load_inventory
from borderwatch.collector.inventory.yaml_lines import MAX_VALUES, parse_yaml

REFUSED = ("is not allowed; only plain YAML maps, lists, strings, numbers, booleans and null "
           "are accepted")


@pytest.mark.parametrize(("text", "expected"), [
    ('schema_version: 1\nnotes: !!python/object/apply:os.system ["touch {marker}"]\n',
     [(2, "notes", f"tag !!python/object/apply:os.system {REFUSED}")]),
    ('!!python/object/apply:subprocess.call [["touch", "{marker}"]]\n',
     [(1, "(document)", f"tag !!python/object/apply:subprocess.call {REFUSED}")]),
    ("schema_version: 1\nnotes: !!python/name:os.system\n",
     [(2, "notes", f"tag !!python/name:os.system {REFUSED}")]),
    ('schema_version: 1\nnotes: !!python/object/new:os.system ["touch {marker}"]\n',
     [(2, "notes", f"tag !!python/object/new:os.system {REFUSED}")]),
    ("schema_version: 1\nnotes: !!binary aGVsbG8=\n", [(2, "notes", f"tag !!binary {REFUSED}")]),
    ("schema_version: 1\nnotes: !vault abc\n", [(2, "notes", f"tag !vault {REFUSED}")]),
], ids=["apply-os.system", "top-level-subprocess", "name", "new", "binary", "custom-tag"])
def test_tags_are_refused_and_nothing_runs(tmp_path: Path, text: str, expected: list) -> None:
    marker = tmp_path / "PWNED"
    path = write(tmp_path, text.replace("{marker}", str(marker)))
    assert problems(path) == expected
    assert not marker.exists()


@pytest.mark.parametrize(("text", "expected"), [
    ("schema_version: 1\nnotes: a\x00b\n",
     [(2, "yaml", "character U+0000 is not allowed in YAML (control characters are not "
       "allowed)")]),
    ("schema_version: 1\nnotes: &a [1, *a]\n",
     [(2, "notes[1]", "alias *a refers to no complete anchor before it (recursive aliases are "
       "not allowed)"), (2, "notes", "expected a string, got a list")]),
    ("schema_version: 1\n---\nschema_version: 1\n",
     [(2, "(document)", "only one YAML document is allowed (found '---' for a second one)")]),
    ("schema_version: 1\nnotes: " + "[" * 40 + "]" * 40 + "\n",
     [(2, "notes" + "[0]" * 32, "nesting deeper than 32 levels")]),
    ("notes: " + "[" * 100_000 + "]" * 100_000 + "\n",
     [(1, "yaml", "YAML syntax: while increasing flow level, exceeded maximum nesting depth")]),
    ("schema_version: 1\n? [a, b]\n: c\n",
     [(2, "(document)", "a key must be a plain value, not a list, mapping or alias")]),
    ("schema_version: 1\nnotes: !!int cnry-COMM-7f3a9c\n",
     [(2, "notes", "cannot read the value as !!int")]),
    ("schema_version: 1\n\tnotes: x\n",
     [(2, "yaml", "YAML syntax: while scanning a plain scalar, found a tab character that "
       "violates indentation")]),
    # The parser's own message would quote the line, and with it the secret.
    ('schema_version: 1\ncredentials:\n  c: {version: 2c, community: "cnry-COMM-7f3a9c\n',
     [(4, "yaml", "YAML syntax: while scanning a quoted scalar, found unexpected end of "
       "stream")]),
    ("schema_version: 1\ncredentials:\n  c: cnry-COMM-7f3a9c: x\n",
     [(3, "yaml", "YAML syntax: mapping values are not allowed in this context")]),
], ids=["nul", "recursive-alias", "two-documents", "deep", "very-deep", "complex-key",
        "bad-explicit-int", "tab", "unclosed-quote", "stray-colon"])
def test_malformed_yaml(tmp_path: Path, text: str, expected: list) -> None:
    assert problems(write(tmp_path, text)) == expected


def test_merge_keys_and_anchors_work(tmp_path: Path) -> None:
    text = """\
schema_version: 1
credentials: {c: {version: 2c, community_env: E}}
sites:
  - id: s
    name: S
    kind: hub
    devices:
      - &sw {id: a, address: 127.0.0.10, credential: c, timeout: 3}
      - {<<: *sw, id: b, address: 127.0.0.11}
"""
    inventory = load_inventory(write(tmp_path, text), env={"E": "x"})
    assert [(d.id, d.address, d.timeout) for d in inventory.devices] == [
        ("a", "127.0.0.10", 3.0), ("b", "127.0.0.11", 3.0)]


def _run_limited(path: Path) -> dict:
    """Load `path` in a fresh interpreter; its peak RSS and problems, as JSON."""
    code = f"""
import json
from borderwatch.collector.inventory import InventoryError, load_inventory
from borderwatch.collector.inventory.yaml_lines import MAX_VALUES, parse_yaml
try:
    load_inventory({str(path)!r}, env={{}})
    found = []
except InventoryError as exc:
    found = [[p.line, p.field, p.message] for p in exc.problems]
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked parent (pytest).
with open("/proc/self/status") as f:
    kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(json.dumps({{"rss_mb": kb / 1024, "problems": found}}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def _bomb() -> str:
    lines = ["schema_version: 1", 'x0: &x0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"x{i}: &x{i} [" + ",".join([f"*x{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"  # 9**10 strings once expanded


def _dense_values() -> str:
    # One more plain value than MAX_VALUES allows (5 before the items: the document's
    # mapping, two keys, a value, the list), each 6 bytes: far below MAX_BYTES.
    return "schema_version: 1\nnotes:\n" + "  - a\n" * (MAX_VALUES - 4)


def _fifty_mb(path: Path) -> None:
    with open(path, "w") as f:
        for _ in range(50):
            f.write("#" * 1_000_000)


# line of the first value past the limit: 2 header lines + its index in the list + 1
_DENSE_LINE, _DENSE_INDEX = MAX_VALUES - 2, MAX_VALUES - 5


@pytest.mark.parametrize(("make", "expected", "max_rss_mb"), [
    (_bomb, [[7, "x5[0]", "aliases expand to 141,148 values, more than the 24 written out "
              "before them + 100,000 (an alias bomb?); nothing was loaded"]], 100),
    # A file of tiny values at the plain-value cap: ~250 bytes of memory per value kept.
    (_dense_values, [[_DENSE_LINE, f"notes[{_DENSE_INDEX}]",
                      "the document holds more than 1,000,000 values (enough for ~75,000 "
                      "devices); nothing was loaded"]], 400),
    (_fifty_mb, [[None, "file", "the file is 50.0 MB; an inventory may be at most 10 MB"]], 100),
], ids=["billion-laughs", "1M-tiny-values", "50MB-file"])
def test_limits_hold_and_memory_stays_small(tmp_path: Path, make, expected: list,
                                            max_rss_mb: int) -> None:
    path = tmp_path / "hostile.yaml"
    if make is _fifty_mb:
        make(path)
    else:
        write(tmp_path, make(), name=path.name)
    result = _run_limited(path)
    assert result["problems"] == expected
    assert result["rss_mb"] < max_rss_mb, result


def _aliased(plain_values: int, uses: int) -> str:
    """An anchor of 1,000 values used `uses` times, after `plain_values` written-out ones."""
    lines = ["schema_version: 1", "notes:"]
    lines += ["  - p"] * (plain_values - 5)  # the mapping, keys, a value and the list: 5
    lines.append("  - &big [" + ", ".join(["v"] * 999) + "]")
    lines += ["  - *big"] * uses
    return "\n".join(lines) + "\n"


def test_alias_budget_grows_with_the_plain_document() -> None:
    # 150 uses reach 150,150 values: too many for a small document, fine after 60,000 plain
    # values (aliases may reach the plain count + 100,000), as credential blocks merged
    # into every device of a large inventory do.
    loaded = parse_yaml(_aliased(60_000, 150), "big.yaml")
    assert len(loaded.data["notes"]) == 60_000 - 5 + 1 + 150
    assert loaded.data["notes"][-1] is loaded.data["notes"][-2]  # shared, not copied
    with pytest.raises(InventoryError) as info:
        parse_yaml(_aliased(10, 150), "small.yaml")
    # 1,010 plain values (10 + the anchor's 1,000): the 102nd use (line 8 + 102) passes
    # 101,010 values reached through aliases
    assert [(p.file, p.line) for p in info.value.problems] == [("small.yaml", 110)]
    assert "(an alias bomb?); nothing was loaded" in str(info.value)


def test_large_plain_inventory_loads(tmp_path: Path) -> None:
    """50,000 devices (5.4 MB, ~650,000 values) load: the limits are sized for real networks.

    The load time is printed (`pytest -s`), not asserted: on this machine ~4 s.
    """
    # Written as text (yaml.safe_dump of it takes longer than the load being measured).
    lines = ["schema_version: 1", "province: big", "credentials:",
             "  c: {version: 2c, community_env: E}", "sites:"]
    for s in range(500):
        lines += [f"  - id: site-{s:04d}", f"    name: Site {s}", "    kind: commune",
                  "    devices:"]
        for i in range(s * 100, s * 100 + 100):
            lines += [f"      - id: dev-{i:05d}",
                      f"        address: 10.{i >> 16}.{(i >> 8) & 255}.{i & 255}",
                      "        credential: c", "        profile: [system, if-mib]"]
    path = write(tmp_path, "\n".join(lines) + "\n")
    started = time.perf_counter()
    loaded = load_inventory(path, env={"E": "x"})
    elapsed = time.perf_counter() - started
    print(f"\n50,000-device inventory ({path.stat().st_size / 1e6:.1f} MB) loaded in "
          f"{elapsed:.2f} s")
    assert len(loaded.devices) == 50_000
    assert loaded.devices[-1].id == "dev-49999"
    assert loaded.devices[-1].address == "10.0.195.79"


@pytest.mark.parametrize(("junk", "expected"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
     [(1, "file", "not UTF-8 text (byte 0x89 at offset 0); an inventory is UTF-8 YAML")]),
    (b"schema_version: 1\nname: L\xe1ng S\xf8n\n",  # Latin-1, not UTF-8
     [(2, "file", "not UTF-8 text (byte 0xe1 at offset 25); an inventory is UTF-8 YAML")]),
])
def test_binary_junk(tmp_path: Path, junk: bytes, expected: list) -> None:
    path = tmp_path / "junk.yaml"
    path.write_bytes(junk)
    assert problems(path) == expected


def test_random_bytes_give_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "random.yaml"
    path.write_bytes(random.Random(48).randbytes(64 * 1024))
    with pytest.raises(InventoryError) as info:
        load_inventory(path, env={})
    assert len(info.value.problems) == 1
    assert str(info.value).startswith(f"{path}:")
    assert "not UTF-8 text" in str(info.value)


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    path = tmp_path / "windows.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    plain = load_inventory(EXAMPLE, env=LAB_ENV)
    windows = load_inventory(path, env=LAB_ENV)
    assert windows.model_dump() == plain.model_dump()
    assert windows.sites[0].name == "Trung tâm điều hành viễn thông tỉnh Lạng Sơn"


def test_crlf_line_numbers_are_right(tmp_path: Path) -> None:
    path = tmp_path / "crlf.yaml"
    path.write_bytes(b"\xef\xbb\xbfschema_version: 1\r\n\r\nprovince: x\r\nprovnce: y\r\n")
    assert problems(path) == [(4, "provnce", "unknown key 'provnce' (did you mean 'province'?); "
                               "allowed keys: schema_version, province, as_of, "
                               "coordinates_are_approximate, notes, credentials, defaults, "
                               "sites, links, influx, alerts, reports, traps")]
