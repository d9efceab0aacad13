"""JSON checked against reports/report.schema.json, CSV parsed back (directory and zip),
both from the same real history, in both languages."""

from __future__ import annotations

import copy
import csv
import io
import json
import zipfile
from pathlib import Path

import jsonschema
import pytest
from report_history import DAY_END, EXPECTED, T0, run_report, small_world, write_inventory

from borderwatch.reports.period import Period
from borderwatch.reports.tables import TABLES

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "reports" / "report.schema.json")
                    .read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
P = Period(T0, DAY_END)
PERIOD = ["--from", P.label(T0).replace(" ", "T"), "--to", P.label(DAY_END).replace(" ", "T")]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    tmp = tmp_path_factory.mktemp("world")
    inv = write_inventory(tmp / "inv.yaml")
    return ["--inventory", str(inv), "--history", str(small_world(tmp / "history.sqlite"))]


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("by", ["site", "commune", "kind", "medium"])
def test_json_follows_its_schema(world: list[str], tmp_path: Path, lang: str, by: str) -> None:
    out = tmp_path / "r.json"
    result = run_report([*PERIOD, *world, "--format", "json", "--lang", lang, "--by", by,
                         "-o", str(out)])
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    errors = [f"{e.json_path}: {e.message}" for e in VALIDATOR.iter_errors(doc)]
    assert errors == []
    names = {s["id"]: s["name"] for s in doc["sites"]}
    assert names["bp-x"] == ("Đồn Biên phòng Thanh Lòa" if lang == "vi"
                             else "Thanh Loa border post")
    # the schema has teeth: a misspelt state or a missing field is refused
    broken = copy.deepcopy(doc)
    broken["sites"][0]["seconds"]["isolate"] = broken["sites"][0]["seconds"].pop("isolated")
    assert not VALIDATOR.is_valid(broken)
    broken = copy.deepcopy(doc)
    del broken["outages"][0]["root_cause"]
    assert not VALIDATOR.is_valid(broken)


def test_json_to_stdout(world: list[str]) -> None:
    result = run_report([*PERIOD, *world, "--format", "json"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["schema"] == "borderwatch-report/1"


def _read_csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")  # BOM: Excel reads the Vietnamese names right
    return list(csv.DictReader(io.StringIO(text[1:])))


def _check_tables(files: dict[str, str]) -> None:
    assert sorted(files) == sorted(f"{name}.csv" for name, _, _ in TABLES)
    sites = {r["id"]: r for r in _read_csv(files["sites.csv"])}
    for site, seconds in EXPECTED.items():
        assert {k: float(sites[site][f"seconds.{k}"]) for k in seconds} == seconds
    assert sites["bp-x"]["name_vi"] == "Đồn Biên phòng Thanh Lòa"
    outages = _read_csv(files["outages.csv"])
    assert [(o["incident"], o["root_cause"], o["sites"], float(o["duration_seconds"]))
            for o in outages] == [("inc-1", "site:hub-a", "hub-a bp-x", 3600.0),
                                  ("inc-2", "link:L2", "bp-x", 1800.0)]
    causes = _read_csv(files["root_causes.csv"])
    assert [(c["element"], float(c["site_hours"])) for c in causes] == \
        [("site:hub-a", 2.0), ("link:L2", 0.5)]
    spofs = {r["element"]: r["sites"] for r in _read_csv(files["single_points.csv"])}
    assert spofs == {"site:hub-a": "bp-x", "link:L2": "bp-x"}


def test_csv_directory(world: list[str], tmp_path: Path) -> None:
    out = tmp_path / "csv"
    result = run_report([*PERIOD, *world, "--format", "csv", "-o", str(out)])
    assert result.returncode == 0, result.stderr
    _check_tables({p.name: p.read_text(encoding="utf-8") for p in out.iterdir()})


def test_csv_zip(world: list[str], tmp_path: Path) -> None:
    out = tmp_path / "report.zip"
    result = run_report([*PERIOD, *world, "--format", "csv", "-o", str(out)])
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as zf:
        _check_tables({n: zf.read(n).decode("utf-8") for n in zf.namelist()})
