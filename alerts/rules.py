"""Alert rules as data: what each rule kind watches, the rule file format, and its loader.

A rules file (YAML, defaults in alerts/default_rules.yaml) holds `settings` (engine timing:
repeat, grouping, flap detection, darkness debounce), `rules` and `maintenance` windows.
Unknown keys are errors; every problem is reported at once as `file:line: field: message`
with the allowed values, like the inventory. The kinds table `KINDS` is the one place that
says which subject a kind is about, whether it has a threshold and in which direction, and
which options and `match` selectors it accepts; `alerts.signals` evaluates each kind.
"""

from __future__ import annotations

import datetime
import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from borderwatch.alerts.duration import DurationError, format_duration, parse_duration
from borderwatch.collector.inventory.errors import Issue, Loc, Located, Problem, pydantic_issues
from borderwatch.collector.inventory.models import DEVICE_ROLES, MEDIA, SITE_KINDS
from borderwatch.collector.inventory.yaml_lines import read_yaml

DEFAULT_RULES_PATH = Path(__file__).with_name("default_rules.yaml")
SEVERITIES = ("critical", "major", "warning")  # most severe first
SEVERITY_RANK = {s: len(SEVERITIES) - i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class KindSpec:
    """What a rule kind is about and which fields it takes."""

    subject: str  # site | device | link | interface | radio | series
    direction: str | None  # None: a yes/no condition; "above"/"below": a threshold
    unit: str  # of the value and threshold, for messages
    description: str
    metric: str | None = None  # the default metric for kinds that read one
    metric_required: bool = False
    options: tuple[str, ...] = ()  # kind-specific fields it accepts


_SELECTORS = {
    "site": ("sites", "site_kinds"),
    "device": ("sites", "site_kinds", "devices", "device_roles"),
    "link": ("sites", "site_kinds", "links", "media"),
    "interface": ("sites", "site_kinds", "devices", "device_roles", "links", "media"),
    "radio": ("sites", "site_kinds", "devices", "device_roles", "links", "media"),
    "series": ("sites", "site_kinds", "devices", "device_roles", "links", "media"),
}

KINDS: dict[str, KindSpec] = {
    "device_unreachable": KindSpec("device", None, "", "the device answers neither SNMP nor "
                                   "ping (ping only if it is pinged)"),
    "snmp_agent_down": KindSpec("device", None, "", "the device's SNMP agent does not answer "
                                "while the host answers ping"),
    "device_incomplete": KindSpec("device", None, "", "the device answers but its latest poll "
                                  "missed data (a walk looped or reached a bound, values "
                                  "were refused)"),
    "site_down": KindSpec("site", None, "", "every device of the site is unreachable while its "
                          "links look fine (power or node failure)"),
    "site_isolated": KindSpec("site", None, "", "the site is cut off from the core by a "
                              "failure elsewhere"),
    "redundancy_lost": KindSpec("site", None, "", "the site now hangs on a single path that "
                                "its plan did not have"),
    "site_rtt_high": KindSpec("site", "above", "s", "ping round trip to the site (the best "
                              "average of its pinged devices), in seconds"),
    "site_loss_high": KindSpec("site", "above", "ratio", "ping loss to the site (the lowest "
                               "loss ratio of its pinged devices)"),
    "link_rtt_high": KindSpec("link", "above", "s", "ping round trip the link adds: the "
                              "difference of the average RTT of its two end devices, in "
                              "seconds"),
    "link_loss_high": KindSpec("link", "above", "ratio", "ping loss the link adds: the "
                               "difference of the loss ratio of its two end devices"),
    "link_down": KindSpec("link", None, "", "an end reports the link's interface down"),
    "interface_down": KindSpec("interface", None, "", "a declared interface is down",
                               options=("interfaces",)),
    "link_utilization": KindSpec("link", "above", "ratio", "traffic / capacity in one "
                                 "direction"),
    "interface_errors": KindSpec("interface", "above", "1/s", "errors + discards per second "
                                 "(basis seconds) or per packet (basis packets)",
                                 options=("basis", "interfaces")),
    "radio_fade": KindSpec("radio", "above", "dB", "received level below the planned level "
                           "(fade), in dB"),
    "radio_signal_low": KindSpec("radio", "below", "dBm", "received level of a radio with no "
                                 "planned level"),
    "radio_snr_low": KindSpec("series", "below", "dB", "signal-to-noise ratio (or VSAT Es/No)",
                              metric="borderwatch_radio_snr_db", options=("metric",)),
    "on_battery": KindSpec("device", None, "", "a UPS runs on battery or a DC plant lost mains"),
    "battery_runtime_low": KindSpec("device", "below", "s", "estimated battery runtime left",
                                    options=("while_on_battery",)),
    "gauge_above": KindSpec("series", "above", "", "any gauge metric above a threshold",
                            metric_required=True, options=("metric",)),
    "gauge_below": KindSpec("series", "below", "", "any gauge metric below a threshold",
                            metric_required=True, options=("metric",)),
}
OPTION_FIELDS = ("metric", "basis", "while_on_battery", "interfaces")


def kind_problems(kind: str, values: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """(field, message) for fields that do not fit the rule's kind.

    `values` holds threshold, clear, the option fields and `match` (the names of the given
    selectors). Runs on the model and, when other fields already failed, on the raw data,
    so that one run reports everything.
    """
    spec = KINDS[kind]
    out: list[tuple[str | None, str]] = []
    threshold, clear = values.get("threshold"), values.get("clear")
    if spec.direction is None:
        for f in ("threshold", "clear"):
            if values.get(f) is not None:
                out.append((f, f"kind {kind} is a yes/no condition and takes no {f}"))
    elif threshold is None:
        out.append((None, f"kind {kind} needs a threshold "
                          f"({spec.unit or 'in the metric unit'})"))
    elif isinstance(clear, int | float) and isinstance(threshold, int | float):
        wrong = clear > threshold if spec.direction == "above" else clear < threshold
        if wrong:
            side = "at or below" if spec.direction == "above" else "at or above"
            article = "an" if spec.direction == "above" else "a"
            out.append(("clear", f"clear {clear:g} must be {side} threshold {threshold:g}: "
                                 f"{article} '{spec.direction}' rule fires past the threshold and "
                                 "clears back at clear"))
    for f in OPTION_FIELDS:
        if values.get(f) is not None and f not in spec.options:
            users = sorted(k for k, s in KINDS.items() if f in s.options)
            out.append((f, f"{f} is not used by kind {kind}; it is used by {', '.join(users)}"))
    if spec.metric_required and values.get("metric") is None:
        out.append((None, f"kind {kind} needs a metric (the exported metric name, e.g. "
                          "borderwatch_vsat_receive_esno_db)"))
    allowed = _SELECTORS[spec.subject]
    for sel in values.get("match") or ():
        if sel not in allowed:
            out.append(("match", f"match.{sel} does not apply to kind {kind} (it is about a "
                                 f"{spec.subject}); allowed: {', '.join(allowed)}"))
    return out


# ----------------------------------------------------------------------------- field types

def _duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


Duration = Annotated[float, PlainValidator(_duration)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")]
_STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _fail(title: str, errors: list[tuple[str | None, str, str, dict[str, Any]]]) -> None:
    """Raise several field-level errors from a model validator, each at its own field."""
    if errors:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=PydanticCustomError(kind, msg, ctx),
                             loc=() if f is None else (f,), input=None)
            for f, kind, msg, ctx in errors])


