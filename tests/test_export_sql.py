"""``icu-cohort sql``: a study's SQL for BigQuery, and ``cohort_file``: the analysis from an
exported cohort table.

BigQuery cannot be reached from here, so: every statement must parse in SQLGlot's BigQuery
dialect and hold none of the DuckDB-only forms BigQuery lacks; each rewrite we make is checked
on tiny hand-made cases against DuckDB's own answer; and the whole BigQuery script, transpiled
back to DuckDB, must give exactly the concepts and the cohort the DuckDB pipeline gives on a
synthetic set (floating-point means up to summation order, see below).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot

from icu_cohort import cohort, concepts, export_sql, loader, pipeline
from icu_cohort.cli import main
from icu_cohort.study import load_study

REPO = Path(__file__).resolve().parents[1]
STUDY_DIR = REPO / "config" / "studies"


def _study(name="sae_mgso4"):
    return load_study(name, STUDY_DIR)


def back_to_duckdb(bigquery_sql: str) -> list[str]:
    return sqlglot.transpile(bigquery_sql, read="bigquery", write="duckdb")


# --------------------------------------------------------------------------------------------
# The BigQuery text
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bigquery_pairs():
    return export_sql.transpile(export_sql.study_statements(_study()), "bigquery")


def _code(text: str) -> str:
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def test_every_statement_parses_in_bigquery_and_reads_physionets_datasets(bigquery_pairs):
    assert len(bigquery_pairs) > 40
    for st, text in bigquery_pairs:
        parsed = sqlglot.parse(text, read="bigquery")
        assert len(parsed) == 1 and parsed[0] is not None, st.source
    script = "\n".join(_code(t) for _, t in bigquery_pairs)
    assert "`physionet-data`.mimiciv_3_1_hosp.admissions" in script
    assert "`physionet-data`.mimiciv_3_1_icu.chartevents" in script
    assert "mimiciv_derived" not in script and "mimiciv_hosp." not in script  # all renamed
    # DuckDB-only forms BigQuery lacks must all have been rewritten
    for form in (" MACRO ", "sepsis3_rule(", "sofa_cns(", "sofa_renal(", "to_hours(", "to_seconds(", "split_part(",
                 "regexp_full_match(", "TIMESTAMP_TRUNC(", "DATE_DIFF(", "FILTER(WHERE", "FILTER (WHERE",
                 "NULLS LAST)", "COUNTIF("):
        assert form.lower() not in script.lower(), form
    # ... and DuckDB statement forms SQLGlot would pass through unchanged (its BigQuery parser
    # is lenient): the PIVOT / UNPIVOT statements, COLUMNS(), EXCLUDE, :: casts
    for pattern in (r"\bPIVOT\s+\w+\s+ON\b", r"\bUNPIVOT\b", r"\bCOLUMNS\(", r"\bEXCLUDE\b", r"::", r"\bASOF\b"):
        assert not re.search(pattern, script, flags=re.I), pattern
    # every function called is one SQLGlot knows in BigQuery (an unknown one parses as Anonymous)
    unknown = {f.name for _, t in bigquery_pairs for f in sqlglot.parse_one(t, read="bigquery").find_all(sqlglot.exp.Anonymous)}
    assert unknown == set()
    # the last statement is the cohort query the analysis imports
    st, text = bigquery_pairs[-1]
    assert st.creates is None and "icu_cohort_study.cohort" in text and "ORDER BY" in text


@pytest.mark.parametrize("name", sorted(p.stem for p in STUDY_DIR.glob("*.yaml")))
def test_every_study_transpiles_and_parses_in_bigquery(name):
    """Each study's own statements (criteria, exposure, outcome, covariates, final query) in
    BigQuery; the concept statements before them are the same for every study and parsed by
    test_every_statement_parses_in_bigquery_and_reads_physionets_datasets."""
    concept_files = set(export_sql.needed_concept_files())
    statements = export_sql.study_statements(_study(name))
    own = [st for st in statements if st.source not in concept_files]
    assert [st.source for st in statements if st.source in concept_files] == \
        [st.source for st in export_sql.study_statements(_study()) if st.source in concept_files]
    assert own[-1].source == "(final query)" and len(own) > 10
    for st, text in export_sql.transpile(own, "bigquery"):
        parsed = [t for t in sqlglot.parse(text, read="bigquery") if t is not None]
        assert len(parsed) == 1, st.source


def test_the_study_needs_its_concepts_in_run_order():
    needed = export_sql.needed_concept_files()
    order = [f.path for f in concepts.concept_files()]
    assert needed == [p for p in order if p in needed]
    # what the study layer reads, and what those read in turn
    for path in ("score/sofa.sql", "score/sofa_organ_scores.sql", "sepsis/sepsis3_rule.sql",
                 "sepsis/suspicion_of_infection.sql", "medication/antibiotic.sql", "stage/chartevents.sql"):
        assert path in needed
    assert "firstday/first_day_rrt.sql" not in needed  # no study file reads it, nor any needed concept


def test_study_parameters_are_rendered_into_the_study_layer():
    a = export_sql.study_sql_text(_study())
    criteria = [{"age": {"min": 37}} if "age" in c else c for c in _study()["cohort"]["criteria"]]
    changed = _study().replace(cohort={**_study()["cohort"], "criteria": criteria})
    b = export_sql.study_sql_text(changed)
    assert "e.age >= 37" in _code(b).split("icu_cohort_study.final_stay AS", 1)[1][:4000]
    assert a != b


def test_macros_are_inlined_with_their_arguments():
    macros = export_sql.read_macros((REPO / "sql" / "score" / "sofa_organ_scores.sql").read_text())
    tree = sqlglot.parse_one("SELECT sofa_cns(g.gcs_min + 0) AS cns FROM g", read="duckdb")
    out = export_sql.expand_macros(tree, macros).sql(dialect="duckdb")
    assert "sofa_cns" not in out and "(g.gcs_min + 0) >= 13" in out
    con = duckdb.connect()
    con.execute("CREATE TABLE g AS SELECT * FROM (VALUES (15), (14), (9), (3), (NULL)) t(gcs_min)")
    assert [r[0] for r in con.execute(out + " ORDER BY g.gcs_min NULLS LAST").fetchall()] == [4, 3, 1, 0, None]


@pytest.mark.parametrize("duckdb_sql", [
    "SELECT least(NULL, 2, 5) AS v",                      # DuckDB skips NULLs: 2
    "SELECT greatest(1, NULL) AS v",                      # 1
    "SELECT least(CAST(NULL AS INT), NULL) AS v",         # NULL
    "SELECT split_part('a-b', '-', 2) AS v",              # 'b'
    "SELECT split_part('a', '-', 2) AS v",                # '' (not NULL)
    "SELECT regexp_full_match('123', '[0-9]+') AS v",     # true
    "SELECT regexp_full_match('12a', '[0-9]+') AS v",     # false (BigQuery's REGEXP_CONTAINS would say true)
    "SELECT TIMESTAMP '2150-01-01 10:00:00' + to_seconds(1.5 * 3600.0) AS v",
    "SELECT TIMESTAMP '2150-01-01 10:00:00' + to_hours(-25) AS v",
    "SELECT date_diff('second', TIMESTAMP '2150-01-01 10:00:00', TIMESTAMP '2150-01-01 11:00:01') AS v",
    "SELECT date_trunc('hour', TIMESTAMP '2150-01-01 10:59:59') AS v",
    "SELECT count(*) FILTER (WHERE x > 1) AS v FROM (VALUES (1), (NULL)) t(x)",   # 0, not NULL
    "SELECT max(x) FILTER (WHERE x < 3) AS v FROM (VALUES (1), (2), (5)) t(x)",  # 2
    "SELECT CAST('-infinity' AS DOUBLE) < -1e308 AS v",
    "SELECT list(rn ORDER BY x NULLS LAST) AS v FROM (SELECT x, row_number() OVER (ORDER BY x) AS rn "
    "FROM (VALUES (2), (NULL), (1)) t(x))",               # NULL ranks last, as in DuckDB
    "SELECT list(s ORDER BY h) AS v FROM (SELECT h, sum(u) OVER (ORDER BY h RANGE BETWEEN INTERVAL 1 HOUR "
    "PRECEDING AND CURRENT ROW) AS s FROM (VALUES (TIMESTAMP '2150-01-01 00:00:00', 1), "
    "(TIMESTAMP '2150-01-01 00:30:00', 2), (TIMESTAMP '2150-01-01 02:00:00', 4)) t(h, u))",   # [1, 3, 4]
    "SELECT list(k ORDER BY k) AS v FROM (SELECT CAST(unnest(range(1, n + 1)) AS INTEGER) AS k "
    "FROM (VALUES (3), (0), (NULL)) t(n))",              # [1, 2, 3]: none for 0 or NULL
    "WITH t AS (SELECT * FROM (VALUES (1, 'a', 5.0), (1, 'b', 7.0), (2, 'a', 3.0)) v(k, name, x)), "
    "w AS (PIVOT t ON name IN ('a', 'b', 'c') USING first(x) GROUP BY k) "
    "SELECT list([w.a, w.b, w.c] ORDER BY k) AS v FROM w",   # [[5, 7, NULL], [3, NULL, NULL]]
    "WITH t AS (SELECT * FROM (VALUES (1, 'a'), (1, 'a'), (2, 'b')) v(k, name)), "
    "w AS (PIVOT t ON name IN ('a', 'b') USING count(*) GROUP BY k), "
    "x AS (SELECT k, COALESCE(COLUMNS(w.* EXCLUDE (k)), 0) + 10 FROM w) "
    "SELECT list([x.a, x.b] ORDER BY k) AS v FROM x",   # [[12, 10], [10, 11]]
    "WITH t AS (SELECT id, a1, a2, b1, b2 FROM (VALUES (1, 1, 2, NULL, 5), (2, 3, 4, 6, 7)) v(id, a1, a2, b1, b2)), "
    "u AS (UNPIVOT t ON (a1, a2) AS a, (b1, b2) AS b INTO NAME n VALUE v1, v2) "
    "SELECT list([id, v1, v2] ORDER BY id, n) AS v, list(n ORDER BY id, n) AS names FROM u",  # b of id 1 left out
    # ASOF (BigQuery has none): the latest row of s at or before a's time, per key; none before the first
    "WITH a AS (SELECT * FROM (VALUES (1, TIMESTAMP '2150-01-01 10:00:00'), (1, TIMESTAMP '2150-01-01 12:00:00'), "
    "(2, TIMESTAMP '2150-01-01 09:00:00')) v(k, t)), "
    "s AS (SELECT * FROM (VALUES (1, TIMESTAMP '2150-01-01 10:00:00', 5.0), (1, TIMESTAMP '2150-01-01 11:00:00', 6.0), "
    "(2, TIMESTAMP '2150-01-01 09:30:00', 7.0)) v(k, t, x)) "
    "SELECT list(s.x ORDER BY a.k, a.t) AS v FROM a ASOF LEFT JOIN s ON a.k = s.k AND a.t >= s.t",  # [5, 6, NULL]
])
def test_each_rewrite_keeps_duckdbs_answer(duckdb_sql):
    """The expression's value in DuckDB equals the value of its BigQuery form back in DuckDB."""
    con = duckdb.connect()
    want = con.execute(duckdb_sql).fetchall()
    (st,) = [export_sql.Statement("test", None, sqlglot.parse_one(duckdb_sql, read="duckdb"))]
    ((_, bigquery),) = export_sql.transpile([st], "bigquery")
    sqlglot.parse_one(bigquery, read="bigquery")
    (back,) = back_to_duckdb(bigquery)
    assert con.execute(back).fetchall() == want, bigquery


