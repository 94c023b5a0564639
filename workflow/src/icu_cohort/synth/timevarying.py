"""The time-varying data-generating process (``dgp="timevarying"``): treatment that starts over
time, changes later measurements, and missing first-day labs.

Stay-level covariates are those of :mod:`icu_cohort.synth.dgp` (same functions, same
parameters), plus first-day missingness indicators. On top of them, :func:`run_process`
simulates, hour by hour over ``severity_process.horizon_hours`` after ICU admission and for all
stays at once (a Python loop over hours, numpy over stays):

* a latent severity change ``D(h)`` (AR(1), ``D(0) = 0``; severity ``S(h) = S0 + D(h)``);
* the hazard of starting IV magnesium sulfate (discrete-time cloglog in the baseline covariates,
  ``D(h)``, the current untreated serum magnesium and time since admission), only while alive,
  in the ICU and not yet treated;
* the hazard of death: Weibull in time since ``delay_days``, piecewise constant within each hour,
  times ``exp(eta + death_log_hr_per_unit * D(h) + log_hr * A(h))`` with ``A(h) = 1`` from the
  first dose on; after the horizon ``D`` and ``A`` keep their last values (closed form).

The same random numbers (one ``Exp(1)`` per stay for death, one uniform per stay and hour for
treatment, one normal per stay and hour for ``D``) drive every *strategy* simulated in the same
loop (common random numbers): the natural course (what the data show), never treat, treat from
ICU admission, and for each grace period G "start within G h" (the natural start if it comes
before G, else at G if alive and not yet treated) and "no start within G h" (no start before G,
the natural start process from G on). On request (:func:`simulate_process`'s
``extra_strategies``) also "untreated from L" (the natural course until L h, treatment withdrawn
at L, the natural start process from L on: the comparator of a landmark analysis at L, whose
other arm is "start within L h"). Treatment does not change ``D``, so potential outcomes
differ only through ``log_hr``. Formulas and defaults: synthetic_data/README.md (section 9) and
params_timevarying.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from . import dgp
from .params import MISSING_ITEMS, load_params, params_key, split_overrides

HORIZON_DAYS = dgp.HORIZON_DAYS
#: A first dose must fit before the planned ICU discharge: start hour + 1 + this <= LOS hours
#: (the longest infusion, 2 h, ends >= 10 min before outtime).
DOSE_FIT_HOURS = 2.25
_REFERENCE_N = 60_000
_REFERENCE_SEED = 20250101


# --------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Strategy:
    """A treatment strategy with time zero = ICU admission (``grace`` in whole hours)."""

    name: str
    kind: str              # natural | never | always | start_within | no_start_within | untreated_from
    grace: int | None = None


def grace_periods(params: Mapping[str, Any]) -> list[int]:
    """The grace periods simulated: ``strategies.grace_hours`` and ``landmark_hours``, sorted."""
    S = params["strategies"]
    return sorted({int(g) for g in S["grace_hours"]} | {int(g) for g in S["landmark_hours"]})


def strategies(params: Mapping[str, Any]) -> list[Strategy]:
    out = [Strategy("natural", "natural"), Strategy("never", "never"), Strategy("always", "always")]
    for g in grace_periods(params):
        out += [Strategy(f"start_within_{g}h", "start_within", g),
                Strategy(f"no_start_within_{g}h", "no_start_within", g)]
    return out


# --------------------------------------------------------------------------------------
# Missing first-day measurements
# --------------------------------------------------------------------------------------

def _mar_lp(cov: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> np.ndarray:
    """The MAR part of the missingness logit: observed first-day values only."""
    mar = params["missingness"]["mar"]
    terms = {"vasopressor": cov["vasopressor"].astype(float),
             "mechanical_ventilation": cov["mechanical_ventilation"].astype(float),
             "creatinine": np.log(cov["creatinine"] / 1.2)}
    lp = np.zeros(len(cov["creatinine"]))
    for key, coef in mar.items():
        if key not in terms:
            raise KeyError(f"unknown missingness.mar term {key!r} (known: {', '.join(terms)})")
        lp = lp + float(coef) * terms[key]
    return lp


def _mnar_z(cov: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Standardised own (possibly unobserved) value of each item, for the MNAR term."""
    labs = params["covariates"]["labs"]

    def z(name: str) -> np.ndarray:
        return np.log(cov[name] / float(labs[name]["median"])) / float(labs[name]["sd_log"])

    return {"blood_gas": z("lactate"), "lactate": z("lactate"), "liver_panel": z("bilirubin"),
            "albumin": -cov["_S"], "coagulation": z("inr")}


