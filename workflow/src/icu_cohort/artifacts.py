"""The agreements between stages: where each output lives, its file name, its required
columns, and the keys of ``estimates.json``; plus the one way the package writes a file.

Every stage writes through :func:`atomic_path` / :func:`write_json` / :func:`write_files`,
so a file is either absent, the previous complete version or the new complete one. The
Snakemake rules, the report and the tests import the names below instead of spelling them.

Layout (``../shared/CONTRACT.md``)::

    <data_dir>/parquet/<source>/<module>/<table>.parquet   typed copies of MIMIC-IV
    <data_dir>/concepts/<source>/<table>.parquet            mimiciv_derived concepts + manifest.json
    <results_dir>/<source>/<study>/<file>                   one study's results
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np


# --------------------------------------------------------------------------------------------
# Folders
# --------------------------------------------------------------------------------------------


def parquet_dir(data_dir: str | Path, source: str) -> Path:
    """Typed Parquet copies of one data source's MIMIC-IV tables."""
    return Path(data_dir) / "parquet" / source


def concepts_dir(data_dir: str | Path, source: str) -> Path:
    """The derived concepts (schema ``mimiciv_derived``) of one data source."""
    return Path(data_dir) / "concepts" / source


def study_dir(results_dir: str | Path, source: str, study: str) -> Path:
    """One study's results on one data source."""
    return Path(results_dir) / source / study


# --------------------------------------------------------------------------------------------
# Files and their columns
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    """One output file of a stage: its name and the columns every consumer may rely on.

    ``columns`` are required, not exhaustive (``cohort.parquet`` adds the study's covariates).
    """

    name: str
    columns: tuple[str, ...] = ()
    stage: str = ""
    shared: bool = True  # False: row-level, for the analyst's machine only

    def missing_columns(self, present) -> list[str]:
        present = set(present)
        return [c for c in self.columns if c not in present]


CONCEPTS_MANIFEST = Artifact("manifest.json", stage="concepts")
DATA_MANIFEST = Artifact("manifest.json", stage="data")

# The cohort stage (results/<source>/<study>/)
COHORT = Artifact(
    "cohort.parquet",
    ("subject_id", "hadm_id", "stay_id", "intime", "treated", "time_days", "death_28d"),
    "cohort", shared=False,
)
ATTRITION = Artifact("attrition.csv", ("step", "description", "n_remaining", "n_excluded"), "cohort")
MISSINGNESS = Artifact("covariate_missingness.csv", ("covariate", "n_missing", "fraction_missing"), "cohort")
COHORT_OUTPUTS = (COHORT, ATTRITION, MISSINGNESS)

# The analysis stage
PROPENSITY = Artifact("propensity.parquet", ("stay_id", "treated", "ps"), "analysis", shared=False)
MATCHED = Artifact("matched.parquet", ("stay_id", "treated", "ps", "pair_id"), "analysis", shared=False)
BALANCE = Artifact("balance.csv", ("covariate", "smd_before", "smd_after"), "analysis")
TABLE1 = Artifact("table1.csv", ("sample", "variable", "level", "kind", "smd"), "analysis")
KM = Artifact("km.csv", ("sample", "group", "time", "survival", "ci_lower", "ci_upper"), "analysis")
KM_AT_RISK = Artifact("km_at_risk.csv", ("sample", "group", "time", "n_at_risk"), "analysis")
COX_MULTIVARIABLE = Artifact("cox_multivariable.csv", ("term", "hr", "ci_low", "ci_high", "p"), "analysis")
SUBGROUPS = Artifact(
    "subgroups.csv",
    ("subgroup", "level", "n", "n_treated", "n_control", "events", "hr", "ci_low", "ci_high", "p", "p_interaction"),
    "analysis",
)
PH_TEST = Artifact("ph_test.csv", ("model", "term", "test_statistic", "p"), "analysis")
PS_SUMMARY = Artifact(
    "ps_summary.csv", ("sample", "group", "n", "mean", "sd", "min", "q1", "median", "q3", "max"), "analysis"
)
ESTIMATES = Artifact("estimates.json", stage="analysis")
ANALYSIS_OUTPUTS = (
    PROPENSITY, MATCHED, BALANCE, TABLE1, KM, KM_AT_RISK, COX_MULTIVARIABLE, SUBGROUPS, PH_TEST,
    PS_SUMMARY, ESTIMATES,
)

