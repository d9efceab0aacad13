"""collector.text_columns: display widths, visible cuts, and fitting a table to a width."""

from __future__ import annotations

import pytest

from borderwatch.collector.text_columns import Column, cut, fit, text_width


@pytest.mark.parametrize(("text", "width"), [
    ("GigabitEthernet0/1", 18),
    ("Lạng Sơn", 8),            # NFC: one column a letter
    ("x\u0303y", 2),            # a mark NFC cannot compose takes no column
    ("谅山光纤", 8),             # CJK: two columns a character
    ("\ufffd", 1),              # the replacement character of a cleaned control
])
def test_text_width(text: str, width: int) -> None:
    assert text_width(text) == width


@pytest.mark.parametrize(("text", "width", "shown"), [
    ("GigabitEthernet0/1", 18, "GigabitEthernet0/1"),   # fits: untouched
    ("GigabitEthernet0/1", 10, "GigabitEt…"),
    ("谅山光纤", 6, "谅山…"),                            # 5 columns: no half character
    ("谅山光纤", 5, "谅山…"),
    ("ax\u0303bc", 3, "ax\u0303…"),                    # the mark stays with its letter
    ("ax\u0303bc", 2, "a…"),
])
def test_cut_is_visible_and_never_splits_a_character(text: str, width: int, shown: str
                                                     ) -> None:
    assert cut(text, width) == shown
    assert text_width(cut(text, width)) <= width


COLUMNS = (Column("ID", right=True), Column("NAME", shrink=2, min_width=6),
           Column("COUNT", right=True, drop=1), Column("NOTE", shrink=1, min_width=6, drop=2))
ROWS = [["1", "GigabitEthernet0/1", "12345", "uplink to Thanh Lòa"],
        ["22", "光口5", "7", "-"]]


@pytest.mark.parametrize(("width", "lines", "was_cut", "left_out"), [
    (None, ["ID  NAME                COUNT  NOTE",
            " 1  GigabitEthernet0/1  12345  uplink to Thanh Lòa",
            "22  光口5                   7  -"], False, []),
    (40, ["ID  NAME                COUNT  NOTE",     # the note is cut first
          " 1  GigabitEthernet0/1  12345  uplink t…",
          "22  光口5                   7  -"], True, []),
    (30, ["ID  NAME         COUNT  NOTE",             # to its minimum, then the name
          " 1  GigabitEth…  12345  uplin…",
          "22  光口5            7  -"], True, []),
    (20, ["ID  NAME      NOTE",                      # COUNT is left out, never cut
          " 1  Gigabit…  uplin…",
          "22  光口5     -"], True, ["COUNT"]),
])
def test_fit_cuts_then_leaves_out_in_the_declared_order(width: int | None, lines: list[str],
                                                        was_cut: bool, left_out: list[str]
                                                        ) -> None:
    table = fit(COLUMNS, ROWS, width)
    assert (table.lines, table.cut, table.left_out) == (lines, was_cut, left_out)
