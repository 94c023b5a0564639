"""End to end on a small synthetic MIMIC-IV: the SQL must select exactly the stays the generator
made eligible by construction, step by step, with the planted treatment (the contract between
icu_cohort.synth and the cohort stage; both follow /tmp/icu_spec.md)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from icu_cohort import cohort, loader
from test_cohort_support import SQL_DIR, study


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    synth = pytest.importorskip("icu_cohort.synth")
    if not hasattr(synth, "generate"):
        pytest.skip("icu_cohort.synth.generate is not available")
    root = tmp_path_factory.mktemp("synthetic")
    mimic_dir = root / "mimic"
    synth.generate(mimic_dir, 1200, 7, progress=None, threads=1)
    keys = cohort.required_tables(study())
    loader.convert_tables(mimic_dir, root / "parquet", keys, threads=1, memory_limit="1GB")
    return mimic_dir, loader.connect(root / "parquet", 1, "1GB", None, table_keys=keys)


@pytest.mark.parametrize("name", ["sae_mgso4", "sae_mgso4_48h"])
def test_cohort_is_exactly_the_generators_eligible_stays(synthetic, name):
    mimic_dir, con = synthetic
    df, attrition = cohort.build_cohort(con, study(name), SQL_DIR)
    truth = json.loads((mimic_dir / "ground_truth.json").read_text())
    assert attrition["n_remaining"].tolist() == [s["n_remaining"] for s in truth["attrition"]]
    gt = pd.read_csv(mimic_dir / "ground_truth_stays.csv")
    eligible = gt[gt["eligible"] == 1]
    assert set(df["stay_id"]) == set(eligible["stay_id"]) and len(df) > 0
    # every treated stay's first dose is 1-20 h after intime (charted to the minute, intime to the
    # second), so both windows give the planted treatment
    merged = df.merge(eligible, on="stay_id", suffixes=("", "_gt"))
    assert (merged["treated"] == merged["treated_gt"]).all()
    assert merged.loc[merged["treated"] == 1, "mgso4_first_dose_hours"].between(59 / 60, 20 + 1 / 60).all()
    assert merged["mgso4_total_dose_g"].isna().eq(merged["treated"] == 0).all()
