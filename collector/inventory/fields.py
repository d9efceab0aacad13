"""Reusable field types for the inventory models: ids, addresses, text, secrets, protocol names.

Each type validates with a message that names the allowed values, and carries its own JSON
Schema so that editors see the same rules the loader enforces.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from borderwatch.collector.secret import Secret

ID_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$"
ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")

AUTH_PROTOCOLS = ("MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512")
PRIV_PROTOCOLS = ("DES", "AES-128", "AES-192", "AES-256")
# Spellings people copy from net-snmp or vendor GUIs; the key is upper-case without '-'/'_'.
_AUTH_SPELLINGS = {p.replace("-", ""): p for p in AUTH_PROTOCOLS} | {"SHA1": "SHA"}
_PRIV_SPELLINGS = {p.replace("-", ""): p for p in PRIV_PROTOCOLS} | {"AES": "AES-128"}


def _squash(value: str) -> str:
    return value.upper().replace("-", "").replace("_", "")


def _check_id(value: str) -> str:
    if not re.match(ID_PATTERN, value):
        raise PydanticCustomError(
            "id_format",
            "'{value}' is not a valid id: use letters, digits, '.', '_' or '-', starting and "
            "ending with a letter or digit, at most 64 characters",
            {"value": value},
        )
    return value


def _check_env_name(value: str) -> str:
    if not re.match(ENV_PATTERN, value):
        # Not echoed: a secret typed into the *_env field by mistake is still a secret.
        raise PydanticCustomError(
            "env_name", "not a valid environment variable name (letters, digits and '_', "
            "not starting with a digit); the value is not shown")
    return value


def nfc(value: str) -> str:
    """Unicode NFC form; Vietnamese typed on macOS or copied from PDFs often arrives as NFD."""
    return unicodedata.normalize("NFC", value)


def _check_address(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "address_type", "must be a string holding an IPv4 address, IPv6 address or host "
            "name (quote it in YAML)")
    if ":" in value:
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise PydanticCustomError(
                "address", "'{value}' is not a valid IPv6 address", {"value": value}) from None
        return value
    if re.fullmatch(r"[0-9.]+", value):
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise PydanticCustomError(
                "address", "'{value}' is not a valid IPv4 address", {"value": value}) from None
        return value
    labels = value.removesuffix(".").split(".")
    if len(value) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise PydanticCustomError(
            "address", "'{value}' is not a valid IPv4 address, IPv6 address or host name",
            {"value": value})
    return value


def _protocol(spellings: dict[str, str], allowed: tuple[str, ...], kind: str):
    def check(value: Any) -> str:
        if isinstance(value, str) and _squash(value) in spellings:
            return spellings[_squash(value)]
        # Not echoed: swapping auth_protocol and auth_key lines is an easy mistake.
        raise PydanticCustomError(
            f"{kind}_protocol", "not a known {kind} protocol (value not shown); allowed: "
            "{allowed}", {"kind": kind, "allowed": ", ".join(allowed)})
    return check


def _to_secret(value: Any) -> Secret:
    # Never echo the input: it is a secret even when it is malformed.
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "secret_type", "must be a string (quote it in YAML); the value is not shown")
    if not value:
        raise PydanticCustomError("secret_empty", "must not be empty")
    return Secret(value, source="inline in the inventory")


Id = Annotated[str, AfterValidator(_check_id),
               WithJsonSchema({"type": "string", "pattern": ID_PATTERN})]
EnvName = Annotated[str, AfterValidator(_check_env_name),
                    WithJsonSchema({"type": "string", "pattern": ENV_PATTERN})]
Text = Annotated[str, AfterValidator(nfc)]
Address = Annotated[str, PlainValidator(_check_address), WithJsonSchema({
    "type": "string", "description": "IPv4 or IPv6 address literal, or a host name"})]
AuthProtocol = Annotated[str, PlainValidator(_protocol(_AUTH_SPELLINGS, AUTH_PROTOCOLS, "auth")),
                         WithJsonSchema({"enum": list(AUTH_PROTOCOLS)})]
PrivProtocol = Annotated[str, PlainValidator(_protocol(_PRIV_SPELLINGS, PRIV_PROTOCOLS, "priv")),
                         WithJsonSchema({"enum": [*PRIV_PROTOCOLS, "AES"],
                                         "description": "AES means AES-128"})]
InlineSecret = Annotated[Secret, PlainValidator(_to_secret), PlainSerializer(str, return_type=str),
                         WithJsonSchema({"type": "string", "writeOnly": True, "description":
                                         "inline secret (discouraged: use *_env or *_file)"})]


def _check_engine_id(value: Any) -> str:
    """An SNMP engine ID in hex: 5 to 32 bytes (RFC 3411), an optional 0x in front."""
    if isinstance(value, int):  # YAML reads an unquoted 0x80... or all-digit ID as a number
        raise PydanticCustomError("engine_id", "put the engine ID in quotes: YAML read it as "
                                  "the number {value}", {"value": value})
    text = value.removeprefix("0x") if isinstance(value, str) else ""
    if not re.fullmatch(r"([0-9A-Fa-f]{2}){5,32}", text):
        raise PydanticCustomError("engine_id", "'{value}' is not an engine ID: 5 to 32 bytes "
                                  "in hex, e.g. 80007ed90501020304", {"value": str(value)})
    return text.lower()


EngineId = Annotated[str, PlainValidator(_check_engine_id)]
