"""The target-trial design of a study (its ``design:`` section) and the analysis run on it.

A study without ``design:`` is analysed exactly as before; with it, the analysis stage adds
``estimates.json["target_trial"]``: the clone-censor-weight, landmark and naive estimates of
:mod:`icu_cohort.analysis.tte` for the trial the section describes (schema:
workflow/schemas/study_design.schema.yaml):

* time zero: ICU admission plus ``time_zero.offset_hours``;
* eligibility at time zero (on top of the cohort's criteria): alive, in the ICU, not treated
  before time zero (unless ``allow_prior_treatment``);
* baseline: every covariate's measurement window must end at or before time zero
  (:data:`COVARIATE_TIMING`); a covariate whose window ends later is a configuration error
  naming it, unless ``allow_post_baseline`` lists it (or is ``true``), and the report flags it;
* strategies "start within ``grace_hours`` h of time zero" vs "no start within ``grace_hours``
  h"; outcome: death within ``horizon_days`` of time zero;
* analyses: clone-censor-weight (censoring models on ``censoring_covariates`` and the hourly
  ``time_varying`` severity), landmark at ``landmark_hours`` after time zero, naive "ever
  treated" from ICU admission; bootstrap CIs (``bootstrap``).

The per-stay times the cohort does not carry (ICU outtime, death beyond 28 days) and the
hourly SOFA come from sql/design/*.sql (:func:`design_data`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icu_cohort.config import ConfigError

log = logging.getLogger(__name__)

from icu_cohort.resources import sql_dir as _sql_dir

SQL_DIR = _sql_dir() / "design"
#: The design stage's SQL files and the tables they create (schema ``design``).
DESIGN_SQL = (("followup.sql", "design.followup"), ("sofa_hourly.sql", "design.sofa_hourly"))
#: Time-varying covariates the design stage can give the censoring models (columns of
#: design.sofa_hourly).
TIME_VARYING = ("sofa_24hours",)

#: When each cohort covariate is measured: the hours after ICU intime at which its window ends
#: (a number), the covariates-section key holding the window (``"<key>.end"``), or ``None`` for
#: diagnoses coded for the hospital admission (ICD comorbidities, Charlson): counted as baseline
#: history, a limitation the report states (they are coded at discharge).
COVARIATE_TIMING: dict[str, Any] = {
    **{c: 0.0 for c in ("age", "male", "race")},                       # known at ICU admission
    **{c: "vitals_window_hours.end" for c in ("heart_rate", "mbp", "resp_rate", "temperature", "spo2")},
    **{c: "treatments_window_hours.end" for c in ("mechanical_ventilation", "vasopressor", "rrt")},
    # mimic-code first-day concepts: up to intime + 1 day
    **{c: 24.0 for c in ("sofa", "gcs_min", "apsiii", "weight")},
    "charlson": None,
}


@dataclass(frozen=True)
class Design:
    """A study's validated ``design:`` section (hours unless named otherwise)."""

    time_zero_anchor: str
    time_zero_hours: float
    grace_hours: float
    landmark_hours: float
    horizon_days: float
    interval_hours: float
    allow_prior_treatment: bool
    post_baseline: tuple[tuple[str, float], ...]   # (covariate, window end) allowed past time zero
    history_covariates: tuple[str, ...]            # admission diagnoses counted as baseline
    censoring_covariates: tuple[str, ...] | None   # None: every study covariate
    time_varying: tuple[str, ...]
    bootstrap_replicates: int
    bootstrap_seed: int

    @property
    def horizon_hours(self) -> float:
        return 24.0 * self.horizon_days

    def to_dict(self) -> dict:
        return {"time_zero": {"anchor": self.time_zero_anchor, "offset_hours": self.time_zero_hours},
                "grace_hours": self.grace_hours, "landmark_hours": self.landmark_hours,
                "horizon_days": self.horizon_days, "interval_hours": self.interval_hours,
                "allow_prior_treatment": self.allow_prior_treatment,
                "post_baseline": [{"covariate": c, "window_end_hours": e} for c, e in self.post_baseline],
                "history_covariates": list(self.history_covariates),
                "censoring_covariates": None if self.censoring_covariates is None else list(self.censoring_covariates),
                "time_varying": list(self.time_varying),
                "bootstrap": {"replicates": self.bootstrap_replicates, "seed": self.bootstrap_seed}}


