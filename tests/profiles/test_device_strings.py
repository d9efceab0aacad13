"""The one sanitising step for device strings (collector/device_strings.py), for ANY bytes.

Pure functions, so hypothesis drives them with arbitrary bytes and arbitrary Unicode; the
end-to-end proof against a real agent and a real process is
tests/runtime/test_hostile_strings.py.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderwatch.collector.device_strings import MAX_CHARS, clean_text, escape_controls

NFD_POST = unicodedata.normalize("NFD", "Đồn Biên phòng Chi Ma").encode()


def _safe(text: str) -> bool:
    """No control character (Cc), line or paragraph separator, or bidi override."""
    return not [c for c in text if unicodedata.category(c) in ("Cc", "Zl", "Zp")
                or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]


@pytest.mark.parametrize(("raw", "text", "cut"), [
    (b"GigabitEthernet0/1", "GigabitEthernet0/1", False),
    (b"Gi0/1\x00\x00", "Gi0/1", False),                       # C string padding
    (b"  \t ", "", False),                                    # blank is empty: falls back
    (b"Huawei VRP\r\nVersion 8.180\r\n", "Huawei VRP Version 8.180", False),
    (b"a\x1b[31mb\x00c\x7fd", "a\ufffd[31mb\ufffdc\ufffdd", False),
    ("x\u0085y\u2028z\u202eevil".encode(), "x y z\ufffdevil", False),
    (b"uplink \xff\xfe", "uplink \ufffd\ufffd", False),       # invalid UTF-8
    ("\ufeffGi0/1\u200b".encode(), "Gi0/1", False),              # looks like Gi0/1: is it
    ("Bie\u200b\u0302n".encode(), "Biên", False),                  # NFC after the drop
    (NFD_POST, "Đồn Biên phòng Chi Ma", False),
    (b"A" * 10_000, "A" * 255 + "…", True),
    (b"A" * 256, "A" * 256, False),
    (b"A" * 257, "A" * 255 + "…", True),
    # the cut never separates a letter from its mark: q + U+0301 has no composed form,
    # so the cut at 255 would fall between them; it falls before the q instead
    (b"a" * 254 + "q\u0301".encode() + b"zz", "a" * 254 + "…", True),
])
def test_clean_text_examples(raw: bytes, text: str, cut: bool) -> None:
    assert clean_text(raw) == (text, cut)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=6000))
def test_any_bytes_become_safe_bounded_nfc_text(raw: bytes) -> None:
    text, cut = clean_text(raw)
    assert len(text) <= MAX_CHARS
    assert unicodedata.is_normalized("NFC", text)
    assert _safe(text) and not set(text) & {"\u200b", "\u2060", "\ufeff"}
    assert text == text.strip()
    assert not cut or text.endswith("…")
    assert clean_text(text.encode()) == (text, False)  # cleaning is idempotent


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_any_unicode_text_survives_unless_unsafe(value: str) -> None:
    text, cut = clean_text(value.encode())
    if _safe(value) and len(value) <= MAX_CHARS and value == value.strip() \
            and unicodedata.is_normalized("NFC", value) and not value.endswith("\x00") \
            and not set(value) & {"\u200b", "\u2060", "\ufeff"}:
        assert (text, cut) == (value, False)  # a clean string passes untouched


@given(st.text())
def test_escape_controls_keeps_one_line_and_all_printable_text(value: str) -> None:
    out = escape_controls(value)
    assert "\n" not in out and "\r" not in out and _safe(out)
    if _safe(value):
        assert out == value
