"""The profile engine: varbinds → Samples through dispatch tables built once per profile.

This is the hot path of the collector. A table is fetched column by column. Each varbind is
dropped into its row (`rows[index][slot]`, one dict lookup and one list store); then every
row makes its labels once and its samples. No regex and no OID parsing per varbind, and no
object per varbind except the Sample itself.

Values are checked against what the profile expects (A12): a metric wants a number
(INTEGER, Counter32/64, Gauge32, TimeTicks), a label wants its declared type. A varbind
of the wrong type, or one the codec refused (Tag.BAD_VALUE), is counted in `Mapping.bad`
and skipped. The rest of the device's data is kept. Missing objects (noSuchObject,
noSuchInstance, endOfMibView, NULL) are simply absent: no sample, never 0; so are values
the profile's `valid` / `absent_when` refuse (a UPS's -1 "unknown" runtime).

Times (issue 11): a row holds, after its `width` varbind slots, the same number of time
slots: when the answer that brought each varbind arrived (steady clock, set by the poller
per GET and per walk page). Every Sample carries the time of the varbind its value came
from (a counter's primary or fallback column), so a rate divides by the time between the
answers that carried the two values. It costs one list store per varbind.

Every OctetString label becomes text through `collector.device_strings.clean_text` (NFC,
no control characters, bounded length), here and nowhere else; truncations are counted
in `Mapping.truncated`. A label that is empty after cleaning takes its fallbacks in turn.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from borderwatch.collector.device_strings import clean_text
from borderwatch.collector.poll_limits import row_bound
from borderwatch.collector.profiles import Condition, MetricSpec, Profile, TableSpec, ValueRule
from borderwatch.collector.samples import Kind, Labels, Sample
from borderwatch.collector.snmp.types import OID, BadValue, Tag, VarBind, oid_str

NUMERIC_TAGS = frozenset({Tag.INTEGER, Tag.COUNTER32, Tag.GAUGE32, Tag.TIMETICKS,
                          Tag.COUNTER64})
ABSENT_TAGS = frozenset({Tag.NULL, Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE,
                         Tag.END_OF_MIB_VIEW})
_TAG_NAMES = {int(t): t.name for t in Tag}
_COUNTER_BITS = {Tag.COUNTER32: 32, Tag.COUNTER64: 64}
_GAUGE, _COUNTER = Kind.GAUGE, Kind.COUNTER  # (an enum member lookup per sample costs)


@dataclass(slots=True)
class Mapping:
    """Output of mapping one poll: samples plus the varbinds refused as the wrong type.

    `limit` bounds the samples (the poll's samples bound): rows past it are not mapped
    and are counted in `rows_cut`.
    """

    samples: list[Sample] = field(default_factory=list)
    bad: dict[OID, str] = field(default_factory=dict)  # OID → why (one entry per varbind)
    truncated: int = 0  # device strings cut to device_strings.MAX_CHARS
    limit: int | None = None
    rows_cut: int = 0

    def refuse(self, vb: VarBind, wanted: str) -> None:
        """Count one varbind of the wrong type (once, however many metrics read it)."""
        if vb.oid not in self.bad:
            if vb.tag == Tag.BAD_VALUE and isinstance(vb.value, BadValue):
                why = vb.value.reason
            else:
                why = f"{_TAG_NAMES.get(vb.tag, hex(vb.tag))} where {wanted} was expected"
            self.bad[vb.oid] = why


def _number(vb: VarBind | None, out: Mapping) -> int | None:
    """The integer value of a varbind, None when absent or of the wrong type (counted)."""
    if vb is None:
        return None
    tag = vb.tag
    if tag in NUMERIC_TAGS:
        return vb.value  # type: ignore[return-value]
    if tag not in ABSENT_TAGS:
        out.refuse(vb, "a number")
    return None


def _label(vb: VarBind | None, kind: str, out: Mapping) -> str:
    """A label value rendered per its declared type; "" when absent or refused."""
    if vb is None or vb.tag in ABSENT_TAGS:
        return ""
    tag, value = vb.tag, vb.value
    if kind == "string" and tag == Tag.OCTET_STRING:
        text, cut = clean_text(value)  # type: ignore[arg-type]
        if cut:
            out.truncated += 1
        return text
    if kind == "oid" and tag == Tag.OBJECT_IDENTIFIER:
        return oid_str(value)  # type: ignore[arg-type]
    if kind == "number" and tag in NUMERIC_TAGS:
        return str(value)
    if kind == "ip" and tag in (Tag.IP_ADDRESS, Tag.OCTET_STRING) and len(value) in (4, 16):  # type: ignore[arg-type]
        return str(ipaddress.ip_address(value))  # type: ignore[arg-type]
    out.refuse(vb, f"a {kind}")
    return ""


# ----------------------------------------------------------------------------- transforms


def _any_of(values: Sequence[int | None], when: Sequence[Condition]) -> float | None:
    """1 if any present input satisfies its condition, 0 if none does, None if all absent."""
    seen = False
    for value, cond in zip(values, when, strict=True):
        if value is not None:
            seen = True
            if cond.holds(value):
                return 1
    return 0 if seen else None


def _entity_sensor(values: Sequence[int | None], when: Sequence[Condition]) -> float | None:
    """ENTITY-SENSOR-MIB value × 10^(3 × (scale − units(9))) / 10^precision."""
    value, scale, precision = values
    if value is None:
        return None
    exponent = 3 * ((scale if scale is not None else 9) - 9) - (precision or 0)
    # Divide for negative exponents: 282 / 10 is 28.2, 282 * 0.1 is 28.200000000000003.
    return value * 10**exponent if exponent >= 0 else value / 10**-exponent


def _divisor(scale: float) -> float | None:
    """1/scale when it is a whole number (0.1 → 10), so values are divided, not multiplied."""
    if 0 < scale < 1:
        inverse = round(1 / scale)
        if abs(inverse * scale - 1) < 1e-12:
            return inverse
    return None


def _scaled(value: int | float, scale: float, divisor: float | None) -> int | float:
    if divisor is not None:
        return value / divisor
    return value * scale if scale != 1 else value


Transform = Callable[[Sequence[int | None], Sequence[Condition]], float | None]
TRANSFORMS: dict[str, Transform] = {"any_of": _any_of, "entity_sensor": _entity_sensor}


# ----------------------------------------------------------------------------- plans


class _MetricPlan:
    """One metric with its column slots resolved; `value(row)` is the per-row work."""

    __slots__ = ("bits", "divisor", "fb_bits", "fb_divisor", "fb_rule", "fb_scale", "fb_slot",
                 "fb_zero", "input_rules", "kind", "map", "map_default", "name", "rule",
                 "scale", "slot", "slots", "transform", "tshift", "when")

    def __init__(self, spec: MetricSpec, slot_of: Callable[[OID], int]) -> None:
        self.name = spec.info.name
        self.kind = spec.info.kind
        self.slot = slot_of(spec.oid) if spec.oid is not None else -1
        self.slots = tuple(slot_of(o) for o in spec.inputs)
        self.transform = TRANSFORMS[spec.transform] if spec.transform else None
        self.when = spec.when
        self.scale = spec.scale
        self.divisor = _divisor(spec.scale)
        self.map = spec.map
        self.map_default = spec.map_default
        self.bits = spec.bits
        self.fb_slot = slot_of(spec.fallback_oid) if spec.fallback_oid is not None else -1
        self.fb_scale = spec.fallback_scale
        self.fb_divisor = _divisor(spec.fallback_scale)
        self.fb_bits = spec.fallback_bits
        self.fb_zero = spec.fallback_when_zero
        self.rule: ValueRule | None = spec.rule
        self.fb_rule: ValueRule | None = spec.fallback_rule
        self.input_rules = spec.input_rules
        self.tshift = 0  # where a slot's time is: slot + tshift (the row's width, set later)

    def primary_usable(self, vb: VarBind | None) -> bool:
        """True when the row's own value will be used, so its fallback is not needed."""
        if vb is None or vb.tag not in NUMERIC_TAGS:
            return False
        value = vb.value
        if self.fb_zero and value == 0:
            return False
        return self.rule is None or self.rule.accepts(value)  # type: ignore[arg-type]

    def sample(self, row: Sequence[VarBind | None], labels: Labels, out: Mapping) -> None:
        """Append this metric's sample for one row, if the row has a value for it."""
        if self.transform is not None:
            inputs = [_number(row[s], out) for s in self.slots]
            if self.input_rules and any(
                    v is not None and r is not None and not r.accepts(v)
                    for v, r in zip(inputs, self.input_rules, strict=True)):
                return  # e.g. a sensor precision of 100: no value can be trusted from it
            value = self.transform(inputs, self.when)
            if value is not None and (self.rule is None or self.rule.accepts(value)):
                out.samples.append(Sample(self.name, labels,
                                          _scaled(value, self.scale, self.divisor),
                                          t=row[self.slots[0] + self.tshift]))
            return
        slot = self.slot
        vb = row[slot]
        if vb is None:
            raw = None
        elif vb[1] in NUMERIC_TAGS:  # _number() inlined: this runs once per sample
            raw = vb[2]
        else:
            raw = _number(vb, out)
        if raw is not None and self.rule is not None and not self.rule.accepts(raw):
            raw = None  # a sentinel ("unknown") or impossible value: not a measurement
        scale, divisor, bits = self.scale, self.divisor, self.bits
        if self.fb_slot >= 0 and (raw is None or (raw == 0 and self.fb_zero)):
            fb = row[self.fb_slot]
            fb_raw = _number(fb, out)
            if fb_raw is not None and (self.fb_rule is None or self.fb_rule.accepts(fb_raw)):
                vb, raw, scale, divisor, bits = fb, fb_raw, self.fb_scale, self.fb_divisor, \
                    self.fb_bits
                slot = self.fb_slot
        if raw is None:
            return
        if self.map is not None:
            value = self.map.get(raw, self.map_default)
            if value is None:
                return
        else:
            value = raw
        if self.kind is _COUNTER:
            # The wire tag knows the width better than the profile (an agent may serve a
            # 64-bit column as Counter32).
            bits = _COUNTER_BITS.get(vb.tag, bits)  # type: ignore[union-attr]
            out.samples.append(Sample(self.name, labels, value, _COUNTER, bits,
                                      row[slot + self.tshift]))
        else:
            out.samples.append(Sample(self.name, labels, _scaled(value, scale, divisor),
                                      _GAUGE, None, row[slot + self.tshift]))


def _index_label(index: OID, pos: int, n_index: int) -> str:
    """The value of index label `pos` of a row; the last index label takes the rest."""
    if pos < n_index - 1:
        return str(index[pos]) if pos < len(index) else ""
    return ".".join(map(str, index[pos:]))


class TablePlan:
    """Dispatch table for one TableSpec: which columns to fetch and where each one goes."""

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.slots: dict[OID, int] = {}
        fallback_only: list[OID] = []

        def slot_of(oid: OID) -> int:
            if oid not in self.slots:
                self.slots[oid] = len(self.slots)
            return self.slots[oid]

        # A label's fallbacks, in order: ("col", slot) for a column, ("idx", position)
        # for an index label (ifName → ifDescr → ifIndex).
        self._labels = [(label.name, slot_of(label.oid), label.type,
                         tuple(("idx", spec.index.index(f)) if isinstance(f, str)
                               else ("col", slot_of(f)) for f in label.fallbacks))
                        for label in spec.labels]
        self._where = [(slot_of(c.oid), c) for c in spec.where if c.oid is not None]
        # Columns every poll walks: labels, filters, metric values and transform inputs.
        # A label's or a metric's fallback column is fetched only for the rows that lack
        # the primary value, unless some other use makes it primary too.
        primary = set(self.slots)
        primary.update(m.oid for m in spec.metrics if m.oid is not None)
        primary.update(o for m in spec.metrics for o in m.inputs)
        self.metrics = [_MetricPlan(m, slot_of) for m in spec.metrics]
        for m in spec.metrics:
            if m.fallback_oid is not None and m.fallback_oid not in primary:
                fallback_only.append(m.fallback_oid)
        self.width = len(self.slots)
        for metric in self.metrics:
            metric.tshift = self.width
        self.columns: tuple[OID, ...] = tuple(o for o in self.slots if o in primary)
        # (fallback column, primary slot, the metric that says when the primary is usable)
        self.fallbacks: tuple[tuple[OID, int, _MetricPlan], ...] = tuple(
            (m.fallback_oid, self.slots[m.oid], plan)  # type: ignore[index]
            for m, plan in zip(spec.metrics, self.metrics, strict=True)
            if m.fallback_oid in fallback_only)
        names = [(name, ("col", s, t, fb)) for name, s, t, fb in self._labels]
        names += [(name, ("idx", i, "", ())) for i, name in enumerate(spec.index)]
        names.sort()
        self._label_plan = [(name, *source) for name, source in names]
        self._n_index = len(spec.index)
        self.row_bound = row_bound(spec.expected_rows)  # unless the device overrides it

    def add_column(self, rows: dict[OID, list], column: OID, varbinds: Sequence[VarBind],
                   max_rows: int | None = None,
                   pages: Sequence[tuple[int, float]] = ()) -> int:
        """File the varbinds of one walked column into their rows (the per-varbind path),
        each with the arrival time of its answer: `pages` as WalkResult.pages, on the
        steady clock (none: no time).

        A varbind that would start a row past `max_rows` rows is dropped (each column
        is walked to at most that many rows, but an agent can give every column other
        indexes); returns how many were dropped.
        """
        if len(pages) <= 1:  # the usual case: one answer brought the whole column
            return self._file(rows, column, varbinds, pages[0][1] if pages else None,
                              max_rows)
        dropped = 0
        for k, (start, t) in enumerate(pages):
            end = pages[k + 1][0] if k + 1 < len(pages) else len(varbinds)
            # (a varbind before the first page's start came with the first page)
            dropped += self._file(rows, column, varbinds[start if k else 0:end], t, max_rows)
        return dropped

    def _file(self, rows: dict[OID, list], column: OID, varbinds: Sequence[VarBind],
              t: float | None, max_rows: int | None) -> int:
        """add_column() for the varbinds of one answer, which arrived at `t`."""
        slot = self.slots[column]
        tslot = slot + self.width
        cut = len(column)
        size = 2 * self.width
        dropped = 0
        for vb in varbinds:
            index = vb.oid[cut:]
            row = rows.get(index)
            if row is None:
                if max_rows is not None and len(rows) >= max_rows:
                    dropped += 1
                    continue
                row = rows[index] = [None] * size
            row[slot] = vb
            row[tslot] = t
        return dropped

    def add_instances(self, rows: dict[OID, list], varbinds: Iterable[VarBind],
                      t: float | None = None) -> None:
        """File GET results for fallback instances (column OID + index) into their rows;
        `t`: when the GET's answer arrived."""
        width = self.width
        for vb in varbinds:
            for column, slot in self.slots.items():
                if vb.oid[:len(column)] == column:
                    row = rows.get(vb.oid[len(column):])
                    if row is not None:
                        row[slot] = vb
                        row[slot + width] = t
                    break

    def missing_fallbacks(self, rows: dict[OID, list[VarBind | None]]
                          ) -> dict[OID, list[OID]]:
        """Per fallback column, the row indexes whose primary value is absent or unusable."""
        need: dict[OID, list[OID]] = {}
        for column, primary, metric in self.fallbacks:
            for index, row in rows.items():
                if not metric.primary_usable(row[primary]):
                    need.setdefault(column, []).append(index)
        return need

    def map_rows(self, rows: dict[OID, list[VarBind | None]], out: Mapping) -> None:
        """Turn filled rows into samples (labels built once per row)."""
        self.map_items(list(rows.items()), out)

    def map_items(self, items: Sequence[tuple[OID, list[VarBind | None]]], out: Mapping
                  ) -> None:
        """map_rows() of some (index, row) pairs, so a caller can map a big table in
        slices and yield to the event loop between them. Stops at `out.limit`."""
        where = self._where
        plan = self._label_plan
        n_index = self._n_index
        metrics = self.metrics
        limit = out.limit
        samples = out.samples
        for n, (index, row) in enumerate(items):
            if limit is not None and len(samples) >= limit:
                out.rows_cut += len(items) - n
                del samples[limit:]
                return
            if where:
                keep = True
                for slot, cond in where:
                    value = _number(row[slot], out)
                    if value is None or not cond.holds(value):
                        keep = False
                        break
                if not keep:
                    continue
            pairs = []
            for name, src, pos, kind, fallbacks in plan:
                if src == "col":
                    text = _label(row[pos], kind, out)
                    for fb_src, fb_pos in fallbacks:
                        if text:
                            break
                        text = _label(row[fb_pos], kind, out) if fb_src == "col" \
                            else _index_label(index, fb_pos, n_index)
                    pairs.append((name, text))
                else:
                    pairs.append((name, _index_label(index, pos, n_index)))
            labels = tuple(pairs)
            for metric in metrics:
                metric.sample(row, labels, out)
        if limit is not None and len(samples) > limit:  # the last row went past it
            del samples[limit:]
            out.rows_cut += 1


def _first_label(row: Sequence[VarBind | None], slots: Sequence[int], kind: str,
                 out: Mapping) -> str:
    """The first non-empty label value among a label's column and its fallback columns."""
    text = ""
    for slot in slots:
        text = _label(row[slot], kind, out)
        if text:
            break
    return text


class ScalarPlan:
    """The scalars of one profile: instance OIDs to GET and how each becomes a sample."""

    def __init__(self, specs: Sequence[MetricSpec]) -> None:
        self.specs = tuple(specs)
        self.oids: tuple[OID, ...] = tuple(dict.fromkeys(o for m in specs for o in m.oids))
        self._slots = {oid: i for i, oid in enumerate(self.oids)}
        self._metrics = [_MetricPlan(m, self._slots.__getitem__) for m in specs
                         if m.type != "info"]
        for metric in self._metrics:
            metric.tshift = len(self.oids)
        self._info: list[tuple[str, list[tuple[str, tuple[int, ...], str]]]] = [
            (m.info.name, sorted((label.name, tuple(self._slots[o] for o in
                                                    (label.oid, *label.fallback_oids)),
                                  label.type) for label in m.labels))
            for m in specs if m.type == "info"]

    def map(self, values: dict[OID, VarBind], out: Mapping,
            times: dict[OID, float] | None = None) -> None:
        """Samples from GET results (OID → VarBind); absent objects give no sample.
        `times`: OID → when the answer that carried it arrived (steady clock)."""
        oids = self.oids
        row: list = [values.get(oid) for oid in oids]
        row += [times.get(oid) for oid in oids] if times else [None] * len(oids)
        for metric in self._metrics:
            metric.sample(row, (), out)
        n = len(oids)
        for name, labels in self._info:
            pairs = tuple((label, _first_label(row, slots, kind, out))
                          for label, slots, kind in labels)
            if any(value for _, value in pairs):
                t = next((row[s + n] for _, slots, _ in labels for s in slots
                          if row[s] is not None), None)
                out.samples.append(Sample(name, pairs, 1, t=t))


@dataclass(frozen=True, slots=True)
class ProfilePlan:
    """A profile compiled for polling: its scalar plan, table plans and probe OIDs."""

    profile: Profile
    scalars: ScalarPlan
    tables: tuple[TablePlan, ...]

    @property
    def name(self) -> str:
        return self.profile.name


def compile_profile(profile: Profile) -> ProfilePlan:
    """Build the dispatch tables of a profile (once, when it is loaded)."""
    return ProfilePlan(profile, ScalarPlan(profile.scalars),
                       tuple(TablePlan(t) for t in profile.tables))

