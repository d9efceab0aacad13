"""The inventory as typed, immutable objects: credentials, defaults, sites, devices, links.

Pydantic validates structure and the rules local to one object (types, allowed values,
ranges, exactly one source per secret). Rules that span objects (unknown references,
duplicate ids) live in crossrefs.py so that they run even when another part is broken.
Defaults live in the `Defaults` model and nowhere else.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from borderwatch.collector.inventory.fields import (
    Address,
    AuthProtocol,
    EngineId,
    EnvName,
    Id,
    InlineSecret,
    PrivProtocol,
    Text,
)
from borderwatch.collector.secret import Secret

# The profile names a device may list; collector/profiles.py checks its YAML files against this.
PROFILE_NAMES: tuple[str, ...] = (
    "system", "if-mib", "ups-mib", "airmax", "host-resources", "entity-sensor",
    "microwave-radio", "vsat-modem", "dc-power",
)
SITE_KINDS = ("core", "hub", "border_post", "border_gate", "commune")
DEVICE_ROLES = ("router", "switch", "microwave", "vsat_modem", "ups", "dc_power", "env_sensor",
                "led_display", "server", "firewall", "base_station", "other")
MEDIA = ("fiber", "microwave", "vsat", "radio")
SECURITY_LEVELS = ("noAuthNoPriv", "authNoPriv", "authPriv")

_STRICT = ConfigDict(extra="forbid", frozen=True)


def _fail(title: str, errors: list[tuple[str | None, str, str, dict[str, Any]]]) -> None:
    """Raise several field-level errors from a model validator, each at its own field.

    Pydantic merges a ValidationError raised inside a validator into the outer one with the
    field name appended to the location, so every message points at its own YAML line.
    A field of None puts the error on the object itself.
    """
    if errors:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=PydanticCustomError(kind, msg, ctx),
                             loc=() if field is None else (field,), input=None)
            for field, kind, msg, ctx in errors
        ])


def _num(x: float) -> str:
    return f"{x:g}"


# ----------------------------------------------------------------------------- credentials

_SECRETS = ("community", "auth_key", "priv_key")
_V3_ONLY = ("user", "auth_protocol", "auth_key", "auth_key_env", "auth_key_file",
            "priv_protocol", "priv_key", "priv_key_env", "priv_key_file", "context")
_COMMUNITY_ONLY = ("community", "community_env", "community_file")


def _version(value: Any) -> str:
    # YAML reads `version: 1` and `version: 3` as integers and `2c` as a string.
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
    if text not in ("1", "2c", "3"):
        raise PydanticCustomError(
            "snmp_version", "unknown SNMP version '{value}'; allowed: 1, 2c, 3", {"value": value})
    return text


class Credential(BaseModel):
    """How to authenticate to an agent; secrets come from env variables or files.

    After `load_inventory(resolve_secrets=True)` the fields `community`, `auth_key` and
    `priv_key` hold `Secret` objects whatever their source (`Secret.source` says which);
    `*_env`/`*_file` keep naming the source.
    """

    model_config = _STRICT

    version: Annotated[Literal["1", "2c", "3"], PlainValidator(_version),
                       WithJsonSchema({"enum": ["1", "2c", "3", 1, 3]})]
    community: InlineSecret | None = Field(None, description="v1/v2c; inline is discouraged")
    community_env: EnvName | None = None
    community_file: str | None = None
    user: str | None = Field(None, min_length=1, description="v3 USM user name")
    auth_protocol: AuthProtocol | None = None
    auth_key: InlineSecret | None = None
    auth_key_env: EnvName | None = None
    auth_key_file: str | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: InlineSecret | None = None
    priv_key_env: EnvName | None = None
    priv_key_file: str | None = None
    context: str | None = Field(None, description="v3 context name (optional)")

    @property
    def security_level(self) -> str:
        """noAuthNoPriv, authNoPriv or authPriv, derived from the protocols given (v3)."""
        if self.priv_protocol:
            return "authPriv"
        return "authNoPriv" if self.auth_protocol else "noAuthNoPriv"

    def sources(self, secret: str) -> list[str]:
        """Names of the fields that supply `secret` ('community', 'auth_key' or 'priv_key')."""
        return [f for f in (secret, f"{secret}_env", f"{secret}_file")
                if getattr(self, f) is not None]

    @model_validator(mode="after")
    def _check_version_fields(self) -> Credential:
        errors: list[tuple[str, str, str, dict[str, Any]]] = []
        given = self.model_fields_set
        if self.version in ("1", "2c"):
            for f in _V3_ONLY:
                if f in given:
                    errors.append((f, "v3_only", "{f} is only used with version 3 "
                                   "(this credential is version {v})", {"f": f, "v": self.version}))
            self._one_source("community", errors, at=None)
        else:
            for f in _COMMUNITY_ONLY:
                if f in given:
                    errors.append((f, "community_v3", "{f} is not used with version 3 "
                                   "(v3 uses user, auth_* and priv_*)", {"f": f}))
            if not self.user:
                errors.append((None, "user_missing", "version 3 needs a user", {}))
            if self.auth_protocol:
                self._one_source("auth_key", errors, at="auth_protocol",
                                 why=f"auth_protocol {self.auth_protocol}")
            else:
                self._unwanted("auth_key", "auth_protocol", errors)
            if self.priv_protocol:
                if not self.auth_protocol:
                    errors.append(("auth_protocol", "priv_without_auth",
                                   "priv_protocol {p} needs an auth_protocol too (authPriv); "
                                   "allowed: MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512",
                                   {"p": self.priv_protocol}))
                self._one_source("priv_key", errors, at="priv_protocol",
                                 why=f"priv_protocol {self.priv_protocol} (authPriv)")
            else:
                self._unwanted("priv_key", "priv_protocol", errors)
        _fail("Credential", errors)
        return self

    def _one_source(self, secret: str, errors: list, *, at: str | None, why: str = "") -> None:
        """One of secret, secret_env, secret_file; a missing one is reported at `at`.

        The pair secret_env + secret_file is allowed: the variable when it is set, else the
        file (the lab's generated community behind an operator's variable, say).
        """
        sources = self.sources(secret)
        choices = f"{secret}_env, {secret}_file or {secret}"
        if sources == [f"{secret}_env", f"{secret}_file"]:
            return  # the variable first, the file as its fallback (collector/inventory/secrets)
        if len(sources) > 1:
            for f in sources[1:]:
                errors.append((f, "secret_sources", "{secret} is given more than once "
                               "({fields}); give exactly one of {choices} (or {secret}_env "
                               "with {secret}_file as its fallback)",
                               {"secret": secret, "fields": ", ".join(sources),
                                "choices": choices}))
        elif not sources:
            needs = f"{why} needs" if why else "needs"
            errors.append((at, "secret_missing", "{needs} a {secret}: give exactly one of "
                           "{choices}", {"needs": needs, "secret": secret, "choices": choices}))

    def _unwanted(self, secret: str, protocol: str, errors: list) -> None:
        for f in self.sources(secret):
            errors.append((f, "secret_without_protocol", "{f} is given but {protocol} is not; "
                           "set {protocol} or remove {f}", {"f": f, "protocol": protocol}))


# ----------------------------------------------------------------------------- defaults

Seconds = Annotated[float, Field(gt=0, le=86400)]


class IcmpDefaults(BaseModel):
    """ICMP reachability: every device with an address is pinged unless this (or the
    device's `icmp: false`) turns it off. One pinger for the whole process (collector/icmp)."""

    model_config = _STRICT

    enabled: bool = Field(True, description="ping every device unless it says `icmp: false`")
    interval: Seconds = Field(30.0, description="seconds between two rounds of one device")
    count: int = Field(3, ge=1, le=20, description=(
        "echo requests per round; a round answers if any of them does"))
    timeout: Seconds = Field(2.0, description="seconds to wait for one echo reply")
    window: int = Field(10, ge=1, le=1000, description=(
        "rounds that loss ratio, average RTT and jitter are computed over"))
    max_in_flight: int = Field(256, ge=1, le=100_000, description=(
        "rounds running at once, over all devices"))
    socket: Literal["auto", "raw", "unprivileged"] = Field("auto", description=(
        "auto: an unprivileged ping socket if net.ipv4.ping_group_range allows, else raw "
        "(root or CAP_NET_RAW)"))

    @model_validator(mode="after")
    def _check_timing(self) -> IcmpDefaults:
        need = self.count * self.timeout
        if self.interval < need:
            _fail("IcmpDefaults", [("interval", "interval_too_short",
                                    "interval {interval} s is shorter than count × timeout = "
                                    "{count} × {timeout} = {need} s; raise interval or lower "
                                    "count/timeout", {"interval": _num(self.interval),
                                                      "count": self.count,
                                                      "timeout": _num(self.timeout),
                                                      "need": _num(need)})])
        return self


def _auto_or_number(kind: type, low: float, high: float, low_open: bool) -> Any:
    """A validator for `auto` or a number in range, with the messages of errors.py."""
    span = f"{'>' if low_open else '≥'} {_num(low)} and ≤ {_num(high)}, or auto"
    word = "an integer" if kind is int else "a number"

    def check(value: Any) -> Any:
        if value == "auto":
            return "auto"
        shown = repr(value) if isinstance(value, str) else str(value).lower()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PydanticCustomError("auto_or_number", "expected {word} or auto, got {got}",
                                      {"word": word, "got": shown})
        if kind is int and value != int(value):
            raise PydanticCustomError("auto_or_number", "{got} is not a whole number",
                                      {"got": shown})
        if not ((value > low if low_open else value >= low) and value <= high):
            raise PydanticCustomError("auto_or_number", "{got} is out of range; must be {span}",
                                      {"got": shown, "span": span})
        return kind(value)
    return check


# An SNMP timeout: seconds, or `auto` (measured per device, collector/snmp/rtt.py).
TimeoutSetting = Annotated[float | str, PlainValidator(_auto_or_number(float, 0, 86400, True)),
                           WithJsonSchema({"anyOf": [{"const": "auto"}, {
                               "type": "number", "exclusiveMinimum": 0, "maximum": 86400}]})]
RetriesSetting = Annotated[int | str, PlainValidator(_auto_or_number(int, 0, 10, False)),
                           WithJsonSchema({"anyOf": [{"const": "auto"}, {
                               "type": "integer", "minimum": 0, "maximum": 10}]})]


class Defaults(BaseModel):
    """Polling settings for every device unless the device overrides them (the ONE place)."""

    model_config = _STRICT

    interval: Seconds = Field(60.0, description="seconds between polls of one device")
    timeout: TimeoutSetting = Field("auto", description=(
        "seconds to wait for one SNMP response, or auto: from each device's measured "
        "round trip (RFC 6298 style, between 0.2 and 10 s)"))
    retries: RetriesSetting = Field("auto", description=(
        "resends after a timeout, or auto: sized to each device's measured loss (1 to 4; "
        "1 when the timeout is a number)"))
    max_repetitions: int = Field(25, ge=1, le=1000, description="GETBULK max-repetitions")
    port: int = Field(161, ge=1, le=65535, description="UDP port of the agents")
    max_in_flight: int = Field(64, ge=1, le=10000,
                               description="global cap on SNMP requests in flight")
    poll_deadline: Seconds | None = Field(
        None, description="seconds one poll may take; default interval × 0.8")
    icmp: IcmpDefaults = Field(default_factory=IcmpDefaults)

    @model_validator(mode="after")
    def _check_timing(self) -> Defaults:
        _fail("Defaults", timing_errors(self.interval, self.timeout, self.retries,
                                        self.poll_deadline))
        return self


def timing_errors(interval: float, timeout: float | str, retries: int | str,
                  poll_deadline: float | None) -> list[tuple[str, str, str, dict[str, Any]]]:
    """The cadence rules shared by `defaults` and each device's effective settings
    (an `auto` timeout adapts under the poll's deadline: nothing to check for it)."""
    errors = []
    if retries == "auto":
        retries = 1  # with a fixed timeout, auto retries start at 1
    need = timeout * (retries + 1) if timeout != "auto" else 0.0  # type: ignore[operator]
    if interval < need:
        errors.append(("interval", "interval_too_short",
                       "interval {interval} s is shorter than timeout × (retries + 1) = "
                       "{timeout} × {tries} = {need} s; raise interval or lower timeout/retries",
                       {"interval": _num(interval), "timeout": _num(timeout),
                        "tries": retries + 1, "need": _num(need)}))
    if poll_deadline is not None and poll_deadline > interval:
        errors.append(("poll_deadline", "deadline_too_long",
                       "poll_deadline {d} s is longer than interval {interval} s; a poll must "
                       "end before the next one is due", {"d": _num(poll_deadline),
                                                          "interval": _num(interval)}))
    return errors


# ----------------------------------------------------------------------------- sites

class Interface(BaseModel):
    """An interface a link ends on, by ifName as the agent reports it.

    In YAML an interface is either its name alone (`eth-1`) or a mapping with more fields.
    """

    model_config = _STRICT

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    name: str = Field(min_length=1, description="ifName (or ifDescr if the agent has no ifName)")
    if_index: int | None = Field(None, ge=1, le=2**31 - 1)
    description: Text | None = None


def _name_or_mapping(schema: dict[str, Any]) -> None:
    # The JSON Schema of `interfaces`: each item is a bare name or an Interface mapping.
    schema["items"] = {"anyOf": [{"type": "string", "minLength": 1}, schema["items"]]}


def _profile(value: Any) -> str | tuple[str, ...]:
    allowed = "auto, or a list of: " + ", ".join(PROFILE_NAMES)
    if value == "auto":
        return "auto"
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names:
        raise PydanticCustomError("profile", "must be 'auto' or a non-empty list of profile "
                                  "names; allowed: {allowed}", {"allowed": allowed})
    bad = [n for n in names if n not in PROFILE_NAMES]
    if bad:
        raise PydanticCustomError("profile", "unknown profile '{bad}'; allowed: {allowed}",
                                  {"bad": bad[0], "allowed": allowed})
    if len(set(names)) != len(names):
        raise PydanticCustomError("profile", "a profile is listed twice", {})
    return tuple(names)


Profile = Annotated[str | tuple[str, ...], PlainValidator(_profile), WithJsonSchema({"anyOf": [
    {"const": "auto"},
    {"type": "array", "items": {"enum": list(PROFILE_NAMES)}, "minItems": 1, "uniqueItems": True},
]})]


class DeviceLimits(BaseModel):
    """A device's overrides of the poll's bounds, which are otherwise sized from the
    profiles' expected table sizes (collector/poll_limits.py explains the defaults)."""

    model_config = _STRICT

    rows_per_table: int | None = Field(None, ge=1, le=1_000_000, description=(
        "rows one table may have (default: 4 × the profile's expected_rows, at least 64)"))
    requests_per_poll: int | None = Field(None, ge=1, le=1_000_000, description=(
        "SNMP requests one poll may send, retries not counted (default: 2 × what reading "
        "every table at its row bound takes, plus 16)"))
    samples_per_poll: int | None = Field(None, ge=1, le=10_000_000, description=(
        "samples one poll may produce (default: every table at its row bound)"))


class Device(BaseModel):
    """One SNMP agent (or, with `snmp: false`, equipment that is only pinged); unset polling
    fields fall back to `defaults` (see Inventory.effective)."""

    model_config = _STRICT

    id: Id = Field(description="unique across the whole inventory")
    address: Address
    credential: Id | None = Field(None, description=(
        "a key of `credentials`; required unless `snmp: false`"))
    snmp: bool = Field(True, description=(
        "poll over SNMP; false: an ICMP-only device (camera, cheap radio, PC), pinged only"))
    icmp: bool | None = Field(None, description=(
        "ping the device (default: defaults.icmp.enabled; false for a lab-simulated device, "
        "whose loopback address answers ping whatever fault the lab plays)"))
    port: int | None = Field(None, ge=1, le=65535)
    profile: Profile = "auto"
    interval: Seconds | None = None
    timeout: TimeoutSetting | None = None
    retries: RetriesSetting | None = None
    max_repetitions: int | None = Field(None, ge=1, le=1000)
    poll_deadline: Seconds | None = None
    accept_any_source: bool = Field(
        False, description="accept responses from another address (multi-homed agents)")
    limits: DeviceLimits | None = Field(None, description=(
        "overrides of the per-poll bounds on rows, requests and samples"))
    role: Literal[DEVICE_ROLES] | None = None  # type: ignore[valid-type]
    vendor: Text | None = None
    model: Text | None = None
    engine_id: EngineId | None = Field(None, description=(
        "SNMPv3: the device's engine ID in hex, for v3 traps that arrive before a poll "
        "discovered it (the receiver then checks them against this one)"))
    sim_profile: str | None = Field(None, pattern=r"^[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*$",
                                    description="lab only: snmpsim-data dump or custom/NAME")
    interfaces: tuple[Interface, ...] = Field((), json_schema_extra=_name_or_mapping)
    notes: Text | None = None

    @model_validator(mode="after")
    def _check_snmp(self) -> Device:
        if self.snmp and self.credential is None:
            _fail("Device", [("credential", "credential_required", "a credential is required (a "
                              "key of `credentials`), or `snmp: false` for a device that is "
                              "only pinged", {})])
        if not self.snmp and self.icmp is False:
            _fail("Device", [("icmp", "nothing_to_do", "device is neither polled (snmp: false) "
                              "nor pinged (icmp: false); remove it or enable one", {})])
        if not self.snmp and self.sim_profile is not None:
            _fail("Device", [("sim_profile", "no_agent", "the lab simulates SNMP agents; an "
                              "ICMP-only device (snmp: false) has none", {})])
        return self


class Former(BaseModel):
    """Pre-2025 district and commune, still used by operators and old documents."""

    model_config = _STRICT

    district: Text | None = None
    commune: Text | None = None


Confidence = Literal["confirmed", "probable", "uncertain", "invented"]


class SiteConfidence(BaseModel):
    """How sure the example data is about a site's name, gate type and commune."""

    model_config = _STRICT

    name: Confidence | None = None
    type: Confidence | None = None
    commune: Confidence | None = None


class Power(BaseModel):
    """A site's power arrangements (for reports and root-cause hints)."""

    model_config = _STRICT

    grid: bool | None = None
    ups: bool | None = None
    generator: bool | None = None
    solar: bool | None = None
    battery_hours: float | None = Field(None, ge=0, le=1000)


class Site(BaseModel):
    """A place with devices: the core, a hub, a border post, a border gate or a commune office."""

    model_config = _STRICT

    id: Id
    name: Text = Field(min_length=1, description="Vietnamese name (stored as Unicode NFC)")
    name_en: Text | None = None
    kind: Literal[SITE_KINDS]  # type: ignore[valid-type]
    commune: Text | None = None
    former: Former | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    coord_approx: bool = False
    confidence: SiteConfidence | None = None
    power: Power | None = None
    gate_type: Literal["international", "main", "secondary"] | None = None
    gate_status_note: Text | None = None
    notes: Text | None = None
    devices: tuple[Device, ...] = ()

    @model_validator(mode="after")
    def _check_site(self) -> Site:
        errors = []
        if (self.lat is None) != (self.lon is None):
            missing = "lon" if self.lon is None else "lat"
            errors.append((missing, "coord_pair", "lat and lon go together; {m} is missing",
                           {"m": missing}))
        if self.kind != "border_gate":
            for f in ("gate_type", "gate_status_note"):
                if getattr(self, f) is not None:
                    errors.append((f, "gate_only", "{f} is only for kind border_gate "
                                   "(this site is {kind})", {"f": f, "kind": self.kind}))
        _fail("Site", errors)
        return self


# ----------------------------------------------------------------------------- links

class LinkEnd(BaseModel):
    """One end of a link: the site, the device there and its interface (ifName)."""

    model_config = _STRICT

    site: Id
    device: Id
    interface: str = Field(min_length=1)


class Link(BaseModel):
    """A transmission link between two device interfaces (the canonical form: nested ends)."""

    model_config = _STRICT

    id: Id
    a: LinkEnd
    b: LinkEnd
    medium: Literal[MEDIA]  # type: ignore[valid-type]
    capacity_mbps: float = Field(gt=0, description="nominal capacity per direction (VSAT: down)")
    capacity_up_mbps: float | None = Field(None, gt=0, description="uplink if asymmetric")
    length_km: float | None = Field(None, ge=0, le=20000)
    band: str | None = Field(None, description="letter band, e.g. Ku for VSAT")
    band_ghz: float | None = Field(None, gt=0, le=300)
    protection: str | None = Field(None, description="e.g. 1+0, 1+1 HSB, none")
    route: Text | None = None
    satellite: str | None = None
    rtt_ms: float | None = Field(None, ge=0)
    notes: Text | None = None

    @model_validator(mode="after")
    def _check_ends(self) -> Link:
        if self.a == self.b:
            _fail("Link", [("b", "same_ends", "both ends are {d} {i}; a link joins two "
                            "different interfaces", {"d": self.a.device, "i": self.a.interface})])
        return self


# ----------------------------------------------------------------------------- influx

LongSeconds = Annotated[float, Field(gt=0, le=366 * 86400)]


def _check_url(value: Any) -> str:
    # Not echoed: a URL with user:password in it carries a secret.
    if isinstance(value, str):
        parts = urllib.parse.urlsplit(value)
        if parts.scheme in ("http", "https") and parts.hostname and "@" not in parts.netloc \
                and not parts.query and not parts.fragment:
            try:
                parts.port  # noqa: B018 -- raises ValueError for a port out of range
            except ValueError:
                pass
            else:
                return value
    raise PydanticCustomError(
        "influx_url", "must be an http:// or https:// URL with a host and no user:password, "
        "query or fragment, e.g. http://127.0.0.1:8086 (the value is not shown; put the "
        "token in token_env or token_file)")


HttpUrl = Annotated[str, PlainValidator(_check_url), WithJsonSchema({
    "type": "string", "pattern": "^https?://", "description":
    "http:// or https:// URL of the InfluxDB server, without credentials"})]


class InfluxSpool(BaseModel):
    """The writer's on-disk store-and-forward spool: bounded, oldest points dropped first."""

    model_config = _STRICT

    dir: str = Field("var/spool/influx", min_length=1, description=(
        "spool directory, relative to the inventory file's directory; one writer per "
        "directory (it is locked)"))
    max_bytes: int = Field(256 * 2**20, ge=64 * 1024, le=2**40, description=(
        "bytes the spool may use on disk; beyond it the oldest points are dropped (counted)"))
    max_age: LongSeconds = Field(7 * 86400.0, description=(
        "seconds; spooled points older than this are dropped (counted)"))


class Influx(BaseModel):
    """Where and how to write measurements to InfluxDB (v2 write API), with store-and-forward.

    The token comes from token_env or token_file (or inline, discouraged); none at all
    sends no Authorization header (a server without authentication).
    """

    model_config = _STRICT

    url: HttpUrl
    org: str = Field(min_length=1, description="InfluxDB organisation (name or id)")
    bucket: str = Field(min_length=1, description="InfluxDB bucket (v1: database/retention)")
    token: InlineSecret | None = Field(None, description="inline is discouraged")
    token_env: EnvName | None = None
    token_file: str | None = None
    batch_size: int = Field(1000, ge=1, le=100_000, description="points per write request")
    flush_interval: Seconds = Field(10.0, description="seconds a point may wait for a batch")
    timeout: Annotated[float, Field(gt=0, le=300)] = Field(
        5.0, description="seconds one write request may take (connect, send, answer)")
    gzip: bool = Field(True, description="gzip request bodies")
    retry_initial: Seconds = Field(1.0, description="first retry delay after a failed write")
    retry_max: Seconds = Field(60.0, description=(
        "cap on the retry delay, exponential backoff and Retry-After alike"))
    memory_points: int = Field(20_000, ge=1, le=10_000_000, description=(
        "points held in memory while unsent; more go to the spool"))
    spool: InfluxSpool = Field(default_factory=InfluxSpool)

    def token_sources(self) -> list[str]:
        """Names of the fields that supply the token."""
        return [f for f in ("token", "token_env", "token_file") if getattr(self, f) is not None]

    @model_validator(mode="after")
    def _check_influx(self) -> Influx:
        errors: list[tuple[str | None, str, str, dict[str, Any]]] = []
        sources = self.token_sources()
        for f in sources[1:]:
            errors.append((f, "secret_sources", "the token is given more than once ({fields}); "
                           "give at most one of token_env, token_file or token",
                           {"fields": ", ".join(sources)}))
        if self.retry_initial > self.retry_max:
            errors.append(("retry_initial", "retry_order", "retry_initial {a} s is longer "
                           "than retry_max {b} s", {"a": _num(self.retry_initial),
                                                    "b": _num(self.retry_max)}))
        if self.memory_points < self.batch_size:
            errors.append(("memory_points", "memory_points", "memory_points {m} is smaller "
                           "than batch_size {b}; a batch must fit in memory",
                           {"m": self.memory_points, "b": self.batch_size}))
        _fail("Influx", errors)
        return self


# ----------------------------------------------------------------------------- alerts


def _check_receiver_url(value: Any) -> str:
    # Not echoed, and never logged later: a webhook URL often carries a token in its path.
    if isinstance(value, str):
        parts = urllib.parse.urlsplit(value)
        if parts.scheme in ("http", "https") and parts.hostname and "@" not in parts.netloc:
            try:
                parts.port  # noqa: B018 -- raises ValueError for a port out of range
            except ValueError:
                pass
            else:
                return value
    raise PydanticCustomError(
        "receiver_url", "must be an http:// or https:// URL with a host and no user:password "
        "(the value is not shown)")


ReceiverUrl = Annotated[str, PlainValidator(_check_receiver_url), WithJsonSchema({
    "type": "string", "pattern": "^https?://", "description":
    "http:// or https:// URL; may hold a token in its path or query (never logged)"})]


class Webhook(BaseModel):
    """A generic webhook receiver: one JSON POST per notification (docs in alerts/notify)."""

    model_config = _STRICT

    name: Id = Field(description="names the receiver in logs and errors (its URL is never shown)")
    url: ReceiverUrl
    language: Literal["vi", "en"] = Field("vi", description="language of the `text` field")
    timeout: Annotated[float, Field(gt=0, le=300)] = Field(
        10.0, description="seconds one delivery may take")


class Alertmanager(BaseModel):
    """A Prometheus Alertmanager (v2 API) that gets every incident as an alert."""

    model_config = _STRICT

    name: Id = Field("alertmanager", description="names the receiver in logs and errors")
    url: ReceiverUrl = Field(description="base URL, e.g. http://127.0.0.1:9093")
    timeout: Annotated[float, Field(gt=0, le=300)] = Field(
        10.0, description="seconds one POST may take")
    resend_interval: Seconds = Field(60.0, description=(
        "seconds between re-posts of active alerts; endsAt is 4 of these ahead, so "
        "Alertmanager never resolves an alert on its own while borderwatch runs"))


_MAILBOX = r"^[^@\s<>,;]+@[^@\s<>,;]+$"


def _check_mailbox(value: Any) -> str:
    # A bare address: no display name, no CR/LF (a header injection), one '@'.
    if isinstance(value, str) and re.fullmatch(_MAILBOX, value):
        return value
    raise PydanticCustomError("mailbox", "{value} is not an e-mail address like "
                              "noc@example.vn", {"value": repr(value)[:80]})


Mailbox = Annotated[str, PlainValidator(_check_mailbox), WithJsonSchema({
    "type": "string", "pattern": _MAILBOX, "description": "an address like noc@example.vn"})]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Email(BaseModel):
    """An e-mail receiver over SMTP: one message per notification to a list of addresses.

    The password comes from password_env or password_file (inline is discouraged) and is
    never logged; login without encryption (STARTTLS or implicit TLS) is refused unless
    the server is on loopback (a local relay), since it would send the password in clear.
    Implicit TLS (`tls: true`, SMTPS, RFC 8314) is what many providers require on port 465;
    the port defaults to 465 then, since 25 never speaks it.
    """

    model_config = _STRICT

    @model_validator(mode="before")
    @classmethod
    def _smtps_port(cls, value: Any) -> Any:
        # the default port follows the mode; `is True`: YAML's true/yes, not a quoted "true"
        if isinstance(value, dict) and value.get("tls") is True and "port" not in value:
            return {**value, "port": 465}
        return value

    name: Id = Field(description="names the receiver in logs and errors")
    host: Address = Field(description="SMTP server (a relay or the submission server)")
    port: int = Field(25, ge=1, le=65535, description=(
        "25 (relay), 587 (submission with starttls) or 465 (submission with implicit TLS, "
        "tls: true); default 25, or 465 with tls: true"))
    starttls: bool = Field(False, description="upgrade the connection with STARTTLS "
                           "(the server's certificate is verified)")
    tls: bool = Field(False, description="implicit TLS from the first byte (SMTPS, RFC 8314, "
                      "usually port 465; the server's certificate is verified); "
                      "not together with starttls")
    ca_file: str | None = Field(None, min_length=1, description=(
        "CA bundle to verify the server with (a private CA); default: the system's"))
    username: str | None = Field(None, min_length=1, description="login user (AUTH)")
    password: InlineSecret | None = Field(None, description="inline is discouraged")
    password_env: EnvName | None = None
    password_file: str | None = None
    sender: Mailbox = Field(description="the From address")
    to: tuple[Mailbox, ...] = Field(description="recipients (at least one)")
    language: Literal["vi", "en"] = Field("vi", description="language of subject and body")
    timeout: Annotated[float, Field(gt=0, le=300)] = Field(
        30.0, description="seconds one delivery may take (connect, dialogue, data)")

    def password_sources(self) -> list[str]:
        """Names of the fields that supply the password."""
        return [f for f in ("password", "password_env", "password_file")
                if getattr(self, f) is not None]

    @model_validator(mode="after")
    def _check_email(self) -> Email:
        errors: list[tuple[str | None, str, str, dict[str, Any]]] = []
        if not self.to:  # here, not min_length: that one also fires when an item is bad
            errors.append(("to", "recipients", "give at least one recipient address", {}))
        sources = self.password_sources()
        for f in sources[1:]:
            errors.append((f, "secret_sources", "the password is given more than once "
                           "({fields}); give one of password_env, password_file or password",
                           {"fields": ", ".join(sources)}))
        if sources and self.username is None:
            errors.append(("username", "smtp_auth", "a password is given but no username", {}))
        if self.username is not None and not sources:
            errors.append(("username", "smtp_auth", "a username needs a password (password_env, "
                           "password_file or password)", {}))
        if self.tls and self.starttls:
            errors.append(("tls", "smtp_tls_mode", "give tls: true (implicit TLS, port 465) "
                           "or starttls: true (port 587), not both", {}))
        encrypted = self.starttls or self.tls
        if self.username is not None and not encrypted and not _is_loopback(self.host):
            errors.append(("starttls", "smtp_cleartext", "login to {host} without STARTTLS "
                           "or TLS would send the password in clear; set starttls: true "
                           "(port 587) or tls: true (port 465)", {"host": self.host}))
        if self.ca_file is not None and not encrypted:
            errors.append(("ca_file", "smtp_ca", "ca_file is only used with starttls: true "
                           "or tls: true", {}))
        _fail("Email", errors)
        return self


def _check_chat_id(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,}", value):
        return value
    raise PydanticCustomError("chat_id", "{value} is not a Telegram chat id: give a number "
                              "(groups are negative, e.g. -1001234567890) or @channelusername",
                              {"value": repr(value)[:80]})


ChatId = Annotated[int | str, PlainValidator(_check_chat_id), WithJsonSchema({
    "anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^(-?[0-9]+|@[A-Za-z]"
                                                                 "[A-Za-z0-9_]{3,})$"}]})]