class Flap(BaseModel):
    """Flap detection: `changes` condition changes within `window` make one flapping alert;
    it stops flapping when the window holds at most `clear_changes` changes."""

    model_config = _STRICT

    enabled: bool = True  # `flap: false` in a rule is short for {enabled: false}
    changes: int = Field(6, ge=2, le=1000)
    window: Duration = 600.0
    clear_changes: int = Field(1, ge=0, le=999)

    @model_validator(mode="after")
    def _check(self) -> Flap:
        if self.clear_changes >= self.changes:
            _fail("Flap", [("clear_changes", "flap_clear", "clear_changes {c} must be below "
                            "changes {n} (hysteresis)", {"c": self.clear_changes,
                                                         "n": self.changes})])
        if self.window <= 0:
            _fail("Flap", [("window", "flap_window", "window must be longer than 0s", {})])
        return self


class Match(BaseModel):
    """Which subjects a rule applies to: every given selector must match (each is a list of
    allowed values); a link or interface matches `sites`/`site_kinds` by either end."""

    model_config = _STRICT

    sites: tuple[str, ...] | None = None
    site_kinds: tuple[Literal[SITE_KINDS], ...] | None = None  # type: ignore[valid-type]
    devices: tuple[str, ...] | None = None
    device_roles: tuple[Literal[DEVICE_ROLES], ...] | None = None  # type: ignore[valid-type]
    links: tuple[str, ...] | None = None
    media: tuple[Literal[MEDIA], ...] | None = None  # type: ignore[valid-type]

    def given(self) -> list[str]:
        """Names of the selectors that are set."""
        return [f for f in type(self).model_fields if getattr(self, f) is not None]


