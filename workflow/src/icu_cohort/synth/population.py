"""Patients, admissions and ICU stays: the timeline, the per-stay plan, deaths and the truth.

:func:`build_population` returns three DataFrames (one row per patient / admission / ICU
stay) holding everything the table writers need: identifiers, times (int64 seconds since
1970-01-01, MIMIC's shifted years 2110-2215), the plan of each stay (which attrition step it is
built to fail), the stay-level draws of :func:`icu_cohort.synth.dgp.simulate_core`, and the
ground truth (eligibility and both potential death times as the data record them).

Every step is vectorised over rows; no Python loop runs per patient, admission or stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from icu_cohort.mimic_tables import RELEASES

from . import dgp

MINUTE, HOUR, DAY = 60, 3600, 86400
#: 2110-01-01 and 2200-01-01 in seconds since 1970 (patients' timelines start in between).
_START_LO = int(np.datetime64("2110-01-01T00:00:00", "s").astype(np.int64))
_START_HI = int(np.datetime64("2200-01-01T00:00:00", "s").astype(np.int64))

#: Sepsis plan of a stay.
SEPTIC_MODE, NO_ABX, ABX_NORMAL = 0, 1, 2
EXCLUSIONS = ("neurological", "metabolic_toxic", "alcohol_drug", "psychiatric")
#: Seed-sequence key of the random stream of the stroke populations (``plan.stroke``,
#: ``plan.stroke_without_infarction``): their own, so that adding them changed no other draw.
STROKE_STREAM = 17
CAREUNITS = (
    ("Medical Intensive Care Unit (MICU)", 0.30),
    ("Medical/Surgical Intensive Care Unit (MICU/SICU)", 0.20),
    ("Surgical Intensive Care Unit (SICU)", 0.15),
    ("Cardiac Vascular Intensive Care Unit (CVICU)", 0.15),
    ("Trauma SICU (TSICU)", 0.10),
    ("Coronary Care Unit (CCU)", 0.10),
)


@dataclass
class Population:
    """The three entity tables (see module docstring) and the calibration used."""

    patients: pd.DataFrame
    admissions: pd.DataFrame
    stays: pd.DataFrame
    alpha: float
    log_lambda: float


# --------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------

def ceil_to(x: np.ndarray, step: int) -> np.ndarray:
    """Round int64 seconds up to a multiple of ``step``."""
    return -(-np.asarray(x, dtype=np.int64) // step) * step


def year_of(sec: np.ndarray) -> np.ndarray:
    """Calendar year of int64 seconds since 1970."""
    return np.asarray(sec, dtype=np.int64).astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970


def noon_of_day(sec: np.ndarray) -> np.ndarray:
    """12:00:00 of the calendar day of ``sec`` (how the SQL reads a patients.dod date)."""
    return np.asarray(sec, dtype=np.int64) // DAY * DAY + 12 * HOUR


def segment_starts(counts: np.ndarray) -> np.ndarray:
    """Index of the first row of each segment when segments of ``counts`` rows are concatenated."""
    counts = np.asarray(counts, dtype=np.int64)
    return (np.cumsum(counts) - counts).astype(np.int64)


def rank_in_segment(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each segment of ``counts`` rows."""
    total = int(np.sum(counts))
    return np.arange(total, dtype=np.int64) - np.repeat(segment_starts(counts), counts)


def unique_ids(rng: np.random.Generator, n: int, base: int, span: int = 9_999_999) -> np.ndarray:
    """``n`` distinct random integers in ``[base, base + span)``, in random order."""
    if n > span:
        raise ValueError(f"cannot draw {n} distinct identifiers from a range of {span}")
    return base + rng.choice(span, size=n, replace=False).astype(np.int64)


def choose(rng: np.random.Generator, options: list | tuple, probs: list | np.ndarray, n: int) -> np.ndarray:
    """Indices into ``options`` drawn with ``probs`` (normalised)."""
    p = np.asarray(probs, dtype=float)
    return np.searchsorted(np.cumsum(p / p.sum()), rng.random(n), side="right").clip(0, len(options) - 1)


# --------------------------------------------------------------------------------------
# The population
# --------------------------------------------------------------------------------------

