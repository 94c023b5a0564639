"""Target-trial emulation on stay-level data: clone-censor-weight, landmark and naive analyses.

Design (Hernan & Robins 2016, J Clin Epidemiol 79:70-75; Hernan et al., BMJ 2018; Maringe et
al., Int J Epidemiol 2020; the TARGET guideline 2025). Every time is in HOURS from the stay's
origin (ICU admission); ``time_zero`` is the trial's time zero on that clock.

Input (:func:`check_stays`): one row per stay with ``id``, ``time_zero``, ``start`` (first dose,
NaN = never), ``end`` (end of follow-up: death or censoring), ``event`` (1 = death at ``end``),
``icu_out`` (after it no start can be observed: ICU discharge), and baseline covariates (known
at time zero; numeric, no missing values). Optionally time-varying covariates as a long frame
``id, hour, <columns>``: a row's values hold from ``hour`` on (known at ``hour``) until the
stay's next row (last observation carried forward).

Eligibility at time zero (:func:`eligible_at_time_zero`): under follow-up (``end > time_zero``,
alive), in the ICU (``icu_out > time_zero``), not treated before time zero (``start >= time_zero``
or never) unless prior treatment is allowed.

Strategies, with G the grace period and s = start - time_zero:

* arm 1, "start within G h": follows the strategy when s <= G (a start exactly at G counts);
  a clone still untreated and under follow-up at G is artificially censored at G; a clone that
  dies (or leaves follow-up) before G untreated is not censored (the strategy allowed waiting).
* arm 0, "no start within G h": a clone starting at s < G is censored at s (a start exactly at
  G is consistent with the arm); after G both arms leave treatment to the natural course.

Follow-up runs from time zero to ``horizon`` hours after it (administrative censoring).

Inverse probability of censoring weights (the choice documented): for each arm, a POOLED
LOGISTIC regression of being artificially censored in an interval, among the arm's clones at
risk of that censoring at the interval's start, on the baseline covariates, the time-varying
covariates at the interval's start and (arm 0) two terms of time since the origin at the
interval's midpoint, m and log m (hours; the hazard of starting falls with time since
admission). A logistic rather than a Cox model for censoring because the arms' censoring is
discrete by construction (arm 1 only at G) and the start hazard is estimated on the same
intervals the weights change at; with short intervals the logit approximates the
complementary log-log hazard model.

* arm 0: intervals ``[k d, (k + 1) d)`` over the grace period (``d = interval_hours``, the last
  one ending at G); at risk in interval k: a clone under follow-up and untreated at ``k d`` and
  still in the ICU (``icu_out - time_zero > k d``; out of the ICU the probability of starting is
  0 and the interval is not in the model); event: the first dose falls in the interval. The
  clone's weight from interval k on is ``prod_{j <= k} 1 / (1 - p_j)`` (censoring precedes the
  interval's outcome, the discrete-time convention), constant after G.
* arm 1: one interval, the end of the grace period; at risk: every clone under follow-up at G
  (treated or not); event: untreated by G (covariates: baseline and time-varying at G). A clone
  treated by G carries ``1 / (1 - p)`` = 1 / P(treated by G | covariates) from G on; before G all
  weights are 1. Conditioning only on the covariates at G (not on the whole path) suffices when
  they carry what predicts the outcome after G (a Markov confounder process, as in the
  synthetic DGP); with the whole path, use time-varying summaries as extra columns.

Estimates: weighted Kaplan-Meier risk at the horizon per arm (counting-process form: each clone
is a sequence of segments ``(a, b]`` with constant weight; ``n(t)`` = weight of segments with
``a < t <= b``, ``d(t)`` = weight of deaths at t), the risk difference (arm 1 - arm 0) and risk
ratio, and the hazard ratio (arm 1 vs arm 0) of a Cox model on the stacked clones with the same
time-varying weights, Breslow's method for ties (so a stay drawn twice by the bootstrap is
exactly two copies of it).

Landmark (:class:`Landmark`): stays eligible at time zero and still under follow-up and in the
ICU at ``time_zero + L``; exposure = first dose in ``[time_zero, time_zero + L)``; follow-up
from the landmark to the horizon; stabilised ATE inverse probability of treatment weights from
a logistic score on the baseline covariates plus the time-varying covariates at the landmark;
weighted KM risks, RD, RR, weighted Cox HR as above.

Naive (:class:`Naive`): every stay given, exposure = any first dose during follow-up ("ever
treated"), follow-up from the origin; the same weighting on the baseline covariates. It has
immortal time and is shown only as the comparison.

Confidence intervals: nonparametric bootstrap over stays (:func:`bootstrap`), replicate r
drawing its stays with ``numpy.random.default_rng([seed, r])`` (so results do not depend on
the number of threads); every step (models, weights, estimates) is refitted in each replicate,
the draw entering as frequency weights (identical to refitting on the duplicated stays).
Percentile intervals; replicates in which an estimate cannot be computed are counted and
left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Columns every stay-level frame must hold (hours from the origin, see module docstring).
STAY_COLUMNS = ("id", "time_zero", "start", "end", "event", "icu_out")
#: Estimates of every design, in order (RD and RR: arm 1 vs arm 0; HR: Cox, arm 1 vs arm 0).
ESTIMATES = ("risk_1", "risk_0", "rd", "rr", "hr")


class TTEError(ValueError):
    """Bad input to a target-trial analysis (message names the column / stays)."""


# --------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------

def check_stays(stays: pd.DataFrame, covariates: Sequence[str] = (), what: str = "stays") -> pd.DataFrame:
    """Validate a stay-level frame; returns it sorted by ``id`` with a fresh index.

    Errors name the column and up to five offending ids: missing columns, duplicate ids,
    missing times, ``end`` before ``time_zero``... (no row is dropped silently)."""
    missing = [c for c in (*STAY_COLUMNS, *covariates) if c not in stays.columns]
    if missing:
        raise TTEError(f"{what}: missing column(s) {', '.join(missing)} (expected {', '.join(STAY_COLUMNS)} "
                       f"and the covariates)")
    df = stays.sort_values("id", kind="stable").reset_index(drop=True)
    ids = df["id"].to_numpy()

    def bad(mask, msg):
        if np.any(mask):
            sample = ", ".join(str(x) for x in ids[np.asarray(mask)][:5])
            raise TTEError(f"{what}: {msg} (stay id {sample}{', ...' if np.sum(mask) > 5 else ''})")

    bad(df["id"].duplicated().to_numpy(), "duplicate id")
    for c in ("time_zero", "end", "icu_out", "event"):
        bad(df[c].isna().to_numpy(), f"missing {c}")
    ev = df["event"].to_numpy()
    bad(~np.isin(ev, (0, 1)), "event must be 0 or 1")
    start = df["start"].to_numpy(float)
    bad(~np.isnan(start) & (start > df["end"].to_numpy(float)), "start after the end of follow-up")
    for c in covariates:
        col = pd.to_numeric(df[c], errors="coerce")
        bad(col.isna().to_numpy(), f"covariate {c!r} missing or not numeric")
    return df


def eligible_at_time_zero(stays: pd.DataFrame, allow_prior_treatment: bool = False) -> np.ndarray:
    """Boolean mask: alive and under follow-up at time zero (``end > time_zero``), in the ICU
    (``icu_out > time_zero``) and, unless ``allow_prior_treatment``, not treated before time
    zero (``start >= time_zero`` or never)."""
    t0 = stays["time_zero"].to_numpy(float)
    ok = (stays["end"].to_numpy(float) > t0) & (stays["icu_out"].to_numpy(float) > t0)
    if not allow_prior_treatment:
        s = stays["start"].to_numpy(float)
        ok &= np.isnan(s) | (s >= t0)
    return ok


def tv_values_at(tv: pd.DataFrame, columns: Sequence[str], ids: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Values of the time-varying ``columns`` of stay ``ids[i]`` at hour ``hours[i]`` (from the
    origin): the stay's last row with ``hour <= hours[i]``. A query before a stay's first row
    is an error naming the stay (there is no value known yet)."""
    cols = list(columns)
    ids = np.asarray(ids)
    hours = np.asarray(hours, float)
    if not cols:
        return np.zeros((ids.size, 0))
    miss = [c for c in ("id", "hour", *cols) if c not in tv.columns]
    if miss:
        raise TTEError(f"time-varying covariates: missing column(s) {', '.join(miss)}")
    t = tv.sort_values(["id", "hour"], kind="stable")
    tid = t["id"].to_numpy()
    th = t["hour"].to_numpy(float)
    vals = t[cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    if np.isnan(vals).any() or np.isnan(th).any():
        raise TTEError("time-varying covariates: missing or non-numeric values")
    uid, first = np.unique(tid, return_index=True)
    pos_id = np.searchsorted(uid, ids)
    known = (pos_id < uid.size) & (uid[np.minimum(pos_id, uid.size - 1)] == ids)
    if not known.all():
        raise TTEError(f"time-varying covariates: no rows for stay id {', '.join(map(str, ids[~known][:5]))}")
    last = np.r_[first[1:], tid.size]
    lo, hi = first[pos_id], last[pos_id]
    # position of the last row <= hour within each stay's block (vectorised over blocks)
    span = float(np.nanmax(np.abs(th))) + float(np.max(np.abs(hours))) + 1.0 if th.size else 1.0
    key = np.searchsorted(uid, tid) * (4.0 * span) + th
    qkey = pos_id * (4.0 * span) + hours
    idx = np.searchsorted(key, qkey, side="right") - 1
    before = idx < lo
    if before.any():
        j = np.flatnonzero(before)[:5]
        raise TTEError("time-varying covariates: no value known at or before the hour asked for stay id "
                       + ", ".join(f"{ids[i]} (hour {hours[i]:g})" for i in j))
    assert np.all(idx < hi)
    return vals[idx]


# --------------------------------------------------------------------------------------
# Small numerical tools
# --------------------------------------------------------------------------------------

class LogisticDesign:
    """A design matrix standardised once (intercept column first) for repeated
    :func:`fit_logistic` calls with different frequency weights (the bootstrap)."""

    def __init__(self, X: np.ndarray):
        X = np.asarray(X, float)
        self.mu = X.mean(axis=0) if X.shape[0] else np.zeros(X.shape[1])
        sd = X.std(axis=0) if X.shape[0] else np.ones(X.shape[1])
        self.sd = np.where(sd > 1e-12, sd, 1.0)
        self.Z = np.column_stack([np.ones(X.shape[0]), (X - self.mu) / self.sd])
        self.Z32 = self.Z.astype(np.float32)   # for the Hessian only (see fit_logistic)


def fit_logistic(X, y: np.ndarray, freq: np.ndarray | None = None, max_iter: int = 100,
                 tol: float = 1e-10, start: np.ndarray | None = None) -> np.ndarray:
    """Maximum-likelihood logistic regression by Newton-Raphson with frequency weights ``freq``;
    returns the coefficients (first = intercept, then the columns of ``X``). Columns are
    standardised internally (the fit is invariant to it). A ridge of 1e-8 on the standardised
    slopes keeps the Newton step defined under separation. ``start``: coefficients to start
    from (e.g. the full-data fit for a bootstrap replicate; the maximum is the same, reached in
    fewer steps). The Hessian is accumulated in single precision (half the time on large
    person-interval designs); the gradient and the log likelihood, which define the maximum
    and the stopping rule, are double precision, so the solution is the same. Deterministic."""
    D = X if isinstance(X, LogisticDesign) else LogisticDesign(X)
    Z, Z32, mu, sd = D.Z, D.Z32, D.mu, D.sd
    y = np.asarray(y, float)
    f = np.ones(y.size) if freq is None else np.asarray(freq, float)
    k = Z.shape[1]
    ridge = np.full(k, 1e-8)
    ridge[0] = 0.0
    ybar = np.clip(np.sum(f * y) / max(np.sum(f), 1e-300), 1e-12, 1 - 1e-12)
    beta = np.zeros(k)
    beta[0] = np.log(ybar / (1 - ybar))
    if start is not None:
        st = np.asarray(start, float)
        beta = np.r_[st[0] + np.sum(st[1:] * mu), st[1:] * sd]

    def loglik(b):
        e = Z @ b
        return float(np.sum(f * (y * e - np.logaddexp(0.0, e)))) - 0.5 * float(np.sum(ridge * b ** 2)), e

    ll, eta = loglik(beta)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-eta))
        w = f * p * (1 - p)
        H = (Z32.T @ (Z32 * w.astype(np.float32)[:, None])).astype(float) + np.diag(ridge)
        g = Z.T @ (f * (y - p)) - ridge * beta
        step = np.linalg.solve(H, g)
        # step halving keeps the log likelihood from decreasing (separation, large steps)
        for _half in range(30):
            nll, neta = loglik(beta + step)
            if nll >= ll - 1e-12:
                break
            step = step / 2
        beta = beta + step
        done = abs(nll - ll) < tol * (1.0 + abs(nll))
        ll, eta = nll, neta
        if done:
            break
    out = np.empty(k)
    out[1:] = beta[1:] / sd
    out[0] = beta[0] - np.sum(beta[1:] * mu / sd)
    return out


