# Configuration, validated once at start-up: a wrong key or type stops the run naming the key.
import hashlib
from pathlib import Path

from snakemake.exceptions import WorkflowError

from icu_cohort import loader
from icu_cohort.cohort import required_tables
from icu_cohort.config import ConfigError, load_study, validate_config
from icu_cohort.mimic_tables import TABLES, table

REPO = Path(workflow.basedir)
SQL_DIR = REPO / "sql"


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
SQL_FILES = sorted(str(p) for p in SQL_DIR.rglob("*.sql"))


# MIMIC-IV tables (``"icu/chartevents"``) each study's SQL reads, found once by reading sql/.
STUDY_TABLES = {name: required_tables(study, SQL_DIR) for name, study in STUDIES.items()}
NEEDED_TABLES = sorted({key for keys in STUDY_TABLES.values() for key in keys})

if CFG["mimic_dir"]:
    # Real MIMIC-IV: check every file and header now, before any job runs.
    SOURCE_KIND = "mimic"
    MIMIC_DIR = str(Path(CFG["mimic_dir"]).expanduser().resolve())
    try:
        SOURCES = loader.check_sources(Path(MIMIC_DIR), NEEDED_TABLES, CFG["allow_missing_tables"])
    except loader.MimicInputError as exc:
        raise WorkflowError(str(exc)) from None
    _tag = hashlib.sha1(MIMIC_DIR.encode()).hexdigest()[:10]
    PARQUET = f"{DATA}/parquet/mimic-{_tag}"
else:
    SOURCE_KIND = "synthetic"
    _syn = CFG["synthetic"]
    MIMIC_DIR = f"{DATA}/synthetic/p{_syn['patients']}-s{_syn['seed']}"
    SOURCES = {key: Path(MIMIC_DIR) / table(key).relpath for key in NEEDED_TABLES}
    PARQUET = f"{DATA}/parquet/synthetic-p{_syn['patients']}-s{_syn['seed']}"


def parquet_files(keys):
    return [str(loader.parquet_path(Path(PARQUET), key)) for key in keys]


def study_file(wildcards):
    return str(STUDY_DIR / f"{wildcards.study}.yaml")


def study_parquet(wildcards):
    return parquet_files(STUDY_TABLES[wildcards.study])


wildcard_constraints:
    study="|".join(STUDY_NAMES),
    module="hosp|icu",
