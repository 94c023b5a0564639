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