class Settings(BaseModel):
    """Engine timing shared by all rules (the one place for these defaults)."""

    model_config = _STRICT

    repeat_interval: Duration = Field(4 * 3600.0, description="re-notify a firing incident")
    group_wait: Duration = Field(0.0, description="wait before the first notification")
    group_interval: Duration = Field(300.0, description="min time between updates of an "
                                     "incident (escalations)")
    dark_after_intervals: float = Field(1.0, ge=0, le=20, description="a device counts as "
                                        "dark for the topology after being unreachable this "
                                        "many poll intervals")
    history: int = Field(200, ge=0, le=100000, description="resolved incidents kept")
    flap: Flap = Field(default_factory=Flap)


class Rule(BaseModel):
    """One alert rule: a kind, a severity, timing, thresholds with hysteresis, a scope."""

    model_config = _STRICT

    name: Name
    kind: Literal[tuple(KINDS)]  # type: ignore[valid-type]
    severity: Literal[SEVERITIES]  # type: ignore[valid-type]
    for_: Duration = Field(0.0, alias="for", description="pending time before firing")
    clear_for: Duration = Field(0.0, description="time the condition must stay clear")
    threshold: float | None = None
    clear: float | None = Field(None, description="clear threshold (hysteresis)")
    metric: str | None = None
    basis: Literal["seconds", "packets"] | None = None
    while_on_battery: bool | None = None
    interfaces: Literal["declared", "all"] | None = None
    match: Match | None = None
    flap: Flap | None = None
    repeat_interval: Duration | None = None
    labels: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = Field(
        default_factory=dict)
    description: str | None = None
    enabled: bool = True

    @field_validator("flap", mode="before")
    @classmethod
    def _flap_off(cls, value: Any) -> Any:
        if value is False:
            return {"enabled": False}
        if value is True:
            raise PydanticCustomError("flap", "flap is a mapping {changes, window, "
                                      "clear_changes} or false (off); true is not allowed")
        return value

    @property
    def spec(self) -> KindSpec:
        """The kind's entry in KINDS."""
        return KINDS[self.kind]

    @property
    def clear_at(self) -> float | None:
        """The clear threshold: `clear`, or `threshold` when no hysteresis is set."""
        return self.clear if self.clear is not None else self.threshold

    @model_validator(mode="after")
    def _check_kind_fields(self) -> Rule:
        values = {f: getattr(self, f) for f in (*OPTION_FIELDS, "threshold", "clear")}
        values["match"] = self.match.given() if self.match is not None else []
        _fail("Rule", [(f, "rule_kind", "{message}", {"message": m})
                       for f, m in kind_problems(self.kind, values)])
        return self

    @property
    def metric_name(self) -> str | None:
        """The metric the rule reads (its own or the kind's default)."""
        return self.metric or self.spec.metric

    def describe(self) -> str:
        """One line for logs and `check` output: kind, threshold and timing."""
        spec = self.spec
        parts = [f"{self.name} ({self.kind}, {self.severity})"]
        if spec.direction:
            cmp = ">" if spec.direction == "above" else "<"
            parts.append(f"{cmp} {self.threshold:g}{' ' + spec.unit if spec.unit else ''}")
            if self.clear is not None:
                parts.append(f"clear {self.clear:g}")
        parts.append(f"for {format_duration(self.for_)}")
        return ", ".join(parts)


class Maintenance(BaseModel):
    """A planned-work window: incidents whose root cause lies wholly inside it are recorded but
    not notified. A site covers its devices and the links that end there."""

    model_config = _STRICT

    name: str = Field(min_length=1)
    start: datetime.datetime
    end: datetime.datetime
    sites: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    comment: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Maintenance:
        errors: list[tuple[str | None, str, str, dict[str, Any]]] = []
        for f in ("start", "end"):
            if getattr(self, f).tzinfo is None:
                errors.append((f, "naive_time", "{f} needs a time zone offset, e.g. "
                               "2026-12-01T22:00:00+07:00", {"f": f}))
        if not errors and self.end <= self.start:
            errors.append(("end", "end_before_start", "end must be after start", {}))
        if not (self.sites or self.links or self.devices):
            errors.append((None, "empty_scope", "a maintenance window needs at least one of "
                           "sites, links, devices", {}))
        _fail("Maintenance", errors)
        return self

    def active(self, now: float) -> bool:
        """True while the window is open."""
        return self.start.timestamp() <= now < self.end.timestamp()


