"""Status page tests: the tree's top-level packages and the runtime helpers, importable."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# alerts/ is not in pyproject's packages.find yet (see tests/alerts/conftest.py), and the
# runtime helpers live next to the runtime tests; reuse both from the tree.
for path in (REPO_ROOT, REPO_ROOT / "tests" / "runtime"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