def covariate_window_end(name: str, covariates: Mapping[str, Any]) -> float | None:
    """Hours after ICU intime at which covariate ``name``'s measurement window ends (None: an
    admission diagnosis). Raises :class:`ConfigError` for a covariate of unknown timing."""
    labs = covariates.get("labs") or {}
    comorbid = covariates.get("comorbidities") or {}
    if name in labs:
        return float(covariates["labs_window_hours"]["end"])
    if name in comorbid:
        return None
    if name not in COVARIATE_TIMING:
        raise ConfigError(f"design: covariate {name!r}: its measurement time is not known (icu_cohort.trial."
                          f"COVARIATE_TIMING), so it cannot be checked against time zero")
    spec = COVARIATE_TIMING[name]
    if isinstance(spec, str):
        key, _ = spec.split(".")
        return float(covariates[key]["end"])
    return None if spec is None else float(spec)


def design_of(definition: Mapping[str, Any]) -> Design | None:
    """The :class:`Design` of a validated study definition, None without ``design:``. A covariate
    measured past time zero without ``allow_post_baseline`` is a :class:`ConfigError` naming it."""
    d = definition.get("design")
    if d is None:
        return None
    name = definition.get("name", "study")
    tz = d["time_zero"]
    t0 = float(tz["offset_hours"])
    cov = definition.get("covariates") or {}
    names = [n for kind in ("continuous", "binary", "categorical") for n in cov.get(kind) or []]
    allow = d["allow_post_baseline"]
    late, history = [], []
    for n in names:
        end = covariate_window_end(n, cov)
        if end is None:
            history.append(n)
        elif end > t0:
            late.append((n, end))
    if allow is not True:
        allowed = set(allow or [])
        unknown = sorted(allowed - set(names))
        if unknown:
            raise ConfigError(f"study {name!r}: design.allow_post_baseline names {', '.join(unknown)}, "
                              f"which are not covariates of the study")
        bad = [(n, e) for n, e in late if n not in allowed]
        if bad:
            listing = ", ".join(f"{n} (window ends {e:g} h after ICU admission)" for n, e in bad)
            raise ConfigError(f"study {name!r}: design: covariate window past time zero ({t0:g} h after ICU "
                              f"admission): {listing}; end the window at or before time zero, or list the "
                              f"covariate in design.allow_post_baseline")
    censor = d.get("censoring_covariates")
    if censor is not None:
        unknown = [c for c in censor if c not in names]
        if unknown:
            raise ConfigError(f"study {name!r}: design.censoring_covariates: {', '.join(unknown)} are not "
                              f"covariates of the study")
    grace = float(d["grace_hours"])
    landmark = float(d.get("landmark_hours") or grace)
    horizon_h = 24.0 * float(d["horizon_days"])
    if not grace < horizon_h or not landmark < horizon_h:
        raise ConfigError(f"study {name!r}: design: grace_hours and landmark_hours must be shorter than the "
                          f"horizon ({horizon_h:g} h)")
    return Design(time_zero_anchor=tz["anchor"], time_zero_hours=t0, grace_hours=grace, landmark_hours=landmark,
                  horizon_days=float(d["horizon_days"]), interval_hours=float(d["interval_hours"]),
                  allow_prior_treatment=bool(d["allow_prior_treatment"]), post_baseline=tuple(late),
                  history_covariates=tuple(history),
                  censoring_covariates=None if censor is None else tuple(censor),
                  time_varying=tuple(d["time_varying"]),
                  bootstrap_replicates=int(d["bootstrap"]["replicates"]), bootstrap_seed=int(d["bootstrap"]["seed"]))


# --------------------------------------------------------------------------------------
# Data: the design stage's SQL
# --------------------------------------------------------------------------------------

def required_tables() -> list[str]:
    from icu_cohort.sqlrun import mimic_tables_read

    return mimic_tables_read(SQL_DIR / f for f, _ in DESIGN_SQL)


