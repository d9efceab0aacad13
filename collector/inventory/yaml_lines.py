"""Read a YAML file safely and remember the line of every mapping key and sequence item.

Plain YAML only: maps, lists, strings, numbers, booleans, null and dates. Any other tag
(`!!python/...`, `!!binary`, custom tags) is an error and nothing is constructed from it.
The data is built straight from the parser's events (no node graph, so memory stays near
the size of the data); the file has a size limit; duplicate keys are errors naming both
lines. Aliases are shared, not copied, so they cost the loader nothing, but whatever walks
the data afterwards (validation, building devices) pays for every node an alias reaches:
the values reached through aliases are budgeted against the values written out in the
file, so that a billion-laughs bomb stops at its first few aliases while a large plain
inventory loads whole. Plain values have their own, much higher cap (MAX_VALUES), because
the loader keeps a line mark per value: it bounds memory for a file of tiny values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from borderwatch.collector.inventory.errors import InventoryError, Issue, Loc, Located, Problem

MAX_BYTES = 10 * 1024 * 1024  # the 81-device example is ~60 kB
# Values reached through aliases may exceed the values written out in the file by at most
# this many: downstream work stays within ~2x the plain document + this. Credential blocks
# merged into every device (`<<: *v3`) cost a few values per device, well inside it.
MAX_ALIAS_VALUES = 100_000
# Values written out: ~13 per device, so ~75,000 devices (measured: 50,000 devices are
# 650,000 values, 5 MB, ~290 MB peak RSS while loading). About 250 bytes of memory each.
MAX_VALUES = 1_000_000
MAX_DEPTH = 32  # the inventory itself nests 6 deep

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_YAML}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MERGE = f"{_YAML}merge"

# libyaml's parser when present (fast, no recursion on deep nesting), else the Python one;
# both come with the *safe* constructor and resolver, and we only use them for scalars.
_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Stop(Exception):
    """Abandon the document: continuing would only cost memory or produce noise."""


def _tag(tag: str) -> str:
    return "!!" + tag[len(_YAML):] if tag.startswith(_YAML) else tag


class LineLoader(_Base):  # type: ignore[misc, valid-type]
    """A safe loader that builds plain data from parser events and keeps line marks.

    `build()` returns the data; `lines` maps each location (a tuple of keys and indexes,
    as pydantic reports them) to its 1-based line; `issues` holds the duplicate keys,
    refused tags and exceeded limits found on the way; `dropped` the locations whose value
    was left out because of them.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.lines: dict[Loc, int] = {}
        self.issues: list[Issue] = []
        self.dropped: list[Loc] = []
        self._plain = 0  # values written out in the file (mapping keys included)
        self._through_aliases = 0  # values reached through aliases, once expanded
        self._anchors: dict[str, tuple[Any, int]] = {}

    def build(self) -> Any:
        """Read the single document; None for an empty file."""
        self._expect(StreamStartEvent)
        if self.check_event(StreamEndEvent):
            return None
        self._expect(DocumentStartEvent)
        self.lines[()] = self.peek_event().start_mark.line + 1
        value, _ = self._value(())
        self._expect(DocumentEndEvent)
        if not self.check_event(StreamEndEvent):
            line = self.peek_event().start_mark.line + 1
            self.issues.append(Issue((), "only one YAML document is allowed (found '---' for "
                                     "a second one)", line=line))
        return value

    def _expect(self, kind: type) -> None:
        event = self.get_event()
        assert isinstance(event, kind), event  # the parser guarantees the stream grammar

    def _count_plain(self, loc: Loc, line: int) -> None:
        self._plain += 1
        if self._plain > MAX_VALUES:
            self.issues.append(Issue(loc, f"the document holds more than {MAX_VALUES:,} values "
                                     "(enough for ~75,000 devices); nothing was loaded",
                                     line=line))
            raise _Stop

    def _count_alias(self, n: int, loc: Loc, line: int) -> None:
        self._through_aliases += n
        # Checked at every alias, against the plain values read so far: a bomb's anchors
        # come first, so it is refused after a handful of events, in microseconds.
        if self._through_aliases > MAX_ALIAS_VALUES + self._plain:
            self.issues.append(Issue(
                loc, f"aliases expand to {self._through_aliases:,} values, more than the "
                f"{self._plain:,} written out before them + {MAX_ALIAS_VALUES:,} "
                "(an alias bomb?); nothing was loaded", line=line))
            raise _Stop

    def _value(self, loc: Loc) -> tuple[Any, int]:
        """(value, its size in values once expanded) of the next node."""
        event = self.get_event()
        line = event.start_mark.line + 1
        if isinstance(event, AliasEvent):
            if event.anchor not in self._anchors:
                # An alias inside its own anchor lands here too: the anchor is registered
                # only when complete, so recursive structures cannot be built.
                self.issues.append(Issue(loc, f"alias *{event.anchor} refers to no complete "
                                         "anchor before it (recursive aliases are not "
                                         "allowed)", line=line))
                self.dropped.append(loc)
                return None, 1
            value, size = self._anchors[event.anchor]
            self._count_alias(size, loc, line)
            return value, size
        if len(loc) > MAX_DEPTH:
            self.issues.append(Issue(loc, f"nesting deeper than {MAX_DEPTH} levels", line=line))
            raise _Stop
        self._count_plain(loc, line)
        if isinstance(event, ScalarEvent):
            value, size = self._scalar(event, loc), 1
        elif isinstance(event, SequenceStartEvent):
            value, size = self._sequence(loc)
            value = self._check_tag(event, SequenceNode, f"{_YAML}seq", value, loc)
        else:
            assert isinstance(event, MappingStartEvent), event
            value, size = self._mapping(loc)
            value = self._check_tag(event, MappingNode, f"{_YAML}map", value, loc)
        if event.anchor is not None:
            self._anchors[event.anchor] = (value, size)
        return value, size

    def _check_tag(self, event: Any, kind: type, plain: str, value: Any, loc: Loc) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(kind, None, event.implicit)
        if tag != plain:
            return self._refuse(tag, loc, event.start_mark.line + 1)
        return value

    def _refuse(self, tag: str, loc: Loc, line: int) -> None:
        # Nothing is constructed from a tag we do not know: this is what makes
        # `!!python/object/apply:os.system` harmless.
        self.issues.append(Issue(loc, f"tag {_tag(tag)} is not allowed; only plain YAML maps, "
                                 "lists, strings, numbers, booleans and null are accepted",
                                 line=line))
        self.dropped.append(loc)
        return None

    def _scalar(self, event: ScalarEvent, loc: Loc) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(ScalarNode, event.value, event.implicit)
        line = event.start_mark.line + 1
        if tag not in _SCALAR_TAGS:
            return self._refuse(tag, loc, line)
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return self.yaml_constructors[tag](self, node)
        except (ValueError, TypeError, yaml.YAMLError):
            # The exception text would quote the value, which may be a secret.
            self.issues.append(Issue(loc, f"cannot read the value as {_tag(tag)}", line=line))
            self.dropped.append(loc)
            return None

    def _sequence(self, loc: Loc) -> tuple[list, int]:
        out: list = []
        size = 1
        while not self.check_event(SequenceEndEvent):
            self.lines[(*loc, len(out))] = self.peek_event().start_mark.line + 1
            value, n = self._value((*loc, len(out)))
            out.append(value)
            size += n
        self.get_event()
        return out, size

    def _mapping(self, loc: Loc) -> tuple[dict, int]:
        out: dict = {}
        merged: dict = {}
        first_line: dict = {}
        size = 1
        while not self.check_event(MappingEndEvent):
            key_event = self.peek_event()
            line = key_event.start_mark.line + 1
            if not isinstance(key_event, ScalarEvent):
                self._value((*loc, "?"))
                self._value((*loc, "?"))
                self.issues.append(Issue(loc, "a key must be a plain value, not a list, mapping "
                                         "or alias", line=line))
                continue
            self.get_event()
            self._count_plain(loc, line)
            tag = key_event.tag
            if (tag is None or tag == "!") and self.resolve(
                    ScalarNode, key_event.value, key_event.implicit) == _MERGE:
                value, n = self._value(loc)  # `<<: *anchor` merges lower-priority keys
                size += n
                for source in value if isinstance(value, list) else [value]:
                    if isinstance(source, dict):
                        for k, v in source.items():
                            merged.setdefault(k, v)
                    else:
                        self.issues.append(Issue(loc, "'<<' must refer to a mapping", line=line))
                continue
            key = self._scalar(key_event, loc)
            if key in first_line:
                self.issues.append(Issue((*loc, key), f"duplicate key '{key}' (first on line "
                                         f"{first_line[key]}, again on line {line})",
                                         line=line))
                self._value((*loc, f"{key} (duplicate)"))
                continue
            first_line[key] = line
            self.lines[(*loc, key)] = line
            out[key], n = self._value((*loc, key))
            size += n
        self.get_event()
        for k, v in merged.items():
            out.setdefault(k, v)
        return out, size


