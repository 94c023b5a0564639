"""Synthetic MIMIC-IV v2.2 with a planted treatment effect (``icu-cohort synth``).

:func:`generate` writes ``DIR/hosp/*.csv.gz`` and ``DIR/icu/*.csv.gz`` for every table of
:data:`icu_cohort.mimic_tables.TABLES` (PhysioNet's file names, headers, column order and value
formats) plus ``DIR/ground_truth.json`` and ``DIR/ground_truth_stays.csv``. The stay-level truth
comes from :func:`icu_cohort.synth.dgp.simulate_core`, the same function behind
:func:`icu_cohort.synth.dgp.simulate_stays`. The data-generating process is documented in
``synthetic_data/README.md``; its parameters are ``synthetic_data/params.yaml``.

Same ``seed`` and ``patients`` (and parameters): byte-identical files. The set is written to
a temporary folder beside ``out_dir`` and renamed into place at the end, so a failed run leaves
no half-written set behind. The folder also holds the marker file :data:`MARKER`; an existing
``out_dir`` is replaced only when it holds that marker (or is empty), else
:class:`OutputFolderError` is raised before anything is written.

``dgp="timevarying"`` (:mod:`icu_cohort.synth.timevarying`, parameters
``synthetic_data/params_timevarying.yaml``) writes the same files under the same names, from a
process in which IV magnesium sulfate starts at any hour, changes later measurements, and
first-day labs can be missing; its ground truth adds potential outcomes under strategies.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..mimic_tables import RELEASES, SUPPORTED_VERSIONS, TABLES, columns_for
from . import dgp, hosp_tables, icu_tables
from .csvio import GzipCsvWriter
from .dgp import simulate_stays
from .params import DGPS, check_dgp, load_params, split_overrides
from .population import (DAY, EXCLUSIONS, SEPTIC_MODE, STROKE_STREAM, Population, build_population)
from .schedule import build_schedule

__all__ = ["generate", "simulate_stays", "load_params", "DGPS", "MARKER", "OutputFolderError", "OUTPUT_FILES"]

#: Marker file written into every generated folder; only folders holding it are replaced.
MARKER = ".icu-cohort-synth"
#: The ground-truth files of every set (CONTRACT names), beside hosp/ and icu/.
OUTPUT_FILES = ("ground_truth.json", "ground_truth_stays.csv")


class OutputFolderError(FileExistsError):
    """``out_dir`` exists, is not empty, and was not written by ``icu-cohort synth``."""

#: Rows of chartevents per chunk (bounds memory; chunk boundaries never depend on threads).
CHUNK_CHART_ROWS = 1_500_000
#: Seed-sequence keys of the per-chunk random streams of each table.
_STREAM = {"schedule": 1, "icu/chartevents": 2, "icu/inputevents": 3, "icu/outputevents": 4,
           "icu/procedureevents": 5, "hosp/labevents": 6, "hosp/admissions": 7, "icu/icustays": 8,
           "hosp/diagnoses_icd": 9, "hosp/prescriptions": 10, "hosp/microbiologyevents": 11,
           "ward_labs": 12, "pools": 13, "late_mgso4": 14, "timevarying_mgso4": 15,
           "hosp/procedures_icd": 16, "plan_stroke": STROKE_STREAM, "cam_icu": 18}


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key)))


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------

def _risk(death_days: np.ndarray, horizon: float) -> float:
    d = np.asarray(death_days, dtype=float)
    return float(np.mean(~np.isnan(d) & (d <= horizon))) if d.size else float("nan")


def true_effects(stays: pd.DataFrame, horizon: float = dgp.HORIZON_DAYS) -> dict[str, dict[str, float]]:
    """28-day risks under treatment / no treatment and their difference for ATT, ATC, ATE.

    ``stays`` holds the eligible stays with ``treated``, ``death_day_if_treated`` and
    ``death_day_if_untreated`` (NaN = alive beyond day 90); a stay dies by the horizon when its
    death day is <= ``horizon``.
    """
    out = {}
    treated = stays["treated"].to_numpy() == 1
    for name, sel in (("ATT", treated), ("ATC", ~treated), ("ATE", np.ones(len(stays), bool))):
        r1 = _risk(stays["death_day_if_treated"].to_numpy()[sel], horizon)
        r0 = _risk(stays["death_day_if_untreated"].to_numpy()[sel], horizon)
        out[name] = {"n_stays": int(sel.sum()), "risk_treated": r1, "risk_untreated": r0,
                     "risk_difference": r1 - r0}
    return out


def _no_nan(obj: Any) -> Any:
    """JSON-safe copy: NaN (e.g. a risk over zero stays) becomes null."""
    if isinstance(obj, dict):
        return {k: _no_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_no_nan(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def _common_steps(st: pd.DataFrame) -> list[tuple[str, str, np.ndarray]]:
    """The first steps every planted population shares: all stays, adult, first stay, LOS > 24 h."""
    return [
        ("all_icu_stays", "all ICU stays", np.ones(len(st), bool)),
        ("adult", "age >= 18 at hospital admission", ~st["child"].to_numpy()),
        ("first_icu_stay", "first ICU stay of the patient", st["is_first"].to_numpy()),
        ("icu_los_over_24h", "ICU length of stay > 24 h", (st["outtime"] - st["intime"]).to_numpy() > DAY),
    ]


def _sepsis_step(st: pd.DataFrame) -> tuple[str, str, np.ndarray]:
    return ("sepsis3", "Sepsis-3 (suspected infection and SOFA >= 2)", (st["mode"] == SEPTIC_MODE).to_numpy())


def _run_steps(steps: list[tuple[str, str, np.ndarray]]) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Attrition rows (each stay counted at the first step it fails) and the stays kept by all."""
    keep = np.ones(steps[0][2].size, bool)
    rows = []
    for step, desc, ok in steps:
        before = int(keep.sum())
        keep &= ok
        rows.append({"step": step, "description": desc, "n_remaining": int(keep.sum()),
                     "n_excluded": before - int(keep.sum())})
    return rows, keep


