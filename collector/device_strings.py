"""Strings from devices are input, not text: the one place where OctetStrings become `str`.

An agent's DisplayStrings (sysDescr, sysName, ifName, ifDescr, ifAlias, sensor names...)
end up in Prometheus labels, InfluxDB tags, log lines, the status page and the terminal.
A broken or hostile firmware can put anything in them: CR LF (Huawei sysDescr), a newline
that forges a log record, ESC sequences that drive a terminal, NUL, invalid UTF-8,
10,000 characters, or Vietnamese in NFD, which looks the same as NFC but is another
label value. So every OctetString is cleaned once, here, where it enters (the mapper):

  1. trailing NUL padding is dropped (C strings sent with their terminator);
  2. bytes are decoded as UTF-8; an invalid sequence becomes U+FFFD;
  3. line breaks and tabs (CR, LF, TAB, VT, FF, NEL, U+2028/9) become one space per run;
     every other control character (C0, DEL, C1) and the bidirectional overrides, which
     reorder what a person reads, become U+FFFD; invisible characters that only make two
     equal-looking values differ (a BOM, zero-width space, word joiner) are dropped;
  4. the text is normalised to Unicode NFC (after 3, which may join a letter and its mark);
  5. leading and trailing white space is stripped (a whitespace-only ifName is empty,
     so it falls back like a missing one);
  6. the result is bounded to MAX_CHARS characters (SNMP's DisplayString is 0..255
     octets): a longer one is cut, not inside a combining sequence, and ends in "…".
     The caller counts truncations (borderwatch_device_strings_truncated_total).

Outputs still escape for their own syntax (label quoting, line protocol, HTML); the
log formatter and the `poll` table also escape control characters from any other source
with `escape_controls`.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 256  # per string, "…" included: DisplayString's 255 octets and one to spare
ELLIPSIS = "…"
REPLACEMENT = "\ufffd"
# Enough bytes for MAX_CHARS characters even in NFD with several marks per letter; the
# rest of a longer value is never decoded (a 60 kB OctetString costs no more than 4 kB).
_MAX_BYTES = 16 * MAX_CHARS

_BREAKS = "\t\n\v\f\r\x85\u2028\u2029"
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_INVISIBLE = re.compile("[\u200b\u2060\ufeff]")
_BREAK_RUNS = re.compile(f"[{_BREAKS}]+")
_OTHER_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f" + _BIDI + "]")
# A byte string that needs none of the steps above but the strip: printable ASCII.
_PLAIN_ASCII = re.compile(rb"[\x20-\x7e]*")


def clean_text(raw: bytes, limit: int = MAX_CHARS) -> tuple[str, bool]:
    """An OctetString as safe text (steps 1-6 above) and whether it was truncated."""
    raw = raw.rstrip(b"\x00")
    if len(raw) <= limit and _PLAIN_ASCII.fullmatch(raw):
        # The common case (ifName "Gi0/1"): no decoding surprises, no controls, short.
        return raw.decode("ascii").strip(" "), False
    cut_bytes = len(raw) > _MAX_BYTES
    text = raw[:_MAX_BYTES].decode("utf-8", "replace")
    text = _BREAK_RUNS.sub(" ", text)
    text = _OTHER_CONTROLS.sub(REPLACEMENT, text)
    text = _INVISIBLE.sub("", text)
    # last: a dropped zero-width space may have stood between a letter and its mark
    text = unicodedata.normalize("NFC", text)
    text = text.strip()
    if len(text) <= limit and not cut_bytes:
        return text, False
    return _truncate(text, limit), True


def _truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with a final "…", never between a letter and its mark."""
    end = min(len(text), limit - 1)
    # text[end] is the first character cut: back off while it is a mark of the one before
    while 0 < end < len(text) and unicodedata.combining(text[end]):
        end -= 1
    return text[:end].rstrip() + ELLIPSIS


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ANY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029" + _BIDI + "]")


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100
                                  else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """`text` with every control character shown as an escape (\\n, \\x1b, \\u2028).

    For outputs read by people line by line (log records, the `poll` table): whatever a
    string holds, it stays on its line and cannot move the cursor or recolour a terminal.
    """
    if _ANY_CONTROL.search(text) is None:
        return text
    return _ANY_CONTROL.sub(_escape_one, text)
