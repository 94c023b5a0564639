"""Every criterion of the vocabulary (icu_cohort.criteria) on a hand-built MIMIC-IV: which stays
each step keeps, as an inclusion and as an exclusion, and any_of. One tiny database holds a stay
built for each case; each test runs one short study over it and compares the kept stays with
the ones built to meet the condition (hand-checked in the comments)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from icu_cohort import cohort, concepts
from icu_cohort.study import study_from_definition
from test_cohort_support import SQL_DIR, Mimic, T0, h


@pytest.fixture(scope="module")
def db():
    m = Mimic()
    s = {}
    s["plain"] = m.stay(age=50)                                   # 72 h, MICU, nothing charted
    s["young"] = m.stay(age=17)
    s["old"] = m.stay(age=95)
    s["short"] = m.stay(age=60, los_hours=10)
    # one patient, two admissions: the second admission's stay is not the patient's first;
    # the second admission has two stays (the later one is not the admission's first)
    first = m.stay(age=70)
    s["first"] = first
    later_in = T0 + timedelta(days=30)
    s["second"] = m.stay(subject_id=first["subject_id"], intime=later_in, new_patient=False)
    s["third"] = m.icustay(first["subject_id"], s["second"]["hadm_id"], 39_001, later_in + timedelta(hours=80),
                           later_in + timedelta(hours=120))
    s["neuro"] = m.stay(age=60)
    s["neuro"]["first_careunit"] = "Neuro Surgical Intensive Care Unit (Neuro SICU)"
    # diagnoses: I63.9 principal; I63.9 at position 3; ICD-9 434.91; a code of another version
    s["dx_principal"] = m.stay(age=60)
    m.dx(s["dx_principal"], "I639", 10, seq_num=1)
    s["dx_third"] = m.stay(age=60)
    m.dx(s["dx_third"], "E119", 10, seq_num=1)
    m.dx(s["dx_third"], "I10", 10, seq_num=2)
    m.dx(s["dx_third"], "I639", 10, seq_num=3)
    s["dx_icd9"] = m.stay(age=60)
    m.dx(s["dx_icd9"], "43491", 9)
    s["dx_wrong_version"] = m.stay(age=60)
    m.dx(s["dx_wrong_version"], "I639", 9)                       # "I639" is no ICD-9 code: no match
    # procedures: ICD-10-PCS thrombectomy; ICD-9 39.74; an unrelated procedure
    s["px_pcs"] = m.stay(age=60)
    m.proc_icd(s["px_pcs"], "03CG3ZZ", 10)
    s["px_icd9"] = m.stay(age=60)
    m.proc_icd(s["px_icd9"], "3974", 9)
    s["px_other"] = m.stay(age=60)
    m.proc_icd(s["px_other"], "02HV33Z", 10)
    # GCS 13 at +3 h (inside -6..24 h); GCS 8 at +30 h (outside); GCS 6 at -2 h (inside)
    s["gcs13"] = m.stay(age=60)
    for itemid, v in ((220739, 3), (223900, 4), (223901, 6)):
        m.chart(s["gcs13"], itemid, h(3, s["gcs13"]["intime"]), v)
    s["gcs8_late"] = m.stay(age=60)
    for itemid, v in ((220739, 2), (223900, 2), (223901, 4)):
        m.chart(s["gcs8_late"], itemid, h(30, s["gcs8_late"]["intime"]), v)
    s["gcs6_before"] = m.stay(age=60)
    for itemid, v in ((220739, 1), (223900, 1), (223901, 4)):
        m.chart(s["gcs6_before"], itemid, h(-2, s["gcs6_before"]["intime"]), v)
    # lactate 4.5 at +2 h and 1.0 at +5 h; heart rate 130 at +1 h
    s["lactate"] = m.stay(age=60)
    m.lab(s["lactate"], 50813, h(2), 4.5)
    m.lab(s["lactate"], 50813, h(5), 1.0)
    s["tachy"] = m.stay(age=60)
    m.chart(s["tachy"], 220045, h(1), 130.0)
    m.chart(s["tachy"], 220045, h(2), 80.0)
    # treatments: invasive ventilation +1..+8 h; norepinephrine +30..+32 h; CRRT +5..+30 h
    s["vent"] = m.stay(age=60)
    m.chart(s["vent"], 226732, h(1), value="Endotracheal tube")
    m.chart(s["vent"], 223849, h(2), value="CMV/ASSIST")
    m.chart(s["vent"], 223849, h(6), value="CMV/ASSIST")
    m.chart(s["vent"], 226732, h(8), value="Nasal cannula")
    m.chart(s["vent"], 226732, h(10), value="Nasal cannula")
    s["norepi_late"] = m.stay(age=60)
    m.infusion(s["norepi_late"], 221906, h(30), h(32), amount=1.0, amountuom="mg", rate=0.2, rateuom="mcg/kg/min")
    s["crrt"] = m.stay(age=60)
    m.procedure(s["crrt"], 225802, h(5), h(30))
    m.chart(s["crrt"], 224144, h(10), 150.0)
    # CAM-ICU positive at +10 h
    s["cam"] = m.stay(age=60)
    for itemid, answer in ((228300, "Yes"), (228301, "Yes"), (228302, "Yes"), (228303, "No")):
        m.chart(s["cam"], itemid, h(10), value=answer)
    # Sepsis-3: culture + antibiotic + SOFA 3 (platelets 40); GCS 15 so no encephalopathy
    s["septic"] = m.sae_stay(gcs=(4, 5, 6), age=60)
    con = m.connect()
    concepts.build_concepts(con, SQL_DIR)
    return con, s


def kept(db, *criteria) -> set[str]:
    """The fixture names of the stays a study with these criteria keeps (and its attrition)."""
    con, s = db
    st = study_from_definition({"name": "t", "title": "t", "question": "q", "exposure": {"itemids": [222011]},
                                "cohort": {"criteria": list(criteria)}})
    df, attrition = cohort.build_cohort(con, st, SQL_DIR)
    by_id = {row["stay_id"]: name for name, row in s.items()}
    got = {by_id[i] for i in df["stay_id"]}
    # the attrition table agrees with the cohort, and counts every stay once
    assert attrition["n_remaining"].iloc[0] == len(s) and attrition["n_remaining"].iloc[-1] == len(df)
    assert (attrition["n_excluded"].iloc[1:].to_numpy()
            == -(attrition["n_remaining"].diff().iloc[1:].to_numpy())).all()
    return got


def everyone(db) -> set[str]:
    return set(db[1])


def test_age_range(db):
    assert everyone(db) - kept(db, {"age": {"min": 18}}) == {"young"}
    assert everyone(db) - kept(db, {"age": {"max": 89}}) == {"old"}
    assert kept(db, {"age": {"min": 18, "max": 89}}) == everyone(db) - {"young", "old"}
    assert kept(db, {"age": {"min": 90, "exclude": True}}) == everyone(db) - {"old"}
    assert kept(db, {"age": {"min": 70, "max": 70}}) == {"first", "second", "third"}


def test_first_icu_stay_of_the_patient_or_of_the_admission(db):
    assert everyone(db) - kept(db, {"first_icu_stay": {}}) == {"second", "third"}
    assert everyone(db) - kept(db, {"first_icu_stay": {"of": "admission"}}) == {"third"}


def test_icu_length_of_stay(db):
    # every stay lasts 72 h except short (10 h) and third (40 h)
    assert everyone(db) - kept(db, {"icu_los": {"min_hours": 24}}) == {"short"}
    assert kept(db, {"icu_los": {"min_hours": 10}}) == everyone(db) - {"short"}      # strictly greater
    assert kept(db, {"icu_los": {"max_hours": 40}}) == {"short", "third"}            # at most
    assert kept(db, {"icu_los": {"min_hours": 24, "max_hours": 48}}) == {"third"}


def test_first_careunit(db):
    neuro = "Neuro Surgical Intensive Care Unit (Neuro SICU)"
    assert kept(db, {"first_careunit": {"units": [neuro]}}) == {"neuro"}
    assert everyone(db) - kept(db, {"first_careunit": {"units": [neuro], "exclude": True}}) == {"neuro"}


def test_sepsis3(db):
    assert kept(db, {"sepsis3": {}}) == {"septic"}
    # platelets 40 give a coagulation SOFA of 3: a threshold of 4 is not met
    assert kept(db, {"sepsis3": {"sofa_threshold": 4}}) == set()


def test_icd_diagnosis_prefixes_versions_and_position(db):
    stroke = {"icd9": ["43491"], "icd10": ["I63"]}
    assert kept(db, {"icd_diagnosis": {"name": "stroke", **stroke}}) == {"dx_principal", "dx_third", "dx_icd9"}
    assert kept(db, {"icd_diagnosis": {"name": "stroke", "max_seq_num": 2, **stroke}}) == {"dx_principal", "dx_icd9"}
    assert kept(db, {"icd_diagnosis": {"name": "stroke", "icd10": ["I6390"]}}) == set()  # longer than the code
    assert everyone(db) - kept(db, {"icd_diagnosis": {"name": "stroke", "exclude": True, **stroke}}) == {
        "dx_principal", "dx_third", "dx_icd9"}


def test_icd_procedure(db):
    thrombectomy = {"icd9": ["3974"], "icd10": ["03CG3ZZ"]}
    assert kept(db, {"icd_procedure": {"name": "thrombectomy", **thrombectomy}}) == {"px_pcs", "px_icd9"}
    # diagnoses never answer a procedure step, nor procedures a diagnosis step
    assert kept(db, {"icd_diagnosis": {"name": "x", "icd9": ["3974"], "icd10": ["03CG3ZZ"]}}) == set()


def test_concept_value_lowest_and_highest_in_a_window(db):
    win = {"start": -6, "end": 24}
    low_gcs = {"concept": "gcs", "statistic": "lowest", "operator": "<", "value": 15, "window_hours": win}
    # septic's GCS is 15; gcs8_late's 8 is at +30 h, outside the window
    assert kept(db, {"concept_value": low_gcs}) == {"gcs13", "gcs6_before"}
    assert kept(db, {"concept_value": {**low_gcs, "value": 13}}) == {"gcs6_before"}
    assert kept(db, {"concept_value": {**low_gcs, "operator": "<=", "value": 13}}) == {"gcs13", "gcs6_before"}
    assert kept(db, {"concept_value": {**low_gcs, "window_hours": {"start": 0, "end": 48}}}) == {"gcs13", "gcs8_late"}
    lactate = {"concept": "lab", "itemids": [50813], "statistic": "highest", "operator": ">=", "value": 4,
               "window_hours": {"start": 0, "end": 24}}
    assert kept(db, {"concept_value": lactate}) == {"lactate"}
    assert kept(db, {"concept_value": {**lactate, "window_hours": {"start": 3, "end": 24}}}) == set()
    assert kept(db, {"concept_value": {**lactate, "statistic": "lowest", "operator": "<=", "value": 1}}) == {"lactate"}
    hr = {"concept": "heart_rate", "statistic": "highest", "operator": ">", "value": 120,
          "window_hours": {"start": 0, "end": 24}}
    assert kept(db, {"concept_value": hr}) == {"tachy"}
    # 24-hour SOFA >= 3: septic (platelets 40: coagulation 3), gcs6_before (GCS 6 at -2 h: CNS 4),
    # and, after 24 h, gcs8_late (GCS 8 at +30 h: CNS 3) and norepi_late (0.2 mcg/kg/min: 4)
    sofa = {"concept": "sofa", "statistic": "highest", "operator": ">=", "value": 3,
            "window_hours": {"start": 0, "end": 24}}
    assert kept(db, {"concept_value": sofa}) == {"septic", "gcs6_before"}
    assert kept(db, {"concept_value": {**sofa, "window_hours": {"start": 0, "end": 72}}}) == {
        "septic", "gcs6_before", "gcs8_late", "norepi_late"}
    # no value in the window: an exclusion keeps the stay
    assert everyone(db) - kept(db, {"concept_value": {**low_gcs, "exclude": True}}) == {"gcs13", "gcs6_before"}


def test_treatment_in_a_window(db):
    day1 = {"start": 0, "end": 24}
    assert kept(db, {"treatment": {"treatment": "ventilation", "window_hours": day1}}) == {"vent"}
    assert kept(db, {"treatment": {"treatment": "ventilation", "window_hours": {"start": 9, "end": 24}}}) == set()
    # the 8-10 h episode is supplemental oxygen
    assert kept(db, {"treatment": {"treatment": "ventilation", "ventilation_statuses": ["SupplementalOxygen"],
                                   "window_hours": {"start": 9, "end": 24}}}) == {"vent"}
    assert kept(db, {"treatment": {"treatment": "vasopressor", "window_hours": day1}}) == set()
    assert kept(db, {"treatment": {"treatment": "vasopressor", "window_hours": {"start": 0, "end": 48}}}) == {
        "norepi_late"}
    assert kept(db, {"treatment": {"treatment": "vasopressor", "vasopressors": ["vasopressin"],
                                   "window_hours": {"start": 0, "end": 48}}}) == set()
    assert kept(db, {"treatment": {"treatment": "rrt", "window_hours": day1}}) == {"crrt"}


def test_cam_icu_in_a_window(db):
    assert kept(db, {"cam_icu": {"window_hours": {"start": 0, "end": 24}}}) == {"cam"}
    assert kept(db, {"cam_icu": {"window_hours": {"start": 11, "end": 24}}}) == set()


def test_any_of_is_the_union_and_each_step_counts_once(db):
    con, s = db
    enceph = {"any_of": {"name": "enceph", "criteria": [
        {"concept_value": {"concept": "gcs", "statistic": "lowest", "operator": "<", "value": 15,
                           "window_hours": {"start": -6, "end": 24}}},
        {"icd_diagnosis": {"name": "stroke", "icd10": ["I63"]}},
        {"cam_icu": {"window_hours": {"start": 0, "end": 24}}},
    ]}}
    assert kept(db, enceph) == {"gcs13", "gcs6_before", "dx_principal", "dx_third", "cam"}
    # an excluded member: a stay meets the any_of when it does NOT meet that member
    neg = {"any_of": {"name": "n", "criteria": [{"age": {"min": 18, "exclude": True}},
                                                {"icd_diagnosis": {"name": "stroke", "icd10": ["I63"]}}]}}
    assert kept(db, neg) == {"young", "dx_principal", "dx_third"}
    # the attrition rows, in order, with the counts by hand: 25 stays; 24 adults; 22 first stays;
    # 4 of them in the any_of
    st = study_from_definition({"name": "t", "title": "t", "question": "q", "exposure": {"itemids": [222011]},
                                "cohort": {"criteria": [{"age": {"min": 18}}, {"first_icu_stay": {}}, enceph]}})
    _, attrition = cohort.build_cohort(con, st, SQL_DIR)
    assert attrition["n_remaining"].tolist() == [len(s), len(s) - 1, len(s) - 3, 5]
    assert attrition["description"].tolist()[1:] == [
        "age >= 18 years at hospital admission", "first ICU stay of the patient",
        "enceph: lowest GCS from -6 h to 24 h of ICU admission < 15 or stroke diagnosis code on the admission "
        "(ICD-9: 0, ICD-10: 1 prefixes) or a positive CAM-ICU in the first 24 h of the ICU stay"]


def test_readme_vocabulary_is_generated_from_the_schema():
    from pathlib import Path

    from icu_cohort import criteria

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    begin, end = readme.index(criteria.VOCABULARY_BEGIN), readme.index(criteria.VOCABULARY_END)
    assert readme[begin:end + len(criteria.VOCABULARY_END)] + "\n" == criteria.vocabulary_markdown()
    from icu_cohort.config import study_schema

    # the schema's kinds are the compiled ones, and each is documented
    assert tuple(study_schema()["$defs"]["criterion"]["properties"]) == criteria.KINDS
    for kind in criteria.KINDS:
        assert f"- **`{kind}`**" in readme


def test_the_readme_example_is_a_valid_study():
    import re
    from pathlib import Path

    import yaml

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = re.search(r"## Write your own study.*?```yaml\n(.*?)```", readme, re.DOTALL).group(1)
    st = study_from_definition(yaml.safe_load(example))
    assert [c.key for c in st.criteria] == ["age", "first_icu_stay", "icu_los", "ischaemic_stroke", "ventilated_day1"]
    assert st.criteria[-1].description.startswith("exclude ventilation (InvasiveVent) in the first 24 h")
