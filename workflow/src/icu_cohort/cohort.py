"""The cohort stage: run the SQL concepts in DuckDB and return the study cohort.

:func:`build_cohort` runs the SQL files under ``sql/`` in a fixed order (:data:`PHASES`) on a
DuckDB connection that already has the ``mimiciv_hosp.<table>`` / ``mimiciv_icu.<table>``
views (made by :func:`icu_cohort.loader.connect`, or by hand in tests):

1. ``stage.chartevents`` -- chartevents filtered once to the itemids any concept reads;
2. mimic-code concepts under their mimic-code names in schema ``mimiciv_derived``
   (``age``, ``gcs``, ``vitalsign``, ``bg``, ..., ``sofa``, ``suspicion_of_infection``,
   ``sepsis3``, ``first_day_*``, ``charlson``, ``apsiii``);
3. the study's own tables in schema ``study``: ICD groups, eligibility flags, exclusions,
   exposure and outcome for every ICU stay, the final cohort (``study.final_stay``) and its
   covariates, assembled in ``study.cohort``.

Each file holds one concept; a file that is a single query (``SELECT``/``WITH``/...) is
materialised as ``CREATE OR REPLACE TABLE <schema>.<name> AS <query>``; a file that starts with
another statement (``CREATE ...``) is run as written and must create its table.

Study parameters reach the SQL through ``${name}`` placeholders only (:func:`render_sql`),
rendered from the study file as SQL literals: numbers, ``NULL``, quoted and escaped strings,
comma-separated lists (for ``IN (...)``) and ``VALUES`` rows. An unknown placeholder is an
error naming the file and the placeholder; there is no other way for configuration text to
become SQL.

:func:`write_cohort` writes ``cohort.parquet``, ``attrition.csv`` and
``covariate_missingness.csv`` atomically (temporary files, then renames).
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import duckdb
import pandas as pd

from icu_cohort.mimic_tables import TABLES

log = logging.getLogger("icu_cohort.cohort")

REPO_ROOT = Path(__file__).resolve().parents[3]
#: The repository's SQL folder (the default ``sql_dir``).
DEFAULT_SQL_DIR = REPO_ROOT / "sql"
SCHEMA_FILE = REPO_ROOT / "workflow" / "schemas" / "study_cohort.schema.yaml"

ID_COLUMNS = ["subject_id", "hadm_id", "stay_id", "intime"]
OUTCOME_COLUMNS = ["treated", "time_days", "death_28d"]
DOSE_SUFFIXES = ("_first_dose_hours", "_total_dose_g")


class CohortError(RuntimeError):
    """The cohort stage cannot run: a SQL file failed, a table or a column is missing."""


class MissingTableError(CohortError):
    """A MIMIC-IV table the study's SQL reads is not available in the connection."""


class SqlTemplateError(CohortError):
    """A SQL file holds a placeholder the study does not define, or a malformed one."""


@dataclass(frozen=True)
class Step:
    """One SQL file and the table it creates (``schema.name``); ``None`` for a file that
    only defines macros used by later files."""

    path: str
    table: str | None


def _steps(table_schema: str, folder: str, names: Sequence[str]) -> list[Step]:
    return [Step(f"{folder}/{n}.sql", f"{table_schema}.{n}") for n in names]


