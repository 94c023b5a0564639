"""Inverse probability of treatment weighting (the sensitivity analysis).

Weights for propensity score ``e`` (probability of treatment) and ``p = P(treated)`` in the
cohort, by target population (``analysis.iptw.estimand``; default ``matching`` = the same
population as the matching, ATT or ATC):

=========  =======================  ==========================
estimand   treated                  control
=========  =======================  ==========================
ATE        1/e      (stab.: p/e)    1/(1-e)  (stab.: (1-p)/(1-e))
ATT        1                        e/(1-e)  (stab.: x (1-p)/p)
ATC        (1-e)/e  (stab.: x p/(1-p))   1
=========  =======================  ==========================

Stabilisation multiplies by the marginal probabilities so that each group's weights sum to
about its own size (Robins, Hernan & Brumback 2000; for ATT/ATC it only rescales the
weighted group, leaving the HR unchanged but the effective sample sizes meaningful).
Truncation (``truncate_percentiles: [lo, hi]``) caps the weights at their ``lo``-th and
``hi``-th percentiles over all stays (Cole & Hernan 2008); ``null`` keeps them as they are.
The weighted Cox model uses the robust (sandwich) variance. Scores are clipped to
``[1e-9, 1 - 1e-9]`` so weights stay finite; stays whose weight is (numerically) zero are left
out of the weighted Cox fit, which is where they contribute nothing anyway.
"""

from __future__ import annotations

import numpy as np


def iptw_weights(ps, treated, estimand: str = "ATE", stabilized: bool = True) -> np.ndarray:
    """IPT weights for each stay (see module table). ``estimand`` in ATE, ATT, ATC."""
    e = np.clip(np.asarray(ps, float), 1e-9, 1 - 1e-9)  # finite weights at ps = 0 or 1
    t = np.asarray(treated).astype(int) == 1
    p = t.mean()
    est = estimand.upper()
    w = np.empty_like(e)
    if est == "ATE":
        w[t] = 1 / e[t]
        w[~t] = 1 / (1 - e[~t])
        if stabilized:
            w[t] *= p
            w[~t] *= 1 - p
    elif est == "ATT":
        w[t] = 1.0
        w[~t] = e[~t] / (1 - e[~t])
        if stabilized:
            w[~t] *= (1 - p) / p
    elif est == "ATC":
        w[t] = (1 - e[t]) / e[t]
        w[~t] = 1.0
        if stabilized:
            w[t] *= p / (1 - p)
    else:
        raise ValueError(f"IPTW estimand must be ATE, ATT or ATC, not {estimand!r}")
    return w


def truncate(w, percentiles=None) -> np.ndarray:
    """Cap weights at the given ``[lo, hi]`` percentiles (0-100) of all weights; ``None``
    returns a copy unchanged."""
    w = np.asarray(w, float).copy()
    if percentiles is None:
        return w
    lo, hi = np.percentile(w, [float(percentiles[0]), float(percentiles[1])])
    return np.clip(w, lo, hi)


def effective_sample_size(w) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``."""
    w = np.asarray(w, float)
    return float(w.sum() ** 2 / np.sum(w ** 2)) if w.size else 0.0
