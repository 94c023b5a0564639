"""The whole cohort stage (icu_cohort.cohort.build_cohort / write_cohort) on a tiny MIMIC-IV with
one stay failing each step: attrition counts, the final cohort's columns and values, files."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from icu_cohort import artifacts, cohort
from icu_cohort.study import Study
from test_cohort_support import SQL_DIR, Mimic, build, h, study


@pytest.fixture(scope="module")
def built():
    m = Mimic()
    s = {}
    s["treated"] = m.sae_stay(age=65, race="WHITE - OTHER EUROPEAN")
    m.mgso4(s["treated"], 5)
    m.chart(s["treated"], 226512, h(1), 82.0)          # admission weight
    m.chart(s["treated"], 220045, h(6), 100.0)         # heart rate mean over day 1: (6 * 90 + 100) / 7
    m.lab(s["treated"], 50960, h(-2), 1.6)             # magnesium: first value in [-6 h, 24 h]
    m.lab(s["treated"], 50960, h(10), 2.4)
    m.dx(s["treated"], "J449")                         # COPD
    m.dx(s["treated"], "A419")                         # sepsis code: realism only
    # encephalopathy by a delirium code only (GCS 15), untreated, female, race unknown
    s["delirium"] = m.sae_stay(gcs=(4, 5, 6), gender="F", race=None)
    m.dx(s["delirium"], "F05")
    m.dx(s["delirium"], "2930", icd_version=9, seq_num=2)
    # step 2: 17 at admission (anchor shift)
    s["child"] = m.sae_stay(age=17)
    # step 3: the treated patient's second ICU stay
    s["second"] = m.sae_stay(subject_id=s["treated"]["subject_id"], intime=h(24 * 30), new_patient=False)
    # step 4: exactly 24 h in the ICU
    s["short"] = m.sae_stay(los_hours=24)
    # step 5: no antibiotic -> no suspected infection
    s["no_sepsis"] = m.stay()
    m.chart(s["no_sepsis"], 220739, h(3), 2)
    # step 6: GCS 15, no delirium code; and an intubated patient (GCS counted 15, mimic-code)
    s["alert"] = m.sae_stay(gcs=(4, 5, 6))
    s["intubated"] = m.sae_stay(gcs=None)
    for itemid, value, text in ((220739, 1, None), (223900, 1, "No Response-ETT"), (223901, 1, None)):
        m.chart(s["intubated"], itemid, h(3), value, value=text)
    # steps 7-10: one planted exclusion code each
    s["stroke"] = m.sae_stay()
    m.dx(s["stroke"], "I639")
    s["hepatic"] = m.sae_stay()
    m.dx(s["hepatic"], "5722", icd_version=9)
    s["alcohol"] = m.sae_stay()
    m.dx(s["alcohol"], "F10239")
    s["psych"] = m.sae_stay()
    m.dx(s["psych"], "29680", icd_version=9)
    s["psych_and_stroke"] = m.sae_stay()                 # counted at the first step that applies
    m.dx(s["psych_and_stroke"], "F319")
    m.dx(s["psych_and_stroke"], "43491", icd_version=9)
    con = m.connect()
    cohort_df, attrition = build(con, study("sae_mgso4"))
    return con, s, cohort_df, attrition


def test_attrition_counts_each_step_and_adds_up(built):
    _, s, cohort_df, attrition = built
    assert list(attrition.columns) == ["step", "description", "n_remaining", "n_excluded"]
    assert attrition["step"].tolist() == list(range(1, 11))
    assert attrition["n_excluded"].tolist() == [0, 1, 1, 1, 1, 2, 2, 1, 1, 1]
    assert attrition["n_remaining"].iloc[0] == len(s)
    assert attrition["n_remaining"].iloc[-1] == len(cohort_df) == 2
    # every step: remaining = previous remaining - excluded
    prev = attrition["n_remaining"].shift(1).fillna(attrition["n_remaining"].iloc[0])
    assert (prev - attrition["n_excluded"] == attrition["n_remaining"]).all()
    assert attrition["description"].iloc[6] == "exclude primary brain injury or other neurological disease"


def test_final_cohort_columns_and_values(built):
    _, s, df, _ = built
    st = study()
    covs = Study(st).covariate_columns
    assert list(df.columns) == (["subject_id", "hadm_id", "stay_id", "intime", "treated", "time_days", "death_28d"]
                                + covs + ["anchor_year_group", "mgso4_first_dose_hours", "mgso4_total_dose_g"])
    assert set(df["stay_id"]) == {s["treated"]["stay_id"], s["delirium"]["stay_id"]}
    t = df.set_index("stay_id").loc[s["treated"]["stay_id"]]
    assert (t.treated, t.death_28d, t.time_days) == (1, 0, 28.0)
    assert (t.mgso4_first_dose_hours, t.mgso4_total_dose_g) == (5.0, 2.0)
    assert (t.age, t.male, t.race, t.weight) == (65.0, 1, "WHITE", 82.0)
    assert t.anchor_year_group == "2008 - 2010"  # patients.anchor_year_group, descriptive
    assert t.heart_rate == pytest.approx((6 * 90 + 100) / 7)
    assert (t.platelets, t.magnesium) == (40.0, 1.6)
    assert pd.isna(t.lactate) and pd.isna(t.mbp)
    assert (t.gcs_min, t.sofa) == (13.0, 3 + 1)           # coagulation 3 (platelets 40) + CNS 1 (GCS 13)
    assert t.charlson == 2 + 1                            # age 61-70: 2; chronic pulmonary disease: 1
    assert not pd.isna(t.apsiii)
    assert (t.copd, t.aki, t.malignancy) == (1, 0, 0)
    assert (t.mechanical_ventilation, t.vasopressor, t.rrt) == (0, 0, 0)
    d = df.set_index("stay_id").loc[s["delirium"]["stay_id"]]
    assert (d.treated, d.male, d.race, d.gcs_min) == (0, 0, "UNKNOWN", 15.0)
    assert pd.isna(d.mgso4_first_dose_hours) and pd.isna(d.mgso4_total_dose_g)


def test_column_types(built):
    _, _, df, _ = built
    for col in ["subject_id", "hadm_id", "stay_id", "treated", "death_28d", "copd", "mechanical_ventilation"]:
        assert df[col].dtype == "int64", col
    for col in ["time_days", "age", "weight", "lactate", "sofa", "apsiii", "mgso4_total_dose_g"]:
        assert df[col].dtype == "float64", col
    assert df["race"].map(type).eq(str).all()
    assert str(df["intime"].dtype).startswith("datetime64")


def test_derived_tables_keep_mimic_code_names(built):
    con = built[0]
    names = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'mimiciv_derived'").fetchall()}
    assert {"age", "gcs", "vitalsign", "bg", "chemistry", "complete_blood_count", "coagulation", "enzyme",
            "urine_output", "urine_output_rate", "ventilation", "vasoactive_agent", "norepinephrine", "rrt",
            "antibiotic", "suspicion_of_infection", "sofa", "sepsis3", "first_day_gcs", "first_day_vitalsign",
            "first_day_lab", "first_day_sofa", "first_day_urine_output", "first_day_weight", "charlson",
            "apsiii"} <= names


def test_write_cohort_files(built, tmp_path):
    _, _, df, attrition = built
    paths = cohort.write_cohort(df, attrition, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "attrition.csv", "cohort.parquet", "covariate_missingness.csv"]
    back = pd.read_parquet(paths[artifacts.COHORT.name])
    assert back.shape == df.shape and list(back.columns) == list(df.columns)
    assert pd.read_csv(paths[artifacts.ATTRITION.name]).equals(attrition)
    miss = pd.read_csv(paths[artifacts.MISSINGNESS.name])
    assert list(miss.columns) == ["covariate", "n_missing", "fraction_missing"]
    assert miss["covariate"].tolist() == Study(study()).covariate_columns
    lactate = miss.set_index("covariate").loc["lactate"]
    assert (lactate.n_missing, lactate.fraction_missing) == (2, 1.0)
    assert miss.set_index("covariate").loc["age", "n_missing"] == 0


def test_write_cohort_leaves_nothing_behind_on_failure(built, tmp_path, monkeypatch):
    _, _, df, attrition = built
    out = tmp_path / "out"

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError):
        cohort.write_cohort(df, attrition, out)
    assert list(out.iterdir()) == []


def test_first_icu_stay_can_be_switched_off(built):
    con, s, _, _ = built
    st = study()
    st["cohort"]["criteria"] = [c for c in st["cohort"]["criteria"] if "first_icu_stay" not in c]
    attrition = cohort.attrition_table(con, Study(st))
    assert len(attrition) == 9
    assert "first ICU stay" not in " ".join(attrition["description"])
    # the second stay of the treated patient is now in the cohort
    assert attrition["n_remaining"].iloc[-1] == 3
    assert timedelta(days=30) == s["second"]["intime"] - s["treated"]["intime"]