#: Phase 1: everything up to the final cohort's stay list; phase 2: its covariates.
PHASES: dict[str, list[Step]] = {
    "concepts": (
        [Step("stage/chartevents.sql", "stage.chartevents")]
        + _steps("mimiciv_derived", "demographics", ["age", "icustay_times", "icustay_detail", "weight_durations"])
        + _steps(
            "mimiciv_derived",
            "measurement",
            [
                "gcs", "vitalsign", "bg", "chemistry", "complete_blood_count", "coagulation", "enzyme",
                "urine_output", "urine_output_rate", "ventilator_setting", "oxygen_delivery", "cam_icu",
            ],
        )
        + _steps(
            "mimiciv_derived",
            "medication",
            [
                "antibiotic", "norepinephrine", "epinephrine", "dopamine", "dobutamine",
                "phenylephrine", "vasopressin", "milrinone", "vasoactive_infusion", "vasoactive_agent",
            ],
        )
        + _steps("mimiciv_derived", "treatment", ["ventilation", "rrt"])
        + [
            Step("sepsis/suspicion_of_infection.sql", "mimiciv_derived.suspicion_of_infection"),
            Step("score/sofa_organ_scores.sql", None),
            Step("score/sofa.sql", "mimiciv_derived.sofa"),
            Step("sepsis/sepsis3.sql", "mimiciv_derived.sepsis3"),
        ]
        + _steps(
            "mimiciv_derived",
            "firstday",
            [
                "first_day_gcs", "first_day_vitalsign", "first_day_lab", "first_day_urine_output",
                "first_day_weight", "first_day_rrt", "first_day_sofa",
            ],
        )
        + _steps("mimiciv_derived", "score", ["charlson", "apsiii"])
    ),
    "eligibility": _steps(
        "study",
        "cohort",
        ["icd_prefix", "admission_icd_group", "stay_eligibility", "stay_exclusion", "final_stay",
         "exposure", "outcome"],
    ),
    "covariates": _steps(
        "study",
        "cohort",
        ["covariate_demographics", "covariate_vitals", "covariate_labs", "covariate_treatments",
         "covariate_comorbidities", "cohort"],
    ),
}

SCHEMAS = ("stage", "mimiciv_derived", "study")


# --------------------------------------------------------------------------------------------
# Study sections and SQL parameters
# --------------------------------------------------------------------------------------------


def cohort_sections(study: dict) -> dict:
    """The study with its cohort/exposure/outcome/covariates sections validated and defaulted.

    Uses ``workflow/schemas/study_cohort.schema.yaml`` (the same schema the config loader
    uses); values already filled in are kept. Other sections pass through untouched.
    """
    from icu_cohort.config import load_schema, validate

    if not SCHEMA_FILE.is_file():  # not a source checkout: trust the caller's validated study
        return study
    schema = load_schema(SCHEMA_FILE.name, SCHEMA_FILE.parent)
    mine = {k: study[k] for k in schema.get("properties", {}) if k in study}
    filled = validate(mine, schema, f"study {study.get('name', '(unnamed)')!r}")
    return {**study, **filled}


class Rows(list):
    """``VALUES`` rows: a list of equally long tuples, rendered ``(a, b), (c, d)``.

    With no rows it renders one row of ``NULL``s (``width`` of them), which the SQL filters out,
    because ``VALUES`` cannot be empty.
    """

    def __init__(self, rows: Iterable[tuple], width: int):
        super().__init__(rows)
        self.width = width


