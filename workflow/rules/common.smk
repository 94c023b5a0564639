# Configuration, validated once at start-up: a wrong key or type stops the run naming the key.
# Each study is loaded once into a Study object (extends: resolved, defaults filled); jobs
# receive its resolved definition as a parameter and never validate again.
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from icu_cohort import artifacts, cohort, concepts, loader, sources
from icu_cohort.config import ConfigError, validate_config
from icu_cohort.mimic_tables import TABLES, table
from icu_cohort.pipeline import check_synthetic_tables, required_tables
from icu_cohort.resources import sql_dir
from icu_cohort.study import load_study

REPO = Path(workflow.basedir)
# The software of every rule (relative to workflow/rules/, where the rules are).
CONDA_ENV = "../envs/icu_cohort.yaml"
SQL_DIR = sql_dir()


def repo_path(path):
    """A configured folder: absolute as given, else relative to the repository."""
    return Path(path) if Path(path).is_absolute() else REPO / path


try:
    CFG = validate_config(dict(config), source="config/config.yaml (with --config overrides)")
    STUDY_DIR = repo_path(CFG["study_dir"])
    STUDIES = {name: load_study(name, STUDY_DIR) for name in CFG["studies"]}
except ConfigError as exc:
    raise WorkflowError(f"Configuration error: {exc}") from None

STUDY_NAMES = list(STUDIES)
DATA = CFG["data_dir"]
RESULTS = CFG["results_dir"]
DUCKDB = CFG["duckdb"]

# The SQL each stage runs, found once at start-up: the concepts' run list and, per study, its
# study-layer files. The MIMIC-IV tables are per study too: a table only some studies read
# (hosp/emar, hosp/emar_detail: an exposure from hosp.emar) is required, checked and converted
# only when a configured study reads it.
CONCEPT_SQL = [str(SQL_DIR / f.path) for f in concepts.concept_files(SQL_DIR)] + [str(SQL_DIR / concepts.RUN_LIST)]
STUDY_SQL = {name: [str(SQL_DIR / path) for path in cohort.study_files(st)] for name, st in STUDIES.items()}
CONCEPT_TABLES = concepts.required_tables(SQL_DIR)
STUDY_TABLES = {name: cohort.required_tables(SQL_DIR, st) for name, st in STUDIES.items()}
NEEDED_TABLES = required_tables(SQL_DIR, STUDIES.values())

try:
    sources.exclusive_source_keys(CFG)
except sources.SourceError as exc:
    raise WorkflowError(f"Configuration error: {exc}") from None

# The data source: its kind, its name (SOURCE: the folder under data/ and results/), and a
# check of everything the SQL reads, now, before any job runs.
DUCKDB_DATABASE = None
PG_URI = None
COHORT_FILE = None
try:
    if CFG["mimic_dir"]:
        # Real MIMIC-IV csv.gz: check every file and header.
        SOURCE_KIND = "mimic"
        MIMIC_DIR = str(Path(CFG["mimic_dir"]).expanduser().resolve())
        SOURCES = loader.check_sources(Path(MIMIC_DIR), NEEDED_TABLES, CFG["allow_missing_tables"])
        SOURCE = artifacts.mimic_source(MIMIC_DIR)
    elif CFG["source"]:
        # A mimic-code PostgreSQL database: connect, check schemas, tables and columns. The
        # password comes from PGPASSWORD or ~/.pgpass (libpq's own ways), never from the URI:
        # Snakemake writes its command line into .snakemake/log/, and a shell keeps its history.
        SOURCE_KIND = "postgres"
        if sources.postgres_password(CFG["source"]):
            raise sources.SourceError(
                f"source {sources.redact(CFG['source'])}: the URI holds a password; give it through "
                "the PGPASSWORD environment variable or ~/.pgpass instead (a password on the command "
                "line is kept in your shell history and in Snakemake's log under .snakemake/log/: "
                "consider changing it)"
            )
        sources.check_postgres(CFG["source"], NEEDED_TABLES)
        PG_URI = CFG["source"]
        SOURCE = sources.postgres_source(PG_URI)
    elif CFG["duckdb_database"]:
        # A mimic-code DuckDB database, read in place: check its tables and columns.
        SOURCE_KIND = "duckdb"
        DUCKDB_DATABASE = str(Path(CFG["duckdb_database"]).expanduser().resolve())
        sources.check_duckdb_database(DUCKDB_DATABASE, NEEDED_TABLES)
        SOURCE = sources.duckdb_source(DUCKDB_DATABASE)
    elif CFG["cohort_file"]:
        # An exported cohort table: the analysis and report stages only.
        SOURCE_KIND = "cohort_file"
        COHORT_FILE = str(Path(CFG["cohort_file"]).expanduser().resolve())
        if len(STUDY_NAMES) != 1:
            raise sources.SourceError(
                f"cohort_file {COHORT_FILE}: a cohort table belongs to one study; set exactly one in "
                f"studies (now: {', '.join(STUDY_NAMES)})"
            )
        sources.check_cohort_file(COHORT_FILE)
        SOURCE = sources.cohort_file_source(COHORT_FILE)
    else:
        SOURCE_KIND = "synthetic"
        check_synthetic_tables(STUDIES, SQL_DIR)  # no study may read a table the generator does not write
        _syn = CFG["synthetic"]
        SOURCE = artifacts.synthetic_source(
            _syn["patients"], _syn["seed"], _syn["dgp"], _syn["mimic_version"], _syn["chart_rows_per_stay"]
        )
        MIMIC_DIR = f"{DATA}/synthetic/{SOURCE}"
        SOURCES = {key: Path(MIMIC_DIR) / table(key).relpath for key in NEEDED_TABLES}
