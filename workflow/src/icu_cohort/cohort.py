"""The study layer: one study's cohort, from the concepts and the study's own SQL.

:func:`build_cohort` runs, on a DuckDB connection that holds the MIMIC-IV tables
(``mimiciv_hosp.*`` / ``mimiciv_icu.*``) and the derived concepts (``mimiciv_derived.*``:
read-only views of ``data/concepts/<source>/``, :func:`icu_cohort.concepts.attach_concepts`,
or tables built in place for tests), everything the study parameterises, in schema ``study``:

1. what its criteria read (:data:`ELIGIBILITY`): its ICD groups, Sepsis-3 with its own window
   (the concept's rule, ``sepsis3_rule``), the stays meeting its measurement, treatment and
   CAM-ICU steps, and one row per ICU stay (``study.stay_eligibility``);
2. ``study.final_stay``, generated from the study's ordered criteria
   (:attr:`icu_cohort.study.Study.criteria`), the same list that gives ``attrition.csv``;
3. exposure, outcome and covariates of the cohort, assembled in ``study.cohort``
   (:data:`COVARIATES`).

No concept table is computed here. Study parameters reach the SQL only through ``${name}``
placeholders (:func:`icu_cohort.sqlrun.render_sql`, values from :func:`sql_params`).

:func:`write_cohort` writes ``cohort.parquet``, ``attrition.csv`` and
``covariate_missingness.csv`` all or nothing (:func:`icu_cohort.artifacts.write_files`).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any, Sequence

import duckdb
import pandas as pd

from icu_cohort import artifacts
from icu_cohort.resources import sql_dir as default_sql_dir
from icu_cohort.mimic_tables import table
from icu_cohort.sqlrun import Rows, SqlError, mimic_tables_read, relations, run_file, strip_comments
from icu_cohort.study import Study

log = logging.getLogger("icu_cohort.cohort")

ID_COLUMNS = ["subject_id", "hadm_id", "stay_id", "intime"]
OUTCOME_COLUMNS = ["treated", "time_days", "death_28d"]
#: Columns every cohort carries besides its covariates, to describe it (not adjusted for).
DESCRIPTIVE_COLUMNS = ["anchor_year_group"]
DOSE_SUFFIXES = ("_first_dose_hours", "_total_dose_g")

#: Macro files of the concept layer that the study layer calls (definitions only: they
#: compute nothing until a study query uses them).
MACROS = ("sepsis/sepsis3_rule.sql",)

#: The study's SQL files (under ``sql/``) and the tables they create, before the final cohort.
ELIGIBILITY = (
    ("cohort/icd_prefix.sql", "study.icd_prefix"),
    ("cohort/admission_icd_group.sql", "study.admission_icd_group"),
    ("cohort/sepsis3.sql", "study.sepsis3"),
    ("cohort/criterion_value.sql", "study.criterion_value"),
    ("cohort/criterion_treatment.sql", "study.criterion_treatment"),
    ("cohort/criterion_cam_icu.sql", "study.criterion_cam_icu"),
    ("cohort/stay_eligibility.sql", "study.stay_eligibility"),
)
#: ... and after it (``study.final_stay``): exposure, outcome, covariates, the cohort. The first
#: file gives the exposure's candidate rows (``study.exposure_event``) for the sources of
#: cohort/exposure_event.sql; a study whose source has its own file (:data:`EXPOSURE_EVENT_FILES`)
#: runs that one instead (:func:`covariate_steps`).
COVARIATES = (
    ("cohort/exposure_event.sql", "study.exposure_event"),
    ("cohort/exposure.sql", "study.exposure"),
    ("cohort/outcome.sql", "study.outcome"),
    ("cohort/outcome_secondary.sql", "study.outcome_secondary"),
    ("cohort/covariate_demographics.sql", "study.covariate_demographics"),
    ("cohort/covariate_vitals.sql", "study.covariate_vitals"),
    ("cohort/covariate_labs.sql", "study.covariate_labs"),
    ("cohort/covariate_treatments.sql", "study.covariate_treatments"),
    ("cohort/covariate_comorbidities.sql", "study.covariate_comorbidities"),
    ("cohort/cohort.sql", "study.cohort"),
)
#: Exposure sources whose candidate rows come from their own file (which reads tables that only
#: the studies using that source need: :data:`icu_cohort.mimic_tables.OPTIONAL_TABLES`), in place
#: of ``COVARIATES[0]``.
EXPOSURE_EVENT_FILES = {"emar": "cohort/exposure_event_emar.sql"}

#: hosp.emar ``event_txt`` values that record a dose given (cohort/exposure_event_emar.sql), the
#: one list of them. MIMIC-IV's documentation of emar names 'Administered' (the most frequent),
#: 'Applied', 'Confirmed', 'Delayed' and 'Not Given' "and so on"; the others are the values on
#: the MIMIC-IV demo v2.2 (hosp/emar.csv.gz, 44 distinct values). Counted: a dose given
#: (Administered, late or partly, or as a bolus from a drip, or in another location), an infusion
#: started, a patch or topical dose applied. Not counted: Not Given (also "per Sliding Scale"),
#: Hold Dose, Not Applied / Started / ..., 'Delayed' alone (not given yet), Stopped and Restarted
#: (an infusion's stop and resumption: its dose is counted once, at its start), Rate Change,
#: Confirmed, Assessed, Read, Infusion Reconciliation, Flushed (a line flush), Removed, the
#: truncated ' in Other Location', and a NULL event_txt (nothing says the dose was given).
EMAR_ADMINISTERED_EVENTS = (
    "Administered",
    "Delayed Administered",
    "Partial Administered",
    "Administered Bolus from IV Drip",
    "Administered in Other Location",
    "Started",
    "Delayed Started",
    "Started in Other Location",
    "Applied",
    "Delayed Applied",
    "Applied in Other Location",
    "Removed Existing / Applied New",
)


def covariate_steps(study: Study | None = None) -> tuple[tuple[str, str], ...]:
    """``(file, table)`` after ``study.final_stay`` for ``study``: :data:`COVARIATES`, with the
    exposure-event file of the study's source (:data:`EXPOSURE_EVENT_FILES`) in place of
    ``cohort/exposure_event.sql``. ``None``: :data:`COVARIATES` (sources without their own file)."""
    source = study["exposure"]["source"] if study is not None else None
    if source in EXPOSURE_EVENT_FILES:
        return ((EXPOSURE_EVENT_FILES[source], COVARIATES[0][1]),) + COVARIATES[1:]
    return COVARIATES


def study_files(study: Study | None = None) -> tuple[str, ...]:
    """The study-layer files (under ``sql/``) that ``study`` runs, in order (``None``: those of a
    study whose exposure source has no file of its own)."""
    return MACROS + tuple(path for path, _ in ELIGIBILITY + covariate_steps(study))


#: Every study-layer file any study may run (icu_cohort.export_sql finds the concepts the study
#: layer may read from these; a study's own files, its Snakemake inputs, are :func:`study_files`).
STUDY_FILES = study_files() + tuple(path for path in EXPOSURE_EVENT_FILES.values())


class CohortError(SqlError):
    """The cohort stage cannot run: a SQL file failed, a table or a column is missing."""


class MissingTableError(CohortError):
    """A table the study's SQL reads (MIMIC-IV or a concept) is not in the connection."""