def sql_literal(value: Any) -> str:
    """A Python value as a SQL literal: the only way configuration reaches the SQL text."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SqlTemplateError(f"cannot use the non-finite number {value!r} in SQL")
        return repr(float(value))
    if isinstance(value, str):
        if "\x00" in value:
            raise SqlTemplateError("a string for SQL contains a NUL character")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, Rows):
        if not value:
            return "(" + ", ".join(["NULL"] * value.width) + ")"
        for row in value:
            if len(row) != value.width:
                raise SqlTemplateError(f"VALUES row {row!r} does not have {value.width} columns")
        return ", ".join(sql_literal(tuple(row)) for row in value)
    if isinstance(value, tuple):
        return "(" + ", ".join(sql_literal(v) for v in value) + ")"
    if isinstance(value, (list, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        # an empty IN list: IN (NULL) matches nothing
        return ", ".join(sql_literal(v) for v in items) if items else "NULL"
    raise SqlTemplateError(f"cannot render {type(value).__name__} value {value!r} as SQL")


_PLACEHOLDER = re.compile(r"\$\{([^{}]*)\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def render_sql(text: str, params: dict[str, Any], source: str = "<sql>") -> str:
    """Replace every ``${name}`` in ``text`` by ``sql_literal(params[name])``.

    An unknown name, a malformed placeholder or a stray ``${`` raises
    :class:`SqlTemplateError` naming ``source`` and the placeholder.
    """

    def repl(match: re.Match) -> str:
        name = match.group(1)
        if not _NAME.match(name):
            raise SqlTemplateError(f"{source}: malformed placeholder ${{{name}}}")
        if name not in params:
            raise SqlTemplateError(
                f"{source}: unknown placeholder ${{{name}}} (the study defines: {', '.join(sorted(params))})"
            )
        return sql_literal(params[name])

    out = _PLACEHOLDER.sub(repl, text)
    if "${" in out:
        line = out[: out.index("${")].count("\n") + 1
        raise SqlTemplateError(f"{source}: unterminated placeholder '${{' on line {line}")
    return out


def sql_params(study: dict) -> dict[str, Any]:
    """The values the SQL files may use, from a study (after :func:`cohort_sections`)."""
    c, e, o, v = study["cohort"], study["exposure"], study["outcome"], study["covariates"]

    icd_rows: list[tuple] = []

    def add(kind: str, name: str, lists: dict) -> None:
        for version, key in ((9, "icd9"), (10, "icd10")):
            for prefix in lists.get(key, []) or []:
                icd_rows.append((kind, name, version, str(prefix).strip().upper().replace(".", "")))

    add("delirium", "delirium", c["encephalopathy"].get("delirium_icd", {}) or {})
    for step in c["exclusions"]:
        add("exclusion", step["name"], step)
    for name, lists in v["comorbidities"].items():
        add("comorbidity", name, lists or {})

    lab_rows = [
        (name, int(itemid), priority)
        for name, itemids in v["labs"].items()
        for priority, itemid in enumerate(itemids)
    ]
    race_rows = [
        (order, rule["group"], prefix)
        for order, rule in enumerate(v["race_groups"])
        for prefix in rule["prefixes"]
    ]
    sep = c["sepsis3"]
    return {
        # inclusion
        "min_age": c["min_age"],
        "min_icu_los_hours": c["min_icu_los_hours"],
        "require_first_icu_stay": bool(c["first_icu_stay_only"]),
        "gcs_below": c["encephalopathy"]["gcs_below"],
        "sepsis3_sofa_threshold": sep["sofa_threshold"],
        "sepsis3_hours_before": sep["hours_before_suspicion"],
        "sepsis3_hours_after": sep["hours_after_suspicion"],
        "icd_prefix_rows": Rows(icd_rows, 4),
        "exclusion_names": [step["name"] for step in c["exclusions"]],
        # exposure
        "exposure_itemids": [int(i) for i in e["itemids"]],
        "exposure_window_start_hours": e["window_start_hours"],
        "exposure_window_end_hours": e["window_end_hours"],
        "exposure_grams_per_ml": e["grams_per_ml"],
        "exposure_excluded_statuses": list(e["excluded_statuses"]),
        # outcome
        "outcome_horizon_days": o["horizon_days"],
        "outcome_dod_hour_of_day": o["dod_hour_of_day"],
        # covariates
        "vitals_window_start_hours": v["vitals_window_hours"]["start"],
        "vitals_window_end_hours": v["vitals_window_hours"]["end"],
        "labs_window_start_hours": v["labs_window_hours"]["start"],
        "labs_window_end_hours": v["labs_window_hours"]["end"],
        "treatments_window_start_hours": v["treatments_window_hours"]["start"],
        "treatments_window_end_hours": v["treatments_window_hours"]["end"],
        "lab_itemid_rows": Rows(lab_rows, 3),
        # PIVOT ... IN (...) needs at least one value; a name no lab has yields an unused column
        "lab_names": list(v["labs"]) or ["__no_lab__"],
        "comorbidity_names": list(v["comorbidities"]) or ["__no_comorbidity__"],
        "race_group_rows": Rows(race_rows, 3),
        "race_other": v["race_other"],
        "race_missing": v["race_missing"],
        "ventilation_statuses": list(v["ventilation_statuses"]),
        "vasopressors": list(v["vasopressors"]),
    }


def covariate_columns(study: dict) -> list[str]:
    """The study's covariate columns, in the order of ``icu_cohort.config.covariate_list``."""
    spec = study.get("covariates") or {}
    cols: list[str] = []
    for kind in ("continuous", "binary", "categorical"):
        for name in spec.get(kind, []) or []:
            if name not in cols:
                cols.append(name)
    return cols


# --------------------------------------------------------------------------------------------
# Tables the SQL needs
# --------------------------------------------------------------------------------------------

_MIMIC_REF = re.compile(r"\bmimiciv_(hosp|icu)\.([a-z_][a-z0-9_]*)", re.IGNORECASE)


def all_steps() -> list[Step]:
    return [step for phase in PHASES.values() for step in phase]


def _strip_sql_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", " ", text)


def required_tables(study: dict | None = None, sql_dir: Path | None = None) -> list[str]:
    """The MIMIC-IV tables (``mimic_tables`` keys such as ``"icu/chartevents"``) the study reads.

    Found by reading the ``mimiciv_hosp.*`` / ``mimiciv_icu.*`` references of every SQL file
    the stage runs (comments ignored). The same list for every study today, as the study file
    changes parameters, not which concepts run.
    """
    sql_dir = Path(sql_dir) if sql_dir is not None else DEFAULT_SQL_DIR
    keys: set[str] = set()
    for step in all_steps():
        path = sql_dir / step.path
        if not path.is_file():
            continue
        for module, name in _MIMIC_REF.findall(_strip_sql_comments(path.read_text())):
            key = f"{module.lower()}/{name.lower()}"
            if key in TABLES:
                keys.add(key)
            else:
                raise CohortError(f"{path}: reads mimiciv_{module}.{name}, which is not a known MIMIC-IV table")
    return sorted(keys)


def _existing_relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables"
    ).fetchall()
    return {r[0].lower() for r in rows}