def _sae_steps(st: pd.DataFrame) -> list[tuple[str, str, np.ndarray]]:
    """The SAE study's criteria as the plan builds them: (step, description, met per stay)."""
    enceph = (st["gcs_low"] | (st["delirium"] == 1)).to_numpy()
    return _common_steps(st) + [
        _sepsis_step(st),
        ("encephalopathy", "first-day GCS < 15 or a delirium code", enceph),
    ] + [(f"exclude_{name}", f"no {name.replace('_', ' ')} code", ~st[f"excl_{name}"].to_numpy())
         for name in EXCLUSIONS]


def _attrition(st: pd.DataFrame) -> list[dict[str, Any]]:
    """The SAE study's attrition steps as the plan builds them (what the SQL must reproduce)."""
    return _run_steps(_sae_steps(st))[0]


#: Per-stay ground-truth columns for studies that also count a positive CAM-ICU as
#: encephalopathy (a ``cam_icu`` criterion over the first H hours): such a study's cohort is the stays with
#: ``eligible_except_encephalopathy`` = 1 and either ``encephalopathy`` = 1 (first-day GCS < 15
#: or a delirium code) or ``cam_icu_first_positive_hours`` <= H (hours from intime to the first
#: positive assessment as charted; empty when the stay has none).
CAM_TRUTH_COLUMNS = ("eligible_except_encephalopathy", "encephalopathy", "cam_icu_first_positive_hours")


def _cam_truth(st: pd.DataFrame, cam_first: np.ndarray) -> dict[str, np.ndarray]:
    others = np.ones(len(st), bool)
    enceph = None
    for step, _, ok in _sae_steps(st):
        if step == "encephalopathy":
            enceph = ok
        else:
            others &= ok
    hours = np.where(cam_first >= 0, (cam_first - st["intime"].to_numpy()) / 3600.0, np.nan)
    return dict(zip(CAM_TRUTH_COLUMNS, (others.astype(np.int8), enceph.astype(np.int8), hours)))


def _cam_settings() -> dict[str, Any]:
    return {**icu_tables.CAM_ICU,
            "meaning": "CAM-ICU assessments in chartevents (icu_tables.cam_icu_plan): a stay's first positive "
                       "assessment is cam_icu_first_positive_hours in ground_truth_stays.csv; a study with "
                       "a cam_icu criterion of H hours keeps eligible_except_encephalopathy "
                       "stays with encephalopathy = 1 or cam_icu_first_positive_hours <= H"}


#: Columns of ground_truth_stays.csv after the CONTRACT ones, for the other planted populations:
#: eligible for sepsis_mgso4 / ais_mgso4 by construction, and a mechanical thrombectomy on the
#: stay's hospital admission (hosp.procedures_icd).
POPULATION_COLUMNS = ("eligible_sepsis", "eligible_ais", "thrombectomy")


