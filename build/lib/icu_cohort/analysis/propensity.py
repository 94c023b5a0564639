"""Propensity score: the design matrix, missing values, the logistic model, its c-statistic.

Missing values (``analysis.propensity.missing.method``):

* ``"median_indicator"`` (default): a continuous or binary covariate's missing values are
  replaced by the cohort median of that covariate, and a 0/1 column ``<name>__missing`` is
  added (only for covariates that have missing values). A categorical covariate's missing
  values become their own level ``"Missing"``. Simple, deterministic, and keeps every stay;
  it assumes missingness is ignorable given the covariates and the indicators.
* ``"multiple_imputation"``: ``m`` completed data sets from scikit-learn's
  ``IterativeImputer`` (chained equations with Bayesian ridge, ``sample_posterior=True``,
  seeded ``seed + j``), with the treatment, the 28-day death indicator and the Nelson-Aalen
  cumulative hazard at each stay's time as auxiliary predictors (White & Royston 2009) that are
  not themselves imputed. Imputed binary values are rounded to 0/1, continuous values are kept
  inside the observed range. Categorical covariates keep the ``"Missing"`` level. The whole
  analysis (score, matching, Cox, IPTW) is repeated in each data set ("within" approach,
  Leyrat et al. 2019) and the estimates are pooled by Rubin's rules (see
  :mod:`icu_cohort.analysis.pooling`).

Categorical covariates are one-hot coded with the most frequent level as reference
(``<name>[<level>]`` columns). Columns that are constant in the cohort are dropped, and so
are columns collinear with earlier ones (e.g. identical missing indicators of labs that are
always measured together), so both the score model and the multivariable Cox model are
identifiable.
The logistic model is scikit-learn's ``LogisticRegression`` on standardised columns
(unpenalised by default: ``C = inf``, so standardising does not change the scores; with
``penalty: l2`` the penalty applies to the standardised coefficients).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MISSING_LEVEL = "Missing"


@dataclass
class Design:
    """A numeric design matrix and how it was built.

    Attributes
    ----------
    X : DataFrame
        One row per stay (cohort order), numeric columns only, no missing values.
    columns_by_covariate : dict
        Covariate name -> list of its columns in ``X`` (including ``__missing`` indicators).
    medians : dict
        The imputation value used for each continuous/binary covariate (median imputation).
    n_missing : dict
        Number of missing values per covariate before imputation.
    references : dict
        Reference level of each categorical covariate.
    dropped : list
        Columns dropped for being constant or collinear with earlier columns.
    """

    X: pd.DataFrame
    columns_by_covariate: dict
    medians: dict
    n_missing: dict
    references: dict
    dropped: list


def categorical_levels(series: pd.Series) -> tuple[pd.Series, list, str]:
    """String-coded values with ``"Missing"`` for NA, the sorted levels, and the reference
    level (the most frequent; ties by sort order)."""
    s = series.astype("object").where(series.notna(), MISSING_LEVEL).astype(str)
    counts = s.value_counts()
    levels = sorted(counts.index.tolist())
    top = counts.max()
    reference = sorted(counts[counts == top].index.tolist())[0]
    return s, levels, reference


def build_design(cohort: pd.DataFrame, covariates: list[dict], *, impute: bool = True,
                 indicators: bool = True) -> Design:
    """Design matrix for the score and the multivariable Cox model.

    With ``impute=True`` (median imputation) missing continuous/binary values get the cohort
    median and, with ``indicators=True``, a ``<name>__missing`` 0/1 column. With
    ``impute=False`` the continuous/binary columns keep their NaNs (for multiple imputation).
    """
    cols: dict[str, pd.Series] = {}
    by_cov: dict[str, list] = {}
    medians: dict[str, float] = {}
    n_missing: dict[str, int] = {}
    refs: dict[str, str] = {}
    for cov in covariates:
        name, kind = cov["name"], cov["type"]
        if name not in cohort.columns:
            raise KeyError(f"covariate {name!r} is not a column of the cohort")
        s = cohort[name]
        n_missing[name] = int(s.isna().sum())
        if kind in ("continuous", "binary"):
            v = pd.to_numeric(s, errors="coerce").astype(float)
            names = [name]
            if impute:
                med = float(np.nanmedian(v)) if v.notna().any() else 0.0
                if kind == "binary":
                    med = float(np.round(med))
                medians[name] = med
                cols[name] = v.fillna(med)
                if indicators and v.isna().any():
                    cols[f"{name}__missing"] = v.isna().astype(float)
                    names.append(f"{name}__missing")
            else:
                cols[name] = v
            by_cov[name] = names
        elif kind == "categorical":
            sv, levels, ref = categorical_levels(s)
            refs[name] = ref
            names = []
            for lev in levels:
                if lev == ref:
                    continue
                c = f"{name}[{lev}]"
                cols[c] = (sv == lev).astype(float)
                names.append(c)
            by_cov[name] = names
        else:
            raise ValueError(f"covariate {name!r}: unknown type {kind!r}")
    X = pd.DataFrame(cols, index=cohort.index)
    dropped = [c for c in X.columns if X[c].nunique(dropna=True) <= 1]
    if impute:
        kept = [c for c in X.columns if c not in dropped]
        dropped += dependent_columns(X[kept])
    if dropped:
        X = X.drop(columns=dropped)
        by_cov = {k: [c for c in v if c not in dropped] for k, v in by_cov.items()}
    return Design(X, by_cov, medians, n_missing, refs, dropped)


def dependent_columns(X: pd.DataFrame, tol: float = 1e-9) -> list:
    """Columns that are (numerically) linear combinations of the intercept and the columns
    before them -- e.g. two missing indicators that are always equal. Found by Gram-Schmidt in
    column order, so the first of a set of collinear columns is kept."""
    A = X.to_numpy(dtype=float)
    n = A.shape[0]
    basis = [np.full(n, 1 / np.sqrt(n))]
    out = []
    for j, c in enumerate(X.columns):
        v = A[:, j] - A[:, j].mean()
        norm0 = np.linalg.norm(v)
        if norm0 == 0:
            out.append(c)
            continue
        v = v / norm0
        for _ in range(2):  # re-orthogonalise once for stability
            for b in basis:
                v = v - (b @ v) * b
        r = np.linalg.norm(v)
        if r < 1e-6:
            out.append(c)
        else:
            basis.append(v / r)
    return out


def nelson_aalen_at(time, event) -> np.ndarray:
    """Nelson-Aalen cumulative hazard evaluated at each subject's own time (ties: all events
    at a time count before anyone leaves the risk set)."""
    t = np.asarray(time, float)
    e = np.asarray(event, float)
    ut, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=e, minlength=ut.size)
    n_at = np.bincount(inv, minlength=ut.size)[::-1].cumsum()[::-1]
    H = np.cumsum(np.where(n_at > 0, d / np.maximum(n_at, 1), 0.0))
    return H[inv]


def impute_multiple(cohort: pd.DataFrame, covariates: list[dict], m: int, seed: int,
                    max_iter: int = 10, treatment: str = "treated",
                    event: str = "death_28d", time: str = "time_days") -> list[Design]:
    """``m`` completed designs by chained equations (see module docstring)."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    base = build_design(cohort, covariates, impute=False)
    X = base.X
    aux = pd.DataFrame({
        "__treated": cohort[treatment].astype(float).to_numpy(),
        "__event": cohort[event].astype(float).to_numpy(),
        "__H": nelson_aalen_at(cohort[time], cohort[event]),
    }, index=X.index)
    full = pd.concat([X, aux], axis=1)
    kinds = {c["name"]: c["type"] for c in covariates}
    lo = np.nanmin(full.to_numpy(), axis=0)
    hi = np.nanmax(full.to_numpy(), axis=0)
    lo = np.where(np.isfinite(lo), lo, -np.inf)
    hi = np.where(np.isfinite(hi), hi, np.inf)
    out = []
    for j in range(m):
        if not full.isna().any().any():
            filled = full.copy()
        else:
            imp = IterativeImputer(sample_posterior=True, random_state=int(seed) + j,
                                   max_iter=int(max_iter), min_value=lo, max_value=hi,
                                   keep_empty_features=True, skip_complete=True)
            filled = pd.DataFrame(imp.fit_transform(full), columns=full.columns, index=full.index)
        Xj = filled[X.columns].copy()
        for name, kind in kinds.items():
            if kind == "binary" and name in Xj.columns:
                Xj[name] = Xj[name].round().clip(0, 1)
        extra = dependent_columns(Xj)
        Xj = Xj.drop(columns=extra)
        by_cov = {k: [c for c in v if c not in extra] for k, v in base.columns_by_covariate.items()}
        out.append(Design(Xj, by_cov, {}, base.n_missing, base.references, base.dropped + extra))
    return out


