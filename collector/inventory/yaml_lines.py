"""Read a YAML file safely and remember the line of every mapping key and sequence item.

Plain YAML only: maps, lists, strings, numbers, booleans, null and dates. Any other tag
(`!!python/...`, `!!binary`, custom tags) is an error, nothing is ever constructed from
it. Aliases are expanded under a budget (billion-laughs bombs stop with an error), the
file has a size limit, and duplicate keys are errors that name both lines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from collector.inventory.errors import InventoryError, Issue, Loc, Located, Problem

MAX_BYTES = 10 * 1024 * 1024  # a 113-device inventory is ~50 kB; this is 200× that
MAX_NODES = 200_000  # values after alias expansion; the example inventory has ~4,000
MAX_DEPTH = 64

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_YAML}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}


class _Stop(Exception):
    """Abandon the walk: continuing would only produce noise or cost memory."""


def _tag(tag: str) -> str:
    return "!!" + tag[len(_YAML):] if tag.startswith(_YAML) else tag


class LineLoader(yaml.SafeLoader):
    """A SafeLoader that composes nodes and builds plain data itself, keeping line marks.

    `build()` returns the data; `lines` maps each location (a tuple of keys and indexes,
    as pydantic reports them) to its 1-based line; `issues` holds the duplicate keys and
    refused tags found on the way.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.lines: dict[Loc, int] = {}
        self.issues: list[Issue] = []
        self.dropped: list[Loc] = []  # values left out (refused tags): later errors there are noise
        self._nodes = 0
        self._active: set[int] = set()  # ids of the nodes on the current path: alias loops

    def build(self) -> Any:
        """Parse the single document and convert it; None for an empty file."""
        node = self.get_single_node()
        if node is None:
            return None
        self.lines[()] = node.start_mark.line + 1
        return self._value(node, ())

    def _value(self, node: Node, loc: Loc) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            self.issues.append(Issue(loc, f"the document expands to more than {MAX_NODES:,} "
                                     "values once aliases are expanded (an alias bomb?); "
                                     "nothing was loaded"))
            raise _Stop
        if len(loc) > MAX_DEPTH:
            self.issues.append(Issue(loc, f"nesting deeper than {MAX_DEPTH} levels"))
            raise _Stop
        if id(node) in self._active:
            self.issues.append(Issue(loc, "an alias refers to a value that contains it "
                                     "(recursive alias)"))
            raise _Stop
        if isinstance(node, ScalarNode):
            return self._scalar(node, loc)
        if node.tag not in (f"{_YAML}map", f"{_YAML}seq"):
            return self._refuse(node, loc)
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                out = []
                for i, item in enumerate(node.value):
                    self.lines[(*loc, i)] = item.start_mark.line + 1
                    out.append(self._value(item, (*loc, i)))
                return out
            assert isinstance(node, MappingNode)
            return self._mapping(node, loc)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: ScalarNode, loc: Loc) -> Any:
        if node.tag not in _SCALAR_TAGS:
            return self._refuse(node, loc)
        try:
            return self.construct_object(node)
        except (ValueError, yaml.YAMLError):
            # The message would quote the value, which may be a secret.
            self.issues.append(Issue(loc, f"cannot read the value as {_tag(node.tag)}"))
            self.dropped.append(loc)
            return None

    def _refuse(self, node: Node, loc: Loc) -> None:
        # Nothing is constructed from a tag we do not know: this is what makes
        # `!!python/object/apply:os.system` harmless.
        self.issues.append(Issue(loc, f"tag {_tag(node.tag)} is not allowed; only plain YAML "
                                 "maps, lists, strings, numbers, booleans and null are accepted"))
        self.dropped.append(loc)
        return None

    def _mapping(self, node: MappingNode, loc: Loc) -> dict:
        out: dict = {}
        merged: dict = {}
        first_line: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_YAML}merge":  # `<<: *anchor` merges lower-priority keys
                sources = value_node.value if isinstance(value_node, SequenceNode) \
                    else [value_node]
                for source in sources:
                    value = self._value(source, loc)
                    if not isinstance(value, dict):
                        self.issues.append(Issue(loc, "'<<' must refer to a mapping"))
                        continue
                    for k, v in value.items():
                        merged.setdefault(k, v)
                continue
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                self.issues.append(Issue(loc, f"line {line}: a key must be a plain value, "
                                     "not a list or mapping"))
                continue
            key = self._scalar(key_node, loc)
            if key is None and key_node.tag != f"{_YAML}null":
                continue
            if key in first_line:
                self.issues.append(Issue((*loc, key), f"duplicate key '{key}' (first on line "
                                         f"{first_line[key]}, again on line {line})",
                                         line=line))
                continue
            first_line[key] = line
            self.lines[(*loc, key)] = line
            out[key] = self._value(value_node, (*loc, key))
        for k, v in merged.items():
            out.setdefault(k, v)
        return out


def _parse_error(exc: yaml.YAMLError, text: str) -> tuple[int | None, str]:
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        return line, f"character {exc.character!r} is not allowed in YAML ({exc.reason})"
    if isinstance(exc, yaml.MarkedYAMLError):
        # Only the problem words and the position: the parser's snippet quotes the line,
        # which may hold a secret.
        mark = exc.problem_mark or exc.context_mark
        words = ", ".join(w for w in (exc.context, exc.problem) if w)
        return (mark.line + 1 if mark else None), f"YAML syntax: {words}"
    return None, "YAML syntax error"


def parse_yaml(text: str, file: str) -> Located:
    """Parse YAML text; `.issues` lists duplicate keys and refused tags (their values are
    left out) so that validation can go on and report everything in one run. Syntax errors
    and exceeded limits raise InventoryError at once."""
    loader = LineLoader(text)
    try:
        data = loader.build()
    except _Stop:
        data = None
    except RecursionError:
        raise InventoryError([Problem(file, None, "yaml", "nesting too deep to read")]) from None
    except yaml.YAMLError as exc:
        line, msg = _parse_error(exc, text)
        raise InventoryError([Problem(file, line, "yaml", msg)]) from None
    finally:
        loader.dispose()
    located = Located(file, data, loader.lines, loader.issues, loader.dropped)
    if data is None and loader.issues:  # stopped by a limit: nothing usable to validate
        raise InventoryError(located.problems(loader.issues))
    return located


def read_yaml(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> Located:
    """Read and parse a YAML file with the size, encoding and safety limits above.

    OSError (missing, unreadable, a directory) propagates so that callers can tell "cannot
    read" from "read but wrong"; everything else is an InventoryError naming the file.
    """
    file = str(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise InventoryError([Problem(
                file, None, "file", f"the file is {size / 1e6:.1f} MB; an inventory may be at "
                f"most {max_bytes / 1e6:.0f} MB")])
        raw = f.read(max_bytes + 1)  # the size may change between fstat and read
    if len(raw) > max_bytes:
        raise InventoryError([Problem(file, None, "file", f"the file is larger than "
                                      f"{max_bytes / 1e6:.0f} MB")])
    try:
        text = raw.decode("utf-8-sig")  # a BOM from Windows editors is fine
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        msg = (f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
               "an inventory is UTF-8 YAML")
        raise InventoryError([Problem(file, line, "file", msg)]) from None
    return parse_yaml(text, file)


def file_mode(path: str | os.PathLike[str]) -> int:
    """Permission bits of a file (for the group/other-readable warning)."""
    return Path(path).stat().st_mode & 0o777
