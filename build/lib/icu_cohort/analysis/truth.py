"""True effects from potential outcomes (for validating the analysis on synthetic data).

A synthetic stay carries both potential death days, ``death_day_if_treated`` and
``death_day_if_untreated`` (NaN = alive past the follow-up the generator draws). For a set of
stays (e.g. the matched sample), the *true* quantities of that population are:

* ``risk_treated`` / ``risk_control``: the proportion who would die by the horizon under
  treatment / under no treatment (each stay counted once, with its weight);
* ``rd``: their difference (the true marginal risk difference);
* ``hr``: the true *marginal* hazard ratio: a Cox model ``time ~ arm`` fitted to the
  population duplicated under both arms (every stay once with its treated outcome, once with
  its untreated outcome, censored at the horizon). With a non-collapsible HR this differs from
  the generator's conditional HR, and it is what a well-balanced matched comparison estimates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .cox import fit_cox, term_effect


def _time_event(death_day, horizon):
    d = np.asarray(death_day, float)
    dead = ~np.isnan(d) & (d <= horizon)
    time = np.where(dead, d, horizon)
    return time, dead.astype(int)


def true_effects(death_day_if_treated, death_day_if_untreated, horizon: float = 28.0,
                 weights=None) -> dict:
    """``risk_treated, risk_control, rd, hr, log_hr`` of the given population (see module)."""
    t1, e1 = _time_event(death_day_if_treated, horizon)
    t0, e0 = _time_event(death_day_if_untreated, horizon)
    w = np.ones(t1.size) if weights is None else np.asarray(weights, float)
    r1 = float(np.sum(w * e1) / w.sum())
    r0 = float(np.sum(w * e0) / w.sum())
    df = pd.DataFrame({"time": np.r_[t1, t0], "event": np.r_[e1, e0],
                       "treated": np.r_[np.ones(t1.size), np.zeros(t0.size)]})
    if weights is not None and not np.allclose(w, 1.0):
        df["w"] = np.r_[w, w]
        cph = fit_cox(df, "time", "event", weights="w")
    else:
        cph = fit_cox(df, "time", "event")
    eff = term_effect(cph, "treated")
    return dict(risk_treated=r1, risk_control=r0, rd=r1 - r0, hr=eff["hr"],
                log_hr=eff["log_hr"])