def build_population(n_patients: int, seed: int, params: Mapping[str, Any], dgp_mode: str = "baseline",
                     mimic_version: str = "2.2") -> Population:
    """Patients, admissions and ICU stays of one synthetic data set (see module docstring).

    ``dgp_mode="timevarying"`` draws the stays with :func:`icu_cohort.synth.timevarying.simulate_core`
    (treatment over time; potential outcomes under several strategies) instead of
    :func:`icu_cohort.synth.dgp.simulate_core`; everything else is built the same way.
    """
    tv_mode = dgp_mode == "timevarying"
    if tv_mode:
        from . import timevarying as tv
    ss = np.random.SeedSequence(int(seed))
    rng_pop, rng_first, rng_repeat, rng_other = (np.random.default_rng(s) for s in ss.spawn(4))
    P = params
    pop, tl, plan = P["population"], P["timeline"], P["plan"]
    N = int(n_patients)
    if N < 1:
        raise ValueError("patients must be >= 1")

    # ---- patients: who has ICU stays, how many admissions ----------------------------
    icu_adm_mean = float(pop["icu_admissions_per_icu_patient"])
    second = float(pop["second_stay_same_admission"])
    planned_repeat = icu_adm_mean * (1.0 + second) - 1.0
    kept_per_icu_patient = 1.0 + planned_repeat * float(pop["repeat_stay_survival"])
    p_icu = min(1.0, float(pop["icu_stays_per_patient"]) / kept_per_icu_patient)
    u = rng_pop.random((2, N))
    is_icu = u[0] < p_icu
    child = is_icu & (u[1] < float(pop["child_share_of_icu_patients"]))
    n_icu_adm = np.where(is_icu, np.minimum(rng_pop.geometric(1.0 / icu_adm_mean, N), 6), 0)
    adm_mean = float(pop["admissions_per_patient"])
    geo = rng_pop.geometric(1.0 / adm_mean, N)
    n_other = np.where(is_icu, np.minimum(geo - 1, 10), np.minimum(geo, 12))
    n_icu_adm = np.where(child, 1, n_icu_adm)
    n_other = np.where(child, 0, n_other)
    n_adm = (n_icu_adm + n_other).astype(np.int64)

    # ---- admissions in random order within the patient ---------------------------------
    A = int(n_adm.sum())
    adm_patient = np.repeat(np.arange(N), n_adm)
    adm_is_icu = rank_in_segment(n_adm) < np.repeat(n_icu_adm, n_adm)
    order = np.lexsort((rng_pop.random(A), adm_patient))
    adm_is_icu = adm_is_icu[order]                      # adm_patient is unchanged by this sort
    adm_rank = rank_in_segment(n_adm)                   # position in the patient's timeline

    # ---- ICU stays: one or two per ICU admission --------------------------------------
    icu_adm_idx = np.flatnonzero(adm_is_icu)
    two = (rng_pop.random(icu_adm_idx.size) < second) & ~child[adm_patient[icu_adm_idx]]
    n_st = 1 + two.astype(np.int64)
    S = int(n_st.sum())
    stay_adm = np.repeat(icu_adm_idx, n_st)
    stay_rank_in_adm = rank_in_segment(n_st)
    stay_patient = adm_patient[stay_adm]

    short = rng_pop.random(S) < float(plan["short_stay"])
    los_spec, short_spec = tl["icu_los_days"], tl["short_los_hours"]
    los_long = DAY * np.minimum(float(los_spec["min"]) + rng_pop.gamma(float(los_spec["gamma_shape"]),
                                                                       float(los_spec["gamma_scale"]), S),
                                float(los_spec["max"]))
    los_short = HOUR * rng_pop.uniform(float(short_spec["min"]), float(short_spec["max"]), S)
    los = np.round(np.where(short, los_short, los_long)).astype(np.int64)

    # Times of stays relative to their admission's admittime (seconds).
    n_icu = icu_adm_idx.size
    ed = rng_pop.random(n_icu) < float(tl["ed_share"])
    pre = np.where(ed, HOUR * rng_pop.uniform(float(tl["ed_hours"]["min"]), float(tl["ed_hours"]["max"]), n_icu),
                   DAY * rng_pop.uniform(float(tl["ward_days"]["min"]), float(tl["ward_days"]["max"]), n_icu))
    pre = np.round(pre).astype(np.int64)
    gap = np.round(DAY * rng_pop.uniform(float(tl["readmission_gap_days"]["min"]),
                                         float(tl["readmission_gap_days"]["max"]), S)).astype(np.int64)
    first_in_adm = stay_rank_in_adm == 0
    # offset of each stay: pre for the first; previous outtime + gap for the second
    step = np.where(first_in_adm, np.repeat(pre, n_st), gap) + los
    cum = np.cumsum(step)
    base = np.repeat(cum[segment_starts(n_st)] - step[segment_starts(n_st)], n_st)
    out_rel = cum - base
    in_rel = out_rel - los
    post = DAY * np.maximum(rng_pop.gamma(float(tl["post_icu_days"]["gamma_shape"]),
                                          float(tl["post_icu_days"]["gamma_scale"]), n_icu),
                            float(tl["post_icu_days"]["min"]))
    last_out_rel = out_rel[segment_starts(n_st) + n_st - 1]
    icu_adm_dur = ceil_to(last_out_rel + np.round(post).astype(np.int64), MINUTE)

    # Admission durations and the gaps between admissions, in whole minutes.
    h = tl["hospital_los_days"]
    dur = DAY * np.clip(float(h["median"]) * np.exp(float(h["sd_log"]) * rng_pop.standard_normal(A)),
                        float(h["min"]), float(h["max"]))
    dur = ceil_to(np.round(dur).astype(np.int64), MINUTE)
    dur[icu_adm_idx] = icu_adm_dur
    b = tl["between_admissions_days"]
    gap_adm = ceil_to(np.round(DAY * (float(b["min"]) + rng_pop.exponential(float(b["mean"]), A))).astype(np.int64),
                      MINUTE)
    gap_adm[adm_rank == 0] = 0
    start = ceil_to(rng_pop.integers(_START_LO, _START_HI, N), MINUTE)
    step_a = gap_adm + dur
    cum_a = np.cumsum(step_a)
    first_row = segment_starts(n_adm)
    base_a = np.repeat(cum_a[first_row] - step_a[first_row], n_adm)
    admittime = np.repeat(start, n_adm) + (cum_a - base_a) - dur
    dischtime_planned = admittime + dur

    intime = admittime[stay_adm] + in_rel
    outtime_planned = admittime[stay_adm] + out_rel

    # First ICU stay of each patient (earliest intime: the first stay of the first ICU admission).
    stay_pat_counts = np.bincount(stay_patient, minlength=N)
    first_stay_of_patient = np.full(N, -1, np.int64)
    first_stay_of_patient[is_icu] = segment_starts(stay_pat_counts)[is_icu]
    is_first = np.zeros(S, bool)
    is_first[first_stay_of_patient[is_icu]] = True

    # ---- the plan of every stay -----------------------------------------------------
    u = rng_pop.random((4 + len(EXCLUSIONS), S))
    mode = np.where(u[0] < float(plan["no_antibiotic"]), NO_ABX,
                    np.where(u[0] < float(plan["no_antibiotic"]) + float(plan["antibiotic_normal_physiology"]),
                             ABX_NORMAL, SEPTIC_MODE)).astype(np.int8)
    # an admission whose first stay has no antibiotic has none at all
    adm_first_stay = np.full(A, -1, np.int64)
    adm_first_stay[icu_adm_idx] = segment_starts(n_st)
    no_abx_adm = np.zeros(A, bool)
    no_abx_adm[icu_adm_idx] = mode[adm_first_stay[icu_adm_idx]] == NO_ABX
    mode = np.where(no_abx_adm[stay_adm], NO_ABX, mode).astype(np.int8)
    no_enceph = u[1] < float(plan["no_encephalopathy"])
    gcs_low = ~no_enceph & (u[2] >= float(plan["delirium_only"]))
    delirium = ~no_enceph & (~gcs_low | (u[3] < float(plan["delirium_with_low_gcs"])))
    normal = mode == ABX_NORMAL
    gcs_low &= ~normal
    excl = {name: u[4 + i] < float(plan["exclusion"][name]) for i, name in enumerate(EXCLUSIONS)}
    # diagnoses belong to the admission: every stay carries its admission's first stay's codes
    first_of_adm = adm_first_stay[stay_adm]
    delirium = delirium[first_of_adm]
    excl = {k: v[first_of_adm] for k, v in excl.items()}
    # acute ischaemic stroke / occlusion without infarction, per ICU admission (own stream); a
    # stroke is primary brain injury, so the SAE study excludes it (its neurological step)
    u_stroke = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(STROKE_STREAM,))).random(A)
    share, decoy_share = float(plan["stroke"]), float(plan["stroke_without_infarction"])
    stroke = (adm_is_icu & (u_stroke < share))[stay_adm]
    stroke_decoy = (adm_is_icu & (u_stroke >= share) & (u_stroke < share + decoy_share))[stay_adm]
    neuro_code = excl["neurological"]           # the plan's other neurological code (any of the list)
    excl["neurological"] = neuro_code | stroke
    physiology = np.select([mode == SEPTIC_MODE, mode == ABX_NORMAL], [dgp.SEPTIC, dgp.NORMAL],
                           dgp.UNCONSTRAINED).astype(np.int8)
    profile = dgp.Profile(physiology, gcs_low, delirium)

    # ---- stay-level draws: first stays, then repeat stays (aligned age and sex) -------
    child_stay = child[stay_patient]
    first_idx = np.flatnonzero(is_first)
    age_fix = np.full(first_idx.size, np.nan)
    kids = child_stay[first_idx]
    age_fix[kids] = rng_pop.integers(15, 18, int(kids.sum()))
    sub_minute = ceil_to(intime, MINUTE) - intime             # seconds from intime to its next whole minute
    if tv_mode:
        draws_first = tv.simulate_core(first_idx.size, rng_first, P, profile.take(first_idx),
                                       los[first_idx] / HOUR, sub_minute[first_idx], age=age_fix)
    else:
        draws_first = dgp.simulate_core(first_idx.size, rng_first, P, profile.take(first_idx), age=age_fix)
    rep_idx = np.flatnonzero(~is_first)
    pat_first = first_stay_of_patient[stay_patient[rep_idx]]
    pos_first = np.searchsorted(first_idx, pat_first)
    year_adm = year_of(admittime)
    rep_age = (draws_first["age"].to_numpy()[pos_first]
               + year_adm[stay_adm[rep_idx]] - year_adm[stay_adm[pat_first]]).astype(float)
    rep_male = draws_first["male"].to_numpy()[pos_first]
    if tv_mode:
        draws_rep = tv.simulate_core(rep_idx.size, rng_repeat, P, profile.take(rep_idx), los[rep_idx] / HOUR,
                                     sub_minute[rep_idx], age=rep_age, male=rep_male)
    else:
        draws_rep = dgp.simulate_core(rep_idx.size, rng_repeat, P, profile.take(rep_idx),
                                      age=rep_age, male=rep_male)
    draws_rep["race"] = draws_first["race"].to_numpy()[pos_first]
    draws = pd.concat([draws_first.set_axis(first_idx), draws_rep.set_axis(rep_idx)]).sort_index()
    alpha, log_lam = tv.calibrate(P) if tv_mode else dgp.calibrate(P)

    # ---- patients' demographics and anchors -------------------------------------------
    non_icu = np.flatnonzero(~is_icu)
    base_other = dgp._draw_base(non_icu.size, rng_other, P, None, None)
    age_p = np.zeros(N)
    male_p = np.zeros(N, np.int8)
    race_p = np.empty(N, dtype=object)
    first_draw = draws.loc[first_idx]
    age_p[is_icu] = first_draw["age"].to_numpy()
    male_p[is_icu] = first_draw["male"].to_numpy()
    race_p[is_icu] = first_draw["race"].to_numpy()
    age_p[non_icu] = base_other["age"]
    male_p[non_icu] = base_other["male"]
    race_p[non_icu] = base_other["race"]
    index_adm = first_row.copy()                        # the admission whose age anchors the patient
    index_adm[is_icu] = stay_adm[first_stay_of_patient[is_icu]]
    year_index = year_adm[index_adm]
    offset = np.minimum(rng_other.integers(0, 3, N), np.maximum(age_p - 18, 0).astype(np.int64))
    offset = np.where(child, 0, offset)
    anchor_age = (age_p - offset).astype(np.int64)
    anchor_year = year_index - offset
    # the release's year groups (v3.x adds 2020 - 2022); the same draws whatever their number
    groups = np.array(RELEASES[mimic_version]["anchor_year_groups"], dtype=object)
    anchor_year_group = groups[rng_other.integers(0, groups.size, N)]

    # ---- deaths -----------------------------------------------------------------------
    never = np.iinfo(np.int64).max // 4
    death = np.full(N, never, np.int64)
    if tv_mode:       # the natural course: the first dose (if any) at its time, death under it
        t_obs = draws["T_natural"].to_numpy()
    else:
        t_obs = np.where(draws["treated"].to_numpy() == 1, draws["T1"].to_numpy(), draws["T0"].to_numpy())
    death_icu = intime[first_idx] + np.round(t_obs[first_idx] * DAY).astype(np.int64)
    death[stay_patient[first_idx]] = death_icu
    # patients without an ICU stay: a few die in their last admission or within a year after it
    last_row = first_row + n_adm - 1
    u = rng_other.random((2, N))
    inhosp = ~is_icu & (u[0] < float(pop["nonicu_inhospital_death"]))
    later = ~is_icu & ~inhosp & (u[0] < float(pop["nonicu_inhospital_death"]) + float(pop["nonicu_postdischarge_death"]))
    death = np.where(inhosp, dischtime_planned[last_row] - np.round(u[1] * HOUR).astype(np.int64), death)
    death = np.where(later, dischtime_planned[last_row] + np.round(DAY * (1 + 364 * u[1])).astype(np.int64), death)

    d_adm = death[adm_patient]
    adm_keep = admittime < d_adm
    died_in_adm = adm_keep & (d_adm <= dischtime_planned)
    deathtime = np.where(died_in_adm, ceil_to(np.minimum(d_adm, never), MINUTE), -1)
    dischtime = np.where(died_in_adm, deathtime, dischtime_planned)
    d_stay = death[stay_patient]
    stay_keep = adm_keep[stay_adm] & (intime < d_stay - 4 * HOUR)
    outtime = np.where(ceil_to(np.minimum(d_stay, never), MINUTE) < outtime_planned,
                       ceil_to(np.minimum(d_stay, never), MINUTE), outtime_planned)
    last_disch = np.full(N, np.iinfo(np.int64).min)
    np.maximum.at(last_disch, adm_patient[adm_keep], dischtime[adm_keep])
    recorded = (death < never) & (death <= last_disch + DAY * int(tl["dod_followup_days"]))
    dod = np.where(recorded, death // DAY * DAY, -1)

    # ---- ground truth ----------------------------------------------------------------
    adult = ~child_stay
    enceph = gcs_low | delirium
    any_excl = np.zeros(S, bool)
    for v in excl.values():
        any_excl |= v
    eligible = adult & is_first & ~short & (mode == SEPTIC_MODE) & enceph & ~any_excl

    own_disch_planned = dischtime_planned[stay_adm]

    def recorded_days(t_days: np.ndarray) -> np.ndarray:
        """Death time of one potential outcome as the data record it, days from intime."""
        d = intime + np.round(t_days * DAY).astype(np.int64)
        rec = np.where(d <= own_disch_planned, ceil_to(d, MINUTE), noon_of_day(d))
        return (rec - intime) / DAY

    t1_rec = recorded_days(draws["T1"].to_numpy())
    t0_rec = recorded_days(draws["T0"].to_numpy())
    # repeat stays: the patient's (observed) death, measured from their own intime
    own_died = died_in_adm[stay_adm]
    obs_rec = np.where(own_died, ceil_to(np.minimum(d_stay, never), MINUTE), noon_of_day(np.minimum(d_stay, never)))
    obs_days = np.where(recorded[stay_patient], (obs_rec - intime) / DAY, np.inf)
    t1_rec = np.where(is_first, t1_rec, obs_days)
    t0_rec = np.where(is_first, t0_rec, obs_days)
    truth_max = dgp.TRUTH_MAX_DAYS
    death_day_if_treated = np.where(t1_rec <= truth_max, t1_rec, np.nan)
    death_day_if_untreated = np.where(t0_rec <= truth_max, t0_rec, np.nan)
    tv_extra: dict[str, np.ndarray] = {}
    if tv_mode:
        # every strategy's death as the data would record it (repeat stays: the observed death)
        for name in (s_.name for s_ in tv.strategies(P)):
            rec = np.where(is_first, recorded_days(draws[f"T_{name}"].to_numpy()), obs_days)
            tv_extra[f"death_day_{name}_rec"] = np.where(rec <= truth_max, rec, np.nan)
        # the natural first dose, a whole minute; repeat stays (whose ICU stay a death may cut
        # short) keep it only if it starts >= 11 min before their outtime
        sh, sm = draws["_start_hour"].to_numpy(), draws["_start_minute"].to_numpy()
        first_dose = np.where(sh >= 0, ceil_to(intime, MINUTE) + sh * HOUR + sm * MINUTE, -1)
        first_dose = np.where(is_first | (first_dose + 11 * MINUTE <= outtime), first_dose, -1)
        tv_extra["_first_dose"] = first_dose
        draws["treated"] = (first_dose >= 0).astype(np.int8)
        # landmark populations: alive (natural course) and still in the ICU at L hours
        for L in P["strategies"]["landmark_hours"]:
            tv_extra[f"alive_in_icu_at_{int(L)}h"] = (is_first & (draws["T_natural"].to_numpy() * DAY > L * HOUR)
                                                      & (outtime - intime > int(L) * HOUR))

    # ---- identifiers and descriptive fields --------------------------------------------
    subject_id = 10_000_000 + np.sort(rng_other.choice(9_999_999, N, replace=False)).astype(np.int64)
    hadm_id = unique_ids(rng_other, A, 20_000_000)
    stay_id = unique_ids(rng_other, S, 30_000_000)
    unit_names = [u_[0] for u_ in CAREUNITS]
    unit = np.asarray(unit_names, dtype=object)[choose(rng_other, unit_names, [u_[1] for u_ in CAREUNITS], S)]

    patients = pd.DataFrame({
        "subject_id": subject_id, "gender": np.where(male_p == 1, "M", "F"),
        "anchor_age": anchor_age, "anchor_year": anchor_year, "anchor_year_group": anchor_year_group,
        "dod": dod, "race": race_p, "is_icu": is_icu, "child": child, "age_index": age_p,
    })
    adm_ed = np.zeros(A, bool)
    adm_ed[icu_adm_idx] = ed
    admissions = pd.DataFrame({
        "patient": adm_patient, "subject_id": subject_id[adm_patient], "hadm_id": hadm_id,
        "admittime": admittime, "dischtime": dischtime, "deathtime": deathtime,
        "hospital_expire_flag": died_in_adm.astype(np.int8), "is_icu": adm_is_icu, "ed": adm_ed,
        "keep": adm_keep, "first_stay": adm_first_stay,
        "age": anchor_age[adm_patient] + year_adm - anchor_year[adm_patient],
        "race": race_p[adm_patient],
    })
    stays = draws.reset_index(drop=True)
    stays.insert(0, "stay_id", stay_id)
    stays.insert(0, "hadm_id", hadm_id[stay_adm])
    stays.insert(0, "subject_id", subject_id[stay_patient])
    extra = pd.DataFrame({
        "patient": stay_patient, "adm": stay_adm, "rank_in_adm": stay_rank_in_adm,
        "intime": intime, "outtime": outtime, "admittime": admittime[stay_adm],
        "dischtime": dischtime[stay_adm], "keep": stay_keep, "is_first": is_first, "child": child_stay,
        "short": short, "mode": mode, "no_enceph": no_enceph, "gcs_low": gcs_low,
        **{f"excl_{k}": v for k, v in excl.items()},
        "neuro_code": neuro_code, "stroke": stroke, "stroke_decoy": stroke_decoy,
        "eligible": eligible, "careunit": unit,
        "death_day_if_treated_rec": death_day_if_treated,
        "death_day_if_untreated_rec": death_day_if_untreated,
        "age_at_adm": (anchor_age[stay_patient] + year_adm[stay_adm] - anchor_year[stay_patient]).astype(float),
        **tv_extra,
    })
    stays = pd.concat([stays, extra], axis=1)
    # the age the SQL computes is the truth for every stay (children and repeat stays included)
    stays["age"] = stays["age_at_adm"]
    return Population(patients=patients, admissions=admissions, stays=stays,
                      alpha=alpha, log_lambda=log_lam)
