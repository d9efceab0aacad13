"""USM cryptography (RFC 3414, RFC 3826, RFC 7860): key localisation, HMAC, DES and AES.

No I/O and no BER here: `v3_message` frames messages and calls these. Everything a
session needs for one agent engine sits in `EngineKeys` (localised keys, which are as
secret as the passwords: its repr shows only the protocols).

- Passwords become keys as RFC 3414 A.2 says: the password repeated to 1 MiB is hashed
  (Ku), then localised to the agent's engine ID: H(Ku + engineID + Ku). The 1 MiB hash
  costs milliseconds, so Ku is cached per (password, hash) for the life of the process;
  localisation is one short hash per engine ID.
- Authentication: HMAC over the whole message with the MAC field zeroed, truncated to
  12 bytes (MD5, SHA-1) or to the RFC 7860 lengths (16/24/32/48 for SHA-224/256/384/512).
- Privacy keys are localised with the *auth* protocol's hash, as RFC 3414 and net-snmp do.
  AES-192/256 need more bytes than SHA-1 gives: "AES-192"/"AES-256" extend the key the
  Blumenthal way (append H(key so far)), as net-snmp does; "-C" names the Reeder way
  (append the localisation of the key so far taken as a password), as Cisco does.
- DES-CBC (RFC 3414 8.1): key = first 8 bytes, pre-IV = next 8; salt = boots || counter;
  IV = pre-IV XOR salt; the plaintext is padded to 8 bytes (receivers ignore the padding).
  AES-CFB128 (RFC 3826): IV = boots || time || salt (8 bytes), no padding.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from borderwatch.collector.snmp.types import SnmpError

CRYPTO_MISSING = "SNMPv3 privacy needs the cryptography package (pip install cryptography)"

HashFactory = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class AuthProtocol:
    """An HMAC authentication protocol: its hash and the length of the MAC on the wire."""

    name: str
    hash_name: str
    mac_length: int

    def new_hash(self, data: bytes = b"") -> Any:
        """A fresh hashlib object of this protocol's hash."""
        return hashlib.new(self.hash_name, data)


AUTH_PROTOCOLS: dict[str, AuthProtocol] = {
    "MD5": AuthProtocol("MD5", "md5", 12),
    "SHA": AuthProtocol("SHA", "sha1", 12),
    "SHA-224": AuthProtocol("SHA-224", "sha224", 16),
    "SHA-256": AuthProtocol("SHA-256", "sha256", 24),
    "SHA-384": AuthProtocol("SHA-384", "sha384", 32),
    "SHA-512": AuthProtocol("SHA-512", "sha512", 48),
}


@dataclass(frozen=True, slots=True)
class PrivProtocol:
    """A privacy protocol: cipher, key length, and how a short localised key is extended."""

    name: str
    cipher: str  # "des" or "aes"
    key_length: int  # bytes of localised key used (DES: 8 key + 8 pre-IV)
    extension: str  # "none", "blumenthal" or "reeder"


PRIV_PROTOCOLS: dict[str, PrivProtocol] = {
    "DES": PrivProtocol("DES", "des", 16, "none"),
    "AES-128": PrivProtocol("AES-128", "aes", 16, "none"),
    "AES-192": PrivProtocol("AES-192", "aes", 24, "blumenthal"),
    "AES-256": PrivProtocol("AES-256", "aes", 32, "blumenthal"),
    "AES-192-C": PrivProtocol("AES-192-C", "aes", 24, "reeder"),
    "AES-256-C": PrivProtocol("AES-256-C", "aes", 32, "reeder"),
}

_MIB = 1_048_576


def password_to_ku(password: bytes, auth: AuthProtocol) -> bytes:
    """RFC 3414 A.2.1/A.2.2 step 1: hash the password repeated to 1 MiB (not localised)."""
    if not password:
        raise ValueError("an SNMPv3 password may not be empty")
    # 64 * len(password) bytes are a whole number of passwords; feed 1 MiB in blocks of
    # that (a multiple of 64 too), then the remainder: the same stream as byte by byte.
    block = password * 64
    h = auth.new_hash()
    whole, rest = divmod(_MIB, len(block))
    for _ in range(whole):
        h.update(block)
    h.update(block[:rest])
    return h.digest()


def localize(ku: bytes, engine_id: bytes, auth: AuthProtocol) -> bytes:
    """RFC 3414 A.2 step 2: the key for one agent engine, H(Ku + engineID + Ku)."""
    return auth.new_hash(ku + engine_id + ku).digest()


def localize_priv(ku: bytes, engine_id: bytes, auth: AuthProtocol, priv: PrivProtocol) -> bytes:
    """The localised privacy key, extended to the cipher's length where it is short."""
    key = localize(ku, engine_id, auth)
    while len(key) < priv.key_length:
        if priv.extension == "blumenthal":
            key += auth.new_hash(key).digest()
        elif priv.extension == "reeder":
            key += localize(password_to_ku(key, auth), engine_id, auth)
        else:  # DES with MD5/SHA-1 is 16 bytes already; every hash gives at least 16
            raise ValueError(f"{priv.name} needs {priv.key_length} key bytes")
    return key[:priv.key_length]


_KU_CACHE: dict[tuple[str, bytes], bytes] = {}