# The design stage (studies with a `design:` section only; icu_cohort.trial): per-stay times
# beyond the cohort's outcome, and the hourly SOFA of the censoring models.
DESIGN_FOLLOWUP = Artifact("design_followup.parquet", ("stay_id", "icu_out_hours", "death_hours"), "design",
                           shared=False)
DESIGN_SOFA = Artifact("design_sofa.parquet", ("stay_id", "hour", "sofa_24hours"), "design", shared=False)
DESIGN_OUTPUTS = (DESIGN_FOLLOWUP, DESIGN_SOFA)

# The report stage
REPORT = Artifact("report.html", stage="report")

#: Every file of a study's results folder, in stage order.
STUDY_OUTPUTS = COHORT_OUTPUTS + ANALYSIS_OUTPUTS + (REPORT,)

#: The CSV tables the report reads, by the key the report uses for each.
REPORT_TABLES: dict[str, Artifact] = {
    "attrition": ATTRITION,
    "missingness": MISSINGNESS,
    "balance": BALANCE,
    "table1": TABLE1,
    "km": KM,
    "km_at_risk": KM_AT_RISK,
    "cox_multivariable": COX_MULTIVARIABLE,
    "subgroups": SUBGROUPS,
    "ph_test": PH_TEST,
    "ps_summary": PS_SUMMARY,
}

#: The keys ``estimates.json`` holds at least (CONTRACT.md): top-level key -> required
#: sub-keys (``None``: a plain value).
ESTIMATES_KEYS: dict[str, tuple[str, ...] | None] = {
    "study": None,
    "n_cohort": None,
    "n_treated": None,
    "n_control": None,
    "matching": ("caliper_sd", "scale", "ratio", "n_pairs"),
    "balance": ("max_abs_smd_before", "max_abs_smd_after"),
    "mortality_28d": ("cohort_treated", "cohort_control", "matched_treated", "matched_control"),
    "km": ("logrank_p",),
    "cox_matched": ("hr", "ci95", "p"),
    "cox_multivariable": ("hr", "ci95", "p"),
    "iptw": ("hr", "ci95", "p"),
}


#: ``estimates.json["target_trial"]`` of a study with a `design:` section
#: (icu_cohort.trial.run_target_trial): key -> required sub-keys. Absent without a design.
TARGET_TRIAL_KEYS: dict[str, tuple[str, ...] | None] = {
    "design": ("time_zero", "grace_hours", "horizon_days"),
    "counts": ("n_cohort", "n_eligible"),
    "clone_censor_weight": ("risk_1", "risk_0", "rd", "rr", "hr", "n_replicates"),
    "landmark": ("risk_1", "risk_0", "rd", "rr", "hr", "n_replicates"),
    "naive": ("risk_1", "risk_0", "rd", "rr", "hr", "n_replicates"),
}


#: The four cells of a by-arm figure of a secondary outcome: sample (the whole cohort; the
#: matched sample) x arm.
SAMPLE_ARMS: tuple[str, ...] = ("cohort_treated", "cohort_control", "matched_treated", "matched_control")

#: ``estimates.json["secondary_outcomes"]``: a list, one entry per ``outcome.secondary`` of the
#: study in the study file's order (icu_cohort.analysis.run); absent for a study without
#: secondary outcomes. Entry key -> required sub-keys:
#: ``n`` stays and ``deaths`` (events, unweighted counts) by :data:`SAMPLE_ARMS`; ``risk`` the
#: proportion with the event (weighted by the matching weights in the matched sample);
#: ``risk_difference`` treated minus control in the matched sample; ``cox_matched`` the matched
#: Cox hazard ratio (``hr`` None when an arm has no events). ``km_risk`` (1 - KM at the
#: horizon, same cells) is there for ``kind: death_within`` only.
SECONDARY_OUTCOMES = "secondary_outcomes"
SECONDARY_OUTCOME_KEYS: dict[str, tuple[str, ...] | None] = {
    "name": None,
    "kind": None,
    "horizon_days": None,
    "n": SAMPLE_ARMS,
    "deaths": SAMPLE_ARMS,
    "risk": SAMPLE_ARMS,
    "risk_difference": ("sample", "rd", "ci95", "p"),
    "cox_matched": ("hr", "ci95", "p"),
}


def _missing_in(node: Mapping[str, Any], keys: Mapping[str, tuple[str, ...] | None], prefix: str) -> list[str]:
    missing = []
    for key, sub in keys.items():
        if key not in node:
            missing.append(f"{prefix}{key}")
        elif sub:
            have = node[key] if isinstance(node[key], Mapping) else {}
            missing += [f"{prefix}{key}.{s}" for s in sub if s not in have]
    return missing


