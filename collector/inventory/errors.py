"""Problems found in an inventory, as `file:line: field: message`, and InventoryError.

Also turns pydantic's error records into messages that name the field, the allowed
values or keys, and never the value of a secret.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]

# Fields whose value may be a secret (or a secret typed into the wrong field): never echoed.
SECRET_FIELDS = frozenset({
    "community", "community_env", "community_file", "auth_key", "auth_key_env",
    "auth_key_file", "priv_key", "priv_key_env", "priv_key_file",
})


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) in an inventory, located by file, line and field."""

    file: str
    line: int | None
    field: str
    message: str
    severity: str = "error"  # "error" stops loading; "warning" does not

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        label = "warning: " if self.severity == "warning" else ""
        return f"{where}: {self.field}: {label}{self.message}"


class InventoryError(Exception):
    """The inventory cannot be used; `.problems` lists every error found, in file order."""

    def __init__(self, problems: Sequence[Problem], warnings: Sequence[Problem] = ()) -> None:
        self.problems = list(problems)
        self.warnings = list(warnings)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    def __repr__(self) -> str:
        return f"InventoryError({len(self.problems)} problems)"


@dataclass(frozen=True)
class Issue:
    """A problem before it has a file and line: a location in the data and a message."""

    loc: Loc
    message: str
    severity: str = "error"
    line: int | None = None  # when the location's own line is not the one to show


class Located:
    """Knows the file name, the parsed data and the line of every key and item in it."""

    # The key that names a list item in field paths (sites[hub-nasam] rather than sites[3]).
    ident_key = "id"

    def __init__(self, file: str, data: Any, lines: Mapping[Loc, int],
                 issues: Sequence[Issue] = (), dropped: Sequence[Loc] = ()) -> None:
        self.file = file
        self.data = data
        self.lines = lines
        self.issues = list(issues)  # found while reading (duplicate keys, refused tags)
        self.dropped = list(dropped)  # where a value was left out while reading

    def line(self, loc: Loc) -> int | None:
        """Line of the deepest part of `loc` that exists in the file."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None

    def field(self, loc: Loc) -> str:
        """A readable path: sites[hub-nasam].devices[ns-agg1].address."""
        out = ""
        node: Any = self.data
        for part in loc:
            if isinstance(part, int):
                item = node[part] if isinstance(node, list) and part < len(node) else None
                ident = item.get(self.ident_key) if isinstance(item, dict) else None
                out += f"[{ident}]" if isinstance(ident, str) and ident else f"[{part}]"
                node = item
            else:
                out += f".{part}" if out else str(part)
                node = node.get(part) if isinstance(node, dict) else None
        return out or "(document)"

    def problem(self, issue: Issue) -> Problem:
        """Attach file and line to an issue."""
        return Problem(self.file, issue.line or self.line(issue.loc), self.field(issue.loc),
                       issue.message, issue.severity)

    def problems(self, issues: Iterable[Issue]) -> list[Problem]:
        """Attach file and line to many issues, sorted by line (stable: same-line issues keep
        their order, which follows the file)."""
        return sorted((self.problem(i) for i in issues), key=lambda p: p.line or 0)


# --------------------------------------------------------------------------- pydantic errors

def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional; of a union keep the first member that is a model."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = models[0] if models else args[0]
        else:
            return tp


def model_at(root: type[BaseModel], loc: Loc) -> Any:
    """The type found at `loc` below `root` (a model class, a container type, or None)."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if not isinstance(part, str) or part not in tp.model_fields:
                return None
            tp = tp.model_fields[part].annotation
        elif origin in (tuple, list):
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return _unwrap(tp)


def _field_info(root: type[BaseModel], loc: Loc) -> Any:
    parent = model_at(root, loc[:-1])
    if isinstance(parent, type) and issubclass(parent, BaseModel) and loc:
        return parent.model_fields.get(loc[-1]) if isinstance(loc[-1], str) else None
    return None


def _bounds(root: type[BaseModel], loc: Loc) -> str:
    info = _field_info(root, loc)
    lo = hi = None
    for meta in getattr(info, "metadata", []):
        for name in ("ge", "gt"):
            if getattr(meta, name, None) is not None:
                lo = (name, getattr(meta, name))
        for name in ("le", "lt"):
            if getattr(meta, name, None) is not None:
                hi = (name, getattr(meta, name))
    def show(x: float) -> str:
        return str(x) if isinstance(x, int) else f"{x:g}"

    parts = []
    if lo:
        parts.append(f"{'≥' if lo[0] == 'ge' else '>'} {show(lo[1])}")
    if hi:
        parts.append(f"{'≤' if hi[0] == 'le' else '<'} {show(hi[1])}")
    return " and ".join(parts)


def _show(value: Any, loc: Loc) -> str:
    """A short rendering of a bad input, unless it could be a secret."""
    if any(isinstance(p, str) and p in SECRET_FIELDS for p in loc):
        return "(value not shown)"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    if isinstance(value, bool | int | float) or value is None:
        return "null" if value is None else str(value).lower() if isinstance(value, bool) \
            else str(value)
    return {"dict": "a mapping", "list": "a list"}.get(type(value).__name__,
                                                      type(value).__name__)


# The planning data's compact link form; say what the one accepted form is instead.
_COMPACT_LINK_KEYS = {"a_device", "b_device", "a_interface", "b_interface"}

_TYPE_WORDS = {
    "int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
    "dict": "a mapping (key: value)", "model": "a mapping (key: value)", "list": "a list",
    "tuple": "a list", "date": "a date",
}


def _message(err: Mapping[str, Any], root: type[BaseModel]) -> str:
    kind, loc, value = err["type"], tuple(err["loc"]), err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden" and loc[-1] in _COMPACT_LINK_KEYS:
        return (f"unknown key '{loc[-1]}': link ends are written "
                "a: {site: ..., device: ..., interface: ...} and b: {...}")
    if kind == "extra_forbidden":
        parent = model_at(root, loc[:-1])
        allowed = list(parent.model_fields) if isinstance(parent, type) else []
        near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        return f"unknown key '{loc[-1]}'{hint}; allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return f"required key '{loc[-1]}' is missing"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{_show(value, loc)} is not allowed; allowed: {expected}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{_show(value, loc)} is out of range; must be {_bounds(root, loc)}"
    if kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        return f"{_show(value, loc)} does not match the pattern {ctx.get('pattern')}"
    for prefix, word in _TYPE_WORDS.items():
        if kind in (f"{prefix}_type", f"{prefix}_parsing", f"{prefix}_from_float",
                    f"{prefix}_attributes_type"):
            if kind == "int_from_float":
                return f"{_show(value, loc)} is not a whole number"
            return f"expected {word}, got {_show(value, loc)}"
    if kind == "dict_type" or kind == "model_type":
        return f"expected a mapping (key: value), got {_show(value, loc)}"
    return str(err["msg"])  # our own PydanticCustomErrors, already phrased for people


def pydantic_issues(exc: ValidationError, root: type[BaseModel], prefix: Loc = ()) -> list[Issue]:
    """One Issue per pydantic error, with `prefix` put in front of each location."""
    issues = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if p != "[key]")
        msg = _message({**err, "loc": loc}, root)
        issues.append(Issue(prefix + loc, msg))
    return issues
