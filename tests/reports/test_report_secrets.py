"""A report never contains a secret of the inventory: an inline community (the worst case)
is absent from every format and from stderr."""

from __future__ import annotations

import zipfile
from pathlib import Path

from report_history import DAY_END, INVENTORY, T0, run_report, small_world

from borderwatch.reports.period import Period

CANARY = "cnry-REPORT-5e1d7a"


def test_no_secret_in_any_output(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY.replace("community_env: BW_TEST_COMMUNITY",
                                     f"community: {CANARY}"), encoding="utf-8")
    inv.chmod(0o600)
    history = small_world(tmp_path / "history.sqlite")
    p = Period(T0, DAY_END)
    common = ["--from", p.label(T0).replace(" ", "T"), "--to",
              p.label(DAY_END).replace(" ", "T"), "--inventory", str(inv),
              "--history", str(history)]
    seen = []
    for fmt, out in (("json", "r.json"), ("html", "r.html"), ("csv", "r.zip")):
        result = run_report([*common, "--format", fmt, "-o", str(tmp_path / out)])
        assert result.returncode == 0, result.stderr
        seen += [result.stdout, result.stderr]
    seen.append((tmp_path / "r.json").read_text(encoding="utf-8"))
    seen.append((tmp_path / "r.html").read_text(encoding="utf-8"))
    with zipfile.ZipFile(tmp_path / "r.zip") as zf:
        seen += [zf.read(n).decode("utf-8") for n in zf.namelist()]
    assert "Bao Lam" in seen[-1] or any("cm-y" in s for s in seen)  # the outputs are real
    assert not [s for s in seen if CANARY in s]