class RulesFile(BaseModel):
    """The whole rules file."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="borderwatch alert rules")

    schema_version: Literal[1]
    include_defaults: bool = False
    disable: tuple[str, ...] = ()
    settings: Settings = Field(default_factory=Settings)
    rules: tuple[Rule, ...] = ()
    maintenance: tuple[Maintenance, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    """Loaded rules ready for the engine: settings, enabled rules, maintenance windows."""

    settings: Settings
    rules: tuple[Rule, ...]
    maintenance: tuple[Maintenance, ...] = ()
    sources: tuple[str, ...] = ()

    def rule(self, name: str) -> Rule:
        """The rule with this name (KeyError if none)."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def flap(self, rule: Rule) -> Flap | None:
        """A rule's flap detection: its own, the settings' default, or None when off."""
        flap = rule.flap or self.settings.flap
        return flap if flap.enabled else None

    def repeat_interval(self, rule: Rule) -> float:
        """A rule's repeat interval (its own or the settings')."""
        return rule.repeat_interval if rule.repeat_interval is not None \
            else self.settings.repeat_interval


# ----------------------------------------------------------------------------- errors

class RulesError(Exception):
    """The rules cannot be used; `.problems` lists every error, in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class _RulesLocated(Located):
    """Field paths name rules and windows by their `name`: rules[LinkDown].for."""

    ident_key = "name"


# ----------------------------------------------------------------------------- loading

def load_rules(path: str | os.PathLike[str] | None = None, *,
               known: KnownIds | None = None,
               metrics: Iterable[str] | None = None) -> RuleSet:
    """Load a rules file (None: the built-in defaults) and check it; RulesError if wrong.

    `known` enables checks of site/link/device ids against the inventory; `metrics` checks
    metric names against the profiles' catalog. With `include_defaults: true` the file
    adds to the built-in rules: a rule with a default's name replaces it, `disable` drops
    defaults by name.
    """
    parsed, problems = _parse(DEFAULT_RULES_PATH if path is None else Path(path), known,
                              metrics)
    if problems:
        raise RulesError(problems)
    assert parsed is not None
    sources = (str(path or DEFAULT_RULES_PATH),)
    rules = list(parsed.rules)
    if path is not None and parsed.include_defaults:
        defaults, problems = _parse(DEFAULT_RULES_PATH, known, metrics)
        if problems:  # a broken built-in file is a bug, but say where
            raise RulesError(problems)
        assert defaults is not None
        own = {r.name for r in rules}
        rules = [r for r in defaults.rules if r.name not in own and
                 r.name not in parsed.disable] + rules
        sources = (str(DEFAULT_RULES_PATH), *sources)
    return RuleSet(settings=parsed.settings, rules=tuple(r for r in rules if r.enabled),
                   maintenance=parsed.maintenance, sources=sources)


def default_rules() -> RuleSet:
    """The built-in rules (alerts/default_rules.yaml)."""
    return load_rules(None)


@dataclass(frozen=True)
class KnownIds:
    """Ids that rule files may refer to (from the inventory)."""

    sites: frozenset[str]
    links: frozenset[str]
    devices: frozenset[str]

    @classmethod
    def from_topology(cls, topo: Any) -> KnownIds:
        """The ids of an alerts.topology.Topology."""
        return cls(frozenset(topo.sites), frozenset(topo.links), frozenset(topo.devices))


def _parse(path: Path, known: KnownIds | None, metrics: Iterable[str] | None
           ) -> tuple[RulesFile | None, list[Problem]]:
    file = str(path)
    try:
        located = read_yaml(path)
    except OSError as exc:
        return None, [Problem(file, None, "file", f"cannot read: {exc.strerror}")]
    except Exception as exc:  # InventoryError from the YAML reader: same Problem shape
        problems = getattr(exc, "problems", None)
        if problems is None:
            raise
        return None, list(problems)
    located = _RulesLocated(located.file, located.data, located.lines, located.issues,
                            located.dropped)
    issues: list[Issue] = list(located.issues)
    parsed: RulesFile | None = None
    try:
        parsed = RulesFile.model_validate(located.data)
    except ValidationError as exc:
        issues += pydantic_issues(exc, RulesFile)
    issues += _crossrefs(located.data, known, metrics)
    # a value the reader refused (bad tag, duplicate key) is missing from the data: the
    # reader's message says why, so validation's echo of the gap is dropped
    issues = [i for i in issues if i in located.issues or not any(
        i.loc[:len(d)] == d for d in located.dropped)]
    errors = [p for p in located.problems(issues) if p.severity == "error"]
    seen: set[tuple] = set()
    unique = []
    for p in errors:
        if (p.line, p.field, p.message) not in seen:
            seen.add((p.line, p.field, p.message))
            unique.append(p)
    return (parsed if not unique else None), unique


def _hint(name: str, known: Iterable[str]) -> str:
    near = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{near[0]}'?)" if near else ""


def _crossrefs(data: Any, known: KnownIds | None, metrics: Iterable[str] | None
               ) -> list[Issue]:
    """Duplicate names, unknown ids and metrics, `disable` of unknown defaults."""
    issues: list[Issue] = []
    if not isinstance(data, dict):
        return issues
    rules = data.get("rules") if isinstance(data.get("rules"), list) else []
    first: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict) or not isinstance(rule.get("name"), str):
            continue
        name = rule["name"]
        if name in first:
            issues.append(Issue(("rules", i, "name"), f"duplicate rule name '{name}' (rule "
                                f"#{first[name] + 1} has it too)"))
        else:
            first[name] = i
    metric_names = set(metrics) if metrics is not None else None
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        issues += _raw_kind_issues(rule, ("rules", i))
        metric = rule.get("metric")
        if metric_names is not None and isinstance(metric, str) and metric not in metric_names:
            issues.append(Issue(("rules", i, "metric"), f"unknown metric '{metric}'"
                                f"{_hint(metric, metric_names)}; the profiles' metrics are "
                                "listed in docs/metrics.md"))
        match = rule.get("match")
        if known is not None and isinstance(match, dict):
            for sel, table in (("sites", known.sites), ("links", known.links),
                               ("devices", known.devices)):
                issues += _unknown_ids(match.get(sel), table, ("rules", i, "match", sel),
                                       sel[:-1])
    windows = data.get("maintenance") if isinstance(data.get("maintenance"), list) else []
    for i, window in enumerate(windows):
        if known is None or not isinstance(window, dict):
            continue
        for sel, table in (("sites", known.sites), ("links", known.links),
                           ("devices", known.devices)):
            issues += _unknown_ids(window.get(sel), table, ("maintenance", i, sel), sel[:-1])
    disable = data.get("disable")
    if isinstance(disable, list) and disable:
        if not data.get("include_defaults"):
            issues.append(Issue(("disable",), "disable only applies with include_defaults: "
                                "true"))
        else:
            names = _default_names()
            for j, name in enumerate(disable):
                if name not in names:
                    issues.append(Issue(("disable", j), f"no default rule is named '{name}'"
                                        f"{_hint(str(name), names)}; defaults: "
                                        f"{', '.join(sorted(names))}"))
    return issues


def _raw_kind_issues(rule: dict, loc: Loc) -> list[Issue]:
    """kind_problems on raw data (duplicates of the model's own findings are dropped later)."""
    kind = rule.get("kind")
    if kind not in KINDS:
        return []
    values: dict[str, Any] = {f: rule.get(f) for f in (*OPTION_FIELDS, "threshold", "clear")}
    for f in ("threshold", "clear"):
        v = values[f]
        values[f] = v if isinstance(v, int | float) and not isinstance(v, bool) else (
            None if v is None else "?")
    match = rule.get("match")
    values["match"] = [k for k in match if k in Match.model_fields] \
        if isinstance(match, dict) else []
    return [Issue(loc if f is None else (*loc, f), m) for f, m in kind_problems(kind, values)]


def _unknown_ids(values: Any, table: frozenset[str], loc: Loc, what: str) -> list[Issue]:
    if not isinstance(values, list):
        return []
    return [Issue((*loc, j), f"unknown {what} '{v}'{_hint(str(v), table)}")
            for j, v in enumerate(values) if isinstance(v, str) and v not in table]


def _default_names() -> set[str]:
    located = read_yaml(DEFAULT_RULES_PATH)
    rules = located.data.get("rules", []) if isinstance(located.data, dict) else []
    return {r["name"] for r in rules if isinstance(r, dict) and "name" in r}


def severity_max(severities: Iterable[str]) -> str | None:
    """The most severe of some severities (None for none)."""
    ranked = sorted(severities, key=lambda s: -SEVERITY_RANK[s])
    return ranked[0] if ranked else None


def rules_by_name(rules: Iterable[Rule]) -> Mapping[str, Rule]:
    """Rules indexed by name."""
    return {r.name: r for r in rules}