def check_tables(con: duckdb.DuckDBPyConnection, keys: Iterable[str]) -> None:
    """Raise :class:`MissingTableError` naming every needed MIMIC-IV table the connection lacks."""
    have = _existing_relations(con)
    missing = [TABLES[k].qualified for k in keys if TABLES[k].qualified.lower() not in have]
    if missing:
        raise MissingTableError(
            "MIMIC-IV table(s) not available to the cohort SQL: "
            + ", ".join(missing)
            + " (the loader creates one view per table from its Parquet file; an absent table "
            "such as the demo's chartevents must still be given as an empty view with its columns)"
        )


# --------------------------------------------------------------------------------------------
# Running the SQL
# --------------------------------------------------------------------------------------------

_QUERY_START = re.compile(r"^\s*\(?\s*(with|select|from|values|pivot|unpivot)\b", re.IGNORECASE)


def run_step(con: duckdb.DuckDBPyConnection, sql_dir: Path, step: Step, params: dict[str, Any]) -> float:
    """Run one SQL file; return its duration in seconds. Errors name the file."""
    path = Path(sql_dir) / step.path
    if not path.is_file():
        raise CohortError(f"{path}: SQL file not found (it creates {step.table})")
    sql = render_sql(path.read_text(), params, str(path))
    start = time.perf_counter()
    try:
        if step.table is not None and _QUERY_START.match(_strip_sql_comments(sql)):
            body = sql.rstrip().rstrip(";")
            con.execute(f"CREATE OR REPLACE TABLE {step.table} AS\n{body}\n")
        else:
            con.execute(sql)
    except duckdb.Error as exc:
        raise CohortError(f"{path}: {type(exc).__name__}: {exc}") from exc
    if step.table is None:
        log.info("%-40s -> (macros) %6.2f s", step.path, time.perf_counter() - start)
        return time.perf_counter() - start
    schema, name = step.table.split(".")
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()[0][0]
    if not found:
        raise CohortError(f"{path}: ran, but did not create {step.table}")
    seconds = time.perf_counter() - start
    log.info("%-40s -> %-45s %6.2f s", step.path, step.table, seconds)
    return seconds