_MISSING_CACHE: dict[str, dict[str, float]] = {}
#: Fixed-point rounds of :func:`missing_intercepts` (the Sepsis-3 redraw shifts the shares).
_MISSING_ROUNDS = 4


def missing_intercepts(params: Mapping[str, Any]) -> dict[str, float]:
    """Intercepts ``a`` giving the target missing shares among eligible-type stays, solved on a
    fixed reference sample (so they depend on the parameters only).

    First solved on covariates drawn without the missingness-aware Sepsis-3 redraw (exactly, by
    root finding), then corrected on the logit scale over a few rounds of the full draw
    (:func:`draw_covariates`), whose redraw of stays lacking early SOFA points slightly changes
    who is missing.
    """
    key = params_key({k: params[k] for k in ("plan", "covariates", "missingness")})
    if key in _MISSING_CACHE:
        return _MISSING_CACHE[key]
    rng = np.random.default_rng(_REFERENCE_SEED + 1)
    prof = dgp.eligible_profile(_REFERENCE_N, rng, params)
    cov = dgp.draw_covariates(_REFERENCE_N, rng, params, prof)
    lp = _mar_lp(cov, params)
    z = _mnar_z(cov, params)
    M = params["missingness"]
    out: dict[str, float] = {}
    prob: dict[str, np.ndarray] = {}
    for item in MISSING_ITEMS:
        target = float(M["share"][item])
        eta = lp + float(M["mnar_log_or"][item]) * z[item]
        panel = {"lactate": "blood_gas", "albumin": "liver_panel"}.get(item)
        base = prob[panel] if panel else np.zeros_like(lp)

        def share(a: float) -> float:
            return float(np.mean(base + (1.0 - base) * expit(a + eta)))

        if target - share(-40.0) <= 1e-12:
            a = -40.0
        else:
            a = brentq(lambda x: share(x) - target, -40.0, 40.0, xtol=1e-10)
        out[item] = float(a)
        prob[item] = base + (1.0 - base) * expit(a + eta)
    for r in range(_MISSING_ROUNDS):
        rr = np.random.default_rng(_REFERENCE_SEED + 2 + r)
        prof = dgp.eligible_profile(_REFERENCE_N, rr, params)
        cov = draw_covariates(_REFERENCE_N, rr, params, prof, intercepts=out)
        for item in MISSING_ITEMS:
            target = float(M["share"][item])
            got = float(np.mean(cov[f"miss_{item}"]))
            if out[item] > -40.0 and 0.0 < got < 1.0 and 0.0 < target < 1.0:
                out[item] += float(np.log(target / (1 - target)) - np.log(got / (1 - got)))
    _MISSING_CACHE[key] = out
    return out


