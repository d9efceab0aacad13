"""The inventory's optional `reports:` section: defaults, and errors at file:line: field."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inventory"))
from inventory_helpers import EXAMPLE, problems, write

from borderwatch.collector.inventory import load_inventory

HEAD = """\
schema_version: 1
sites:
  - {id: core, name: Core, kind: core}
  - {id: bp-a, name: Post A, kind: border_post}
reports:
"""


def test_no_section_and_defaults(tmp_path: Path) -> None:
    assert load_inventory(write(tmp_path, HEAD.replace("reports:\n", "")), env={}).reports \
        is None
    cfg = load_inventory(write(tmp_path, HEAD + "  sla: {border_post: 99.5}\n"),
                         env={}).reports
    assert cfg is not None
    assert (dict(cfg.sla), cfg.candidate_links, cfg.max_new_link_km,
            cfg.util_p95_threshold) == ({"border_post": 99.5}, (), None, 0.8)


def test_example_inventory_has_targets_and_candidates() -> None:
    cfg = load_inventory(EXAMPLE, resolve_secrets=False).reports
    assert cfg is not None and cfg.sla["border_post"] == 99.5 and cfg.candidate_links


@pytest.mark.parametrize(("body", "expected"), [
    ("  sla: {border_pots: 99.5}\n", (6, "reports.sla.border_pots", None)),
    ("  sla: {border_post: 100.5}\n", (6, "reports.sla.border_post", None)),
    ("  candidate_links:\n    - {a: core, b: bp-b}\n",
     (7, "reports.candidate_links[0].b", "unknown site 'bp-b' (did you mean 'bp-a'?)")),
    ("  candidate_links:\n    - {a: bp-a, b: bp-a}\n",
     (7, "reports.candidate_links[0].b", "both ends are site bp-a; a link joins two "
                                         "different sites")),
    ("  max_new_link_km: -3\n", (6, "reports.max_new_link_km", None)),
    ("  util_p95: 0.9\n", (6, "reports.util_p95", None)),
])
def test_errors_name_line_and_field(tmp_path: Path, body: str, expected: tuple) -> None:
    got = problems(write(tmp_path, HEAD + body))
    assert len(got) == 1, got
    line, field, message = got[0]
    assert (line, field) == expected[:2]
    if expected[2] is not None:
        assert message == expected[2]


def test_readme_reports_example_loads_with_the_example_inventory(tmp_path: Path) -> None:
    import re

    readme = (EXAMPLE.parent / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S)
                if b.startswith("reports:")]
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text[:text.index("\nreports:")] + "\n" + block
    cfg = load_inventory(write(tmp_path, text), resolve_secrets=False).reports
    assert cfg is not None and cfg.candidate_links[0].a == "hub-dinhlap"
