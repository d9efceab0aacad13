"""Load and validate inventory.yaml: `load_inventory(path) -> Inventory` or InventoryError.

Every problem of a file is reported in one run, each as `file:line: field: message`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from borderwatch.collector.inventory.crossrefs import check_crossrefs
from borderwatch.collector.inventory.errors import (
    InventoryError,
    Issue,
    Located,
    Problem,
    pydantic_issues,
)
from borderwatch.collector.inventory.models import (
    DEVICE_ROLES,
    MEDIA,
    PROFILE_NAMES,
    SITE_KINDS,
    Credential,
    Defaults,
    Device,
    EffectiveDeviceSettings,
    Influx,
    InfluxSpool,
    Interface,
    Inventory,
    Link,
    LinkEnd,
    Site,
)
from borderwatch.collector.inventory.secrets import (
    perms_warning,
    readable_by_others,
    resolve_all,
    resolve_influx,
)
from borderwatch.collector.inventory.yaml_lines import file_mode, read_yaml

__all__ = [
    "DEVICE_ROLES", "MEDIA", "PROFILE_NAMES", "SITE_KINDS", "Credential", "Defaults", "Device",
    "EffectiveDeviceSettings", "Influx", "InfluxSpool", "Interface", "Inventory",
    "InventoryError", "InventoryFileError", "Link", "LinkEnd", "Problem", "Site", "load_inventory",
]

log = logging.getLogger(__name__)


class InventoryFileError(InventoryError):
    """The file could not be read at all (missing, no permission, a directory)."""


def load_inventory(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None,
                   resolve_secrets: bool = True, log_warnings: bool = True) -> Inventory:
    """Read, validate and (unless resolve_secrets=False) resolve the secrets of an inventory.

    `env` replaces os.environ for `*_env` secrets (tests pass a dict). Warnings (inline
    secrets, group/other-readable secret files) do not stop loading: they are logged once
    here unless log_warnings=False, and kept in `Inventory.warnings`.
    Raises InventoryError listing every error; InventoryFileError if the file is unreadable.
    """
    file = str(path)
    try:
        located = read_yaml(path)
    except OSError as exc:
        raise InventoryFileError([Problem(file, None, "file", f"cannot read: {exc.strerror}")]
                                 ) from None
    issues = list(located.issues)
    try:
        inventory: Inventory | None = Inventory.model_validate(
            located.data, context={"crossrefs_done": True})
    except ValidationError as exc:
        inventory = None
        issues += pydantic_issues(exc, Inventory)
    issues += check_crossrefs(located.data, located.lines)
    credentials, found, inline = resolve_all(
        located.data, base_dir=Path(path).resolve().parent, env=env, resolve=resolve_secrets,
        file=file)
    issues += found
    influx, found, influx_inline = resolve_influx(
        located.data, base_dir=Path(path).resolve().parent, env=env, resolve=resolve_secrets)
    issues += found
    inline = inline or influx_inline
    errors, warnings = _split(located, issues)
    if inline:
        mode = file_mode(path)
        if readable_by_others(mode):
            warnings.insert(0, Problem(file, None, "file", perms_warning(
                f"{file} holds inline secrets and", file, mode), "warning"))
    if errors:
        raise InventoryError(errors, warnings)
    assert inventory is not None  # no errors means the whole-file validation passed
    inventory = inventory.model_copy(update={"credentials": credentials, "influx": influx})
    inventory._warnings = tuple(warnings)
    if log_warnings:
        for w in warnings:
            log.warning("%s", w)
    return inventory


def _split(located: Located, issues: list[Issue]) -> tuple[list[Problem], list[Problem]]:
    """Errors and warnings as Problems in file order, without echoes of dropped values."""
    seen: set[tuple] = set()
    kept = []
    for issue in issues:
        key = (issue.loc, issue.message)
        echo = any(issue.loc[:len(d)] == d for d in located.dropped) and issue not in \
            located.issues
        if key in seen or echo:
            continue
        seen.add(key)
        kept.append(issue)
    problems = located.problems(kept)
    return ([p for p in problems if p.severity == "error"],
            [p for p in problems if p.severity == "warning"])
