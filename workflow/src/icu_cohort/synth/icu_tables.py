"""Event tables of ICU stays: chartevents, inputevents, outputevents, procedureevents, labevents.

Each ``*_chunk`` function turns a slice of stays (rows of the population's stay frame joined
with their schedule, see :mod:`.schedule`) into one Arrow table in the exact column order of
:data:`icu_cohort.mimic_tables.TABLES`. Values realise the stay-level draws of
:func:`icu_cohort.synth.dgp.simulate_core` exactly where the study measures them (first-day
labs, vitals means, lowest GCS, PaO2/FiO2, urine output, vasopressor rates, ventilation) and
vary freely elsewhere. Rows are built by expanding per-stay counts (``np.repeat``); nothing
loops over rows or stays in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import dgp
from .columns import Vocab, const, fixed_decimals, floats, ids_from_counter, ints, nulls, times
from .population import DAY, HOUR, MINUTE, NO_ABX, ceil_to, rank_in_segment
from .schedule import FOUR_H

# --------------------------------------------------------------------------------------
# Vocabularies
# --------------------------------------------------------------------------------------

#: Numeric chart values 0.0 .. 300.0 by tenths, formatted as Arrow/PhysioNet write doubles.
_NUM_MAX_TICKS = 3000
EYE = {4: "Spontaneously", 3: "To Speech", 2: "To Pain", 1: "None"}
VERBAL = {5: "Oriented", 4: "Confused", 3: "Inappropriate Words", 2: "Incomprehensible sounds",
          1: "No Response"}
VERBAL_ETT = "No Response-ETT"
MOTOR = {6: "Obeys Commands", 5: "Localizes Pain", 4: "Flex-withdraws", 3: "Abnormal Flexion",
         2: "Abnormal extension", 1: "No response"}
VENT_MODE_DAY1, VENT_MODE_LATER = "CMV/ASSIST/AutoFlow", "SIMV/PSV/AutoFlow"

#: Filler chartevents items: real MIMIC-IV itemids read by no study concept (alarm limits and
#: nursing documentation): (itemid, values, valueuom, relative frequency). Numeric values are
#: in units; text values are strings.
FILLER_ITEMS: tuple[tuple[int, tuple, str | None, float], ...] = (
    (220046, (120, 130, 140), "bpm", 0.13),             # Heart rate Alarm - High
    (220047, (50, 55, 60), "bpm", 0.13),                # Heart Rate Alarm - Low
    (223751, (160, 170, 180), "mmHg", 0.11),            # Non-Invasive Blood Pressure Alarm - High
    (223752, (85, 90, 100), "mmHg", 0.11),              # Non-Invasive Blood Pressure Alarm - Low
    (223769, (100,), "%", 0.10),                        # O2 Saturation Pulseoxymetry Alarm - High
    (223770, (88, 90, 92), "%", 0.10),                  # O2 Saturation Pulseoxymetry Alarm - Low
    (224161, (30, 35, 40), "insp/min", 0.09),           # Resp Alarm - High
    (224162, (6, 8, 10), "insp/min", 0.09),             # Resp Alarm - Low
    (224080, ("30 Degrees", "45 Degrees"), None, 0.05),  # Head of Bed
    (224082, ("Left", "Right", "Back"), None, 0.04),    # Turn
    (226168, ("Done",), None, 0.03),                    # Oral Care
    (224084, ("Bed rest", "Chair"), None, 0.02),        # Activity
)

#: CAM-ICU values as MetaVision charts them: each feature "Yes" / "No" / "Unable to Assess",
#: the overall "Delirium assessment" "Positive" / "Negative" / "UTA".
CAM_YES, CAM_NO, CAM_UNABLE = "Yes", "No", "Unable to Assess"
CAM_POSITIVE, CAM_NEGATIVE, CAM_UTA = "Positive", "Negative", "UTA"

_TEXTS = sorted({*EYE.values(), *VERBAL.values(), VERBAL_ETT, *MOTOR.values(), "Endotracheal tube",
                 CAM_YES, CAM_NO, CAM_UNABLE, CAM_POSITIVE, CAM_NEGATIVE, CAM_UTA,
                 "Nasal cannula", "None", VENT_MODE_DAY1, VENT_MODE_LATER, "CVVHDF",
                 *(v for _, vals, _, _ in FILLER_ITEMS for v in vals if isinstance(v, str))})


def _chart_vocab() -> Vocab:
    nums = pc.cast(pa.array(np.arange(_NUM_MAX_TICKS + 1) / 10.0), pa.string()).to_pylist()
    return Vocab(nums + _TEXTS)


CHART_VALUES = _chart_vocab()
_TEXT = {t: _NUM_MAX_TICKS + 1 + i for i, t in enumerate(_TEXTS)}
CHART_UOM = Vocab(["bpm", "mmHg", "insp/min", "%", "°C", "kg", "cmH2O", "mL/min", "mL/hr"])
_U = {u: CHART_UOM.code(u) for u in CHART_UOM.values}

# chartevents itemids
HR, ABP_S, ABP_D, ABP_M, NBP_S, NBP_D, NBP_M = 220045, 220050, 220051, 220052, 220179, 220180, 220181
RR, SPO2, TEMP_C = 220210, 220277, 223762
GCS_EYE, GCS_VERBAL, GCS_MOTOR = 220739, 223900, 223901
ADMIT_WT, O2_DEVICE, VENT_MODE, FIO2, PEEP = 226512, 226732, 223849, 223835, 220339
CRRT_MODE, BLOOD_FLOW, FLUID_REMOVAL = 227290, 224144, 224191
FOLEY = 226559

# --------------------------------------------------------------------------------------
# Series with exact sums
# --------------------------------------------------------------------------------------


def exact_series(rng: np.random.Generator, total: np.ndarray, n: int, lo: np.ndarray | int,
                 hi: np.ndarray | int, amp: int = 3) -> np.ndarray:
    """Integer matrix (len(total) x n): each row sums to ``total`` and stays within [lo, hi].

    Values are ``total // n`` or one more, plus zero-sum noise ``d_j - d_(j-1)`` with ``|d| <= a``,
    ``a`` reduced where needed to respect the bounds; columns are shuffled per row.
    """
    total = np.asarray(total, dtype=np.int64)
    m = total.size
    lo = np.broadcast_to(np.asarray(lo, dtype=np.int64), (m,))
    hi = np.broadcast_to(np.asarray(hi, dtype=np.int64), (m,))
    base, rem = np.divmod(total, n)
    vals = base[:, None] + (np.arange(n)[None, :] < rem[:, None])
    a = np.minimum(amp, np.minimum((base - lo) // 2, (hi - base - 1) // 2)).clip(min=0)
    d = np.floor(rng.random((m, n)) * (2 * a[:, None] + 1)).astype(np.int64) - a[:, None]
    vals = vals + d - np.roll(d, 1, axis=1)
    perm = np.argsort(rng.random((m, n)), axis=1)
    return np.take_along_axis(vals, perm, axis=1)


def series_with_min(rng: np.random.Generator, total: np.ndarray, vmin: np.ndarray, n: int,
                    hi: int) -> np.ndarray:
    """Like :func:`exact_series` with the row minimum equal to ``vmin`` (at a random column)."""
    total = np.asarray(total, dtype=np.int64)
    vmin = np.asarray(vmin, dtype=np.int64)
    m = total.size
    rest = exact_series(rng, total - vmin, n - 1, lo=vmin, hi=hi)
    pos = rng.integers(0, n, m)
    at = np.arange(n)[None, :] == pos[:, None]
    out = np.empty((m, n), dtype=np.int64)
    out[at] = vmin
    out[~at] = rest.ravel()
    return out


def _gcs_combos() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (eye, verbal, motor) sorted by total, with per-total counts and offsets (index = total)."""
    e, v, m = np.meshgrid(np.arange(1, 5), np.arange(1, 6), np.arange(1, 7), indexing="ij")
    combos = np.stack([e.ravel(), v.ravel(), m.ravel()], axis=1)
    combos = combos[np.argsort(combos.sum(axis=1), kind="stable")]
    counts = np.bincount(combos.sum(axis=1), minlength=16)
    return combos, counts, np.concatenate([[0], np.cumsum(counts)[:-1]])


_COMBOS, _COMBO_COUNT, _COMBO_START = _gcs_combos()


def gcs_components(rng: np.random.Generator, total: np.ndarray) -> np.ndarray:
    """A random (eye, verbal, motor) decomposition of each GCS ``total`` (3..15); shape (n, 3)."""
    total = np.asarray(total, dtype=np.int64)
    pick = _COMBO_START[total] + np.floor(rng.random(total.size) * _COMBO_COUNT[total]).astype(np.int64)
    return _COMBOS[pick]


# --------------------------------------------------------------------------------------
# Row assembly helpers
# --------------------------------------------------------------------------------------

