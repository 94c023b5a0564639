"""E-values (VanderWeele & Ding 2017, Ann Intern Med 167:268).

The E-value is the minimum strength of association, on the risk-ratio scale, that an
unmeasured confounder would need with both the treatment and the outcome, conditional on the
measured covariates, to fully explain away the observed association:
``E = RR + sqrt(RR (RR - 1))`` for ``RR >= 1`` (use ``1/RR`` when ``RR < 1``).

A hazard ratio is first converted to an approximate risk ratio:

* rare outcome (cumulative incidence at the end of follow-up <= ``threshold``, default 15%):
  ``RR ~ HR``;
* common outcome (> ``threshold``): ``RR ~ (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))``
  (VanderWeele 2020's approximation, as in the R package EValue).

The E-value for the confidence interval uses the limit closest to 1; it is 1 when the
interval contains 1.
"""

from __future__ import annotations

import math


def hr_to_rr(hr: float, common: bool) -> float:
    """Approximate risk ratio for a hazard ratio (see module docstring)."""
    if not common:
        return float(hr)
    return (1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr))


def evalue_rr(rr: float) -> float:
    """E-value of a risk ratio: ``RR* + sqrt(RR* (RR* - 1))`` with ``RR* = max(RR, 1/RR)``."""
    if not (rr > 0) or math.isinf(rr):
        return float("nan")
    r = rr if rr >= 1 else 1 / rr
    return r + math.sqrt(r * (r - 1))


def evalue_hr(hr: float, ci_low: float, ci_high: float, outcome_risk: float,
              threshold: float = 0.15) -> dict:
    """E-values for a hazard ratio and its CI.

    Returns ``point``, ``ci_limit`` (E-value of the CI limit closest to 1, or 1 when the CI
    crosses 1), ``rr`` (the risk ratio used), ``common_outcome`` and ``outcome_risk``.
    """
    common = bool(outcome_risk > threshold)
    rr = hr_to_rr(hr, common)
    lo, hi = hr_to_rr(ci_low, common), hr_to_rr(ci_high, common)
    if lo <= 1 <= hi:
        ci_e = 1.0
    else:
        ci_e = evalue_rr(hi if rr < 1 else lo)
    return dict(point=evalue_rr(rr), ci_limit=ci_e, rr=rr, common_outcome=common,
                outcome_risk=float(outcome_risk), threshold=float(threshold))
