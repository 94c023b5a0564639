# Configuration, validated once at start-up: a wrong key or type stops the run naming the key.
# Each study is loaded once into a Study object (extends: resolved, defaults filled); jobs
# receive its resolved definition as a parameter and never validate again.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from icu_cohort import artifacts, cohort, concepts, loader
from icu_cohort.config import ConfigError, validate_config
from icu_cohort.mimic_tables import TABLES, table
from icu_cohort.pipeline import required_tables
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

# The SQL each stage runs, found once at start-up: the concepts' run list and the study layer.
CONCEPT_SQL = [str(SQL_DIR / f.path) for f in concepts.concept_files(SQL_DIR)] + [str(SQL_DIR / concepts.RUN_LIST)]
STUDY_SQL = [str(SQL_DIR / path) for path in cohort.STUDY_FILES]
CONCEPT_TABLES = concepts.required_tables(SQL_DIR)
STUDY_TABLES = cohort.required_tables(SQL_DIR)
NEEDED_TABLES = required_tables(SQL_DIR)

if CFG["mimic_dir"]:
    # Real MIMIC-IV: check every file and header now, before any job runs.
    SOURCE_KIND = "mimic"
    MIMIC_DIR = str(Path(CFG["mimic_dir"]).expanduser().resolve())
    try:
        SOURCES = loader.check_sources(Path(MIMIC_DIR), NEEDED_TABLES, CFG["allow_missing_tables"])
    except loader.MimicInputError as exc:
        raise WorkflowError(str(exc)) from None
    SOURCE = artifacts.mimic_source(MIMIC_DIR)
else:
    SOURCE_KIND = "synthetic"
    _syn = CFG["synthetic"]
    SOURCE = artifacts.synthetic_source(_syn["patients"], _syn["seed"])
    MIMIC_DIR = f"{DATA}/synthetic/{SOURCE}"
    SOURCES = {key: Path(MIMIC_DIR) / table(key).relpath for key in NEEDED_TABLES}

PARQUET = str(artifacts.parquet_dir(DATA, SOURCE))
CONCEPTS = str(artifacts.concepts_dir(DATA, SOURCE))
RESULTS_SOURCE = f"{RESULTS}/{SOURCE}"
print(f"icu-cohort: data source {SOURCE} ({SOURCE_KIND}); results in {RESULTS_SOURCE}/", file=sys.stderr)


def parquet_files(keys):
    return [str(loader.parquet_path(Path(PARQUET), key)) for key in keys]


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
