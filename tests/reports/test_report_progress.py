"""Progress goes to stderr only when it is a terminal (a real pty here); a pipe or a cron
mail gets none of its control characters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from report_history import REPO, small_world, write_inventory


def test_progress_on_a_terminal_only(tmp_path: Path) -> None:
    inv = write_inventory(tmp_path / "inv.yaml")
    history = small_world(tmp_path / "history.sqlite")
    args = [sys.executable, "-m", "borderwatch.cli", "report", "--from", "2026-10-01",
            "--to", "2026-12-01", "--inventory", str(inv), "--history", str(history),
            "--format", "json", "-o", str(tmp_path / "r.json")]
    leader, follower = os.openpty()
    try:
        proc = subprocess.run(args, cwd=REPO, stderr=follower, stdout=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL, timeout=120, check=False)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the other side is closed and drained
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
    assert proc.returncode == 0
    text = seen.decode()
    assert "report: reading history" in text and "\r" in text
    assert text.endswith("\r\x1b[K")  # the line is wiped at the end
    piped = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=120,
                           check=False)
    assert piped.returncode == 0 and piped.stderr == ""
