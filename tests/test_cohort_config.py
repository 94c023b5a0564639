"""The study files' cohort sections: schema, the two SAE studies, and the ICD lists against the
codes the synthetic generator plants (/tmp/icu_spec.md, "Codes the synthetic generator plants")."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from icu_cohort import cohort
from icu_cohort.config import ConfigError
from icu_cohort.study import Study, study_from_definition
from test_cohort_support import study

REPO = Path(__file__).resolve().parents[1]

# (code, icd_version) -> the group it must fall in; None: in no exclusion group
PLANTED = {
    "delirium": [("F05", 10), ("2930", 9)],
    "neurological": [("I639", 10), ("I619", 10), ("G40909", 10), ("G039", 10), ("C719", 10), ("S06300A", 10),
                     ("43491", 9), ("431", 9), ("34590", 9), ("3229", 9), ("1919", 9), ("85400", 9)],
    "metabolic_toxic_encephalopathy": [("K7290", 10), ("E162", 10), ("E512", 10), ("I674", 10), ("5722", 9),
                                       ("2512", 9), ("2651", 9), ("4372", 9)],
    "alcohol_drug": [("F10239", 10), ("F10129", 10), ("T401X1A", 10), ("2910", 9), ("29181", 9), ("9650", 9)],
    "psychiatric": [("F209", 10), ("F319", 10), ("2959", 9), ("29680", 9)],
}
COMORBIDITY = {"copd": [("J449", 10), ("496", 9)], "aki": [("N179", 10), ("5849", 9)],
               "heart_failure": [("I509", 10), ("4280", 9)], "diabetes": [("E119", 10), ("25000", 9)],
               "hypertension": [("I10", 10), ("4019", 9)], "ckd": [("N189", 10), ("5859", 9)],
               "liver_disease": [("K7460", 10), ("5715", 9)], "malignancy": [("C349", 10), ("1629", 9)]}
SEPSIS_CODES = [("A419", 10), ("R6520", 10), ("0389", 9), ("99592", 9)]
SEPTIC_ENCEPHALOPATHY_CODES = [("34831", 9), ("34830", 9), ("G9341", 10), ("G9340", 10)]
# the generator's filler diagnoses (hyperlipidaemia, GERD, anaemia, anticoagulation, AF, obesity,
# UTI, pneumonia): in no study group
FILLER_CODES = [("2724", 9), ("E785", 10), ("53081", 9), ("K219", 10), ("2859", 9), ("D649", 10),
                ("V5861", 9), ("Z7901", 10), ("42731", 9), ("I4891", 10), ("27800", 9), ("E669", 10),
                ("5990", 9), ("N390", 10), ("486", 9), ("J189", 10)]


def _groups(code: str, version: int, rows) -> set[tuple[str, str]]:
    """The (kind, name) groups whose prefix list covers the code, as the SQL matches them."""
    return {(kind, name) for kind, name, v, prefix, _seq in rows if v == version and code.startswith(prefix)}


@pytest.mark.parametrize("name", ["sae_mgso4", "sae_mgso4_48h"])
def test_planted_codes_fall_in_exactly_their_step(name):
    st = study(name)
    rows = cohort.sql_params(Study(st))["icd_prefix_rows"]
    steps = Study(st).criteria
    assert [c.key for c in steps] == ["age", "first_icu_stay", "icu_los", "sepsis3", "encephalopathy",
                                      "neurological", "metabolic_toxic_encephalopathy", "alcohol_drug", "psychiatric"]
    assert [c.predicate.startswith("(NOT ") for c in steps] == [False] * 5 + [True] * 4
    for group, codes in PLANTED.items():
        for code, version in codes:
            found = {g for g in _groups(code, version, rows) if g[0] == "criterion"}
            assert found == {("criterion", group)}, (code, version, found)
    for group, codes in COMORBIDITY.items():
        for code, version in codes:
            found = _groups(code, version, rows)
            assert ("comorbidity", group) in found and not {g for g in found if g[0] == "criterion"}, code
    for code, version in SEPSIS_CODES + FILLER_CODES:
        assert not _groups(code, version, rows), code
    # The ICD-9-CM / ICD-10-CM indexes code "Encephalopathy, septic" as 348.31 / G93.41
    # (metabolic encephalopathy): the disease under study, never an exclusion.
    for code, version in SEPTIC_ENCEPHALOPATHY_CODES:
        assert not {g for g in _groups(code, version, rows) if g[0] == "criterion"}, code


def test_the_48h_study_differs_from_the_default_only_in_the_exposure_window():
    a, b = study("sae_mgso4"), study("sae_mgso4_48h")
    assert a["exposure"]["window_end_hours"] is None and b["exposure"]["window_end_hours"] == 48
    b["exposure"]["window_end_hours"] = None
    for key in ("name", "title", "question", "description", "reference"):
        a.pop(key, None)
        b.pop(key, None)
    assert a == b


def test_study_covariates_are_those_of_the_spec():
    st = study()
    assert Study(st).covariate_columns == [
        "age", "weight", "heart_rate", "mbp", "resp_rate", "temperature", "spo2", "wbc", "hemoglobin",
        "platelets", "creatinine", "bun", "glucose", "sodium", "potassium", "calcium", "magnesium", "lactate",
        "bilirubin", "inr", "sofa", "gcs_min", "charlson", "apsiii", "male", "mechanical_ventilation",
        "vasopressor", "rrt", "copd", "aki", "heart_failure", "diabetes", "hypertension", "ckd",
        "liver_disease", "malignancy", "race"]
    assert st["covariates"]["categorical"] == ["race"]
    assert st["exposure"]["itemids"] == [222011, 227523]


def test_defaults_fill_a_minimal_study():
    filled = study_from_definition({"name": "x", "title": "t", "question": "q", "exposure": {"itemids": [222011]}})
    assert filled["cohort"] == {"criteria": []} and filled.criteria == ()  # every ICU stay
    withsepsis = study_from_definition({"name": "x", "title": "t", "question": "q", "exposure": {"itemids": [1]},
                                        "cohort": {"criteria": [{"sepsis3": {}}, {"age": {"min": 18}}]}})
    assert withsepsis["cohort"]["criteria"][0]["sepsis3"] == {
        "sofa_threshold": 2, "hours_before_suspicion": 48, "hours_after_suspicion": 24}
    assert filled["exposure"]["window_end_hours"] is None and filled["exposure"]["name"] == "mgso4"
    assert filled["outcome"] == {"horizon_days": 28, "dod_hour_of_day": 12, "secondary": []}
    assert filled["name"] == "x"


@pytest.mark.parametrize("section, bad, message", [
    ("cohort", {"min_agee": 18}, r"cohort: Additional properties are not allowed \('min_agee'"),
    ("exposure", {"itemids": ["222011"]}, r"exposure\.itemids\.0: '222011' is not of type 'integer'"),
    ("cohort", {"criteria": [{"agee": {"min": 18}}]},
     r"cohort\.criteria\.0: Additional properties are not allowed \('agee' was unexpected\)"),
    ("cohort", {"criteria": [{"age": {"minimum": 18}}]},
     r"cohort\.criteria\.0\.age: Additional properties are not allowed \('minimum' was unexpected\)"),
    ("cohort", {"criteria": [{"any_of": {"criteria": [{"icu_los": {"min_hour": 4}}]}}]},
     r"cohort\.criteria\.0\.any_of\.criteria\.0\.icu_los: Additional properties are not allowed \('min_hour'"),
    ("cohort", {"criteria": [{"age": {"min": 18}, "icu_los": {"min_hours": 4}}]},
     r"cohort\.criteria\.0: .* has too many properties"),
    ("cohort", {"criteria": [{"icd_diagnosis": {"name": "Bad Name", "icd9": ["430"]}}]},
     r"cohort\.criteria\.0\.icd_diagnosis\.name: 'Bad Name' does not match"),
    ("cohort", {"criteria": [{"icd_diagnosis": {"name": "x", "icd10": ["I63.9"]}}]}, r"icd10\.0: 'I63\.9' does not match"),
    ("cohort", {"criteria": [{"treatment": {"treatment": "ecmo", "window_hours": {"start": 0, "end": 24}}}]},
     r"cohort\.criteria\.0\.treatment\.treatment: 'ecmo' is not one of"),
    ("cohort", {"criteria": [{"concept_value": {"concept": "gcs", "statistic": "lowest", "operator": "<",
                                                "value": 15}}]},
     r"cohort\.criteria\.0\.concept_value: 'window_hours' is a required property"),
    ("covariates", {"labs": {"wbc": []}}, r"covariates\.labs\.wbc: \[\] should be non-empty"),
])
def test_schema_names_a_wrong_key_or_value(section, bad, message):
    st = {"name": "x", "title": "t", "question": "q", "exposure": {"itemids": [222011]}}
    st[section] = {**st.get(section, {}), **bad}
    with pytest.raises(ConfigError, match=message):
        study_from_definition(st)


@pytest.mark.parametrize("criteria, message", [
    ([{"age": {}}], r"cohort\.criteria\.0\.age: give min, max or both"),
    ([{"icu_los": {}}], r"cohort\.criteria\.0\.icu_los: give min_hours, max_hours or both"),
    ([{"icd_diagnosis": {"name": "x"}}], r"cohort\.criteria\.0\.icd_diagnosis: list at least one prefix"),
    ([{"age": {"min": 18}}, {"age": {"max": 90}}], r"cohort\.criteria\.1\.age\.name: step name 'age' is also used"),
    ([{"any_of": {"criteria": [{"age": {"min": 1}}]}}, {"age": {"min": 2}}], r"step name 'age' is also used at "
                                                                              r"cohort\.criteria\.0\.any_of\.criteria\.0"),
    ([{"concept_value": {"concept": "lab", "statistic": "highest", "operator": ">", "value": 2,
                         "window_hours": {"start": 0, "end": 24}}}], r"concept lab needs itemids"),
    ([{"concept_value": {"concept": "gcs", "itemids": [1], "statistic": "lowest", "operator": "<", "value": 2,
                         "window_hours": {"start": 0, "end": 24}}}], r"\.itemids: only concept lab takes itemids"),
    ([{"cam_icu": {"window_hours": {"start": 24, "end": 0}}}], r"cam_icu\.window_hours: end is before start"),
    ([{"sepsis3": {}}, {"any_of": {"criteria": [{"sepsis3": {"name": "s2", "sofa_threshold": 3}}]}}],
     r"a second Sepsis-3 window differs"),
])
def test_criteria_the_schema_cannot_check_are_named(criteria, message):
    st = {"name": "x", "title": "t", "question": "q", "exposure": {"itemids": [222011]},
          "cohort": {"criteria": criteria}}
    with pytest.raises(ConfigError, match=message):
        study_from_definition(st)


def test_descriptions_say_what_each_step_keeps():
    st = {"name": "x", "title": "t", "question": "q", "exposure": {"itemids": [222011]}, "cohort": {"criteria": [
        {"age": {"min": 18, "max": 89}},
        {"first_icu_stay": {"of": "admission"}},
        {"icu_los": {"min_hours": 4, "max_hours": 240}},
        {"first_careunit": {"units": ["Neuro SICU"], "exclude": True}},
        {"concept_value": {"concept": "sofa", "statistic": "highest", "operator": ">=", "value": 2,
                           "window_hours": {"start": 0, "end": 24}}},
        {"treatment": {"treatment": "vasopressor", "vasopressors": ["norepinephrine"],
                       "window_hours": {"start": -6, "end": 24}}},
        {"any_of": {"name": "brain", "description": "brain injury", "exclude": True, "criteria": [
            {"icd_diagnosis": {"name": "tbi", "description": "a TBI code", "icd10": ["S06"]}},
            {"cam_icu": {"window_hours": {"start": 0, "end": 48}}}]}},
    ]}}
    assert [c.description for c in study_from_definition(st).criteria] == [
        "age 18-89 years at hospital admission",
        "first ICU stay of the hospital admission",
        "ICU length of stay > 4 h and <= 240 h",
        "exclude first care unit: Neuro SICU",
        "highest SOFA (24 h) in the first 24 h of the ICU stay >= 2",
        "vasopressor (norepinephrine) from -6 h to 24 h of ICU admission",
        "exclude brain injury: a TBI code or a positive CAM-ICU in the first 48 h of the ICU stay",
    ]