class Telegram(BaseModel):
    """A Telegram chat that gets each notification from a bot (Bot API sendMessage).

    The bot token comes from token_env or token_file (inline is discouraged); it is part
    of the API URL and never appears in logs or errors.
    """

    model_config = _STRICT

    name: Id = Field(description="names the receiver in logs and errors")
    chat_id: ChatId = Field(description="numeric chat id (groups are negative) or @channelusername")
    token: InlineSecret | None = Field(None, description="inline is discouraged")
    token_env: EnvName | None = None
    token_file: str | None = None
    base_url: ReceiverUrl = Field("https://api.telegram.org", description=(
        "Bot API server (a local Bot API server, or a test's)"))
    parse_mode: Literal["HTML"] | None = Field(None, description=(
        "HTML: the text is escaped and the severity tag set in bold; none: plain text"))
    language: Literal["vi", "en"] = Field("vi", description="language of the message")
    timeout: Annotated[float, Field(gt=0, le=300)] = Field(
        10.0, description="seconds one request may take")

    def token_sources(self) -> list[str]:
        """Names of the fields that supply the bot token."""
        return [f for f in ("token", "token_env", "token_file") if getattr(self, f) is not None]

    @model_validator(mode="after")
    def _check_telegram(self) -> Telegram:
        errors: list[tuple[str | None, str, str, dict[str, Any]]] = []
        sources = self.token_sources()
        if not sources:
            errors.append((None, "token_missing", "the bot token is missing; give token_env "
                           "or token_file", {}))
        for f in sources[1:]:
            errors.append((f, "secret_sources", "the token is given more than once ({fields}); "
                           "give one of token_env, token_file or token",
                           {"fields": ", ".join(sources)}))
        _fail("Telegram", errors)
        return self


