"""ais_mgso4 (config only) on a hand-built MIMIC-IV: its stroke codes (433.x1 / 434.x1 / I63, not
the 'without infarction' codes), its procedure-group covariate (mechanical thrombectomy: ICD-9
39.74 and the endovascular 03C[G-Q]3Z* codes, not the open approach), its 90-day primary and
28-day secondary outcome, and the analysis horizon that follows outcome.horizon_days. Every
expected value is worked out by hand in the comments."""

from __future__ import annotations

from datetime import timedelta

import pytest

from icu_cohort import cohort, concepts
from icu_cohort.config import ConfigError
from icu_cohort.study import Study, study_from_definition
from test_cohort_support import SQL_DIR, Mimic, T0, study


@pytest.fixture(scope="module")
def db():
    m = Mimic()
    s = {}
    # in the cohort: (stroke code, version, procedure code or None, thrombectomy expected)
    cases = {
        "i639_evt": ("I639", 10, "03CG3ZZ", 1),          # intracranial thrombectomy
        "i63412_ica": ("I63412", 10, "03CL3ZZ", 1),      # left internal carotid
        "i6350_stent_retriever": ("I6350", 10, "03CG3Z7", 1),   # qualifier 7 (FY2021 code)
        "i6322_vertebral": ("I6322", 10, "03CP3ZZ", 1),  # right vertebral
        "i639_open": ("I639", 10, "03CG0ZZ", 0),         # open approach: not endovascular
        "i639_catheter": ("I639", 10, "02HV33Z", 0),     # an unrelated procedure
        "i639_none": ("I639", 10, None, 0),
        "ic9_43491_evt": ("43491", 9, "3974", 1),        # ICD-9 39.74
        "ic9_43311": ("43311", 9, None, 0),              # carotid occlusion with infarction
        "ic9_43301": ("43301", 9, "3891", 0),            # basilar, with infarction; arterial catheter
        "ic9_43411": ("43411", 9, None, 0),              # embolism with infarction
    }
    for name, (code, version, proc, _) in cases.items():
        s[name] = m.stay(age=70)
        m.dx(s[name], code, version, seq_num=2)
        if proc:
            m.proc_icd(s[name], proc, version)
    # not acute ischaemic stroke: 'without mention of cerebral infarction', ICD-10 carotid stenosis
    # (I65.21), intracerebral haemorrhage, TIA; a thrombectomy code alone is no stroke
    for name, code, version in (("ic9_43310", "43310", 9), ("ic9_43490", "43490", 9), ("i6521", "I6521", 10),
                                ("i619", "I619", 10), ("g459", "G459", 10)):
        s[name] = m.stay(age=70)
        m.dx(s[name], code, version)
    s["evt_only"] = m.stay(age=70)
    m.proc_icd(s["evt_only"], "03CG3ZZ", 10)
    # fail earlier steps: a child, a second ICU stay of the patient, a stay of 20 h
    s["child"] = m.stay(age=17)
    m.dx(s["child"], "I639", 10)
    first = s["i639_none"]
    s["second_stay"] = m.stay(subject_id=first["subject_id"], intime=T0 + timedelta(days=40), new_patient=False)
    m.dx(s["second_stay"], "I639", 10)
    s["short"] = m.stay(age=70, los_hours=20)
    m.dx(s["short"], "I639", 10)
    # outcomes (ICU intime 08:00): death on day 50 (patients.dod, 12:00: 50 d 4 h): a 90-day death,
    # not a 28-day one; death in hospital at intime + 10 d (deathtime): both
    s["died_day50"] = m.stay(age=70, dod=(T0 + timedelta(days=50)).date())
    m.dx(s["died_day50"], "I639", 10)
    s["died_day4"] = m.stay(age=70, los_hours=72, deathtime=T0 + timedelta(days=4), dod=(T0 + timedelta(days=4)).date())
    m.dx(s["died_day4"], "I639", 10)
    con = m.connect()
    concepts.build_concepts(con, SQL_DIR)
    expected_thrombectomy = {name: c[3] for name, c in cases.items()}
    expected_thrombectomy.update(died_day50=0, died_day4=0)
    return con, s, expected_thrombectomy


