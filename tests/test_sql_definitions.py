"""Definitions fixed after mimic-code (issue 11, "Definitions to fix"): each test is worked out by
hand from the definition (or, for the Charlson code lists, checked against a second
implementation of mimic-code's rules over the whole MIMIC-IV ICD dictionary) and fails on the
earlier versions of the SQL files.

* Charlson (sql/score/charlson.sql): age points from 50 (Charlson 1994); code ranges compare
  digits only (C7A/C7B are not in C77-C80, C4A not in C45-C58).
* Suspected infection (sql/sepsis/suspicion_of_infection.sql): CANCELLED cultures are not
  positive; among cultures at the same time the positive one is reported.
* First-day GCS (sql/firstday/first_day_gcs.sql): ties at the lowest GCS take the latest charting.
* CAM-ICU (sql/measurement/cam_icu.sql): Ely EW et al. JAMA 2001 algorithm on the MIMIC-IV items.
* SAE study codes (config/studies/sae_mgso4.yaml): delirium NOS; hepatic encephalopathy and
  hypoglycaemic coma in both ICD versions.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from icu_cohort import cohort, concepts
from icu_cohort.sqlrun import run_file, strip_comments
from icu_cohort.study import Study
from test_cohort_support import SQL_DIR, Mimic, h, query, run_until, study
from test_sql_scores import COMORBIDITY_FLAGS, add_admission, con, flags_set, run_score  # noqa: F401

DEMO = Path("/work/shared/mimic-iv-demo-2.2")


# --------------------------------------------------------------------------------------------
# Charlson
# --------------------------------------------------------------------------------------------

# Charlson 1994: one point for each decade from 50. The earlier bands (<=50, 51-60, ...) gave
# the four decade birthdays one point too few.
DECADE_EDGES = [(49, 0), (50, 1), (59, 1), (60, 2), (69, 2), (70, 3), (79, 3), (80, 4)]


def test_charlson_age_points_start_at_each_decade_birthday(con):
    for hadm_id, (age, _) in enumerate(DECADE_EDGES, start=1):
        add_admission(con, hadm_id, age)
    out = run_score(con, "charlson.sql", "charlson")
    got = {age: (out[h]["age_score"], out[h]["charlson_comorbidity_index"])
           for h, (age, _) in enumerate(DECADE_EDGES, start=1)}
    # no diagnoses: the index is the age score
    assert got == {age: (points, points) for age, points in DECADE_EDGES}


# Codes whose first three characters sort between the ends of a range with digits but are not
# in it (a letter in third place), and controls inside the ranges. Age 45: age score 0.
RANGE_TRAP_CASES = [
    # C77-C80 metastatic solid tumour: secondary and unspecified malignant neoplasms only
    ("C7A010", 10, set(), 0),            # malignant carcinoid tumour of the duodenum
    ("C7B00", 10, set(), 0),             # secondary carcinoid tumours, unspecified site
    ("C7A1", 10, set(), 0),              # malignant poorly differentiated neuroendocrine tumour
    ("C7800", 10, {"metastatic_solid_tumor"}, 6),   # secondary malignant neoplasm of lung
    ("C799", 10, {"metastatic_solid_tumor"}, 6),
    ("C801", 10, {"metastatic_solid_tumor"}, 6),    # malignant neoplasm, unspecified
    # C45-C58 any malignancy: C4A (Merkel cell carcinoma, a skin cancer) sorts inside
    ("C4A9", 10, set(), 0),
    ("C4A39", 10, set(), 0),
    ("C450", 10, {"malignant_cancer"}, 2),          # mesothelioma of pleura
    ("C50911", 10, {"malignant_cancer"}, 2),        # breast
    ("C562", 10, {"malignant_cancer"}, 2),          # ovary
    # ICD-9 174.0-195.8 compares four characters: three-digit codes without a fourth digit that
    # lie in the range count (mimic-code's SUBSTR(..., 1, 4) BETWEEN '1740' AND '1958' too)
    ("185", 9, {"malignant_cancer"}, 2),            # prostate
    ("193", 9, {"malignant_cancer"}, 2),            # thyroid
]


def test_charlson_ranges_compare_digits_only(con):
    for hadm_id, (code, version, _, _) in enumerate(RANGE_TRAP_CASES, start=1):
        add_admission(con, hadm_id, 45, [(code, version)])
    out = run_score(con, "charlson.sql", "charlson")
    got = {(c, v): (flags_set(out[h]), out[h]["charlson_comorbidity_index"])
           for h, (c, v, _, _) in enumerate(RANGE_TRAP_CASES, start=1)}
    assert got == {(c, v): (flags, points) for c, v, flags, points in RANGE_TRAP_CASES}


# A second implementation of the code conditions of mimic-code's current
# mimic-iv/concepts_duckdb/comorbidity/charlson.sql (commit 2343210), transcribed clause by
# clause: (icd_version, number of leading characters, IN values or a BETWEEN pair).
def _in(version, n, *values):
    return (version, n, "in", values)


def _between(version, n, low, high):
    return (version, n, "between", (low, high))


MIMIC_CODE_CHARLSON = {
    "myocardial_infarct": [_in(9, 3, "410", "412"), _in(10, 3, "I21", "I22"), _in(10, 4, "I252")],
    "congestive_heart_failure": [
        _in(9, 3, "428"),
        _in(9, 5, "39891", "40201", "40211", "40291", "40401", "40403", "40411", "40413", "40491",
            "40493"),
        _between(9, 4, "4254", "4259"), _in(10, 3, "I43", "I50"),
        _in(10, 4, "I099", "I110", "I130", "I132", "I255", "I420", "I425", "I426", "I427", "I428",
            "I429", "P290")],
    "peripheral_vascular_disease": [
        _in(9, 3, "440", "441"), _in(9, 4, "0930", "4373", "4471", "5571", "5579", "V434"),
        _between(9, 4, "4431", "4439"), _in(10, 3, "I70", "I71"),
        _in(10, 4, "I731", "I738", "I739", "I771", "I790", "I792", "K551", "K558", "K559", "Z958",
            "Z959")],
    "cerebrovascular_disease": [
        _between(9, 3, "430", "438"), _in(9, 5, "36234"), _in(10, 3, "G45", "G46"),
        _between(10, 3, "I60", "I69"), _in(10, 4, "H340")],
    "dementia": [_in(9, 3, "290"), _in(9, 4, "2941", "3312"),
                 _in(10, 3, "F00", "F01", "F02", "F03", "G30"), _in(10, 4, "F051", "G311")],
    "chronic_pulmonary_disease": [
        _between(9, 3, "490", "505"), _in(9, 4, "4168", "4169", "5064", "5081", "5088"),
        _between(10, 3, "J40", "J47"), _between(10, 3, "J60", "J67"),
        _in(10, 4, "I278", "I279", "J684", "J701", "J703")],
    "rheumatic_disease": [
        _in(9, 3, "725"),
        _in(9, 4, "4465", "7100", "7101", "7102", "7103", "7104", "7140", "7141", "7142", "7148"),
        _in(10, 3, "M05", "M06", "M32", "M33", "M34"), _in(10, 4, "M315", "M351", "M353", "M360")],
    "peptic_ulcer_disease": [_in(9, 3, "531", "532", "533", "534"),
                             _in(10, 3, "K25", "K26", "K27", "K28")],
    "mild_liver_disease": [
        _in(9, 3, "570", "571"), _in(9, 4, "0706", "0709", "5733", "5734", "5738", "5739", "V427"),
        _in(9, 5, "07022", "07023", "07032", "07033", "07044", "07054"),
        _in(10, 3, "B18", "K73", "K74"),
        _in(10, 4, "K700", "K701", "K702", "K703", "K709", "K713", "K714", "K715", "K717", "K760",
            "K762", "K763", "K764", "K768", "K769", "Z944")],
    "diabetes_without_cc": [
        _in(9, 4, "2500", "2501", "2502", "2503", "2508", "2509"),
        _in(10, 4, "E100", "E101", "E106", "E108", "E109", "E110", "E111", "E116", "E118", "E119",
            "E120", "E121", "E126", "E128", "E129", "E130", "E131", "E136", "E138", "E139",
            "E140", "E141", "E146", "E148", "E149")],
    "diabetes_with_cc": [
        _in(9, 4, "2504", "2505", "2506", "2507"),
        _in(10, 4, "E102", "E103", "E104", "E105", "E107", "E112", "E113", "E114", "E115", "E117",
            "E122", "E123", "E124", "E125", "E127", "E132", "E133", "E134", "E135", "E137",
            "E142", "E143", "E144", "E145", "E147")],
    "paraplegia": [
        _in(9, 3, "342", "343"),
        _in(9, 4, "3341", "3440", "3441", "3442", "3443", "3444", "3445", "3446", "3449"),
        _in(10, 3, "G81", "G82"),
        _in(10, 4, "G041", "G114", "G801", "G802", "G830", "G831", "G832", "G833", "G834", "G839")],
    "renal_disease": [
        _in(9, 3, "582", "585", "586", "V56"), _in(9, 4, "5880", "V420", "V451"),
        _between(9, 4, "5830", "5837"),
        _in(9, 5, "40301", "40311", "40391", "40402", "40403", "40412", "40413", "40492", "40493"),
        _in(10, 3, "N18", "N19"),
        _in(10, 4, "I120", "I131", "N032", "N033", "N034", "N035", "N036", "N037", "N052", "N053",
            "N054", "N055", "N056", "N057", "N250", "Z490", "Z491", "Z492", "Z940", "Z992")],
    "malignant_cancer": [
        _between(9, 3, "140", "172"), _between(9, 4, "1740", "1958"), _between(9, 3, "200", "208"),
        _in(9, 4, "2386"), _in(10, 3, "C43", "C88"), _between(10, 3, "C00", "C26"),
        _between(10, 3, "C30", "C34"), _between(10, 3, "C37", "C41"),
        _between(10, 3, "C45", "C49"), _between(10, 3, "C50", "C58"),
        _between(10, 3, "C60", "C76"), _between(10, 3, "C81", "C85"),
        _between(10, 3, "C90", "C97")],
    "severe_liver_disease": [
        _in(9, 4, "4560", "4561", "4562"), _between(9, 4, "5722", "5728"),
        _in(10, 4, "I850", "I859", "I864", "I982", "K704", "K711", "K721", "K729", "K765", "K766",
            "K767")],
    "metastatic_solid_tumor": [_in(9, 3, "196", "197", "198", "199"),
                               _in(10, 3, "C77", "C78", "C79", "C80")],
    "aids": [_in(9, 3, "042", "043", "044"), _in(10, 3, "B20", "B21", "B22", "B24")],
}


def mimic_code_charlson_flags(code: str, version: int) -> set[str]:
    """The comorbidities mimic-code's charlson.sql gives one ICD code (SQL string comparison)."""
    found = set()
    for flag, clauses in MIMIC_CODE_CHARLSON.items():
        for v, n, kind, values in clauses:
            head = code[:n]
            if v == version and (head in values if kind == "in" else values[0] <= head <= values[1]):
                found.add(flag)
    return found


