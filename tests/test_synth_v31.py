"""The synthetic generator in MIMIC-IV v3.1's format (``--mimic-version 3.1``): the release's
year groups and a README naming its DOI, detected as 3.1 by the loader, and the default study
run end to end on it finds exactly the generator's eligible stays."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from icu_cohort import concepts, loader
from icu_cohort.cohort import build_cohort
from icu_cohort.mimic_tables import RELEASES, TABLES
from icu_cohort.pipeline import required_tables
from icu_cohort.study import Study
from icu_cohort.synth import generate
from test_cohort_support import study


@pytest.fixture(scope="module")
def v31(tmp_path_factory):
    root = tmp_path_factory.mktemp("v31")
    generate(root / "mimiciv" / "3.1-synthetic", 1500, 11, progress=None, threads=1, mimic_version="3.1")
    generate(root / "v22", 1500, 11, progress=None, threads=1)
    return root / "mimiciv" / "3.1-synthetic", root / "v22"


def test_v31_format_has_the_releases_year_groups_and_is_detected(v31):
    path, v22 = v31
    patients = pd.read_csv(path / "hosp" / "patients.csv.gz")
    assert set(patients["anchor_year_group"]) == set(RELEASES["3.1"]["anchor_year_groups"])
    assert "2020 - 2022" in set(patients["anchor_year_group"])
    for spec in TABLES.values():  # v3.1 keeps v2.2's headers
        with gzip.open(path / spec.relpath, "rt") as fh:
            assert fh.readline().rstrip("\n").split(",") == spec.column_names, spec.relpath
    assert RELEASES["3.1"]["doi"] in (path / "README.txt").read_text()
    assert loader.detect_version(path)["version"] == "3.1"
    # only the year groups differ from the v2.2 set of the same seed
    old = pd.read_csv(v22 / "hosp" / "patients.csv.gz")
    assert patients.drop(columns="anchor_year_group").equals(old.drop(columns="anchor_year_group"))
    for rel in ("icu/icustays.csv.gz", "hosp/admissions.csv.gz", "icu/inputevents.csv.gz"):
        assert (path / rel).read_bytes() == (v22 / rel).read_bytes(), rel


def test_the_default_study_runs_on_the_v31_format(v31, tmp_path):
    path, _ = v31
    keys = required_tables()
    loader.convert_tables(path, tmp_path / "parquet", keys, threads=1, memory_limit="1GB")
    concepts.write_concepts(tmp_path / "parquet", tmp_path / "concepts", "v31", threads=1, memory_limit="1GB")
    con = loader.connect(tmp_path / "parquet", 1, "1GB", table_keys=keys)
    concepts.attach_concepts(con, tmp_path / "concepts")
    df, attrition = build_cohort(con, Study(study("sae_mgso4")))
    truth = json.loads((path / "ground_truth.json").read_text())
    gt = pd.read_csv(path / "ground_truth_stays.csv")
    assert attrition["n_remaining"].tolist() == [s["n_remaining"] for s in truth["attrition"]]
    assert set(df["stay_id"]) == set(gt.loc[gt["eligible"] == 1, "stay_id"]) and len(df) > 50


def test_an_unknown_release_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match=r"mimic_version '4\.0' is not supported"):
        generate(tmp_path / "x", 10, 1, progress=None, mimic_version="4.0")
    assert not (tmp_path / "x").exists()
