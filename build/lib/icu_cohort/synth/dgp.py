"""The stay-level data-generating process (DGP): covariates, treatment, potential outcomes.

One function, :func:`simulate_core`, draws every stay-level quantity of the synthetic data set;
:func:`icu_cohort.synth.generate` calls it for every ICU stay (then writes the MIMIC-IV tables
that realise those values exactly), and :func:`simulate_stays` calls it for ``n`` stays of the
eligible type (the SAE cohort) without writing anything, for fast Monte-Carlo studies.

Everything is vectorised over stays; random numbers come from the ``numpy.random.Generator``
passed in, in a fixed order, so a seed reproduces the draws exactly.

The model (formulas and defaults in ``synthetic_data/README.md`` and ``params.yaml``):

* latent severity ``S ~ N(0, 1)`` (stays built with normal physiology: ``N(-1, 0.5)``);
* labs lognormal in ``S`` and comorbidities, rounded as hosp.labevents reports them;
* vasopressor, invasive ventilation, lowest first-day GCS, PaO2/FiO2, urine output, vitals;
* stays meant to meet Sepsis-3 are redrawn until their early SOFA (the hour ~3 h after intime,
  see :func:`early_sofa`) is >= 2, so the SQL's 24-hour rolling SOFA reaches 2 in the window;
* treatment ``A ~ Bernoulli(expit(alpha + x'b))``, ``alpha`` solved for the target treated share;
* death ``T_a = delay + (E / (lambda exp(eta + log_hr a)))^(1/k)``, ``E ~ Exp(1)`` shared by
  both potential outcomes (common random numbers), ``lambda`` solved for the target 28-day risk
  without treatment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit

from .params import load_params, params_key, split_overrides

#: Physiology kinds of a stay (``Profile.physiology``).
UNCONSTRAINED, SEPTIC, NORMAL = 0, 1, 2

#: Vasopressor agent codes (``_vaso_agent``); 0 = none.
AGENTS = ("none", "norepinephrine", "phenylephrine", "dopamine", "epinephrine", "vasopressin")
AGENT_CODE = {name: code for code, name in enumerate(AGENTS)}

COMORBIDITIES = ("copd", "heart_failure", "diabetes", "hypertension", "ckd", "liver_disease",
                 "malignancy")
LABS = ("wbc", "hemoglobin", "platelets", "creatinine", "bun", "glucose", "sodium", "potassium",
        "calcium", "magnesium", "lactate", "bilirubin", "inr")

#: Public columns of :func:`simulate_stays`, in order (names of /tmp spec / cohort.parquet).
PUBLIC_COLUMNS = (
    "stay_id", "age", "male", "weight", "race",
    "heart_rate", "mbp", "resp_rate", "temperature", "spo2",
    *LABS,
    "sofa", "gcs_min", "charlson",
    "mechanical_ventilation", "vasopressor", "rrt",
    "copd", "aki", "heart_failure", "diabetes", "hypertension", "ckd", "liver_disease",
    "malignancy",
    "delirium", "propensity", "treated",
    "death_day_if_treated", "death_day_if_untreated", "time_days", "death_28d",
)

HORIZON_DAYS = 28.0
TRUTH_MAX_DAYS = 90.0
_REFERENCE_N = 200_000
_REFERENCE_SEED = 20240601


@dataclass(frozen=True)
class Profile:
    """What a stay is built to look like (arrays of length n).

    physiology: ``UNCONSTRAINED`` (sick, no constraint), ``SEPTIC`` (early SOFA >= 2) or
        ``NORMAL`` (SOFA 0 in every hour: GCS 15, no vasopressor or ventilation, normal labs);
    gcs_low: lowest first-day GCS < 15 (ignored for ``NORMAL``, whose GCS is 15);
    delirium: a delirium ICD code on the admission.
    """

    physiology: np.ndarray
    gcs_low: np.ndarray
    delirium: np.ndarray

    def take(self, idx: np.ndarray) -> "Profile":
        return Profile(self.physiology[idx], self.gcs_low[idx], self.delirium[idx])


def eligible_profile(n: int, rng: np.random.Generator, params: Mapping[str, Any]) -> Profile:
    """Profile of stays that meet every SAE criterion: septic and encephalopathic.

    A share ``plan.delirium_only`` has first-day GCS 15 and a delirium code; the others have
    GCS < 15 and a delirium code with probability ``plan.delirium_with_low_gcs``.
    """
    plan = params["plan"]
    u = rng.random((2, n))
    gcs_low = u[0] >= float(plan["delirium_only"])
    delirium = ~gcs_low | (u[1] < float(plan["delirium_with_low_gcs"]))
    return Profile(np.full(n, SEPTIC, np.int8), gcs_low, delirium)


# --------------------------------------------------------------------------------------
# SOFA pieces, exactly as mimic-code's sofa.sql / first_day_sofa.sql score them
# --------------------------------------------------------------------------------------

def coagulation_points(platelets: np.ndarray) -> np.ndarray:
    return np.select([platelets < 20, platelets < 50, platelets < 100, platelets < 150],
                     [4, 3, 2, 1], 0).astype(np.int8)


def liver_points(bilirubin: np.ndarray) -> np.ndarray:
    return np.select([bilirubin >= 12, bilirubin >= 6, bilirubin >= 2, bilirubin >= 1.2],
                     [4, 3, 2, 1], 0).astype(np.int8)


def cns_points(gcs: np.ndarray) -> np.ndarray:
    return np.select([gcs < 6, gcs <= 9, gcs <= 12, gcs <= 14], [4, 3, 2, 1], 0).astype(np.int8)


def renal_points(creatinine: np.ndarray, urine_day1: np.ndarray | None = None) -> np.ndarray:
    """Renal SOFA from creatinine and (first-day SOFA only) 24-h urine output in mL."""
    conds = [creatinine >= 5.0]
    vals = [4]
    if urine_day1 is not None:
        conds.append(urine_day1 < 200)
        vals.append(4)
    conds.append(creatinine >= 3.5)
    vals.append(3)
    if urine_day1 is not None:
        conds.append(urine_day1 < 500)
        vals.append(3)
    conds += [creatinine >= 2.0, creatinine >= 1.2]
    vals += [2, 1]
    return np.select(conds, vals, 0).astype(np.int8)


def respiration_points(pafi: np.ndarray, vent: np.ndarray, hourly: bool) -> np.ndarray:
    """Respiratory SOFA of one PaO2/FiO2 value, ventilated or not.

    ``hourly=True`` follows sofa.sql (ventilated < 300 scores 2, < 400 scores 1);
    ``hourly=False`` follows first_day_sofa.sql, which has no such clauses for ventilated values.
    """
    v = vent.astype(bool)
    conds = [v & (pafi < 100), v & (pafi < 200)]
    vals = [4, 3]
    if hourly:
        conds += [v & (pafi < 300), v & (pafi < 400)]
        vals += [2, 1]
    conds += [~v & (pafi < 300), ~v & (pafi < 400)]
    vals += [2, 1]
    return np.select(conds, vals, 0).astype(np.int8)


def cardiovascular_points(agent: np.ndarray, rate: np.ndarray, mbp_min: np.ndarray) -> np.ndarray:
    """First-day cardiovascular SOFA from the main agent's maximum rate and the lowest MAP.

    Phenylephrine and vasopressin are not SOFA agents: stays on them score by MAP only.
    """
    ne_epi = (agent == AGENT_CODE["norepinephrine"]) | (agent == AGENT_CODE["epinephrine"])
    dop = agent == AGENT_CODE["dopamine"]
    return np.select(
        [(dop & (rate > 15)) | (ne_epi & (rate > 0.1)), (dop & (rate > 5)) | ne_epi, dop,
         mbp_min < 70],
        [4, 3, 2, 1], 0).astype(np.int8)


def early_sofa(cov: Mapping[str, np.ndarray]) -> np.ndarray:
    """A lower bound of the rolling 24-hour SOFA at the first hourly row ending >= intime + 3 h.

    By then the generator has charted the first-day labs (drawn 0.5-4.5 h before intime), the
    first GCS (the day's lowest, 5-19 min after intime), the first arterial blood gas (1-2.5 h)
    and any vasopressor (running from <= 2 h). Norepinephrine/epinephrine at any rate score
    >= 3, dopamine >= 2; MAP and urine output are not counted (so this is a lower bound).
    """
    agent = cov["_vaso_agent"]
    ne_epi = (agent == AGENT_CODE["norepinephrine"]) | (agent == AGENT_CODE["epinephrine"])
    cardio = np.where(ne_epi, 3, np.where(agent == AGENT_CODE["dopamine"], 2, 0))
    return (respiration_points(cov["_pafi"], cov["mechanical_ventilation"], hourly=True)
            + coagulation_points(cov["platelets"]) + liver_points(cov["bilirubin"])
            + cardio + cns_points(cov["gcs_min"]) + renal_points(cov["creatinine"]))


def first_day_sofa(cov: Mapping[str, np.ndarray]) -> np.ndarray:
    """The first-day SOFA that mimic-code's first_day_sofa.sql computes from the emitted data."""
    return (respiration_points(cov["_pafi"], cov["mechanical_ventilation"], hourly=False)
            + coagulation_points(cov["platelets"]) + liver_points(cov["bilirubin"])
            + cardiovascular_points(cov["_vaso_agent"], cov["_vaso_rate"], cov["_map_min"])
            + cns_points(cov["gcs_min"]) + renal_points(cov["creatinine"], cov["_uo_day1"])
            ).astype(np.int16)


def charlson_index(age: np.ndarray, cov: Mapping[str, np.ndarray]) -> np.ndarray:
    """mimic-code charlson.sql for the codes the generator plants (comorbidities only).

    Age score (<=50: 0, <=60: 1, <=70: 2, <=80: 3, else 4) + heart failure + COPD + mild liver
    disease + diabetes without complication + 2 x malignancy + 2 x renal disease (CKD).
    """
    age_score = np.select([age <= 50, age <= 60, age <= 70, age <= 80], [0, 1, 2, 3], 4)
    return (age_score + cov["heart_failure"] + cov["copd"] + cov["liver_disease"]
            + cov["diabetes"] + 2 * cov["malignancy"] + 2 * cov["ckd"]).astype(np.int16)


# --------------------------------------------------------------------------------------
# Covariates
# --------------------------------------------------------------------------------------

def _round_to(x: np.ndarray, decimals: int) -> np.ndarray:
    """Round to ``decimals`` the way a parsed lab string reads back (ticks / 10**d)."""
    scale = 10.0 ** int(decimals)
    return np.round(x * scale) / scale


def _lognormal_lab(spec: Mapping[str, Any], z: np.ndarray, S: np.ndarray,
                   comorb: Mapping[str, np.ndarray]) -> np.ndarray:
    log_x = np.log(float(spec["median"])) + float(spec["sd_log"]) * z + float(spec["severity"]) * S
    for name, coef in (spec.get("effects") or {}).items():
        log_x = log_x + float(coef) * comorb[name]
    x = np.clip(np.exp(log_x), float(spec["min"]), float(spec["max"]))
    return _round_to(x, int(spec["decimals"]))


def _draw_physiology(m: int, rng: np.random.Generator, P: Mapping[str, Any], base: Mapping[str, np.ndarray],
                     prof: Profile) -> dict[str, np.ndarray]:
    """Severity-driven quantities of ``m`` stays (labs, organ support, vitals, GCS, urine).

    ``base`` holds age, male and comorbidities of the same ``m`` stays. Returns a dict of arrays.
    """
    C = P["covariates"]
    normal = prof.physiology == NORMAL
    S = rng.standard_normal(m)
    S = np.where(normal, float(C["normal_physiology"]["severity_mean"]) + 0.5 * S, S)
    out: dict[str, np.ndarray] = {"_S": S}

    z = rng.standard_normal((len(LABS), m))
    for i, lab in enumerate(LABS):
        out[lab] = _lognormal_lab(C["labs"][lab], z[i], S, base)
    # Stays built with SOFA 0: the SOFA labs (and lactate) from fixed normal ranges.
    u = rng.random((4, m))
    for i, lab in enumerate(("platelets", "creatinine", "bilirubin", "lactate")):
        lo, hi = (float(v) for v in C["normal_physiology"][lab])
        out[lab] = np.where(normal, _round_to(lo + (hi - lo) * u[i], int(C["labs"][lab]["decimals"])),
                            out[lab])

    # Organ support in the first 24 h.
    u = rng.random((6, m))
    vaso = (u[0] < expit(float(C["vasopressor"]["intercept"]) + float(C["vasopressor"]["severity"]) * S)) & ~normal
    vent = (u[1] < expit(float(C["ventilation"]["intercept"]) + float(C["ventilation"]["severity"]) * S)) & ~normal
    names = list(C["vasopressor_agents"])
    probs = np.array([float(C["vasopressor_agents"][k]) for k in names])
    codes = np.array([AGENT_CODE[k] for k in names], dtype=np.int8)
    pick = np.searchsorted(np.cumsum(probs / probs.sum()), u[2], side="right").clip(0, len(names) - 1)
    agent = np.where(vaso, codes[pick], 0).astype(np.int8)
    zr = rng.standard_normal(m)
    rate = np.zeros(m)
    for name, spec in C["vasopressor_rates"].items():
        sel = agent == AGENT_CODE[name]
        r = float(spec["median"]) * np.exp(float(spec["sd_log"]) * zr + float(spec["severity"]) * S)
        rate = np.where(sel, np.clip(r, float(spec["min"]), float(spec["max"])), rate)
    rate = np.round(rate, 4)
    addon = (agent == AGENT_CODE["norepinephrine"]) & (rate > 0.25) & (u[3] < float(C["vasopressin_addon"]))
    out.update(vasopressor=vaso.astype(np.int8), mechanical_ventilation=vent.astype(np.int8),
               _vaso_agent=agent, _vaso_rate=rate, _vasopressin_addon=addon)

    # Lowest first-day GCS.
    g = C["gcs_deficit"]
    lam = np.exp(float(g["log_mean"]) + float(g["severity"]) * S + float(g["ventilation"]) * vent)
    deficit = 1 + rng.poisson(lam)
    low = prof.gcs_low & ~normal
    out["gcs_min"] = np.where(low, np.clip(15 - deficit, 3, 14), 15).astype(np.int16)

    # First-day arterial blood gas: FiO2 (%) and PaO2 (mm Hg) -> PaO2/FiO2 as bg.sql computes it.
    zp = rng.standard_normal(m)
    pv, pn = C["pafi_vent"], C["pafi_novent"]
    pafi_target = np.where(
        vent, float(pv["median"]) * np.exp(float(pv["sd_log"]) * zp + float(pv["severity"]) * S),
        float(pn["median"]) * np.exp(float(pn["sd_log"]) * zp + float(pn["severity"]) * S))
    fio2_vent = np.array([40, 50, 60, 70, 80, 100])[rng.integers(0, 6, m)]
    fio2_novent = np.array([21, 24, 28, 32, 36, 40])[rng.integers(0, 6, m)]
    fio2 = np.where(vent, fio2_vent, np.where(normal, 21, fio2_novent))
    po2 = np.clip(np.round(pafi_target * fio2 / 100.0), 35, 550)
    po2 = np.where(normal, 90 + rng.integers(0, 31, m), po2)          # 90-120 on room air: P/F >= 428
    out.update(_fio2=fio2.astype(np.int16), _po2=po2.astype(np.int16), _pafi=100.0 * po2 / fio2)

    # First-day urine output (mL over the 24 hourly Foley rows) and its per-hour floor.
    uo = C["urine_day1_ml"]
    uo_day1 = float(uo["median"]) * np.exp(float(uo["sd_log"]) * rng.standard_normal(m)
                                           + float(uo["severity"]) * S + float(uo["ckd"]) * base["ckd"])
    uo_day1 = np.round(np.clip(uo_day1, float(uo["min"]), float(uo["max"]))).astype(np.int64)
    out["_uo_day1"] = np.where(normal, np.maximum(uo_day1, 24 * 50), uo_day1)
    out["_uo_floor"] = np.where(normal, 40, 0).astype(np.int16)

    # First-day vitals, as integer totals of the charted values (24 hourly, 6 temperatures).
    V = C["vitals"]
    zv = rng.standard_normal((5, m))

    def vital(name: str, k: int, extra: np.ndarray | float = 0.0) -> np.ndarray:
        spec = V[name]
        x = float(spec["mean"]) + float(spec["sd"]) * zv[k] + float(spec["severity"]) * S + extra
        return np.clip(x, float(spec["min"]), float(spec["max"]))

    hr = vital("heart_rate", 0)
    mbp = vital("mbp", 1, float(V["mbp"]["vasopressor"]) * vaso)
    mbp = np.where(normal, np.maximum(mbp, 80.0), mbp)
    rr = vital("resp_rate", 2)
    temp = vital("temperature", 3)
    spo2 = vital("spo2", 4)
    out["_hr_total"] = np.round(hr * 24).astype(np.int64)
    out["_map_total"] = np.round(mbp * 24).astype(np.int64)
    dip = rng.gamma(float(V["mbp_dip"]["gamma_shape"]), float(V["mbp_dip"]["gamma_scale"]), m)
    map_min = np.floor(out["_map_total"] / 24 - dip).astype(np.int64)
    out["_map_min"] = np.where(normal, np.maximum(map_min, 72), np.maximum(map_min, 35))
    out["_rr_total"] = np.round(rr * 24).astype(np.int64)
    out["_spo2_total"] = np.round(spo2 * 24).astype(np.int64)
    out["_temp_total"] = np.round(temp * 60).astype(np.int64)     # tenths of deg C over 6 values
    out["heart_rate"] = out["_hr_total"] / 24.0
    out["mbp"] = out["_map_total"] / 24.0
    out["resp_rate"] = out["_rr_total"] / 24.0
    out["spo2"] = out["_spo2_total"] / 24.0
    out["temperature"] = out["_temp_total"] / 60.0

    # Renal replacement therapy (CRRT) in the first 24 h.
    r = C["rrt"]
    p_rrt = expit(float(r["intercept"]) + float(r["log_creatinine"]) * np.log(out["creatinine"]))
    out["rrt"] = ((u[4] < p_rrt) & ~normal).astype(np.int8)
    return out


def _draw_base(n: int, rng: np.random.Generator, P: Mapping[str, Any], age: np.ndarray | None,
               male: np.ndarray | None) -> dict[str, np.ndarray]:
    """Demographics and comorbidities (not severity-driven)."""
    C = P["covariates"]
    a = C["age"]
    drawn_age = np.clip(np.round(rng.normal(float(a["mean"]), float(a["sd"]), n)), a["min"], a["max"])
    if age is not None:
        age = np.asarray(age, dtype=float)
        drawn_age = np.where(np.isnan(age), drawn_age, age)
    u = rng.random((2 + len(COMORBIDITIES), n))
    drawn_male = (u[0] < float(C["male"])).astype(np.int8)
    if male is not None:
        male = np.asarray(male)
        drawn_male = np.where(male >= 0, male, drawn_male).astype(np.int8)
    races = list(C["race"])
    probs = np.array([float(C["race"][k]) for k in races])
    race_idx = np.searchsorted(np.cumsum(probs / probs.sum()), u[1], side="right").clip(0, len(races) - 1)
    out: dict[str, np.ndarray] = {"age": drawn_age.astype(float), "male": drawn_male,
                                  "race": np.asarray(races, dtype=object)[race_idx]}
    decades = (drawn_age - 65.0) / 10.0
    for i, name in enumerate(COMORBIDITIES):
        spec = C["comorbidities"][name]
        p = expit(logit(float(spec["prevalence"])) + float(spec["age_log_or"]) * decades)
        out[name] = (u[2 + i] < p).astype(np.int8)
    w = C["weight"]
    median = np.where(drawn_male == 1, float(w["male_median"]), float(w["female_median"]))
    weight = median * np.exp(float(w["sd_log"]) * rng.standard_normal(n))
    out["weight"] = np.round(np.clip(weight, float(w["min"]), float(w["max"])), 1)
    return out


def draw_covariates(n: int, rng: np.random.Generator, params: Mapping[str, Any], profile: Profile,
                    age: np.ndarray | None = None, male: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """All covariates of ``n`` stays under ``profile`` (public names plus ``_``-prefixed internals).

    ``age``/``male`` fix those values where given (``NaN`` / ``-1`` = draw). Stays of the
    ``SEPTIC`` kind are redrawn (severity and everything it drives) until :func:`early_sofa` >= 2.
    """
    base = _draw_base(n, rng, params, age, male)
    phys = _draw_physiology(n, rng, params, base, profile)
    todo = np.flatnonzero((profile.physiology == SEPTIC) & (early_sofa(phys) < 2))
    for _ in range(200):
        if todo.size == 0:
            break
        sub = {k: v[todo] for k, v in base.items()}
        redraw = _draw_physiology(todo.size, rng, params, sub, profile.take(todo))
        for key, value in redraw.items():
            phys[key][todo] = value
        todo = todo[early_sofa({k: v[todo] for k, v in phys.items()}) < 2]
    if todo.size:   # practically unreachable: give the remaining stays a low-dose norepinephrine
        phys["_vaso_agent"][todo] = AGENT_CODE["norepinephrine"]
        phys["_vaso_rate"][todo] = 0.05
        phys["vasopressor"][todo] = 1
    cov = {**base, **phys}
    p_aki = expit(float(params["covariates"]["aki"]["intercept"])
                  + float(params["covariates"]["aki"]["log_creatinine"]) * np.log(cov["creatinine"]))
    cov["aki"] = (rng.random(n) < p_aki).astype(np.int8)
    cov["sofa"] = first_day_sofa(cov)
    cov["charlson"] = charlson_index(cov["age"], cov)
    cov["delirium"] = profile.delirium.astype(np.int8)
    cov["_physiology"] = profile.physiology.astype(np.int8)
    return cov


# --------------------------------------------------------------------------------------
# Treatment and outcome models
# --------------------------------------------------------------------------------------

def model_terms(cov: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The terms of the treatment and outcome linear predictors (see params.yaml)."""
    terms = {
        "lactate": np.log(cov["lactate"] / 2.0),
        "creatinine": np.log(cov["creatinine"] / 1.2),
        "platelets": np.log(cov["platelets"] / 150.0),
        "gcs": 15.0 - cov["gcs_min"],
        "age": (cov["age"] - 65.0) / 10.0,
        "magnesium": cov["magnesium"] - 2.0,
    }
    for name in ("vasopressor", "mechanical_ventilation", "male", "rrt", "aki", *COMORBIDITIES):
        terms[name] = cov[name].astype(float)
    return terms


def linear_predictor(cov: Mapping[str, np.ndarray], coefficients: Mapping[str, float]) -> np.ndarray:
    terms = model_terms(cov)
    n = len(cov["age"])
    lp = np.zeros(n)
    for name, coef in coefficients.items():
        if name not in terms:
            raise KeyError(f"unknown model term {name!r} (known: {', '.join(sorted(terms))})")
        lp = lp + float(coef) * terms[name]
    return lp


_CALIBRATION_CACHE: dict[str, tuple[float, float]] = {}


def calibrate(params: Mapping[str, Any]) -> tuple[float, float]:
    """(alpha, log_lambda) giving the target treated share and untreated 28-day risk.

    Solved on a fixed reference sample of 200,000 eligible-type stays (fixed seed), so the
    result depends on the parameters only, never on the caller's seed or sample size.
    """
    relevant = {k: params[k] for k in ("plan", "covariates", "treatment", "outcome")}
    relevant["outcome"] = {k: v for k, v in relevant["outcome"].items() if k != "log_hr"}
    key = params_key(relevant)
    if key in _CALIBRATION_CACHE:
        return _CALIBRATION_CACHE[key]
    rng = np.random.default_rng(_REFERENCE_SEED)
    prof = eligible_profile(_REFERENCE_N, rng, params)
    cov = draw_covariates(_REFERENCE_N, rng, params, prof)
    lp_t = linear_predictor(cov, params["treatment"]["coefficients"])
    target = float(params["treatment"]["target_treated_share"])
    alpha = brentq(lambda a: float(np.mean(expit(a + lp_t))) - target, -40.0, 40.0, xtol=1e-10)
    O = params["outcome"]
    eta = linear_predictor(cov, O["coefficients"])
    horizon = (HORIZON_DAYS - float(O["delay_days"])) ** float(O["weibull_shape"])
    risk = float(O["target_untreated_risk_28d"])
    log_lam = brentq(lambda ll: float(np.mean(-np.expm1(-np.exp(ll + eta) * horizon))) - risk,
                     -60.0, 30.0, xtol=1e-10)
    _CALIBRATION_CACHE[key] = (float(alpha), float(log_lam))
    return _CALIBRATION_CACHE[key]


def death_days(E: np.ndarray, eta: np.ndarray, log_lam: float, params: Mapping[str, Any],
               treated: np.ndarray | int) -> np.ndarray:
    """Weibull-PH inverse: days from intime to death under treatment status ``treated``."""
    O = params["outcome"]
    k = float(O["weibull_shape"])
    hazard_scale = np.exp(log_lam + eta + float(O["log_hr"]) * np.asarray(treated, dtype=float))
    return float(O["delay_days"]) + (E / hazard_scale) ** (1.0 / k)


def simulate_core(n: int, rng: np.random.Generator, params: Mapping[str, Any], profile: Profile,
                  age: np.ndarray | None = None, male: np.ndarray | None = None) -> pd.DataFrame:
    """Covariates, treatment and both potential death times of ``n`` stays (the one DGP).

    Returns a DataFrame with the public covariate names, ``propensity`` (true P(treated | x)),
    ``treated``, ``T1``/``T0`` (continuous days from intime to death with / without treatment,
    common random numbers) and ``_``-prefixed realisation details used by the table writers.
    """
    cov = draw_covariates(n, rng, params, profile, age=age, male=male)
    alpha, log_lam = calibrate(params)
    lp_t = linear_predictor(cov, params["treatment"]["coefficients"])
    eta = linear_predictor(cov, params["outcome"]["coefficients"])
    propensity = expit(alpha + lp_t)
    u = rng.random(n)
    E = rng.standard_exponential(n)
    treated = (u < propensity).astype(np.int8)
    df = pd.DataFrame(cov)
    df["propensity"] = propensity
    df["treated"] = treated
    df["_eta"] = eta
    df["T1"] = death_days(E, eta, log_lam, params, 1)
    df["T0"] = death_days(E, eta, log_lam, params, 0)
    return df


def simulate_stays(n_stays: int, seed: int, **params: Any) -> pd.DataFrame:
    """Simulate ``n_stays`` eligible-type ICU stays (the SAE cohort) without writing any table.

    ``params`` are overrides of ``synthetic_data/params.yaml``: the shortcuts ``treated_share``,
    ``log_hr``, ``chart_rows_per_stay``, nested sections (``outcome={"weibull_shape": 1.0}``) or
    ``params_file=PATH``. The same function, :func:`simulate_core`, draws the stay-level truth
    of :func:`icu_cohort.synth.generate`.

    Columns: ``stay_id`` (1..n), the covariates under the names of cohort.parquet (age, male,
    weight, race, heart_rate, mbp, resp_rate, temperature, spo2, wbc, hemoglobin, platelets,
    creatinine, bun, glucose, sodium, potassium, calcium, magnesium, lactate, bilirubin, inr,
    sofa, gcs_min, charlson, mechanical_ventilation, vasopressor, rrt, copd, aki,
    heart_failure, diabetes, hypertension, ckd, liver_disease, malignancy), ``delirium``,
    ``propensity`` (the true propensity score), ``treated``, ``death_day_if_treated`` and
    ``death_day_if_untreated`` (days from intime; NaN when the death is after day 90),
    ``time_days`` (observed, capped at 28) and ``death_28d``. (``apsiii`` is not simulated.)
    """
    params_file = params.pop("params_file", None)
    nested, short = split_overrides(params)
    P = load_params(params_file, nested, **short)
    rng = np.random.default_rng(int(seed))
    prof = eligible_profile(int(n_stays), rng, P)
    df = simulate_core(int(n_stays), rng, P, prof)
    return to_public(df)


def to_public(df: pd.DataFrame) -> pd.DataFrame:
    """Public columns of a :func:`simulate_core` frame (observed outcome from ``treated``)."""
    out = df.copy()
    out.insert(0, "stay_id", np.arange(1, len(df) + 1))
    t1, t0 = out["T1"].to_numpy(), out["T0"].to_numpy()
    observed = np.where(out["treated"].to_numpy() == 1, t1, t0)
    out["death_day_if_treated"] = np.where(t1 <= TRUTH_MAX_DAYS, t1, np.nan)
    out["death_day_if_untreated"] = np.where(t0 <= TRUTH_MAX_DAYS, t0, np.nan)
    out["time_days"] = np.minimum(observed, HORIZON_DAYS)
    out["death_28d"] = (observed <= HORIZON_DAYS).astype(np.int8)
    return out[list(PUBLIC_COLUMNS)].reset_index(drop=True)