def test_charlson_flags_equal_mimic_code_for_every_code_of_the_icd_dictionary(con):
    """Every ICD-9/ICD-10 code of MIMIC-IV's d_icd_diagnoses, one admission each: the flags of
    our SQL equal mimic-code's rules (Python above). Two known differences are asserted too."""
    path = DEMO / "hosp" / "d_icd_diagnoses.csv.gz"
    if not path.exists():
        pytest.skip("MIMIC-IV demo not available")
    con.execute("""CREATE TABLE dictionary AS
        SELECT row_number() OVER (ORDER BY icd_version, icd_code) AS hadm_id, icd_code, icd_version
        FROM read_csv(?, header = true, columns = {'icd_code': 'VARCHAR', 'icd_version': 'SMALLINT',
                                                   'long_title': 'VARCHAR'})""", [str(path)])
    con.execute("INSERT INTO mimiciv_hosp.diagnoses_icd SELECT hadm_id, icd_code, icd_version FROM dictionary")
    con.execute("INSERT INTO mimiciv_hosp.patients VALUES (1, 43, 2150)")
    con.execute("INSERT INTO mimiciv_hosp.admissions SELECT 1, hadm_id, TIMESTAMP '2152-06-30 23:00' "
                "FROM dictionary")
    codes = dict(((k, (c, v)) for k, c, v in con.execute("SELECT * FROM dictionary").fetchall()))
    assert len(codes) > 100_000
    out = run_score(con, "charlson.sql", "charlson")
    differ = {}
    for k, (code, version) in codes.items():
        ours, theirs = flags_set(out[k]), mimic_code_charlson_flags(code, version)
        if ours != theirs:
            differ[(code, version)] = (ours, theirs)
    assert differ == {}
    # both say: no carcinoid/neuroendocrine tumour is a metastatic solid tumour
    neuroendocrine = [c for c, v in codes.values() if v == 10 and c[:3] in ("C7A", "C7B")]
    assert len(neuroendocrine) == 38
    assert not any(mimic_code_charlson_flags(c, 10) for c in neuroendocrine)


