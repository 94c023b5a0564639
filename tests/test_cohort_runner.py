"""The cohort runner's mechanics: SQL templating, the tables a study needs, clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from icu_cohort import cohort
from icu_cohort.mimic_tables import TABLES
from test_cohort_support import SQL_DIR, Mimic, study


def test_render_sql_literals():
    params = {"n": 48, "x": 0.5, "none": None, "flag": True, "ids": [222011, 227523], "empty": [],
              "names": ["O'Brien", "a"], "rows": cohort.Rows([("a", 9, "I63")], 3),
              "no_rows": cohort.Rows([], 2)}
    sql = ("${n} ${x} ${none} ${flag} IN (${ids}) IN (${empty}) IN (${names}) "
           "VALUES ${rows} VALUES ${no_rows}")
    assert cohort.render_sql(sql, params) == (
        "48 0.5 NULL TRUE IN (222011, 227523) IN (NULL) IN ('O''Brien', 'a') "
        "VALUES ('a', 9, 'I63') VALUES (NULL, NULL)"
    )


def test_rendered_strings_cannot_break_out_of_their_literal():
    sql = cohort.render_sql("SELECT ${s} AS v", {"s": "x'; DROP TABLE t; --"})
    assert duckdb.connect().execute(sql).fetchall() == [("x'; DROP TABLE t; --",)]


def test_unknown_placeholder_names_file_and_placeholder():
    with pytest.raises(cohort.SqlTemplateError, match=r"cohort/x\.sql: unknown placeholder \$\{min_agee\}"):
        cohort.render_sql("SELECT ${min_agee}", {"min_age": 18}, "cohort/x.sql")
    with pytest.raises(cohort.SqlTemplateError, match=r"malformed placeholder"):
        cohort.render_sql("SELECT ${Min Age}", {}, "f.sql")
    with pytest.raises(cohort.SqlTemplateError, match=r"f\.sql: unterminated placeholder .* line 2"):
        cohort.render_sql("SELECT 1\n, ${min_age", {"min_age": 1}, "f.sql")
    with pytest.raises(cohort.SqlTemplateError, match="non-finite"):
        cohort.sql_literal(float("nan"))


def test_every_placeholder_in_the_sql_is_defined_by_the_study():
    params = cohort.sql_params(cohort.cohort_sections(study()))
    for step in cohort.all_steps():
        text = (SQL_DIR / step.path).read_text()
        for name in re.findall(r"\$\{([^}]*)\}", text):
            assert name in params, f"{step.path}: ${{{name}}}"


def test_every_sql_file_opens_with_what_it_computes_and_its_source():
    own = [s for s in cohort.all_steps() if s.path not in ("score/charlson.sql", "score/apsiii.sql")]
    for step in own:
        head = (SQL_DIR / step.path).read_text().split("\n")
        comment = "\n".join(line for line in head[:30] if line.startswith("--"))
        assert head[0].startswith("-- ") and (step.table or "macro") in head[0].lower(), step.path
        assert "Source" in comment or "source" in comment, step.path
    on_disk = {str(p.relative_to(SQL_DIR)) for p in SQL_DIR.rglob("*.sql")}
    assert on_disk == {s.path for s in cohort.all_steps()}


def test_stage_chartevents_lists_every_chartevents_itemid_the_concepts_use():
    stage = (SQL_DIR / "stage" / "chartevents.sql").read_text()
    listed = set(re.findall(r"\b2[0-9]{5}\b", cohort._strip_sql_comments(stage)))
    for step in cohort.all_steps():
        text = cohort._strip_sql_comments((SQL_DIR / step.path).read_text())
        if "stage.chartevents" in text:
            # chartevents itemids are 22xxxx in MetaVision; rrt.sql also names inputevents and
            # procedureevents itemids, which need not be in the chartevents stage
            not_chartevents = {"227536", "227525", "225441", "225802", "225803", "225805", "224270",
                               "225809", "225955", "225436"}
            used = set(re.findall(r"\b22[0-9]{4}\b", text)) - not_chartevents
            assert used <= listed, (step.path, sorted(used - listed))


def test_required_tables_are_the_mimic_tables_the_sql_reads():
    keys = cohort.required_tables(study())
    assert keys == sorted(keys) and set(keys) <= set(TABLES)
    assert {"icu/chartevents", "icu/icustays", "icu/inputevents", "hosp/labevents", "hosp/prescriptions",
            "hosp/microbiologyevents", "hosp/diagnoses_icd", "hosp/admissions", "hosp/patients",
            "icu/outputevents", "icu/procedureevents"} == set(keys)


def test_missing_table_is_named():
    con = Mimic().connect()
    con.execute("DROP TABLE mimiciv_icu.outputevents")
    with pytest.raises(cohort.MissingTableError, match=r"mimiciv_icu\.outputevents"):
        cohort.build_cohort(con, study(), SQL_DIR)


def test_a_failing_sql_file_is_named(tmp_path):
    sql_dir = tmp_path / "sql"
    for p in SQL_DIR.rglob("*.sql"):
        dst = sql_dir / p.relative_to(SQL_DIR)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(p.read_text())
    (sql_dir / "measurement" / "gcs.sql").write_text("-- broken\nSELECT no_such_column FROM stage.chartevents")
    with pytest.raises(cohort.CohortError, match=r"measurement/gcs\.sql: .*no_such_column"):
        cohort.build_cohort(Mimic().connect(), study(), sql_dir)


def test_unknown_covariate_is_an_error_listing_the_available_ones():
    st = study()
    st["covariates"]["continuous"].append("serum_unicorn")
    with pytest.raises(cohort.CohortError, match=r"serum_unicorn .*available: .*lactate"):
        cohort.build_cohort(Mimic().connect(), st, SQL_DIR)


def test_empty_database_gives_an_empty_cohort_and_valid_attrition():
    df, attrition = cohort.build_cohort(Mimic().connect(), study(), SQL_DIR)
    assert len(df) == 0 and "mgso4_total_dose_g" in df.columns
    assert attrition["n_remaining"].eq(0).all() and attrition["n_excluded"].eq(0).all()
    assert cohort.covariate_missingness(df)["fraction_missing"].isna().all()


def test_default_sql_dir_is_the_repository_sql_folder():
    assert cohort.DEFAULT_SQL_DIR == Path(__file__).resolve().parents[1] / "sql"
