"""Covariate balance (standardised mean differences, variance ratios) and Table 1.

Definitions (treated minus control throughout):

* **Continuous** covariate: ``SMD = (mean_t - mean_c) / sqrt((s_t^2 + s_c^2) / 2)``. The
  standard deviations ``s_t, s_c`` are those of the *unmatched* (whole-cohort) groups and the
  same denominator is used before and after matching, so a change in SMD reflects a change
  in the means only (Stuart 2010; Austin 2011).
* **Binary** covariate (and each level of a categorical one, as a 0/1 indicator):
  ``SMD = (p_t - p_c) / sqrt((p_t (1 - p_t) + p_c (1 - p_c)) / 2)``, again with the
  *unmatched* proportions in the denominator for both before and after.
* Values are computed on the non-missing values of each covariate. For covariates with
  missing values an extra row ``kind = "missing"`` gives the SMD of the 0/1 missingness
  indicator.
* **Variance ratio** (continuous only): ``var_t / var_c`` in the same sample (1 = equal
  spread; Austin flags values outside about 0.5-2).
* After matching, means, proportions and variances are weighted by the matching weights
  (all 1 for complete 1:1 or 1:k sets).
* A covariate is flagged imbalanced when ``|SMD| > threshold`` (default 0.1).

A zero denominator gives SMD 0 when the numerator is 0 and NaN otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .propensity import MISSING_LEVEL, categorical_levels


def wmean(x, w=None) -> float:
    """Weighted mean (plain mean when ``w`` is None); NaN for an empty input."""
    x = np.asarray(x, float)
    if x.size == 0:
        return float("nan")
    if w is None:
        return float(x.mean())
    w = np.asarray(w, float)
    return float(np.sum(w * x) / np.sum(w))


def wvar(x, w=None) -> float:
    """Weighted variance with the reliability-weights correction
    ``sum(w (x - m)^2) / (sum(w) - sum(w^2) / sum(w))`` (= the usual ``n - 1`` variance when
    all weights are 1)."""
    x = np.asarray(x, float)
    if x.size < 2:
        return float("nan")
    if w is None:
        return float(np.var(x, ddof=1))
    w = np.asarray(w, float)
    m = np.sum(w * x) / np.sum(w)
    v1 = np.sum(w)
    denom = v1 - np.sum(w ** 2) / v1
    return float(np.sum(w * (x - m) ** 2) / denom) if denom > 0 else float("nan")


def wquantile(x, q, w=None):
    """Quantiles; unweighted: linear interpolation (NumPy default); weighted: the inverse of
    the weighted empirical distribution with midpoint interpolation."""
    x = np.asarray(x, float)
    if x.size == 0:
        return np.full(np.shape(q), np.nan)
    if w is None or np.allclose(w, w[0] if len(w) else 1):
        return np.quantile(x, q)
    w = np.asarray(w, float)
    o = np.argsort(x, kind="stable")
    xs, ws = x[o], w[o]
    cw = (np.cumsum(ws) - 0.5 * ws) / ws.sum()
    return np.interp(q, cw, xs)


def smd_continuous(mean_t: float, mean_c: float, sd_t: float, sd_c: float) -> float:
    """``(mean_t - mean_c) / sqrt((sd_t^2 + sd_c^2) / 2)``."""
    return _ratio(mean_t - mean_c, np.sqrt((sd_t ** 2 + sd_c ** 2) / 2))


def smd_binary(p_t: float, p_c: float, p_t_ref: float | None = None,
               p_c_ref: float | None = None) -> float:
    """``(p_t - p_c) / sqrt((q_t (1 - q_t) + q_c (1 - q_c)) / 2)`` where ``q`` are the
    reference proportions for the denominator (default: ``p`` themselves)."""
    qt = p_t if p_t_ref is None else p_t_ref
    qc = p_c if p_c_ref is None else p_c_ref
    return _ratio(p_t - p_c, np.sqrt((qt * (1 - qt) + qc * (1 - qc)) / 2))


def _ratio(num: float, den: float) -> float:
    if not np.isfinite(num) or not np.isfinite(den):
        return float("nan")
    if den == 0:
        return 0.0 if num == 0 else float("nan")
    return float(num / den)


def _indicator_rows(cohort: pd.DataFrame, covariates: list[dict]):
    """Yield (covariate, level, kind, values array with NaN for missing) for every balance row."""
    for cov in covariates:
        name, kind = cov["name"], cov["type"]
        s = cohort[name]
        if kind == "categorical":
            sv, levels, _ = categorical_levels(s)
            for lev in levels:
                yield name, lev, "categorical", (sv == lev).to_numpy(dtype=float)
        else:
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            yield name, "", kind, v
            if kind != "categorical" and np.isnan(v).any():
                yield name, "", "missing", np.isnan(v).astype(float)


def balance_table(cohort: pd.DataFrame, covariates: list[dict], treated, matched_rows,
                  matched_weights=None, threshold: float = 0.1, ps=None) -> pd.DataFrame:
    """Balance before (whole cohort) and after matching.

    Parameters
    ----------
    cohort : DataFrame
        The cohort (one row per stay).
    covariates : list of {"name", "type"}
    treated : array of 0/1 (cohort order)
    matched_rows : array of int
        Row positions (into ``cohort``) of the matched sample; a row may not repeat.
    matched_weights : array of float, optional
        Matching weights of those rows (default 1).
    threshold : float
        ``|SMD|`` above which a row is flagged.
    ps : array, optional
        If given, a ``kind = "score"`` row for the propensity score is added (continuous
        formula); it is excluded from the summary maxima.

    Returns
    -------
    DataFrame with columns ``covariate, level, kind, smd_before, smd_after,
    variance_ratio_before, variance_ratio_after, imbalanced_before, imbalanced_after,
    n_missing`` (``n_missing`` = missing values in the cohort).
    """
    t = np.asarray(treated).astype(int)
    rows_m = np.asarray(matched_rows, dtype=np.int64)
    wm = np.ones(rows_m.size) if matched_weights is None else np.asarray(matched_weights, float)
    tm = t[rows_m]
    items = list(_indicator_rows(cohort, covariates))
    if ps is not None:
        items.append(("ps", "", "score", np.asarray(ps, float)))
    out = []
    for name, level, kind, v in items:
        ok = ~np.isnan(v)
        b1 = v[ok & (t == 1)]
        b0 = v[ok & (t == 0)]
        vm = v[rows_m]
        okm = ~np.isnan(vm)
        a1, w1 = vm[okm & (tm == 1)], wm[okm & (tm == 1)]
        a0, w0 = vm[okm & (tm == 0)], wm[okm & (tm == 0)]
        if kind in ("continuous", "score"):
            s1, s0 = np.sqrt(wvar(b1)), np.sqrt(wvar(b0))
            before = smd_continuous(wmean(b1), wmean(b0), s1, s0)
            after = _ratio(wmean(a1, w1) - wmean(a0, w0), np.sqrt((s1 ** 2 + s0 ** 2) / 2))
            vr_b = _ratio(wvar(b1), wvar(b0))
            vr_a = _ratio(wvar(a1, w1), wvar(a0, w0))
        else:
            p1, p0 = wmean(b1), wmean(b0)
            before = smd_binary(p1, p0)
            after = smd_binary(wmean(a1, w1), wmean(a0, w0), p1, p0)
            vr_b = vr_a = float("nan")
        out.append(dict(covariate=name, level=level, kind=kind, smd_before=before,
                        smd_after=after, variance_ratio_before=vr_b, variance_ratio_after=vr_a,
                        imbalanced_before=bool(abs(before) > threshold) if np.isfinite(before) else False,
                        imbalanced_after=bool(abs(after) > threshold) if np.isfinite(after) else False,
                        n_missing=int(np.isnan(v).sum()) if kind not in ("missing",) else 0))
    return pd.DataFrame(out, columns=["covariate", "level", "kind", "smd_before", "smd_after",
                                      "variance_ratio_before", "variance_ratio_after",
                                      "imbalanced_before", "imbalanced_after", "n_missing"])


def max_abs_smd(balance: pd.DataFrame, column: str, include_missing: bool = False) -> float:
    """Largest ``|SMD|`` over covariate rows (continuous, binary, categorical levels), leaving
    out the score row and, unless asked, the missingness-indicator rows."""
    kinds = {"continuous", "binary", "categorical"} | ({"missing"} if include_missing else set())
    v = balance.loc[balance["kind"].isin(kinds), column].abs()
    return float(v.max()) if v.notna().any() else float("nan")


TABLE1_STATS = ["n", "mean", "sd", "median", "q1", "q3", "count", "pct", "n_missing"]


def _group_stats(v: np.ndarray, w: np.ndarray, kind: str) -> dict:
    ok = ~np.isnan(v)
    x, ww = v[ok], w[ok]
    d = {k: np.nan for k in TABLE1_STATS}
    d["n"] = int(ok.sum())
    d["n_missing"] = int((~ok).sum())
    if kind == "continuous":
        if x.size:
            d["mean"] = wmean(x, ww)
            d["sd"] = float(np.sqrt(wvar(x, ww)))
            d["q1"], d["median"], d["q3"] = (float(q) for q in wquantile(x, [0.25, 0.5, 0.75], ww))
    else:
        if x.size:
            d["count"] = float(np.sum(ww * x))
            d["pct"] = 100.0 * wmean(x, ww)
    return d


def table1(cohort: pd.DataFrame, covariates: list[dict], treated, matched_rows,
           matched_weights=None, balance: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table 1 in long form, raw numbers (the report formats and suppresses small cells).

    Columns: ``sample`` (``before`` = the cohort, ``after`` = the matched sample),
    ``variable``, ``level`` (``''`` for continuous/binary), ``kind``, then for ``treated_`` and
    ``control_``: ``n`` (non-missing stays), ``mean``, ``sd`` (``n - 1``), ``median``, ``q1``,
    ``q3`` (continuous), ``count`` (stays with the value 1 / in the level), ``pct`` (percent,
    0-100, of the non-missing), ``n_missing``; and ``smd`` (as in ``balance.csv``). The first
    row of each sample is ``variable = "N"``, ``kind = "count"`` with the group sizes.
    A categorical variable's missing values are its own level ``"Missing"`` (and are counted
    in ``n_missing`` too). After matching the statistics use the matching weights (counts are
    then weighted counts; all weights are 1 for complete sets).
    """
    t = np.asarray(treated).astype(int)
    rows_m = np.asarray(matched_rows, dtype=np.int64)
    wm = np.ones(rows_m.size) if matched_weights is None else np.asarray(matched_weights, float)
    smd_lookup = {}
    if balance is not None:
        for r in balance.itertuples(index=False):
            if r.kind == "missing":  # the missingness indicator's SMD, not the covariate's
                continue
            smd_lookup[(r.covariate, r.level, "before")] = r.smd_before
            smd_lookup[(r.covariate, r.level, "after")] = r.smd_after
    records = []
    for sample, rows, w in (("before", np.arange(len(cohort)), np.ones(len(cohort))),
                            ("after", rows_m, wm)):
        ts = t[rows]
        rec = dict(sample=sample, variable="N", level="", kind="count")
        for g, lab in ((1, "treated"), (0, "control")):
            for k in TABLE1_STATS:
                rec[f"{lab}_{k}"] = np.nan
            rec[f"{lab}_n"] = int((ts == g).sum())
        rec["smd"] = np.nan
        records.append(rec)
        for cov in covariates:
            name, kind = cov["name"], cov["type"]
            s = cohort[name].iloc[rows]
            if kind == "categorical":
                sv, levels, _ = categorical_levels(cohort[name])
                sv = sv.iloc[rows].to_numpy()
                na = s.isna().to_numpy()
                for lev in levels:
                    v = (sv == lev).astype(float)
                    rec = dict(sample=sample, variable=name, level=lev, kind="categorical")
                    for g, lab in ((1, "treated"), (0, "control")):
                        st = _group_stats(v[ts == g], w[ts == g], "binary")
                        st["n_missing"] = int(na[ts == g].sum())
                        for k in TABLE1_STATS:
                            rec[f"{lab}_{k}"] = st[k]
                    rec["smd"] = smd_lookup.get((name, lev, sample), np.nan)
                    records.append(rec)
            else:
                v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
                rec = dict(sample=sample, variable=name, level="", kind=kind)
                for g, lab in ((1, "treated"), (0, "control")):
                    st = _group_stats(v[ts == g], w[ts == g], kind)
                    for k in TABLE1_STATS:
                        rec[f"{lab}_{k}"] = st[k]
                rec["smd"] = smd_lookup.get((name, "", sample), np.nan)
                records.append(rec)
    cols = ["sample", "variable", "level", "kind"] + [f"{g}_{k}" for g in ("treated", "control")
                                                      for k in TABLE1_STATS] + ["smd"]
    out = pd.DataFrame(records, columns=cols)
    for g in ("treated", "control"):
        for k in ("n", "n_missing"):
            out[f"{g}_{k}"] = out[f"{g}_{k}"].astype("Int64")
    return out


__all__ = ["balance_table", "table1", "smd_continuous", "smd_binary", "max_abs_smd", "wmean",
           "wvar", "wquantile", "MISSING_LEVEL"]