# --------------------------------------------------------------------------------------------
# Study parameters
# --------------------------------------------------------------------------------------------


def sql_params(study: Study) -> dict[str, Any]:
    """The values the study-layer SQL files may use, from the study."""
    e, o, v = study["exposure"], study["outcome"], study["covariates"]

    cp = study.criteria_params
    icd_rows: list[tuple] = list(cp.icd_rows)
    for kind, groups in (("comorbidity", v["comorbidities"]), ("procedure_covariate", v["procedures"])):
        for name, lists in groups.items():
            for version, key in ((9, "icd9"), (10, "icd10")):
                for prefix in (lists or {}).get(key, []) or []:
                    icd_rows.append((kind, name, version, str(prefix).strip().upper().replace(".", ""), None))

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
    sep = cp.sepsis3
    return {
        # criteria (icu_cohort.criteria)
        "sepsis3_sofa_threshold": sep["sofa_threshold"],
        "sepsis3_hours_before": sep["hours_before_suspicion"],
        "sepsis3_hours_after": sep["hours_after_suspicion"],
        "icd_prefix_rows": Rows(icd_rows, 5),
        "value_rows": Rows(cp.value_rows, 7),
        "value_lab_rows": Rows(cp.value_lab_rows, 2),
        "treatment_rows": Rows(cp.treatment_rows, 4),
        "treatment_member_rows": Rows(cp.treatment_member_rows, 2),
        "cam_icu_rows": Rows(cp.cam_icu_rows, 3),
        # exposure
        "exposure_source": e["source"],
        "exposure_itemids": [int(i) for i in e.get("itemids") or []],
        "exposure_drug_pattern_rows": Rows([(str(p),) for p in e.get("drug_patterns") or []], 1),
        "exposure_routes": [str(r).strip().upper() for r in e.get("routes") or []],
        "exposure_routes_listed": bool(e.get("routes")),
        "exposure_excluded_routes": [str(r).strip().upper() for r in e.get("excluded_routes") or []],
        "emar_administered_events": list(EMAR_ADMINISTERED_EVENTS),
        "exposure_min_dose_g": e["min_dose_g"],
        "exposure_window_start_hours": e["window_start_hours"],
        "exposure_window_end_hours": e["window_end_hours"],
        "exposure_grams_per_ml": e["grams_per_ml"],
        "exposure_excluded_statuses": list(e["excluded_statuses"]),
        # outcome
        "outcome_horizon_days": o["horizon_days"],
        "outcome_dod_hour_of_day": o["dod_hour_of_day"],
        "secondary_outcome_rows": Rows([(x["name"], x["kind"], x.get("horizon_days")) for x in o["secondary"]], 3),
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
        "icd_covariate_names": icd_covariate_names(study) or ["__no_icd_covariate__"],
        "race_group_rows": Rows(race_rows, 3),
        "race_other": v["race_other"],
        "race_missing": v["race_missing"],
        "ventilation_statuses": list(v["ventilation_statuses"]),
        "vasopressors": list(v["vasopressors"]),
    }


