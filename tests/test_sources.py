"""The data sources besides a csv.gz folder: a mimic-code DuckDB database read in place and a
mimic-code PostgreSQL database exported to Parquet. Each runs the default study and must give
exactly the cohort and the estimates of the csv.gz run on the same (synthetic) data; bad input
stops at the check with a named error; the password never reaches a file the run writes.

The PostgreSQL tests start a real server (Debian's ``postgresql`` package: ``initdb`` and
``pg_ctl`` as an unprivileged user, on a temporary data directory and a free local port) and
skip, saying why, when the binaries are absent.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from icu_cohort import concepts, loader, pipeline, sources
from icu_cohort.mimic_tables import TABLES, table
from icu_cohort.study import load_study

REPO = Path(__file__).resolve().parents[1]
#: The default study with no caliper, so that matching succeeds on a small synthetic set, and
#: two secondary outcomes, so that each source (and the PostgreSQL export) carries them too.
STUDY = "sae_small"
SMALL_STUDY = """extends: sae_mgso4
name: sae_small
title: sae_mgso4 without a caliper, for a small test set
question: as sae_mgso4
outcome:
  horizon_days: 28
  secondary:
    - {name: death_within_7d, kind: death_within, horizon_days: 7}
    - {name: hospital_death, kind: in_hospital_death}
analysis: {matching: {caliper_sd: null}}
"""
DUCKDB_CFG = {"threads": 2, "memory_limit": "2GB"}
PATIENTS, SEED = 400, 11

#: mimic-code's column types (buildmimic/postgres/create.sql) for the catalogue's types; the test
#: databases use these, so the views' casts to the catalogue's types are exercised.
MIMIC_CODE_TYPES = {"INTEGER": "INTEGER", "BIGINT": "BIGINT", "SMALLINT": "SMALLINT", "TIMESTAMP": "TIMESTAMP(0)",
                    "DATE": "DATE", "DOUBLE": "DOUBLE PRECISION", "VARCHAR": "VARCHAR(255)"}


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("studies")
    for path in (REPO / "config" / "studies").glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    (folder / f"{STUDY}.yaml").write_text(SMALL_STUDY)
    return folder


_STUDY_DIR: list[Path] = []


def _study():
    return load_study(STUDY, _STUDY_DIR[0])


def run_study(tables_from: dict, work: Path) -> tuple[pd.DataFrame, dict]:
    """Concepts, cohort and analysis of the default study through the pipeline functions."""
    cdir, out = work / "concepts", work / "results"
    pipeline.concepts(tables_from, cdir, "test", DUCKDB_CFG)
    pipeline.build_cohort(_study(), tables_from, cdir, out, DUCKDB_CFG)
    estimates = pipeline.run_analysis(_study(), out / "cohort.parquet", out)
    return pd.read_parquet(out / "cohort.parquet"), json.loads((out / "estimates.json").read_text())


@pytest.fixture(scope="module")
def synthetic_csv(tmp_path_factory, study_dir) -> Path:
    from icu_cohort.synth import generate

    _STUDY_DIR[:] = [study_dir]
    root = tmp_path_factory.mktemp("csv") / "mimic"
    generate(root, PATIENTS, SEED, progress=None, threads=2, treated_share=0.6)
    return root


@pytest.fixture(scope="module")
def parquet_dir(synthetic_csv, tmp_path_factory) -> Path:
    """The synthetic set converted by the loader, as the csv.gz run reads it."""
    work = tmp_path_factory.mktemp("parquet")
    loader.convert_tables(synthetic_csv, work / "parquet", pipeline.required_tables(), threads=2, memory_limit="2GB")
    return work / "parquet"


@pytest.fixture(scope="module")
def baseline(parquet_dir, tmp_path_factory):
    """The csv.gz run: convert, concepts, cohort, analysis."""
    work = tmp_path_factory.mktemp("baseline")
    return run_study({"parquet_dir": str(parquet_dir)}, work)


def assert_same_results(got: tuple[pd.DataFrame, dict], want: tuple[pd.DataFrame, dict]) -> None:
    cohort, estimates = got
    base_cohort, base_estimates = want
    assert len(base_cohort) > 20 and base_cohort["treated"].nunique() == 2  # a real comparison
    pd.testing.assert_frame_equal(cohort, base_cohort, check_exact=True)
    assert estimates == base_estimates


# --------------------------------------------------------------------------------------------
# A mimic-code DuckDB database
# --------------------------------------------------------------------------------------------


def build_duckdb_database(csv_root: Path, path: Path, skip: tuple[str, ...] = (), drop_column: tuple | None = None) -> Path:
    """A DuckDB database laid out as mimic-code's DuckDB build: schemas mimiciv_hosp/icu, one
    table per file with mimic-code's types, an extra column in one table (as newer releases)."""
    con = duckdb.connect(str(path))
    for schema in sources.SCHEMAS:
        con.execute(f"CREATE SCHEMA {schema}")
    for key, spec in TABLES.items():
        if key in skip:
            continue
        src = csv_root / spec.relpath
        text_cols = ", ".join(f"'{c}': 'VARCHAR'" for c in loader.read_header(src))
        cols = [(c, t) for c, t in spec.columns if not (drop_column and (key, c) == drop_column)]
        select = ", ".join(f'CAST("{c}" AS {MIMIC_CODE_TYPES[t]}) AS "{c}"' for c, t in reversed(cols))
        con.execute(f"CREATE TABLE {spec.qualified} AS SELECT {select}, 'x' AS extra_v31_column "
                    f"FROM read_csv('{src}', header = true, columns = {{{text_cols}}})")
    con.close()
    return path