@dataclass
class PropensityFit:
    """A fitted score model.

    Attributes
    ----------
    ps : ndarray
        Estimated probability of treatment for every stay (cohort order).
    c_statistic : float
        Area under the ROC curve of ``ps`` for the observed treatment (0.5 = no
        discrimination; near 1 = little overlap between the groups).
    coefficients : dict
        Log-odds per one unit of each design column (back-transformed from the standardised
        fit), plus ``"(intercept)"``.
    converged : bool
        Whether the optimiser met its tolerance within ``max_iter``.
    """

    ps: np.ndarray
    c_statistic: float
    coefficients: dict
    converged: bool
    n_iter: int


def fit_propensity(X: pd.DataFrame, treated, *, penalty: str = "none", C: float = 1.0,
                   max_iter: int = 1000) -> PropensityFit:
    """Logistic regression of ``treated`` on ``X`` (see module docstring)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    y = np.asarray(treated).astype(int)
    A = X.to_numpy(dtype=float)
    mu = A.mean(axis=0) if A.shape[1] else np.zeros(0)
    sd = A.std(axis=0) if A.shape[1] else np.zeros(0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = (A - mu) / sd
    if penalty == "none":
        Cval = np.inf
    elif penalty == "l2":
        Cval = float(C)
    else:
        raise ValueError(f"penalty must be 'none' or 'l2', not {penalty!r}")
    model = LogisticRegression(C=Cval, solver="lbfgs", max_iter=int(max_iter), tol=1e-8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(Z, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    ps = model.predict_proba(Z)[:, 1]
    beta = model.coef_[0] / sd
    intercept = float(model.intercept_[0] - np.sum(model.coef_[0] * mu / sd))
    coefs = {"(intercept)": intercept, **{c: float(b) for c, b in zip(X.columns, beta)}}
    auc = float(roc_auc_score(y, ps)) if 0 < y.sum() < len(y) else float("nan")
    return PropensityFit(ps, auc, coefs, converged, int(np.max(model.n_iter_)))


def c_statistic(y, score) -> float:
    """Concordance (ROC AUC) of ``score`` for the 0/1 outcome ``y`` (ties count one half)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(y).astype(int), np.asarray(score, float)))


def ps_summary(ps, treated, sample: str) -> pd.DataFrame:
    """Distribution of the score by group: ``sample, group, n, mean, sd, min, q1, median, q3,
    max`` (``sd`` with ``n - 1``; quartiles by linear interpolation)."""
    ps = np.asarray(ps, float)
    t = np.asarray(treated).astype(int)
    rows = []
    for g, lab in ((1, "treated"), (0, "control")):
        v = ps[t == g]
        if v.size == 0:
            rows.append(dict(sample=sample, group=lab, n=0))
            continue
        q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
        rows.append(dict(sample=sample, group=lab, n=int(v.size), mean=float(v.mean()),
                         sd=float(v.std(ddof=1)) if v.size > 1 else float("nan"),
                         min=float(v.min()), q1=float(q1), median=float(med), q3=float(q3),
                         max=float(v.max())))
    return pd.DataFrame(rows, columns=["sample", "group", "n", "mean", "sd", "min", "q1",
                                       "median", "q3", "max"])