def run_exposure(con: duckdb.DuckDBPyConnection, study: Study, sql_dir: Path | None = None) -> None:
    """Run ``study``'s two exposure files on ``con``: ``study.exposure_event`` (the file of its
    source, :func:`covariate_steps`), then ``study.exposure``. They read MIMIC-IV tables only."""
    sql_dir = Path(sql_dir) if sql_dir is not None else default_sql_dir()
    params = sql_params(study)
    con.execute("CREATE SCHEMA IF NOT EXISTS study")
    for path, target in covariate_steps(study)[:2]:
        run_file(con, sql_dir / path, params, target)


def icd_covariate_names(study: Study) -> list[str]:
    """The 0/1 ICD-group covariates the cohort SQL computes (cohort/covariate_comorbidities.sql):
    ``covariates.comorbidities`` (diagnoses), then ``covariates.procedures`` (procedures), in
    the study file's order."""
    v = study["covariates"]
    return list(v["comorbidities"]) + list(v["procedures"])


# --------------------------------------------------------------------------------------------
# Tables the study layer needs
# --------------------------------------------------------------------------------------------


def required_tables(sql_dir: Path | None = None, study: Study | None = None) -> list[str]:
    """The MIMIC-IV tables (``"icu/icustays"``) the study-layer SQL of ``study`` reads directly
    (:func:`study_files`; ``None``: a study whose exposure source has no file of its own, i.e.
    without hosp.emar / emar_detail)."""
    sql_dir = Path(sql_dir) if sql_dir is not None else default_sql_dir()
    return mimic_tables_read(sql_dir / path for path in study_files(study))


def required_concepts(sql_dir: Path | None = None, study: Study | None = None) -> list[str]:
    """The concept tables (``mimiciv_derived.<name>``) the study-layer SQL of ``study`` reads."""
    sql_dir = Path(sql_dir) if sql_dir is not None else default_sql_dir()
    names: set[str] = set()
    for path in study_files(study):
        names |= set(re.findall(r"\bmimiciv_derived\.([a-z_][a-z0-9_]*)", strip_comments((sql_dir / path).read_text())))
    return sorted(names)