# --------------------------------------------------------------------------------------------
# Suspected infection: cancelled cultures
# --------------------------------------------------------------------------------------------

def _culture_rows(m: Mimic, stay: dict, charttime, organisms: list[tuple[int | None, str | None]]) -> int:
    """One specimen (a new micro_specimen_id) with one row per (org_itemid, org_name)."""
    specimen = m.next_id()
    for org_itemid, org_name in organisms:
        m.add("hosp/microbiologyevents", microevent_id=m.next_id(), subject_id=stay["subject_id"],
              hadm_id=stay["hadm_id"], micro_specimen_id=specimen,
              chartdate=charttime.replace(hour=0, minute=0), charttime=charttime, spec_itemid=70012,
              spec_type_desc="BLOOD CULTURE", test_seq=1, org_itemid=org_itemid, org_name=org_name)
    return specimen


def _suspicion(m: Mimic) -> dict[int, tuple]:
    con = m.connect()
    run_until(con, "mimiciv_derived.suspicion_of_infection")
    rows = query(con, "SELECT stay_id, suspected_infection, suspected_infection_time, positive_culture "
                      "FROM mimiciv_derived.suspicion_of_infection")
    return {r[0]: r[1:] for r in rows}


@pytest.mark.parametrize("organisms, positive", [
    ([(90760, "CANCELLED")], 0),                        # cancelled: not growth (was 1)
    ([(None, "CANCELLED")], 0),                         # named CANCELLED without the itemid
    ([(90856, "NEGATIVE")], 0),
    ([(None, None)], 0),                                # no organism
    ([(80004, "STAPH AUREUS COAG +")], 1),
    ([(90760, "CANCELLED"), (80004, "STAPH AUREUS COAG +")], 1),
])
def test_cancelled_culture_is_a_culture_but_not_a_positive_one(organisms, positive):
    m = Mimic()
    s = m.stay()
    _culture_rows(m, s, h(-10), organisms)      # 10 h before the antibiotic: culture first
    m.rx(s, "Cefepime", h(0))
    # the culture order still makes infection suspected, at the culture time (mimic-code)
    assert _suspicion(m) == {s["stay_id"]: (1, h(-10), positive)}


