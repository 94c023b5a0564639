"""Load-time data-check warnings (icu_cohort.checks) reach the study report's provenance section,
and the report states which releases the study is validated on (icu_cohort.validation).

The data manifest is written before any table is converted, so the warnings of the
conversion (kept beside each Parquet file) are read again when the report is made: a stay
whose outtime is before its intime, loaded as shipped, must be named in the report.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from conftest import write_csv_gz
from icu_cohort import loader, pipeline, validation
from icu_cohort.mimic_tables import table
from icu_cohort.report.provenance import collect_provenance, describe_data
from icu_cohort.study import load_study

REPO = Path(__file__).resolve().parents[1]
STUDY_DIR = REPO / "config" / "studies"


def _icustays(path: Path, rows: list[list]) -> Path:
    return write_csv_gz(path, table("icu/icustays").column_names, rows)


@pytest.fixture
def converted(tmp_path):
    """A tiny icustays file with one stay of negative length, converted as the pipeline does, and
    the data manifest written before the conversion (as rule check_mimic writes it)."""
    mimic = tmp_path / "mimic"
    src = _icustays(mimic / "icu" / "icustays.csv.gz", [
        [10000001, 20000001, 30000001, "MICU", "MICU", "2150-01-01 10:00:00", "2150-01-03 10:00:00", 2.0],
        [10000002, 20000002, 30000002, "MICU", "MICU", "2150-02-01 10:00:00", "2150-01-31 10:00:00", -1.0],
        [10000003, 20000003, 30000003, "SICU", "SICU", "2150-03-01 10:00:00", "2150-03-02 22:00:00", 1.5],
    ])
    parquet = tmp_path / "parquet"
    manifest = loader.data_manifest(mimic, {"icu/icustays": src}, "mimic", checksums=False)
    parquet.mkdir()
    (parquet / "manifest.json").write_text(json.dumps(manifest))
    assert manifest["warnings"] == [] or all("outtime" not in w for w in manifest["warnings"])  # not known yet
    rows = pipeline.mimic_to_parquet(src, "icu/icustays", loader.parquet_path(parquet, "icu/icustays"), 1, "1GB", None)
    assert rows == 3
    return parquet


def test_a_load_warning_reaches_the_report(converted, tmp_path):
    study = load_study("sae_mgso4", STUDY_DIR)
    out = tmp_path / "report.html"
    results = tmp_path / "results"
    results.mkdir()
    pipeline.study_report(study, results, converted / "manifest.json", [], out, 11, repo_dir=REPO)
    text = out.read_text()
    section = text.split("Data checks at load time", 1)[1].split("<h3>", 1)[0]
    assert "1 warning(s)" in section
    # shared: the count of stays is small, so hidden; no stay_id (the log keeps both)
    assert "<11 ICU stay(s) have outtime before intime" in html.unescape(section)
    assert "30000002" not in section and "30000001" not in section
    assert "1 table(s) checked" in section


def test_the_report_says_no_warnings_when_the_checks_pass(tmp_path):
    mimic = tmp_path / "mimic"
    src = _icustays(mimic / "icu" / "icustays.csv.gz", [
        [10000001, 20000001, 30000001, "MICU", "MICU", "2150-01-01 10:00:00", "2150-01-03 10:00:00", 2.0]])
    parquet = tmp_path / "parquet"
    pipeline.mimic_to_parquet(src, "icu/icustays", loader.parquet_path(parquet, "icu/icustays"), 1, "1GB", None)
    data = describe_data(loader.data_manifest(mimic, {"icu/icustays": src}, "mimic", checksums=False),
                         loader.parquet_manifest(parquet))
    assert data["warnings"] == []
    assert data["load_checks"] == [{"table": "mimiciv_icu.icustays", "rows": 1,
                                    "checks": {"duplicate_stay_id": 0, "null_stay_id": 0, "outtime_before_intime": 0},
                                    "warnings": []}]


def test_manifest_and_load_warnings_are_merged_once_each():
    manifest = {"source": "/x", "kind": "mimic", "mimic_version": "3.0",
                "warnings": ["MIMIC-IV version: README says 3.1", "icu/x.csv.gz: header only"], "tables": []}
    reports = {"tables": {"icu/x": {"table": "mimiciv_icu.x", "rows": 0, "checks": {},
                                    "warnings": ["icu/x.csv.gz: header only"]},
                          "icu/icustays": {"table": "mimiciv_icu.icustays", "rows": 5,
                                           "checks": {"outtime_before_intime": 2},
                                           "warnings": ["icu/icustays.csv.gz: 2 ICU stay(s) have outtime before intime"]}},
               "warnings": ["icu/x.csv.gz: header only", "icu/icustays.csv.gz: 2 ICU stay(s) have outtime before intime"]}
    data = describe_data(manifest, reports)
    assert data["warnings"] == ["MIMIC-IV version: README says 3.1", "icu/x.csv.gz: header only",
                                "icu/icustays.csv.gz: 2 ICU stay(s) have outtime before intime"]
    assert [c["table"] for c in data["load_checks"]] == ["mimiciv_icu.icustays", "mimiciv_icu.x"]
    assert "warnings" not in (data.get("extra") or {})


# --------------------------------------------------------------------------------------------
# Validated on
# --------------------------------------------------------------------------------------------


def test_the_report_lists_the_releases_the_study_is_validated_on(converted, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for name, expect in (("sae_mgso4", validation.VALIDATED["sae_mgso4"]), ("no_such_validation", ())):
        study = load_study("sae_mgso4", STUDY_DIR)
        if name != "sae_mgso4":
            study = study.replace(name=name)
        out = tmp_path / f"{name}.html"
        pipeline.study_report(study, results, converted / "manifest.json", [], out, 11, repo_dir=REPO)
        section = re.split(r"<h3>|Repository state", out.read_text().split("<h3>Validated on</h3>", 1)[1])[0]
        shown = re.findall(r"<code>([^<]+)</code>", section)
        assert shown == list(expect)
        for target in expect:
            assert html.escape(validation.TARGETS[target].check) in section
        if not expect:
            assert "not among those" in section


def test_validated_on_comes_from_the_one_table():
    prov = collect_provenance(None, [], REPO, validated_on=validation.validated_on("sae_mgso4"))
    assert [t["target"] for t in prov["validated_on"]] == list(validation.VALIDATED["sae_mgso4"])
    assert {t["release"] for t in prov["validated_on"]} == {"2.2", "3.0", "3.1"}
    assert validation.validated_on("a_users_own_study") == []