def check_tables(con: duckdb.DuckDBPyConnection, sql_dir: Path | None = None, study: Study | None = None) -> None:
    """Raise :class:`MissingTableError` naming every MIMIC-IV table or concept ``study`` needs
    that the connection lacks."""
    have = relations(con)
    needed = [table(k).qualified for k in required_tables(sql_dir, study)]
    needed += [f"mimiciv_derived.{name}" for name in required_concepts(sql_dir, study)]
    missing = [name for name in needed if name.lower() not in have]
    if missing:
        raise MissingTableError(
            "table(s) not available to the study SQL: " + ", ".join(missing)
            + " (MIMIC-IV tables come from the loader's Parquet views, mimiciv_derived tables from "
            "the concepts stage: data/concepts/<source>/)"
        )


# --------------------------------------------------------------------------------------------
# Criteria: study.final_stay and the attrition table from one list
# --------------------------------------------------------------------------------------------


def _kept(study: Study, upto: int) -> str:
    """SQL: the stay passes the first ``upto`` criteria (TRUE for none; predicates are never NULL)."""
    preds = [f"({c.predicate})" for c in study.criteria[:upto]]
    return " AND ".join(preds) if preds else "TRUE"


def final_stay_sql(study: Study) -> str:
    """``study.final_stay``: the ICU stays that pass every criterion of the study."""
    return (
        "CREATE OR REPLACE TABLE study.final_stay AS\n"
        "SELECT e.subject_id, e.hadm_id, e.stay_id, e.intime, e.outtime\n"
        "FROM study.stay_eligibility AS e\n"
        f"WHERE {_kept(study, len(study.criteria))}"
    )


def attrition_table(con: duckdb.DuckDBPyConnection, study: Study) -> pd.DataFrame:
    """Stays remaining after each criterion, in order, from ``study.stay_eligibility``.

    Step 1 is every ICU stay; step k + 1 keeps the stays passing criteria 1..k. Each stay is
    counted once, at the first criterion it fails. The descriptions are the criteria's own.
    """
    n = len(study.criteria)
    first_failed = "CASE " + " ".join(
        f"WHEN NOT ({c.predicate}) THEN {k + 1}" for k, c in enumerate(study.criteria)) + f" ELSE {n + 1} END" \
        if n else str(n + 1)
    failed = dict(con.execute(
        f"SELECT first_failed, count(*) FROM (SELECT {first_failed} AS first_failed "
        "FROM study.stay_eligibility AS e) GROUP BY first_failed").fetchall())
    remaining = [sum(failed.values())]
    for k in range(1, n + 1):
        remaining.append(remaining[-1] - int(failed.get(k, 0)))
    descriptions = ["all ICU stays (icu.icustays)"] + [c.description for c in study.criteria]
    rows = [
        {"step": k + 1, "description": descriptions[k], "n_remaining": remaining[k],
         "n_excluded": (remaining[k - 1] - remaining[k]) if k else 0}
        for k in range(len(descriptions))
    ]
    return pd.DataFrame(rows, columns=list(artifacts.ATTRITION.columns))


# --------------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------------