def test_positive_culture_wins_a_tie_between_cultures_taken_at_the_same_time():
    m = Mimic()
    s = m.stay()
    # two specimens at the same time, the cancelled one with the lower micro_specimen_id:
    # before, the lower id was taken and positive_culture was 0
    first = _culture_rows(m, s, h(-5), [(90760, "CANCELLED")])
    second = _culture_rows(m, s, h(-5), [(80004, "STAPH AUREUS COAG +")])
    assert first < second
    m.rx(s, "Vancomycin", h(0))
    # and the same after the antibiotic (the 24-hour branch)
    s2 = m.stay()
    m.rx(s2, "Vancomycin", h(0))
    _culture_rows(m, s2, h(3), [(None, None)])
    _culture_rows(m, s2, h(3), [(80004, "STAPH AUREUS COAG +")])
    assert _suspicion(m) == {s["stay_id"]: (1, h(-5), 1), s2["stay_id"]: (1, h(0), 1)}


# --------------------------------------------------------------------------------------------
# First-day GCS: ties at the lowest total
# --------------------------------------------------------------------------------------------

def test_first_day_gcs_components_of_a_tie_come_from_the_latest_charting():
    m = Mimic()
    s = m.stay()
    # (hours after intime, eyes, verbal, motor): totals 13, 15, 13, 14 -- the lowest (13) twice
    for hours, eyes, verbal, motor in [(2, 2, 5, 6), (4, 4, 5, 6), (8, 3, 4, 6), (12, 4, 4, 6)]:
        m.chart(s, 220739, h(hours), eyes)
        m.chart(s, 223900, h(hours), verbal)
        m.chart(s, 223901, h(hours), motor)
    con = m.connect()
    run_until(con, "mimiciv_derived.first_day_gcs")
    # the +8 h charting (eyes 3, verbal 4, motor 6), not the +2 h one (eyes 2, verbal 5)
    assert query(con, "SELECT stay_id, gcs_min, gcs_eyes, gcs_verbal, gcs_motor, gcs_unable "
                      "FROM mimiciv_derived.first_day_gcs") == [(s["stay_id"], 13, 3, 4, 6, 0)]


