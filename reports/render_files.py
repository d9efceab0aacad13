"""Writing a rendered report: JSON and HTML to a file or stdout, CSV to a directory or a
zip (one table per file: spreadsheets and BI tools read one table per CSV)."""

from __future__ import annotations

import csv
import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

from borderwatch.reports.tables import tables

_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # names unescaped: they are Vietnamese
_EXPANDED = 2  # containers nested deeper than this stay on one line


def to_json(doc: dict[str, Any]) -> str:
    """The document as JSON text (UTF-8): sections and tables laid out one key or row per
    line, each row on one line. Not `indent=`: that takes the pure-Python encoder, about a
    second for a year's report; rows encoded by the C encoder cost a tenth of it."""
    return _layout(doc, 0) + "\n"


def _layout(value: Any, depth: int) -> str:
    pad = " " * (depth + 1)
    if depth < _EXPANDED and isinstance(value, dict) and value:
        body = ",\n".join(f"{pad}{_ENCODE(str(k))}: {_layout(v, depth + 1)}"
                          for k, v in value.items())
        return f"{{\n{body}\n{pad[:-1]}}}"
    if depth <= _EXPANDED and isinstance(value, list) and value:
        body = ",\n".join(pad + _ENCODE(v) for v in value)
        return f"[\n{body}\n{pad[:-1]}]"
    return _ENCODE(value)


def csv_files(doc: dict[str, Any]) -> dict[str, str]:
    """File name → CSV text, one table each (UTF-8 with BOM: Excel then reads the
    Vietnamese names right; every other reader skips it)."""
    out = {}
    for name, header, rows in tables(doc):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(header)
        w.writerows(rows)
        out[f"{name}.csv"] = "\ufeff" + buf.getvalue()
    return out


def write_text(content: str, output: str | None) -> None:
    """To the file, or to stdout without -o."""
    if output is None or output == "-":
        sys.stdout.write(content)
        sys.stdout.flush()
    else:
        Path(output).write_text(content, encoding="utf-8")


def write_csv(doc: dict[str, Any], output: str) -> list[str]:
    """A zip when the name ends in .zip, else a directory (created); the names written."""
    files = csv_files(doc)
    target = Path(output)
    if target.suffix.lower() == ".zip":
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, content in files.items():
                zf.writestr(name, content.encode("utf-8"))
        return [f"{target}:{name}" for name in files]
    target.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (target / name).write_text(content, encoding="utf-8")
    return [str(target / name) for name in files]