def run_phase(con: duckdb.DuckDBPyConnection, sql_dir: Path, phase: str, params: dict[str, Any]) -> dict[str, float]:
    return {step.table: run_step(con, sql_dir, step, params) for step in PHASES[phase]}


# --------------------------------------------------------------------------------------------
# Attrition
# --------------------------------------------------------------------------------------------


def attrition_table(con: duckdb.DuckDBPyConnection, study: dict) -> pd.DataFrame:
    """Stays remaining after each inclusion and exclusion step, from ``study.stay_eligibility``."""
    c = study["cohort"]
    flags = con.execute(
        "SELECT stay_id, adult, first_icu_stay, icu_los_ok, sepsis3, encephalopathy "
        "FROM study.stay_eligibility"
    ).df()
    excluded = con.execute("SELECT stay_id, name FROM study.stay_exclusion").df()
    sep, enc = c["sepsis3"], c["encephalopathy"]
    steps: list[tuple[str, pd.Series | None]] = [
        ("all ICU stays (icu.icustays)", None),
        (f"age >= {_num(c['min_age'])} years at hospital admission", flags["adult"]),
    ]
    if c["first_icu_stay_only"]:
        steps.append(("first ICU stay of the patient", flags["first_icu_stay"]))
    steps += [
        (f"ICU length of stay > {_num(c['min_icu_los_hours'])} h", flags["icu_los_ok"]),
        (
            f"Sepsis-3: suspected infection and SOFA >= {_num(sep['sofa_threshold'])} from "
            f"{_num(sep['hours_before_suspicion'])} h before to {_num(sep['hours_after_suspicion'])} h after it",
            flags["sepsis3"],
        ),
        (
            f"encephalopathy: lowest first-day GCS < {_num(enc['gcs_below'])} or a delirium code",
            flags["encephalopathy"],
        ),
    ]
    for step in c["exclusions"]:
        hit = flags["stay_id"].isin(excluded.loc[excluded["name"] == step["name"], "stay_id"])
        steps.append((f"exclude {step.get('description') or step['name']}", ~hit))

    keep = pd.Series(True, index=flags.index)
    rows = []
    for number, (description, criterion) in enumerate(steps, start=1):
        before = int(keep.sum())
        if criterion is not None:
            keep = keep & criterion.fillna(False).astype(bool)
        rows.append(
            {"step": number, "description": description, "n_remaining": int(keep.sum()),
             "n_excluded": before - int(keep.sum())}
        )
    return pd.DataFrame(rows, columns=["step", "description", "n_remaining", "n_excluded"])


def _num(x: float) -> str:
    return f"{x:g}"


# --------------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------------