def _parse_error(exc: yaml.YAMLError, text: str) -> tuple[int | None, str]:
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return line, f"character U+{char:04X} is not allowed in YAML ({exc.reason})"
    if isinstance(exc, yaml.MarkedYAMLError):
        # Only the problem words and the position: the parser's snippet quotes the line,
        # which may hold a secret.
        mark = exc.problem_mark or exc.context_mark
        words = ", ".join(w for w in (exc.context, exc.problem) if w)
        if mark is None:
            return None, f"YAML syntax: {words}"
        # A file cut off mid-line (truncated) is marked past its end: name its last line.
        return min(mark.line + 1, text.count("\n") + 1), f"YAML syntax: {words}"
    return None, "YAML syntax error"


def parse_yaml(text: str, file: str) -> Located:
    """Parse YAML text into data with line marks.

    Duplicate keys and refused tags become `.issues` (their values are left out) so that
    validation goes on and reports everything in one run; syntax errors and exceeded limits
    raise InventoryError at once.
    """
    loader = LineLoader(text)
    failure: list[Problem] | None = None
    try:
        data = loader.build()
    except _Stop:
        failure = Located(file, None, loader.lines, loader.issues).problems(loader.issues)
    except yaml.YAMLError as exc:
        line, msg = _parse_error(exc, text)
        failure = [Problem(file, line, "yaml", msg)]
    finally:
        loader.dispose()
    if failure is not None:
        # Raised outside the except block so that the parser's exception, which holds the
        # whole text (secrets included), is not kept as __context__.
        raise InventoryError(failure)
    return Located(file, data, loader.lines, loader.issues, loader.dropped)


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
        bad = exc.start
    else:
        bad = None
    if bad is not None:  # raised here, not in the except: the exception holds the raw bytes
        line = raw.count(b"\n", 0, bad) + 1
        msg = (f"not UTF-8 text (byte 0x{raw[bad]:02x} at offset {bad}); "
               "an inventory is UTF-8 YAML")
        raise InventoryError([Problem(file, line, "file", msg)])
    del raw
    return parse_yaml(text, file)


def file_mode(path: str | os.PathLike[str]) -> int:
    """Permission bits of a file (for the group/other-readable warning)."""
    return Path(path).stat().st_mode & 0o777