def design_data(con, study, cohort: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(follow-up, hourly SOFA) of the cohort's stays, from sql/design/*.sql on ``con`` (which
    holds the MIMIC-IV tables of :func:`required_tables` and ``mimiciv_derived.sofa``)."""
    from icu_cohort.sqlrun import run_file

    con.execute("CREATE SCHEMA IF NOT EXISTS design")
    con.register("_design_cohort", cohort[["stay_id"]])
    con.execute("CREATE OR REPLACE TABLE design.cohort_stays AS SELECT CAST(stay_id AS BIGINT) AS stay_id "
                "FROM _design_cohort")
    params = {"outcome_dod_hour_of_day": study["outcome"]["dod_hour_of_day"]}
    for path, table in DESIGN_SQL:
        run_file(con, SQL_DIR / path, params, table)
    follow = con.execute("SELECT * FROM design.followup ORDER BY stay_id").df()
    sofa = con.execute("SELECT * FROM design.sofa_hourly ORDER BY stay_id, hour").df()
    missing = sorted(set(cohort["stay_id"]) - set(follow["stay_id"]))
    if missing:
        raise ValueError(f"design.followup: no ICU stay for cohort stay_id {', '.join(map(str, missing[:5]))}")
    return follow, sofa


# --------------------------------------------------------------------------------------
# The analysis
# --------------------------------------------------------------------------------------

def trial_stays(cohort: pd.DataFrame, follow: pd.DataFrame, design: Design, exposure: str) -> pd.DataFrame:
    """The stay-level frame of :mod:`icu_cohort.analysis.tte` (hours from ICU intime): start =
    the cohort's ``<exposure>_first_dose_hours``; follow-up ends at death or ``time zero +
    horizon`` (survivors: MIMIC-IV follows death for a year, far beyond the horizon)."""
    f = follow.set_index("stay_id").reindex(cohort["stay_id"].to_numpy())
    t0 = design.time_zero_hours
    end_fu = t0 + design.horizon_hours
    death = f["death_hours"].to_numpy(float)
    dead = ~np.isnan(death) & (death <= end_fu)
    return pd.DataFrame({
        "id": cohort["stay_id"].to_numpy(), "time_zero": t0,
        "start": cohort[f"{exposure}_first_dose_hours"].to_numpy(float),
        "end": np.where(dead, np.maximum(death, 0.0), end_fu), "event": dead.astype(int),
        "icu_out": f["icu_out_hours"].to_numpy(float)})


def time_varying_frame(sofa: pd.DataFrame, ids: np.ndarray, columns: tuple[str, ...]) -> tuple[pd.DataFrame, int]:
    """The long time-varying frame (``id, hour, <columns>``) plus a first row per stay at hour
    -1e9 holding each column's median over all rows, so that a stay without a value yet (no
    SOFA row before the hour asked) gets the median; returns the frame and how many stays have
    no row at all."""
    unknown = [c for c in columns if c not in sofa.columns]
    if unknown:
        raise ValueError(f"design.time_varying: {', '.join(unknown)} not computed (known: {', '.join(TIME_VARYING)})")
    rows = sofa[sofa["stay_id"].isin(ids)].rename(columns={"stay_id": "id"})[["id", "hour", *columns]]
    med = {c: float(rows[c].median()) if rows[c].notna().any() else 0.0 for c in columns}
    rows = rows.fillna(med)
    first = pd.DataFrame({"id": ids, "hour": -1e9, **{c: med[c] for c in columns}})
    n_without = int(len(set(ids) - set(rows["id"])))
    return pd.concat([first, rows], ignore_index=True), n_without


def truth_from_stays(truth_stays: pd.DataFrame, eligible_ids: np.ndarray, design: Design,
                     first_dose_hours: np.ndarray) -> dict | None:
    """The synthetic data's true contrast for the trial among ``eligible_ids``
    (:func:`icu_cohort.synth.timevarying.target_trial_truth`), None when ground_truth_stays.csv
    lacks the strategies ``start_within_<t0 + G>h`` (baseline DGP, other grace periods)."""
    from icu_cohort.synth.timevarying import target_trial_truth

    g = int(round(design.time_zero_hours + design.grace_hours))
    a, b = f"death_day_start_within_{g}h", f"death_day_no_start_within_{g}h"
    if a not in truth_stays.columns or b not in truth_stays.columns:
        return None
    t = truth_stays.set_index("stay_id").reindex(eligible_ids)
    out = target_trial_truth(np.asarray(first_dose_hours, float), np.ones(len(t), bool), t[a].to_numpy(float),
                             t[b].to_numpy(float), design.time_zero_hours, design.horizon_days)
    out["source"] = f"ground_truth_stays.csv: {a} vs {b} (death days as recorded)"
    return out


def run_target_trial(study, cohort: pd.DataFrame, follow: pd.DataFrame, sofa: pd.DataFrame, threads: int = 1,
                     truth_stays: pd.DataFrame | None = None) -> dict:
    """``estimates.json["target_trial"]`` for a study with a design (module docstring): the
    design, counts, and per analysis (``clone_censor_weight``, ``landmark``, ``naive``) the
    estimates of :data:`icu_cohort.analysis.tte.ESTIMATES` with bootstrap SE and percentile CI;
    ``truth`` on synthetic data with the strategies simulated."""
    from icu_cohort.analysis import propensity as pr
    from icu_cohort.analysis import tte

    design: Design = study.design
    stays = trial_stays(cohort, follow, design, study["exposure"]["name"])
    base_covs = study.covariates
    if design.censoring_covariates is not None:
        base_covs = [c for c in base_covs if c["name"] in design.censoring_covariates]
    X = pr.build_design(cohort, base_covs).X if base_covs else pd.DataFrame(index=cohort.index)
    xcols = [f"x{j}" for j in range(X.shape[1])]
    Xr = X.set_axis(xcols, axis=1).reset_index(drop=True)
    stays = pd.concat([stays.reset_index(drop=True), Xr], axis=1)
    tv, n_no_tv = time_varying_frame(sofa, stays["id"].to_numpy(), design.time_varying)
    ok = tte.eligible_at_time_zero(stays, design.allow_prior_treatment)
    el = stays[ok]
    B, seed = design.bootstrap_replicates, design.bootstrap_seed
    t0 = design.time_zero_hours
    s_rel = el["start"].to_numpy(float) - t0
    counts = {
        "n_cohort": int(len(stays)),
        "n_excluded_dead_or_out_of_icu_by_time_zero": int(np.sum(
            (stays["end"].to_numpy() <= t0) | (stays["icu_out"].to_numpy() <= t0))),
        "n_excluded_treated_before_time_zero": int(np.sum(
            (stays["end"].to_numpy() > t0) & (stays["icu_out"].to_numpy() > t0) & (stays["start"].to_numpy() < t0)))
        if not design.allow_prior_treatment else 0,
        "n_eligible": int(ok.sum()),
        "n_started_within_grace": int(np.sum(~np.isnan(s_rel) & (s_rel <= design.grace_hours))),
        "n_stays_without_time_varying_rows": n_no_tv,
    }
    out: dict[str, Any] = {"design": design.to_dict(), "counts": counts, "estimates_meaning": {
        "risk_1": "risk of death by the horizon under 'start within G h of time zero' (CCW), the exposed (landmark: "
                  "first dose before the landmark; naive: ever treated)",
        "risk_0": "the same under 'no start within G h' (CCW), the unexposed",
        "rd": "risk_1 - risk_0", "rr": "risk_1 / risk_0", "hr": "weighted Cox hazard ratio, arm 1 vs arm 0",
        "ci95": "bootstrap percentile interval over stays", "se": "bootstrap SD (log scale for rr, hr)"}}
    if ok.sum() == 0:
        raise ValueError(f"study {study.name}: no stay is eligible at time zero ({t0:g} h)")
    notes: list[str] = []

    def safe(label: str, run) -> dict:
        """An analysis's result, or (when the data cannot give it, e.g. nobody started within
        the grace period) every estimate null with the reason in ``error`` and a warning."""
        try:
            return run()
        except tte.TTEError as exc:
            notes.append(f"target trial, {label}: not estimable: {exc}")
            return {**{k: {"estimate": None, "se": None, "ci95": [None, None]} for k in tte.ESTIMATES},
                    "n_replicates": 0, "n_failed": 0, "error": str(exc)}

    def run_ccw() -> dict:
        ccw = tte.CCW(el, xcols, design.grace_hours, design.horizon_hours, design.interval_hours, tv=tv,
                      tv_covariates=design.time_varying)
        return {**tte.analyse(ccw, B, seed, threads), "clones": ccw.counts()}

    def run_landmark() -> dict:
        lm = tte.Landmark(stays, xcols, design.landmark_hours, design.horizon_hours, tv=tv,
                          tv_covariates=design.time_varying, allow_prior_treatment=design.allow_prior_treatment)
        return {**tte.analyse(lm, B, seed, threads), "n_exposed": int(lm.treated.sum()),
                "landmark_hours_after_time_zero": design.landmark_hours}

    def run_naive() -> dict:
        nv = tte.Naive(stays, xcols, 24.0 * design.horizon_days)
        return {**tte.analyse(nv, B, seed, threads), "n_exposed": int(nv.treated.sum()),
                "meaning": "ever treated during the ICU stay vs never, follow-up from ICU admission to "
                           f"{design.horizon_days:g} days, stabilised IPTW on the baseline covariates "
                           "(immortal time: shown for comparison)"}

    out["clone_censor_weight"] = safe("clone-censor-weight", run_ccw)
    out["landmark"] = safe("landmark", run_landmark)
    out["naive"] = safe("naive", run_naive)
    out["warnings"] = notes
    if truth_stays is not None:
        out["truth"] = truth_from_stays(truth_stays, el["id"].to_numpy(), design, el["start"].to_numpy(float))
    return out


def run_stage(study, cohort_path: Path, follow_path: Path, sofa_path: Path, threads: int,
              truth_path: Path | None = None) -> dict:
    """Read the analysis stage's design inputs and run :func:`run_target_trial`."""
    cohort = pd.read_parquet(cohort_path)
    truth = pd.read_csv(truth_path) if truth_path and Path(truth_path).is_file() else None
    res = run_target_trial(study, cohort, pd.read_parquet(follow_path), pd.read_parquet(sofa_path), threads, truth)
    c = res["clone_censor_weight"]["rd"]
    log.info("target trial: %d eligible, CCW RD %s %s", res["counts"]["n_eligible"], c["estimate"], c["ci95"])
    for note in res["warnings"]:
        log.warning("%s", note)
    return json.loads(json.dumps(res, default=float))