def build_cohort(
    con: duckdb.DuckDBPyConnection, study: dict, sql_dir: Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the study's SQL on ``con``; return ``(cohort, attrition)``.

    ``con`` must hold the ``mimiciv_hosp.*`` / ``mimiciv_icu.*`` views of
    :func:`required_tables`. ``cohort`` has one row per ICU stay of the final cohort:
    ``subject_id, hadm_id, stay_id, intime, treated, time_days, death_28d``, the study's
    covariates (continuous, binary, categorical, in the study file's order) and
    ``<exposure>_first_dose_hours, <exposure>_total_dose_g``. ``attrition`` has ``step,
    description, n_remaining, n_excluded`` from all ICU stays to the final cohort.
    The derived tables stay in ``con`` (schemas ``stage``, ``mimiciv_derived``, ``study``).
    """
    sql_dir = Path(sql_dir) if sql_dir is not None else DEFAULT_SQL_DIR
    study = cohort_sections(study)
    params = sql_params(study)
    check_tables(con, required_tables(study, sql_dir))
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")

    start = time.perf_counter()
    run_phase(con, sql_dir, "concepts", params)
    run_phase(con, sql_dir, "eligibility", params)
    attrition = attrition_table(con, study)
    n_final = con.execute("SELECT count(*) FROM study.final_stay").fetchall()[0][0]
    if n_final != attrition["n_remaining"].iloc[-1]:
        raise CohortError(
            f"study.final_stay has {n_final} stays but the attrition table ends with "
            f"{attrition['n_remaining'].iloc[-1]}; sql/cohort/final_stay.sql and the attrition steps disagree"
        )
    run_phase(con, sql_dir, "covariates", params)
    cohort = _select_columns(con.execute("SELECT * FROM study.cohort ORDER BY stay_id").df(), study)
    log.info("cohort: %d stays (%d treated) in %.1f s", len(cohort), int(cohort["treated"].sum()),
             time.perf_counter() - start)
    return cohort, attrition


def _select_columns(raw: pd.DataFrame, study: dict) -> pd.DataFrame:
    covariates = covariate_columns(study)
    unknown = [c for c in covariates if c not in raw.columns or c in ID_COLUMNS + OUTCOME_COLUMNS]
    if unknown:
        internal = ID_COLUMNS + OUTCOME_COLUMNS + ["death_time", "first_dose_hours", "total_dose_g"]
        known = [c for c in raw.columns if c not in internal]
        raise CohortError(
            f"covariate(s) {', '.join(unknown)} of the study are not computed by the cohort SQL; "
            f"available: {', '.join(known)}"
        )
    name = study["exposure"]["name"]
    out = raw[ID_COLUMNS + OUTCOME_COLUMNS + covariates].copy()
    out[f"{name}_first_dose_hours"] = raw["first_dose_hours"]
    out[f"{name}_total_dose_g"] = raw["total_dose_g"]

    for col in ["subject_id", "hadm_id", "stay_id", "treated", "death_28d"]:
        out[col] = out[col].astype("int64")
    out["intime"] = pd.to_datetime(out["intime"])
    categorical = set(study["covariates"].get("categorical", []) or [])
    for col in covariates + [f"{name}_first_dose_hours", f"{name}_total_dose_g", "time_days"]:
        if col in categorical:
            out[col] = out[col].astype("object").where(out[col].notna(), None)
        elif col in (study["covariates"].get("binary", []) or []) and out[col].notna().all():
            out[col] = out[col].astype("int64")
        else:
            out[col] = pd.to_numeric(out[col], errors="raise").astype("float64")
    out = out.reset_index(drop=True)
    out.attrs["covariates"] = covariates
    return out


def covariate_missingness(cohort: pd.DataFrame, covariates: Sequence[str] | None = None) -> pd.DataFrame:
    """``covariate, n_missing, fraction_missing`` for each covariate column of ``cohort``."""
    if covariates is None:
        covariates = cohort.attrs.get("covariates") or [
            c for c in cohort.columns
            if c not in ID_COLUMNS + OUTCOME_COLUMNS and not c.endswith(DOSE_SUFFIXES)
        ]
    n = len(cohort)
    rows = []
    for col in covariates:
        missing = int(cohort[col].isna().sum())
        rows.append({"covariate": col, "n_missing": missing, "fraction_missing": missing / n if n else float("nan")})
    return pd.DataFrame(rows, columns=["covariate", "n_missing", "fraction_missing"])


def write_cohort(cohort: pd.DataFrame, attrition: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """Write ``cohort.parquet``, ``attrition.csv`` and ``covariate_missingness.csv`` to ``out_dir``.

    All three are written to temporary files first and renamed only when all three are
    complete, so a failure never leaves a half-written result behind.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = {
        "cohort": out_dir / "cohort.parquet",
        "attrition": out_dir / "attrition.csv",
        "covariate_missingness": out_dir / "covariate_missingness.csv",
    }
    temps = {k: p.with_name(f".{p.name}.{os.getpid()}.tmp") for k, p in targets.items()}
    try:
        cohort.to_parquet(temps["cohort"], index=False)
        attrition.to_csv(temps["attrition"], index=False)
        covariate_missingness(cohort).to_csv(temps["covariate_missingness"], index=False)
        for key, path in targets.items():
            os.replace(temps[key], path)
    finally:
        for tmp in temps.values():
            if tmp.exists():
                tmp.unlink()
    return targets