def test_duckdb_database_gives_the_csv_results(synthetic_csv, baseline, tmp_path):
    db = build_duckdb_database(synthetic_csv, tmp_path / "mimic4.db")
    keys = pipeline.required_tables()
    rows = sources.check_duckdb_database(db, keys)
    assert rows["hosp/patients"] == PATIENTS
    before = db.stat().st_mtime_ns, db.stat().st_size
    assert_same_results(run_study({"duckdb_database": str(db)}, tmp_path / "work"), baseline)
    assert (db.stat().st_mtime_ns, db.stat().st_size) == before  # read in place, read-only


def test_duckdb_views_have_the_catalogue_types(synthetic_csv, tmp_path):
    db = build_duckdb_database(synthetic_csv, tmp_path / "mimic4.db")
    con = sources.connect({"duckdb_database": str(db)}, ["icu/chartevents", "hosp/patients"])
    described = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_catalog = 'memory' AND table_schema = 'mimiciv_icu' AND table_name = 'chartevents'").fetchall())
    assert list(described) == table("icu/chartevents").column_names  # catalogue order, no extra column
    assert described == dict(table("icu/chartevents").columns)


@pytest.mark.parametrize("problem, error, words", [
    ("no_file", sources.SourceUnreachableError, "file not found"),
    ("not_duckdb", sources.SourceUnreachableError, "cannot be opened"),
    ("no_schema", sources.MissingSchemaError, "mimiciv_icu"),
    ("no_table", sources.MissingTableError, "mimiciv_hosp.labevents"),
    ("no_column", sources.MissingColumnError, "mimiciv_icu.icustays lacks column(s) los"),
])
def test_duckdb_database_check_names_the_problem(synthetic_csv, tmp_path, problem, error, words):
    db = tmp_path / "mimic4.db"
    if problem == "not_duckdb":
        db.write_text("not a database\n")
    elif problem == "no_schema":
        build_duckdb_database(synthetic_csv, db, skip=tuple(k for k in TABLES if k.startswith("icu/")))
        con = duckdb.connect(str(db))
        con.execute("DROP SCHEMA mimiciv_icu")
        con.close()
    elif problem == "no_table":
        build_duckdb_database(synthetic_csv, db, skip=("hosp/labevents",))
    elif problem == "no_column":
        build_duckdb_database(synthetic_csv, db, drop_column=("icu/icustays", "los"))
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        sources.check_duckdb_database(db, pipeline.required_tables())


def test_duckdb_database_through_snakemake_stops_before_any_job_on_a_missing_table(synthetic_csv, tmp_path):
    db = build_duckdb_database(synthetic_csv, tmp_path / "mimic4.db", skip=("hosp/labevents",))
    work = tmp_path / "work"
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
                           "--cores", "1", "--config", f"duckdb_database={db}"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0
    assert "MissingTableError" in proc.stderr and "mimiciv_hosp.labevents" in proc.stderr
    assert not (work / "data").exists() and not (work / "results").exists()


def test_two_data_sources_at_once_is_a_configuration_error(tmp_path):
    with pytest.raises(sources.SourceError, match="at most one data source; the configuration sets mimic_dir, duckdb_database"):
        sources.exclusive_source_keys({"mimic_dir": "x", "duckdb_database": "y", "source": None})