def write_design_data(study, tables_from: dict | str | Path, concepts_dir: Path, cohort_path: Path,
                      out_dir: Path, duckdb_cfg: dict) -> None:
    """The design stage: ``design_followup.parquet`` and ``design_sofa.parquet`` of the
    cohort's stays (:func:`design_data`), each written to a temporary file and renamed."""
    from icu_cohort import artifacts as A
    from icu_cohort import sources
    from icu_cohort.concepts import attach_concepts

    if not isinstance(tables_from, dict):
        tables_from = {"parquet_dir": str(tables_from)}
    con = sources.connect(tables_from, required_tables(), duckdb_cfg["threads"], duckdb_cfg["memory_limit"],
                          duckdb_cfg.get("temp_directory"))
    try:
        attach_concepts(con, Path(concepts_dir), ["sofa"])
        follow, sofa = design_data(con, study, pd.read_parquet(cohort_path, columns=["stay_id"]))
    finally:
        con.close()
    A.write_files(Path(out_dir), {
        A.DESIGN_FOLLOWUP.name: lambda p: follow.to_parquet(p, index=False),
        A.DESIGN_SOFA.name: lambda p: sofa.to_parquet(p, index=False)})
    log.info("design data: %d stays, %d hourly SOFA rows", len(follow), len(sofa))


def stage_inputs(study, results_source: str, name: str, synthetic_dir: str | None = None) -> dict:
    """The analysis stage's extra inputs for a study with a design (Snakemake ``unpack``):
    ``followup`` and ``sofa`` of the design stage, and on synthetic data ``truth``, the per-stay
    ground truth (for the trial's true value); ``{}`` without a design."""
    from icu_cohort import artifacts as A

    if study.design is None:
        return {}
    out = {"followup": f"{results_source}/{name}/{A.DESIGN_FOLLOWUP.name}",
           "sofa": f"{results_source}/{name}/{A.DESIGN_SOFA.name}"}
    if synthetic_dir:
        out["truth"] = f"{synthetic_dir}/ground_truth_stays.csv"
    return out


def stage_threads(study) -> int:
    """Threads of the analysis job: 2 for the target-trial bootstrap, else 1."""
    return 2 if study.design is not None else 1
