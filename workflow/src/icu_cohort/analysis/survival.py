"""Kaplan-Meier curves, numbers at risk, log-rank test, 28-day mortality, risk difference.

All survival times are days from ICU admission, administratively censored at the horizon
(28 days), so every stay has complete 28-day follow-up and the crude proportion dead by day
28 equals ``1 - KM(28)`` in the unweighted case (both are reported).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

GROUPS = ((1, "treated"), (0, "control"))


def km_curve(time, event, weights=None, alpha: float = 0.05):
    """Fit lifelines' ``KaplanMeierFitter``; returns the fitter.

    ``survival_function_`` is the product-limit estimate S(t) = prod over event times
    t_j <= t of (1 - d_j / n_j) (``d_j`` deaths, ``n_j`` at risk just before t_j; weighted
    sums when ``weights`` is given); ``confidence_interval_`` is lifelines' pointwise
    ``1 - alpha`` interval (exponential Greenwood, i.e. on the log(-log S) scale).
    """
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter(alpha=alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines warns about non-integer weights
        kmf.fit(np.asarray(time, float), event_observed=np.asarray(event, int),
                weights=None if weights is None else np.asarray(weights, float))
    return kmf


def km_table(time, event, treated, sample: str, weights=None, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan-Meier estimates per group as rows ``sample, group, time, survival, ci_lower,
    ci_upper, n_at_risk, n_events``: one row at time 0 and at every distinct observed time of
    that group. ``n_at_risk`` / ``n_events``: stays (people, unweighted) under observation at
    that time / dying at it; the report's figures use them to draw each step over 0 or at
    least 11 deaths (icu_cohort.report.disclosure.coarsen_steps). This file is the analyst's,
    with the exact curve."""
    t = np.asarray(treated).astype(int)
    time = np.asarray(time, float)
    event = np.asarray(event, int)
    parts = []
    for g, lab in GROUPS:
        sel = t == g
        if not sel.any():
            continue
        kmf = km_curve(time[sel], event[sel], None if weights is None else np.asarray(weights)[sel],
                       alpha)
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_
        at = sf.index.to_numpy(dtype=float)
        ts = np.sort(time[sel])
        te = np.sort(time[sel][event[sel] == 1])
        parts.append(pd.DataFrame({
            "sample": sample, "group": lab, "time": at,
            "survival": sf.to_numpy(dtype=float),
            "ci_lower": ci.iloc[:, 0].to_numpy(dtype=float),
            "ci_upper": ci.iloc[:, 1].to_numpy(dtype=float),
            "n_at_risk": len(ts) - np.searchsorted(ts, at, side="left"),
            "n_events": np.searchsorted(te, at, side="right") - np.searchsorted(te, at, side="left")}))
    return pd.concat(parts, ignore_index=True)


def km_at(time, event, at: float, weights=None) -> float:
    """``1 - S(at)``: the Kaplan-Meier probability of death by time ``at``."""
    kmf = km_curve(time, event, weights)
    return float(1.0 - kmf.predict(float(at)))


def at_risk_table(time, treated, sample: str, times=(0, 7, 14, 21, 28)) -> pd.DataFrame:
    """Numbers at risk: stays still under observation (``time >= t``) at each ``t``, per group
    (unweighted counts, as printed under a KM plot)."""
    tt = np.asarray(time, float)
    g = np.asarray(treated).astype(int)
    rows = []
    for gv, lab in GROUPS:
        for x in times:
            rows.append(dict(sample=sample, group=lab, time=float(x),
                             n_at_risk=int(np.sum((g == gv) & (tt >= x)))))
    return pd.DataFrame(rows, columns=["sample", "group", "time", "n_at_risk"])


def logrank_p(time, event, treated, weights=None) -> float:
    """Two-sided p-value of the log-rank test of equal survival in the two groups
    (lifelines ``logrank_test``; weighted when ``weights`` is given)."""
    from lifelines.statistics import logrank_test

    t = np.asarray(treated).astype(int) == 1
    time = np.asarray(time, float)
    event = np.asarray(event, int)
    kw = {}
    if weights is not None:
        w = np.asarray(weights, float)
        kw = dict(weights_A=w[t], weights_B=w[~t])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = logrank_test(time[t], time[~t], event_observed_A=event[t],
                           event_observed_B=event[~t], **kw)
    return float(res.p_value)


def crude_risk(event, treated, weights=None) -> dict:
    """Proportion dead by the horizon per group: ``{"treated": p1, "control": p0}``
    (weighted proportions when ``weights`` is given)."""
    e = np.asarray(event, float)
    t = np.asarray(treated).astype(int)
    w = np.ones_like(e) if weights is None else np.asarray(weights, float)
    out = {}
    for g, lab in GROUPS:
        s = t == g
        out[lab] = float(np.sum(w[s] * e[s]) / np.sum(w[s])) if s.any() else float("nan")
    return out


def risk_difference(event, treated, cluster=None, weights=None, alpha: float = 0.05) -> dict:
    """Risk difference ``p_treated - p_control`` with a cluster-robust (sandwich) CI.

    Each group's risk is a (weighted) mean; the influence of stay ``i`` in group ``g`` is
    ``+/- w_i (y_i - p_g) / W_g``. Influences are summed within clusters (matched sets) and
    ``Var = C/(C-1) * sum_c (sum_{i in c} IF_i)^2`` over the ``C`` clusters, so the pairing
    of matched stays is respected. Without clusters every stay is its own cluster (the usual
    unpaired variance, up to the ``C/(C-1)`` factor). Returns ``rd, ci95 [low, high], se, p``.
    """
    y = np.asarray(event, float)
    t = np.asarray(treated).astype(int)
    w = np.ones_like(y) if weights is None else np.asarray(weights, float)
    cl = np.arange(y.size) if cluster is None else pd.factorize(np.asarray(cluster))[0]
    inf = np.zeros_like(y)
    p = {}
    for g, sign in ((1, 1.0), (0, -1.0)):
        s = t == g
        W = w[s].sum()
        p[g] = np.sum(w[s] * y[s]) / W
        inf[s] = sign * w[s] * (y[s] - p[g]) / W
    rd = float(p[1] - p[0])
    sums = np.bincount(cl, weights=inf)
    C = sums.size
    var = float(C / (C - 1) * np.sum(sums ** 2)) if C > 1 else float("nan")
    se = float(np.sqrt(var))
    z = stats.norm.ppf(1 - alpha / 2)
    pval = float(2 * stats.norm.sf(abs(rd) / se)) if se > 0 else float("nan")
    return dict(rd=rd, ci95=[rd - z * se, rd + z * se], se=se, p=pval)