def cached_ku(password: bytes, auth: AuthProtocol) -> bytes:
    """password_to_ku, computed once per (password, hash) in the process.

    Keyed by a digest of the password, so the cache's keys are not the passwords; its
    values are master keys, exactly as secret as the passwords the settings already hold.
    """
    tag = (auth.hash_name, hashlib.sha256(b"bw-usm-ku\0" + password).digest())
    ku = _KU_CACHE.get(tag)
    if ku is None:
        ku = _KU_CACHE[tag] = password_to_ku(password, auth)
    return ku


def _cipher_modules() -> tuple[Any, Any, Any, Any, Any]:
    """(Cipher, AES, CFB, CBC, TripleDES) from `cryptography`, wherever this version keeps
    them (CFB and TripleDES moved to `decrepit` in 43-47; the old names warn, then go)."""
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError as exc:
        raise SnmpError(CRYPTO_MISSING) from exc
    try:
        from cryptography.hazmat.decrepit.ciphers.modes import CFB
    except ImportError:
        CFB = modes.CFB  # cryptography < 47
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:
        TripleDES = algorithms.TripleDES  # cryptography < 43
    return Cipher, algorithms.AES, CFB, modes.CBC, TripleDES


_CIPHERS: tuple[Any, Any, Any, Any, Any] | None = None


def ciphers() -> tuple[Any, Any, Any, Any, Any]:
    """The cipher classes, imported once; SnmpError(CRYPTO_MISSING) without `cryptography`."""
    global _CIPHERS
    if _CIPHERS is None:
        _CIPHERS = _cipher_modules()
    return _CIPHERS


class EngineKeys:
    """The localised keys of one credential set for one agent engine ID.

    Holds key material: never logged, and repr shows the protocols only.
    """

    __slots__ = ("_auth_key", "_priv_key", "_salt", "auth", "engine_id", "priv")

    def __init__(self, engine_id: bytes, auth: AuthProtocol | None, auth_password: bytes | None,
                 priv: PrivProtocol | None, priv_password: bytes | None) -> None:
        self.engine_id = engine_id
        self.auth = auth
        self.priv = priv
        self._auth_key = b""
        self._priv_key = b""
        if auth is not None and auth_password is not None:
            self._auth_key = localize(cached_ku(auth_password, auth), engine_id, auth)
            if priv is not None and priv_password is not None:
                self._priv_key = localize_priv(cached_ku(priv_password, auth), engine_id,
                                               auth, priv)
                ciphers()  # fail now, not at the first request, without `cryptography`
        # The salt only has to be unique per key: start at random, count up.
        self._salt = secrets.randbits(64)

    def __repr__(self) -> str:
        return (f"EngineKeys(auth={self.auth.name if self.auth else None}, "
                f"priv={self.priv.name if self.priv else None})")

    # ------------------------------------------------------------------ auth

    def mac(self, whole_message: bytes) -> bytes:
        """The truncated HMAC of a message whose MAC field is zeroed."""
        assert self.auth is not None
        return hmac.new(self._auth_key, whole_message, self.auth.hash_name).digest()[
            :self.auth.mac_length]

    def verify(self, whole_message_zeroed: bytes, mac: bytes) -> bool:
        """Whether `mac` authenticates the message (compared in constant time)."""
        return self.auth is not None and len(mac) == self.auth.mac_length and \
            hmac.compare_digest(self.mac(whole_message_zeroed), mac)

    # ------------------------------------------------------------------ privacy

    def encrypt(self, plaintext: bytes, boots: int, engine_time: int) -> tuple[bytes, bytes]:
        """(ciphertext, msgPrivacyParameters) of a serialised scoped PDU."""
        assert self.priv is not None
        cipher_cls, aes, cfb, cbc, des3 = ciphers()
        key = self._priv_key
        if self.priv.cipher == "aes":
            self._salt = (self._salt + 1) & 0xFFFFFFFFFFFFFFFF
            salt = self._salt.to_bytes(8, "big")
            iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt
            enc = cipher_cls(aes(key), cfb(iv)).encryptor()
            return enc.update(plaintext) + enc.finalize(), salt
        self._salt = (self._salt + 1) & 0xFFFFFFFF
        salt = boots.to_bytes(4, "big") + self._salt.to_bytes(4, "big")
        iv = bytes(a ^ b for a, b in zip(salt, key[8:16], strict=True))
        padded = plaintext + bytes(-len(plaintext) % 8)
        enc = cipher_cls(des3(key[:8] * 3), cbc(iv)).encryptor()  # K1=K2=K3: single DES
        return enc.update(padded) + enc.finalize(), salt

    def decrypt(self, ciphertext: bytes, boots: int, engine_time: int,
                priv_params: bytes) -> bytes:
        """The plaintext of an encrypted PDU; ValueError if its framing is impossible."""
        assert self.priv is not None
        if len(priv_params) != 8:
            raise ValueError("msgPrivacyParameters is not 8 bytes")
        cipher_cls, aes, cfb, cbc, des3 = ciphers()
        key = self._priv_key
        if self.priv.cipher == "aes":
            iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + priv_params
            dec = cipher_cls(aes(key), cfb(iv)).decryptor()
            return dec.update(ciphertext) + dec.finalize()
        if len(ciphertext) % 8:
            raise ValueError("DES ciphertext is not a multiple of 8 bytes")
        iv = bytes(a ^ b for a, b in zip(priv_params, key[8:16], strict=True))
        dec = cipher_cls(des3(key[:8] * 3), cbc(iv)).decryptor()
        return dec.update(ciphertext) + dec.finalize()
