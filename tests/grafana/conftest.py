"""Make the top-level `grafana` package importable from the tree (like tests/alerts)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The editable install maps only collector/exporters/lab (pyproject's packages.find).
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
