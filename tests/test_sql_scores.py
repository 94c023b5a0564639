"""Hand-computed checks of sql/score/charlson.sql and sql/score/apsiii.sql.

Each test builds tiny input tables in an in-memory DuckDB, with exactly the columns the two SQL
files read (mimic-code's table and column names), runs the file and compares with answers worked
out by hand from the published tables (Quan 2005 / Charlson 1987 weights; Knaus 1991 APS III as
implemented in mimic-code's apsiii.sql).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

SCORE_SQL = Path(__file__).resolve().parents[1] / "sql" / "score"

# Exactly the input columns the two files read, typed as mimic-code / the loader make them.
INPUT_TABLES: dict[str, str] = {
    "mimiciv_hosp.patients": "subject_id INTEGER, anchor_age SMALLINT, anchor_year SMALLINT",
    "mimiciv_hosp.admissions": "subject_id INTEGER, hadm_id INTEGER, admittime TIMESTAMP",
    "mimiciv_hosp.diagnoses_icd": "hadm_id INTEGER, icd_code VARCHAR, icd_version SMALLINT",
    "mimiciv_icu.icustays": (
        "subject_id INTEGER, hadm_id INTEGER, stay_id INTEGER, intime TIMESTAMP, outtime TIMESTAMP"
    ),
    "mimiciv_derived.first_day_vitalsign": (
        "stay_id INTEGER, heart_rate_min DOUBLE, heart_rate_max DOUBLE, mbp_min DOUBLE, "
        "mbp_max DOUBLE, resp_rate_min DOUBLE, resp_rate_max DOUBLE, glucose_min DOUBLE, "
        "glucose_max DOUBLE"
    ),
    # mimic-code's vitalsign.temperature is ROUND(CAST(... AS DECIMAL(38, 9)), 2)
    "mimiciv_derived.vitalsign": (
        "stay_id INTEGER, charttime TIMESTAMP, temperature DECIMAL(38, 2), "
        "temperature_site VARCHAR"
    ),
    "mimiciv_derived.first_day_lab": (
        "stay_id INTEGER, hematocrit_min DOUBLE, hematocrit_max DOUBLE, wbc_min DOUBLE, "
        "wbc_max DOUBLE, creatinine_min DOUBLE, creatinine_max DOUBLE, bun_min DOUBLE, "
        "bun_max DOUBLE, sodium_min DOUBLE, sodium_max DOUBLE, albumin_min DOUBLE, "
        "albumin_max DOUBLE, bilirubin_total_min DOUBLE, bilirubin_total_max DOUBLE, "
        "glucose_min DOUBLE, glucose_max DOUBLE"
    ),
    "mimiciv_derived.first_day_urine_output": "stay_id INTEGER, urineoutput DOUBLE",
    "mimiciv_derived.first_day_gcs": (
        "stay_id INTEGER, gcs_motor DOUBLE, gcs_verbal DOUBLE, gcs_eyes DOUBLE, gcs_unable INTEGER"
    ),
    "mimiciv_derived.bg": (
        "hadm_id INTEGER, charttime TIMESTAMP, specimen VARCHAR, po2 DOUBLE, pco2 DOUBLE, "
        "ph DOUBLE, fio2 DOUBLE, fio2_chartevents DOUBLE, aado2 DOUBLE"
    ),
    "mimiciv_derived.ventilation": (
        "stay_id INTEGER, starttime TIMESTAMP, endtime TIMESTAMP, ventilation_status VARCHAR"
    ),
}

CHARLSON_COLUMNS = [
    "subject_id", "hadm_id", "age_score", "myocardial_infarct", "congestive_heart_failure",
    "peripheral_vascular_disease", "cerebrovascular_disease", "dementia",
    "chronic_pulmonary_disease", "rheumatic_disease", "peptic_ulcer_disease",
    "mild_liver_disease", "diabetes_without_cc", "diabetes_with_cc", "paraplegia",
    "renal_disease", "malignant_cancer", "severe_liver_disease", "metastatic_solid_tumor",
    "aids", "charlson_comorbidity_index",
]
COMORBIDITY_FLAGS = CHARLSON_COLUMNS[3:-1]

APS_COMPONENTS = [
    "hr_score", "mbp_score", "temp_score", "resp_rate_score", "pao2_aado2_score",
    "hematocrit_score", "wbc_score", "creatinine_score", "uo_score", "bun_score",
    "sodium_score", "albumin_score", "bilirubin_score", "glucose_score", "acidbase_score",
    "gcs_score",
]
APSIII_COLUMNS = ["subject_id", "hadm_id", "stay_id", "apsiii", "apsiii_prob", *APS_COMPONENTS]

INTIME = datetime(2150, 3, 1, 8, 0)


@pytest.fixture()
def con():
    db = duckdb.connect(":memory:")
    for schema in ("mimiciv_hosp", "mimiciv_icu", "mimiciv_derived"):
        db.execute(f"CREATE SCHEMA {schema}")
    for name, columns in INPUT_TABLES.items():
        db.execute(f"CREATE TABLE {name} ({columns})")
    yield db
    db.close()


def insert(db: duckdb.DuckDBPyConnection, table: str, **row) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values()))


def run_score(db: duckdb.DuckDBPyConnection, filename: str, table: str) -> dict[int, dict]:
    db.execute((SCORE_SQL / filename).read_text())
    rel = db.execute(f"SELECT * FROM mimiciv_derived.{table}")
    names = [d[0] for d in rel.description]
    key = "hadm_id" if table == "charlson" else "stay_id"
    rows = [dict(zip(names, r)) for r in rel.fetchall()]
    out = {r[key]: r for r in rows}
    assert len(out) == len(rows), f"{table}: more than one row per {key}"
    return out


# --------------------------------------------------------------------------------------------
# Charlson
# --------------------------------------------------------------------------------------------

def add_admission(db, hadm_id: int, age: int, codes: list[tuple[str, int]] = ()) -> None:
    """One patient + admission with the given age at admission and (code, version) diagnoses."""
    subject_id = hadm_id + 500
    # anchor shift: anchor_year 2150, admitted 2 years later -> age = anchor_age + 2
    insert(db, "mimiciv_hosp.patients", subject_id=subject_id, anchor_age=age - 2,
           anchor_year=2150)
    insert(db, "mimiciv_hosp.admissions", subject_id=subject_id, hadm_id=hadm_id,
           admittime=datetime(2152, 6, 30, 23, 0))
    for code, version in codes:
        insert(db, "mimiciv_hosp.diagnoses_icd", hadm_id=hadm_id, icd_code=code,
               icd_version=version)


def flags_set(row: dict) -> set[str]:
    return {f for f in COMORBIDITY_FLAGS if row[f] == 1}


def test_charlson_columns_and_one_row_per_admission(con):
    add_admission(con, 1, 60, [("I509", 10), ("4280", 9)])
    add_admission(con, 2, 40)
    con.execute((SCORE_SQL / "charlson.sql").read_text())
    rel = con.execute("SELECT * FROM mimiciv_derived.charlson ORDER BY hadm_id")
    assert [d[0] for d in rel.description] == CHARLSON_COLUMNS
    rows = rel.fetchall()
    assert [r[1] for r in rows] == [1, 2]
    assert rows[0][0] == 501


def test_charlson_brief_example_chf_plus_metastatic_at_72(con):
    add_admission(con, 1, 72, [("I509", 10), ("C787", 10)])
    row = run_score(con, "charlson.sql", "charlson")[1]
    assert row["age_score"] == 3
    assert flags_set(row) == {"congestive_heart_failure", "metastatic_solid_tumor"}
    assert row["charlson_comorbidity_index"] == 3 + 1 + 6


# Charlson 1994 (and mimic-code since its fix): one point per decade from 50
AGE_BANDS = [(18, 0), (49, 0), (50, 1), (59, 1), (60, 2), (69, 2), (70, 3), (79, 3), (80, 4),
             (95, 4)]


def test_charlson_age_score_bands(con):
    for hadm_id, (age, _) in enumerate(AGE_BANDS, start=1):
        add_admission(con, hadm_id, age)
    out = run_score(con, "charlson.sql", "charlson")
    got = {age: out[h]["age_score"] for h, (age, _) in enumerate(AGE_BANDS, start=1)}
    assert got == dict(AGE_BANDS)
    for row in out.values():  # no diagnoses: all flags 0, index = age score
        assert flags_set(row) == set()
        assert row["charlson_comorbidity_index"] == row["age_score"]


def test_charlson_icd9_and_icd10_for_same_condition_count_once(con):
    # heart failure coded in both systems, twice in ICD-10 -> one point
    add_admission(con, 1, 45, [("4280", 9), ("I509", 10), ("I5023", 10)])
    row = run_score(con, "charlson.sql", "charlson")[1]
    assert flags_set(row) == {"congestive_heart_failure"}
    assert row["charlson_comorbidity_index"] == 1


def test_charlson_icd_version_is_respected(con):
    # '4280' read as ICD-10 is not heart failure; 'I10' (ICD-10 hypertension) is not in Charlson
    add_admission(con, 1, 45, [("4280", 10), ("I10", 10), ("4019", 9)])
    row = run_score(con, "charlson.sql", "charlson")[1]
    assert flags_set(row) == set()
    assert row["charlson_comorbidity_index"] == 0


HIERARCHY_CASES = [
    # liver: mild (K7460 cirrhosis) + severe (K7290 hepatic failure) -> only severe, 3
    ([("K7460", 10), ("K7290", 10)], {"mild_liver_disease", "severe_liver_disease"}, 3),
    ([("5715", 9), ("5722", 9)], {"mild_liver_disease", "severe_liver_disease"}, 3),
    ([("K7460", 10)], {"mild_liver_disease"}, 1),
    ([("4560", 9)], {"severe_liver_disease"}, 3),
    # diabetes: with complications supersedes without
    ([("E119", 10), ("E1122", 10)], {"diabetes_without_cc", "diabetes_with_cc"}, 2),
    ([("25000", 9), ("25040", 9)], {"diabetes_without_cc", "diabetes_with_cc"}, 2),
    ([("E119", 10)], {"diabetes_without_cc"}, 1),
    ([("25060", 9)], {"diabetes_with_cc"}, 2),
    # cancer: metastatic supersedes any malignancy
    ([("C349", 10), ("C787", 10)], {"malignant_cancer", "metastatic_solid_tumor"}, 6),
    ([("1629", 9)], {"malignant_cancer"}, 2),
    ([("1970", 9)], {"metastatic_solid_tumor"}, 6),
]


def test_charlson_hierarchies(con):
    for hadm_id, (codes, _, _) in enumerate(HIERARCHY_CASES, start=1):
        add_admission(con, hadm_id, 45, codes)  # age score 0
    out = run_score(con, "charlson.sql", "charlson")
    for hadm_id, (codes, flags, points) in enumerate(HIERARCHY_CASES, start=1):
        got = (flags_set(out[hadm_id]), out[hadm_id]["charlson_comorbidity_index"])
        assert got == (flags, points), codes


CODE_LIST_CASES = [
    ("I214", 10, "myocardial_infarct"), ("412", 9, "myocardial_infarct"),
    ("I252", 10, "myocardial_infarct"),
    ("42541", 9, "congestive_heart_failure"), ("I110", 10, "congestive_heart_failure"),
    ("4439", 9, "peripheral_vascular_disease"), ("I7025", 10, "peripheral_vascular_disease"),
    ("43491", 9, "cerebrovascular_disease"), ("I639", 10, "cerebrovascular_disease"),
    ("36234", 9, "cerebrovascular_disease"), ("G459", 10, "cerebrovascular_disease"),
    ("2900", 9, "dementia"), ("F0390", 10, "dementia"), ("G309", 10, "dementia"),
    ("496", 9, "chronic_pulmonary_disease"), ("J449", 10, "chronic_pulmonary_disease"),
    ("7140", 9, "rheumatic_disease"), ("M0579", 10, "rheumatic_disease"),
    ("5320", 9, "peptic_ulcer_disease"), ("K279", 10, "peptic_ulcer_disease"),
    ("07054", 9, "mild_liver_disease"), ("B182", 10, "mild_liver_disease"),
    ("E101", 10, "diabetes_without_cc"),  # Quan 2005 E10.1 (mimic-code has typo 'E10l')
    ("3441", 9, "paraplegia"), ("G8220", 10, "paraplegia"),
    ("5859", 9, "renal_disease"), ("N189", 10, "renal_disease"),
    ("40391", 9, "renal_disease"), ("Z992", 10, "renal_disease"),
    ("1958", 9, "malignant_cancer"), ("C719", 10, "malignant_cancer"),
    ("2386", 9, "malignant_cancer"), ("C9000", 10, "malignant_cancer"),
    ("C800", 10, "metastatic_solid_tumor"),
    ("042", 9, "aids"), ("B20", 10, "aids"),
]


def test_charlson_code_lists(con):
    for hadm_id, (code, version, _) in enumerate(CODE_LIST_CASES, start=1):
        add_admission(con, hadm_id, 45, [(code, version)])
    out = run_score(con, "charlson.sql", "charlson")
    got = {(c, v): flags_set(out[h]) for h, (c, v, _) in enumerate(CODE_LIST_CASES, start=1)}
    assert got == {(c, v): {flag} for c, v, flag in CODE_LIST_CASES}


OUTSIDE_CASES = [
    ("1959", 9),   # just past the ICD-9 malignancy range 174.0-195.8
    ("C44", 10),   # non-melanoma skin cancer is excluded
    ("1730", 9),   # ICD-9 173: other skin malignancy, excluded (140-172, 174-195.8)
    ("4253", 9),   # just below 425.4-425.9
    ("F05", 10),   # delirium (F05.0/F05.9) is not dementia; only F05.1 is
    ("N179", 10),  # acute kidney failure is not renal disease in Charlson
    ("I10", 10),   # hypertension is not a Charlson condition
]


def test_charlson_codes_outside_lists(con):
    for hadm_id, (code, version) in enumerate(OUTSIDE_CASES, start=1):
        add_admission(con, hadm_id, 45, [(code, version)])
    out = run_score(con, "charlson.sql", "charlson")
    got = {case: out[h]["charlson_comorbidity_index"]
           for h, case in enumerate(OUTSIDE_CASES, start=1)}
    assert got == {case: 0 for case in OUTSIDE_CASES}


def test_charlson_everything_weighted_sum(con):
    codes = [
        ("I21", 10), ("I50", 10), ("I70", 10), ("I63", 10), ("F01", 10), ("J44", 10),
        ("M05", 10), ("K25", 10), ("K74", 10), ("E119", 10), ("G81", 10), ("N18", 10),
        ("C34", 10), ("B20", 10),
    ]
    add_admission(con, 1, 85, codes)
    row = run_score(con, "charlson.sql", "charlson")[1]
    # 4 (age) + 8 x 1 (MI..PUD) + 1 mild liver + 1 diabetes + 2 paraplegia + 2 renal
    # + 2 malignancy + 6 AIDS
    assert row["charlson_comorbidity_index"] == 4 + 8 + 1 + 1 + 2 + 2 + 2 + 6
    # upgrade each hierarchy: +2 liver, +1 diabetes, +4 cancer
    for code in ("K729", "E1122", "C787"):
        insert(con, "mimiciv_hosp.diagnoses_icd", hadm_id=1, icd_code=code, icd_version=10)
    row = run_score(con, "charlson.sql", "charlson")[1]
    assert row["charlson_comorbidity_index"] == 26 + 2 + 1 + 4
    assert len(flags_set(row)) == 17


def test_charlson_diagnoses_stay_with_their_admission(con):
    add_admission(con, 1, 45, [("C787", 10)])
    add_admission(con, 2, 45, [("I509", 10)])
    out = run_score(con, "charlson.sql", "charlson")
    assert flags_set(out[1]) == {"metastatic_solid_tumor"}
    assert flags_set(out[2]) == {"congestive_heart_failure"}


# --------------------------------------------------------------------------------------------
# APS III
# --------------------------------------------------------------------------------------------

NORMAL_VITALS = dict(heart_rate_min=70, heart_rate_max=80, mbp_min=85, mbp_max=95,
                     resp_rate_min=16, resp_rate_max=20, glucose_min=None, glucose_max=None)
NORMAL_TEMPERATURES = [(2.0, 37.0, "Oral"), (10.0, 37.6, "Oral")]
NORMAL_LABS = dict(hematocrit_min=42, hematocrit_max=46, wbc_min=8, wbc_max=10,
                   creatinine_min=0.8, creatinine_max=1.0, bun_min=10, bun_max=14,
                   sodium_min=138, sodium_max=142, albumin_min=3.5, albumin_max=4.0,
                   bilirubin_total_min=0.5, bilirubin_total_max=0.8,
                   glucose_min=110, glucose_max=140)
NORMAL_URINE = 2500.0
NORMAL_GCS = dict(gcs_eyes=4, gcs_verbal=5, gcs_motor=6, gcs_unable=0)
NORMAL_GAS = dict(hours=3.0, specimen="ART.", po2=95.0, pco2=40.0, ph=7.40, fio2=None,
                  fio2_chartevents=None, aado2=None)

KEEP = object()  # "normal defaults" marker


def add_stay(db, stay_id: int, *, vitals=KEEP, temperatures=KEEP, labs=KEEP, urine=KEEP,
             gcs=KEEP, gases=KEEP, ventilation=(), diagnoses=(("A419", 10),),
             hospital_rows=True) -> None:
    """One ICU stay (48 h long). Dict arguments override the normal defaults; None = no row.

    gases: list of dicts overriding NORMAL_GAS (hours after intime); ventilation: list of
    (start_hours, end_hours, status); temperatures: list of (hours, degrees C, site).
    """
    subject_id, hadm_id = 1000 + stay_id, 2000 + stay_id
    if hospital_rows:
        insert(db, "mimiciv_hosp.patients", subject_id=subject_id, anchor_age=60,
               anchor_year=2150)
        insert(db, "mimiciv_hosp.admissions", subject_id=subject_id, hadm_id=hadm_id,
               admittime=INTIME - timedelta(hours=5))
    for code, version in diagnoses:
        insert(db, "mimiciv_hosp.diagnoses_icd", hadm_id=hadm_id, icd_code=code,
               icd_version=version)
    insert(db, "mimiciv_icu.icustays", subject_id=subject_id, hadm_id=hadm_id,
           stay_id=stay_id, intime=INTIME, outtime=INTIME + timedelta(hours=48))

    def merged(default, override):
        if override is None:
            return None
        return default if override is KEEP else {**default, **override}

    if (v := merged(NORMAL_VITALS, vitals)) is not None:
        insert(db, "mimiciv_derived.first_day_vitalsign", stay_id=stay_id, **v)
    for hours, degrees, site in (NORMAL_TEMPERATURES if temperatures is KEEP
                                 else temperatures or []):
        insert(db, "mimiciv_derived.vitalsign", stay_id=stay_id,
               charttime=INTIME + timedelta(hours=hours), temperature=degrees,
               temperature_site=site)
    if (lab := merged(NORMAL_LABS, labs)) is not None:
        insert(db, "mimiciv_derived.first_day_lab", stay_id=stay_id, **lab)
    uo = NORMAL_URINE if urine is KEEP else urine
    if uo is not None:
        insert(db, "mimiciv_derived.first_day_urine_output", stay_id=stay_id, urineoutput=uo)
    if (g := merged(NORMAL_GCS, gcs)) is not None:
        insert(db, "mimiciv_derived.first_day_gcs", stay_id=stay_id, **g)
    for gas in ([{}] if gases is KEEP else gases or []):
        gas = {**NORMAL_GAS, **gas}
        hours = gas.pop("hours")
        insert(db, "mimiciv_derived.bg", hadm_id=hadm_id,
               charttime=INTIME + timedelta(hours=hours), **gas)
    for start, end, status in ventilation:
        insert(db, "mimiciv_derived.ventilation", stay_id=stay_id,
               starttime=INTIME + timedelta(hours=start), endtime=INTIME + timedelta(hours=end),
               ventilation_status=status)


def apsiii(db) -> dict[int, dict]:
    return run_score(db, "apsiii.sql", "apsiii")


def logistic(aps: int) -> float:
    return 1.0 / (1.0 + math.exp(-(-4.4360 + 0.04726 * aps)))


def nonzero(row: dict) -> dict[str, int]:
    return {c: row[c] for c in APS_COMPONENTS if row[c]}


def test_apsiii_columns_and_all_normal_stay_scores_zero(con):
    add_stay(con, 1)
    con.execute((SCORE_SQL / "apsiii.sql").read_text())
    rel = con.execute("SELECT * FROM mimiciv_derived.apsiii")
    assert [d[0] for d in rel.description] == APSIII_COLUMNS
    row = dict(zip(APSIII_COLUMNS, rel.fetchone()))
    assert (row["subject_id"], row["hadm_id"], row["stay_id"]) == (1001, 2001, 1)
    assert row["apsiii"] == 0
    assert all(row[c] == 0 for c in APS_COMPONENTS), row  # every component present and normal
    assert row["apsiii_prob"] == pytest.approx(logistic(0))


def test_apsiii_heart_rate_145_alone(con):
    add_stay(con, 1, vitals=dict(heart_rate_min=145, heart_rate_max=145))
    # the same with no other data at all: other components missing -> 0
    add_stay(con, 2, vitals=dict(heart_rate_min=145, heart_rate_max=145, mbp_min=None,
                                 mbp_max=None, resp_rate_min=None, resp_rate_max=None),
             temperatures=None, labs=None, urine=None, gcs=None, gases=None)
    out = apsiii(con)
    for stay in (1, 2):
        assert out[stay]["hr_score"] == 13          # 140-154 bpm band
        assert out[stay]["apsiii"] == 13
        assert out[stay]["apsiii_prob"] == pytest.approx(logistic(13))
    assert nonzero(out[1]) == {"hr_score": 13}
    assert out[2]["mbp_score"] is None and out[2]["gcs_score"] is None


def test_apsiii_missing_everything_scores_zero(con):
    add_stay(con, 1, vitals=None, temperatures=None, labs=None, urine=None, gcs=None,
             gases=None, diagnoses=())
    row = apsiii(con)[1]
    assert row["apsiii"] == 0
    assert row["apsiii_prob"] == pytest.approx(logistic(0))
    assert all(row[c] is None for c in APS_COMPONENTS), row


def test_apsiii_stay_without_admission_row_gets_null_score(con):
    add_stay(con, 1, hospital_rows=False)
    row = apsiii(con)[1]
    assert row["apsiii"] is None and row["stay_id"] == 1


VITAL_CASES = [
    # heart rate, normal 75: min 38 (8 pts, 37 away) vs max 118 (5 pts, 43 away) -> max
    (dict(heart_rate_min=38, heart_rate_max=118), "hr_score", 5),
    # equally far (30): the higher score of 45 (5) and 105 (1)
    (dict(heart_rate_min=45, heart_rate_max=105), "hr_score", 5),
    (dict(heart_rate_min=90, heart_rate_max=160), "hr_score", 17),
    (dict(heart_rate_min=39, heart_rate_max=80), "hr_score", 8),
    # MBP, normal 90: 55 (15) and 125 (7) both 35 away -> 15
    (dict(mbp_min=55, mbp_max=125), "mbp_score", 15),
    (dict(mbp_min=75, mbp_max=145), "mbp_score", 10),
    (dict(mbp_min=39, mbp_max=100), "mbp_score", 23),
    # respiratory rate, normal 19: 5 (17, 14 away) vs 30 (6, 11 away) -> 17
    (dict(resp_rate_min=5, resp_rate_max=30), "resp_rate_score", 17),
    (dict(resp_rate_min=16, resp_rate_max=50), "resp_rate_score", 18),
]


def check_one_component_per_stay(db, cases, argument):
    """Stay i gets cases[i] (overriding one input); only that component may be non-zero."""
    for stay_id, (override, _, _) in enumerate(cases, start=1):
        add_stay(db, stay_id, **{argument: override})
    out = apsiii(db)
    got = {i: (nonzero(out[i]), out[i]["apsiii"]) for i in range(1, len(cases) + 1)}
    want = {i: ({comp: pts} if pts else {}, pts)
            for i, (_, comp, pts) in enumerate(cases, start=1)}
    assert got == want


def test_apsiii_worst_value_two_sided_vitals(con):
    check_one_component_per_stay(con, VITAL_CASES, "vitals")


LAB_CASES = [
    # hematocrit, normal 45.5: 30 (3) vs 48 (0) -> 3
    (dict(hematocrit_min=30, hematocrit_max=48), "hematocrit_score", 3),
    # WBC, normal 11.5: 0.8 (19, 10.7 away) vs 21 (1, 9.5 away) -> 19
    (dict(wbc_min=0.8, wbc_max=21), "wbc_score", 19),
    (dict(wbc_min=2.5, wbc_max=26), "wbc_score", 5),
    # creatinine (no renal failure), normal 1: 0.4 (3, 0.6 away) vs 1.2 (0) -> 3
    (dict(creatinine_min=0.4, creatinine_max=1.2), "creatinine_score", 3),
    (dict(creatinine_min=1.0, creatinine_max=1.9), "creatinine_score", 4),
    (dict(creatinine_min=1.0, creatinine_max=1.95), "creatinine_score", 7),
    # BUN and bilirubin: the maximum
    (dict(bun_min=5, bun_max=45), "bun_score", 11),
    (dict(bun_min=17, bun_max=19), "bun_score", 2),
    (dict(bilirubin_total_min=0.1, bilirubin_total_max=8.0), "bilirubin_score", 16),
    (dict(bilirubin_total_min=2.0, bilirubin_total_max=2.9), "bilirubin_score", 5),
    # sodium, normal 145.5: 118 (3, 27.5 away) vs 160 (4, 14.5 away) -> 3
    (dict(sodium_min=118, sodium_max=160), "sodium_score", 3),
    (dict(sodium_min=140, sodium_max=156), "sodium_score", 4),
    # albumin, normal 3.5: 1.9 (11) vs 4.0 (0) -> 11; 2.4 (6)
    (dict(albumin_min=1.9, albumin_max=4.0), "albumin_score", 11),
    (dict(albumin_min=2.4, albumin_max=3.0), "albumin_score", 6),
    (dict(albumin_min=3.0, albumin_max=4.6), "albumin_score", 4),
    # glucose, normal 130: 55 (9, 75 away) vs 210 (3, 80 away) -> 3
    (dict(glucose_min=55, glucose_max=210), "glucose_score", 3),
    (dict(glucose_min=100, glucose_max=400), "glucose_score", 5),
]


def test_apsiii_lab_bands_and_worst_value(con):
    check_one_component_per_stay(con, LAB_CASES, "labs")


def test_apsiii_glucose_takes_extremes_of_lab_and_charted(con):
    # lab 110-140, charted fingerstick 35 -> min 35 (8, 95 away) beats max 140 (10 away)
    add_stay(con, 1, vitals=dict(glucose_min=35, glucose_max=120))
    # charted glucose 380 raises the max: 380 (5, 250 away) beats lab min 110
    add_stay(con, 2, vitals=dict(glucose_min=100, glucose_max=380))
    # charted glucose only
    add_stay(con, 3, vitals=dict(glucose_min=45, glucose_max=45),
             labs=dict(glucose_min=None, glucose_max=None))
    out = apsiii(con)
    assert nonzero(out[1]) == {"glucose_score": 8}
    assert nonzero(out[2]) == {"glucose_score": 5}
    assert nonzero(out[3]) == {"glucose_score": 9}


def test_apsiii_temperature_worst_value_axillary_and_window(con):
    # 35.5 (2 pts) and 40.5 (4 pts) are both 2.5 from 38 -> the higher, 4
    add_stay(con, 1, temperatures=[(1, 35.5, "Oral"), (5, 40.5, "Oral")])
    # axillary 34.6 counts as 35.6 -> 2 (not 8)
    add_stay(con, 2, temperatures=[(1, 34.6, "Axillary"), (5, 37.0, "Oral")])
    # the same reading from a non-axillary site -> 8
    add_stay(con, 3, temperatures=[(1, 34.6, "Rectal"), (5, 37.0, None)])
    # readings outside [intime - 6 h, intime + 24 h] are ignored
    add_stay(con, 4, temperatures=[(-7, 32.0, "Oral"), (25, 41.0, "Oral"), (-6, 37.0, "Oral")])
    # below 33 -> 20
    add_stay(con, 5, temperatures=[(3, 32.9, "Blood")])
    out = apsiii(con)
    assert nonzero(out[1]) == {"temp_score": 4}
    assert nonzero(out[2]) == {"temp_score": 2}
    assert nonzero(out[3]) == {"temp_score": 8}
    assert nonzero(out[4]) == {} and out[4]["temp_score"] == 0
    assert nonzero(out[5]) == {"temp_score": 20}


URINE_BANDS = [(0, 15), (399.9, 15), (400, 8), (599, 8), (600, 7), (899, 7), (900, 5),
               (1499, 5), (1500, 4), (1999, 4), (2000, 0), (3999, 0), (4000, 1), (9000, 1)]


def test_apsiii_urine_output_bands(con):
    check_one_component_per_stay(
        con, [(urine, "uo_score", points) for urine, points in URINE_BANDS], "urine")


GCS_CASES = [
    # eyes closed
    (1, 1, 1, 0, 48), (1, 1, 2, 0, 48), (1, 1, 4, 0, 33), (1, 1, 6, 0, 16),
    (1, 2, 2, 0, 29), (1, 3, 4, 0, 24),
    (1, 2, 5, 0, None),  # not in the table
    (1, 4, 6, 0, None),  # not in the table
    # eyes open
    (3, 1, 1, 0, 29), (2, 1, 3, 0, 24), (4, 1, 6, 0, 15),
    (2, 3, 2, 0, 29), (4, 2, 4, 0, 24), (2, 3, 5, 0, 13), (4, 3, 6, 0, 10),
    (4, 4, 3, 0, 13), (4, 4, 5, 0, 8), (3, 4, 6, 0, 3),
    (4, 5, 5, 0, 3), (4, 5, 6, 0, 0),
    # intubated, verbal not assessable (mimic-code: verbal 0, gcs_unable 1) -> 0
    (1, 0, 1, 1, 0), (4, 0, 6, 1, 0),
]


def test_apsiii_gcs_table(con):
    for stay_id, (eyes, verbal, motor, unable, _) in enumerate(GCS_CASES, start=1):
        add_stay(con, stay_id, gcs=dict(gcs_eyes=eyes, gcs_verbal=verbal, gcs_motor=motor,
                                        gcs_unable=unable))
    out = apsiii(con)
    got = {case[:4]: (out[i]["gcs_score"], out[i]["apsiii"])
           for i, case in enumerate(GCS_CASES, start=1)}
    assert got == {case[:4]: (case[4], case[4] or 0) for case in GCS_CASES}


ACID_BASE_CASES = [
    (7.15, 45, 12), (7.15, 55, 4),
    (7.25, 25, 9), (7.25, 35, 6), (7.25, 45, 3), (7.25, 55, 2), (7.20, 49.9, 3),
    (7.32, 28, 9), (7.32, 40, 0), (7.32, 50, 1),
    (7.40, 25, 5), (7.40, 40, 0), (7.40, 45, 1),
    (7.47, 28, 5), (7.47, 33, 0), (7.47, 40, 2), (7.47, 50, 12),
    (7.55, 35, 3), (7.55, 45, 12),
    (7.65, 20, 0), (7.65, 30, 3), (7.65, 45, 12), (7.60, 24.9, 0),
]


def test_apsiii_acid_base_table(con):
    check_one_component_per_stay(
        con, [([dict(ph=ph, pco2=pco2)], "acidbase_score", points)
              for ph, pco2, points in ACID_BASE_CASES], "gases")


def test_apsiii_acid_base_worst_gas_arterial_in_stay_only(con):
    # the worst of several arterial gases counts
    add_stay(con, 1, gases=[dict(ph=7.40, pco2=40), dict(hours=5, ph=7.25, pco2=35),
                            dict(hours=9, ph=7.47, pco2=33)])
    # venous gas and gases outside the ICU stay are ignored
    add_stay(con, 2, gases=[dict(specimen="VEN.", ph=7.10, pco2=45),
                            dict(hours=-1, ph=7.10, pco2=45),
                            dict(hours=48, ph=7.10, pco2=45)])
    # gas without pH -> no acid-base score
    add_stay(con, 3, gases=[dict(ph=None, pco2=40)])
    out = apsiii(con)
    assert out[1]["acidbase_score"] == 6
    assert out[2]["acidbase_score"] is None
    assert out[3]["acidbase_score"] is None and out[3]["apsiii"] == 0


def test_apsiii_blood_gases_come_from_the_first_day_only(con):
    # Unlike mimic-code (whole stay), a gas at 30 h is after the first day and is not scored;
    # the same gas at 23 h is (pH 7.15 with PaCO2 45 -> 12 points).
    add_stay(con, 1, gases=[dict(hours=30, ph=7.15, pco2=45)])
    add_stay(con, 2, gases=[dict(hours=23, ph=7.15, pco2=45)])
    out = apsiii(con)
    assert out[1]["acidbase_score"] is None
    assert out[2]["acidbase_score"] == 12


def test_apsiii_oxygenation(con):
    # not ventilated, no FiO2 recorded (room air assumed): PaO2 60 -> 5
    add_stay(con, 1, gases=[dict(po2=60)])
    # not ventilated: the highest PaO2 is scored (mimic-code): 45 and 85 -> 0
    add_stay(con, 2, gases=[dict(po2=45), dict(hours=6, po2=85)])
    # not ventilated but FiO2 >= 50 %: no PaO2 score, and no A-aDO2 (not ventilated)
    add_stay(con, 3, gases=[dict(po2=45, fio2=60, aado2=400)])
    # ventilated, FiO2 60 %: A-aDO2 300 -> 9; its PaO2 45 is not used
    add_stay(con, 4, gases=[dict(po2=45, fio2=60, aado2=300)],
             ventilation=[(0, 40, "InvasiveVent")])
    # ventilated, FiO2 only charted (fio2_chartevents): A-aDO2 520 -> 14
    add_stay(con, 5, gases=[dict(po2=70, fio2_chartevents=80, aado2=520)],
             ventilation=[(0, 40, "InvasiveVent")])
    # ventilated with FiO2 < 50 %: neither scored
    add_stay(con, 6, gases=[dict(po2=45, fio2=40, aado2=600)],
             ventilation=[(0, 40, "InvasiveVent")])
    # non-invasive ventilation is not "ventilated": PaO2 rules apply -> 49 -> 15
    add_stay(con, 7, gases=[dict(po2=49, fio2=30)],
             ventilation=[(0, 40, "NonInvasiveVent")])
    # a PaO2 (before intubation) and an A-aDO2 (after): the PaO2 is used -> 75 -> 2
    add_stay(con, 8, gases=[dict(hours=1, po2=75, fio2=35),
                            dict(hours=6, po2=60, fio2=70, aado2=550)],
             ventilation=[(4, 40, "InvasiveVent")])
    # A-aDO2 below 100 -> 0
    add_stay(con, 9, gases=[dict(po2=300, fio2=50, aado2=99)],
             ventilation=[(0, 40, "InvasiveVent")])
    out = apsiii(con)
    expected = {1: 5, 2: 0, 3: None, 4: 9, 5: 14, 6: None, 7: 15, 8: 2, 9: 0}
    assert {s: out[s]["pao2_aado2_score"] for s in expected} == expected
    assert out[3]["apsiii"] == 0 and out[4]["apsiii"] == 9


def test_apsiii_respiratory_rate_when_ventilated_on_first_day(con):
    low = dict(resp_rate_min=10, resp_rate_max=12)
    add_stay(con, 1, vitals=low, ventilation=[(2, 30, "InvasiveVent")])   # -> 0
    add_stay(con, 2, vitals=low)                                          # 10: 8 pts
    add_stay(con, 3, vitals=low, ventilation=[(30, 40, "InvasiveVent")])  # after day 1 -> 8
    add_stay(con, 4, vitals=low, ventilation=[(-10, 100, "InvasiveVent")])  # spans day 1 -> 0
    add_stay(con, 5, vitals=low, ventilation=[(2, 30, "SupplementalOxygen")])  # -> 8
    # a ventilated patient breathing fast is still scored: 36 -> 9
    add_stay(con, 6, vitals=dict(resp_rate_min=16, resp_rate_max=36),
             ventilation=[(2, 30, "InvasiveVent")])
    out = apsiii(con)
    scores = {s: out[s]["resp_rate_score"] for s in range(1, 7)}
    assert scores == {1: 0, 2: 8, 3: 8, 4: 0, 5: 8, 6: 9}


def test_apsiii_acute_renal_failure_creatinine(con):
    renal = dict(creatinine_min=1.6, creatinine_max=2.0)
    # creatinine >= 1.5 and urine < 410 mL and no ESRD code: ARF -> creatinine 10
    add_stay(con, 1, labs=renal, urine=300)
    # ESRD code (chronic dialysis proxy): not ARF -> ordinary creatinine table, 2.0 -> 7
    add_stay(con, 2, labs=renal, urine=300, diagnoses=[("N185", 10)])
    add_stay(con, 3, labs=renal, urine=300, diagnoses=[("5856", 9)])
    # CKD unspecified (N189) is not an ESRD code -> ARF
    add_stay(con, 4, labs=renal, urine=300, diagnoses=[("N189", 10)])
    # urine 410 mL or more: not ARF
    add_stay(con, 5, labs=renal, urine=410)
    # mimic-code quirk: an admission with no diagnosis rows is never flagged ARF
    add_stay(con, 6, labs=renal, urine=300, diagnoses=())
    # under ARF the maximum is scored even when the minimum is further from 1 (0.2 vs 1.6)
    add_stay(con, 7, labs=dict(creatinine_min=0.2, creatinine_max=1.6), urine=300)
    out = apsiii(con)
    creat = {s: out[s]["creatinine_score"] for s in range(1, 8)}
    assert creat == {1: 10, 2: 7, 3: 7, 4: 10, 5: 7, 6: 7, 7: 10}
    assert out[1]["apsiii"] == 10 + 15            # creatinine + urine output < 400
    assert out[5]["apsiii"] == 7 + 8              # creatinine + urine 400-599


def test_apsiii_total_is_sum_of_components(con):
    add_stay(
        con, 1,
        vitals=dict(heart_rate_min=95, heart_rate_max=145, mbp_min=55, mbp_max=90,
                    resp_rate_min=14, resp_rate_max=37),
        temperatures=[(2, 39.0, "Oral"), (8, 40.2, "Oral")],
        labs=dict(wbc_min=12, wbc_max=22, bun_min=30, bun_max=35, sodium_min=130,
                  sodium_max=140, bilirubin_total_min=3.5, bilirubin_total_max=4.0),
        urine=1000,
        gcs=dict(gcs_eyes=2, gcs_verbal=4, gcs_motor=5, gcs_unable=0),
        gases=[dict(po2=65, ph=7.32, pco2=28)],
    )
    row = apsiii(con)[1]
    expected = {"hr_score": 13, "mbp_score": 15, "temp_score": 4, "resp_rate_score": 9,
                "pao2_aado2_score": 5, "wbc_score": 1, "bun_score": 7, "sodium_score": 2,
                "bilirubin_score": 6, "uo_score": 5, "gcs_score": 8, "acidbase_score": 9}
    assert nonzero(row) == expected
    assert row["apsiii"] == sum(expected.values()) == 84
    assert row["apsiii_prob"] == pytest.approx(logistic(84))


def test_apsiii_scores_each_stay_separately(con):
    # rows of one stay never leak into another
    add_stay(con, 1, vitals=dict(heart_rate_min=145, heart_rate_max=145))
    add_stay(con, 2)
    out = apsiii(con)
    assert out[1]["apsiii"] == 13 and out[2]["apsiii"] == 0