# --------------------------------------------------------------------------------------------
# SAE study codes: delirium NOS, hepatic encephalopathy, hypoglycaemic coma
# --------------------------------------------------------------------------------------------

def _study_groups(code: str, version: int, name: str = "sae_mgso4") -> set[tuple[str, str]]:
    """The (kind, group) pairs of the study whose prefixes cover the code, as the SQL matches."""
    rows = cohort.sql_params(Study(study(name)))["icd_prefix_rows"]
    return {(kind, group) for kind, group, v, prefix, _seq in rows if v == version and code.startswith(prefix)}


METABOLIC = ("criterion", "metabolic_toxic_encephalopathy")
STUDY_CODE_CASES = [
    # delirium NOS where the indexes put it (ICD-9-CM index 780.09; ICD-10-CM R41.0 "Delirium NOS")
    ("78009", 9, {("criterion", "delirium")}),
    ("R410", 10, {("criterion", "delirium")}),
    ("F05", 10, {("criterion", "delirium")}),
    ("2930", 9, {("criterion", "delirium")}),
    ("78001", 9, set()),            # coma: not delirium
    ("R4182", 10, set()),           # altered mental status, unspecified: not delirium
    # hepatic encephalopathy: ICD-9 572.2; ICD-10 hepatic failure with or without coma
    ("5722", 9, {METABOLIC}),
    ("K7290", 10, {METABOLIC}), ("K7291", 10, {METABOLIC}), ("K7200", 10, {METABOLIC}),
    ("K7211", 10, {METABOLIC}), ("K7040", 10, {METABOLIC}), ("K7041", 10, {METABOLIC}),
    ("K7110", 10, {METABOLIC}), ("K7111", 10, {METABOLIC}), ("K9182", 10, {METABOLIC}),
    ("K7682", 10, {METABOLIC}),
    ("5728", 9, set()),             # other sequelae of chronic liver disease: no encephalopathy
    ("K7030", 10, set()),           # alcoholic cirrhosis (a covariate only)
    ("K7120", 10, set()),           # toxic liver disease with acute hepatitis: no hepatic failure
    # hypoglycaemia: non-diabetic with or without coma; diabetic only with coma, in both systems
    ("2512", 9, {METABOLIC}), ("E162", 10, {METABOLIC}), ("E160", 10, {METABOLIC}),
    ("2510", 9, {METABOLIC}), ("E15", 10, {METABOLIC}),
    ("25030", 9, {METABOLIC}),      # diabetes with other coma (incl. hypoglycaemic coma)
    ("E10641", 10, {METABOLIC}), ("E11641", 10, {METABOLIC}), ("E13641", 10, {METABOLIC}),
    ("E10649", 10, set()),          # with hypoglycaemia WITHOUT coma: not excluded (was)
    ("E11649", 10, set()),
    ("E13649", 10, set()),
    ("25080", 9, set()),            # ICD-9 diabetes with other specified manifestations
]


@pytest.mark.parametrize("name", ["sae_mgso4", "sae_mgso4_48h"])
def test_study_delirium_and_metabolic_codes(name):
    # the groups that decide the cohort: delirium (inclusion) and the exclusion steps
    got = {(c, v): {g for g in _study_groups(c, v, name) if g[0] == "criterion"}
           for c, v, _ in STUDY_CODE_CASES}
    assert got == {(c, v): groups for c, v, groups in STUDY_CODE_CASES}


# --------------------------------------------------------------------------------------------
# CAM-ICU (sql/measurement/cam_icu.sql)
# --------------------------------------------------------------------------------------------

