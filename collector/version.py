"""borderwatch's version, read from the installed package's metadata: pyproject.toml is
the one place it is written (`--version` and borderwatch_build_info both show it)."""

from __future__ import annotations

import importlib.metadata
from functools import cache

DISTRIBUTION = "borderwatch"


@cache
def package_version() -> str:
    """The installed distribution's version, or a clear word when running unpackaged."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path, no install
        return "unknown (not installed)"