def test_an_unknown_dialect_is_refused():
    with pytest.raises(export_sql.TranspileError, match="dialect 'oracle' is not supported"):
        export_sql.transpile([], "oracle")


def test_cli_writes_the_script(tmp_path, capsys):
    out = tmp_path / "sae.sql"
    assert main(["sql", "--study", "sae_mgso4", "--study-dir", str(STUDY_DIR), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    text = out.read_text()
    assert summary["statements"] == text.count(";\n") > 40
    assert text.startswith("-- icu-cohort: study sae_mgso4, transpiled from DuckDB to bigquery")
    assert main(["sql", "--study", "no_such_study", "--study-dir", str(STUDY_DIR)]) == 2
    assert "no_such_study" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Round trip: the BigQuery script, back in DuckDB, on a synthetic set
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_parquet(tmp_path_factory) -> Path:
    from icu_cohort.synth import generate

    root = tmp_path_factory.mktemp("export_sql")
    generate(root / "mimic", 400, 11, progress=None, threads=2, treated_share=0.6)
    loader.convert_tables(root / "mimic", root / "parquet", pipeline.required_tables(), threads=2, memory_limit="2GB")
    return root / "parquet"


@pytest.fixture(scope="module")
def reference(synthetic_parquet):
    """The DuckDB pipeline: concepts and the study layer in one connection."""
    con = loader.connect(synthetic_parquet)
    concepts.build_concepts(con)
    cohort_df, attrition = cohort.build_cohort(con, _study())
    raw = con.execute("SELECT * FROM study.cohort ORDER BY stay_id").df()
    return con, raw, cohort_df


AVG = re.compile(r"\bAVG\(", re.IGNORECASE)


def _rows_differ(con, a: str, b: str, digits: int | None = None) -> bool:
    """Whether two relations differ as multisets of rows (DOUBLEs rounded to ``digits`` decimals)."""
    def select(rel):
        if digits is None:
            return f"SELECT * FROM {rel}"
        cols = con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
        return "SELECT " + ", ".join(f'round("{c}", {digits})' if t == "DOUBLE" else f'"{c}"' for c, t, *_ in cols) + f" FROM {rel}"
    return any(con.execute(f"SELECT count(*) FROM ({select(x)} EXCEPT ALL {select(y)})").fetchone()[0]
               for x, y in ((a, b), (b, a)))


def test_bigquery_script_back_in_duckdb_gives_the_same_concepts_and_cohort(synthetic_parquet, reference, tmp_path):
    con, raw, _ = reference
    con2 = loader.connect(synthetic_parquet)
    for schema in ("rt_derived", "rt_study"):
        con2.execute(f"CREATE SCHEMA {schema}")
    pairs = export_sql.transpile(export_sql.study_statements(_study()), "bigquery", hosp="mimiciv_hosp",
                                 icu="mimiciv_icu", derived="rt_derived", study_dataset="rt_study")
    result = None
    for st, text in pairs:
        for statement in back_to_duckdb(text):
            result = con2.execute(statement)
    got = result.df()
    # every concept the study needs: identical rows
    compared, rounded = 0, []
    for st, _ in pairs:
        if st.creates and st.creates.startswith("mimiciv_derived."):
            name = st.creates.split(".", 1)[1]
            path = tmp_path / f"{name}.parquet"
            con.execute(f"COPY {st.creates} TO '{path}'")
            if _rows_differ(con2, f"rt_derived.{name}", f"'{path}'"):
                # a mean (AVG) may differ in the last bits of its floats: DuckDB's parallel sums
                # depend on the plan (first_day_vitalsign's plain AVG, too), and BigQuery
                # cannot keep the ORDER BY that makes ours bit-stable
                assert AVG.search((REPO / "sql" / st.source).read_text()), name
                assert not _rows_differ(con2, f"rt_derived.{name}", f"'{path}'", digits=9), name
                rounded.append(name)
            compared += 1
    assert len(rounded) <= 3, rounded
    assert compared >= 30
    # the cohort: same stays, same values. Integers come back as BIGINT (BigQuery has INT64
    # only); the study's vital-sign means are summed in charting order in DuckDB and in no
    # fixed order in BigQuery (AVG takes no ORDER BY there), so floats agree to rounding.
    assert list(got.columns) == list(raw.columns) and len(got) == len(raw) > 20
    for column in raw.columns:
        a, b = raw[column], got[column]
        if pd.api.types.is_float_dtype(a):
            assert (a.isna() == b.isna()).all(), column
            np.testing.assert_allclose(b[a.notna()], a[a.notna()], rtol=1e-12, atol=0, err_msg=column)
        else:
            assert a.astype(object).where(a.notna(), None).tolist() == b.astype(object).where(b.notna(), None).tolist(), column


# --------------------------------------------------------------------------------------------
# cohort_file: the analysis from an exported cohort table
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_an_exported_cohort_imports_as_the_cohort_stage_gives_it(reference, tmp_path, fmt):
    _, raw, cohort_df = reference
    exported = tmp_path / f"cohort.{fmt}"
    upper = raw.rename(columns=str.upper)  # BigQuery exports keep the query's names; case is not kept by every tool
    upper.to_parquet(exported) if fmt == "parquet" else upper.to_csv(exported, index=False)
    out = tmp_path / "out"
    pipeline.import_cohort(_study(), exported, out)
    pipeline.cohort_file_manifest(exported, tmp_path / "manifest.json")
    got = pd.read_parquet(out / "cohort.parquet")
    # CSV: text round trip of the floats (pandas writes 17 significant digits: exact) and of the
    # times (read back as datetime64 of another unit)
    pd.testing.assert_frame_equal(got, cohort_df.reset_index(drop=True), check_exact=True, check_dtype=fmt == "parquet")
    attrition = pd.read_csv(out / "attrition.csv")
    assert attrition["n_remaining"].tolist() == [len(cohort_df)]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["kind"] == "cohort_file" and manifest["tables"][0]["rows"] == len(cohort_df)


def test_a_cohort_file_missing_a_column_is_named(tmp_path, reference):
    from icu_cohort import sources

    _, raw, _ = reference
    bad = tmp_path / "bad.parquet"
    raw.drop(columns=["death_28d"]).to_parquet(bad)
    with pytest.raises(sources.MissingColumnError, match="missing column.s. death_28d"):
        sources.read_cohort_file(bad)


def test_snakemake_with_a_cohort_file_runs_analysis_and_report_only(reference, tmp_path):
    _, raw, cohort_df = reference
    exported = tmp_path / "bq_cohort.parquet"
    raw.to_parquet(exported)
    studies = tmp_path / "studies"
    shutil.copytree(STUDY_DIR, studies)
    (studies / "sae_small.yaml").write_text("extends: sae_mgso4\nname: sae_small\ntitle: t\nquestion: q\n"
                                            "analysis: {matching: {caliper_sd: null}}\n")
    work = tmp_path / "work"
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
                           "--cores", "2", "--config", f"cohort_file={exported}", f"study_dir={studies}",
                           "studies=[sae_small]"], capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from icu_cohort import sources

    out = work / "results" / sources.cohort_file_source(exported) / "sae_small"
    assert (out / "report.html").is_file()
    assert not (work / "data" / "concepts").exists()  # no data, concepts or cohort stage ran
    direct = tmp_path / "direct"
    cohort.write_cohort(cohort_df, pd.DataFrame({"step": [1], "description": ["x"], "n_remaining": [len(cohort_df)],
                                                 "n_excluded": [0]}), direct)
    pipeline.run_analysis(load_study("sae_small", studies), direct / "cohort.parquet", direct)
    assert json.loads((out / "estimates.json").read_text()) == json.loads((direct / "estimates.json").read_text())


def test_a_cohort_file_with_two_studies_is_refused(tmp_path, reference):
    _, raw, _ = reference
    exported = tmp_path / "c.parquet"
    raw.to_parquet(exported)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path / "w"), "--cores", "1", "--config", f"cohort_file={exported}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "a cohort table belongs to one study" in proc.stderr