class Alerts(BaseModel):
    """Alert evaluation in the service: rules, engine state, outbox and receivers."""

    model_config = _STRICT

    rules: str | None = Field(None, description=(
        "rules file, relative to the inventory file's directory; none: the built-in rules"))
    state_dir: str = Field("var/alerts", min_length=1, description=(
        "engine state (state.json) and the outbox (outbox.sqlite), relative to the "
        "inventory file's directory"))
    tick: Annotated[float, Field(gt=0, le=300)] = Field(
        5.0, description="seconds between evaluations of the rules")
    dashboard_url: ReceiverUrl | None = Field(None, description=(
        "link put in notifications; {site} is replaced by the first affected site id"))
    retry_initial: Seconds = Field(1.0, description="first retry delay of a failed delivery")
    retry_max: Seconds = Field(60.0, description="cap on the retry delay (exponential, jittered)")
    webhooks: tuple[Webhook, ...] = ()
    alertmanager: tuple[Alertmanager, ...] = Field((), description=(
        "Alertmanager(s): one mapping, or a list with one entry (own name) per member of "
        "an Alertmanager cluster; every one gets every alert, as Prometheus sends them"))
    email: tuple[Email, ...] = Field((), description="e-mail receivers (SMTP)")
    telegram: tuple[Telegram, ...] = Field((), description="Telegram chats (Bot API)")

    @model_validator(mode="after")
    def _check_alerts(self) -> Alerts:
        errors: list[tuple[str | None, str, str, dict[str, Any]]] = []
        if self.retry_initial > self.retry_max:
            errors.append(("retry_initial", "retry_order", "retry_initial {a} s is longer "
                           "than retry_max {b} s", {"a": _num(self.retry_initial),
                                                    "b": _num(self.retry_max)}))
        names = self.receiver_names()
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            # on the first list that holds a repeated name (its line in the file)
            where = next(f for f in ("webhooks", "email", "telegram", "alertmanager")
                         if any(r.name in dup for r in self._receivers(f)))
            errors.append((where, "receiver_names", "receiver names must be unique; "
                           "repeated: {names}", {"names": ", ".join(dup)}))
        _fail("Alerts", errors)
        return self

    @field_validator("alertmanager", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        # one Alertmanager is written as a mapping, a cluster as a list of them
        return (value,) if isinstance(value, dict) else value

    def _receivers(self, field: str) -> tuple[Any, ...]:
        value = getattr(self, field)
        return () if value is None else value if isinstance(value, tuple) else (value,)

    def receiver_names(self) -> list[str]:
        """Every receiver's name, in the order the outbox lists them."""
        return [r.name for f in ("webhooks", "alertmanager", "email", "telegram")
                for r in self._receivers(f)]


# ----------------------------------------------------------------------------- traps

DEFAULT_TRAP_LISTEN = "0.0.0.0:1162"


def _check_trap_listen(value: Any) -> str:
    """'ADDRESS:PORT' with a literal IP address ('[v6]:PORT' for IPv6); port 0 = any (tests)."""
    if not isinstance(value, str):
        raise PydanticCustomError("listen", "expected 'ADDRESS:PORT', e.g. 0.0.0.0:1162")
    host, sep, port = value.rpartition(":")
    try:
        ipaddress.ip_address(host.strip("[]"))
        ok = bool(sep) and port.isdigit() and 0 <= int(port) <= 65535
    except ValueError:
        ok = False
    if not ok:
        raise PydanticCustomError("listen", "'{value}' is not 'ADDRESS:PORT' with an IP "
                                  "address and a port 0..65535, e.g. 0.0.0.0:1162",
                                  {"value": value})
    return value


class Traps(BaseModel):
    """The SNMP trap and inform receiver (collector/traps): where it listens, its limits."""

    model_config = _STRICT

    listen: Annotated[str, PlainValidator(_check_trap_listen)] = Field(
        DEFAULT_TRAP_LISTEN, description=(
            "UDP address of the receiver. Port 162 needs CAP_NET_BIND_SERVICE (or root); the "
            "default 1162 does not: point the devices at it, or redirect 162 to it"))
    engine_id: EngineId | None = Field(None, description=(
        "the receiver's own SNMPv3 engine ID in hex (informs are sent to it); default one "
        "derived from the host name and the listen address"))
    rate_per_source: Annotated[float, Field(gt=0, le=100_000)] = Field(
        20.0, description="traps per second accepted from one device (token bucket)")
    burst: int = Field(50, ge=1, le=100_000, description=(
        "traps one device may send at once before its rate applies"))
    queue: int = Field(1000, ge=1, le=1_000_000, description=(
        "traps waiting to be decoded; more are dropped and counted"))


# ----------------------------------------------------------------------------- reports

class CandidateLink(BaseModel):
    """A new link planners could build, between two existing sites (`borderwatch report`)."""

    model_config = _STRICT

    a: Id = Field(description="site id of one end")
    b: Id = Field(description="site id of the other end")
    medium: Literal[MEDIA] | None = None  # type: ignore[valid-type]
    capacity_mbps: float | None = Field(None, gt=0)
    note: Text | None = None

    @model_validator(mode="after")
    def _check_ends(self) -> CandidateLink:
        if self.a == self.b:
            _fail("CandidateLink", [("b", "same_ends", "both ends are site {s}; a link joins "
                                     "two different sites", {"s": self.a})])
        return self


Percent = Annotated[float, Field(gt=0, le=100)]


class Reports(BaseModel):
    """What planners' reports need beyond the network itself: SLA targets and candidates."""

    model_config = _STRICT

    sla: dict[Literal[SITE_KINDS], Percent] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="availability target in % per site kind, "
        "e.g. {border_post: 99.5}")
    candidate_links: tuple[CandidateLink, ...] = Field((), description=(
        "new links to weigh for the 'one new link' advice (with max_new_link_km, every "
        "site pair within that distance is weighed too)"))
    max_new_link_km: float | None = Field(None, gt=0, le=1000, description=(
        "also weigh every pair of sites within this distance (great circle, lat/lon)"))
    util_p95_threshold: float = Field(0.8, gt=0, le=1, description=(
        "a link whose p95 utilisation (ratio of capacity) exceeds this runs hot"))