def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(stay index, k) for ``counts[i]`` rows of stay i, k = 0..counts[i]-1."""
    counts = np.asarray(counts, dtype=np.int64)
    return np.repeat(np.arange(counts.size), counts), rank_in_segment(counts)


class _Rows:
    """Accumulates chartevents-like rows as parallel numpy arrays."""

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {}

    def add(self, **cols: np.ndarray) -> None:
        n = len(cols["stay"])
        for key, val in cols.items():
            arr = np.broadcast_to(np.asarray(val), (n,)) if np.ndim(val) == 0 else np.asarray(val)
            self.parts.setdefault(key, []).append(arr)

    def get(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in self.parts.items()}


def _ids(stays: pd.DataFrame, stay: np.ndarray) -> list[pa.Array]:
    return [ints(stays["subject_id"].to_numpy()[stay]), ints(stays["hadm_id"].to_numpy()[stay]),
            ints(stays["stay_id"].to_numpy()[stay])]


# --------------------------------------------------------------------------------------
# chartevents
# --------------------------------------------------------------------------------------

def chartevents_chunk(st: pd.DataFrame, rng: np.random.Generator, caregivers: np.ndarray,
                      doses: Mapping[str, np.ndarray] | None = None,
                      map_response: Mapping[str, Any] | None = None) -> pa.Table:
    """chartevents rows of the stays in ``st`` (population stay rows joined with the schedule).

    ``doses`` (:func:`timevarying_mgso4_doses`, ``stay`` indexing rows of ``st``) and
    ``map_response`` (params ``response.map``): hourly MAP values charted in [dose start, dose
    start + hours) of any dose are lower by drop_mmhg (floor 35, 72 for SOFA-0 stays); SBP and
    DBP follow. Uses no random numbers, so the other values are those without the response.
    """
    n = len(st)
    R = _Rows()
    normal = st["_physiology"].to_numpy() == dgp.NORMAL
    vent = st["mechanical_ventilation"].to_numpy() == 1
    arterial = vent | (st["vasopressor"].to_numpy() == 1)

    # ---- vitals: first-day values with exact totals, later values around them -----------
    nv = st["n_vitals"].to_numpy()
    hr1 = exact_series(rng, st["_hr_total"].to_numpy(), 24, 30, 250)
    rr1 = exact_series(rng, st["_rr_total"].to_numpy(), 24, 4, 60)
    sp1 = exact_series(rng, st["_spo2_total"].to_numpy(), 24, 70, 100, amp=1)
    map1 = series_with_min(rng, st["_map_total"].to_numpy(), st["_map_min"].to_numpy(), 24, 180)
    stay, k = _expand(nv)
    day1 = k < 24
    kk = np.minimum(k, 23)
    later_noise = rng.standard_normal((4, stay.size))
    map_floor = np.where(normal[stay], 72, 35)

    def series(first: np.ndarray, total: np.ndarray, noise: np.ndarray, sd: float, lo, hi) -> np.ndarray:
        """First-day values from ``first``; later hours around the first-day mean."""
        v = np.clip(np.round(total[stay] / 24.0 + sd * noise), lo, hi)
        return np.where(day1, first[stay, kk], v).astype(np.int64)

    hr = series(hr1, st["_hr_total"].to_numpy(), later_noise[0], 8.0, 35, 200)
    mp = series(map1, st["_map_total"].to_numpy(), later_noise[1], 6.0, map_floor, 160)
    t = st["vitals_first"].to_numpy()[stay] + k * HOUR
    if doses is not None and map_response is not None and float(map_response["drop_mmhg"]) > 0:
        j = _last_dose_index(doses, stay, t)
        hit = (j >= 0) & (t - doses["start"][np.maximum(j, 0)] < float(map_response["hours"]) * HOUR)
        drop = int(round(float(map_response["drop_mmhg"])))
        mp = np.where(hit, np.maximum(mp - drop, map_floor), mp)
    rr = series(rr1, st["_rr_total"].to_numpy(), later_noise[2], 3.0, 6, 45)
    sp = series(sp1, st["_spo2_total"].to_numpy(), later_noise[3], 1.2, 85, 100)
    sbp = mp + rng.integers(15, 36, stay.size)
    dbp = np.round((3 * mp - sbp) / 2.0).astype(np.int64)
    art = arterial[stay]
    for item_a, item_n, val, uom in ((ABP_M, NBP_M, mp, "mmHg"), (ABP_S, NBP_S, sbp, "mmHg"),
                                     (ABP_D, NBP_D, dbp, "mmHg")):
        R.add(stay=stay, t=t, item=np.where(art, item_a, item_n), val=val * 10, num=val * 10, uom=_U[uom])
    for item, val, uom in ((HR, hr, "bpm"), (RR, rr, "insp/min"), (SPO2, sp, "%")):
        R.add(stay=stay, t=t, item=item, val=val * 10, num=val * 10, uom=_U[uom])

    # temperature (tenths of deg C) with every 4th vital: 6 first-day values, exact total
    nt = (nv + 3) // 4
    tstay, j = _expand(nt)
    temp1 = exact_series(rng, st["_temp_total"].to_numpy(), 6, 345, 420, amp=2)
    tl = np.round(st["_temp_total"].to_numpy()[tstay] / 6.0 + 3.0 * rng.standard_normal(tstay.size))
    temp = np.where(j < 6, temp1[tstay, np.minimum(j, 5)], np.clip(tl, 350, 405)).astype(np.int64)
    R.add(stay=tstay, t=st["vitals_first"].to_numpy()[tstay] + j * FOUR_H, item=TEMP_C, val=temp,
          num=temp, uom=_U["°C"])

    # ---- GCS every 4 h: the first set is the first day's lowest ---------------------------
    ng = st["n_gcs"].to_numpy()
    gstay, j = _expand(ng)
    gmin = st["gcs_min"].to_numpy()[gstay]
    headroom = 15 - gmin
    total = np.where(j == 0, gmin,
                     np.where(j < 6, gmin + rng.binomial(headroom, 0.35),
                              gmin + rng.binomial(headroom, 0.7)))
    gt = st["gcs_first"].to_numpy()[gstay] + j * FOUR_H
    comp = gcs_components(rng, total)
    vent_start = st["vent_start"].to_numpy()[gstay]
    vent_end = st["vent_end"].to_numpy()[gstay]
    ett = vent[gstay] & (gt >= vent_start) & (gt <= vent_end)
    eye_txt = np.array([0] + [_TEXT[EYE[i]] for i in range(1, 5)])
    verb_txt = np.array([0] + [_TEXT[VERBAL[i]] for i in range(1, 6)])
    mot_txt = np.array([0] + [_TEXT[MOTOR[i]] for i in range(1, 7)])
    none_uom = -1
    R.add(stay=gstay, t=gt, item=GCS_EYE, val=eye_txt[comp[:, 0]], num=comp[:, 0] * 10, uom=none_uom)
    R.add(stay=gstay, t=gt, item=GCS_VERBAL, val=np.where(ett, _TEXT[VERBAL_ETT], verb_txt[comp[:, 1]]),
          num=np.where(ett, 10, comp[:, 1] * 10), uom=none_uom)
    R.add(stay=gstay, t=gt, item=GCS_MOTOR, val=mot_txt[comp[:, 2]], num=comp[:, 2] * 10, uom=none_uom)

    # ---- admission weight ------------------------------------------------------------------
    idx = np.arange(n)
    wt = np.round(st["weight"].to_numpy() * 10).astype(np.int64)
    R.add(stay=idx, t=st["weight_time"].to_numpy(), item=ADMIT_WT, val=np.minimum(wt, _NUM_MAX_TICKS),
          num=wt, uom=_U["kg"])

    # ---- invasive ventilation every 2 h, then one O2-device row; O2 device every 4 h otherwise
    vstay, j = _expand(st["n_vent"].to_numpy())
    vt = st["vent_start"].to_numpy()[vstay] + j * 2 * HOUR
    first_day = vt < st["intime"].to_numpy()[vstay] + DAY
    fio2 = np.where(first_day, st["_fio2"].to_numpy()[vstay], rng.choice([30, 35, 40, 50], vstay.size))
    peep = rng.integers(5, 13, vstay.size)
    R.add(stay=vstay, t=vt, item=O2_DEVICE, val=_TEXT["Endotracheal tube"], num=-1, uom=none_uom)
    R.add(stay=vstay, t=vt, item=VENT_MODE, val=np.where(first_day, _TEXT[VENT_MODE_DAY1], _TEXT[VENT_MODE_LATER]),
          num=-1, uom=none_uom)
    R.add(stay=vstay, t=vt, item=FIO2, val=fio2 * 10, num=fio2 * 10, uom=_U["%"])
    R.add(stay=vstay, t=vt, item=PEEP, val=peep * 10, num=peep * 10, uom=_U["cmH2O"])
    ext = st["extubation_time"].to_numpy()
    es = np.flatnonzero(ext > 0)
    R.add(stay=es, t=ext[es], item=O2_DEVICE, val=_TEXT["Nasal cannula"], num=-1, uom=none_uom)
    ostay, j = _expand(st["n_o2"].to_numpy())
    device = np.where((rng.random(n) < 0.6)[ostay], _TEXT["Nasal cannula"], _TEXT["None"])
    R.add(stay=ostay, t=st["o2_first"].to_numpy()[ostay] + j * FOUR_H, item=O2_DEVICE, val=device,
          num=-1, uom=none_uom)

    # ---- CRRT every 4 h ---------------------------------------------------------------------
    cstay, j = _expand(st["n_rrt"].to_numpy())
    ct = st["rrt_start"].to_numpy()[cstay] + j * FOUR_H
    flow = rng.integers(15, 26, cstay.size) * 10
    removal = rng.integers(0, 21, cstay.size) * 10
    R.add(stay=cstay, t=ct, item=CRRT_MODE, val=_TEXT["CVVHDF"], num=-1, uom=none_uom)
    R.add(stay=cstay, t=ct, item=BLOOD_FLOW, val=flow * 10, num=flow * 10, uom=_U["mL/min"])
    R.add(stay=cstay, t=ct, item=FLUID_REMOVAL, val=removal * 10, num=removal * 10, uom=_U["mL/hr"])

    # ---- filler: alarm limits and nursing items at random minutes of the stay ------------
    fstay, _ = _expand(st["n_filler"].to_numpy())
    if fstay.size:
        lo = st["m0"].to_numpy()[fstay]
        span = (st["outtime"].to_numpy()[fstay] - 60 - lo) // MINUTE
        ft = lo + MINUTE * np.floor(rng.random(fstay.size) * (span + 1)).astype(np.int64)
        weights = np.array([w for *_, w in FILLER_ITEMS])
        which = np.searchsorted(np.cumsum(weights / weights.sum()), rng.random(fstay.size), side="right")
        which = which.clip(0, len(FILLER_ITEMS) - 1)
        nvals = np.array([len(v) for _, v, _, _ in FILLER_ITEMS])
        pick = np.floor(rng.random(fstay.size) * nvals[which]).astype(np.int64)
        width = nvals.max()
        val_tab = np.full((len(FILLER_ITEMS), width), -1, np.int64)
        num_tab = np.full((len(FILLER_ITEMS), width), -1, np.int64)
        for i, (_, vals, _, _) in enumerate(FILLER_ITEMS):      # a dozen table entries, not rows
            for jj, v in enumerate(vals):
                if isinstance(v, str):
                    val_tab[i, jj] = _TEXT[v]
                else:
                    val_tab[i, jj] = num_tab[i, jj] = int(v) * 10
        uoms = np.array([_U[u] if u else -1 for _, _, u, _ in FILLER_ITEMS])
        items = np.array([it for it, *_ in FILLER_ITEMS])
        R.add(stay=fstay, t=ft, item=items[which], val=val_tab[which, pick], num=num_tab[which, pick],
              uom=uoms[which])

    rows = R.get()
    order = np.lexsort((rows["t"], rows["stay"]))      # by stay, then time (compresses better)
    rows = {k: v[order] for k, v in rows.items()}
    stay = rows["stay"]
    nrow = stay.size
    num = rows["num"]
    store = rows["t"] + MINUTE * rng.integers(0, 30, nrow)
    cols = _ids(st, stay) + [
        ints(caregivers[rng.integers(0, caregivers.size, nrow)]),
        times(rows["t"]), times(store), ints(rows["item"]),
        CHART_VALUES.column(rows["val"]),
        floats(num / 10.0, mask=num < 0),
        CHART_UOM.column(np.maximum(rows["uom"], 0), mask=rows["uom"] < 0),
        ints(np.zeros(nrow, np.int8), mask=num < 0),
    ]
    return pa.Table.from_arrays(cols, names=CHART_COLUMNS)


CHART_COLUMNS = ["subject_id", "hadm_id", "stay_id", "caregiver_id", "charttime", "storetime",
                 "itemid", "value", "valuenum", "valueuom", "warning"]

# --------------------------------------------------------------------------------------
# CAM-ICU assessments (chartevents)
# --------------------------------------------------------------------------------------

#: The CAM-ICU feature itemids of MIMIC-IV v2.2 icu.d_items (category Pain/Sedation, Text), one
#: tuple per MetaVision form version, in feature order: 1 "MS change", 2 "Inattention",
#: 3 "RASS LOC" / "Altered LOC", 4 "Disorganized thinking" (the third version has no own
#: feature-3 item; it is written with 228334 "CAM-ICU Altered LOC").
CAM_FORMS = ((228300, 228301, 228302, 228303), (228337, 228336, 228334, 228335), (229326, 229325, 228334, 229324))
#: 228332 "Delirium assessment": the overall result.
DELIRIUM_ASSESSMENT = 228332

#: How the synthetic stays are assessed (a module constant, not a study parameter: no study
#: result depends on it unless the study reads CAM-ICU; ground_truth.json records it).
#: Assessments once a nursing shift (every 12 h, +-30 min) from intime + 2..10 h until 1 h
#: before outtime, at most ``max_assessments``. A stay is CAM-ICU positive with probability
#: ``p_positive`` by what else it has: a delirium code, else a first-day GCS < 15, else neither
#: (delirium missed by the codes and the GCS: the stays the CAM-ICU option adds to a cohort).
#: Its first positive assessment (the onset) is one of the first ``onset_within``; later ones
#: are positive with ``p_positive_after_onset`` (a fluctuating course); every other assessment
#: is negative, or not assessable with ``p_unable``. Each assessment is charted as the four
#: features, the overall item, or both (``encoding``), in one of the three form versions.
CAM_ICU: dict[str, Any] = {
    "interval_hours": 12, "first_hours": [2, 10], "max_assessments": 14,
    "p_positive": {"delirium_code": 0.7, "low_gcs": 0.35, "neither": 0.4},
    "onset_within": 6, "p_positive_after_onset": 0.7, "p_unable": 0.15,
    "encoding": {"features": 0.6, "overall": 0.15, "both": 0.25},
}

_POS, _NEG, _UNABLE = 1, 0, 2


def cam_icu_plan(st: pd.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every CAM-ICU assessment of the stays in ``st`` and the rows that chart it.

    Returns arrays per assessment (``stay``: row of ``st``, ``t``: charttime in int64 seconds,
    ``status``: 1 positive / 0 negative / 2 not assessable, ``form``, ``encoding``: 0 features,
    1 overall, 2 both, ``pattern``, ``delay``: minutes to storetime, ``caregiver``: index into
    the caregiver pool) plus per stay ``rows`` (chartevents rows) and ``first_positive`` (the
    onset's charttime, -1 if the stay is never positive): the ground truth the SQL must find.
    """
    C = CAM_ICU
    n = len(st)
    intime = st["intime"].to_numpy(np.int64)
    outtime = st["outtime"].to_numpy(np.int64)
    every = int(C["interval_hours"]) * HOUR
    lo, hi = (int(h) * 60 for h in C["first_hours"])
    first = ceil_to(intime, MINUTE) + MINUTE * rng.integers(lo, hi + 1, n)
    last_ok = outtime - HOUR
    count = np.where(last_ok >= first, (last_ok - first) // every + 1, 0)
    count = np.minimum(count, int(C["max_assessments"])).astype(np.int64)
    p = C["p_positive"]
    code, low = st["delirium"].to_numpy() == 1, st["gcs_low"].to_numpy().astype(bool)
    positive = (rng.random(n) < np.where(code, p["delirium_code"], np.where(low, p["low_gcs"], p["neither"]))) \
        & (count > 0)
    onset = np.floor(rng.random(n) * np.minimum(np.maximum(count, 1), int(C["onset_within"]))).astype(np.int64)
    stay, k = _expand(count)
    m = stay.size
    jitter = MINUTE * rng.integers(-30, 31, m)
    t = first[stay] + k * every + np.where(k > 0, jitter, 0)      # the first stays >= 2 h after intime
    after = rng.random(m) < float(C["p_positive_after_onset"])
    is_pos = positive[stay] & ((k == onset[stay]) | ((k > onset[stay]) & after))
    unable = rng.random(m) < float(C["p_unable"])
    status = np.where(is_pos, _POS, np.where(unable, _UNABLE, _NEG)).astype(np.int8)
    enc = C["encoding"]
    encoding = np.searchsorted(np.cumsum([enc["features"], enc["overall"], enc["both"]]), rng.random(m) * sum(enc.values()),
                               side="right").clip(0, 2).astype(np.int8)
    form = rng.integers(0, len(CAM_FORMS), m).astype(np.int8)
    pattern = rng.integers(0, 3, m).astype(np.int8)
    delay = rng.integers(0, 16, m)
    caregiver = rng.integers(0, 1 << 30, m)
    values = _cam_feature_values(status, pattern)
    features = (encoding != 1)[:, None] & (values >= 0)
    rows = np.bincount(stay, weights=features.sum(axis=1) + (encoding != 0), minlength=n).astype(np.int64)
    first_positive = np.full(n, -1, np.int64)
    j = np.flatnonzero(is_pos & (k == onset[stay]))          # one per positive stay: its onset
    first_positive[stay[j]] = t[j]
    return {"stay": stay, "t": t, "status": status, "form": form, "encoding": encoding, "pattern": pattern,
            "delay": delay, "caregiver": caregiver, "rows": rows, "first_positive": first_positive}


def _cam_feature_values(status: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Per assessment the text codes of features 1-4 (-1: not charted). Positive: 1 and 2 Yes,
    3 and/or 4 Yes (pattern: 3 only, 4 only, both); negative: stops at the first absent
    feature (pattern: 1 No; 1 Yes 2 No; 1 2 Yes, 3 4 No); not assessable: 1 "Unable to Assess"."""
    yes, no, unable = _TEXT[CAM_YES], _TEXT[CAM_NO], _TEXT[CAM_UNABLE]
    out = np.full((status.size, 4), -1, np.int64)
    pos, neg, una = status == _POS, status == _NEG, status == _UNABLE
    out[pos, 0] = out[pos, 1] = yes
    out[pos, 2] = np.where(pattern[pos] == 1, no, yes)
    out[pos, 3] = np.where(pattern[pos] == 0, no, yes)
    out[neg, 0] = np.where(pattern[neg] == 0, no, yes)
    out[neg & (pattern >= 1), 1] = np.where(pattern[neg & (pattern >= 1)] == 1, no, yes)
    out[neg & (pattern == 2), 2] = out[neg & (pattern == 2), 3] = no
    out[una, 0] = unable
    return out


def cam_icu_table(st: pd.DataFrame, plan: Mapping[str, np.ndarray], a: int, b: int,
                  caregivers: np.ndarray) -> pa.Table:
    """The chartevents rows of the CAM-ICU assessments of stays ``a`` .. ``b - 1`` of the plan
    (:func:`cam_icu_plan` over the whole stay frame; ``st``: those stays' rows), by stay and
    time, text values only (valuenum, valueuom and warning empty, as MetaVision's Text items)."""
    sel = (plan["stay"] >= a) & (plan["stay"] < b)
    g = {k: v[sel] for k, v in plan.items() if k not in ("rows", "first_positive")}
    g["stay"] = g["stay"] - a
    values = _cam_feature_values(g["status"], g["pattern"])
    forms = np.array(CAM_FORMS)
    R = _Rows()
    for f in range(4):
        keep = (g["encoding"] != 1) & (values[:, f] >= 0)
        R.add(stay=g["stay"][keep], t=g["t"][keep], item=forms[g["form"][keep], f], val=values[keep, f],
              delay=g["delay"][keep], cg=g["caregiver"][keep])
    keep = g["encoding"] != 0
    overall = np.array([_TEXT[CAM_NEGATIVE], _TEXT[CAM_POSITIVE], _TEXT[CAM_UTA]])[g["status"][keep]]
    R.add(stay=g["stay"][keep], t=g["t"][keep], item=np.full(int(keep.sum()), DELIRIUM_ASSESSMENT), val=overall,
          delay=g["delay"][keep], cg=g["caregiver"][keep])
    rows = R.get()
    order = np.lexsort((rows["item"], rows["t"], rows["stay"]))
    rows = {k: v[order] for k, v in rows.items()}
    nrow = rows["stay"].size
    empty = np.ones(nrow, bool)
    cols = _ids(st, rows["stay"]) + [
        ints(caregivers[rows["cg"] % caregivers.size]),
        times(rows["t"]), times(rows["t"] + MINUTE * rows["delay"]), ints(rows["item"]),
        CHART_VALUES.column(rows["val"]),
        floats(np.zeros(nrow), mask=empty),
        CHART_UOM.column(np.zeros(nrow, np.int64), mask=empty),
        ints(np.zeros(nrow, np.int8), mask=empty),
    ]
    return pa.Table.from_arrays(cols, names=CHART_COLUMNS)


# --------------------------------------------------------------------------------------
# outputevents (urine output)
# --------------------------------------------------------------------------------------

OUTPUT_COLUMNS = ["subject_id", "hadm_id", "stay_id", "caregiver_id", "charttime", "storetime",
                  "itemid", "value", "valueuom"]


def outputevents_chunk(st: pd.DataFrame, rng: np.random.Generator, caregivers: np.ndarray) -> pa.Table:
    """Hourly Foley output; the 24 first-day values sum exactly to the stay's ``_uo_day1``."""
    floor = st["_uo_floor"].to_numpy().astype(np.int64)
    total = st["_uo_day1"].to_numpy().astype(np.int64)
    day1 = exact_series(rng, total, 24, floor, 2000, amp=8)
    stay, k = _expand(st["n_uo"].to_numpy())
    mean = total[stay] / 24.0
    later = np.maximum(np.round(mean * np.exp(0.35 * rng.standard_normal(stay.size))), floor[stay])
    vol = np.where(k < 24, day1[stay, np.minimum(k, 23)], later).astype(np.int64)
    t = st["uo_first"].to_numpy()[stay] + k * HOUR
    cols = _ids(st, stay) + [
        ints(caregivers[rng.integers(0, caregivers.size, stay.size)]), times(t),
        times(t + MINUTE * rng.integers(0, 20, stay.size)), ints(np.full(stay.size, FOLEY)),
        floats(vol.astype(float)), const("ml", stay.size),
    ]
    return pa.Table.from_arrays(cols, names=OUTPUT_COLUMNS)


# --------------------------------------------------------------------------------------
# inputevents
# --------------------------------------------------------------------------------------

INPUT_COLUMNS = ["subject_id", "hadm_id", "stay_id", "caregiver_id", "starttime", "endtime",
                 "storetime", "itemid", "amount", "amountuom", "rate", "rateuom", "orderid",
                 "linkorderid", "ordercategoryname", "secondaryordercategoryname",
                 "ordercomponenttypedescription", "ordercategorydescription", "patientweight",
                 "totalamount", "totalamountuom", "isopenbag", "continueinnextdept",
                 "statusdescription", "originalamount", "originalrate"]

MGSO4_GRAMS, MGSO4_BOLUS_ML = 222011, 227523
VASO_ITEM = {"norepinephrine": 221906, "epinephrine": 221289, "dopamine": 221662,
             "phenylephrine": 221749, "vasopressin": 222315}
NACL, VANCO_IV = 225158, 225798
_IN_AMOUNT_UOM = Vocab(["grams", "ml", "mg", "units", "dose"])
_IN_RATE_UOM = Vocab(["mL/hour", "mcg/kg/min", "units/hour"])
_IN_CAT = Vocab(["02-Fluids (Crystalloids)", "01-Drips", "08-Antibiotics (IV)"])
_IN_SECCAT = Vocab(["Additive (Crystalloid)", "02-Fluids (Crystalloids)"])
#: MIMIC pads this description (two fixed-width 50-character fields).
_ADDITIVE = "Additives".ljust(50) + "Ampoule".ljust(50)
_IN_COMP = Vocab([_ADDITIVE, "Main order parameter"])
_IN_CATDESC = Vocab(["Continuous IV", "Continuous Med", "Drug Push"])
_IN_STATUS = Vocab(["FinishedRunning", "ChangeDose/Rate"])
#: float32 artefacts of MetaVision's stored amounts (2 g -> 2.0000001043081284, 50 mL -> 49.999998807907104)
_GRAM_ARTEFACT, _ML_ARTEFACT = 1.0000000521540642, 0.99999997615814208


def _f32(x: np.ndarray) -> np.ndarray:
    """Values as MetaVision stores them (float32, printed as float64)."""
    return np.asarray(x, dtype=np.float32).astype(np.float64)


#: Doses per IV magnesium sulfate series at most (first + extra).
_MAX_MGSO4_DOSES = 8


def mgso4_doses(first: np.ndarray, outtime: np.ndarray, rng: np.random.Generator, M: Mapping[str, Any], *,
                keep_first: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dose series of IV magnesium sulfate starting at ``first`` (one series per element).

    Further doses (Poisson(``mgso4_extra_doses_mean``)) follow 4-24 h apart (start to start); a
    dose is kept only when it ends >= 10 min before ``outtime`` (ICU discharge or death).
    ``keep_first=True`` always keeps the first dose (baseline treated stays, whose first dose is
    placed to fit); otherwise it obeys the same rule, and a series whose first dose does not fit
    has no dose at all. Returns (series index, start, duration, grams) per dose, by series then time.
    """
    k, max_doses = first.size, _MAX_MGSO4_DOSES
    grams_opts = np.array([float(g) for g in M["mgso4_dose_grams"]])
    grams_p = np.array([float(p) for p in M["mgso4_dose_grams"].values()])
    g = grams_opts[np.searchsorted(np.cumsum(grams_p / grams_p.sum()),
                                   rng.random((k, max_doses)), side="right").clip(0, grams_opts.size - 1)]
    dur = np.where(g > 2, 2 * HOUR, HOUR)
    gaps = np.round(HOUR * rng.uniform(3.0, 22.0, (k, max_doses))).astype(np.int64) // MINUTE * MINUTE
    starts = first[:, None] + np.cumsum(np.concatenate([np.zeros((k, 1), np.int64),
                                                        (dur + gaps)[:, :-1]], axis=1), axis=1)
    n_extra = rng.poisson(float(M["mgso4_extra_doses_mean"]), k)
    keep = (np.arange(max_doses)[None, :] <= n_extra[:, None]) & (starts + dur <= outtime[:, None] - 10 * MINUTE)
    if keep_first:
        keep[:, 0] = True
    ds, dj = np.nonzero(keep)
    return ds, starts[ds, dj], dur[ds, dj], g[ds, dj]


def _add_mgso4_rows(R: "_Rows", stay: np.ndarray, start: np.ndarray, dur: np.ndarray, grams: np.ndarray,
                    order: np.ndarray) -> None:
    """Two rows per dose, same order: 222011 in grams (no rate) and 227523 in mL at 50-100 mL/h."""
    vol = np.where(grams > 2, 100.0, 50.0)
    common = dict(stay=stay, start=start, end=start + dur, order=order, link=order,
                  cat=_IN_CAT.code("02-Fluids (Crystalloids)"),
                  seccat=_IN_SECCAT.code("Additive (Crystalloid)"),
                  catdesc=_IN_CATDESC.code("Continuous IV"), total=vol, openbag=0,
                  status=_IN_STATUS.code("FinishedRunning"))
    R.add(item=MGSO4_GRAMS, amount=grams * _GRAM_ARTEFACT, amountuom=_IN_AMOUNT_UOM.code("grams"),
          rate=np.nan, rateuom=-1, comp=_IN_COMP.code(_ADDITIVE), origamount=grams,
          origrate=_f32(grams / (dur / MINUTE)), **common)
    R.add(item=MGSO4_BOLUS_ML, amount=vol * _ML_ARTEFACT, amountuom=_IN_AMOUNT_UOM.code("ml"),
          rate=vol / (dur / HOUR), rateuom=_IN_RATE_UOM.code("mL/hour"),
          comp=_IN_COMP.code("Main order parameter"), origamount=vol,
          origrate=vol / (dur / HOUR), **common)


#: Order counters of late doses start here (ids_from_counter is a bijection below 98,999,989), far
#: above the counters of the other inputevents rows, so adding late doses changes no other orderid.
LATE_ORDER_BASE = 90_000_000


def late_mgso4_doses(st: pd.DataFrame, rng: np.random.Generator, params: Mapping[str, Any],
                     n_caregivers: int) -> dict[str, np.ndarray]:
    """Late first IV magnesium sulfate doses of eligible stays untreated at baseline (``late_dose``).

    Each eligible stay with ``treated == 0`` is picked with probability ``late_dose.share`` and
    gets a first-dose time uniform over the whole minutes of [intime + min_hours, intime +
    max_hours]; the dose series (as for treated stays) is written only while the patient is
    alive and in the ICU (each dose ends >= 10 min before outtime, which is the death time for
    ICU deaths), so a picked stay discharged or dead before then gets no late dose. All draws
    come from ``rng`` (a stream of their own, over all stays at once): the rest of the data set
    is the same with or without late doses. The doses change no outcome.

    Returns per dose (sorted by stay, then time): ``stay`` (row of ``st``), ``start``, ``dur``,
    ``grams``, ``order`` (order counter); for its two rows (222011, 227523), arrays of shape
    (2, doses): ``caregiver`` (index into the caregiver pool) and ``store`` (storetime -
    starttime, seconds); and per stay ``first`` (first late dose start, -1 if none).
    """
    L = params["late_dose"]
    n = len(st)
    intime, outtime = st["intime"].to_numpy(np.int64), st["outtime"].to_numpy(np.int64)
    u = rng.random((2, n))
    cand = np.flatnonzero(st["eligible"].to_numpy() & (st["treated"].to_numpy() == 0)
                          & (u[0] < float(L["share"])))
    lo = ceil_to(intime[cand] + int(np.ceil(HOUR * float(L["min_hours"]))), MINUTE)
    hi = intime[cand] + int(np.floor(HOUR * float(L["max_hours"])))
    n_min = np.maximum((hi - lo) // MINUTE, 0)
    first = lo + MINUTE * np.floor(u[1][cand] * (n_min + 1)).astype(np.int64)
    ds, start, dur, grams = mgso4_doses(first, outtime[cand], rng, params["medication"], keep_first=False)
    stay = cand[ds]
    first_at = np.full(n, -1, np.int64)
    lead = np.r_[True, stay[1:] != stay[:-1]] if stay.size else np.zeros(0, bool)
    first_at[stay[lead]] = start[lead]
    return {"stay": stay, "start": start, "dur": dur, "grams": grams,
            "order": LATE_ORDER_BASE + np.arange(stay.size, dtype=np.int64),
            "caregiver": rng.integers(0, n_caregivers, (2, stay.size)),
            "store": MINUTE * rng.integers(0, 30, (2, stay.size)), "first": first_at}


def timevarying_mgso4_doses(st: pd.DataFrame, rng: np.random.Generator, params: Mapping[str, Any],
                            n_caregivers: int) -> dict[str, np.ndarray]:
    """IV magnesium sulfate dose series of the time-varying DGP (``dgp="timevarying"``).

    Each stay with ``_first_dose >= 0`` (the natural course's first dose, a whole minute, see
    :mod:`icu_cohort.synth.timevarying`) gets a series from there as :func:`mgso4_doses` draws it
    (further doses 4-24 h apart, each kept only when it ends >= 10 min before outtime); the first
    dose always, cut short at outtime when the patient dies during it. Each dose raises serum
    magnesium by ``rise`` = U(response.magnesium.rise_min, rise_max) * grams / 2 mg/dL. Same
    layout as :func:`late_mgso4_doses` (plus ``rise``), from a stream of its own.
    """
    n = len(st)
    outtime = st["outtime"].to_numpy(np.int64)
    first_all = st["_first_dose"].to_numpy(np.int64)
    cand = np.flatnonzero(first_all >= 0)
    ds, start, dur, grams = mgso4_doses(first_all[cand], outtime[cand], rng, params["medication"], keep_first=True)
    stay = cand[ds]
    dur = np.minimum(dur, outtime[stay] - start)           # a death during the first infusion ends it
    R = params["response"]["magnesium"]
    rise = rng.uniform(float(R["rise_min"]), float(R["rise_max"]), stay.size) * grams / 2.0
    first_at = np.full(n, -1, np.int64)
    lead = np.r_[True, stay[1:] != stay[:-1]] if stay.size else np.zeros(0, bool)
    first_at[stay[lead]] = start[lead]
    return {"stay": stay, "start": start, "dur": dur, "grams": grams, "rise": rise,
            "order": LATE_ORDER_BASE + np.arange(stay.size, dtype=np.int64),
            "caregiver": rng.integers(0, n_caregivers, (2, stay.size)),
            "store": MINUTE * rng.integers(0, 30, (2, stay.size)), "first": first_at}


def _last_dose_index(doses: Mapping[str, np.ndarray], stay: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per row (stay, t): index of the stay's last dose starting at or before t, or -1."""
    if doses["stay"].size == 0:
        return np.full(stay.size, -1, np.int64)
    shift = np.int64(1) << np.int64(36)                   # times < 2^36 s (year 4147)
    key_d = doses["stay"].astype(np.int64) * shift + doses["start"].astype(np.int64)
    key_r = stay.astype(np.int64) * shift + t.astype(np.int64)
    idx = np.searchsorted(key_d, key_r, side="right") - 1
    ok = (idx >= 0) & (doses["stay"][np.maximum(idx, 0)] == stay)
    return np.where(ok, idx, -1)


def magnesium_rise(doses: Mapping[str, np.ndarray], stay: np.ndarray, t: np.ndarray,
                   half_life_hours: float) -> np.ndarray:
    """Rise of serum magnesium (mg/dL) at times ``t`` of ``stay`` from every earlier dose: each
    dose adds ``rise`` linearly over its infusion, then decays with ``half_life_hours``."""
    out = np.zeros(stay.size)
    if doses["stay"].size == 0:
        return out
    # doses of one stay are consecutive and at most _MAX_MGSO4_DOSES: walk back from the last one
    last = _last_dose_index(doses, stay, t)
    for back in range(_MAX_MGSO4_DOSES):
        j = last - back
        ok = (last >= 0) & (j >= 0)
        jj = np.maximum(j, 0)
        ok &= doses["stay"][jj] == stay
        if not ok.any():
            break
        dt = (t - doses["start"][jj]) / HOUR
        d_h = np.maximum(doses["dur"][jj] / HOUR, 1.0 / 60.0)
        shape = np.where(dt < d_h, dt / d_h, np.exp(-np.log(2.0) * np.maximum(dt - d_h, 0.0) / half_life_hours))
        out += np.where(ok & (dt >= 0), doses["rise"][jj] * shape, 0.0)
    return out


def late_doses_of(late: Mapping[str, np.ndarray], a: int, b: int) -> dict[str, np.ndarray]:
    """The part of :func:`late_mgso4_doses` for stays ``a`` to ``b - 1``, re-indexed from 0."""
    lo, hi = np.searchsorted(late["stay"], [a, b])
    out = {k: v[..., lo:hi] for k, v in late.items() if k not in ("stay", "first")}
    out["stay"] = late["stay"][lo:hi] - a
    out["first"] = late["first"][a:b]
    return out


def _late_rows_table(st: pd.DataFrame, late: Mapping[str, np.ndarray], caregivers: np.ndarray) -> pa.Table:
    """inputevents rows of the late doses of the stays in ``st`` (``late['stay']`` indexes ``st``)."""
    R = _Rows()
    _add_mgso4_rows(R, late["stay"], late["start"], late["dur"], late["grams"], late["order"])
    rows = R.get()           # all 222011 rows, then all 227523 rows: the (2, doses) draws flattened
    return _input_table(st, rows, caregivers[late["caregiver"].ravel()], rows["start"] + late["store"].ravel(),
                        ids_from_counter(rows["order"]), ids_from_counter(rows["link"]))


def _input_table(st: pd.DataFrame, rows: Mapping[str, np.ndarray], caregiver: np.ndarray, store: np.ndarray,
                 orderid: np.ndarray, linkorderid: np.ndarray) -> pa.Table:
    stay = rows["stay"]
    m = stay.size
    weight = st["weight"].to_numpy()
    cols = _ids(st, stay) + [
        ints(caregiver), times(rows["start"]), times(rows["end"]),
        times(store), ints(rows["item"]),
        floats(rows["amount"]), _IN_AMOUNT_UOM.column(rows["amountuom"]),
        floats(rows["rate"]), _IN_RATE_UOM.column(np.maximum(rows["rateuom"], 0), mask=rows["rateuom"] < 0),
        ints(orderid, wide=True), ints(linkorderid, wide=True),
        _IN_CAT.column(rows["cat"]), _IN_SECCAT.column(rows["seccat"]), _IN_COMP.column(rows["comp"]),
        _IN_CATDESC.column(rows["catdesc"]), floats(weight[stay]), floats(rows["total"]), const("ml", m),
        ints(rows["openbag"].astype(np.int8)), ints(np.zeros(m, np.int8)), _IN_STATUS.column(rows["status"]),
        floats(rows["origamount"]), floats(rows["origrate"]),
    ]
    return pa.Table.from_arrays(cols, names=INPUT_COLUMNS)



def inputevents_chunk(st: pd.DataFrame, rng: np.random.Generator, caregivers: np.ndarray,
                      params: Mapping[str, Any], order_base: int,
                      late: Mapping[str, np.ndarray] | None = None,
                      baseline_doses: bool = True) -> tuple[list[pa.Table], int, np.ndarray]:
    """IV magnesium sulfate, vasopressors, saline, IV vancomycin of the stays in ``st``.

    Baseline doses: treated stays, first dose 1-20 h after intime. ``late``: the late doses of
    these stays (:func:`late_mgso4_doses`, ``stay`` re-indexed to rows of ``st``), written as a
    second table after the first so that the first is the same with or without them.
    ``baseline_doses=False`` (time-varying DGP): no baseline doses; every IV magnesium sulfate
    row comes from ``late`` (:func:`timevarying_mgso4_doses`).
    Returns ([table, late table], number of order ids used by the first table -- the caller
    advances ``order_base`` -- and the first IV magnesium sulfate start per stay, -1 if none).
    """
    M = params["medication"]
    n = len(st)
    intime = st["intime"].to_numpy()
    outtime = st["outtime"].to_numpy()
    weight = st["weight"].to_numpy()
    R = _Rows()

    # ---- IV magnesium sulfate: first dose 1-20 h after intime, further doses while in the ICU
    treated = np.flatnonzero(st["treated"].to_numpy() == 1) if baseline_doses else np.zeros(0, np.int64)
    span = M["mgso4_first_dose_hours"] if baseline_doses else {"min": 1.0, "max": 20.0}
    lo, hi = float(span["min"]), float(span["max"])
    # a whole minute in [intime + lo h, intime + hi h] (intime has seconds: round up, draw below hi)
    first = ceil_to(intime[treated] + np.floor(HOUR * rng.uniform(lo, hi - 1.0 / 60.0, treated.size)).astype(np.int64),
                    MINUTE)
    # stays too short for the drawn time (only non-eligible ones) get it earlier
    first = np.minimum(first, (outtime[treated] - 150 * MINUTE) // MINUTE * MINUTE)
    first = np.maximum(first, intime[treated] // MINUTE * MINUTE + 30 * MINUTE)
    ds, d_start, d_dur, d_g = mgso4_doses(first, outtime[treated], rng, M, keep_first=True)
    nk = ds.size
    _add_mgso4_rows(R, treated[ds], d_start, d_dur, d_g, np.arange(nk))
    first_dose = np.full(n, -1, np.int64)
    first_dose[treated] = first

    # ---- vasopressors: contiguous segments from vaso_start, >= 6 h; the 2nd runs at the max
    agent = st["_vaso_agent"].to_numpy()
    vs = np.flatnonzero(agent > 0)
    max_seg = 40
    seg = np.round(HOUR * rng.uniform(1.0, 4.0, (vs.size, max_seg))).astype(np.int64) // MINUTE * MINUTE
    v_start = st["vaso_start"].to_numpy()[vs]
    v_total = np.round(HOUR * rng.uniform(6.0, 48.0, vs.size)).astype(np.int64)
    v_stop = np.minimum(v_start + v_total, outtime[vs] - 10 * MINUTE)
    seg_start = v_start[:, None] + np.concatenate([np.zeros((vs.size, 1), np.int64), np.cumsum(seg, axis=1)[:, :-1]], axis=1)
    seg_keep = seg_start < v_stop[:, None]
    ss, sj = np.nonzero(seg_keep)
    sstay = vs[ss]
    s_start = seg_start[ss, sj]
    s_end = np.minimum(s_start + seg[ss, sj], v_stop[ss])
    n_seg = seg_keep.sum(axis=1)
    frac = np.where(sj == 0, rng.uniform(0.5, 1.0, ss.size), np.where(sj == 1, 1.0, rng.uniform(0.25, 1.0, ss.size)))
    rate_max = st["_vaso_rate"].to_numpy()[sstay]
    rate = np.where(sj == 1, rate_max, np.round(rate_max * frac, 4))
    ag = agent[sstay]
    names = dgp.AGENTS
    item = np.array([0] + [VASO_ITEM[a] for a in names[1:]])[ag]
    is_vp = ag == dgp.AGENT_CODE["vasopressin"]
    minutes = (s_end - s_start) / MINUTE
    amount = np.where(is_vp, rate * minutes / 60.0, rate * weight[sstay] * minutes / 1000.0)
    base = nk
    link = base + np.searchsorted(np.flatnonzero(sj == 0), np.arange(ss.size), side="right") - 1
    R.add(stay=sstay, start=s_start, end=s_end, item=item, amount=amount,
          amountuom=np.where(is_vp, _IN_AMOUNT_UOM.code("units"), _IN_AMOUNT_UOM.code("mg")),
          rate=rate, rateuom=np.where(is_vp, _IN_RATE_UOM.code("units/hour"), _IN_RATE_UOM.code("mcg/kg/min")),
          order=base + np.arange(ss.size), link=link, cat=_IN_CAT.code("01-Drips"),
          seccat=_IN_SECCAT.code("02-Fluids (Crystalloids)"), comp=_IN_COMP.code("Main order parameter"),
          catdesc=_IN_CATDESC.code("Continuous Med"), total=np.where(is_vp, 100.0, 250.0), openbag=0,
          status=np.where(sj == n_seg[ss] - 1, _IN_STATUS.code("FinishedRunning"), _IN_STATUS.code("ChangeDose/Rate")),
          origamount=np.round(amount, 2), origrate=_f32(rate))
    base += ss.size
    # vasopressin added to high-dose norepinephrine, 2 h after its start, one row
    addon = np.flatnonzero(st["_vasopressin_addon"].to_numpy())
    addon = addon[st["vaso_start"].to_numpy()[addon] + 2 * HOUR + 40 * MINUTE < outtime[addon]]
    a_start = st["vaso_start"].to_numpy()[addon] + 2 * HOUR
    a_end = np.maximum(np.minimum(a_start + HOUR * 12, outtime[addon] - 10 * MINUTE), a_start + 30 * MINUTE)
    a_rate = np.full(addon.size, 2.4)
    R.add(stay=addon, start=a_start, end=a_end, item=VASO_ITEM["vasopressin"],
          amount=a_rate * (a_end - a_start) / HOUR, amountuom=_IN_AMOUNT_UOM.code("units"), rate=a_rate,
          rateuom=_IN_RATE_UOM.code("units/hour"), order=base + np.arange(addon.size),
          link=base + np.arange(addon.size), cat=_IN_CAT.code("01-Drips"),
          seccat=_IN_SECCAT.code("02-Fluids (Crystalloids)"), comp=_IN_COMP.code("Main order parameter"),
          catdesc=_IN_CATDESC.code("Continuous Med"), total=100.0, openbag=0,
          status=_IN_STATUS.code("FinishedRunning"), origamount=40.0, origrate=_f32(a_rate))
    base += addon.size

    # ---- saline: 1-3 infusions at random times in the stay --------------------------------
    nb = 1 + rng.binomial(2, 0.4, n)
    bstay, _ = _expand(nb)
    span = np.maximum(outtime[bstay] - intime[bstay] - 3 * HOUR, HOUR)     # ends before outtime
    b_start = (intime[bstay] + HOUR + np.floor(rng.random(bstay.size) * span).astype(np.int64)) // MINUTE * MINUTE
    b_vol = np.where(rng.random(bstay.size) < 0.5, 500.0, 1000.0)
    b_dur = MINUTE * rng.integers(30, 121, bstay.size)
    R.add(stay=bstay, start=b_start, end=b_start + b_dur, item=NACL, amount=b_vol,
          amountuom=_IN_AMOUNT_UOM.code("ml"), rate=np.round(b_vol / (b_dur / HOUR), 4),
          rateuom=_IN_RATE_UOM.code("mL/hour"), order=base + np.arange(bstay.size),
          link=base + np.arange(bstay.size), cat=_IN_CAT.code("02-Fluids (Crystalloids)"),
          seccat=_IN_SECCAT.code("02-Fluids (Crystalloids)"), comp=_IN_COMP.code("Main order parameter"),
          catdesc=_IN_CATDESC.code("Continuous IV"), total=b_vol, openbag=0,
          status=_IN_STATUS.code("FinishedRunning"), origamount=b_vol, origrate=_f32(b_vol / (b_dur / HOUR)))
    base += bstay.size

    # ---- IV vancomycin with the first antibiotic (stays with suspected infection) ---------
    ab = np.flatnonzero(st["mode"].to_numpy() != NO_ABX)
    v_t = st["abx_time"].to_numpy()[ab] + 30 * MINUTE
    ok = v_t + MINUTE < outtime[ab]
    ab, v_t = ab[ok], v_t[ok]
    R.add(stay=ab, start=v_t, end=v_t + MINUTE, item=VANCO_IV, amount=1.0, amountuom=_IN_AMOUNT_UOM.code("dose"),
          rate=np.nan, rateuom=-1, order=base + np.arange(ab.size), link=base + np.arange(ab.size),
          cat=_IN_CAT.code("08-Antibiotics (IV)"), seccat=_IN_SECCAT.code("02-Fluids (Crystalloids)"),
          comp=_IN_COMP.code("Main order parameter"), catdesc=_IN_CATDESC.code("Drug Push"), total=250.0,
          openbag=0, status=_IN_STATUS.code("FinishedRunning"), origamount=1.0, origrate=1.0)
    base += ab.size

    rows = R.get()
    m = rows["stay"].size
    if order_base + base > LATE_ORDER_BASE:
        raise ValueError("too many inputevents orders for the late-dose order counters")
    caregiver = caregivers[rng.integers(0, caregivers.size, m)]
    store = rows["start"] + MINUTE * rng.integers(0, 30, m)
    table = _input_table(st, rows, caregiver, store, ids_from_counter(order_base + rows["order"]),
                         ids_from_counter(order_base + rows["link"]))
    tables = [table]
    if late is not None and late["stay"].size:
        tables.append(_late_rows_table(st, late, caregivers))
        has = late["first"] >= 0
        first_dose[has] = late["first"][has]
    return tables, base, first_dose


# --------------------------------------------------------------------------------------
# procedureevents
# --------------------------------------------------------------------------------------

PROC_COLUMNS = ["subject_id", "hadm_id", "stay_id", "caregiver_id", "starttime", "endtime",
                "storetime", "itemid", "value", "valueuom", "location", "locationcategory",
                "orderid", "linkorderid", "ordercategoryname", "ordercategorydescription",
                "patientweight", "isopenbag", "continueinnextdept", "statusdescription",
                "ORIGINALAMOUNT", "ORIGINALRATE"]
_PR_LOC = Vocab(["Right Antecubital", "Left Antecubital", "Left Forearm", "Right IJ", "Left Subclavian"])
_PR_LOCCAT = Vocab(["Peripheral", "Invasive Venous"])
_PR_CAT = Vocab(["Peripheral Lines", "Invasive Lines", "Ventilation", "Dialysis"])


def procedureevents_chunk(st: pd.DataFrame, rng: np.random.Generator, caregivers: np.ndarray,
                          order_base: int) -> tuple[pa.Table, int]:
    """Peripheral lines (every stay), invasive ventilation, CRRT, central lines (vasopressor stays)."""
    n = len(st)
    intime, outtime = st["intime"].to_numpy(), st["outtime"].to_numpy()
    m0 = st["m0"].to_numpy()
    R = _Rows()
    base = 0
    # peripheral line, whole stay
    idx = np.arange(n)
    s = m0 + MINUTE * rng.integers(0, 30, n)
    e = np.maximum(outtime // MINUTE * MINUTE - MINUTE * rng.integers(0, 60, n), s + MINUTE)
    R.add(stay=idx, start=s, end=e, item=224275, loc=rng.integers(0, 3, n), loccat=0, cat=0,
          order=base + idx, openbag=0)
    base += n
    # invasive ventilation
    v = np.flatnonzero(st["mechanical_ventilation"].to_numpy() == 1)
    vs = st["vent_start"].to_numpy()[v]
    ve = np.where(st["extubation_time"].to_numpy()[v] > 0, st["extubation_time"].to_numpy()[v],
                  st["vent_end"].to_numpy()[v])
    ve = np.maximum(ve, vs + MINUTE)
    R.add(stay=v, start=vs, end=ve, item=225792, loc=-1, loccat=-1, cat=2, order=base + np.arange(v.size), openbag=1)
    base += v.size
    # CRRT
    c = np.flatnonzero(st["rrt"].to_numpy() == 1)
    cs, ce = st["rrt_start"].to_numpy()[c], st["rrt_end"].to_numpy()[c]
    ce = np.maximum(ce, cs + MINUTE)
    R.add(stay=c, start=cs, end=ce, item=225802, loc=-1, loccat=-1, cat=3, order=base + np.arange(c.size), openbag=1)
    base += c.size
    # central line for vasopressor stays
    cl = np.flatnonzero(st["vasopressor"].to_numpy() == 1)
    ls = st["vaso_start"].to_numpy()[cl] - MINUTE * rng.integers(5, 20, cl.size)
    le = np.maximum(outtime[cl] // MINUTE * MINUTE - 30 * MINUTE, ls + MINUTE)
    R.add(stay=cl, start=ls, end=le, item=224263, loc=3 + rng.integers(0, 2, cl.size), loccat=1, cat=1,
          order=base + np.arange(cl.size), openbag=1)
    base += cl.size

    rows = R.get()
    stay = rows["stay"]
    m = stay.size
    mins = ((rows["end"] - rows["start"]) // MINUTE).astype(float)
    oid = ids_from_counter(order_base + rows["order"], mult=69_621)
    cols = _ids(st, stay) + [
        ints(caregivers[rng.integers(0, caregivers.size, m)]), times(rows["start"]), times(rows["end"]),
        times(rows["end"] + MINUTE * rng.integers(0, 40, m)), ints(rows["item"]), floats(mins),
        const("min", m), _PR_LOC.column(np.maximum(rows["loc"], 0), mask=rows["loc"] < 0),
        _PR_LOCCAT.column(np.maximum(rows["loccat"], 0), mask=rows["loccat"] < 0),
        ints(oid, wide=True), ints(oid, wide=True), _PR_CAT.column(rows["cat"]),
        const("ContinuousProcess", m), floats(st["weight"].to_numpy()[stay]),
        ints(rows["openbag"].astype(np.int8)), ints(np.zeros(m, np.int8)), const("FinishedRunning", m),
        floats(mins), floats(np.ones(m)),
    ]
    return pa.Table.from_arrays(cols, names=PROC_COLUMNS), base


# --------------------------------------------------------------------------------------
# labevents
# --------------------------------------------------------------------------------------

LAB_COLUMNS = ["labevent_id", "subject_id", "hadm_id", "specimen_id", "itemid", "order_provider_id",
               "charttime", "storetime", "value", "valuenum", "valueuom", "ref_range_lower",
               "ref_range_upper", "flag", "priority", "comments"]

#: (itemid, name, decimals, uom, (lower, upper) male, (lower, upper) female)
LAB_ITEMS: tuple[tuple[int, str, int, str, tuple, tuple], ...] = (
    (51301, "wbc", 1, "K/uL", (4.0, 10.0), (4.0, 10.0)),
    (51222, "hemoglobin", 1, "g/dL", (13.7, 17.5), (11.2, 15.7)),
    (51221, "hematocrit", 1, "%", (40.0, 51.0), (34.0, 45.0)),
    (51265, "platelets", 0, "K/uL", (150.0, 400.0), (150.0, 400.0)),
    (50912, "creatinine", 1, "mg/dL", (0.5, 1.2), (0.4, 1.1)),
    (51006, "bun", 0, "mg/dL", (6.0, 20.0), (6.0, 20.0)),
    (50931, "glucose", 0, "mg/dL", (70.0, 100.0), (70.0, 100.0)),
    (50983, "sodium", 0, "mEq/L", (135.0, 147.0), (135.0, 147.0)),
    (50971, "potassium", 1, "mEq/L", (3.3, 5.1), (3.3, 5.1)),
    (50893, "calcium", 1, "mg/dL", (8.4, 10.3), (8.4, 10.3)),
    (50960, "magnesium", 1, "mg/dL", (1.6, 2.6), (1.6, 2.6)),
    (50902, "chloride", 0, "mEq/L", (96.0, 108.0), (96.0, 108.0)),
    (50882, "bicarbonate", 0, "mEq/L", (22.0, 32.0), (22.0, 32.0)),
    (50868, "aniongap", 0, "mEq/L", (8.0, 20.0), (8.0, 20.0)),
    (50885, "bilirubin", 1, "mg/dL", (0.0, 1.5), (0.0, 1.5)),
    (50861, "alt", 0, "IU/L", (0.0, 40.0), (0.0, 40.0)),
    (50878, "ast", 0, "IU/L", (0.0, 40.0), (0.0, 40.0)),
    (50862, "albumin", 1, "g/dL", (3.5, 5.2), (3.5, 5.2)),
    (51237, "inr", 1, "", (0.9, 1.1), (0.9, 1.1)),
    (51274, "pt", 1, "sec", (9.4, 12.5), (9.4, 12.5)),
    (51275, "ptt", 1, "sec", (25.0, 36.5), (25.0, 36.5)),
    (50821, "po2", 0, "mm Hg", (85.0, 105.0), (85.0, 105.0)),
    (50816, "fio2", 0, "%", (np.nan, np.nan), (np.nan, np.nan)),
    (50818, "pco2", 0, "mm Hg", (35.0, 45.0), (35.0, 45.0)),
    (50820, "ph", 2, "units", (7.35, 7.45), (7.35, 7.45)),
    (50813, "lactate", 1, "mmol/L", (0.5, 2.0), (0.5, 2.0)),
)
LAB_NAMES = [x[1] for x in LAB_ITEMS]
LAB_INDEX = {x[1]: i for i, x in enumerate(LAB_ITEMS)}
PANELS = {
    "cbc": ("wbc", "hemoglobin", "hematocrit", "platelets"),
    "chem": ("creatinine", "bun", "glucose", "sodium", "potassium", "calcium", "magnesium",
             "chloride", "bicarbonate", "aniongap"),
    "lft": ("bilirubin", "alt", "ast", "albumin"),
    "coag": ("inr", "pt", "ptt"),
    "bg": ("po2", "fio2", "pco2", "ph", "lactate"),       # + the 52033 specimen row 'ART.'
    "mg": ("magnesium",),                                  # time-varying DGP: check after a first dose
}
SPECIMEN_ITEM = 52033
_LAB_UOM = Vocab(sorted({x[3] for x in LAB_ITEMS if x[3]}))
_LAB_PRIORITY = Vocab(["ROUTINE", "STAT"])
_LAB_FLAG = Vocab(["abnormal"])
_LAB_DEC = np.array([x[2] for x in LAB_ITEMS])
_LAB_ITEMID = np.array([x[0] for x in LAB_ITEMS])
_LAB_UOM_CODE = np.array([_LAB_UOM.code(x[3]) if x[3] else -1 for x in LAB_ITEMS])
_REF = np.array([[x[4][0], x[4][1], x[5][0], x[5][1]] for x in LAB_ITEMS], dtype=float)


def lab_values(v: Mapping[str, np.ndarray], rng: np.random.Generator, n: int, S: np.ndarray) -> dict[str, np.ndarray]:
    """Labs the DGP does not draw (hematocrit, chloride, ...), consistent with the ones it does."""
    out = dict(v)
    out["hematocrit"] = np.round(v["hemoglobin"] * 3.0 + rng.normal(0, 1.0, n), 1)
    out["chloride"] = np.round(np.clip(rng.normal(104, 4.5, n), 85, 125))
    out["bicarbonate"] = np.round(np.clip(rng.normal(23 - 1.5 * S, 3.5, n), 8, 40))
    out["aniongap"] = np.clip(v["sodium"] - out["chloride"] - out["bicarbonate"], 3, 40)
    out["alt"] = np.round(np.clip(28 * np.exp(rng.normal(0.2 * S, 0.6, n)), 5, 3000))
    out["ast"] = np.round(np.clip(32 * np.exp(rng.normal(0.25 * S, 0.6, n)), 8, 4000))
    out["albumin"] = np.round(np.clip(rng.normal(3.1 - 0.2 * S, 0.5, n), 1.2, 5.0), 1)
    out["pt"] = np.round(v["inr"] * 11.2 + rng.normal(0, 0.3, n), 1)
    out["ptt"] = np.round(np.clip(rng.normal(31 + 2 * S, 5, n), 20, 150), 1)
    out["pco2"] = np.round(np.clip(rng.normal(40, 7, n), 20, 90))
    out["ph"] = np.round(np.clip(7.40 - 0.03 * (v["lactate"] - 2.0) + rng.normal(0, 0.04, n), 6.9, 7.6), 2)
    return out


def _panel_rows(stay: np.ndarray, t: np.ndarray, panel: str, values: dict[str, np.ndarray],
                priority: int) -> dict[str, np.ndarray]:
    """Long rows (one per analyte) of ``panel`` drawn at times ``t`` for ``stay`` (values per event)."""
    names = PANELS[panel]
    k = len(names)
    ev = np.arange(stay.size)
    lab = np.array([LAB_INDEX[nm] for nm in names])
    vals = np.stack([values[nm] for nm in names], axis=1)            # events x analytes
    return dict(event=np.repeat(ev, k), stay=np.repeat(stay, k), t=np.repeat(t, k),
                lab=np.tile(lab, stay.size), x=vals.ravel(), priority=np.full(stay.size * k, priority))


def labevents_rows(subject: np.ndarray, hadm: np.ndarray, male: np.ndarray,
                   events: list[dict[str, np.ndarray]], rng: np.random.Generator,
                   id_base: int, specimen_base: int) -> tuple[pa.Table, int, int]:
    """Assemble labevents from panel rows; ``subject/hadm/male`` are indexed by ``stay``.

    Returns (table, rows used, specimens used) so the caller can keep ids unique across chunks.
    """
    ev_off = 0
    parts = []
    for e in events:
        parts.append({**e, "event": e["event"] + ev_off, "spec": np.full(e["stay"].size, e.get("bg", False))})
        ev_off += int(e["event"].max()) + 1 if e["event"].size else 0
    rows = {k: np.concatenate([p[k] for p in parts]) for k in ("event", "stay", "t", "lab", "x", "priority", "spec")}
    # blood-gas events get their specimen-type row ('ART.')
    is_bg = rows["spec"]
    bg_events, first_pos = np.unique(rows["event"][is_bg], return_index=True)
    bg_pos = np.flatnonzero(is_bg)[first_pos]
    nrow = rows["event"].size
    n_spec_rows = bg_events.size
    stay = np.concatenate([rows["stay"], rows["stay"][bg_pos]])
    t = np.concatenate([rows["t"], rows["t"][bg_pos]])
    event = np.concatenate([rows["event"], bg_events])
    lab = np.concatenate([rows["lab"], np.full(n_spec_rows, -1)])
    x = np.concatenate([rows["x"], np.full(n_spec_rows, np.nan)])
    priority = np.concatenate([rows["priority"], np.full(n_spec_rows, -1)])
    is_bg_row = np.concatenate([is_bg, np.ones(n_spec_rows, bool)])
    total = nrow + n_spec_rows
    order = np.lexsort((lab, event))            # rows of one specimen together, analytes in order
    stay, t, event, lab, x, priority, is_bg_row = (a[order] for a in (stay, t, event, lab, x, priority, is_bg_row))
    numeric = lab >= 0
    labi = np.maximum(lab, 0)
    dec = _LAB_DEC[labi]
    ticks = np.round(np.nan_to_num(x) * 10.0 ** dec).astype(np.int64)
    value_num = ticks / 10.0 ** dec
    # value strings: fixed decimals by analyte; 'ART.' for the specimen rows
    value = pa.array(np.full(total, "ART."), pa.string())
    for d in np.unique(dec[numeric]):
        sel = np.flatnonzero(numeric & (dec == d))
        formatted = fixed_decimals(ticks[sel], int(d))
        value = pc.replace_with_mask(value, pa.array(numeric & (dec == d)), formatted)
    m = male[stay] == 1
    lower = np.where(m, _REF[labi, 0], _REF[labi, 2])
    upper = np.where(m, _REF[labi, 1], _REF[labi, 3])
    lower = np.where(numeric, lower, np.nan)
    upper = np.where(numeric, upper, np.nan)
    abnormal = numeric & ~np.isnan(lower) & ((value_num < lower) | (value_num > upper))
    uom = np.where(numeric, _LAB_UOM_CODE[labi], -1)
    itemid = np.where(numeric, _LAB_ITEMID[labi], SPECIMEN_ITEM)
    # specimen ids: one per event (the analytes of a panel share it)
    ev_rank = np.unique(event, return_inverse=True)[1]
    specimen = ids_from_counter(specimen_base + ev_rank, mult=16_807)
    store = t + MINUTE * rng.integers(15, 120, total)
    cols = [
        ints(id_base + 1 + np.arange(total), wide=True), ints(subject[stay]), ints(hadm[stay]),
        ints(specimen, wide=True), ints(itemid), nulls(total), times(t), times(store), value,
        floats(value_num, mask=~numeric), _LAB_UOM.column(np.maximum(uom, 0), mask=uom < 0),
        floats(lower), floats(upper), _LAB_FLAG.column(np.zeros(total, np.int32), mask=~abnormal),
        _LAB_PRIORITY.column(np.maximum(priority, 0), mask=priority < 0), nulls(total),
    ]
    n_events = int(ev_rank.max()) + 1 if total else 0
    return pa.Table.from_arrays(cols, names=LAB_COLUMNS), total, n_events


def _keep_rows(ev: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    return {k: (v[keep] if isinstance(v, np.ndarray) and v.shape[:1] == keep.shape else v) for k, v in ev.items()}


def icu_lab_events(st: pd.DataFrame, rng: np.random.Generator, doses: Mapping[str, np.ndarray] | None = None,
                   params: Mapping[str, Any] | None = None) -> list[dict[str, np.ndarray]]:
    """Panel rows of ICU stays: optional pre-ICU ward draw, the first-day draw, later days.

    The first-day draw (``lab_time``, 0.5-4.5 h before intime) and the first arterial blood gas
    (``bg_time``) carry the DGP's values: exactly one value per analyte in [intime-6h, intime+24h].
    Later draws start after intime + 24 h. Stays built with normal physiology keep platelets
    >= 150, creatinine and bilirubin <= 1.1 in every draw.

    Time-varying DGP (``params`` with its ``response`` section, ``doses`` of
    :func:`timevarying_mgso4_doses` indexing rows of ``st``): the first-day draw leaves out the
    items the stay's ``miss_<item>`` flags mark missing (blood gas, lactate, liver panel,
    albumin, coagulation panel); later draws follow the severity change (each DGP lab times
    ``exp(severity * D)`` at the day's ``_D<k>``); serum magnesium after a dose carries
    :func:`magnesium_rise`, and a magnesium-only draw follows each first dose by
    ``response.magnesium.check_hours`` (if still in the ICU).
    """
    n = len(st)
    idx = np.arange(n)
    S = st["_S"].to_numpy()
    normal = st["_physiology"].to_numpy() == dgp.NORMAL
    base = {nm: st[nm].to_numpy().astype(float) for nm in dgp.LABS}
    first = lab_values(base, rng, n, S)
    first["po2"] = st["_po2"].to_numpy().astype(float)
    first["fio2"] = st["_fio2"].to_numpy().astype(float)
    events: list[dict[str, np.ndarray]] = []
    lab_t = st["lab_time"].to_numpy()
    tv = params is not None and "response" in params
    for panel in ("cbc", "chem", "lft", "coag"):
        ev = _panel_rows(idx, lab_t, panel, first, priority=1)
        if tv and panel == "lft":
            gone = st["miss_liver_panel"].to_numpy()[ev["stay"]] | (
                st["miss_albumin"].to_numpy()[ev["stay"]] & (ev["lab"] == LAB_INDEX["albumin"]))
            ev = _keep_rows(ev, ~gone)
        elif tv and panel == "coag":
            ev = _keep_rows(ev, ~st["miss_coagulation"].to_numpy()[ev["stay"]])
        events.append(ev)
    ev = {**_panel_rows(idx, st["bg_time"].to_numpy(), "bg", first, priority=-1), "bg": True}
    if tv:
        gone = st["miss_blood_gas"].to_numpy()[ev["stay"]] | (
            st["miss_lactate"].to_numpy()[ev["stay"]] & (ev["lab"] == LAB_INDEX["lactate"]))
        ev = _keep_rows(ev, ~gone)
    events.append(ev)

    tight = {"sodium", "chloride", "bicarbonate", "calcium", "potassium", "fio2", "ph"}

    def drift(stay_sel: np.ndarray, sd: float = 0.12) -> dict[str, np.ndarray]:
        m = stay_sel.size
        f = {nm: first[nm][stay_sel] * np.exp(rng.normal(0, sd / 4 if nm in tight else sd, m))
             for nm in first}
        nrm = normal[stay_sel]
        f["platelets"] = np.where(nrm, np.maximum(f["platelets"], 152), f["platelets"])
        f["creatinine"] = np.where(nrm, np.minimum(f["creatinine"], 1.1), f["creatinine"])
        f["bilirubin"] = np.where(nrm, np.minimum(f["bilirubin"], 1.1), f["bilirubin"])
        f["lactate"] = np.clip(f["lactate"], 0.3, 25)
        f["ph"] = np.clip(first["ph"][stay_sel] + rng.normal(0, 0.03, m), 6.9, 7.6)
        f["fio2"] = first["fio2"][stay_sel]
        f["po2"] = np.where(nrm, np.maximum(f["po2"], 95), f["po2"])
        return f

    # pre-ICU ward draw (first stay of admissions with >= 8 h before the ICU)
    ward = np.flatnonzero((st["rank_in_adm"].to_numpy() == 0)
                          & (st["admittime"].to_numpy() < st["intime"].to_numpy() - 8 * HOUR))
    wt = st["admittime"].to_numpy()[ward] + MINUTE * rng.integers(30, 121, ward.size)
    wv = drift(ward, 0.15)
    for panel in ("cbc", "chem", "lft", "coag"):
        events.append(_panel_rows(ward, wt, panel, wv, priority=0))
    # later days: CBC + chemistry daily, LFT + coagulation every other day, blood gas if ventilated
    intime, outtime = st["intime"].to_numpy(), st["outtime"].to_numpy()
    n_days = np.maximum((outtime - intime - DAY - 7 * HOUR) // DAY + 1, 0)
    dstay, d = _expand(n_days)
    dt = (intime[dstay] + (d + 1) * DAY + MINUTE * rng.integers(60, 361, dstay.size)) // MINUTE * MINUTE
    inside = dt < outtime[dstay] - 10 * MINUTE
    dstay, d, dt = dstay[inside], d[inside], dt[inside]
    dv = drift(dstay)
    if tv:
        _timevarying_later_values(st, params, doses, dstay, d, dt, dv, normal)
    for panel in ("cbc", "chem"):
        events.append(_panel_rows(dstay, dt, panel, dv, priority=1))
    odd = d % 2 == 0
    dv_odd = {k: v[odd] for k, v in dv.items()}
    for panel in ("lft", "coag"):
        events.append(_panel_rows(dstay[odd], dt[odd], panel, dv_odd, priority=1))
    vent = st["mechanical_ventilation"].to_numpy()[dstay] == 1
    dv_v = {k: v[vent] for k, v in dv.items()}
    events.append({**_panel_rows(dstay[vent], dt[vent] + 30 * MINUTE, "bg", dv_v, priority=-1), "bg": True})
    if tv and doses is not None and doses["stay"].size:
        # a magnesium check check_hours after the end of each stay's first dose, if still in the ICU
        R = params["response"]["magnesium"]
        lead = np.r_[True, doses["stay"][1:] != doses["stay"][:-1]]
        cs = doses["stay"][lead]
        ct = doses["start"][lead] + doses["dur"][lead] + MINUTE * np.floor(
            rng.uniform(60 * float(R["check_hours"]["min"]), 60 * float(R["check_hours"]["max"]), cs.size)
        ).astype(np.int64)
        ok = ct < outtime[cs] - 10 * MINUTE
        cs, ct = cs[ok], ct[ok]
        untreated_mg = first["magnesium"][cs] * np.exp(rng.normal(0, 0.06, cs.size))
        mg = {"magnesium": _treated_magnesium(untreated_mg, doses, cs, ct, R)}
        events.append(_panel_rows(cs, ct, "mg", mg, priority=1))
    return events


def _treated_magnesium(untreated: np.ndarray, doses: Mapping[str, np.ndarray], stay: np.ndarray, t: np.ndarray,
                       R: Mapping[str, Any]) -> np.ndarray:
    """Measured serum magnesium: the untreated level plus :func:`magnesium_rise`, clipped."""
    v = untreated + magnesium_rise(doses, stay, t, float(R["half_life_hours"]))
    return np.clip(v, 0.8, float(R["max_value"]))


def _timevarying_later_values(st: pd.DataFrame, params: Mapping[str, Any], doses: Mapping[str, np.ndarray] | None,
                              dstay: np.ndarray, d: np.ndarray, dt: np.ndarray, dv: dict[str, np.ndarray],
                              normal: np.ndarray) -> None:
    """Later-day labs of the time-varying DGP, in place: severity change and magnesium rise."""
    labs = params["covariates"]["labs"]
    cols = sorted((c for c in st.columns if c.startswith("_D") and c[2:].isdigit()), key=lambda c: int(c[2:]))
    Dm = st[cols].to_numpy(float)                           # (stays, days)
    Dd = Dm[dstay, np.minimum(d + 1, len(cols) - 1)]          # the draw on day d + 1
    for nm in dgp.LABS:
        spec = labs[nm]
        v = dv[nm] * np.exp(float(spec["severity"]) * Dd)
        dv[nm] = np.clip(v, float(spec["min"]), float(spec["max"]))
    nrm = normal[dstay]
    dv["platelets"] = np.where(nrm, np.maximum(dv["platelets"], 152), dv["platelets"])
    dv["creatinine"] = np.where(nrm, np.minimum(dv["creatinine"], 1.1), dv["creatinine"])
    dv["bilirubin"] = np.where(nrm, np.minimum(dv["bilirubin"], 1.1), dv["bilirubin"])
    if doses is not None:
        dv["magnesium"] = _treated_magnesium(dv["magnesium"], doses, dstay, dt, params["response"]["magnesium"])
