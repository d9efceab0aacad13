"""`borderwatch poll` on an ICMP-only device: a clear refusal, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from borderwatch.cli import build_parser
from borderwatch.service import poll_command

INVENTORY = """\
schema_version: 1
sites:
  - id: s1
    name: Đồn Biên phòng Bảo Lâm
    kind: border_post
    devices:
      - {id: cam1, address: 127.0.0.11, snmp: false}
"""


def test_poll_refuses_an_icmp_only_device(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY, encoding="utf-8")
    # the parsed command, without main()'s logging set-up (its handler would outlive capsys)
    args = build_parser().parse_args(["poll", "--inventory", str(path), "cam1"])
    assert poll_command(args) == 2
    assert capsys.readouterr().err == (
        "borderwatch poll: cam1 is an ICMP-only device (snmp: false): it is pinged by "
        "`borderwatch run`, there is no SNMP agent to poll\n")
