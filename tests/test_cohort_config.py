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
    return {(kind, name) for kind, name, v, prefix in rows if v == version and code.startswith(prefix)}


@pytest.mark.parametrize("name", ["sae_mgso4", "sae_mgso4_48h"])
def test_planted_codes_fall_in_exactly_their_step(name):
    st = study(name)
    rows = cohort.sql_params(Study(st))["icd_prefix_rows"]
    assert [e["name"] for e in st["cohort"]["exclusions"]] == [
        "neurological", "metabolic_toxic_encephalopathy", "alcohol_drug", "psychiatric"]
    for group, codes in PLANTED.items():
        kind = "delirium" if group == "delirium" else "exclusion"
        for code, version in codes:
            found = {g for g in _groups(code, version, rows) if g[0] in ("delirium", "exclusion")}
            assert found == {(kind, group)}, (code, version, found)
    for group, codes in COMORBIDITY.items():
        for code, version in codes:
            found = _groups(code, version, rows)
            assert ("comorbidity", group) in found and not {g for g in found if g[0] == "exclusion"}, code
    for code, version in SEPSIS_CODES + FILLER_CODES:
        assert not _groups(code, version, rows), code
    # The ICD-9-CM / ICD-10-CM indexes code "Encephalopathy, septic" as 348.31 / G93.41
    # (metabolic encephalopathy): the disease under study, never an exclusion.
    for code, version in SEPTIC_ENCEPHALOPATHY_CODES:
        assert not {g for g in _groups(code, version, rows) if g[0] == "exclusion"}, code


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
    assert filled["cohort"]["min_age"] == 18 and filled["cohort"]["min_icu_los_hours"] == 24
    assert filled["cohort"]["sepsis3"] == {"sofa_threshold": 2, "hours_before_suspicion": 48,
                                           "hours_after_suspicion": 24}
    assert filled["exposure"]["window_end_hours"] is None and filled["exposure"]["name"] == "mgso4"
    assert filled["outcome"] == {"horizon_days": 28, "dod_hour_of_day": 12}
    assert filled["name"] == "x"


@pytest.mark.parametrize("section, bad, message", [
    ("cohort", {"min_agee": 18}, r"cohort: Additional properties are not allowed \('min_agee'"),
    ("exposure", {"itemids": ["222011"]}, r"exposure\.itemids\.0: '222011' is not of type 'integer'"),
    ("cohort", {"exclusions": [{"name": "Bad Name"}]}, r"cohort\.exclusions\.0\.name: 'Bad Name' does not match"),
    ("cohort", {"exclusions": [{"name": "x", "icd10": ["I63.9"]}]}, r"icd10\.0: 'I63\.9' does not match"),
    ("covariates", {"labs": {"wbc": []}}, r"covariates\.labs\.wbc: \[\] should be non-empty"),
])
def test_schema_names_a_wrong_key_or_value(section, bad, message):
    st = {"name": "x", "title": "t", "question": "q", "exposure": {"itemids": [222011]}}
    st[section] = {**st.get(section, {}), **bad}
    with pytest.raises(ConfigError, match=message):
        study_from_definition(st)