def test_source_names_identify_the_database_not_the_credentials():
    a = sources.postgres_source("postgresql://alice:secret1@db.example:5432/mimiciv")
    b = sources.postgres_source("postgresql://bob:other@db.example:5432/mimiciv")
    c = sources.postgres_source("postgresql://alice:secret1@db.example:5433/mimiciv")
    assert a == b != c and a.startswith("postgres-mimiciv-") and "secret" not in a and "alice" not in a
    assert sources.redact("postgresql://alice:secret1@db.example:5432/mimiciv?sslmode=require&password=x") \
        == "postgresql://db.example:5432/mimiciv"
    assert sources.postgres_password("postgresql://alice:secret1@db.example/mimiciv") == "secret1"
    assert sources.duckdb_source("/data/mimic4.db").startswith("duckdb-mimic4-")


# --------------------------------------------------------------------------------------------
# A mimic-code PostgreSQL database on a real local server
# --------------------------------------------------------------------------------------------

PG_USER, PG_PASSWORD, PG_DB = "mimic_reader", "Pw-7f3k9-not-in-any-file", "mimiciv"
PG_TYPES = {"INTEGER": "INTEGER", "BIGINT": "BIGINT", "SMALLINT": "SMALLINT", "TIMESTAMP": "TIMESTAMP(0)",
            "DATE": "DATE", "DOUBLE": "DOUBLE PRECISION", "VARCHAR": "TEXT"}


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_server():
    """A PostgreSQL server of our own: initdb on a temporary folder, pg_ctl on a free port of
    127.0.0.1 (password authentication over TCP), stopped at the end."""
    import tempfile

    psycopg = pytest.importorskip("psycopg")
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed: apt-get install postgresql")
    as_user: list[str] = []
    data = Path(tempfile.mkdtemp(prefix="icu-cohort-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the unprivileged 'postgres'
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to run the server as")
        os.chown(data, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    pgdata = data / "pgdata"
    subprocess.run(as_user + [str(bin_dir / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth-local=trust",
                              "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    log = data / "server.log"
    subprocess.run(as_user + [str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-l", str(log), "-w", "-t", "60",
                              "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True, timeout=120)
    try:
        admin = psycopg.connect(host=str(data), port=port, user="postgres", dbname="postgres", autocommit=True)
        admin.execute(f"CREATE ROLE {PG_USER} LOGIN PASSWORD '{PG_PASSWORD}'")
        admin.execute(f"CREATE DATABASE {PG_DB} OWNER {PG_USER}")
        admin.execute(f"CREATE DATABASE partial OWNER {PG_USER}")
        admin.close()
        yield {"port": port, "socket": str(data),
               "uri": f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{port}/{PG_DB}",
               "uri_no_password": f"postgresql://{PG_USER}@127.0.0.1:{port}/{PG_DB}"}
    finally:
        subprocess.run(as_user + [str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(data, ignore_errors=True)


def load_into_postgres(uri: str, csv_root: Path, keys) -> None:
    """mimic-code's PostgreSQL layout: schemas mimiciv_hosp/icu, lower-case column names,
    mimic-code's types, each table loaded with COPY FROM the csv.gz."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        for schema in sources.SCHEMAS:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for key in keys:
            spec = table(key)
            cols = ", ".join(f"{c.lower()} {PG_TYPES[t]}" for c, t in spec.columns)
            conn.execute(f"CREATE TABLE {spec.qualified} ({cols})")
            names = ", ".join(c.lower() for c in spec.column_names)
            with conn.cursor() as cur, gzip.open(csv_root / spec.relpath, "rb") as src:
                with cur.copy(f"COPY {spec.qualified} ({names}) FROM STDIN (FORMAT csv, HEADER true)") as copy:
                    while block := src.read(1 << 20):
                        copy.write(block)


@pytest.fixture(scope="module")
def pg_mimic(pg_server, synthetic_csv):
    start = time.perf_counter()
    load_into_postgres(pg_server["uri"], synthetic_csv, pipeline.required_tables())
    partial = pg_server["uri"].rsplit("/", 1)[0] + "/partial"
    load_into_postgres(partial, synthetic_csv, ["hosp/patients"])
    print(f"loaded PostgreSQL in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return pg_server


def _snakemake(workdir: Path, *config: str, timeout: int = 400, password: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                           str(workdir), "--cores", "2", "--config", *config], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _files_holding(root: Path, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_postgres_through_snakemake_gives_the_csv_results_and_never_writes_the_password(
        pg_mimic, baseline, study_dir, tmp_path):
    work = tmp_path / "work"
    proc = _snakemake(work, f"source={pg_mimic['uri_no_password']}", f"study_dir={study_dir}", f"studies=[{STUDY}]",
                      password=PG_PASSWORD)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    source = sources.postgres_source(pg_mimic["uri"])
    assert source.startswith("postgres-mimiciv-")
    out = work / "results" / source / STUDY
    got = pd.read_parquet(out / "cohort.parquet"), json.loads((out / "estimates.json").read_text())
    assert_same_results(got, baseline)
    manifest = json.loads((work / "data" / "parquet" / source / "manifest.json").read_text())
    assert manifest["source"] == f"postgresql://127.0.0.1:{pg_mimic['port']}/{PG_DB}" and manifest["kind"] == "postgres"
    assert {t["table"]: t["rows"] for t in manifest["tables"]}["mimiciv_hosp.patients"] == PATIENTS
    # the password: in no file of the run (data, logs, results, report, .snakemake), nor its output
    assert (out / "report.html").is_file()
    assert _files_holding(work, PG_PASSWORD) == []
    assert PG_PASSWORD not in proc.stdout + proc.stderr
    assert _files_holding(work / "data", PG_USER) == _files_holding(work / "results", PG_USER) == []


def test_a_password_in_the_uri_is_refused_before_anything_runs(pg_mimic, tmp_path):
    work = tmp_path / "work"
    proc = _snakemake(work, f"source={pg_mimic['uri']}", timeout=120)
    assert proc.returncode != 0
    assert "the URI holds a password; give it through the PGPASSWORD" in proc.stderr
    assert PG_PASSWORD not in proc.stderr  # (Snakemake's own log keeps the command line: the message says so)
    assert not (work / "data").exists() and not (work / "results").exists()


@pytest.mark.parametrize("problem, error, words", [
    ("unreachable", "SourceUnreachableError", "cannot be reached"),
    ("password", "SourceAuthError", "refused the credentials"),
    ("no_database", "SourceUnreachableError", "database does not exist"),
    ("no_schema", "MissingSchemaError", "mimiciv_hosp, mimiciv_icu not found"),
    ("no_table", "MissingTableError", "mimiciv_hosp.admissions"),
])
def test_postgres_problems_stop_the_run_before_any_job_naming_them(pg_mimic, tmp_path, problem, error, words):
    port, base = pg_mimic["port"], f"postgresql://{PG_USER}@127.0.0.1"
    uri = {"unreachable": f"{base}:{_free_port()}/{PG_DB}",
           "password": f"{base}:{port}/{PG_DB}",
           "no_database": f"{base}:{port}/nosuchdb",
           "no_schema": f"{base}:{port}/postgres",
           "no_table": f"{base}:{port}/partial"}[problem]
    password = "wrong-" + PG_PASSWORD if problem == "password" else PG_PASSWORD
    with_password = uri.replace(f"{PG_USER}@", f"{PG_USER}:{password}@")
    with pytest.raises(getattr(sources, error), match=words) as info:
        sources.check_postgres(with_password, pipeline.required_tables())
    assert PG_PASSWORD not in str(info.value)
    work = tmp_path / "work"
    proc = _snakemake(work, f"source={uri}", timeout=120, password=password)
    assert proc.returncode != 0
    assert error in proc.stderr and words in proc.stderr, proc.stderr[-2000:]
    assert PG_PASSWORD not in proc.stdout + proc.stderr
    assert not (work / "data").exists() and not (work / "results").exists() and not (work / "logs").exists()
    assert _files_holding(work, PG_PASSWORD) == []


# --------------------------------------------------------------------------------------------
# The study's SQL in PostgreSQL's dialect (icu_cohort.export_sql), run on the server
# --------------------------------------------------------------------------------------------

PG_DERIVED, PG_STUDY = "rt_derived", "rt_study"


def _pg_run(uri: str, pairs) -> list:
    """Run transpiled statements in order on the server; the rows of the last one."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        for schema in (PG_DERIVED, PG_STUDY):
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        cur = None
        for _, text in pairs:
            cur = conn.execute(text)
        return cur.fetchall() if cur is not None and cur.description else []


def _pg_into_duckdb(uri: str, relation: str, con: duckdb.DuckDBPyConnection, name: str, types: list[tuple]) -> None:
    """A PostgreSQL relation as DuckDB table ``name`` with the given columns and types (through
    PostgreSQL's CSV, which writes doubles with their shortest exact digits)."""
    import tempfile

    import psycopg

    with psycopg.connect(uri) as conn:
        got = [d.name for d in conn.execute(f"SELECT * FROM {relation} LIMIT 0").description]
        assert got == [c for c, *_ in types], relation
        with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
            with conn.cursor() as cur, cur.copy(f"COPY (SELECT * FROM {relation}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
                for block in copy:
                    tmp.write(block)
            tmp.flush()
            columns = "{" + ", ".join(f"'{c}': '{t}'" for c, t, *_ in types) + "}"
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM read_csv('{tmp.name}', header = true, "
                        f"columns = {columns}, auto_detect = false)")


@pytest.fixture(scope="module")
def duckdb_reference(parquet_dir):
    """The DuckDB pipeline on the same data: concepts and the study layer in one connection."""
    from icu_cohort import cohort

    con = loader.connect(parquet_dir)
    concepts.build_concepts(con)
    cohort_df, _ = cohort.build_cohort(con, _study())
    return con, cohort_df


@pytest.fixture(scope="module")
def pg_script(pg_mimic):
    """The default study's whole SQL, transpiled to PostgreSQL's dialect, run on the server
    over mimic-code's schemas; the rows of its final query."""
    from icu_cohort import export_sql

    pairs = export_sql.transpile(export_sql.study_statements(_study()), "postgres", hosp="mimiciv_hosp",
                                 icu="mimiciv_icu", derived=PG_DERIVED, study_dataset=PG_STUDY)
    start = time.perf_counter()
    rows = _pg_run(pg_mimic["uri"], pairs)
    print(f"ran {len(pairs)} statements on PostgreSQL in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return pairs, rows


#: An AVG without ORDER BY: its last bits depend on the order the engine adds the values in
#: (DuckDB's plan, PostgreSQL's scan), which neither SQL fixes.
PLAIN_AVG = __import__("re").compile(r"\bAVG\((?:(?!ORDER BY)[^()]|\([^()]*\))*\)", __import__("re").IGNORECASE)


def test_postgres_dialect_script_gives_duckdbs_concepts_and_study_tables(pg_mimic, pg_script, duckdb_reference):
    from icu_cohort import export_sql

    pairs, _ = pg_script
    con, _ = duckdb_reference
    assert len(pairs) == len(export_sql.study_statements(_study())) + 1 > 50  # + the rounding function
    compared, near = [], []
    for st, _ in pairs:
        if not st.creates:
            continue
        schema, name = st.creates.split(".")
        relation = {"mimiciv_derived": f"{PG_DERIVED}.{name}", "study": f"{PG_STUDY}.{name}",
                    "stage": f"{PG_DERIVED}.stage_{name}"}[schema]
        types = con.execute(f"DESCRIBE {st.creates}").fetchall()
        _pg_into_duckdb(pg_mimic["uri"], relation, con, "pg_copy", types)
        differ = [con.execute(f"SELECT count(*) FROM ({x} EXCEPT ALL {y})").fetchone()[0]
                  for x, y in ((f"FROM {st.creates}", "FROM pg_copy"), ("FROM pg_copy", f"FROM {st.creates}"))]
        if any(differ):
            # only the plain means may differ, in the last bits: equal rounded to 9 decimals
            source = (REPO / "sql" / st.source).read_text()
            assert PLAIN_AVG.search(source), (st.creates, differ)
            rounded = ", ".join(f'round("{c}", 9)' if t == "DOUBLE" else f'"{c}"' for c, t, *_ in types)
            assert [con.execute(f"SELECT count(*) FROM (SELECT {rounded} FROM {x} EXCEPT ALL SELECT {rounded} FROM {y})").fetchone()[0]
                    for x, y in ((st.creates, "pg_copy"), ("pg_copy", st.creates))] == [0, 0], st.creates
            near.append(st.creates)
        compared.append(st.creates)
    assert len(compared) >= 50 and "study.cohort" in compared and "mimiciv_derived.apsiii" in compared
    assert con.execute("SELECT count(*) FROM study.cohort").fetchone()[0] > 20
    # on this set only first_day_vitalsign's plain means differ (in their last bits)
    assert set(near) <= {"mimiciv_derived.first_day_vitalsign"}, near


def test_postgres_dialect_cohort_is_the_duckdb_cohort_exactly(pg_mimic, pg_script, duckdb_reference, tmp_path):
    from icu_cohort import cohort, export_sql

    pairs, rows = pg_script
    con, cohort_df = duckdb_reference
    st, text = pairs[-1]
    assert st.creates is None and f"{PG_STUDY}.cohort" in text and len(rows) == len(cohort_df) > 20
    # study.cohort's columns, then each secondary outcome's two (export_sql.final_query_sql)
    types = con.execute(f"DESCRIBE {export_sql.final_query_sql(_study())}").fetchall()
    assert [c for c, *_ in types][-4:] == cohort.secondary_outcome_columns(_study())
    _pg_into_duckdb(pg_mimic["uri"], f"({text.rstrip(';')}) AS q", con, "pg_cohort", types)
    # the exported rows imported as a cohort file give the DuckDB pipeline's cohort exactly
    exported = tmp_path / "cohort.parquet"
    con.execute(f"COPY pg_cohort TO '{exported}'")
    pipeline.import_cohort(_study(), exported, tmp_path / "out")
    got = pd.read_parquet(tmp_path / "out" / "cohort.parquet")
    pd.testing.assert_frame_equal(got, cohort_df, check_exact=True)
    assert cohort_df["treated"].nunique() == 2
    assert cohort_df["death_within_7d"].sum() > 0 and cohort_df["hospital_death"].sum() > 0


@pytest.mark.parametrize("duckdb_sql", [
    # round: DuckDB rounds the double's exact value half away from zero
    "SELECT list(round(CAST(x AS DOUBLE), 4) ORDER BY x) FROM (VALUES (0.63125), (0.95625), (0.125), (-0.63125), (2.675), "
    "(-0.5)) t(x)",
    "SELECT list(round(CAST(x AS DOUBLE), 2) ORDER BY x) FROM (VALUES (0.125), (0.375), (1.005), (-0.125), (123456.125)) t(x)",
    "SELECT round(CAST(NULL AS DOUBLE), 3)",
    "SELECT CAST(exp(-(-4.4360 + 0.04726 * 57)) AS DOUBLE)",
    "SELECT arg_min(a, b) AS x, arg_max(a, b) AS y FROM (VALUES ('x', 2), (NULL, 1), ('z', NULL), ('w', 3)) t(a, b)",
    "SELECT list(regexp_extract(s, '^[A-Z]*') ORDER BY s) FROM (VALUES ('C77'), ('430'), ('C7A')) t(s)",
    "SELECT list(s ORDER BY s) FROM (VALUES ('123'), ('12a')) t(s) WHERE regexp_full_match(s, '[0-9]+')",
    # RE2's word boundary (\\b is a backspace in PostgreSQL)
    "SELECT list(s ORDER BY s) FROM (VALUES ('yes'), ('yes (continue)'), ('yesterday'), ('no')) t(s) "
    "WHERE regexp_matches(s, '^yes\\b')",
    "SELECT list(k ORDER BY n, k) FROM (SELECT n, CAST(unnest(range(1, n + 1)) AS INTEGER) AS k "
    "FROM (VALUES (3), (0), (NULL)) t(n))",
    "SELECT TIMESTAMP '2150-01-01 10:00:00' + to_seconds(1.5 * 3600.0) AS a, TIMESTAMP '2150-01-01 10:00:00' + to_hours(-25) AS b",
    "SELECT 7 / 2 AS a, date_diff('hour', TIMESTAMP '2150-01-01 10:59:00', TIMESTAMP '2150-01-01 11:01:00') AS b",
    # ASOF: the latest row of s at or before a's time, per key; none before the first
    "WITH a AS (SELECT * FROM (VALUES (1, TIMESTAMP '2150-01-01 10:00:00'), (1, TIMESTAMP '2150-01-01 12:00:00'), "
    "(2, TIMESTAMP '2150-01-01 09:00:00')) v(k, t)), "
    "s AS (SELECT * FROM (VALUES (1, TIMESTAMP '2150-01-01 10:00:00', 5.0), (1, TIMESTAMP '2150-01-01 11:00:00', 6.0), "
    "(2, TIMESTAMP '2150-01-01 09:30:00', 7.0)) v(k, t, x)) "
    "SELECT list(s.x ORDER BY a.k, a.t) FROM a ASOF LEFT JOIN s ON a.k = s.k AND a.t >= s.t",
    # PIVOT + t.* EXCLUDE over a CTE; UNPIVOT leaving out rows with a NULL value
    "WITH t AS (SELECT * FROM (VALUES (1, 'a', 5.0), (1, 'b', 7.0), (2, 'a', 3.0)) v(k, name, x)), "
    "w AS (PIVOT t ON name IN ('a', 'b') USING first(x) GROUP BY k) "
    "SELECT list([w2.a, w2.b] ORDER BY w2.k) FROM (SELECT w.* EXCLUDE (k), w.k FROM w) AS w2",
    "WITH t AS (SELECT id, a1, a2, b1, b2 FROM (VALUES (1, 1, 2, NULL, 5), (2, 3, 4, 6, 7)) v(id, a1, a2, b1, b2)), "
    "u AS (UNPIVOT t ON (a1, a2) AS a, (b1, b2) AS b INTO NAME n VALUE v1, v2) "
    "SELECT list([id, v1, v2] ORDER BY id, n) AS v, list(n ORDER BY id, n) AS names FROM u",
])
def test_each_postgres_rewrite_keeps_duckdbs_answer(pg_server, duckdb_sql):
    """A DuckDB expression's value equals its PostgreSQL form's value on the server."""
    from icu_cohort import export_sql

    import sqlglot

    want = duckdb.connect().execute(duckdb_sql).fetchall()
    st = export_sql.Statement("test", None, sqlglot.parse_one(duckdb_sql, read="duckdb"))
    pairs = export_sql.transpile([st], "postgres", derived=PG_DERIVED, study_dataset=PG_STUDY)
    uri = f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{pg_server['port']}/partial"
    got = _pg_run(uri, pairs)
    assert [tuple(float(v) if type(v).__name__ == "Decimal" else v for v in row) for row in got] == want, pairs[-1][1]


@pytest.mark.parametrize("duckdb_sql", [
    "SELECT list(v ORDER BY v) AS a, list(v ORDER BY v DESC) AS b, min(v) AS c, max(v) AS d FROM t",
    "SELECT list(v ORDER BY v) FROM t WHERE v < 'a'",
    "SELECT list(v ORDER BY v) FROM t WHERE v BETWEEN 'B' AND 'Z9'",
    "SELECT list(k ORDER BY k) FROM (SELECT k, row_number() OVER (ORDER BY v) AS r FROM t) WHERE r <= 2",
    "SELECT arg_min(k, v) AS a, arg_max(k, v) AS b FROM t",
])
def test_postgres_orders_text_as_duckdb_in_a_database_of_another_collation(pg_server, duckdb_sql):
    """DuckDB orders text by its bytes ('B' < '_' < 'a'); a database created in en-US order
    ('a' < 'B') must still give DuckDB's answers (COLLATE "C" where text is ordered)."""
    import psycopg
    import sqlglot

    from icu_cohort import export_sql

    admin = psycopg.connect(host=pg_server["socket"], port=pg_server["port"], user="postgres", dbname="postgres",
                            autocommit=True)
    try:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = 'collated'").fetchone():
            try:
                admin.execute(f"CREATE DATABASE collated OWNER {PG_USER} TEMPLATE template0 LOCALE_PROVIDER icu "
                              "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
            except psycopg.Error as exc:
                pytest.skip(f"no ICU en-US collation on this server: {exc}")
    finally:
        admin.close()
    table = "WITH t AS (SELECT * FROM (VALUES (1, 'a'), (2, 'B'), (3, '_x'), (4, 'Z9'), (5, 'z10'), (6, 'b')) v(k, v)) "
    want = duckdb.connect().execute(table + duckdb_sql).fetchall()
    st = export_sql.Statement("test", None, sqlglot.parse_one(table + duckdb_sql, read="duckdb"))
    pairs = export_sql.transpile([st], "postgres", derived=PG_DERIVED, study_dataset=PG_STUDY)
    uri = f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{pg_server['port']}/collated"
    with psycopg.connect(uri) as conn:  # the database does order the other way
        assert conn.execute("SELECT 'a' < 'B'").fetchone()[0] is True
    assert _pg_run(uri, pairs) == want, pairs[-1][1]


def test_postgres_round_is_duckdbs_round_on_every_tricky_value(pg_server):
    """The PL/pgSQL rounding function against DuckDB's round(DOUBLE, n) on 24,000 values: ties
    in decimal that are or are not ties in binary (k/480, k/8, k + 0.5), random dyadic and
    random decimal values, negatives, for n = 0 ... 6."""
    import random

    import psycopg

    from icu_cohort import export_sql

    rng = random.Random(7)
    xs = [k / 480 for k in range(1, 1500)] + [k / 8 for k in range(-400, 400)] + [k + 0.5 for k in range(-100, 100)]
    xs += [rng.randint(1, 10**7) / 2 ** rng.randint(1, 24) for _ in range(800)]
    xs += [round(rng.uniform(-5000, 5000), rng.randint(1, 8)) for _ in range(800)]
    values = [(x, n) for x in xs for n in range(0, 7)]
    con = duckdb.connect()
    con.execute("CREATE TABLE v (x DOUBLE, n INTEGER)")
    con.executemany("INSERT INTO v VALUES (?, ?)", values)
    want = con.execute("SELECT x, n, round(x, n) FROM v ORDER BY x, n").fetchall()
    uri = f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{pg_server['port']}/partial"
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {PG_DERIVED}")
        conn.execute(export_sql.POSTGRES_FUNCTIONS.format(schema=PG_DERIVED))
        conn.execute("CREATE TEMP TABLE v (x DOUBLE PRECISION, n INTEGER)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO v VALUES (%s, %s)", values)
        got = conn.execute(f"SELECT x, n, {PG_DERIVED}.duckdb_round(x, n) FROM v ORDER BY x, n").fetchall()
    assert len(got) == len(want) > 20000
    assert [r for r, w in zip(got, want) if r != w] == []
    # the values include cases a simpler rule gets wrong: rounding x * 10^n computed in double
    # (half away from zero), and PostgreSQL's own round(numeric(x), n) (15 digits)
    import math
    from decimal import ROUND_HALF_UP, Decimal

    def in_double(x, n):
        v = abs(x) * 10.0 ** n
        return math.copysign(math.floor(v) + (v - math.floor(v) >= 0.5), x) / 10.0 ** n

    def fifteen_digits(x, n):
        return float(Decimal(f"{x:.15g}").quantize(Decimal(1).scaleb(-n), rounding=ROUND_HALF_UP))

    assert sum(in_double(x, n) != w for x, n, w in want) > 50
    assert sum(fifteen_digits(x, n) != w for x, n, w in want) > 50


@pytest.mark.parametrize("problem, words", [
    ("duplicate_stay", "duplicate primary key stay_id in mimiciv_icu.icustays"),
    ("age", "anchor_age outside 0-120"),
])
def test_duckdb_database_data_checks_stop_at_the_check(synthetic_csv, tmp_path, problem, words):
    """A mimic-code DuckDB database is read in place, never converted: the load-time data checks
    run when the source is checked instead, with the same messages."""
    db = build_duckdb_database(synthetic_csv, tmp_path / "mimic4.db")
    con = duckdb.connect(str(db))
    if problem == "duplicate_stay":
        con.execute("INSERT INTO mimiciv_icu.icustays SELECT * FROM mimiciv_icu.icustays LIMIT 1")
    else:
        con.execute("UPDATE mimiciv_hosp.patients SET anchor_age = 150 WHERE subject_id = "
                    "(SELECT min(subject_id) FROM mimiciv_hosp.patients)")
    con.close()
    with pytest.raises(sources.DataCheckError, match=words):
        sources.check_duckdb_database(db, pipeline.required_tables())


def test_duckdb_database_warnings_reach_the_manifest_and_the_report(synthetic_csv, tmp_path):
    from icu_cohort.report.provenance import describe_data

    db = build_duckdb_database(synthetic_csv, tmp_path / "mimic4.db")
    con = duckdb.connect(str(db))
    stay = con.execute("SELECT min(stay_id) FROM mimiciv_icu.icustays").fetchone()[0]
    con.execute(f"UPDATE mimiciv_icu.icustays SET outtime = intime - INTERVAL 1 HOUR WHERE stay_id = {stay}")
    con.close()
    manifest = pipeline.duckdb_manifest(db, pipeline.required_tables(), tmp_path / "manifest.json")
    (warning,) = manifest["warnings"]
    assert "1 ICU stay(s) have outtime before intime" in warning and str(stay) in warning
    data = describe_data(json.loads((tmp_path / "manifest.json").read_text()))
    assert data["warnings"] == [warning]
    assert {c["table"] for c in data["load_checks"]} == {"mimiciv_hosp.patients", "mimiciv_hosp.admissions",
                                                         "mimiciv_icu.icustays"}