def _predict_z(coef: np.ndarray, D: LogisticDesign) -> np.ndarray:
    b = np.r_[coef[0] + np.sum(coef[1:] * D.mu), coef[1:] * D.sd]
    return 1.0 / (1.0 + np.exp(-(D.Z @ b)))


def predict_logistic(coef: np.ndarray, X: np.ndarray) -> np.ndarray:
    """P(y = 1) of :func:`fit_logistic` coefficients."""
    eta = coef[0] + np.asarray(X, float) @ coef[1:]
    return 1.0 / (1.0 + np.exp(-eta))


class _Segments:
    """Counting-process segments ``(start, stop]`` with deaths, indexed once for many weight
    vectors (the bootstrap changes only the weights): sort orders and the positions of the
    event times ``times`` (default: every death time of the segments, whatever its weight)."""

    def __init__(self, start, stop, event, times: np.ndarray | None = None):
        self.start = np.asarray(start, float)
        self.stop = np.asarray(stop, float)
        self.event = np.asarray(event, bool)
        self.times = np.unique(self.stop[self.event]) if times is None else np.asarray(times, float)
        self.o1 = np.argsort(self.start, kind="stable")
        self.o2 = np.argsort(self.stop, kind="stable")
        self.pa = np.searchsorted(self.start[self.o1], self.times, side="left")
        self.pb = np.searchsorted(self.stop[self.o2], self.times, side="left")
        ev = np.flatnonzero(self.event)
        self.ev = ev
        self.ev_pos = np.searchsorted(self.times, self.stop[ev])
        self.ev_ok = (self.ev_pos < self.times.size) & (self.times[np.minimum(self.ev_pos, self.times.size - 1)]
                                                        == self.stop[ev]) if self.times.size else np.zeros(0, bool)

    def at_risk(self, w: np.ndarray) -> np.ndarray:
        """Weighted number at risk just before each event time."""
        c1 = np.r_[0.0, np.cumsum(w[self.o1])]
        c2 = np.r_[0.0, np.cumsum(w[self.o2])]
        return c1[self.pa] - c2[self.pb]

    def deaths(self, w: np.ndarray) -> np.ndarray:
        """Weighted deaths at each event time."""
        m = self.ev_ok
        return np.bincount(self.ev_pos[m], weights=w[self.ev[m]], minlength=self.times.size)

    def km_risk(self, w: np.ndarray, at: float) -> float:
        """``1 - S(at)`` of the weighted Kaplan-Meier estimator (see :func:`weighted_km`)."""
        keep = self.times <= at
        if not keep.any():
            return 0.0
        d, n = self.deaths(w)[keep], self.at_risk(w)[keep]
        if np.any((n <= 0) & (d > 0)):
            return float("nan")
        return float(1.0 - np.prod(1.0 - np.where(d > 0, d / np.where(n > 0, n, 1.0), 0.0)))


