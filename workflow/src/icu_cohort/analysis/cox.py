"""Cox proportional-hazards models (lifelines ``CoxPHFitter``, Efron ties) and the
Schoenfeld-residual test of proportional hazards.

* Matched sample: ``time ~ treated``, robust (sandwich) variance clustered on the matched set
  (``cluster_col = pair_id``), matching weights when sets are incomplete. The hazard ratio is
  the ratio of hazards, treated over control, in the matched population (a marginal HR).
* Full cohort: ``time ~ treated + covariates`` (the score model's design: median-imputed with
  missing indicators, or one imputed data set) -- a *conditional* HR, model-based SE.
* Weighted (IPTW) models use the robust variance (each stay its own cluster).

The proportional-hazards check follows Grambsch & Therneau (1994): per term, lifelines'
``proportional_hazard_test`` on scaled Schoenfeld residuals against a transform of time
(default ``km``: 1 - KM(t), R's ``cox.zph`` default); globally, the GT approximate score
statistic ``S' V^-1 S / (d * sum (g - gbar)^2)`` with ``S = sum_k (g_k - gbar) r*_k``
(``r*`` scaled residuals, ``V`` the model-based covariance, ``d`` events), chi-squared with
one degree of freedom per term. The test uses the model-based (non-robust) fit with the same
coefficients. R's ``cox.zph`` since survival 3.0 uses an exact score test instead, so p-values
can differ slightly from R.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats


def fit_cox(df: pd.DataFrame, duration: str, event: str, *, cluster: str | None = None,
            weights: str | None = None, robust: bool = False, penalizer: float = 0.0,
            alpha: float = 0.05):
    """Fit ``CoxPHFitter`` on every column of ``df`` other than duration/event/cluster/weights.

    Robust variance is used when ``cluster`` or ``weights`` is given or ``robust`` is True.
    """
    from lifelines import CoxPHFitter

    if not (df[event] > 0).any():
        raise ValueError("no events: a Cox model cannot be fitted")
    cph = CoxPHFitter(penalizer=penalizer, alpha=alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph.fit(df, duration_col=duration, event_col=event, cluster_col=cluster,
                weights_col=weights, robust=bool(robust or cluster or weights))
    return cph


def _effect_from_row(s: pd.Series) -> dict:
    lo_col = [c for c in s.index if c.startswith("exp(coef) lower")][0]
    hi_col = [c for c in s.index if c.startswith("exp(coef) upper")][0]
    return dict(hr=float(s["exp(coef)"]), ci95=[float(s[lo_col]), float(s[hi_col])],
                p=float(s["p"]), log_hr=float(s["coef"]), se=float(s["se(coef)"]))


def term_effect(cph, term: str = "treated") -> dict:
    """``hr`` (= exp(coef)), ``ci95`` [low, high] (at the fitter's alpha), ``p`` (Wald),
    ``log_hr`` and ``se`` (of the log HR) for one term of a fitted model."""
    return _effect_from_row(cph.summary.loc[term])


def coef_table(cph) -> pd.DataFrame:
    """All terms: ``term, hr, ci_low, ci_high, p, log_hr, se``."""
    rows = []
    for term, s in cph.summary.iterrows():
        e = _effect_from_row(s)
        rows.append(dict(term=term, hr=e["hr"], ci_low=e["ci95"][0], ci_high=e["ci95"][1],
                         p=e["p"], log_hr=e["log_hr"], se=e["se"]))
    return pd.DataFrame(rows, columns=["term", "hr", "ci_low", "ci_high", "p", "log_hr", "se"])


def _schoenfeld_within_strata(fitter, X, T, E, weights, entries=None) -> np.ndarray:
    """Schoenfeld residuals of one stratum (rows sorted by time, as lifelines passes them), Efron ties.

    The same arithmetic, in the same order, as lifelines' ``SemiParametricPHFitter.
    _compute_schoenfeld_within_strata`` (lifelines 0.30; the model a fitted ``CoxPHFitter``
    holds): walking the rows from the last
    time backwards, the risk-set sums ``sum phi`` and ``sum phi x`` grow one row at a time;
    after the last row of each time with an event, every row of that time gets
    ``event * (x - m)``, where ``m`` is the Efron mean ``sum_l (R_x - l/k T_x) / (k (R - l/k T))``
    over the ``k`` tied events (``T`` their sums), and rows of a time without events get 0.
    lifelines grows its result with ``np.append`` one row at a time, which copies the array
    each time (quadratic: the analysis of sepsis_mgso4's 48,873 stays took 61.7 s with it and
    26.7 s with this); here each row is written into an array allocated once. tests/test_analysis_stats.py checks the residuals are
    bit-identical to lifelines'.
    """
    X = X.values
    E = E.values
    T = T.values
    w = weights.values
    n, d = X.shape
    out = np.zeros((n, d))
    if not np.any(E):
        return out
    scores = w * np.exp(np.dot(X, fitter.params_))
    risk_phi, tie_phi = 0, 0
    risk_phi_x, tie_phi_x = np.zeros((1, d)), np.zeros((1, d))
    tie_count = 0
    first = n - 1  # the last row (in time order) of the current time
    for i in range(n - 1, -1, -1):
        phi_i = scores[i:i + 1]
        phi_x_i = phi_i * X[i:i + 1]
        risk_phi = risk_phi + phi_i
        risk_phi_x = risk_phi_x + phi_x_i
        if E[i]:
            tie_phi = tie_phi + phi_i
            tie_phi_x = tie_phi_x + phi_x_i
            tie_count += 1
        if i > 0 and T[i - 1] == T[i]:
            continue  # more rows of this time
        if tie_count:
            mean = np.zeros((1, d))
            for l in range(tie_count):
                numer = risk_phi_x - l * tie_phi_x / tie_count
                denom = risk_phi - l * tie_phi / tie_count
                mean += numer / (denom * tie_count)
            for j in range(first, i - 1, -1):
                out[j] = E[j] * (X[j:j + 1] - mean)
        tie_count = 0
        tie_phi = 0
        tie_phi_x = np.zeros((1, d))
        first = i - 1
    return out


def use_linear_schoenfeld(cph) -> bool:
    """Give a fitted lifelines ``CoxPHFitter`` the residuals of :func:`_schoenfeld_within_strata`
    (this object only; lifelines itself is not changed). Returns whether it could: a lifelines
    without the method it replaces keeps its own."""
    import inspect
    import types

    model = getattr(cph, "_model", None)
    method = getattr(model, "_compute_schoenfeld_within_strata", None)
    if method is None or list(inspect.signature(method).parameters) != ["X", "T", "E", "weights", "entries"]:
        return False
    model._compute_schoenfeld_within_strata = types.MethodType(_schoenfeld_within_strata, model)
    return True


def ph_tests(df: pd.DataFrame, duration: str, event: str, model: str, *,
             weights: str | None = None, time_transform: str = "km",
             penalizer: float = 0.0) -> pd.DataFrame:
    """Schoenfeld-residual tests for the model ``duration ~ all other columns`` of ``df``.

    Returns rows ``model, term, test_statistic, df, p`` -- one per term and one ``GLOBAL``.
    Weights, if given, enter the fit (the same coefficients as the analysed model); the
    variance used is the model-based one.
    """
    from lifelines import CoxPHFitter
    from lifelines.statistics import TimeTransformers, proportional_hazard_test

    if not (df[event] > 0).any():
        raise ValueError("no events: no proportional-hazards test")
    cph = CoxPHFitter(penalizer=penalizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph.fit(df, duration_col=duration, event_col=event, weights_col=weights, robust=False)
        use_linear_schoenfeld(cph)
        scaled = cph.compute_residuals(df, kind="scaled_schoenfeld")
        res = proportional_hazard_test(cph, df, time_transform=time_transform,
                                       precomputed_residuals=scaled)
        ev = cph.event_observed
        g = TimeTransformers().get(time_transform)(cph.durations, ev, cph.weights)[ev.values]
    rows = []
    summ = res.summary
    for term in cph.params_.index:
        r = summ.loc[term]
        rows.append(dict(model=model, term=term, test_statistic=float(r["test_statistic"]),
                         df=1, p=float(r["p"])))
    g = np.asarray(g, float)
    gc = g - g.mean()
    S = (gc[:, None] * scaled.to_numpy()).sum(axis=0)
    d = float(ev.sum())
    V = cph.variance_matrix_.to_numpy()
    try:
        T = float(S @ np.linalg.solve(V, S) / (d * np.sum(gc ** 2)))
    except np.linalg.LinAlgError:
        T = float("nan")
    p = len(S)
    rows.append(dict(model=model, term="GLOBAL", test_statistic=T, df=p,
                     p=float(stats.chi2.sf(T, p)) if np.isfinite(T) else float("nan")))
    return pd.DataFrame(rows, columns=["model", "term", "test_statistic", "df", "p"])
