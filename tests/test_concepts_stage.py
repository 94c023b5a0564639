"""The concepts stage's working copy of ``stage.chartevents`` and the order-free first-day means.

* A folder build (``concepts.write_concepts``) writes each ``stage`` view once to Parquet and the
  later concept files read that copy: the copy holds exactly the view's rows in the view's
  order, a failure names the SQL file and the view, and nothing of it is left in the folder.
* ``first_day_vitalsign`` / ``first_day_weight`` sum their values in ascending order, so the
  means do not depend on the order the rows arrive in (with several DuckDB threads that order
  varies from run to run). Each test fails on the earlier plain ``AVG`` files.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

from icu_cohort import concepts, loader
from icu_cohort.sqlrun import run_file
from test_cohort_support import SQL_DIR, Mimic, h, query


def test_stage_view_is_written_once_with_the_views_rows_in_order(tmp_path):
    m = Mimic()
    s = m.stay()
    # listed itemids (heart rate, GCS verbal, O2 flow) and one no concept reads (226707, height)
    for k, (itemid, value) in enumerate([(220045, 80), (226707, 170), (223900, 4), (220045, 95),
                                         (223834, 2), (226707, 171), (220045, 70)]):
        m.chart(s, itemid, h(k), value)
    con = m.connect()
    for schema in concepts.SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    path = SQL_DIR / "stage" / "chartevents.sql"
    run_file(con, path)
    expected = query(con, "SELECT * FROM stage.chartevents")
    assert [r[5] for r in expected] == [220045, 223900, 220045, 223834, 220045]

    seconds = concepts._materialise_stage_views(con, tmp_path / concepts.STAGE_FOLDER, path)
    staged = tmp_path / concepts.STAGE_FOLDER / "chartevents.parquet"
    assert seconds >= 0 and staged.is_file()
    (definition,) = con.execute("SELECT sql FROM duckdb_views() WHERE schema_name = 'stage' "
                                "AND view_name = 'chartevents'").fetchone()
    assert "read_parquet" in definition and "chartevents.parquet" in definition
    assert query(con, "SELECT * FROM stage.chartevents") == expected  # same rows, same order
    # the copy no longer depends on the source table
    con.execute("DELETE FROM mimiciv_icu.chartevents")
    assert query(con, "SELECT * FROM stage.chartevents") == expected


def test_a_stage_view_that_fails_names_the_file_and_the_view(tmp_path):
    con = duckdb.connect()
    con.execute("CREATE SCHEMA stage")
    con.execute("CREATE VIEW stage.broken AS SELECT CAST('not a number' AS INTEGER) AS a")
    with pytest.raises(concepts.ConceptError, match=r"stage/x\.sql: staging stage\.broken: .*not a number"):
        concepts._materialise_stage_views(con, tmp_path / "_stage", SQL_DIR / "stage" / "x.sql")


def test_a_folder_build_leaves_no_working_copy(tmp_path):
    m = Mimic()
    s = m.stay()
    m.chart(s, 220045, h(1), 80)
    root = tmp_path / "parquet"
    con = m.connect()
    for key in concepts.required_tables():
        path = loader.parquet_path(root, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY {loader.table(key).qualified} TO '{path}' (FORMAT parquet)")
    out = tmp_path / "concepts"
    manifest = concepts.write_concepts(root, out, "tiny", threads=1, memory_limit="1GB")
    assert not (out / concepts.STAGE_FOLDER).exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{t}.parquet" for t in concepts.concept_tables()] + ["manifest.json"])
    assert "stage/chartevents.sql" in {st["sql"] for st in manifest["statements"]}
    assert query(duckdb.connect(), f"SELECT count(*) FROM read_parquet('{out / 'icustay_times.parquet'}') "
                                   "WHERE intime_hr IS NOT NULL") == [(1,)]


# --------------------------------------------------------------------------------------------
# First-day means: the same bits whatever the order of the rows
# --------------------------------------------------------------------------------------------

T0 = datetime(2150, 1, 1, 8)
# six temperatures whose floating-point sum depends on the order they are added in
# (ascending: 225.3; descending: 225.29999999999998)
TEMPERATURES = [36.7, 38.1, 37.3, 39.2, 36.1, 37.9]
VITALS = ["heart_rate", "sbp", "dbp", "mbp", "resp_rate", "temperature", "spo2", "glucose"]


def _first_day(order: list[int], sql: str, table: str, derived: str, columns: list[tuple]) -> dict:
    con = duckdb.connect()
    con.execute("SET threads = 1")
    for schema in ("mimiciv_icu", "mimiciv_derived"):
        con.execute(f"CREATE SCHEMA {schema}")
    con.execute("CREATE TABLE mimiciv_icu.icustays (subject_id INTEGER, stay_id INTEGER, intime TIMESTAMP)")
    con.execute("INSERT INTO mimiciv_icu.icustays VALUES (1, 10, ?)", [T0])
    con.execute(f"CREATE TABLE mimiciv_derived.{derived} ({', '.join(f'{c} {t}' for c, t in columns)})")
    marks = ", ".join("?" for _ in columns)
    for k in order:
        con.execute(f"INSERT INTO mimiciv_derived.{derived} VALUES ({marks})", _row(k, columns))
    run_file(con, SQL_DIR / sql, table=f"mimiciv_derived.{table}")
    cur = con.execute(f"SELECT * FROM mimiciv_derived.{table}")
    (row,) = cur.fetchall()
    return dict(zip([d[0] for d in cur.description], row))


def _row(k: int, columns: list[tuple]) -> list:
    out = []
    for name, _ in columns:
        if name == "stay_id":
            out.append(10)
        elif name in ("charttime", "starttime"):
            out.append(T0 + timedelta(hours=k))
        elif name == "endtime":
            out.append(T0 + timedelta(hours=k + 1))
        elif name == "weight_type":
            out.append("admit")
        else:
            out.append(TEMPERATURES[k])
    return out


@pytest.mark.parametrize("sql, table, derived, columns, mean_columns", [
    ("firstday/first_day_vitalsign.sql", "first_day_vitalsign", "vitalsign",
     [("stay_id", "INTEGER"), ("charttime", "TIMESTAMP")] + [(v, "DOUBLE") for v in VITALS],
     [f"{v}_mean" for v in VITALS]),
    ("firstday/first_day_weight.sql", "first_day_weight", "weight_durations",
     [("stay_id", "INTEGER"), ("starttime", "TIMESTAMP"), ("endtime", "TIMESTAMP"), ("weight", "DOUBLE"),
      ("weight_type", "VARCHAR")],
     ["weight_admit", "weight"]),
])
def test_first_day_means_do_not_depend_on_the_row_order(sql, table, derived, columns, mean_columns):
    ascending = sorted(range(len(TEMPERATURES)), key=lambda k: TEMPERATURES[k])
    forward = _first_day(ascending, sql, table, derived, columns)
    backward = _first_day(ascending[::-1], sql, table, derived, columns)
    assert forward == backward
    # the mean is the ascending sum over the count, added one value at a time
    expected = 0.0
    for x in sorted(TEMPERATURES):
        expected += x
    expected /= len(TEMPERATURES)
    assert expected != sum(sorted(TEMPERATURES, reverse=True)) / len(TEMPERATURES)  # the order matters
    for name in mean_columns:
        assert forward[name] == expected, name