# ----------------------------------------------------------------------------- the whole

@dataclass(frozen=True)
class EffectiveDeviceSettings:
    """A device's polling settings with its overrides merged over `defaults`."""

    device_id: str
    site_id: str
    address: str
    port: int
    credential_name: str | None  # None: an ICMP-only device (snmp false)
    credential: Credential | None
    profile: str | tuple[str, ...]
    interval: float
    timeout: float | str  # seconds, or "auto"
    retries: int | str  # resends, or "auto"
    max_repetitions: int
    poll_deadline: float
    accept_any_source: bool
    limits: DeviceLimits | None = None
    snmp: bool = True  # polled over SNMP
    icmp: bool = True  # pinged (defaults.icmp.enabled unless the device says otherwise)


def effective_settings(device: Device, site_id: str, defaults: Defaults,
                       credential: Credential | None) -> EffectiveDeviceSettings:
    """Merge a device's overrides over the defaults (the one place that does it)."""
    interval = device.interval if device.interval is not None else defaults.interval
    if not device.snmp:  # pinged only: its "polls" are the pinger's rounds
        interval = defaults.icmp.interval
    deadline = device.poll_deadline or defaults.poll_deadline or interval * 0.8
    return EffectiveDeviceSettings(
        device_id=device.id, site_id=site_id, address=device.address,
        port=device.port if device.port is not None else defaults.port,
        credential_name=device.credential, credential=credential, profile=device.profile,
        interval=interval,
        timeout=device.timeout if device.timeout is not None else defaults.timeout,
        retries=device.retries if device.retries is not None else defaults.retries,
        max_repetitions=(device.max_repetitions if device.max_repetitions is not None
                         else defaults.max_repetitions),
        poll_deadline=deadline, accept_any_source=device.accept_any_source,
        limits=device.limits, snmp=device.snmp,
        icmp=device.icmp if device.icmp is not None else
        # A lab-simulated device's address is the lab's loopback, which answers ping
        # whatever fault the lab plays (a cut, a dead node): not pinged unless asked.
        defaults.icmp.enabled and device.sim_profile is None,
    )