@pytest.fixture(scope="module")
def built(db):
    con, s, _ = db
    df, attrition = cohort.build_cohort(con, Study(study("ais_mgso4")), SQL_DIR)
    by_id = {row["stay_id"]: name for name, row in s.items()}
    return df.assign(name=df["stay_id"].map(by_id)).set_index("name"), attrition


def test_attrition_and_cohort_by_hand(db, built):
    _, s, expected = db
    df, attrition = built
    # 22 stays; age: the child goes (21); first stay: second_stay (20); LOS > 24 h: short (19);
    # stroke: the five non-stroke codes and evt_only go (13)
    assert attrition["n_remaining"].tolist() == [len(s), 21, 20, 19, 13]
    assert attrition["n_excluded"].tolist() == [0, 1, 1, 1, 6]
    assert attrition["description"].iloc[-1].startswith("acute ischaemic stroke code on the admission")
    assert set(df.index) == set(expected)


def test_thrombectomy_is_a_procedure_group_covariate(db, built):
    _, _, expected = db
    df, _ = built
    assert df["thrombectomy"].to_dict() == expected
    assert df["thrombectomy"].dtype == "int64"


def test_90_day_primary_and_28_day_secondary_outcome(built):
    df, _ = built
    # death on day 50 at 12:00 after an 08:00 intime: 50 + 4/24 days; a 90-day death only
    d50 = df.loc["died_day50"]
    assert (d50["death_28d"], d50["time_days"]) == (1, pytest.approx(50 + 4 / 24))
    assert (d50["death_within_28d"], d50["death_within_28d_time_days"]) == (0, 28.0)
    # deathtime at intime + 4 d: both horizons
    d4 = df.loc["died_day4"]
    assert (d4["death_28d"], d4["time_days"]) == (1, pytest.approx(4.0))
    assert (d4["death_within_28d"], d4["death_within_28d_time_days"]) == (1, pytest.approx(4.0))
    # survivors are censored at 90 days (primary) and 28 days (secondary)
    alive = df.drop(index=["died_day50", "died_day4"])
    assert (alive["death_28d"] == 0).all() and (alive["time_days"] == 90.0).all()
    assert (alive["death_within_28d_time_days"] == 28.0).all()


def _minimal(**sections) -> dict:
    return {"name": "t", "title": "t", "question": "q", "exposure": {"itemids": [222011]}, **sections}


def test_the_analysis_horizon_follows_the_outcome():
    assert Study(study("ais_mgso4"))["analysis"]["horizon_days"] == 90
    assert Study(study("sae_mgso4"))["analysis"]["horizon_days"] == 28
    assert study_from_definition(_minimal(outcome={"horizon_days": 60}))["analysis"]["horizon_days"] == 60
    assert study_from_definition(_minimal())["analysis"]["horizon_days"] == 28
    # replacing the outcome moves the analysis horizon with it
    assert Study(study("sae_mgso4")).replace(outcome={"horizon_days": 90})["analysis"]["horizon_days"] == 90
    # a different horizon written for the analysis is an error naming both keys
    with pytest.raises(ConfigError, match=r"analysis.horizon_days \(28\) differs from outcome.horizon_days \(90\)"):
        study_from_definition(_minimal(outcome={"horizon_days": 90}, analysis={"horizon_days": 28}))


def test_a_name_both_comorbidity_and_procedure_is_an_error():
    lists = {"icd9": ["3974"]}
    with pytest.raises(ConfigError, match="covariates.procedures: evt also named in covariates.comorbidities"):
        study_from_definition(_minimal(covariates={"comorbidities": {"evt": lists}, "procedures": {"evt": lists}}))
    with pytest.raises(ConfigError, match=r"covariates.procedures.*EVT"):
        study_from_definition(_minimal(covariates={"procedures": {"EVT": lists}}))
