"""End to end on a small synthetic MIMIC-IV: the SQL must select exactly the stays the generator
made eligible by construction, step by step, with the planted treatment (the contract between
icu_cohort.synth and the cohort stage; both follow /tmp/icu_spec.md)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from icu_cohort import cohort, loader
from icu_cohort.pipeline import required_tables
from test_cohort_support import SQL_DIR, build, study


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    synth = pytest.importorskip("icu_cohort.synth")
    if not hasattr(synth, "generate"):
        pytest.skip("icu_cohort.synth.generate is not available")
    root = tmp_path_factory.mktemp("synthetic")
    mimic_dir = root / "mimic"
    synth.generate(mimic_dir, 1200, 7, progress=None, threads=1)
    keys = required_tables()
    loader.convert_tables(mimic_dir, root / "parquet", keys, threads=1, memory_limit="1GB")
    return mimic_dir, loader.connect(root / "parquet", 1, "1GB", None, table_keys=keys)


@pytest.mark.parametrize("name", ["sae_mgso4", "sae_mgso4_48h"])
def test_cohort_is_exactly_the_generators_eligible_stays(synthetic, name):
    mimic_dir, con = synthetic
    df, attrition = build(con, study(name))
    truth = json.loads((mimic_dir / "ground_truth.json").read_text())
    assert attrition["n_remaining"].tolist() == [s["n_remaining"] for s in truth["attrition"]]
    gt = pd.read_csv(mimic_dir / "ground_truth_stays.csv")
    eligible = gt[gt["eligible"] == 1]
    assert set(df["stay_id"]) == set(eligible["stay_id"]) and len(df) > 0
    # Treated stays get their first dose 1-20 h after intime; some untreated stays get a late first
    # dose after 60 h (synthetic_data/README.md, "Immortal time"). The whole-stay study counts
    # those as exposed, the 48 h study does not; the 48 h exposure is the planted treatment.
    merged = df.merge(eligible, on="stay_id", suffixes=("", "_gt"))
    first_dose = merged["iv_mgso4_first_dose_hours"]
    window_end = study(name)["exposure"]["window_end_hours"]
    exposed = first_dose.notna() if window_end is None else first_dose < window_end
    assert (merged["treated"] == exposed.astype(int)).all()
    assert (merged.loc[exposed, "mgso4_first_dose_hours"] - first_dose[exposed]).abs().max() < 1e-6
    assert merged["mgso4_total_dose_g"].isna().eq(~exposed).all()
    if name == "sae_mgso4_48h":
        assert (merged["treated"] == merged["treated_gt"]).all()


def test_sepsis_study_is_the_generators_first_steps(synthetic):
    """sepsis_mgso4 (config only) has the SAE study's first five steps: its attrition equals the
    generator's truth up to Sepsis-3, and its exposure the IV doses the generator wrote."""
    mimic_dir, con = synthetic
    df, attrition = build(con, study("sepsis_mgso4"))
    truth = json.loads((mimic_dir / "ground_truth.json").read_text())
    assert attrition["n_remaining"].tolist() == [s["n_remaining"] for s in truth["attrition"][:5]]
    assert len(df) == truth["attrition"][4]["n_remaining"] > 0
    gt = pd.read_csv(mimic_dir / "ground_truth_stays.csv").set_index("stay_id")
    eligible = set(gt.index[gt["eligible"] == 1])
    assert eligible < set(df["stay_id"])      # the SAE cohort is inside the sepsis cohort
    first = gt.loc[df["stay_id"], "iv_mgso4_first_dose_hours"].to_numpy()
    assert (df["treated"].to_numpy() == ~pd.isna(first)).all()


@pytest.mark.parametrize("name, population", [("sepsis_mgso4", "sepsis"), ("ais_mgso4", "ais")])
def test_each_new_study_is_the_generators_population(synthetic, name, population):
    """sepsis_mgso4 and ais_mgso4 (config only) against the generator's truth for their planted
    populations (ground_truth.json "populations", ground_truth_stays.csv eligible_<population>):
    every attrition step, the eligible stays, the exposure, and for ais_mgso4 the thrombectomy
    covariate and the 90-day / 28-day outcomes."""
    mimic_dir, con = synthetic
    st = study(name)
    df, attrition = build(con, st)
    truth = json.loads((mimic_dir / "ground_truth.json").read_text())["populations"][population]
    assert attrition["n_remaining"].tolist() == [s["n_remaining"] for s in truth["attrition"]]
    assert attrition["n_excluded"].tolist() == [s["n_excluded"] for s in truth["attrition"]]
    gt = pd.read_csv(mimic_dir / "ground_truth_stays.csv").set_index("stay_id")
    eligible = gt[gt[f"eligible_{population}"] == 1]
    assert set(df["stay_id"]) == set(eligible.index) and len(df) == truth["n_eligible"] > 0
    first = gt.loc[df["stay_id"], "iv_mgso4_first_dose_hours"].to_numpy()
    end = st["exposure"]["window_end_hours"]
    exposed = ~pd.isna(first) if end is None else (~pd.isna(first)) & (first < end)
    assert (df["treated"].to_numpy() == exposed).all()
    assert int(df["treated"].sum()) == truth["n_exposed_whole_stay" if end is None else "n_exposed_first_24h"]
    if population == "ais":
        # a 24 h window holds exactly the planted baseline treatment (first doses 1-20 h, late >= 60 h)
        assert (df["treated"].to_numpy() == gt.loc[df["stay_id"], "treated"].to_numpy()).all()
        assert (df["thrombectomy"].to_numpy() == gt.loc[df["stay_id"], "thrombectomy"].to_numpy()).all()
        assert int(df["thrombectomy"].sum()) == truth["n_thrombectomy"] > 0
        # the observed death: the potential outcome of the treatment received, as the data record it
        observed = pd.Series(
            gt.loc[df["stay_id"], "death_day_if_treated"].where(df["treated"].to_numpy() == 1,
                                                                 gt.loc[df["stay_id"], "death_day_if_untreated"]).to_numpy())
        assert (df["death_28d"] == (observed <= 90).astype(int)).all()
        assert (df["death_within_28d"] == (observed <= 28).astype(int)).all()
        died = observed <= 90
        assert (df.loc[died, "time_days"] - observed[died]).abs().max() < 1e-6
        assert (df.loc[~died, "time_days"] == 90).all()