CAM_FILE = SQL_DIR / "measurement" / "cam_icu.sql"
# feature -> itemids (d_items labels in the SQL header); 228332 the overall "Delirium assessment"
CAM_ITEMS = {"ms_change": (228300, 228337, 229326), "inattention": (228301, 228336, 229325),
             "altered_loc": (228302, 228334), "disorganized_thinking": (228303, 228335, 229324)}
DELIRIUM_ASSESSMENT = 228332
CAM_COLUMNS = ["subject_id", "stay_id", "charttime", "ms_change", "inattention", "altered_loc",
               "disorganized_thinking", "cam_icu_features", "delirium_assessment", "cam_icu_positive"]


def _cam_icu(m: Mimic) -> dict[tuple, tuple]:
    """Run stage.chartevents and cam_icu.sql only; rows keyed by (stay_id, charttime)."""
    con = m.connect()
    for schema in concepts.SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    run_file(con, SQL_DIR / "stage/chartevents.sql")
    run_file(con, SQL_DIR / "measurement/cam_icu.sql", table="mimiciv_derived.cam_icu")
    rel = con.execute("SELECT * FROM mimiciv_derived.cam_icu")
    assert [d[0] for d in rel.description] == CAM_COLUMNS
    rows = rel.fetchall()
    out = {(r[1], r[2]): r[3:] for r in rows}
    assert len(out) == len(rows)
    return out


# (feature 1, 2, 3, 4 as charted text or None) -> (coded 1/0/NULL per feature, algorithm result),
# each worked out from Ely 2001: F1 AND F2 AND (F3 OR F4).
CAM_CASES = [
    (("Yes", "Yes", "Yes", "No"), (1, 1, 1, 0), 1),
    (("Yes", "Yes", "No", "Yes"), (1, 1, 0, 1), 1),
    (("Yes (Continue)", "Yes (3 or more errors)", None, "Yes"), (1, 1, None, 1), 1),  # F3 not needed
    (("Yes", "Yes", "No", "No"), (1, 1, 0, 0), 0),
    (("No", "Yes", "Yes", "Yes"), (0, 1, 1, 1), 0),                 # no change in mental status
    (("No (Stop-Not delirious)", None, None, None), (0, None, None, None), 0),   # form stopped at F1
    (("Yes", "No (less than 3 errors)", None, None), (1, 0, None, None), 0),
    (("Yes", "Yes", None, "No"), (1, 1, None, 0), None),            # F3 missing decides: undetermined
    (("Yes", "Unable to Assess", "Yes", "Yes"), (1, None, 1, 1), None),
    (("UTA", None, None, None), (None, None, None, None), None),
    ((None, "Language Barrier", None, None), (None, None, None, None), None),
]


def test_cam_icu_algorithm_on_hand_built_assessments():
    m = Mimic()
    s = m.stay()
    expected = {}
    for k, (answers, coded, result) in enumerate(CAM_CASES):
        t = h(2 * k)
        for feature, answer in zip(CAM_ITEMS, answers):
            if answer is not None:
                # rotate through the form versions' itemids
                items = CAM_ITEMS[feature]
                m.chart(s, items[k % len(items)], t, value=answer)
        expected[(s["stay_id"], t)] = (*coded, result, None, result)
    assert _cam_icu(m) == expected