def build_cohort(
    con: duckdb.DuckDBPyConnection, study: Study, sql_dir: Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the study's SQL on ``con``; return ``(cohort, attrition)``.

    ``con`` must hold the MIMIC-IV tables of :func:`required_tables` and the concepts of
    :func:`required_concepts` (of ``study``). ``cohort`` has one row per ICU stay of the final cohort:
    ``subject_id, hadm_id, stay_id, intime, treated, time_days, death_28d``, the study's
    covariates (continuous, binary, categorical, in the study file's order) and
    ``<exposure>_first_dose_hours, <exposure>_total_dose_g``. ``attrition`` has ``step,
    description, n_remaining, n_excluded`` from all ICU stays to the final cohort.
    The study's tables stay in ``con`` (schema ``study``).
    """
    sql_dir = Path(sql_dir) if sql_dir is not None else default_sql_dir()
    params = sql_params(study)
    check_tables(con, sql_dir, study)
    con.execute("CREATE SCHEMA IF NOT EXISTS study")

    start = time.perf_counter()
    for path in MACROS:
        run_file(con, sql_dir / path)
    for path, target in ELIGIBILITY:
        run_file(con, sql_dir / path, params, target)
    con.execute(final_stay_sql(study))
    attrition = attrition_table(con, study)
    for path, target in covariate_steps(study):
        run_file(con, sql_dir / path, params, target)
    cohort = analysis_table(con.execute("SELECT * FROM study.cohort ORDER BY stay_id").df(), study)
    cohort = _add_secondary_outcomes(con, cohort, study)
    if len(cohort) != attrition["n_remaining"].iloc[-1]:
        raise CohortError(
            f"study.cohort has {len(cohort)} stays but the attrition table ends with "
            f"{attrition['n_remaining'].iloc[-1]}; sql/cohort/cohort.sql changes the stays of study.final_stay"
        )
    log.info("cohort: %d stays (%d treated) in %.1f s", len(cohort), int(cohort["treated"].sum()),
             time.perf_counter() - start)
    return cohort, attrition


def analysis_table(raw: pd.DataFrame, study: Study) -> pd.DataFrame:
    """The cohort table the analysis reads, from the rows of ``study.cohort`` (``raw``: one row
    per stay, as the cohort SQL or another engine running its export writes them): the id,
    outcome and descriptive columns, the study's covariates in its file's order, and
    ``<exposure>_first_dose_hours`` / ``<exposure>_total_dose_g``; ids, ``treated`` and
    ``death_28d`` as int64, categorical covariates as text, complete binary ones as int64, every
    other covariate as float64. A covariate the rows lack raises :class:`CohortError` listing
    the columns there are."""
    covariates = study.covariate_columns
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
    for col in DESCRIPTIVE_COLUMNS:
        if col not in out.columns:
            out[col] = raw[col].astype("object").where(raw[col].notna(), None)
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


def secondary_outcome_columns(study: Study) -> list[str]:
    """``<name>, <name>_time_days`` of each secondary outcome of the study, in order."""
    return [c for x in study["outcome"]["secondary"] for c in (x["name"], f"{x['name']}_time_days")]


def _add_secondary_outcomes(con: duckdb.DuckDBPyConnection, cohort: pd.DataFrame, study: Study) -> pd.DataFrame:
    """The cohort with two columns per secondary outcome (``study.outcome_secondary``)."""
    names = [x["name"] for x in study["outcome"]["secondary"]]
    if not names:
        return cohort
    clash = [c for c in secondary_outcome_columns(study) if c in cohort.columns]
    if clash:
        raise CohortError(f"outcome.secondary: column(s) {', '.join(clash)} already in the cohort; rename the outcome")
    long = con.execute("SELECT name, stay_id, event, time_days FROM study.outcome_secondary").df()
    out = cohort.copy()
    for name in names:
        part = long[long["name"] == name].set_index("stay_id")
        out[name] = out["stay_id"].map(part["event"]).astype("int64")
        out[f"{name}_time_days"] = out["stay_id"].map(part["time_days"]).astype("float64")
    out.attrs = dict(cohort.attrs)
    return out


def covariate_missingness(cohort: pd.DataFrame, covariates: Sequence[str] | None = None) -> pd.DataFrame:
    """``covariate, n_missing, fraction_missing`` for each covariate column of ``cohort``."""
    if covariates is None:
        covariates = cohort.attrs.get("covariates") or [
            c for c in cohort.columns
            if c not in ID_COLUMNS + OUTCOME_COLUMNS + DESCRIPTIVE_COLUMNS and not c.endswith(DOSE_SUFFIXES)
        ]
    n = len(cohort)
    rows = []
    for col in covariates:
        missing = int(cohort[col].isna().sum())
        rows.append({"covariate": col, "n_missing": missing, "fraction_missing": missing / n if n else float("nan")})
    return pd.DataFrame(rows, columns=list(artifacts.MISSINGNESS.columns))


def write_cohort(cohort: pd.DataFrame, attrition: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """Write ``cohort.parquet``, ``attrition.csv`` and ``covariate_missingness.csv`` to ``out_dir``,
    all or nothing (a failure leaves no half-written result behind)."""
    missingness = covariate_missingness(cohort)
    return artifacts.write_files(Path(out_dir), {
        artifacts.COHORT.name: lambda p: cohort.to_parquet(p, index=False),
        artifacts.ATTRITION.name: lambda p: attrition.to_csv(p, index=False),
        artifacts.MISSINGNESS.name: lambda p: missingness.to_csv(p, index=False),
    })
