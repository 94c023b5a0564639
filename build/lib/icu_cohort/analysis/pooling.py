"""Rubin's rules for pooling an estimate over ``m`` multiply imputed data sets.

``Q = mean(q_j)`` (the pooled estimate, e.g. a log hazard ratio); within-imputation variance
``W = mean(se_j^2)``; between-imputation variance ``B = var(q_j)`` (``m - 1`` denominator);
total variance ``T = W + (1 + 1/m) B``; degrees of freedom (Rubin 1987)
``nu = (m - 1) (1 + W / ((1 + 1/m) B))^2`` (infinite when ``B = 0``); the CI and p-value use
Student's t with ``nu`` degrees of freedom. ``fmi`` is the fraction of missing information
``(1 + 1/m) B / T``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def rubin(estimates, ses, alpha: float = 0.05) -> dict:
    """Pool ``estimates`` with standard errors ``ses``; returns ``estimate, se, ci, p, df,
    within, between, fmi, m``."""
    q = np.asarray(estimates, float)
    u = np.asarray(ses, float) ** 2
    m = q.size
    Q = float(q.mean())
    W = float(u.mean())
    B = float(q.var(ddof=1)) if m > 1 else 0.0
    T = W + (1 + 1 / m) * B
    if B > 0:
        df = (m - 1) * (1 + W / ((1 + 1 / m) * B)) ** 2
        tq = stats.t.ppf(1 - alpha / 2, df)
        p = 2 * stats.t.sf(abs(Q) / np.sqrt(T), df)
    else:
        df = float("inf")
        tq = stats.norm.ppf(1 - alpha / 2)
        p = 2 * stats.norm.sf(abs(Q) / np.sqrt(T)) if T > 0 else float("nan")
    se = float(np.sqrt(T))
    return dict(estimate=Q, se=se, ci=[Q - tq * se, Q + tq * se], p=float(p), df=float(df),
                within=W, between=B, fmi=float((1 + 1 / m) * B / T) if T > 0 else 0.0, m=m)