class Inventory(BaseModel):
    """The validated inventory. Load it with `collector.inventory.load_inventory`."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="borderwatch inventory")

    schema_version: Literal[1]
    province: Text | None = None
    as_of: str | datetime.date | None = None
    coordinates_are_approximate: bool | None = None
    notes: Text | None = None
    credentials: dict[Id, Credential] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    sites: tuple[Site, ...] = ()
    links: tuple[Link, ...] = ()
    influx: Influx | None = Field(None, description="write measurements to InfluxDB too")
    alerts: Alerts | None = Field(None, description=(
        "evaluate alert rules in the service and deliver notifications"))
    reports: Reports | None = Field(None, description=(
        "SLA targets and link candidates for `borderwatch report`"))
    traps: Traps | None = Field(None, description=(
        "receive SNMP traps and informs from the inventory's devices"))

    _devices: dict[str, tuple[Device, str]] = PrivateAttr(default_factory=dict)
    _warnings: tuple = PrivateAttr(default=())

    @field_validator("credentials", mode="before")
    @classmethod
    def _no_null_credentials(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _check_references(self, info: ValidationInfo) -> Inventory:
        # load_inventory runs these checks itself, with line numbers, even on a broken file;
        # this covers inventories built in code.
        if (info.context or {}).get("crossrefs_done"):
            return self
        from borderwatch.collector.inventory.crossrefs import (
            check_crossrefs,  # it imports this module
        )

        found = check_crossrefs(self.model_dump(mode="json"), {})
        issues = [i for i in found if i.severity == "error"]
        if issues:
            raise ValidationError.from_exception_data("Inventory", [
                InitErrorDetails(type=PydanticCustomError("reference", "{message}",
                                                          {"message": i.message}),
                                 loc=i.loc, input=None) for i in issues])
        return self

    def model_post_init(self, __context: Any) -> None:
        self._devices = {d.id: (d, s.id) for s in self.sites for d in s.devices}

    @property
    def devices(self) -> tuple[Device, ...]:
        """Every device of every site, in file order."""
        return tuple(d for d, _ in self._devices.values())

    @property
    def warnings(self) -> tuple:
        """Problems that did not stop loading (inline secrets, readable secret files...)."""
        return self._warnings

    def device(self, device_id: str) -> Device:
        """The device with this id (KeyError if there is none)."""
        return self._devices[device_id][0]

    def site_of(self, device: Device | str) -> Site:
        """The site a device belongs to."""
        site_id = self._devices[device if isinstance(device, str) else device.id][1]
        return next(s for s in self.sites if s.id == site_id)

    def effective(self, device: Device | str) -> EffectiveDeviceSettings:
        """The device's settings with its overrides merged over `defaults`."""
        dev, site_id = self._devices[device if isinstance(device, str) else device.id]
        cred = self.credentials[dev.credential] if dev.credential is not None else None
        return effective_settings(dev, site_id, self.defaults, cred)

    def secret(self, credential: str, which: str = "community") -> Secret:
        """A resolved secret of a credential (KeyError if it was not resolved or not given)."""
        value = getattr(self.credentials[credential], which)
        if value is None:
            raise KeyError(f"credential {credential} has no resolved {which}")
        return value