except (loader.MimicInputError, sources.SourceError) as exc:
    raise WorkflowError(f"{type(exc).__name__}: {exc}") from None

PARQUET = str(artifacts.parquet_dir(DATA, SOURCE))
CONCEPTS = str(artifacts.concepts_dir(DATA, SOURCE))
RESULTS_SOURCE = f"{RESULTS}/{SOURCE}"
print(f"icu-cohort: data source {SOURCE} ({SOURCE_KIND}); results in {RESULTS_SOURCE}/", file=sys.stderr)


def parquet_files(keys):
    """The tables a SQL stage reads: their Parquet files, or the DuckDB database file itself."""
    if SOURCE_KIND == "duckdb":
        return [DUCKDB_DATABASE]
    return [str(loader.parquet_path(Path(PARQUET), key)) for key in keys]


def tables_from(wildcards, input):
    """Where a SQL stage's connection gets mimiciv_hosp/icu: the Parquet folder (holding the
    data manifest) or the DuckDB database (its only table input)."""
    if SOURCE_KIND == "duckdb":
        return {"duckdb_database": input.tables[0]}
    return {"parquet_dir": str(Path(input.manifest).parent)}


def study_files(wildcards):
    """The study file and every file it extends: a change to any of them rebuilds the study."""
    return list(STUDIES[wildcards.study].files)


def study_params(wildcards):
    return STUDIES[wildcards.study].to_dict()


wildcard_constraints:
    study="|".join(STUDY_NAMES),
    module="hosp|icu",


def mimic_root(input_files):
    """The MIMIC-IV root of the checked files (each is <root>/<module>/<table>.csv.gz)."""
    return str(Path(input_files[0]).parents[1]) if input_files else MIMIC_DIR


def run_summary(results_source, studies, export_dir, ok, snakemake_log=None):
    """The run's last words on the console: each study's report and exports folder (those
    that exist), or, after a failure, where the failed jobs' messages are."""
    lines = ["", "icu-cohort: done." if ok else "icu-cohort: the run stopped with an error (the job's message is above)."]
    for study in studies:
        html = Path(results_source) / study / artifacts.REPORT.name
        exports = Path(results_source) / study / export_dir
        if html.is_file():
            lines.append(f"  {study}: report {html.resolve()}")
            if exports.is_dir():
                lines.append(f"  {' ' * len(study)}  exports {exports.resolve()}/")
        elif ok:
            lines.append(f"  {study}: no report (not requested by this run)")
    if not ok:
        logs = ", ".join(snakemake_log) if isinstance(snakemake_log, (list, tuple)) else snakemake_log
        lines.append(f"  each job's log is under logs/{SOURCE}/; Snakemake's own log: {logs}")
    return "\n".join(lines)