def missing_estimate_keys(estimates: Mapping[str, Any]) -> list[str]:
    """The CONTRACT keys ``estimates`` lacks, as dotted paths (``cox_matched.ci95``)."""
    missing = _missing_in(estimates, ESTIMATES_KEYS, "")
    trial = estimates.get("target_trial")
    if isinstance(trial, Mapping):
        missing += _missing_in(trial, TARGET_TRIAL_KEYS, "target_trial.")
    secondary = estimates.get(SECONDARY_OUTCOMES)
    if isinstance(secondary, list):
        for i, entry in enumerate(secondary):
            missing += _missing_in(entry if isinstance(entry, Mapping) else {}, SECONDARY_OUTCOME_KEYS,
                                   f"{SECONDARY_OUTCOMES}[{i}].")
    return missing


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a fresh name, not a created file: the writer creates it with the usual permissions
    tmp_path = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_files(out_dir: str | Path, writers: Mapping[str, Callable[[Path], Any]]) -> dict[str, Path]:
    """Write ``{name: writer(path)}`` into ``out_dir`` all or nothing.

    Every file is written into a temporary folder inside ``out_dir`` first; only when all
    writers succeeded is each renamed into place. On error ``out_dir`` is untouched.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=out_dir))
    try:
        for name, writer in writers.items():
            writer(tmp / name)
        for name in writers:
            os.replace(tmp / name, out_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {name: out_dir / name for name in writers}


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; it replaces ``path`` on success.

    A failure removes the temporary folder and leaves ``path`` as it was (absent or the
    previous complete version), so a half-built folder is never seen at ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the result is an ordinary folder
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def json_clean(obj: Any) -> Any:
    """``obj`` made JSON-safe: NaN and infinities become ``None``, numpy scalars and arrays
    become Python numbers and lists, tuples become lists, mapping keys become strings."""
    if isinstance(obj, Mapping):
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_clean(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def json_text(obj: Any) -> str:
    """The package's JSON format: cleaned, indented, a final newline."""
    return json.dumps(json_clean(obj), indent=2, allow_nan=False) + "\n"


def write_json(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as JSON (:func:`json_text`) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json_text(obj))
    return Path(path)


# --------------------------------------------------------------------------------------------
# Data sources
# --------------------------------------------------------------------------------------------


#: chartevents rows per ICU stay of the default synthetic set (config key
#: synthetic.chart_rows_per_stay; its schema default is this value, tested): a set of another
#: volume is named with ``-c<rows>``, so the default keeps the name CONTRACT.md promises.
DEFAULT_CHART_ROWS_PER_STAY = 1000


def synthetic_source(patients: int, seed: int, dgp: str = "baseline", mimic_version: str = "2.2",
                     chart_rows_per_stay: float = DEFAULT_CHART_ROWS_PER_STAY) -> str:
    """The name of the embedded synthetic set of that size, seed, data-generating process,
    release format and chartevents volume: ``synthetic-p4000-s20240601`` (the baseline
    process, v2.2, the default chartevents volume), ``synthetic-p4000-s20240601-timevarying``,
    ``synthetic-p4000-s20240601-v3.1``, ``synthetic-p43600-s20240601-c4000`` (4000 chartevents
    rows per stay, MIMIC-IV's volume)."""
    name = f"synthetic-p{int(patients)}-s{int(seed)}"
    if dgp != "baseline":
        name += f"-{dgp}"
    if mimic_version != "2.2":
        name += f"-v{mimic_version}"
    if float(chart_rows_per_stay) != float(DEFAULT_CHART_ROWS_PER_STAY):
        name += f"-c{float(chart_rows_per_stay):g}"
    return name


def mimic_source(mimic_dir: str | Path) -> str:
    """The name of a MIMIC-IV folder as a data source: its folder name (with the parent's
    when the folder is only a version, as PhysioNet's ``mimiciv/2.2``) and a short hash of
    its absolute path, so two copies never share results: ``mimiciv-2.2-1a2b3c4d``."""
    import hashlib
    import re

    path = Path(mimic_dir).expanduser().resolve()
    name = path.name
    if re.fullmatch(r"v?\d+(\.\d+)*", name) and path.parent.name:
        name = f"{path.parent.name}-{name}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "mimic"
    return f"{name}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