def draw_missing(cov: Mapping[str, np.ndarray], rng: np.random.Generator, params: Mapping[str, Any],
                 intercepts: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Missing-item indicators (bool arrays named ``miss_<item>``) of the first-day draw."""
    n = len(cov["creatinine"])
    lp = _mar_lp(cov, params)
    z = _mnar_z(cov, params)
    M = params["missingness"]
    u = rng.random((len(MISSING_ITEMS), n))
    out: dict[str, np.ndarray] = {}
    for i, item in enumerate(MISSING_ITEMS):
        p = expit(float(intercepts[item]) + lp + float(M["mnar_log_or"][item]) * z[item])
        out[f"miss_{item}"] = u[i] < p
    out["miss_lactate"] |= out["miss_blood_gas"]
    out["miss_albumin"] |= out["miss_liver_panel"]
    return out


def observed_early_sofa(cov: Mapping[str, np.ndarray]) -> np.ndarray:
    """:func:`dgp.early_sofa` without the components whose first-day item is missing (no blood
    gas: no respiration points; no liver panel: no liver points)."""
    agent = cov["_vaso_agent"]
    ne_epi = (agent == dgp.AGENT_CODE["norepinephrine"]) | (agent == dgp.AGENT_CODE["epinephrine"])
    cardio = np.where(ne_epi, 3, np.where(agent == dgp.AGENT_CODE["dopamine"], 2, 0))
    resp = np.where(cov["miss_blood_gas"], 0,
                    dgp.respiration_points(cov["_pafi"], cov["mechanical_ventilation"], hourly=True))
    liver = np.where(cov["miss_liver_panel"], 0, dgp.liver_points(cov["bilirubin"]))
    return (resp + dgp.coagulation_points(cov["platelets"]) + liver + cardio
            + dgp.cns_points(cov["gcs_min"]) + dgp.renal_points(cov["creatinine"]))


def draw_covariates(n: int, rng: np.random.Generator, params: Mapping[str, Any], profile: dgp.Profile,
                    age: np.ndarray | None = None, male: np.ndarray | None = None,
                    intercepts: Mapping[str, float] | None = None) -> dict[str, np.ndarray]:
    """:func:`dgp.draw_covariates` plus ``miss_<item>``; SEPTIC stays are redrawn (physiology and
    missingness) until the early SOFA from the items that will be OBSERVED is >= 2, so Sepsis-3
    holds by construction whatever is missing."""
    intercepts = missing_intercepts(params) if intercepts is None else intercepts
    base = dgp._draw_base(n, rng, params, age, male)
    phys = dgp._draw_physiology(n, rng, params, base, profile)
    phys.update(draw_missing({**base, **phys}, rng, params, intercepts))
    todo = np.flatnonzero((profile.physiology == dgp.SEPTIC) & (observed_early_sofa(phys) < 2))
    for _ in range(200):
        if todo.size == 0:
            break
        sub = {k: v[todo] for k, v in base.items()}
        redraw = dgp._draw_physiology(todo.size, rng, params, sub, profile.take(todo))
        redraw.update(draw_missing({**sub, **redraw}, rng, params, intercepts))
        for key, value in redraw.items():
            phys[key][todo] = value
        todo = todo[observed_early_sofa({k: v[todo] for k, v in phys.items()}) < 2]
    if todo.size:   # practically unreachable: a low-dose norepinephrine (3 cardiovascular points)
        phys["_vaso_agent"][todo] = dgp.AGENT_CODE["norepinephrine"]
        phys["_vaso_rate"][todo] = 0.05
        phys["vasopressor"][todo] = 1
    cov = {**base, **phys}
    C = params["covariates"]
    p_aki = expit(float(C["aki"]["intercept"]) + float(C["aki"]["log_creatinine"]) * np.log(cov["creatinine"]))
    cov["aki"] = (rng.random(n) < p_aki).astype(np.int8)
    cov["sofa"] = dgp.first_day_sofa(cov)
    cov["charlson"] = dgp.charlson_index(cov["age"], cov)
    cov["delirium"] = profile.delirium.astype(np.int8)
    cov["_physiology"] = profile.physiology.astype(np.int8)
    return cov


# --------------------------------------------------------------------------------------
# The hourly process
# --------------------------------------------------------------------------------------

def _weibull_w(t_hours: np.ndarray | float, params: Mapping[str, Any]) -> np.ndarray:
    """Baseline cumulative hazard without lambda: ((t - delay) / 24)_+ ** shape, t in hours."""
    O = params["outcome"]
    d = 24.0 * float(O["delay_days"])
    return np.maximum((np.asarray(t_hours, dtype=float) - d) / 24.0, 0.0) ** float(O["weibull_shape"])


def _weibull_inverse(w: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    O = params["outcome"]
    return 24.0 * float(O["delay_days"]) + 24.0 * np.asarray(w) ** (1.0 / float(O["weibull_shape"]))


def treatment_terms(cov: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> tuple[np.ndarray, float, np.ndarray]:
    """(x'b of the baseline covariates without magnesium, b_magnesium, Mg0) of the start hazard."""
    coefs = dict(params["treatment"]["coefficients"])
    b_mg = float(coefs.pop("magnesium", 0.0))
    return dgp.linear_predictor(cov, coefs), b_mg, np.asarray(cov["magnesium"], dtype=float)


def _hour_terms(params: Mapping[str, Any]) -> dict[str, Any]:
    sp, tp = params["severity_process"], params["treatment_process"]
    H = int(sp["horizon_hours"])
    h = np.arange(H)
    return {
        "H": H, "rho": float(sp["persistence"]), "sd": float(sp["hourly_sd"]),
        "b_death": float(sp["death_log_hr_per_unit"]), "b_treat": float(sp["treatment_log_hr_per_unit"]),
        "earliest": int(tp["earliest_hours"]),
        "time_term": (float(tp["time_shape"]) - 1.0) * np.log((h + 0.5) / 24.0),
        "w_hour": np.diff(_weibull_w(np.arange(H + 1), params)),     # per-hour baseline increments
        "w_H": float(_weibull_w(H, params)),
        "mg_sev": float(params["covariates"]["labs"]["magnesium"]["severity"]),
        "log_hr": float(params["outcome"]["log_hr"]),
    }


def daily_d_hours(horizon_hours: int) -> np.ndarray:
    """Hours at which :class:`ProcessResult` keeps D: 0, 24, 48, ... and the last hour, i.e.
    ``min(24 k, H - 1)`` for k = 0 .. ceil((H - 1) / 24)."""
    H = int(horizon_hours)
    k = np.arange(int(np.ceil((H - 1) / 24.0)) + 1)
    return np.minimum(24 * k, H - 1)


@dataclass
class ProcessResult:
    """Output of :func:`run_process` (arrays over stays; hours from ICU intime).

    ``start[name]``/``death[name]``: first-dose time (NaN = never) and death time per strategy;
    ``start_hour``/``start_minute``: the natural first dose's hour index and whole minute within
    it (-1 = none); ``d_daily``: D at the hours :func:`daily_d_hours` (columns), for later measurements;
    ``d_hourly``: D at every hour 0 .. H-1 (n x H, float32) when asked for (``keep_hourly``).
    """

    start: dict[str, np.ndarray]
    death: dict[str, np.ndarray]
    start_hour: np.ndarray
    start_minute: np.ndarray
    d_daily: np.ndarray
    d_hourly: np.ndarray | None = None


def run_process(rng: np.random.Generator, params: Mapping[str, Any], eta: np.ndarray, lp_treat: np.ndarray,
                b_mg: float, mg0: np.ndarray, icu_hours: np.ndarray, sub_minute_s: np.ndarray,
                log_lambda: float, alpha: float, which: list[Strategy] | None = None,
                keep_hourly: bool = False) -> ProcessResult:
    """Simulate the hourly process of ``n`` stays under every strategy (see module docstring).

    ``eta``: outcome linear predictor of the baseline covariates; ``lp_treat``, ``b_mg``, ``mg0``:
    :func:`treatment_terms`; ``icu_hours``: planned ICU length of stay (treatment only while in
    the ICU); ``sub_minute_s``: seconds from intime to the next whole minute (0-59), so natural
    first doses fall on whole minutes; ``log_lambda``/``alpha``: :func:`calibrate`.
    Random numbers, in this order: E (n), then per hour uniforms (n) and normals (n).
    """
    T = _hour_terms(params)
    which = which or strategies(params)
    n = eta.size
    H = T["H"]
    lam = float(np.exp(log_lambda))
    hr = float(np.exp(T["log_hr"]))
    E = rng.standard_exponential(n)
    start = {s.name: np.full(n, np.nan) for s in which}
    death = {s.name: np.full(n, np.nan) for s in which}
    Hc = {s.name: np.zeros(n) for s in which}
    for s in which:
        if s.kind == "always":
            start[s.name][:] = 0.0
    start_hour = np.full(n, -1, np.int64)
    start_minute = np.full(n, -1, np.int64)
    D = np.zeros(n)
    daily_hours = daily_d_hours(H)
    d_daily = np.zeros((n, daily_hours.size), np.float32)
    column_of = {int(hh): k for k, hh in enumerate(daily_hours)}
    d_hourly = np.zeros((n, H), np.float32) if keep_hourly else None
    sub_h = np.asarray(sub_minute_s, dtype=float) / 3600.0
    fits = np.asarray(icu_hours, dtype=float) - DOSE_FIT_HOURS - 1.0       # start hour h must be <= this
    for h in range(H):
        if h in column_of:
            d_daily[:, column_of[h]] = D
        if d_hourly is not None:
            d_hourly[:, h] = D
        q = alpha + T["time_term"][h] + lp_treat + T["b_treat"] * D + b_mg * (mg0 * np.exp(T["mg_sev"] * D) - 2.0)
        p = -np.expm1(-np.exp(np.minimum(q, 50.0)))
        U = rng.random(n)
        Z = rng.standard_normal(n)
        hit = (U < p) & (h >= T["earliest"]) & (h <= fits)
        minute = np.where(hit, np.minimum(np.floor(U / np.where(p > 0, p, 1.0) * 59.0), 58.0), 0.0)
        f_nat = (minute * 60.0) / 3600.0 + sub_h
        rate = lam * T["w_hour"][h] * np.exp(eta + T["b_death"] * D)
        for s in which:
            nm = s.name
            alive = np.isnan(death[nm])
            if s.kind == "untreated_from" and h == s.grace:
                start[nm] = np.full(n, np.nan)                 # treatment withdrawn at L
            untreated = np.isnan(start[nm])
            if s.kind in ("natural", "untreated_from") or (s.kind == "start_within" and h < s.grace) or \
                    (s.kind == "no_start_within" and h >= s.grace):
                new = hit & alive & untreated
                f = np.where(new, f_nat, 1.0)
            elif s.kind == "start_within" and h == s.grace:
                new = alive & untreated
                f = np.where(new, 0.0, 1.0)
            else:
                new = np.zeros(n, bool)
                f = np.ones(n)
            f = np.where(untreated, f, 0.0)                    # already treated: whole hour treated
            need = E - Hc[nm]
            seg1 = rate * f
            die1 = alive & (seg1 >= need) & (rate > 0)
            death[nm] = np.where(die1, h + need / np.where(rate > 0, rate, 1.0), death[nm])
            go = alive & ~die1
            Hc[nm] = np.where(go, Hc[nm] + seg1, Hc[nm])
            started = new & go
            start[nm] = np.where(started, h + f, start[nm])
            if nm == "natural":
                start_hour = np.where(started, h, start_hour)
                start_minute = np.where(started, minute.astype(np.int64), start_minute)
            treated_now = ~np.isnan(start[nm])
            seg2 = np.where(treated_now, rate * hr * (1.0 - f), 0.0)
            need2 = E - Hc[nm]
            die2 = go & treated_now & (seg2 >= need2) & (seg2 > 0)
            death[nm] = np.where(die2, h + f + need2 / np.where(seg2 > 0, rate * hr, 1.0), death[nm])
            Hc[nm] = np.where(go & ~die2, Hc[nm] + seg2, Hc[nm])
        D_last = D
        D = T["rho"] * D + T["sd"] * Z
    # closed form after the horizon: D and A keep the values of the last simulated hour
    for s in which:
        nm = s.name
        alive = np.isnan(death[nm])
        treated = ~np.isnan(start[nm])
        mult = lam * np.exp(eta + T["b_death"] * D_last + np.where(treated, T["log_hr"], 0.0))
        w_end = T["w_H"] + (E - Hc[nm]) / mult
        death[nm] = np.where(alive, _weibull_inverse(w_end, params), death[nm])
    return ProcessResult(start=start, death=death, start_hour=start_hour, start_minute=start_minute,
                         d_daily=d_daily, d_hourly=d_hourly)


# --------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------

_CALIBRATION_CACHE: dict[str, tuple[float, float]] = {}


def _reference_icu_hours(n: int, rng: np.random.Generator, params: Mapping[str, Any]) -> np.ndarray:
    """Planned ICU LOS (hours) of stays meant to last > 24 h (timeline.icu_los_days)."""
    s = params["timeline"]["icu_los_days"]
    return 24.0 * np.minimum(float(s["min"]) + rng.gamma(float(s["gamma_shape"]), float(s["gamma_scale"]), n),
                             float(s["max"]))


def calibrate(params: Mapping[str, Any]) -> tuple[float, float]:
    """(alpha, log_lambda): the start-hazard intercept and log baseline death hazard giving
    ``treatment.target_treated_share`` (expected share ever treated) and
    ``outcome.target_untreated_risk_28d`` (28-day risk if never treated) among eligible-type
    stays, solved on a fixed reference sample (60,000 stays, fixed seed): they depend on the
    parameters only. The share uses, as the hours at risk of a first dose, the hours in which
    the stay is in the ICU (planned) and alive without treatment (a close approximation: a
    death inside an hour and an earlier treatment's effect on survival are ignored).
    """
    keys = ("plan", "covariates", "treatment", "outcome", "timeline", "severity_process", "treatment_process",
            "missingness")
    relevant = {k: params[k] for k in keys}
    relevant["outcome"] = {k: v for k, v in relevant["outcome"].items() if k != "log_hr"}
    key = params_key(relevant)
    if key in _CALIBRATION_CACHE:
        return _CALIBRATION_CACHE[key]
    T = _hour_terms(params)
    H = T["H"]
    n = _REFERENCE_N
    rng = np.random.default_rng(_REFERENCE_SEED)
    prof = dgp.eligible_profile(n, rng, params)
    cov = draw_covariates(n, rng, params, prof)
    icu_hours = _reference_icu_hours(n, rng, params)
    eta = dgp.linear_predictor(cov, params["outcome"]["coefficients"])
    lp_t, b_mg, mg0 = treatment_terms(cov, params)
    D = np.zeros((n, H), np.float32)
    d = np.zeros(n)
    for h in range(H):
        D[:, h] = d
        d = T["rho"] * d + T["sd"] * rng.standard_normal(n)
    E = rng.standard_exponential(n)
    inc = T["w_hour"][None, :] * np.exp(T["b_death"] * D.astype(float))           # (n, H) baseline increments
    w_tail = float(_weibull_w(24.0 * HORIZON_DAYS, params)) - T["w_H"]
    C28 = inc.sum(axis=1) + np.exp(T["b_death"] * D[:, -1].astype(float)) * max(w_tail, 0.0)
    if H >= 24 * HORIZON_DAYS:
        C28 = inc[:, : int(24 * HORIZON_DAYS)].sum(axis=1)
    risk = float(params["outcome"]["target_untreated_risk_28d"])
    log_lam = brentq(lambda ll: float(np.mean(-np.expm1(-np.exp(ll + eta) * C28))) - risk, -60.0, 30.0, xtol=1e-10)
    cum = np.exp(log_lam + eta)[:, None] * np.cumsum(inc, axis=1)
    alive = cum < E[:, None]                                   # alive at the end of hour h, untreated
    del inc, cum
    hours = np.arange(H)[None, :]
    at_risk = alive & (hours >= T["earliest"]) & (hours <= (icu_hours - DOSE_FIT_HOURS - 1.0)[:, None])
    Df = D.astype(float)
    q0 = (T["time_term"][None, :] + lp_t[:, None] + T["b_treat"] * Df
          + b_mg * (mg0[:, None] * np.exp(T["mg_sev"] * Df) - 2.0))
    K = np.where(at_risk, np.exp(np.minimum(q0, 50.0)), 0.0).sum(axis=1)
    target = float(params["treatment"]["target_treated_share"])
    reachable = float(np.mean(K > 0))
    if target >= reachable:
        raise ValueError(f"treatment.target_treated_share {target} cannot be reached: only {reachable:.3f} of "
                         f"eligible-type stays are alive and in the ICU for an hour in which a first dose fits")
    alpha = brentq(lambda a: float(np.mean(-np.expm1(-np.exp(a) * K))) - target, -60.0, 40.0, xtol=1e-10)
    _CALIBRATION_CACHE[key] = (float(alpha), float(log_lam))
    return _CALIBRATION_CACHE[key]


# --------------------------------------------------------------------------------------
# Stays: covariates + the process
# --------------------------------------------------------------------------------------

def simulate_core(n: int, rng: np.random.Generator, params: Mapping[str, Any], profile: dgp.Profile,
                  icu_hours: np.ndarray, sub_minute_s: np.ndarray, age: np.ndarray | None = None,
                  male: np.ndarray | None = None, extra_strategies: tuple[Strategy, ...] = (),
                  hourly_severity: bool = False) -> pd.DataFrame:
    """Covariates, missingness and the hourly process of ``n`` stays (the time-varying DGP).

    Columns: the covariates of :func:`dgp.simulate_core` (``propensity`` is NaN: there is no
    baseline decision), ``miss_<item>``, ``treated`` (natural course: a first dose while alive
    and in the ICU), ``_start_hour``/``_start_minute`` (its hour and minute, -1 if none),
    ``_eta``, ``T_<strategy>`` (death, days from intime, continuous, per strategy, e.g.
    ``T_natural``, ``T_never``, ``T_always``, ``T_start_within_24h``), ``S_<strategy>`` (start
    of treatment, hours; NaN if none), ``T1`` = ``T_always`` and ``T0`` = ``T_never``, and
    ``_D<k>`` (severity change D at hour min(24 k, horizon - 1)); with ``hourly_severity``
    also ``_Dh<h>`` (D at every hour h = 0 .. horizon - 1). ``extra_strategies`` are simulated
    too (columns ``T_``/``S_`` of their names); they draw no random numbers, so the other
    columns do not change.
    """
    cov = draw_covariates(n, rng, params, profile, age=age, male=male)
    alpha, log_lam = calibrate(params)
    eta = dgp.linear_predictor(cov, params["outcome"]["coefficients"])
    lp_t, b_mg, mg0 = treatment_terms(cov, params)
    res = run_process(rng, params, eta, lp_t, b_mg, mg0, np.asarray(icu_hours, float),
                      np.asarray(sub_minute_s, float), log_lam, alpha,
                      which=strategies(params) + list(extra_strategies), keep_hourly=hourly_severity)
    df = pd.DataFrame(cov)
    df["propensity"] = np.nan
    df["treated"] = (res.start_hour >= 0).astype(np.int8)
    df["_eta"] = eta
    df["_start_hour"] = res.start_hour
    df["_start_minute"] = res.start_minute
    for name in res.death:
        df[f"T_{name}"] = res.death[name] / 24.0
        df[f"S_{name}"] = res.start[name]
    df["T1"] = df["T_always"]
    df["T0"] = df["T_never"]
    for k in range(res.d_daily.shape[1]):
        df[f"_D{k}"] = res.d_daily[:, k].astype(float)
    if res.d_hourly is not None:
        df = pd.concat([df, pd.DataFrame(res.d_hourly.astype(float), index=df.index,
                                         columns=[f"_Dh{h}" for h in range(res.d_hourly.shape[1])])], axis=1)
    return df


def simulate_process(n_stays: int, seed: int, extra_strategies: tuple[Strategy, ...] = (),
                     hourly_severity: bool = False, **params: Any) -> pd.DataFrame:
    """``n_stays`` eligible-type stays (septic, encephalopathic, first stays lasting > 24 h) of the
    time-varying DGP, without writing any table: for Monte-Carlo checks of the designs.

    ``params``: overrides as for :func:`icu_cohort.synth.dgp.simulate_stays` (shortcuts, nested
    sections, ``params_file=PATH``). Columns as :func:`simulate_core`, plus ``stay_id`` (1..n),
    ``icu_hours`` (planned ICU length of stay; the data's outtime is the earlier of this and an
    ICU death) and ``first_dose_hours`` (natural course, NaN if never). Deaths are continuous
    days from intime (not rounded as the data record them). ``extra_strategies`` (e.g.
    ``Strategy("untreated_from_48h", "untreated_from", 48)``) and ``hourly_severity`` as in
    :func:`simulate_core`; neither changes any other column.
    """
    params_file = params.pop("params_file", None)
    nested, short = split_overrides(params)
    P = load_params(params_file, nested, dgp="timevarying", **short)
    rng = np.random.default_rng(int(seed))
    n = int(n_stays)
    prof = dgp.eligible_profile(n, rng, P)
    icu_hours = _reference_icu_hours(n, rng, P)
    df = simulate_core(n, rng, P, prof, icu_hours, np.zeros(n), extra_strategies=tuple(extra_strategies),
                       hourly_severity=hourly_severity)
    df.insert(0, "stay_id", np.arange(1, n + 1))
    df["icu_hours"] = icu_hours
    df["first_dose_hours"] = df["S_natural"]
    return df


# --------------------------------------------------------------------------------------
# Ground truth: risks, risk differences, marginal hazard ratios
# --------------------------------------------------------------------------------------

def risk(death_days: np.ndarray, horizon: float = HORIZON_DAYS) -> float:
    """Share dead by ``horizon`` days (NaN death day = alive beyond day 90)."""
    d = np.asarray(death_days, dtype=float)
    return float(np.mean(~np.isnan(d) & (d <= horizon))) if d.size else float("nan")


def marginal_hazard_ratio(days_a: np.ndarray, days_b: np.ndarray, horizon: float = HORIZON_DAYS) -> float:
    """Hazard ratio of strategy a vs b in the population of potential outcomes: the Cox model
    ``time ~ strategy`` fitted to the two potential outcomes of every stay stacked (2n rows),
    follow-up from ICU admission censored at ``horizon`` days, Efron's method for ties (the
    lifelines / R default). NaN without deaths."""
    a = np.asarray(days_a, dtype=float)
    b = np.asarray(days_b, dtype=float)
    t = np.concatenate([a, b])
    x = np.concatenate([np.ones(a.size, bool), np.zeros(b.size, bool)])
    event = ~np.isnan(t) & (t <= horizon)
    time = np.where(event, t, horizon)
    if not event.any():
        return float("nan")
    taus, d_tot = np.unique(time[event], return_counts=True)
    s1, s0 = np.sort(time[x]), np.sort(time[~x])
    n1 = (s1.size - np.searchsorted(s1, taus, side="left")).astype(float)
    n0 = (s0.size - np.searchsorted(s0, taus, side="left")).astype(float)
    e1 = np.sort(time[event & x])
    d1 = (np.searchsorted(e1, taus, side="right") - np.searchsorted(e1, taus, side="left")).astype(float)
    d0 = d_tot - d1
    rep = np.repeat(np.arange(taus.size), d_tot)
    frac = (np.arange(rep.size) - np.repeat(np.cumsum(d_tot) - d_tot, d_tot)) / np.repeat(d_tot, d_tot)
    N1, N0, D1, D0 = n1[rep], n0[rep], d1[rep], d0[rep]

    def score(beta: float) -> float:
        e = np.exp(beta)
        return float(d1.sum() - np.sum((N1 * e - frac * D1 * e) / (N1 * e + N0 - frac * (D1 * e + D0))))

    if score(-20.0) < 0 or score(20.0) > 0:
        return float("nan")
    return float(np.exp(brentq(score, -20.0, 20.0, xtol=1e-12)))


def contrast(days_a: np.ndarray, days_b: np.ndarray, name_a: str, name_b: str, population: str,
             horizon: float = HORIZON_DAYS) -> dict[str, Any]:
    r_a, r_b = risk(days_a, horizon), risk(days_b, horizon)
    return {"strategy": name_a, "comparator": name_b, "population": population, "n_stays": int(len(days_a)),
            "risk_strategy": r_a, "risk_comparator": r_b, "risk_difference": r_a - r_b,
            "hazard_ratio": marginal_hazard_ratio(days_a, days_b, horizon)}


def truth_contrasts(el: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The strategy contrasts of ground_truth.json from the per-stay truth of the eligible stays
    ``el`` (columns of ground_truth_stays.csv)."""
    out = {"treat_at_admission_vs_never": contrast(
        el["death_day_if_treated"].to_numpy(), el["death_day_if_untreated"].to_numpy(),
        "start at ICU admission", "never start", "eligible stays")}
    for g in params["strategies"]["grace_hours"]:
        g = int(g)
        out[f"start_within_{g}h_vs_no_start_within_{g}h"] = contrast(
            el[f"death_day_start_within_{g}h"].to_numpy(), el[f"death_day_no_start_within_{g}h"].to_numpy(),
            f"start within {g} h", f"no start within {g} h", "eligible stays")
    for L in params["strategies"]["landmark_hours"]:
        L = int(L)
        sub = el[el[f"alive_in_icu_at_{L}h"] == 1]
        out[f"landmark_{L}h"] = contrast(
            sub[f"death_day_start_within_{L}h"].to_numpy(), sub[f"death_day_no_start_within_{L}h"].to_numpy(),
            f"start within {L} h", f"no start within {L} h",
            f"eligible stays alive and in the ICU at {L} h (natural course)")
    return out


def first_dose_summary(first_dose_hours: np.ndarray) -> dict[str, Any]:
    """Shares of eligible stays with a first dose by 24 h, 48 h and over the stay, and timing."""
    f = np.asarray(first_dose_hours, dtype=float)
    n = f.size
    treated = ~np.isnan(f)
    out: dict[str, Any] = {"n_stays": int(n)}
    if n == 0:
        return out
    out.update({
        "share_treated_by_24h": float(np.mean(treated & (f < 24))),
        "share_treated_by_48h": float(np.mean(treated & (f < 48))),
        "share_treated_whole_stay": float(np.mean(treated)),
        "share_of_treated_starting_after_24h": float(np.mean(f[treated] >= 24)) if treated.any() else float("nan"),
        "share_of_treated_starting_after_48h": float(np.mean(f[treated] >= 48)) if treated.any() else float("nan"),
        "first_dose_hours_quantiles": ({q: float(np.quantile(f[treated], float(q))) for q in ("0.1", "0.25", "0.5",
                                                                                              "0.75", "0.9")}
                                       if treated.any() else {}),
    })
    return out


# --------------------------------------------------------------------------------------
# Ground truth of a target trial with time zero after ICU admission
# --------------------------------------------------------------------------------------

def target_trial_truth(first_dose_hours: np.ndarray, in_icu_at_t0: np.ndarray, days_start: np.ndarray,
                       days_no_start: np.ndarray, time_zero_hours: float,
                       horizon_days: float = HORIZON_DAYS) -> dict[str, Any]:
    """True contrast of "start within G h of time zero" vs "no start within G h" for a trial
    with time zero ``t0`` = ``time_zero_hours`` after ICU admission, eligibility = alive, in the
    ICU (``in_icu_at_t0``) and not treated before t0 in the natural course (``first_dose_hours``
    >= t0 or none), outcome = death within ``horizon_days`` of t0.

    ``days_start``/``days_no_start``: death days from ICU admission under the DGP's strategies
    ``start_within_<t0 + G>h`` and ``no_start_within_<t0 + G>h``: for a stay untreated at t0 in
    the natural course, the first IS the natural start in [t0, t0 + G) or a start at t0 + G,
    the second no start before t0 + G and the natural start process after; before t0 both
    follow the natural course, which left the stay untreated. Nobody dies before
    ``outcome.delay_days`` (>= 1 day), so with t0 <= 24 h "alive at t0" holds for every stay;
    otherwise a stay dead by t0 must be excluded through ``in_icu_at_t0``. Returns the keys of
    :func:`contrast` (risks over (t0, t0 + horizon], the marginal HR with follow-up from t0).
    """
    f = np.asarray(first_dose_hours, dtype=float)
    t0 = float(time_zero_hours)
    keep = np.asarray(in_icu_at_t0, bool) & (np.isnan(f) | (f >= t0))
    a = np.asarray(days_start, float)[keep] - t0 / 24.0
    b = np.asarray(days_no_start, float)[keep] - t0 / 24.0
    if np.any(a[~np.isnan(a)] <= 0) or np.any(b[~np.isnan(b)] <= 0):
        raise ValueError("target_trial_truth: a stay of the population is dead by time zero")
    return contrast(a, b, "start within G h of time zero", "no start within G h of time zero",
                    f"eligible stays alive, in the ICU and untreated {t0:g} h after ICU admission",
                    horizon=float(horizon_days))