def _populations(st: pd.DataFrame, stroke: np.ndarray, thrombectomy: np.ndarray, first_dose_hours: np.ndarray,
                 effects: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The truth of the sepsis and acute ischaemic stroke populations: per-stay columns
    (:data:`POPULATION_COLUMNS`) and their ground_truth.json section (every attrition step as
    the plan builds it, eligible stays, exposure; with ``effects`` the true marginal effects of
    the baseline treatment decision, as ``effects`` for the SAE population).

    ``stroke`` / ``thrombectomy``: per stay, the stay's hospital admission holds an acute
    ischaemic stroke code / a thrombectomy; ``first_dose_hours``: hours from intime to the first
    IV magnesium sulfate written (NaN: none)."""
    sepsis_rows, sepsis = _run_steps(_common_steps(st) + [_sepsis_step(st)])
    ais_rows, ais = _run_steps(_common_steps(st) + [
        ("acute_ischaemic_stroke", "acute ischaemic stroke code on the admission (ICD-9 433.x1, 434.x1; ICD-10 I63)",
         np.asarray(stroke, bool))])
    dosed = ~np.isnan(first_dose_hours)
    early = dosed & (first_dose_hours < 24)

    def part(keep: np.ndarray, study: str, meaning: str, horizons: tuple[float, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {"study": study, "meaning": meaning, "n_eligible": int(keep.sum()),
                               "n_exposed_whole_stay": int((keep & dosed).sum()),
                               "n_exposed_first_24h": int((keep & early).sum()),
                               "n_treated_baseline": int((keep & (st["treated"].to_numpy() == 1)).sum())}
        if effects:
            el = pd.DataFrame({"treated": st["treated"].to_numpy()[keep],
                               "death_day_if_treated": st["death_day_if_treated_rec"].to_numpy()[keep],
                               "death_day_if_untreated": st["death_day_if_untreated_rec"].to_numpy()[keep]})
            for h in horizons:
                out[f"effects_{h:g}d"] = true_effects(el, h)
        return out

    sections = {
        "sepsis": {**part(sepsis, "sepsis_mgso4", "adult first ICU stays > 24 h with Sepsis-3 (the SAE population "
                                                  "before its encephalopathy and exclusion steps)", (28.0,)),
                   "attrition": sepsis_rows},
        "ais": {**part(ais, "ais_mgso4", "adult first ICU stays > 24 h whose admission holds an acute ischaemic "
                                         "stroke code", (28.0, 90.0)),
                "n_thrombectomy": int((ais & np.asarray(thrombectomy, bool)).sum()),
                "attrition": ais_rows},
        "exposure_meaning": "n_exposed_whole_stay: a first IV magnesium sulfate dose written at any time of the "
                            "stay (sepsis_mgso4's exposure); n_exposed_first_24h: within 24 h of intime "
                            "(ais_mgso4's); n_treated_baseline: the DGP's baseline decision `treated` (first "
                            "dose 1-20 h), which the effects contrast",
    }
    cols = {"eligible_sepsis": sepsis.astype(np.int8), "eligible_ais": ais.astype(np.int8),
            "thrombectomy": np.asarray(thrombectomy, bool).astype(np.int8)}
    return cols, sections


def _truth_files(out: Path, st: pd.DataFrame, pop: Population, P: dict[str, Any], seed: int,
                 patients: int, counts: dict[str, int], first_dose: np.ndarray, cam_first: np.ndarray,
                 stroke: np.ndarray, thrombectomy: np.ndarray) -> dict[str, Any]:
    """ground_truth.json and ground_truth_stays.csv; ``first_dose`` is the first IV magnesium
    sulfate start written per stay (int64 seconds, -1 if none), baseline or late; ``cam_first``
    the first positive CAM-ICU assessment's charttime (-1 if none); ``stroke`` and
    ``thrombectomy`` per stay (see :func:`_populations`)."""
    first_dose_hours = np.where(first_dose >= 0, (first_dose - st["intime"].to_numpy()) / 3600.0, np.nan)
    pop_cols, pop_truth = _populations(st, stroke, thrombectomy, first_dose_hours, effects=True)
    eligible = st[st["eligible"]]
    el = pd.DataFrame({"treated": eligible["treated"].to_numpy(),
                       "death_day_if_treated": eligible["death_day_if_treated_rec"].to_numpy(),
                       "death_day_if_untreated": eligible["death_day_if_untreated_rec"].to_numpy()})
    observed = np.where(el["treated"] == 1, el["death_day_if_treated"], el["death_day_if_untreated"])
    tr = el["treated"].to_numpy() == 1
    crude1, crude0 = _risk(observed[tr], 28.0), _risk(observed[~tr], 28.0)
    log_hr = float(P["outcome"]["log_hr"])
    truth = {
        "generator": "icu-cohort synth (synthetic MIMIC-IV v2.2)",
        "settings": {
            "seed": int(seed), "patients": int(patients),
            "log_hr": log_hr, "hazard_ratio": math.exp(log_hr),
            "log_hr_meaning": "planted conditional log hazard ratio of IV magnesium sulfate (Weibull PH, "
                              "given the DGP's covariates), ICU intime + delay_days onwards",
            "treated_share_target": float(P["treatment"]["target_treated_share"]),
            "untreated_risk_28d_target": float(P["outcome"]["target_untreated_risk_28d"]),
            "weibull_shape": float(P["outcome"]["weibull_shape"]),
            "delay_days": float(P["outcome"]["delay_days"]),
            "chart_rows_per_stay": float(P["chartevents"]["rows_per_stay"]),
            "late_dose": {
                "share": float(P["late_dose"]["share"]),
                "min_hours": float(P["late_dose"]["min_hours"]),
                "max_hours": float(P["late_dose"]["max_hours"]),
                "meaning": "eligible stays untreated at baseline (treated = 0) picked with probability share get "
                           "a first IV magnesium sulfate dose uniform in [intime + min_hours, intime + max_hours], "
                           "written only if the patient is then alive and in the ICU (the dose ends >= 10 min "
                           "before outtime); late doses do not change any outcome: the causal contrast is the "
                           "baseline decision `treated` (iv_mgso4_first_dose_hours in ground_truth_stays.csv)",
            },
            "cam_icu": _cam_settings(),
            "calibrated_treatment_intercept": pop.alpha,
            "calibrated_log_baseline_hazard": pop.log_lambda,
            "params": P,
        },
        "counts": counts,
        "horizon_days": dgp.HORIZON_DAYS,
        "eligible_treated_share": float(tr.mean()) if tr.size else float("nan"),
        "effects": true_effects(el),
        "observed_crude": {"risk_treated": crude1, "risk_untreated": crude0,
                           "risk_difference": crude1 - crude0,
                           "note": "observed 28-day mortality of eligible treated vs untreated stays "
                                   "(confounded; compare with effects.ATT/ATE)"},
        "attrition": _attrition(st),
        "populations": pop_truth,
        "death_time_rule": "death_day_* are death times as the data record them: admissions.deathtime "
                           "(rounded up to the minute) when the death falls within the stay's own hospital "
                           "admission, otherwise 12:00 of patients.dod; empty/NaN when after day 90",
    }
    (out / "ground_truth.json").write_text(json.dumps(_no_nan(truth), indent=2, allow_nan=False) + "\n",
                                           encoding="utf-8")
    gt = pd.DataFrame({
        "stay_id": st["stay_id"].to_numpy(),
        "eligible": st["eligible"].to_numpy().astype(np.int8),
        "treated": st["treated"].to_numpy().astype(np.int8),
        "death_day_if_treated": st["death_day_if_treated_rec"].to_numpy(),
        "death_day_if_untreated": st["death_day_if_untreated_rec"].to_numpy(),
        "iv_mgso4_first_dose_hours": first_dose_hours,
        **_cam_truth(st, cam_first),
        **pop_cols,
    }).sort_values("stay_id", kind="stable")
    gt.to_csv(out / "ground_truth_stays.csv", index=False, float_format="%.9f", lineterminator="\n")
    return truth


#: Per-stay ground-truth columns of the time-varying DGP after the CONTRACT ones (documented in
#: synthetic_data/README.md, section 9): built by :func:`truth_columns_tv`.
def truth_columns_tv(P: dict[str, Any]) -> list[str]:
    """Columns of ground_truth_stays.csv for ``dgp="timevarying"``, in order."""
    from .params import MISSING_ITEMS
    from .timevarying import grace_periods

    cols = ["stay_id", "eligible", "treated", "death_day_if_treated", "death_day_if_untreated",
            "iv_mgso4_first_dose_hours", "death_day_observed"]
    for g in grace_periods(P):
        cols += [f"death_day_start_within_{g}h", f"death_day_no_start_within_{g}h"]
    cols += [f"alive_in_icu_at_{int(L)}h" for L in P["strategies"]["landmark_hours"]]
    cols += [f"missing_{item}" for item in MISSING_ITEMS]
    return cols + list(CAM_TRUTH_COLUMNS) + list(POPULATION_COLUMNS)


def _truth_files_tv(out: Path, st: pd.DataFrame, pop: Population, P: dict[str, Any], seed: int,
                    patients: int, counts: dict[str, Any], first_dose: np.ndarray, cam_first: np.ndarray,
                    stroke: np.ndarray, thrombectomy: np.ndarray) -> dict[str, Any]:
    """ground_truth.json and ground_truth_stays.csv of the time-varying DGP (README section 9);
    ``first_dose`` is the first IV magnesium sulfate start written per stay (-1 if none)."""
    from . import timevarying as tv
    from .params import MISSING_ITEMS
    from .timevarying import grace_periods

    intime = st["intime"].to_numpy()
    written = first_dose >= 0
    if not np.array_equal(written, st["treated"].to_numpy() == 1) or not np.array_equal(
            first_dose[written], st["_first_dose"].to_numpy()[written]):
        raise AssertionError("internal: the IV magnesium sulfate written differs from the process's first doses")
    cols: dict[str, np.ndarray] = {
        "stay_id": st["stay_id"].to_numpy(),
        "eligible": st["eligible"].to_numpy().astype(np.int8),
        "treated": st["treated"].to_numpy().astype(np.int8),
        "death_day_if_treated": st["death_day_always_rec"].to_numpy(),
        "death_day_if_untreated": st["death_day_never_rec"].to_numpy(),
        "iv_mgso4_first_dose_hours": np.where(written, (first_dose - intime) / 3600.0, np.nan),
        "death_day_observed": st["death_day_natural_rec"].to_numpy(),
    }
    for g in grace_periods(P):
        cols[f"death_day_start_within_{g}h"] = st[f"death_day_start_within_{g}h_rec"].to_numpy()
        cols[f"death_day_no_start_within_{g}h"] = st[f"death_day_no_start_within_{g}h_rec"].to_numpy()
    for L in P["strategies"]["landmark_hours"]:
        cols[f"alive_in_icu_at_{int(L)}h"] = st[f"alive_in_icu_at_{int(L)}h"].to_numpy().astype(np.int8)
    for item in MISSING_ITEMS:
        cols[f"missing_{item}"] = st[f"miss_{item}"].to_numpy().astype(np.int8)
    cols.update(_cam_truth(st, cam_first))
    pop_cols, pop_truth = _populations(st, stroke, thrombectomy, cols["iv_mgso4_first_dose_hours"], effects=False)
    cols.update(pop_cols)
    gt = pd.DataFrame(cols)[truth_columns_tv(P)].sort_values("stay_id", kind="stable").reset_index(drop=True)
    el = gt[gt["eligible"] == 1]
    tr = el["treated"].to_numpy() == 1
    observed = el["death_day_observed"].to_numpy()
    crude1, crude0 = _risk(observed[tr], 28.0), _risk(observed[~tr], 28.0)
    by48 = el["iv_mgso4_first_dose_hours"].to_numpy() < 48
    c48_1, c48_0 = _risk(observed[by48], 28.0), _risk(observed[~by48], 28.0)
    log_hr = float(P["outcome"]["log_hr"])
    truth = {
        "generator": "icu-cohort synth (synthetic MIMIC-IV v2.2)",
        "dgp": "timevarying",
        "settings": {
            "seed": int(seed), "patients": int(patients),
            "log_hr": log_hr, "hazard_ratio": math.exp(log_hr),
            "log_hr_meaning": "planted log hazard ratio of death while treated (from the first IV magnesium "
                              "sulfate dose on) vs not yet treated, given the baseline covariates and the current "
                              "severity change D(t) (time-varying Cox model of the DGP)",
            "treated_share_target": float(P["treatment"]["target_treated_share"]),
            "treated_share_meaning": "calibrated expected share of eligible-type stays with a first IV magnesium "
                                     "sulfate dose while alive and in the ICU (within severity_process.horizon_hours)",
            "untreated_risk_28d_target": float(P["outcome"]["target_untreated_risk_28d"]),
            "weibull_shape": float(P["outcome"]["weibull_shape"]),
            "delay_days": float(P["outcome"]["delay_days"]),
            "chart_rows_per_stay": float(P["chartevents"]["rows_per_stay"]),
            "magnesium_response": dict(P["response"]["magnesium"]),
            "map_response": dict(P["response"]["map"]),
            "calibrated_treatment_intercept": pop.alpha,
            "calibrated_log_baseline_hazard": pop.log_lambda,
            "missingness_intercepts": tv.missing_intercepts(P),
            "cam_icu": _cam_settings(),
            "params": P,
        },
        "counts": counts,
        "horizon_days": dgp.HORIZON_DAYS,
        "eligible_treated_share": float(tr.mean()) if tr.size else float("nan"),
        "effects": true_effects(el),
        "effects_meaning": "death_day_if_treated = IV magnesium sulfate started at ICU admission, "
                           "death_day_if_untreated = never started; ATT = eligible stays treated at some time in the "
                           "ICU (natural course), ATC = never treated, ATE = all eligible stays",
        "first_dose": tv.first_dose_summary(el["iv_mgso4_first_dose_hours"].to_numpy()),
        "strategies": {
            "natural_course": {"risk_28d": _risk(observed, 28.0)},
            **{name: {"risk_28d": _risk(el[col].to_numpy(), 28.0)} for name, col in (
                ("start_at_admission", "death_day_if_treated"), ("never_start", "death_day_if_untreated"))},
            **{f"{kind}_{g}h": {"risk_28d": _risk(el[f"death_day_{kind}_{g}h"].to_numpy(), 28.0)}
               for g in grace_periods(P) for kind in ("start_within", "no_start_within")},
        },
        "contrasts": tv.truth_contrasts(el, P),
        "missingness": {item: {"target_share": float(P["missingness"]["share"][item]),
                               "eligible_share": float(el[f"missing_{item}"].mean()) if len(el) else float("nan")}
                        for item in MISSING_ITEMS},
        "observed_crude": {"risk_treated": crude1, "risk_untreated": crude0, "risk_difference": crude1 - crude0,
                           "note": "observed 28-day mortality of eligible stays ever treated in the ICU vs never "
                                   "treated (immortal time and confounding; compare with contrasts)"},
        "observed_crude_48h": {"risk_treated": c48_1, "risk_untreated": c48_0, "risk_difference": c48_1 - c48_0,
                               "note": "the same with treated = first dose within 48 h of ICU admission"},
        "attrition": _attrition(st),
        "populations": pop_truth,
        "death_time_rule": "death_day_* are death times as the data record them: admissions.deathtime "
                           "(rounded up to the minute) when the death falls within the stay's own hospital "
                           "admission, otherwise 12:00 of patients.dod; empty/NaN when after day 90",
    }
    (out / "ground_truth.json").write_text(json.dumps(_no_nan(truth), indent=2, allow_nan=False) + "\n",
                                           encoding="utf-8")
    gt.to_csv(out / "ground_truth_stays.csv", index=False, float_format="%.9f", lineterminator="\n")
    return truth


# --------------------------------------------------------------------------------------
# generate
# --------------------------------------------------------------------------------------

def _chunks(weights: np.ndarray, target: int) -> list[tuple[int, int]]:
    """Consecutive [start, stop) ranges whose summed ``weights`` are about ``target``."""
    cum = np.cumsum(weights)
    bounds = np.searchsorted(cum, np.arange(target, cum[-1] if cum.size else 0, target), side="left") + 1
    edges = np.unique(np.concatenate([[0], bounds, [len(weights)]]))
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """``out_dir`` as a Path if :func:`generate` may write it: absent, empty (no file at any depth:
    Snakemake creates the empty ``hosp/`` and ``icu/`` folders of a job's outputs before running
    it), or holding :data:`MARKER` (written by an earlier run); else :class:`OutputFolderError`."""
    out = Path(out_dir)
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise OutputFolderError(f"--out {out}: exists and is not a folder; refusing to replace it")
        holds_files = any(not p.is_dir() or p.is_symlink() for p in out.rglob("*"))
        if holds_files and not (out / MARKER).is_file():
            raise OutputFolderError(
                f"--out {out}: the folder is not empty and was not written by icu-cohort synth (no {MARKER} "
                f"marker); refusing to replace it. Choose another folder or empty it first.")
    return out


def generate(out_dir: str | os.PathLike, patients: int, seed: int, *, params_file: str | os.PathLike | None = None,
             progress: Callable[[str], None] | None = _stderr, threads: int = 2, dgp: str = "baseline",
             mimic_version: str = "2.2", **overrides: Any) -> dict[str, Any]:
    """Write a synthetic MIMIC-IV folder to ``out_dir`` (see module docstring).

    ``dgp``: ``"baseline"`` (default) or ``"timevarying"`` (:data:`DGPS`). ``mimic_version``:
    the release whose format is written (``icu_cohort.mimic_tables.SUPPORTED_VERSIONS``): its
    headers (:func:`icu_cohort.mimic_tables.columns_for`) and ``anchor_year_group`` values
    (v3.x: 2008 - 2022); for v3.x a ``README.txt`` names the release's DOI, as PhysioNet's
    folders do, and says the data are synthetic. The data drawn are the same for every release. ``overrides``: the
    shortcuts ``treated_share``, ``log_hr``, ``chart_rows_per_stay`` or nested sections of the
    parameter tree (``outcome={"weibull_shape": 1.0}``). Parameters and ``out_dir`` are checked
    before anything is written. Returns a summary dict (counts of rows per table, eligible
    stays, seconds).
    """
    t0 = time.time()
    say = progress or (lambda _msg: None)
    check_dgp(dgp)
    if mimic_version not in SUPPORTED_VERSIONS:
        raise ValueError(f"mimic_version {mimic_version!r} is not supported; supported: {', '.join(SUPPORTED_VERSIONS)}")
    for key, spec in TABLES.items():
        if columns_for(key, mimic_version) != spec.column_names:
            raise NotImplementedError(f"{key}: release {mimic_version} has other columns than v2.2; "
                                      "the generator writes v2.2's")
    tv_mode = dgp == "timevarying"
    nested, short = split_overrides(overrides)
    P = load_params(params_file, nested, dgp=dgp, **short)
    if int(patients) < 1:
        raise ValueError(f"patients must be >= 1, got {patients}")
    if tv_mode:      # solve the calibrations now: an unreachable target fails before anything is written
        from . import timevarying as tv

        tv.missing_intercepts(P)
        tv.calibrate(P)
    out = check_out_dir(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "hosp").mkdir(parents=True)
    (tmp / "icu").mkdir(parents=True)
    writers: dict[str, GzipCsvWriter] = {}
    try:
        (tmp / MARKER).write_text("written by icu-cohort synth; this folder may be replaced by it\n",
                                  encoding="utf-8")
        say(f"synth: building {patients} patients (seed {seed}, dgp {dgp})")
        pop = build_population(patients, seed, P, dgp_mode=dgp, mimic_version=mimic_version)
        if mimic_version != "2.2":
            (tmp / "README.txt").write_text(
                f"Synthetic data in the format of MIMIC-IV v{mimic_version} "
                f"(https://doi.org/{RELEASES[mimic_version]['doi']}), written by icu-cohort synth.\n"
                "No real patient is in these files.\n", encoding="utf-8")
        adm_all, st_all = pop.admissions, pop.stays
        adm = adm_all[adm_all["keep"].to_numpy()].reset_index(drop=True)
        adm_pos = np.cumsum(adm_all["keep"].to_numpy()) - 1
        st = st_all[st_all["keep"].to_numpy()].reset_index(drop=True)
        stay_adm = adm_pos[st["adm"].to_numpy()]
        # CAM-ICU assessments (own stream); their chartevents rows count towards the volume
        cam = icu_tables.cam_icu_plan(st, _rng(seed, _STREAM["cam_icu"]))
        sched = build_schedule(st, _rng(seed, _STREAM["schedule"]), P, extra_chart_rows=cam["rows"])
        stj = pd.concat([st, sched], axis=1)
        pools = _rng(seed, _STREAM["pools"])
        caregivers = np.sort(pools.choice(99_990, 8000, replace=False) + 10)
        provider_pool = hosp_tables.providers(pools)
        # late IV magnesium sulfate doses (own stream: nothing else depends on them)
        if tv_mode:     # the natural course's dose series (own stream), read by every ICU table
            late = icu_tables.timevarying_mgso4_doses(st, _rng(seed, _STREAM["timevarying_mgso4"]), P, caregivers.size)
        else:
            late = icu_tables.late_mgso4_doses(st, _rng(seed, _STREAM["late_mgso4"]), P, caregivers.size)
        say(f"synth: {len(pop.patients)} patients, {len(adm)} admissions, {len(st)} ICU stays, "
            f"{int(st['eligible'].sum())} eligible; {int(sched['n_chart'].sum())} chartevents rows "
            f"({time.time() - t0:.1f} s)")

        with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
            def writer(key: str, translate: bool = False) -> GzipCsvWriter:
                spec = TABLES[key]
                w = GzipCsvWriter(tmp / spec.relpath, spec.column_names, pool, translate=translate)
                writers[key] = w
                return w

            # hospital-level tables, whole
            writer("hosp/patients").write(hosp_tables.patients_table(pop.patients))
            writer("hosp/admissions").write(hosp_tables.admissions_table(adm, _rng(seed, _STREAM["hosp/admissions"]),
                                                                         provider_pool))
            writer("icu/icustays").write(hosp_tables.icustays_table(st, _rng(seed, _STREAM["icu/icustays"])))
            dx_table, picked, icd9 = _diagnoses(adm, st, stay_adm, pop, seed, P)
            writer("hosp/diagnoses_icd").write(dx_table)
            stroke_adm, thrombectomy_adm = _stroke(adm, picked, seed, P)
            writer("hosp/procedures_icd").write(hosp_tables.procedures_table(
                adm, adm["is_icu"].to_numpy(), thrombectomy_adm, icd9, _rng(seed, _STREAM["hosp/procedures_icd"], 1)))
            rx_rng = _rng(seed, _STREAM["hosp/prescriptions"])
            rx = hosp_tables.prescription_rows(stj, adm, stay_adm, rx_rng, P)
            writer("hosp/prescriptions", translate=True).write(
                hosp_tables.prescriptions_table(rx, adm["subject_id"].to_numpy(), adm["hadm_id"].to_numpy(),
                                                rx_rng, provider_pool))
            writer("hosp/microbiologyevents", translate=True).write(
                hosp_tables.microbiology_table(stj, adm, stay_adm, _rng(seed, _STREAM["hosp/microbiologyevents"])))
            say(f"synth: hospital tables queued ({time.time() - t0:.1f} s)")

            # ICU event tables and ICU labs, in chunks of stays
            w_chart, w_in, w_out = writer("icu/chartevents"), writer("icu/inputevents"), writer("icu/outputevents")
            w_proc, w_lab = writer("icu/procedureevents"), writer("hosp/labevents")
            chunks = _chunks(sched["n_chart"].to_numpy(), CHUNK_CHART_ROWS)
            order_in = order_proc = 0
            first_dose = np.full(len(st), -1, np.int64)       # first IV MgSO4 start actually written
            lab_rows = lab_specimens = 0
            subj, hadm = stj["subject_id"].to_numpy(), stj["hadm_id"].to_numpy()
            male = stj["male"].to_numpy()
            for ci, (a, b) in enumerate(chunks):
                part = stj.iloc[a:b].reset_index(drop=True)
                doses = icu_tables.late_doses_of(late, a, b)
                w_chart.write(icu_tables.chartevents_chunk(
                    part, _rng(seed, _STREAM["icu/chartevents"], ci), caregivers,
                    doses=doses if tv_mode else None, map_response=P["response"]["map"] if tv_mode else None))
                w_chart.write(icu_tables.cam_icu_table(part, cam, a, b, caregivers))
                tables, used, first_dose[a:b] = icu_tables.inputevents_chunk(
                    part, _rng(seed, _STREAM["icu/inputevents"], ci), caregivers, P, order_in,
                    doses, baseline_doses=not tv_mode)
                order_in += used
                for tbl in tables:
                    w_in.write(tbl)
                w_out.write(icu_tables.outputevents_chunk(part, _rng(seed, _STREAM["icu/outputevents"], ci), caregivers))
                tbl, used = icu_tables.procedureevents_chunk(part, _rng(seed, _STREAM["icu/procedureevents"], ci),
                                                             caregivers, order_proc)
                order_proc += used
                w_proc.write(tbl)
                lab_rng = _rng(seed, _STREAM["hosp/labevents"], ci)
                events = (icu_tables.icu_lab_events(part, lab_rng, doses, P) if tv_mode
                          else icu_tables.icu_lab_events(part, lab_rng))
                tbl, n_rows, n_spec = icu_tables.labevents_rows(subj[a:b], hadm[a:b], male[a:b], events, lab_rng,
                                                                lab_rows, lab_specimens)
                lab_rows += n_rows
                lab_specimens += n_spec
                w_lab.write(tbl)
                say(f"synth: ICU chunk {ci + 1}/{len(chunks)} (stays {a}-{b}, chartevents so far "
                    f"{w_chart.rows}) {time.time() - t0:.1f} s")
            # labs of admissions without a kept ICU stay
            plain = np.flatnonzero(~np.isin(np.arange(len(adm)), stay_adm))
            sex = pop.patients["gender"].to_numpy() == "M"
            for ci, start in enumerate(range(0, plain.size, 100_000)):
                sel = plain[start:start + 100_000]
                ward_rng = _rng(seed, _STREAM["ward_labs"], ci)
                events = hosp_tables.ward_lab_events(adm, sel, ward_rng, P)
                tbl, n_rows, n_spec = icu_tables.labevents_rows(
                    adm["subject_id"].to_numpy()[sel], adm["hadm_id"].to_numpy()[sel],
                    sex[adm["patient"].to_numpy()[sel]].astype(np.int8), events, ward_rng, lab_rows, lab_specimens)
                lab_rows += n_rows
                lab_specimens += n_spec
                w_lab.write(tbl)
            for w in writers.values():
                w.close()

        counts = {"patients": int(len(pop.patients)), "admissions": int(len(adm)), "icu_stays": int(len(st)),
                  "eligible_stays": int(st["eligible"].sum()),
                  "eligible_treated": int((st["eligible"] & (st["treated"] == 1)).sum()),
                  "eligible_untreated": int((st["eligible"] & (st["treated"] == 0)).sum()),
                  "rows": {k: int(w.rows) for k, w in sorted(writers.items())}}
        if tv_mode:
            truth = _truth_files_tv(tmp, st, pop, P, seed, patients, counts, first_dose, cam["first_positive"],
                                    stroke_adm[stay_adm], thrombectomy_adm[stay_adm])
        else:
            counts = {**{k: v for k, v in counts.items() if k != "rows"},
                      "eligible_untreated_late_dosed": int((late["first"] >= 0).sum()), "rows": counts["rows"]}
            truth = _truth_files(tmp, st, pop, P, seed, patients, counts, first_dose, cam["first_positive"],
                                 stroke_adm[stay_adm], thrombectomy_adm[stay_adm])
        _replace_dir(tmp, out)
    except BaseException:
        for w in writers.values():
            try:
                w.abort()
            except Exception:       # noqa: BLE001 - best effort while failing anyway
                pass
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = time.time() - t0
    say(f"synth: wrote {out} in {seconds:.1f} s")
    return {"out_dir": str(out), "seconds": seconds, "dgp": dgp, "mimic_version": mimic_version, **counts,
            "effects": truth["effects"]}


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished set into place (an existing folder is replaced only if it is empty or
    holds :data:`MARKER`; checked again here in case it changed during the run)."""
    check_out_dir(out)
    if out.exists():
        if not any(p.is_file() for p in out.rglob("*")) and not (out / MARKER).exists():
            shutil.rmtree(out)                 # only empty folders
        else:
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
            return
    os.replace(tmp, out)


def _diagnoses(adm: pd.DataFrame, st: pd.DataFrame, stay_adm: np.ndarray, pop: Population, seed: int,
               P: dict[str, Any]):
    """diagnoses_icd of kept admissions: ICU admissions from their first ICU stay's plan and
    covariates, other admissions from the patient's comorbidities plus random extra codes."""
    rng = _rng(seed, _STREAM["hosp/diagnoses_icd"])
    n = len(adm)
    flags: dict[str, np.ndarray] = {k: np.zeros(n, bool) for k in hosp_tables.CODES if k != "filler"}
    # the first kept stay of each admission carries the admission's codes
    first = np.zeros(n, bool)
    first_pos = np.full(n, -1)
    order = np.lexsort((st["intime"].to_numpy(), stay_adm))
    sa = stay_adm[order]
    lead = np.r_[True, sa[1:] != sa[:-1]][: sa.size]
    first_pos[sa[lead]] = order[lead]
    first[sa[lead]] = True
    icu_rows = np.flatnonzero(first)
    s = st.iloc[first_pos[icu_rows]]
    for k in ("copd", "aki", "heart_failure", "diabetes", "hypertension", "ckd", "liver_disease", "malignancy",
              "delirium"):
        flags[k][icu_rows] = s[k].to_numpy() == 1
    septic = s["mode"].to_numpy() == SEPTIC_MODE
    flags["sepsis"][icu_rows] = septic
    flags["severe_sepsis"][icu_rows] = septic & (s["vasopressor"].to_numpy() == 1)
    for name in EXCLUSIONS:
        flags[name][icu_rows] = s[f"excl_{name}"].to_numpy()
    # a planted stroke gets a stroke code; the neurological list's own code only where the plan drew one
    flags["neurological"][icu_rows] = s["neuro_code"].to_numpy()
    flags["ischaemic_stroke"][icu_rows] = s["stroke"].to_numpy()
    flags["cerebrovascular_no_infarction"][icu_rows] = s["stroke_decoy"].to_numpy()
    # other admissions: the patient's chronic conditions (from the first ICU stay, else drawn)
    other = np.flatnonzero(~first)
    pat = adm["patient"].to_numpy()[other]
    first_stay_of_patient = st[st["is_first"]]
    by_patient = first_stay_of_patient.set_index("patient")
    u = rng.random((8, other.size))
    for i, k in enumerate(("copd", "heart_failure", "diabetes", "hypertension", "ckd", "liver_disease",
                           "malignancy")):
        has = np.zeros(other.size, bool)
        known = np.isin(pat, by_patient.index.to_numpy())
        has[known] = by_patient.loc[pat[known], k].to_numpy() == 1
        prev = float(P["covariates"]["comorbidities"][k]["prevalence"])
        has[~known] = u[i, ~known] < prev
        flags[k][other] = has
    extra = rng.random((4, other.size))
    flags["sepsis"][other] = extra[0] < 0.03
    flags["delirium"][other] = extra[1] < 0.02
    flags["neurological"][other] = extra[2] < 0.02
    flags["psychiatric"][other] = extra[3] < 0.02
    n_filler = rng.integers(1, 6, n)
    icd9 = rng.random(n) < float(P["population"]["icd9_share"])
    picked: dict[str, np.ndarray] = {}
    table = hosp_tables.diagnoses_table(adm, flags, n_filler, icd9, rng, picked)
    return table, picked, icd9


def _stroke(adm: pd.DataFrame, picked: dict[str, np.ndarray], seed: int, P: dict[str, Any]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Per kept admission: acute ischaemic stroke (a planted ``ischaemic_stroke`` code, or a
    neurological code that is the stroke pair ICD-9 434.91 / ICD-10 I63.9) and, for a share
    ``plan.thrombectomy`` of the stroke ICU admissions (own random stream), a mechanical
    thrombectomy."""
    stroke = (picked["ischaemic_stroke"] >= 0) | (picked["neurological"] == hosp_tables.STROKE_PAIR)
    u = _rng(seed, _STREAM["hosp/procedures_icd"], 0).random(len(adm))
    return stroke, stroke & adm["is_icu"].to_numpy() & (u < float(P["plan"]["thrombectomy"]))
