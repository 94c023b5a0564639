"""When things happen during each ICU stay, and how many chartevents rows each stay gets.

The times below are what makes the emitted data meet the plan under mimic-code's definitions
(see synthetic_data/README.md, "Timing"). All are int64 seconds; charted times are whole
minutes. With ``m0`` = intime rounded up to the minute:

* vitals (HR, MAP + systolic/diastolic, RR, SpO2) hourly from ``m0 + 1..15 min``: exactly 24
  values fall in ``[intime, intime + 24 h]``; temperature with every 4th of them (6 values);
* GCS (eye, verbal, motor) every 4 h from ``m0 + 5..19 min``: the first set is the day's lowest
  and comes before any intubation; 6 sets in the first day;
* invasive ventilation charted every 2 h from ``m0 + 24..54 min`` for >= 30 h;
* first-day arterial blood gas at ``m0 + 60..150 min``; first-day labs ``0.5-4.5 h`` before intime;
* blood culture ``m0 + 15..90 min``; antibiotic at the next full hour >= culture + 15 min;
* vasopressor from ``m0 + 20..120 min`` for >= 6 h; CRRT from ``m0 + 2..10 h``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .population import HOUR, MINUTE, ceil_to

FOUR_H = 4 * HOUR


def _count(first: np.ndarray, last_ok: np.ndarray, every: int) -> np.ndarray:
    """Number of times ``first + k*every`` (k >= 0) that are <= ``last_ok``."""
    return np.where(last_ok >= first, (last_ok - first) // every + 1, 0).astype(np.int64)


def build_schedule(stays: pd.DataFrame, rng: np.random.Generator, params: Mapping[str, Any],
                   extra_chart_rows: np.ndarray | None = None) -> pd.DataFrame:
    """Per-stay event times and chartevents row counts (one row per stay, same order).

    ``extra_chart_rows``: per stay, chartevents rows written by another writer (the CAM-ICU
    assessments, :func:`icu_cohort.synth.icu_tables.cam_icu_plan`), counted among the study
    rows so that the filler still brings the total to ``chartevents.rows_per_stay``."""
    n = len(stays)
    intime = stays["intime"].to_numpy(np.int64)
    outtime = stays["outtime"].to_numpy(np.int64)
    vent = stays["mechanical_ventilation"].to_numpy() == 1
    rrt = stays["rrt"].to_numpy() == 1
    m0 = ceil_to(intime, MINUTE)
    last_ok = outtime - MINUTE                     # nothing is charted in the ICU's last minute

    def minutes(lo: int, hi: int) -> np.ndarray:
        return MINUTE * rng.integers(lo, hi + 1, n).astype(np.int64)

    s = pd.DataFrame(index=stays.index)
    s["m0"] = m0
    s["vitals_first"] = m0 + minutes(1, 15)
    s["n_vitals"] = _count(s["vitals_first"].to_numpy(), last_ok, HOUR)
    s["gcs_first"] = m0 + minutes(5, 19)
    s["n_gcs"] = _count(s["gcs_first"].to_numpy(), last_ok, FOUR_H)
    s["weight_time"] = m0 + minutes(20, 59)
    vent_start = m0 + minutes(24, 54)
    vent_dur = np.round(HOUR * rng.uniform(30.0, 120.0, n)).astype(np.int64) // MINUTE * MINUTE
    vent_end = np.minimum(vent_start + vent_dur, outtime - 30 * MINUTE)
    s["vent_start"] = np.where(vent, vent_start, -1)
    s["n_vent"] = np.where(vent, _count(vent_start, vent_end, 2 * HOUR), 0)
    # the ventilation event ends at the last ventilated row; an O2 row follows if there is time
    vent_last = vent_start + 2 * HOUR * np.maximum(s["n_vent"].to_numpy() - 1, 0)
    s["vent_end"] = np.where(vent, vent_last, -1)
    extub = vent_last + HOUR
    s["extubation_time"] = np.where(vent & (extub <= last_ok), extub, -1)
    o2_first = m0 + minutes(10, 40)
    s["o2_first"] = o2_first
    s["n_o2"] = np.where(vent, 0, _count(o2_first, last_ok, FOUR_H))
    rrt_start = m0 + minutes(120, 600)
    rrt_end = np.minimum(rrt_start + 72 * HOUR, last_ok)
    s["rrt_start"] = np.where(rrt, rrt_start, -1)
    s["rrt_end"] = np.where(rrt, rrt_end, -1)
    s["n_rrt"] = np.where(rrt, _count(rrt_start, rrt_end, FOUR_H), 0)
    s["bg_time"] = m0 + minutes(60, 150)
    s["lab_time"] = intime // MINUTE * MINUTE - minutes(30, 270)
    culture = m0 + minutes(15, 90)
    s["culture_time"] = culture
    s["abx_time"] = ceil_to(culture + 15 * MINUTE, HOUR)
    s["vaso_start"] = m0 + minutes(20, 120)
    s["uo_first"] = m0 + minutes(20, 59)
    s["n_uo"] = _count(s["uo_first"].to_numpy(), last_ok, HOUR)

    # chartevents rows of the study items, then filler rows to reach the target volume
    n_temp = (s["n_vitals"].to_numpy() + 3) // 4
    study = (6 * s["n_vitals"].to_numpy() + n_temp + 3 * s["n_gcs"].to_numpy() + 1
             + 4 * s["n_vent"].to_numpy() + (s["extubation_time"].to_numpy() > 0)
             + s["n_o2"].to_numpy() + 3 * s["n_rrt"].to_numpy())
    if extra_chart_rows is not None:
        study = study + np.asarray(extra_chart_rows, dtype=np.int64)
    s["n_study_chart"] = study
    target = int(round(float(params["chartevents"]["rows_per_stay"]) * n))
    filler_total = max(0, target - int(study.sum()))
    weight = (outtime - intime).astype(float)
    share = filler_total * weight / weight.sum() if n else weight
    fill = np.floor(share).astype(np.int64)
    rest = filler_total - int(fill.sum())
    if rest > 0:       # largest remainders first (deterministic tie-break by position)
        order = np.lexsort((np.arange(n), -(share - fill)))
        fill[order[:rest]] += 1
    s["n_filler"] = fill
    s["n_chart"] = study + fill
    return s