def test_cam_icu_overall_item_fills_in_only_when_the_features_do_not_decide():
    m = Mimic()
    s = m.stay()
    # overall item alone
    m.chart(s, DELIRIUM_ASSESSMENT, h(1), value="Positive")
    m.chart(s, DELIRIUM_ASSESSMENT, h(2), value="Negative")
    m.chart(s, DELIRIUM_ASSESSMENT, h(3), value="UTA")
    # features negative (F1 No), overall positive: the algorithm's result is used
    m.chart(s, 228337, h(4), value="No")
    m.chart(s, DELIRIUM_ASSESSMENT, h(4), value="Positive")
    # features undetermined (F2 unable to assess), overall positive: the overall item is used
    m.chart(s, 228337, h(5), value="Yes")
    m.chart(s, 228336, h(5), value="Unable to Assess")
    m.chart(s, DELIRIUM_ASSESSMENT, h(5), value="Positive")
    # two rows of one feature at one time (two form versions): present if either says so
    for itemid, answer in [(228300, "No"), (228337, "Yes"), (228301, "Yes"), (228335, "Yes")]:
        m.chart(s, itemid, h(6), value=answer)
    # other stays' rows and a row without stay_id stay apart / are not read
    s2 = m.stay()
    m.chart(s2, DELIRIUM_ASSESSMENT, h(1), value="Negative")
    m.add("icu/chartevents", subject_id=s2["subject_id"], hadm_id=s2["hadm_id"], stay_id=None,
          charttime=h(9), storetime=h(9), itemid=DELIRIUM_ASSESSMENT, value="Positive")
    m.chart(s2, 220045, h(1), 80.0)          # heart rate: not a CAM-ICU item
    i = s["stay_id"]
    assert _cam_icu(m) == {
        (i, h(1)): (None, None, None, None, None, 1, 1),
        (i, h(2)): (None, None, None, None, None, 0, 0),
        (i, h(3)): (None, None, None, None, None, None, None),
        (i, h(4)): (0, None, None, None, 0, 1, 0),
        (i, h(5)): (1, None, None, None, None, 1, 1),
        (i, h(6)): (1, 1, None, 1, 1, None, 1),
        (s2["stay_id"], h(1)): (None, None, None, None, None, 0, 0),
    }


def test_cam_icu_itemids_are_in_the_chartevents_stage():
    stage = strip_comments((SQL_DIR / "stage" / "chartevents.sql").read_text())
    listed = set(re.findall(r"\b2[0-9]{5}\b", stage))
    used = set(re.findall(r"\b22[0-9]{4}\b", strip_comments(CAM_FILE.read_text())))
    expected = {str(i) for items in CAM_ITEMS.values() for i in items} | {str(DELIRIUM_ASSESSMENT)}
    assert used == expected and used <= listed


def test_cam_icu_itemids_have_their_d_items_labels():
    path = DEMO / "icu" / "d_items.csv.gz"
    if not path.exists():
        pytest.skip("MIMIC-IV demo not available")
    import duckdb

    labels = dict(duckdb.connect().execute(
        "SELECT itemid, label FROM read_csv(?, header = true) WHERE linksto = 'chartevents'",
        [str(path)]).fetchall())
    want = {"ms_change": "cam-icu ms change", "inattention": "cam-icu inattention",
            "altered_loc": ("cam-icu rass loc", "cam-icu altered loc"),
            "disorganized_thinking": "cam-icu disorganized thinking"}
    for feature, items in CAM_ITEMS.items():
        for itemid in items:
            assert labels[itemid].lower() in (want[feature] if isinstance(want[feature], tuple)
                                              else (want[feature],)), itemid
    assert labels[DELIRIUM_ASSESSMENT] == "Delirium assessment"


def test_delirium_by_cam_icu_is_a_study_option_with_its_window():
    """A septic stay with a normal GCS and no delirium code is encephalopathic only through a
    positive CAM-ICU, and only when the study asks for it and the assessment is in its window."""
    from test_cohort_support import build

    m = Mimic()
    early = m.sae_stay(gcs=(4, 5, 6))      # GCS 15: no encephalopathy by GCS
    late = m.sae_stay(gcs=(4, 5, 6))
    for stay, hours in ((early, 10), (late, 30)):
        for itemid, answer in ((228300, "Yes"), (228301, "Yes"), (228302, "Yes"), (228303, "No")):
            m.chart(stay, itemid, h(hours, stay["intime"]), value=answer)
    con = m.connect()
    off = study()
    enceph = next(c["any_of"] for c in off["cohort"]["criteria"] if "any_of" in c)
    assert not [c for c in enceph["criteria"] if "cam_icu" in c]  # the shipped study does not use it
    df, attrition = build(con, off)
    assert len(df) == 0
    on = study()
    next(c["any_of"] for c in on["cohort"]["criteria"] if "any_of" in c)["criteria"].append(
        {"cam_icu": {"window_hours": {"start": 0, "end": 24}}})
    df, attrition = cohort.build_cohort(con, Study(on))
    assert df["stay_id"].tolist() == [early["stay_id"]]  # the CAM-ICU at 30 h is outside 24 h
    assert "positive CAM-ICU in the first 24 h" in " ".join(attrition["description"])
