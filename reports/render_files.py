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

from reports.tables import tables


def to_json(doc: dict[str, Any]) -> str:
    """The document as JSON text (UTF-8, names unescaped: they are Vietnamese)."""
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


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
