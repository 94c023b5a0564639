"""Subgroup analyses in the matched sample.

For each configured subgroup variable (``analysis.subgroups``) the matched stays are split in
two levels: ``binary`` (column == 0 / == 1), ``threshold`` (``< t`` / ``>= t``) or
``above_median`` (``<= m`` / ``> m`` with ``m`` the *cohort* median). Within each level a Cox
model ``time ~ treated`` gives the HR (robust variance clustered on the matched set; a matched
set may be split across levels, which the clustered variance tolerates). The interaction
p-value is the Wald test of the ``treated x level`` term in ``time ~ treated + level +
treated:level`` on all matched stays with the variable observed (robust, clustered). Stays with
the variable missing are left out of that subgroup's analysis. Levels without events in both
arms give NaN estimates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .cox import fit_cox, term_effect

COLUMNS = ["subgroup", "level", "definition", "n", "n_treated", "n_control", "events", "hr",
           "ci_low", "ci_high", "p", "p_interaction"]


def subgroup_indicator(values, spec: dict, cohort_values) -> tuple[np.ndarray, list, str]:
    """0/1 level of each stay (NaN where the variable is missing), the two level labels and a
    plain-words definition."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    split = spec.get("split", "binary")
    labels = spec.get("labels")
    col = spec["column"]
    if split == "binary":
        ind = np.where(np.isnan(v), np.nan, (v == 1).astype(float))
        labels = labels or ["no", "yes"]
        definition = f"{col} = 0 / 1"
    elif split == "threshold":
        t = float(spec["threshold"])
        ind = np.where(np.isnan(v), np.nan, (v >= t).astype(float))
        labels = labels or [f"< {t:g}", f">= {t:g}"]
        definition = f"{col} < {t:g} / >= {t:g}"
    elif split == "above_median":
        med = float(np.nanmedian(pd.to_numeric(pd.Series(cohort_values), errors="coerce")))
        ind = np.where(np.isnan(v), np.nan, (v > med).astype(float))
        labels = labels or [f"<= {med:g} (median)", f"> {med:g}"]
        definition = f"{col} <= {med:g} / > {med:g} (cohort median)"
    else:
        raise ValueError(f"unknown subgroup split {split!r}")
    return ind, list(labels), definition


def _safe_fit(df, **kw):
    try:
        return fit_cox(df, "time", "event", **kw)
    except Exception:  # convergence failure, singular design, no events
        return None


def subgroup_table(matched: pd.DataFrame, cohort: pd.DataFrame, specs: list[dict],
                   alpha: float = 0.05) -> tuple[pd.DataFrame, list]:
    """Rows ``subgroup, level, definition, n, n_treated, n_control, events, hr, ci_low,
    ci_high, p, p_interaction`` (two rows per subgroup variable) and the list of skipped
    subgroups (column absent from the cohort).

    ``matched`` needs ``time, event, treated, pair_id, weight, _row`` (``_row`` = row position
    in ``cohort``).
    """
    rows, skipped = [], []
    use_w = not np.allclose(matched["weight"].to_numpy(), 1.0)
    for spec in specs:
        col = spec["column"]
        if col not in cohort.columns:
            skipped.append(dict(name=spec["name"], column=col, reason="column not in cohort"))
            continue
        ind, labels, definition = subgroup_indicator(
            cohort[col].to_numpy()[matched["_row"].to_numpy()], spec, cohort[col])
        d = matched.assign(level=ind).dropna(subset=["level"])
        base_cols = ["time", "event", "treated", "pair_id"] + (["weight"] if use_w else [])
        inter = d[base_cols].assign(level=d["level"], treated_x_level=d["treated"] * d["level"])
        cph = _safe_fit(inter, cluster="pair_id", weights="weight" if use_w else None, alpha=alpha)
        p_int = term_effect(cph, "treated_x_level")["p"] if cph is not None else np.nan
        for lv in (0, 1):
            s = d[d["level"] == lv]
            n1 = int((s["treated"] == 1).sum())
            n0 = int((s["treated"] == 0).sum())
            ev = int(s["event"].sum())
            eff = dict(hr=np.nan, ci95=[np.nan, np.nan], p=np.nan)
            if n1 and n0 and s.loc[s["treated"] == 1, "event"].sum() and s.loc[s["treated"] == 0, "event"].sum():
                c = _safe_fit(s[base_cols], cluster="pair_id",
                              weights="weight" if use_w else None, alpha=alpha)
                if c is not None:
                    eff = term_effect(c, "treated")
            rows.append(dict(subgroup=spec["name"], level=labels[lv], definition=definition,
                             n=int(len(s)), n_treated=n1, n_control=n0, events=ev,
                             hr=eff["hr"], ci_low=eff["ci95"][0], ci_high=eff["ci95"][1],
                             p=eff["p"], p_interaction=p_int))
    return pd.DataFrame(rows, columns=COLUMNS), skipped
