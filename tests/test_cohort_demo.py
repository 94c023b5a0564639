"""The cohort stage on the real open MIMIC-IV demo (100 patients, 140 ICU stays, no chartevents).

The demo is read directly with DuckDB's read_csv (types from icu_cohort.mimic_tables); its
missing chartevents becomes an empty table with the right columns. Skipped, with the reason,
when the demo is not at ../shared/mimic-iv-demo-2.2 (or $ICU_COHORT_DEMO_DIR).
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from icu_cohort import artifacts, cohort
from icu_cohort.mimic_tables import TABLES
from icu_cohort.pipeline import required_tables
from test_cohort_support import SQL_DIR, build, study


def _demo_connection(demo) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("CREATE SCHEMA mimiciv_hosp")
    con.execute("CREATE SCHEMA mimiciv_icu")
    for key in required_tables():
        spec = TABLES[key]
        path = demo / spec.relpath
        if path.is_file():
            as_text = ", ".join(f"'{c}': 'VARCHAR'" for c in spec.column_names)
            cols = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in spec.columns)
            reader = (f"read_csv('{path}', header = true, delim = ',', quote = '\"', escape = '\"', "
                      f"columns = {{{as_text}}})")
            con.execute(f"CREATE VIEW {spec.qualified} AS SELECT {cols} FROM {reader}")
        else:
            assert key == "icu/chartevents", f"the demo lacks {spec.relpath}"
            nulls = ", ".join(f'CAST(NULL AS {t}) AS "{c}"' for c, t in spec.columns)
            con.execute(f"CREATE VIEW {spec.qualified} AS SELECT {nulls} WHERE false")
    return con


@pytest.fixture(scope="module")
def demo():
    from conftest import demo_dir  # ../shared/mimic-iv-demo-2.2, or $ICU_COHORT_DEMO_DIR

    path = demo_dir()
    if not (path / "hosp" / "patients.csv.gz").is_file():
        pytest.skip(f"the open MIMIC-IV demo is not at {path} (set ICU_COHORT_DEMO_DIR to its folder)")
    return path


@pytest.fixture(scope="module")
def demo_result(demo):
    con = _demo_connection(demo)
    df, attrition = build(con, study("sae_mgso4"))
    return con, df, attrition


def test_demo_runs_and_attrition_is_valid(demo_result):
    con, df, attrition = demo_result
    assert attrition["n_remaining"].iloc[0] == 140 == con.execute(
        "SELECT count(*) FROM mimiciv_icu.icustays").fetchall()[0][0]
    assert attrition["n_excluded"].iloc[0] == 0
    assert (attrition["n_excluded"] >= 0).all()
    assert (attrition["n_remaining"].shift(1).fillna(140) - attrition["n_excluded"] == attrition["n_remaining"]).all()
    assert attrition["n_remaining"].iloc[-1] == len(df)
    # 100 patients: 40 of the 140 stays are not a patient's first
    assert attrition.loc[attrition["step"] == 3, "n_remaining"].item() == 100


def test_demo_cohort_and_files(demo_result, tmp_path):
    _, df, attrition = demo_result
    assert {"subject_id", "hadm_id", "stay_id", "treated", "time_days", "death_28d"} <= set(df.columns)
    assert df["time_days"].between(0, 28).all()
    paths = cohort.write_cohort(df, attrition, tmp_path)
    assert pd.read_csv(paths[artifacts.ATTRITION.name])["n_remaining"].tolist() == attrition["n_remaining"].tolist()


def test_demo_exposure_reads_iv_magnesium_only(demo_result):
    con, _, _ = demo_result
    # stays with IV magnesium sulfate rows are exposed; stays whose only magnesium is oral are not
    exposed_iv = {r[0] for r in con.execute(
        "SELECT DISTINCT stay_id FROM mimiciv_icu.inputevents WHERE itemid IN (222011, 227523) AND amount > 0"
    ).fetchall()}
    treated = {r[0] for r in con.execute("SELECT stay_id FROM study.exposure WHERE treated = 1").fetchall()}
    assert treated == exposed_iv and treated
    oral_only = {r[0] for r in con.execute("""
        SELECT DISTINCT ie.stay_id FROM mimiciv_icu.icustays ie
        JOIN mimiciv_hosp.prescriptions p ON p.hadm_id = ie.hadm_id
        WHERE p.drug IN ('Magnesium Oxide', 'Milk of Magnesia') AND p.route LIKE 'PO%'""").fetchall()} - exposed_iv
    assert oral_only and not oral_only & treated
    # doses: 2 g orders charted as 222011 (grams) + 227523 (mL, same orderid) count their grams
    # once; the demo has no 227523 order without its 222011 row, so the total is the grams charted
    grams = con.execute("SELECT sum(amount) FROM mimiciv_icu.inputevents WHERE itemid = 222011 AND amount > 0"
                        ).fetchall()[0][0]
    assert con.execute("SELECT sum(total_dose_g) FROM study.exposure").fetchall()[0][0] == pytest.approx(grams)
