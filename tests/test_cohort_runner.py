"""The SQL runners' mechanics: templating, the run list, the tables each layer needs, clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from icu_cohort import cohort, concepts, sqlrun, trial
from icu_cohort.mimic_tables import TABLES
from icu_cohort.pipeline import required_tables
from icu_cohort.resources import sql_dir
from icu_cohort.study import Study
from test_cohort_support import SQL_DIR, Mimic, build, copy_sql, study

#: Every SQL file either layer runs, relative to sql/.
ALL_FILES = [f.path for f in concepts.concept_files(SQL_DIR)] + [p for p in cohort.STUDY_FILES if p not in cohort.MACROS]
# the target-trial design stage (icu_cohort.trial) runs its own SQL for studies with a design
ALL_FILES += [f"design/{f}" for f, _ in trial.DESIGN_SQL]


def test_render_sql_literals():
    params = {"n": 48, "x": 0.5, "none": None, "flag": True, "ids": [222011, 227523], "empty": [],
              "names": ["O'Brien", "a"], "rows": sqlrun.Rows([("a", 9, "I63")], 3),
              "no_rows": sqlrun.Rows([], 2)}
    sql = ("${n} ${x} ${none} ${flag} IN (${ids}) IN (${empty}) IN (${names}) "
           "VALUES ${rows} VALUES ${no_rows}")
    assert sqlrun.render_sql(sql, params) == (
        "48 0.5 NULL TRUE IN (222011, 227523) IN (NULL) IN ('O''Brien', 'a') "
        "VALUES ('a', 9, 'I63') VALUES (NULL, NULL)"
    )


def test_rendered_strings_cannot_break_out_of_their_literal():
    sql = sqlrun.render_sql("SELECT ${s} AS v", {"s": "x'; DROP TABLE t; --"})
    assert duckdb.connect().execute(sql).fetchall() == [("x'; DROP TABLE t; --",)]


def test_unknown_placeholder_names_file_and_placeholder():
    with pytest.raises(sqlrun.SqlTemplateError, match=r"cohort/x\.sql: unknown placeholder \$\{min_agee\}"):
        sqlrun.render_sql("SELECT ${min_agee}", {"min_age": 18}, "cohort/x.sql")
    with pytest.raises(sqlrun.SqlTemplateError, match=r"malformed placeholder"):
        sqlrun.render_sql("SELECT ${Min Age}", {}, "f.sql")
    with pytest.raises(sqlrun.SqlTemplateError, match=r"f\.sql: unterminated placeholder .* line 2"):
        sqlrun.render_sql("SELECT 1\n, ${min_age", {"min_age": 1}, "f.sql")
    with pytest.raises(sqlrun.SqlTemplateError, match="non-finite"):
        sqlrun.sql_literal(float("nan"))


def test_every_placeholder_in_the_sql_is_defined_by_the_study_and_concepts_have_none():
    params = cohort.sql_params(Study(study()))
    for path in cohort.STUDY_FILES:
        for name in re.findall(r"\$\{([^}]*)\}", (SQL_DIR / path).read_text()):
            assert name in params, f"{path}: ${{{name}}}"
    for f in concepts.concept_files(SQL_DIR):  # study-independent: no parameters at all
        assert "${" not in (SQL_DIR / f.path).read_text(), f.path


def test_every_sql_file_opens_with_what_it_computes_and_its_source():
    for path in ALL_FILES:
        if path in ("score/charlson.sql", "score/apsiii.sql"):
            continue
        head = (SQL_DIR / path).read_text().split("\n")
        comment = "\n".join(line for line in head[:30] if line.startswith("--"))
        name = Path(path).stem
        assert head[0].startswith("-- ") and (name in head[0].lower() or "macro" in head[0].lower()), path
        assert "Source" in comment or "source" in comment, path
    on_disk = {str(p.relative_to(SQL_DIR)) for p in SQL_DIR.rglob("*.sql")}
    assert on_disk == set(ALL_FILES) | set(cohort.MACROS), "every SQL file is in the run list or the study layer"


def test_the_run_list_names_mimic_codes_tables_in_dependency_order():
    tables = concepts.concept_tables(SQL_DIR)
    for name in ("age", "icustay_detail", "icustay_times", "gcs", "vitalsign", "bg", "chemistry", "sofa",
                 "suspicion_of_infection", "sepsis3", "first_day_sofa", "first_day_gcs", "charlson",
                 "apsiii", "ventilation", "vasoactive_agent"):
        assert name in tables, name
    # a concept reads only concepts listed before it
    seen: set[str] = set()
    for f in concepts.concept_files(SQL_DIR):
        text = sqlrun.strip_comments((SQL_DIR / f.path).read_text())
        for used in set(re.findall(r"\bmimiciv_derived\.([a-z_0-9]+)", text)) - {f.table}:
            assert used in seen, f"{f.path} reads mimiciv_derived.{used} before it is built"
        if f.table:
            seen.add(f.table)


def test_a_bad_run_list_names_the_line(tmp_path):
    (tmp_path / "a.sql").write_text("-- a\nSELECT 1 AS x")
    (tmp_path / "concepts.txt").write_text("# comment\na.sql\n\nmissing.sql  # not there\n")
    with pytest.raises(concepts.ConceptError, match=r"concepts\.txt, line 4: missing\.sql does not exist"):
        concepts.concept_files(tmp_path)
    (tmp_path / "concepts.txt").write_text("a.sql\na.sql\n")
    with pytest.raises(concepts.ConceptError, match=r"line 2: a\.sql is listed twice"):
        concepts.concept_files(tmp_path)
    (tmp_path / "concepts.txt").unlink()
    with pytest.raises(concepts.ConceptError, match="run-order list is missing"):
        concepts.concept_files(tmp_path)


def test_stage_chartevents_lists_every_chartevents_itemid_the_concepts_use():
    stage = (SQL_DIR / "stage" / "chartevents.sql").read_text()
    listed = set(re.findall(r"\b2[0-9]{5}\b", sqlrun.strip_comments(stage)))
    for path in ALL_FILES:
        text = sqlrun.strip_comments((SQL_DIR / path).read_text())
        if "stage.chartevents" in text:
            # chartevents itemids are 22xxxx in MetaVision; rrt.sql also names inputevents and
            # procedureevents itemids, which need not be in the chartevents stage
            not_chartevents = {"227536", "227525", "225441", "225802", "225803", "225805", "224270",
                               "225809", "225955", "225436"}
            used = set(re.findall(r"\b22[0-9]{4}\b", text)) - not_chartevents
            assert used <= listed, (path, sorted(used - listed))


def test_required_tables_are_the_mimic_tables_the_sql_reads():
    keys = required_tables()
    assert keys == sorted(keys) and set(keys) <= set(TABLES)
    assert {"icu/chartevents", "icu/icustays", "icu/inputevents", "hosp/labevents", "hosp/prescriptions",
            "hosp/microbiologyevents", "hosp/diagnoses_icd", "hosp/procedures_icd", "hosp/admissions", "hosp/patients",
            "icu/outputevents", "icu/procedureevents"} == set(keys)
    # the study layer reads only a few raw tables; the rest come through the concepts
    # (prescriptions and procedureevents: the exposure sources besides inputevents)
    assert set(cohort.required_tables()) == {"icu/icustays", "icu/inputevents", "hosp/labevents",
                                             "hosp/diagnoses_icd", "hosp/procedures_icd", "hosp/admissions",
                                             "hosp/patients", "hosp/prescriptions", "icu/procedureevents"}
    assert "chartevents" not in " ".join(cohort.required_tables())


def test_missing_table_is_named():
    con = Mimic().connect()
    con.execute("DROP TABLE mimiciv_icu.outputevents")
    with pytest.raises(concepts.ConceptError, match=r"mimiciv_icu\.outputevents"):
        build(con, study())


def test_missing_concept_is_named_by_the_study_layer():
    con = Mimic().connect()
    concepts.build_concepts(con, SQL_DIR)
    con.execute("DROP TABLE IF EXISTS mimiciv_derived.first_day_gcs")
    with pytest.raises(cohort.MissingTableError, match=r"mimiciv_derived\.first_day_gcs"):
        cohort.build_cohort(con, Study(study()))


def test_a_failing_sql_file_is_named(tmp_path):
    sql_dir = copy_sql(tmp_path / "sql")
    (sql_dir / "measurement" / "gcs.sql").write_text("-- broken\nSELECT no_such_column FROM stage.chartevents")
    with pytest.raises(sqlrun.SqlError, match=r"measurement/gcs\.sql: .*no_such_column"):
        build(Mimic().connect(), study(), sql_dir)


def test_unknown_covariate_is_an_error_listing_the_available_ones():
    st = study()
    st["covariates"]["continuous"].append("serum_unicorn")
    with pytest.raises(cohort.CohortError, match=r"serum_unicorn .*available: .*lactate"):
        build(Mimic().connect(), st)


def test_empty_database_gives_an_empty_cohort_and_valid_attrition():
    df, attrition = build(Mimic().connect(), study())
    assert len(df) == 0 and "mgso4_total_dose_g" in df.columns
    assert attrition["n_remaining"].eq(0).all() and attrition["n_excluded"].eq(0).all()
    assert cohort.covariate_missingness(df)["fraction_missing"].isna().all()


def test_sql_dir_is_the_repository_sql_folder_in_a_checkout():
    assert sql_dir() == Path(__file__).resolve().parents[1] / "sql"
