"""Profiles as data: what to poll on a kind of device and which metric each column becomes.

A profile is one YAML file in collector/profiles/ (file name = profile name). This module
loads and validates them. Every error names the file and the key path, e.g.
`if-mib.yaml: tables[0].metrics[3].bits: must be 32 or 64`, and all errors of a file are
reported at once. `collector.mapper` turns the loaded profiles into dispatch tables.
The poller runs them.

File format (keys not listed here are errors):

    profile: NAME               # must equal the file name
    description: TEXT
    match:                      # rules for `profile: auto`: the profile is chosen when ANY
      - sys_object_id: [PREFIX] #   rule holds, and a rule holds when ALL its keys hold.
        answers: [OID]          #   sysObjectID starts with a prefix (whole arcs) / a GET of
        has_rows: [OID]         #   each OID returns a value / each subtree has a row
    scalars:                    # fetched with as few GETs as possible
      - METRIC
    tables:
      - name: TEXT
        index: [LABEL]          # label names for the index arcs (the last takes the rest)
        labels: {LABEL: OID | {oid: OID, type: string|oid|number|ip,
                               fallback: OID | [OID | INDEX_LABEL]}}
                                # label columns; fallback: tried in order where the value
                                #   is empty (missing, or only white space): a column, or
                                #   an index label of the table (e.g. ifIndex) as a last resort
        where: [{oid: OID, eq|ne|gt|ge|lt|le: NUMBER | in: [NUMBER]}]  # rows to keep
        discontinuity: METRIC   # a gauge of this table; when it changes, the row's
                                # counters restart (ifCounterDiscontinuityTime)
        expected_rows: N        # rows a large device of this kind has; the poll's bounds
                                # (collector.poll_limits) are sized from it; default 16
        metrics: [METRIC]

    METRIC:
      metric: borderwatch_...   # exported name; same name in two profiles = same help/type
      help: TEXT
      type: gauge | counter | info  # info: value 1, the facts are in `labels` (scalars)
      oid: OID                  # the column (tables) or the instance (scalars)
      scale: NUMBER             # value × scale (0.1 for tenths); default 1
      map: {RAW: VALUE}         # enum mapping; unmapped raw values give `map_default`,
      map_default: VALUE        #   or no sample when there is no default
      bits: 32 | 64             # counters: wrap width when the wire tag does not say
      valid: {min: NUMBER, max: NUMBER}  # the range the MIB allows (either bound may be
      absent_when: [NUMBER]     #   left out) and its "unknown" sentinels: a value outside
                                #   `valid` or in `absent_when` is ABSENT (no sample, as if
                                #   the agent had not answered), never exported as a number.
                                #   Both test the value as the agent sends it (MIB units,
                                #   before scale and map); with `inputs`, the transform's result
      fallback: {oid: OID, scale: NUMBER, bits: 32|64, valid: ..., absent_when: [...]}
                                # used per row when `oid` has no (valid) value there
      fallback_when_zero: BOOL  #   (or is 0, with fallback_when_zero); its own valid/absent_when
      max_rate: METRIC          # counters: a gauge of the same row giving the highest
                                #   plausible increase per second (wrap vs reset)
      inputs: [OID | {oid: OID, valid: ..., absent_when: [...]}]
                                # instead of `oid`: several columns fed to a named
      transform: NAME           #   transform of collector.mapper (TRANSFORMS); an input
                                #   outside its own valid/absent_when: no sample for the row
      when: [CONDITION]         #   (any_of: one condition per input)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from borderwatch.collector.poll_limits import DEFAULT_EXPECTED_ROWS
from borderwatch.collector.samples import Kind
from borderwatch.collector.snmp.types import OID, parse_oid

PROFILE_DIR = Path(__file__).with_name("profiles")
SYSTEM_PROFILE = "system"  # always run first: sysUpTime and sysObjectID come from it
TRANSFORM_NAMES = ("any_of", "entity_sensor")  # implemented in collector.mapper
LABEL_TYPES = ("string", "oid", "number", "ip")
CONDITION_OPS = ("eq", "ne", "gt", "ge", "lt", "le", "in")
METRIC_TYPES = ("gauge", "counter", "info")


class ProfileError(ValueError):
    """A profile file is invalid; `problems` lists every `file: key: message`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What an exporter needs to describe a metric, and what state needs for counters.

    discontinuity_metric: a gauge with the same labels whose change restarts this counter.
    max_rate_metric: a gauge with the same labels giving the counter's plausible
    maximum increase per second (e.g. interface speed in bytes/s).
    """

    name: str
    help: str
    kind: Kind
    discontinuity_metric: str | None = None
    max_rate_metric: str | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """A row filter or transform condition: `value <op> operand`."""

    op: str
    operand: float | tuple[float, ...]
    oid: OID | None = None  # the column tested (row filters); None inside `when`

    def holds(self, value: float) -> bool:
        """True when `value` satisfies the condition."""
        op, x = self.op, self.operand
        if op == "in":
            return value in x  # type: ignore[operator]
        if op == "eq":
            return value == x
        if op == "ne":
            return value != x
        if op == "gt":
            return value > x  # type: ignore[operator]
        if op == "ge":
            return value >= x  # type: ignore[operator]
        if op == "lt":
            return value < x  # type: ignore[operator]
        return value <= x  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class ValueRule:
    """Which raw values of a column are real measurements (`valid`, `absent_when`).

    Agents report "unknown" with numbers: UPS-MIB's -1 minutes of runtime, ifSpeed's
    4294967295 ("see ifHighSpeed"), a sensor's 0x7FFFFFFF. Exported as is they become a
    battery with -60 s left. A value this rule refuses is treated as not answered.
    """

    min: float | None = None
    max: float | None = None
    absent: frozenset[float] = frozenset()

    def accepts(self, value: float) -> bool:
        """True when `value` is a measurement, False for a sentinel or an impossible one."""
        if value in self.absent:
            return False
        if self.min is not None and value < self.min:
            return False
        return self.max is None or value <= self.max


@dataclass(frozen=True, slots=True)
class LabelSpec:
    """A label whose value comes from a column (tables) or an instance (info scalars)."""

    name: str
    oid: OID
    type: str = "string"
    # Tried in order when the label's own value is empty: columns (OIDs), or the name of
    # an index label of the table (a str), e.g. ifName → ifDescr → ifIndex.
    fallbacks: tuple[OID | str, ...] = ()

    @property
    def fallback_oids(self) -> tuple[OID, ...]:
        """The fallback columns (index labels left out)."""
        return tuple(f for f in self.fallbacks if not isinstance(f, str))


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric of a profile: where its value comes from and how it is converted."""

    info: MetricInfo
    type: str  # gauge | counter | info
    oid: OID | None = None
    inputs: tuple[OID, ...] = ()
    input_rules: tuple[ValueRule | None, ...] = ()  # one per input (or empty: none at all)
    transform: str | None = None
    when: tuple[Condition, ...] = ()
    scale: float = 1.0
    map: Mapping[int, float] | None = None
    map_default: float | None = None
    bits: int | None = None
    fallback_oid: OID | None = None
    fallback_scale: float = 1.0
    fallback_bits: int | None = None
    fallback_when_zero: bool = False
    labels: tuple[LabelSpec, ...] = ()  # info scalars only
    rule: ValueRule | None = None  # valid / absent_when of `oid` (or the transform result)
    fallback_rule: ValueRule | None = None  # the same for the fallback column

    @property
    def oids(self) -> tuple[OID, ...]:
        """Every OID this metric reads (primary, fallback, inputs, info labels)."""
        out = [o for o in (self.oid, self.fallback_oid) if o is not None]
        out += self.inputs
        for label in self.labels:
            out += [label.oid, *label.fallback_oids]
        return tuple(out)


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A conceptual table: rows share an index; columns become labels and metrics."""

    name: str
    index: tuple[str, ...]
    labels: tuple[LabelSpec, ...]
    where: tuple[Condition, ...]
    metrics: tuple[MetricSpec, ...]
    discontinuity: str | None = None
    expected_rows: int = DEFAULT_EXPECTED_ROWS


@dataclass(frozen=True, slots=True)
class MatchRule:
    """One `auto` rule; all of its non-empty parts must hold."""

    sys_object_id: tuple[OID, ...] = ()
    answers: tuple[OID, ...] = ()
    has_rows: tuple[OID, ...] = ()


@dataclass(frozen=True, slots=True)
class Profile:
    """A loaded, validated profile."""

    name: str
    description: str
    path: Path
    match: tuple[MatchRule, ...] = ()
    scalars: tuple[MetricSpec, ...] = ()
    tables: tuple[TableSpec, ...] = ()
    metrics: tuple[MetricInfo, ...] = field(default=(), compare=False)


# ----------------------------------------------------------------------------- loading


class _Checker:
    """Collects problems with their key paths while converting one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{self.path.name}: {where}: {message}")

    def mapping(self, value: Any, where: str, allowed: Iterable[str],
                required: Iterable[str] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"must be a mapping, not {type(value).__name__}")
            return {}
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                self.fail(f"{where}.{key}" if where else str(key),
                          f"unknown key (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                self.fail(f"{where}.{key}" if where else key, "required")
        return value

    def seq(self, value: Any, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(where, "must be a list")
            return []
        return value

    def oid(self, value: Any, where: str) -> OID | None:
        try:
            return parse_oid(str(value))
        except ValueError:
            self.fail(where, f"not an OID: {value!r}")
            return None

    def oids(self, value: Any, where: str) -> tuple[OID, ...]:
        if isinstance(value, str | int | float):
            value = [value]
        out = [self.oid(v, f"{where}[{i}]") for i, v in enumerate(self.seq(value, where))]
        return tuple(o for o in out if o is not None)

    def number(self, value: Any, where: str, default: float | None = None) -> float | None:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(where, f"must be a number, not {value!r}")
            return default
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, "must be a non-empty string")
            return ""
        return value.strip()

    def bits(self, value: Any, where: str) -> int | None:
        if value is None:
            return None
        if value not in (32, 64):
            self.fail(where, "must be 32 or 64")
            return None
        return int(value)

    def condition(self, value: Any, where: str, *, with_oid: bool) -> Condition | None:
        keys = (("oid",) if with_oid else ()) + CONDITION_OPS
        data = self.mapping(value, where, keys, ("oid",) if with_oid else ())
        ops = [k for k in data if k in CONDITION_OPS]
        if len(ops) != 1:
            self.fail(where, f"needs exactly one of {', '.join(CONDITION_OPS)}")
            return None
        op = ops[0]
        if op == "in":
            items = [self.number(v, f"{where}.in[{i}]") for i, v in
                     enumerate(self.seq(data[op], f"{where}.in"))]
            operand: float | tuple[float, ...] = tuple(v for v in items if v is not None)
        else:
            num = self.number(data[op], f"{where}.{op}")
            if num is None:
                return None
            operand = num
        oid = self.oid(data["oid"], f"{where}.oid") if with_oid and "oid" in data else None
        return Condition(op, operand, oid)

    def rule(self, data: dict[str, Any], where: str) -> ValueRule | None:
        """The ValueRule of a metric's (or fallback's) `valid` and `absent_when`, if any."""
        if "valid" not in data and "absent_when" not in data:
            return None
        low = high = None
        if "valid" in data:
            bounds = self.mapping(data["valid"], f"{where}.valid", ("min", "max"))
            if isinstance(data["valid"], dict) and not bounds:
                self.fail(f"{where}.valid", "needs min, max or both")
            low = self.number(bounds.get("min"), f"{where}.valid.min")
            high = self.number(bounds.get("max"), f"{where}.valid.max")
            if low is not None and high is not None and low > high:
                self.fail(f"{where}.valid", f"min {low} is above max {high}")
        absent = frozenset(
            n for i, v in enumerate(self.seq(data.get("absent_when"), f"{where}.absent_when"))
            if (n := self.number(v, f"{where}.absent_when[{i}]")) is not None)
        if "absent_when" in data and not absent:
            self.fail(f"{where}.absent_when", "must be a non-empty list of numbers")
        return ValueRule(low, high, absent)

    def inputs(self, value: Any, where: str
               ) -> tuple[tuple[OID, ...], tuple[ValueRule | None, ...]]:
        """A transform's inputs: OIDs, or {oid, valid, absent_when}; (OIDs, their rules)."""
        oids: list[OID] = []
        rules: list[ValueRule | None] = []
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            at = f"{where}[{i}]"
            rule = None
            if isinstance(item, dict):
                data = self.mapping(item, at, ("oid", "valid", "absent_when"), ("oid",))
                rule = self.rule(data, at)
                item = data.get("oid")
            if item is not None and (oid := self.oid(item, at)) is not None:
                oids.append(oid)
                rules.append(rule)
        if not oids and not self.problems:
            self.fail(where, "must be a list of OIDs")
        return tuple(oids), (tuple(rules) if any(r is not None for r in rules) else ())

    def label_fallbacks(self, value: Any, where: str,
                        index: tuple[str, ...]) -> tuple[OID | str, ...]:
        """A label's fallback chain: OIDs, or names of the table's index labels."""
        out: list[OID | str] = []
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            at = f"{where}[{i}]" if isinstance(value, list) else where
            if isinstance(item, str) and item.isidentifier():
                if item not in index:
                    self.fail(at, f"{item!r} is not an index label of this table "
                                  f"(index: {', '.join(index) or 'none'})")
                else:
                    out.append(item)
            elif (oid := self.oid(item, at)) is not None:
                out.append(oid)
        if not items:
            self.fail(where, "must be an OID or a list of OIDs and index labels")
        return tuple(out)

    def labels(self, value: Any, where: str,
               index: tuple[str, ...] = ()) -> tuple[LabelSpec, ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            self.fail(where, "must be a mapping of label name to OID")
            return ()
        out = []
        for name, spec in value.items():
            at = f"{where}.{name}"
            if not isinstance(name, str) or not name.isidentifier():
                self.fail(at, "label names must be identifiers")
                continue
            kind = "string"
            fallbacks: tuple[OID | str, ...] = ()
            if isinstance(spec, dict):
                data = self.mapping(spec, at, ("oid", "type", "fallback"), ("oid",))
                if "fallback" in data:
                    fallbacks = self.label_fallbacks(data["fallback"], f"{at}.fallback", index)
                kind = data.get("type", "string")
                if kind not in LABEL_TYPES:
                    self.fail(f"{at}.type", f"unknown label type {kind!r} "
                                            f"(allowed: {', '.join(LABEL_TYPES)})")
                    kind = "string"
                spec = data.get("oid")
            oid = self.oid(spec, at)
            if oid is not None:
                out.append(LabelSpec(name, oid, kind, fallbacks))
        return tuple(out)


_METRIC_KEYS = ("metric", "help", "type", "oid", "scale", "map", "map_default", "bits",
                "fallback", "fallback_when_zero", "max_rate", "inputs", "transform", "when",
                "labels", "valid", "absent_when")


def _metric(c: _Checker, value: Any, where: str, *, scalar: bool,
            discontinuity: str | None) -> MetricSpec | None:
    data = c.mapping(value, where, _METRIC_KEYS, ("metric", "help", "type"))
    if not data:
        return None
    name = c.text(data.get("metric"), f"{where}.metric")
    if name and not name.startswith("borderwatch_"):
        c.fail(f"{where}.metric", "must start with borderwatch_")
    help_text = c.text(data.get("help"), f"{where}.help")
    mtype = data.get("type")
    if mtype not in METRIC_TYPES:
        c.fail(f"{where}.type", f"must be one of {', '.join(METRIC_TYPES)}")
        return None
    if mtype == "counter" and name and not name.endswith("_total"):
        c.fail(f"{where}.metric", "a counter's name must end in _total")
    oid = c.oid(data["oid"], f"{where}.oid") if "oid" in data else None
    inputs, input_rules = c.inputs(data["inputs"], f"{where}.inputs") if "inputs" in data \
        else ((), ())
    transform = data.get("transform")
    labels = c.labels(data.get("labels"), f"{where}.labels")
    if mtype == "info":
        if not scalar:
            c.fail(f"{where}.type", "info metrics are only allowed in scalars")
        if not labels:
            c.fail(f"{where}.labels", "an info metric needs labels")
    elif labels:
        c.fail(f"{where}.labels", "only info metrics have their own labels")
    if mtype != "info" and (oid is None) == (not inputs):
        c.fail(where, "needs exactly one of oid or inputs")
    if inputs and transform not in TRANSFORM_NAMES:
        c.fail(f"{where}.transform", f"inputs need a transform (one of "
                                     f"{', '.join(TRANSFORM_NAMES)})")
    if transform is not None and not inputs:
        c.fail(f"{where}.transform", "a transform needs inputs")
    when = tuple(x for i, v in enumerate(c.seq(data.get("when"), f"{where}.when"))
                 if (x := c.condition(v, f"{where}.when[{i}]", with_oid=False)) is not None)
    if transform == "any_of" and len(when) != len(inputs):
        c.fail(f"{where}.when", "any_of needs one condition per input")
    if transform == "entity_sensor" and len(inputs) != 3:
        c.fail(f"{where}.inputs", "entity_sensor needs [value, scale, precision]")
    mapping: dict[int, float] | None = None
    if "map" in data:
        raw = data["map"]
        if not isinstance(raw, dict) or not raw:
            c.fail(f"{where}.map", "must be a non-empty mapping of raw integer to value")
        else:
            mapping = {}
            for k, v in raw.items():
                num = c.number(v, f"{where}.map.{k}")
                if not isinstance(k, int) or isinstance(k, bool):
                    c.fail(f"{where}.map.{k}", "keys must be integers")
                elif num is not None:
                    mapping[k] = num
    bits = c.bits(data.get("bits"), f"{where}.bits")
    if mtype == "counter" and "bits" not in data:
        c.fail(f"{where}.bits", "a counter needs bits: 32 or 64")
    if mtype != "counter" and bits is not None:
        c.fail(f"{where}.bits", "only counters have bits")
    rule = c.rule(data, where)
    if rule is not None and mtype == "info":
        c.fail(where, "an info metric has no valid/absent_when (it has no value)")
    fb_oid, fb_scale, fb_bits, fb_rule = None, 1.0, None, None
    if "fallback" in data:
        fb = c.mapping(data["fallback"], f"{where}.fallback",
                       ("oid", "scale", "bits", "valid", "absent_when"), ("oid",))
        fb_rule = c.rule(fb, f"{where}.fallback")
        if "oid" in fb:
            fb_oid = c.oid(fb["oid"], f"{where}.fallback.oid")
        fb_scale = c.number(fb.get("scale"), f"{where}.fallback.scale", 1.0) or 1.0
        fb_bits = c.bits(fb.get("bits"), f"{where}.fallback.bits")
        if mtype == "counter" and fb_bits is None:
            fb_bits = bits
    max_rate = data.get("max_rate")
    if max_rate is not None and mtype != "counter":
        c.fail(f"{where}.max_rate", "only counters have max_rate")
    fwz = data.get("fallback_when_zero", False)
    if not isinstance(fwz, bool):
        c.fail(f"{where}.fallback_when_zero", "must be true or false")
    kind = Kind.COUNTER if mtype == "counter" else Kind.GAUGE
    info = MetricInfo(name, help_text, kind,
                      discontinuity if mtype == "counter" else None, max_rate)
    return MetricSpec(
        info=info, type=mtype, oid=oid, inputs=inputs, input_rules=input_rules,
        transform=transform, when=when,
        scale=c.number(data.get("scale"), f"{where}.scale", 1.0) or 1.0, map=mapping,
        map_default=c.number(data.get("map_default"), f"{where}.map_default"), bits=bits,
        fallback_oid=fb_oid, fallback_scale=fb_scale, fallback_bits=fb_bits,
        fallback_when_zero=bool(fwz), labels=labels, rule=rule, fallback_rule=fb_rule)


def _table(c: _Checker, value: Any, where: str) -> TableSpec | None:
    data = c.mapping(value, where, ("name", "index", "labels", "where", "discontinuity",
                                    "expected_rows", "metrics"), ("name", "index", "metrics"))
    if not data:
        return None
    name = c.text(data.get("name"), f"{where}.name")
    index = data.get("index")
    if isinstance(index, str):
        index = [index]
    if not isinstance(index, list) or not index or \
            not all(isinstance(x, str) and x.isidentifier() for x in index):
        c.fail(f"{where}.index", "must be a non-empty list of label names")
        index = ["index"]
    labels = c.labels(data.get("labels"), f"{where}.labels", tuple(index))
    conds = tuple(x for i, v in enumerate(c.seq(data.get("where"), f"{where}.where"))
                  if (x := c.condition(v, f"{where}.where[{i}]", with_oid=True)) is not None)
    disc = data.get("discontinuity")
    metrics = tuple(m for i, v in enumerate(c.seq(data.get("metrics"), f"{where}.metrics"))
                    if (m := _metric(c, v, f"{where}.metrics[{i}]", scalar=False,
                                     discontinuity=disc)) is not None)
    names = [m.info.name for m in metrics]
    if disc is not None and disc not in names:
        c.fail(f"{where}.discontinuity", f"{disc!r} is not a metric of this table")
    for i, m in enumerate(metrics):
        if m.info.max_rate_metric and m.info.max_rate_metric not in names:
            c.fail(f"{where}.metrics[{i}].max_rate",
                   f"{m.info.max_rate_metric!r} is not a metric of this table")
    clash = {label.name for label in labels} & set(index)
    if clash:
        c.fail(f"{where}.labels", f"{', '.join(sorted(clash))} is also an index label")
    expected = data.get("expected_rows", DEFAULT_EXPECTED_ROWS)
    if isinstance(expected, bool) or not isinstance(expected, int) or \
            not 1 <= expected <= 1_000_000:
        c.fail(f"{where}.expected_rows", "must be a whole number from 1 to 1000000")
        expected = DEFAULT_EXPECTED_ROWS
    return TableSpec(name, tuple(index), labels, conds, metrics, disc, expected)


def load_profile(path: str | Path) -> Profile:
    """Load and validate one profile file; raises ProfileError listing every problem."""
    path = Path(path)
    c = _Checker(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError([f"{path.name}: cannot read: {exc}"]) from None
    data = c.mapping(raw, "", ("profile", "description", "match", "scalars", "tables"),
                     ("profile", "description"))
    name = data.get("profile")
    if name != path.stem:
        c.fail("profile", f"must be {path.stem!r} (the file name), not {name!r}")
    rules = []
    for i, rule in enumerate(c.seq(data.get("match"), "match")):
        r = c.mapping(rule, f"match[{i}]", ("sys_object_id", "answers", "has_rows"))
        if isinstance(rule, dict) and not any(r.values()):
            c.fail(f"match[{i}]", "an empty rule would match every device")
        rules.append(MatchRule(
            c.oids(r.get("sys_object_id"), f"match[{i}].sys_object_id"),
            c.oids(r.get("answers"), f"match[{i}].answers"),
            c.oids(r.get("has_rows"), f"match[{i}].has_rows")))
    scalars = tuple(m for i, v in enumerate(c.seq(data.get("scalars"), "scalars"))
                    if (m := _metric(c, v, f"scalars[{i}]", scalar=True, discontinuity=None))
                    is not None)
    for i, m in enumerate(scalars):
        if m.info.max_rate_metric:
            c.fail(f"scalars[{i}].max_rate", "max_rate is only for table counters")
        if m.fallback_oid is not None:
            c.fail(f"scalars[{i}].fallback", "fallback is only for table columns")
    tables = tuple(t for i, v in enumerate(c.seq(data.get("tables"), "tables"))
                   if (t := _table(c, v, f"tables[{i}]")) is not None)
    if not scalars and not tables and not c.problems:
        c.fail("", "a profile needs scalars or tables")
    infos: dict[str, MetricInfo] = {}
    for m in (*scalars, *(m for t in tables for m in t.metrics)):
        infos.setdefault(m.info.name, m.info)
    if c.problems:
        raise ProfileError(c.problems)
    return Profile(str(name), str(data.get("description", "")).strip(), path, tuple(rules),
                   scalars, tables, tuple(infos.values()))


def load_profiles(directory: str | Path | None = None) -> dict[str, Profile]:
    """Load every *.yaml profile of a directory (default: the built-in ones), by name.

    Raises ProfileError with the problems of all files, including a metric declared
    with different help or type in two profiles.
    """
    directory = Path(directory) if directory is not None else PROFILE_DIR
    profiles: dict[str, Profile] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            profiles[path.stem] = load_profile(path)
        except ProfileError as exc:
            problems += exc.problems
    seen: dict[str, tuple[MetricInfo, str]] = {}
    for profile in profiles.values():
        for info in profile.metrics:
            first = seen.setdefault(info.name, (info, profile.name))
            if (first[0].help, first[0].kind) != (info.help, info.kind):
                problems.append(f"{profile.path.name}: {info.name}: help or type differs from "
                                f"its definition in {first[1]}.yaml")
    if SYSTEM_PROFILE not in profiles and not problems:
        problems.append(f"{directory}: no {SYSTEM_PROFILE}.yaml")
    if problems:
        raise ProfileError(problems)
    return profiles


@functools.cache
def builtin_profiles() -> dict[str, Profile]:
    """The profiles shipped in collector/profiles/ (loaded once)."""
    return load_profiles(PROFILE_DIR)


def metric_catalog(profiles: Mapping[str, Profile] | None = None) -> dict[str, MetricInfo]:
    """Every metric the profiles can produce, by exported name (help, type, counter refs)."""
    if profiles is None:
        profiles = builtin_profiles()
    out: dict[str, MetricInfo] = {}
    for profile in profiles.values():
        for info in profile.metrics:
            out.setdefault(info.name, info)
    return out
