"""The exposure rate by period of admission (``anchor_year_group``).

MIMIC-IV shifts dates per patient but keeps each patient's three-year period of care in
``patients.anchor_year_group``. A treatment documented differently in one period (MIMIC-IV
v3.1 holds far fewer electrolyte infusion rows in 2020 - 2022, for instance) shows up as a
period whose exposure rate departs from the others; a study pooling the periods then mixes
documentation with treatment. :func:`exposure_by_period` gives, per period, the stays, the
treated stays and their share, and flags each period whose share differs from that of all
other periods together by more than ``max_difference`` (absolute), among periods of at least
``min_stays`` stays.
"""

from __future__ import annotations

import pandas as pd

#: Flag a period whose treated share differs from the rest of the cohort's by more than this.
MAX_DIFFERENCE = 0.10
#: ... when the period holds at least this many stays (a smaller one is too noisy to flag).
MIN_STAYS = 20


def exposure_by_period(cohort: pd.DataFrame, column: str = "anchor_year_group",
                       max_difference: float = MAX_DIFFERENCE, min_stays: int = MIN_STAYS) -> dict:
    """``{"column", "max_difference", "min_stays", "groups": [{group, n, n_treated, share,
    share_others, departs}], "departing": [group, ...]}``; ``groups`` is empty without the column.

    ``share`` is the fraction treated in the period, ``share_others`` in every other period
    together (None when there is no other); ``departs`` is true when the period has at least
    ``min_stays`` stays and ``|share - share_others| > max_difference``.
    """
    out = {"column": column, "max_difference": max_difference, "min_stays": min_stays, "groups": [],
           "departing": []}
    if column not in cohort.columns or cohort.empty:
        return out
    groups = cohort[column].fillna("(missing)").astype(str)
    treated = cohort["treated"].astype(int)
    n_all, t_all = len(cohort), int(treated.sum())
    for name in sorted(groups.unique()):
        mask = groups == name
        n, t = int(mask.sum()), int(treated[mask].sum())
        others = n_all - n
        share_others = (t_all - t) / others if others else None
        departs = bool(n >= min_stays and share_others is not None and abs(t / n - share_others) > max_difference)
        out["groups"].append({"group": name, "n": n, "n_treated": t, "share": t / n,
                              "share_others": share_others, "departs": departs})
        if departs:
            out["departing"].append(name)
    return out