# --------------------------------------------------------------------------------------------
# Secondary outcomes: their columns in the exported cohort
# --------------------------------------------------------------------------------------------

SECONDARY = [{"name": "death_within_7d", "kind": "death_within", "horizon_days": 7},
             {"name": "hospital_death", "kind": "in_hospital_death"}]


def test_the_export_carries_the_secondary_outcome_columns(reference, tmp_path):
    """The study layer and final query of a study with secondary outcomes, in BigQuery's
    dialect and back in DuckDB (on the reference's concepts), give the cohort with each secondary
    outcome's columns; imported as a cohort file it is build_cohort's cohort exactly."""
    con, raw, _ = reference
    study = _study().replace(outcome={**_study()["outcome"], "secondary": SECONDARY})
    study_layer = [st for st in export_sql.study_statements(study)
                   if st.source in cohort.STUDY_FILES or st.source.startswith("(")]
    final = study_layer[-1].sql.sql(dialect="duckdb")
    assert "outcome_secondary" in final and "death_within_7d_time_days" in final
    # a study without secondary outcomes keeps the plain final query
    assert export_sql.final_query_sql(_study()) == "SELECT * FROM study.cohort ORDER BY stay_id"
    con.execute("CREATE SCHEMA IF NOT EXISTS rt_sec")
    pairs = export_sql.transpile(study_layer, "bigquery", hosp="mimiciv_hosp", icu="mimiciv_icu",
                                 derived="mimiciv_derived", study_dataset="rt_sec")
    result = None
    for _, text in pairs:
        for statement in back_to_duckdb(text):
            result = con.execute(statement)
    got = result.df()
    assert list(got.columns) == list(raw.columns) + cohort.secondary_outcome_columns(study)
    want, _ = cohort.build_cohort(con, study)  # the DuckDB pipeline (its own study schema)
    assert want["hospital_death"].sum() > 0 and want["death_within_7d"].sum() > 0
    exported = tmp_path / "cohort.parquet"
    got.to_parquet(exported)
    pipeline.import_cohort(study, exported, tmp_path / "out")
    imported = pd.read_parquet(tmp_path / "out" / "cohort.parquet")
    # exact for the secondary outcomes; the vital-sign means to rounding (summation order, as above)
    names = cohort.secondary_outcome_columns(study)
    pd.testing.assert_frame_equal(imported[names], want[names], check_exact=True)
    pd.testing.assert_frame_equal(imported, want, check_exact=False, rtol=1e-12, atol=0)
    # an export without them (made before the study declared them) is refused, naming the columns
    from icu_cohort import sources

    got.drop(columns=["hospital_death_time_days"]).to_parquet(tmp_path / "old.parquet")
    with pytest.raises(sources.MissingColumnError, match="hospital_death_time_days of the study's secondary"):
        pipeline.import_cohort(study, tmp_path / "old.parquet", tmp_path / "out2")


def test_the_postgres_text_carries_the_secondary_outcome_columns():
    study = _study().replace(outcome={**_study()["outcome"], "secondary": SECONDARY})
    st = export_sql.Statement("(final query)", None, sqlglot.parse_one(export_sql.final_query_sql(study), read="duckdb"))
    (_, text), = [p for p in export_sql.transpile([st], "postgres", derived="d", study_dataset="s")
                  if p[0].source == "(final query)"]
    for column in cohort.secondary_outcome_columns(study):
        assert f"AS {column}" in text
    assert "s.outcome_secondary" in text and "s.cohort" in text