def _cox_hr(d1: np.ndarray, dall: np.ndarray, n1: np.ndarray, n0: np.ndarray, max_iter: int = 50) -> float:
    """exp(beta) solving the Breslow score for a binary covariate (see :func:`weighted_cox_binary`)."""
    if d1.sum() <= 0 or (dall - d1).sum() <= 1e-12 or np.all(n1 <= 0) or np.all(n0 <= 0):
        return float("nan")
    b = 0.0
    for _ in range(max_iter):
        e = np.exp(b)
        den = n0 + e * n1
        ok = (den > 0) & (dall > 0)
        U = float(np.sum(d1[ok] - dall[ok] * e * n1[ok] / den[ok]))
        info = float(np.sum(dall[ok] * e * n1[ok] * n0[ok] / den[ok] ** 2))
        if info <= 0:
            return float("nan")
        step = float(np.clip(U / info, -2.0, 2.0))
        b += step
        if abs(step) < 1e-12:
            break
    return float(np.exp(b))


def _at_risk_weight(start: np.ndarray, stop: np.ndarray, w: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Sum of ``w`` over segments with ``start < t <= stop``, for each ``t`` in ``times``."""
    o1 = np.argsort(start, kind="stable")
    o2 = np.argsort(stop, kind="stable")
    c1 = np.r_[0.0, np.cumsum(w[o1])]
    c2 = np.r_[0.0, np.cumsum(w[o2])]
    a = c1[np.searchsorted(start[o1], times, side="left")]
    b = c2[np.searchsorted(stop[o2], times, side="left")]
    return a - b


def _event_table(start, stop, event, w):
    """Distinct event times and, at each, weighted deaths and weighted number at risk."""
    start = np.asarray(start, float)
    stop = np.asarray(stop, float)
    ev = np.asarray(event, bool) & (np.asarray(w, float) > 0)
    w = np.asarray(w, float)
    if not ev.any():
        return np.zeros(0), np.zeros(0), np.zeros(0)
    times, inv = np.unique(stop[ev], return_inverse=True)
    d = np.bincount(inv, weights=w[ev], minlength=times.size)
    n = _at_risk_weight(start, stop, w, times)
    return times, d, n


def weighted_km(start, stop, event, weight, at: float) -> float:
    """Weighted Kaplan-Meier survival ``S(at) = prod_{t <= at} (1 - d(t) / n(t))`` on counting-
    process segments ``(start, stop]`` (``event``: death at ``stop``; ``weight`` per segment).
    Returns the RISK ``1 - S(at)``; NaN when nobody is at risk at a death time."""
    return _Segments(start, stop, event).km_risk(np.asarray(weight, float), at)


def weighted_cox_binary(start, stop, event, weight, z, max_iter: int = 50) -> float:
    """Hazard ratio exp(beta) of the weighted Cox model ``h(t) = h0(t) exp(beta z)`` for a binary
    ``z`` on counting-process segments, Breslow ties, by Newton-Raphson on the score
    ``U(b) = sum_t [d1(t) - d(t) e^b n1(t) / (n0(t) + e^b n1(t))]``. NaN without events in both
    groups."""
    z = np.asarray(z, bool)
    start, stop = np.asarray(start, float), np.asarray(stop, float)
    event, w = np.asarray(event, bool), np.asarray(weight, float)
    times = np.unique(stop[event])
    s1 = _Segments(start[z], stop[z], event[z], times)
    s0 = _Segments(start[~z], stop[~z], event[~z], times)
    d1, d0 = s1.deaths(w[z]), s0.deaths(w[~z])
    return _cox_hr(d1, d1 + d0, s1.at_risk(w[z]), s0.at_risk(w[~z]), max_iter)


def _summaries(risk1: float, risk0: float, hr: float) -> np.ndarray:
    rr = risk1 / risk0 if risk0 > 0 else float("nan")
    return np.array([risk1, risk0, risk1 - risk0, rr, hr])


# --------------------------------------------------------------------------------------
# Clone-censor-weight
# --------------------------------------------------------------------------------------

def clone_censor(stays: pd.DataFrame, grace_hours: float, horizon_hours: float) -> pd.DataFrame:
    """Clones of the ``stays`` (already eligible at time zero): two rows per stay, ``arm`` 1
    ("start within G h") and 0 ("no start within G h"), with ``censor`` (hours from time zero of
    the artificial censoring; inf if none), ``time`` (end of the clone's follow-up, hours from
    time zero: the earliest of the end of follow-up, the artificial censoring and the horizon)
    and ``event`` (death counted in the arm). Rules: module docstring."""
    G, H = float(grace_hours), float(horizon_hours)
    if not (G >= 0 and H > 0):
        raise TTEError(f"grace period must be >= 0 and horizon > 0 hours, got {G} and {H}")
    t0 = stays["time_zero"].to_numpy(float)
    s = stays["start"].to_numpy(float) - t0
    e = stays["end"].to_numpy(float) - t0
    dead = stays["event"].to_numpy().astype(bool)
    if np.any(e <= 0) or np.any(~np.isnan(s) & (s < 0)):
        raise TTEError("clone_censor: stays must be eligible at time zero (end after it, no earlier start)")
    started_in_grace = ~np.isnan(s) & (s <= G)
    c1 = np.where(~started_in_grace & (e > G), G, np.inf)
    c0 = np.where(~np.isnan(s) & (s < G), s, np.inf)
    rows = []
    for arm, c in ((1, c1), (0, c0)):
        time = np.minimum(np.minimum(e, c), H)
        event = dead & (e <= H) & (e < c)
        rows.append(pd.DataFrame({"id": stays["id"].to_numpy(), "arm": arm, "censor": c, "time": time,
                                  "event": event.astype(np.int8)}))
    return pd.concat(rows, ignore_index=True)


@dataclass
class CCW:
    """A clone-censor-weight analysis prepared once; :meth:`estimate` refits it for any
    frequency weights over the stays (ones = the point estimate; a bootstrap draw's counts).

    ``stays``: eligible at time zero (validated, sorted by id); ``covariates``: baseline columns;
    ``tv``/``tv_covariates``: optional time-varying covariates (module docstring)."""

    stays: pd.DataFrame
    covariates: Sequence[str]
    grace_hours: float
    horizon_hours: float
    interval_hours: float = 1.0
    tv: pd.DataFrame | None = None
    tv_covariates: Sequence[str] = ()

    def __post_init__(self):
        G, H, d = float(self.grace_hours), float(self.horizon_hours), float(self.interval_hours)
        if not d > 0:
            raise TTEError(f"interval_hours must be > 0, got {d}")
        if not 0 < G <= H:
            raise TTEError(f"the grace period ({G} h) must be > 0 and at most the horizon ({H} h)")
        st = check_stays(self.stays, self.covariates, "clone-censor-weight stays")
        if not eligible_at_time_zero(st).all():
            raise TTEError("clone-censor-weight: every stay must be eligible at time zero "
                           "(select them with eligible_at_time_zero)")
        if self.tv_covariates and self.tv is None:
            raise TTEError("tv_covariates given without a tv frame")
        self.stays = st
        n = len(st)
        self.n = n
        cl = clone_censor(st, G, H)
        self.clones = cl
        t0 = st["time_zero"].to_numpy(float)
        s = st["start"].to_numpy(float) - t0
        icu = st["icu_out"].to_numpy(float) - t0
        Xb = st[list(self.covariates)].to_numpy(float)
        ids = st["id"].to_numpy()
        arm0 = cl[cl["arm"] == 0]
        arm1 = cl[cl["arm"] == 1]
        time0, ev0 = arm0["time"].to_numpy(), arm0["event"].to_numpy().astype(bool)
        time1, ev1 = arm1["time"].to_numpy(), arm1["event"].to_numpy().astype(bool)
        # ---- arm 0: person-intervals over the grace period
        K = int(np.ceil(G / d - 1e-12))
        k = np.arange(K)
        lo = k * d
        hi = np.minimum((k + 1) * d, G)
        stay_idx = np.repeat(np.arange(n), K)
        klo = np.tile(lo, n)
        khi = np.tile(hi, n)
        under = time0[stay_idx] > klo                      # clone still followed at the interval start
        stay_idx, klo, khi = stay_idx[under], klo[under], khi[under]
        in_model = icu[stay_idx] > klo
        s_i = s[stay_idx]
        y = ~np.isnan(s_i) & (s_i >= klo) & (s_i < khi)
        mid = t0[stay_idx] + (klo + khi) / 2.0
        X0 = np.column_stack([Xb[stay_idx], mid, np.log(mid)])
        if self.tv_covariates:
            X0 = np.column_stack([X0, tv_values_at(self.tv, self.tv_covariates, ids[stay_idx], t0[stay_idx] + klo)])
        self._r0 = dict(stay=stay_idx, lo=klo, hi=khi, model=in_model, y=y.astype(float), X=X0)
        # arm-0 segments: one per person-interval (clipped to the clone's time), then [G, time)
        seg_stop = np.minimum(khi, time0[stay_idx])
        seg_event = ev0[stay_idx] & (seg_stop == time0[stay_idx]) & (time0[stay_idx] <= khi)
        post = time0 > G
        self._s0 = dict(stay=np.r_[stay_idx, np.flatnonzero(post)],
                        start=np.r_[klo, np.full(post.sum(), G)],
                        stop=np.r_[seg_stop, time0[post]],
                        event=np.r_[seg_event, ev0[post]],
                        n_grace=stay_idx.size)
        # ---- arm 1: one censoring decision at G among clones followed at G
        e = st["end"].to_numpy(float) - t0
        at_g = (e > G) & (H > G)
        yy = ~(~np.isnan(s) & (s <= G))
        X1 = Xb
        if self.tv_covariates:
            X1 = np.column_stack([Xb, tv_values_at(self.tv, self.tv_covariates, ids, t0 + G)])
        self._r1 = dict(model=at_g, y=yy.astype(float), X=X1)
        pre = np.minimum(time1, G)
        post1 = time1 > G
        self._s1 = dict(stay=np.r_[np.arange(n), np.flatnonzero(post1)],
                        start=np.r_[np.zeros(n), np.full(post1.sum(), G)],
                        stop=np.r_[pre, time1[post1]],
                        event=np.r_[ev1 & (time1 <= G), ev1[post1]],
                        post=np.r_[np.zeros(n, bool), np.ones(post1.sum(), bool)])
        keep = self._s1["stop"] > self._s1["start"]
        self._s1 = {k_: (v[keep] if isinstance(v, np.ndarray) else v) for k_, v in self._s1.items()}
        keep0 = self._s0["stop"] > self._s0["start"]
        n_grace = int(np.sum(keep0[: self._s0["n_grace"]]))
        self._s0 = {k_: (v[keep0] if isinstance(v, np.ndarray) else v) for k_, v in self._s0.items()}
        self._s0["n_grace"] = n_grace
        self._keep0_grace = keep0[: stay_idx.size]

    # ---- weights
    def _fits(self, f: np.ndarray, start: tuple | None = None) -> tuple:
        r0, r1 = self._r0, self._r1
        if not hasattr(self, "_designs"):
            self._designs = (LogisticDesign(r0["X"][r0["model"]]), LogisticDesign(r1["X"][r1["model"]]))
        D0, D1 = self._designs
        coef0 = coef1 = None
        f0 = f[r0["stay"][r0["model"]]]
        y0 = r0["y"][r0["model"]]
        if np.any((f0 > 0) & (y0 > 0)):        # rows of weight 0 (not drawn) contribute nothing
            coef0 = fit_logistic(D0, y0, f0, start=start and start[0])
        f1 = f[r1["model"]]
        y1 = r1["y"][r1["model"]]
        if np.any(f1 > 0):
            if np.all(y1[f1 > 0] > 0):
                raise TTEError("clone-censor-weight: no clone of the start arm follows its strategy to the end of "
                               "the grace period (nobody treated within it)")
            if np.any((f1 > 0) & (y1 > 0)):
                coef1 = fit_logistic(D1, y1, f1, start=start and start[1])
        return coef0, coef1

    def _full_fit(self) -> tuple:
        """The censoring models on all stays (computed once; the start of every other fit)."""
        if not hasattr(self, "_full"):
            self._full = self._fits(np.ones(self.n))
        return self._full

    def censoring_probabilities(self, freq: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(p0 per arm-0 person-interval, p1 per stay): fitted probabilities of artificial
        censoring (0 where the clone cannot be censored)."""
        full = self._full_fit()
        coef0, coef1 = full if freq is None else self._fits(np.asarray(freq, float), full)
        r0, r1 = self._r0, self._r1
        D0, D1 = self._designs
        p0 = np.zeros(r0["stay"].size)
        if coef0 is not None:
            p0[r0["model"]] = _predict_z(coef0, D0)
        p1 = np.zeros(self.n)
        if coef1 is not None:
            p1[r1["model"]] = _predict_z(coef1, D1)
        return p0, p1

    def weights(self, freq: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Inverse probability of censoring weights of the segments (arm 0, arm 1)."""
        p0, p1 = self.censoring_probabilities(freq)
        r0 = self._r0
        # cumulative -log(1 - p) within each stay over its (ordered) intervals
        lw = -np.log1p(-np.clip(p0, 0.0, 1.0 - 1e-12))
        c = np.cumsum(lw)
        first = np.r_[True, r0["stay"][1:] != r0["stay"][:-1]] if lw.size else np.zeros(0, bool)
        base = np.maximum.accumulate(np.where(first, np.arange(lw.size), 0)) if lw.size else np.zeros(0, int)
        cum = c - np.r_[0.0, c][base]
        w_grace_all = np.exp(cum)
        last_w = np.ones(self.n)
        if lw.size:
            last = np.r_[r0["stay"][1:] != r0["stay"][:-1], True]
            last_w[r0["stay"][last]] = w_grace_all[last]
        s0 = self._s0
        ng = s0["n_grace"]
        w0 = np.r_[w_grace_all[self._keep0_grace], last_w[s0["stay"][ng:]]]
        s1 = self._s1
        w1 = np.where(s1["post"], 1.0 / np.clip(1.0 - p1[s1["stay"]], 1e-12, None), 1.0)
        return w0, w1

    def estimate(self, freq: np.ndarray | None = None) -> np.ndarray:
        """``risk_1, risk_0, rd, rr, hr`` (see :data:`ESTIMATES`) for frequency weights ``freq``."""
        f = np.ones(self.n) if freq is None else np.asarray(freq, float)
        w0, w1 = self.weights(f)
        s0, s1 = self._s0, self._s1
        W0 = w0 * f[s0["stay"]]
        W1 = w1 * f[s1["stay"]]
        H = float(self.horizon_hours)
        if not hasattr(self, "_seg"):
            times = np.unique(np.r_[s1["stop"][s1["event"]], s0["stop"][s0["event"]]])
            self._seg = (_Segments(s1["start"], s1["stop"], s1["event"], times),
                         _Segments(s0["start"], s0["stop"], s0["event"], times))
        g1, g0 = self._seg
        r1, r0 = g1.km_risk(W1, H), g0.km_risk(W0, H)
        d1, d0 = g1.deaths(W1), g0.deaths(W0)
        hr = _cox_hr(d1, d1 + d0, g1.at_risk(W1), g0.at_risk(W0))
        return _summaries(r1, r0, hr)

    def counts(self) -> dict:
        """Clone counts: stays, clones censored per arm, deaths counted per arm (unweighted)."""
        cl = self.clones
        out = {"n_stays": int(self.n)}
        for arm, name in ((1, "start"), (0, "no_start")):
            a = cl[cl["arm"] == arm]
            out[f"{name}_censored"] = int(np.isfinite(a["censor"]).sum())
            out[f"{name}_deaths"] = int(a["event"].sum())
        return out


# --------------------------------------------------------------------------------------
# Landmark and naive comparisons (IPTW)
# --------------------------------------------------------------------------------------

def stabilized_ate_weights(ps: np.ndarray, treated: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """Stabilised ATE weights ``P(A=a) / P(A=a | x)`` (P(A=1) the frequency-weighted share);
    scores clipped to [1e-9, 1 - 1e-9] as in :mod:`icu_cohort.analysis.weighting`."""
    from .weighting import iptw_weights

    t = np.asarray(treated, bool)
    w = iptw_weights(ps, t, "ATE", stabilized=False)
    p = float(np.sum(freq * t) / np.sum(freq))
    return np.where(t, p * w, (1 - p) * w)


@dataclass
class _IPTWComparison:
    X: np.ndarray
    treated: np.ndarray
    time: np.ndarray
    event: np.ndarray
    horizon: float

    def estimate(self, freq: np.ndarray | None = None) -> np.ndarray:
        f = np.ones(self.treated.size) if freq is None else np.asarray(freq, float)
        t = self.treated
        if f[t].sum() <= 0 or f[~t].sum() <= 0:
            return np.full(len(ESTIMATES), np.nan)
        if not hasattr(self, "_seg"):
            self._design = LogisticDesign(self.X)
            self._coef_full = fit_logistic(self._design, t.astype(float))
            times = np.unique(self.time[self.event.astype(bool)])
            z0 = np.zeros(t.size)
            ev = self.event.astype(bool)
            self._seg = (_Segments(z0[t], self.time[t], ev[t], times), _Segments(z0[~t], self.time[~t], ev[~t], times))
        coef = self._coef_full if freq is None else fit_logistic(self._design, t.astype(float), f,
                                                                 start=self._coef_full)
        ps = _predict_z(coef, self._design)
        W = stabilized_ate_weights(ps, t, f) * f
        g1, g0 = self._seg
        W1, W0 = W[t], W[~t]
        r1, r0 = g1.km_risk(W1, self.horizon), g0.km_risk(W0, self.horizon)
        d1, d0 = g1.deaths(W1), g0.deaths(W0)
        hr = _cox_hr(d1, d1 + d0, g1.at_risk(W1), g0.at_risk(W0))
        return _summaries(r1, r0, hr)


class Landmark(_IPTWComparison):
    """Landmark at ``time_zero + landmark_hours``: population, exposure, follow-up and weights as
    in the module docstring; arm 1 = first dose in [time zero, landmark), arm 0 = not. Its units
    (``n``, the frequency weights of :meth:`estimate`, the bootstrap) are the stays of the
    landmark population, in ``id`` order (``self.stays``)."""

    def __init__(self, stays: pd.DataFrame, covariates: Sequence[str], landmark_hours: float, horizon_hours: float,
                 tv: pd.DataFrame | None = None, tv_covariates: Sequence[str] = (),
                 allow_prior_treatment: bool = False):
        L, H = float(landmark_hours), float(horizon_hours)
        if not 0 <= L < H:
            raise TTEError(f"landmark ({L} h) must be in [0, horizon = {H} h)")
        st = check_stays(stays, covariates, "landmark stays")
        t0 = st["time_zero"].to_numpy(float)
        keep = (eligible_at_time_zero(st, allow_prior_treatment) & (st["end"].to_numpy(float) - t0 > L)
                & (st["icu_out"].to_numpy(float) - t0 > L))
        st = st[keep].reset_index(drop=True)
        self.stays = st
        t0 = st["time_zero"].to_numpy(float)
        s = st["start"].to_numpy(float) - t0
        e = st["end"].to_numpy(float) - t0
        X = st[list(covariates)].to_numpy(float)
        if tv_covariates:
            X = np.column_stack([X, tv_values_at(tv, tv_covariates, st["id"].to_numpy(), t0 + L)])
        dead = st["event"].to_numpy().astype(bool)
        super().__init__(X=X, treated=~np.isnan(s) & (s < L), time=np.minimum(e, H) - L,
                         event=dead & (e <= H), horizon=H - L)
        self.n = len(st)


class Naive(_IPTWComparison):
    """"Ever treated during follow-up" vs never, follow-up from the origin (hour 0) to
    ``horizon_hours``, stabilised ATE IPTW on the baseline covariates: the whole-stay design."""

    def __init__(self, stays: pd.DataFrame, covariates: Sequence[str], horizon_hours: float):
        st = check_stays(stays, covariates, "naive stays")
        self.stays = st
        s = st["start"].to_numpy(float)
        e = st["end"].to_numpy(float)
        dead = st["event"].to_numpy().astype(bool)
        H = float(horizon_hours)
        super().__init__(X=st[list(covariates)].to_numpy(float), treated=~np.isnan(s), time=np.minimum(e, H),
                         event=dead & (e <= H), horizon=H)
        self.n = len(st)


# --------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------

def bootstrap(estimate: Callable[[np.ndarray], np.ndarray], n: int, replicates: int = 200, seed: int = 0,
              threads: int = 1) -> np.ndarray:
    """``replicates`` x k array: ``estimate(counts)`` for nonparametric bootstrap draws of ``n``
    stays with replacement, replicate r drawn with ``default_rng([seed, r])`` (counts = times
    each stay is drawn). Runs on ``threads`` threads; the result does not depend on them.
    A replicate whose estimate raises :class:`TTEError` (e.g. nobody treated in the draw) gives
    NaNs."""
    def one(r: int) -> np.ndarray:
        rng = np.random.default_rng([int(seed), int(r)])
        counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        try:
            return np.asarray(estimate(counts), float)
        except TTEError:
            return np.full(len(ESTIMATES), np.nan)

    if int(threads) <= 1:
        rows = [one(r) for r in range(int(replicates))]
    else:
        with ThreadPoolExecutor(max_workers=int(threads)) as ex:
            rows = list(ex.map(one, range(int(replicates))))
    return np.vstack(rows) if rows else np.zeros((0, len(ESTIMATES)))


def summarise(point: np.ndarray, reps: np.ndarray, alpha: float = 0.05) -> dict:
    """Per estimate: ``estimate``, ``se`` (SD of the replicates; for ``rr``/``hr`` on the log
    scale), ``ci95`` (percentile interval), plus ``n_replicates`` used and ``n_failed``."""
    out: dict = {}
    ok = np.all(np.isfinite(reps), axis=1) if reps.size else np.zeros(0, bool)
    good = reps[ok]
    for j, name in enumerate(ESTIMATES):
        col = good[:, j] if good.size else np.zeros(0)
        ratio = name in ("rr", "hr")
        if col.size >= 2:
            lo, hi = np.quantile(col, [alpha / 2, 1 - alpha / 2])
            se = float(np.std(np.log(col) if ratio else col, ddof=1))
            ci = [float(lo), float(hi)]
        else:
            se, ci = float("nan"), [float("nan"), float("nan")]
        out[name] = {"estimate": float(point[j]), "se": se, "ci95": ci}
        if ratio:
            out[name]["se_scale"] = "log"
    out["n_replicates"] = int(ok.sum())
    out["n_failed"] = int((~ok).sum())
    return out


def analyse(design, replicates: int = 200, seed: int = 0, threads: int = 1, alpha: float = 0.05) -> dict:
    """Point estimates of ``design`` (a :class:`CCW`, :class:`Landmark` or :class:`Naive`) with
    bootstrap percentile intervals (:func:`bootstrap`, :func:`summarise`)."""
    point = design.estimate(None)
    reps = bootstrap(design.estimate, design.n, replicates, seed, threads)
    out = summarise(point, reps, alpha)
    out.update({"n_stays": int(design.n), "bootstrap_seed": int(seed)})
    return out
