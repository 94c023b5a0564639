"""Greedy nearest-neighbour matching on a scalar score, without replacement, 1:k, with a caliper.

This follows R MatchIt's documented ``method = "nearest"`` semantics (MatchIt 4.x,
``matchit2nearest.R`` and ``nn_matchC_vec.cpp``), in O(n log n):

* **Focal group.** ``estimand = "ATT"``: the treated units are focal and each receives control
  matches; ``"ATC"``: the controls are focal and receive treated matches (MatchIt swaps the
  labels). This package adds ``"auto"`` (the default of the study schema): the *smaller* group is
  focal, which is what psmpy always does and what the paper's tooling did (4,183 treated,
  467 untreated: the 467 untreated are focal, so the estimate is an ATC-type effect).
* **Matching order** (``m_order``): ``"largest"`` -- focal units in decreasing order of the
  distance; ``"smallest"`` -- increasing; ``"random"`` -- a random permutation from the seed;
  ``"data"`` -- data order. Default (``None``) as MatchIt: ``"largest"`` for ATT and
  ``"smallest"`` for ATC (the distance is always the score of being *treated*). Ties in the
  distance keep data order (R's ``order()`` is stable).
* **Nearest available unit.** All units are sorted (stably) by distance; for a focal unit the
  nearest still-available non-focal unit on its left and on its right in that order are found,
  and the left one is taken when ``|d_left| <= |d_right|`` (MatchIt's tie rule: towards the
  lower score). Among non-focal units with exactly the focal unit's distance, those earlier in
  the data are on the left.
* **Caliper.** A candidate is admissible when ``|d_focal - d_candidate| <= caliper``
  (inclusive). The width is ``caliper_sd`` times the standard deviation of the distance in
  the *whole sample* (both groups together, ``n - 1`` denominator), as MatchIt's
  ``std.caliper = TRUE`` (``sd(distance[!discarded])``); the alternative ``"pooled"`` uses
  Austin's ``sqrt((s1^2 + s0^2) / 2)``. A focal unit with nothing inside the caliper stays
  unmatched (MatchIt drops it from the matched sample, so the estimand becomes the effect in
  the matched focal units, not the full ATT/ATC).
* **1:k.** As MatchIt, matches are made in ``k`` rounds: every focal unit (in the matching
  order) receives its first match before any receives its second. A focal unit may end with
  fewer than ``k`` matches when the caliper or the supply runs out.

Differences from MatchIt: ``m_order = "random"`` uses NumPy's generator (seeded), not R's
``sample.int``, so random-order matches differ from R's for the same seed; ``discard``,
``exact``, ``mahvars``, ``antiexact``, replacement and variable-ratio matching are not
implemented, nor the ``"closest"``/``"farthest"`` orders that newer MatchIt sources add.
MatchIt warns but proceeds when the focal group is the larger one; here the same is recorded
in :attr:`MatchResult.notes`.

Algorithm: the non-focal units are sorted once; each focal unit's insertion point is found
with one stable sort of all units; "next free to the right" and "next free to the left" are
two union-find arrays with path halving, so each match costs amortised near-constant time
and the whole matching is dominated by the O(n log n) sort. Memory is O(n).

The ``psmpy`` engine (:func:`match_psmpy`) calls psmpy's own ``kdtree_matched`` on the same
scores and absolute caliper; see its docstring for how psmpy differs.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

M_ORDERS = ("largest", "smallest", "random", "data")


@dataclass
class MatchResult:
    """Outcome of a matching run.

    Attributes
    ----------
    focal_index : ndarray of int, shape (n_focal,)
        Row positions (into the input arrays) of the focal units, in data order.
    matches : ndarray of int, shape (n_focal, ratio)
        ``matches[i, r]`` is the row position of the unit matched to focal unit
        ``focal_index[i]`` in round ``r``; ``-1`` where none was found.
    focal_group : int
        ``1`` when the treated are focal (ATT), ``0`` when the controls are focal (ATC).
    estimand : str
        ``"ATT"`` or ``"ATC"``.
    caliper : float or None
        The absolute caliper width on the distance scale (``None``: no caliper).
    m_order : str
        The matching order actually used.
    engine : str
        ``"native"`` or ``"psmpy"``.
    """

    focal_index: np.ndarray
    matches: np.ndarray
    focal_group: int
    estimand: str
    caliper: float | None
    m_order: str
    engine: str = "native"
    notes: list[str] = field(default_factory=list)

    @property
    def n_matched_focal(self) -> int:
        """Number of focal units with at least one match (= number of matched sets/pairs)."""
        return int((self.matches >= 0).any(axis=1).sum())

    @property
    def n_focal_unmatched(self) -> int:
        """Number of focal units left without any match (dropped from the matched sample)."""
        return int(len(self.focal_index) - self.n_matched_focal)


def resolve_estimand(treated: np.ndarray, estimand: str) -> str:
    """Return ``"ATT"`` or ``"ATC"``: which group is focal.

    ``"auto"`` makes the smaller group focal (treated when the groups are of equal size, as
    MatchIt's default ATT). ``"ATT"``/``"ATC"`` are returned unchanged.
    """
    est = str(estimand).upper()
    if est in ("ATT", "ATC"):
        return est
    if est != "AUTO":
        raise ValueError(f"estimand must be 'auto', 'ATT' or 'ATC', not {estimand!r}")
    treated = np.asarray(treated).astype(bool)
    n1 = int(treated.sum())
    n0 = int(len(treated) - n1)
    return "ATC" if n0 < n1 else "ATT"


def default_m_order(estimand: str) -> str:
    """MatchIt's default matching order for a propensity-score distance: ``"largest"`` for
    ATT, ``"smallest"`` for ATC."""
    return "smallest" if estimand == "ATC" else "largest"


def to_scale(ps: np.ndarray, scale: str, eps: float = 1e-12) -> np.ndarray:
    """The matching distance: ``"ps"`` -> the score itself; ``"logit"`` -> ``log(ps/(1-ps))``
    (scores are clipped to ``[eps, 1 - eps]`` first so the logit is finite)."""
    ps = np.asarray(ps, dtype=float)
    if scale == "ps":
        return ps.copy()
    if scale == "logit":
        p = np.clip(ps, eps, 1 - eps)
        return np.log(p) - np.log1p(-p)
    raise ValueError(f"scale must be 'ps' or 'logit', not {scale!r}")


def caliper_width(distance: np.ndarray, treated: np.ndarray, caliper_sd: float | None,
                  sd_sample: str = "all") -> float | None:
    """Absolute caliper width = ``caliper_sd`` x a standard deviation of ``distance``.

    ``sd_sample = "all"`` (MatchIt's ``std.caliper``): the SD of the distance over all units,
    both groups together, ``n - 1`` denominator. ``"pooled"``: ``sqrt((s1^2 + s0^2) / 2)`` of
    the two groups' SDs (Austin 2011). ``caliper_sd = None`` means no caliper (returns None).
    """
    if caliper_sd is None:
        return None
    d = np.asarray(distance, dtype=float)
    if sd_sample == "all":
        sd = float(np.std(d, ddof=1))
    elif sd_sample == "pooled":
        t = np.asarray(treated).astype(bool)
        sd = float(np.sqrt((np.var(d[t], ddof=1) + np.var(d[~t], ddof=1)) / 2))
    else:
        raise ValueError(f"caliper sd_sample must be 'all' or 'pooled', not {sd_sample!r}")
    return float(caliper_sd) * sd


def _find(parent: list, x: int) -> int:
    # Union-find root with path halving.
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def nearest_neighbor_match(distance, focal, ratio: int = 1, caliper: float | None = None,
                           m_order: str = "largest", seed: int | None = None,
                           progress=None) -> tuple[np.ndarray, np.ndarray, str]:
    """Greedy 1:``ratio`` nearest-neighbour matching without replacement on ``distance``.

    Parameters
    ----------
    distance : array of float, shape (n,)
        The matching distance of every unit (score or logit score).
    focal : array of bool, shape (n,)
        True for the units that receive matches (treated under ATT, controls under ATC).
    ratio : int
        Matches per focal unit (k of 1:k).
    caliper : float or None
        Absolute maximum ``|distance difference|`` (inclusive); None = no caliper.
    m_order : {"largest", "smallest", "random", "data"}
        Order in which focal units choose (see module docstring).
    seed : int, optional
        Seed of the permutation for ``m_order = "random"``.
    progress : callable, optional
        Called as ``progress(done, total)`` about every 2^16 focal units (for benchmarks).

    Returns
    -------
    focal_index : ndarray of int
        Row positions of the focal units in data order.
    matches : ndarray of int, shape (n_focal, ratio)
        Row positions of their matches, ``-1`` where none.
    m_order : str
        The order used.
    """
    d = np.ascontiguousarray(distance, dtype=float)
    focal = np.asarray(focal).astype(bool)
    n = d.shape[0]
    if focal.shape[0] != n:
        raise ValueError("distance and focal must have the same length")
    if not np.all(np.isfinite(d)):
        raise ValueError("distance has missing or non-finite values")
    ratio = int(ratio)
    if ratio < 1:
        raise ValueError("ratio must be >= 1")
    if m_order not in M_ORDERS:
        raise ValueError(f"m_order must be one of {M_ORDERS}, not {m_order!r}")
    if caliper is not None and not caliper >= 0:
        raise ValueError("caliper must be >= 0 or None")

    focal_index = np.flatnonzero(focal)
    n_focal = focal_index.shape[0]
    matches = np.full((n_focal, ratio), -1, dtype=np.int64)

    # One stable sort of all units by distance (ties keep data order, as R's sort.list).
    order_all = np.argsort(d, kind="stable")
    is_other_sorted = ~focal[order_all]
    other_units = order_all[is_other_sorted]          # non-focal units, sorted
    m = other_units.shape[0]
    if n_focal == 0 or m == 0:
        return focal_index, matches, m_order
    other_d = d[other_units]
    # Number of non-focal units before each position in the combined order.
    before = np.cumsum(is_other_sorted) - is_other_sorted
    rank = np.empty(n, dtype=np.int64)
    rank[order_all] = np.arange(n)
    pos = before[rank[focal_index]]                   # first non-focal at or right of the unit

    fd = d[focal_index]
    if m_order == "largest":
        proc = np.argsort(-fd, kind="stable")
    elif m_order == "smallest":
        proc = np.argsort(fd, kind="stable")
    elif m_order == "random":
        proc = np.random.default_rng(seed).permutation(n_focal)
    else:
        proc = np.arange(n_focal)

    # nxt: union-find over 0..m (m = sentinel "none to the right");
    # prv: union-find over 0..m where slot j+1 stands for unit j and 0 = "none to the left".
    nxt = list(range(m + 1))
    prv = list(range(m + 1))
    od = other_d.tolist()
    pos_l = pos.tolist()
    fd_l = fd.tolist()
    proc_l = proc.tolist()
    out = [[-1] * ratio for _ in range(n_focal)]
    cal = float("inf") if caliper is None else float(caliper)
    remaining = m
    total = n_focal * ratio
    done = 0
    find = _find
    for r in range(ratio):
        for i in proc_l:
            done += 1
            if progress is not None and (done & 0xFFFF) == 0:
                progress(done, total)
            p = pos_l[i]
            x = fd_l[i]
            jr = find(nxt, p)
            jl = find(prv, p) - 1
            dl = x - od[jl] if jl >= 0 else float("inf")
            dr = od[jr] - x if jr < m else float("inf")
            if dl <= dr:
                if jl < 0 or dl > cal:
                    continue
                j = jl
            else:
                if dr > cal:
                    continue
                j = jr
            out[i][r] = j
            nxt[j] = j + 1
            prv[j + 1] = j
            remaining -= 1
            if remaining == 0:
                break
        if remaining == 0:
            break
    if progress is not None:
        progress(total, total)
    rel = np.asarray(out, dtype=np.int64).reshape(n_focal, ratio)
    matches = np.where(rel >= 0, other_units[np.clip(rel, 0, None)], -1)
    return focal_index, matches, m_order


def match(ps, treated, *, estimand: str = "auto", ratio: int = 1, caliper_sd: float | None = 0.25,
          scale: str = "ps", sd_sample: str = "all", m_order: str | None = None,
          seed: int | None = None, engine: str = "native", progress=None) -> MatchResult:
    """Propensity-score matching as configured in the study's ``analysis.matching`` section.

    ``ps`` is the probability of being treated; the distance is ``ps`` or its logit
    (``scale``); the caliper is ``caliper_sd`` SDs of that distance (see
    :func:`caliper_width`). ``progress(done, total)`` is called now and then (native engine).
    Returns a :class:`MatchResult`.
    """
    treated = np.asarray(treated).astype(int)
    est = resolve_estimand(treated, estimand)
    focal_group = 1 if est == "ATT" else 0
    dist = to_scale(ps, scale)
    cal = caliper_width(dist, treated, caliper_sd, sd_sample)
    if engine == "psmpy":
        return match_psmpy(dist, treated, caliper=cal, ratio=ratio, estimand=est)
    if engine != "native":
        raise ValueError(f"engine must be 'native' or 'psmpy', not {engine!r}")
    order = m_order or default_m_order(est)
    focal = treated == focal_group
    notes = []
    if focal.sum() > (~focal).sum():
        notes.append("the focal group is the larger group: not every focal unit can be matched")
    fi, mm, order = nearest_neighbor_match(dist, focal, ratio=ratio, caliper=cal,
                                           m_order=order, seed=seed, progress=progress)
    return MatchResult(fi, mm, focal_group, est, cal, order, "native", notes)


@contextlib.contextmanager
def _quiet_psmpy():
    # psmpy calls seaborn.set() at import time, which would restyle every later matplotlib
    # figure in this process; keep the global style untouched.
    import matplotlib

    with matplotlib.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def match_psmpy(distance, treated, *, caliper: float | None, ratio: int = 1,
                estimand: str = "auto") -> MatchResult:
    """Match with psmpy's own code (``PsmPy.kdtree_matched``) on the given distance.

    psmpy (0.3.x) semantics, from its source:

    * the *minority* group is always focal (controls when the groups are equal in size), so
      ``estimand`` must agree with that (ATC when the controls are fewer);
    * focal units choose in data order (MatchIt's ``m_order = "data"``);
    * each picks the nearest not-yet-used unit within ``caliper`` (an *absolute* distance on
      the matcher column, ``<=``; psmpy does not multiply it by an SD although its docstring
      calls it a multiplier) -- we pass our absolute width, so the caliper rule is the same;
    * ties in distance are ordered by scikit-learn's KDTree, not by data order;
    * its 1:k routine (``kdtree_matched_12n``) has no caliper, so ``ratio > 1`` is only
      accepted without a caliper;
    * it queries every focal unit against *all* other units (O(n_focal x n_other) time and
      memory) -- use it for checks, not for large cohorts;
    * psmpy's own score model (``logistic_ps``: liblinear L2-penalised fits on folds of the
      majority group, averaged) is *not* used: the scores come from our model, so only the
      matching step is psmpy's.
    """
    treated = np.asarray(treated).astype(int)
    n1 = int(treated.sum())
    n0 = len(treated) - n1
    minority_group = 1 if n1 < n0 else 0
    est_minority = "ATT" if minority_group == 1 else "ATC"
    est = est_minority if str(estimand).lower() == "auto" else str(estimand).upper()
    if est != est_minority:
        raise ValueError(f"engine psmpy always makes the smaller group focal ({est_minority}); "
                         f"estimand {estimand!r} is not possible with it")
    if ratio > 1 and caliper is not None:
        raise ValueError("engine psmpy has no caliper for 1:k matching (kdtree_matched_12n); "
                         "use ratio 1, no caliper, or engine native")
    with _quiet_psmpy():
        from psmpy import PsmPy

        ids = np.arange(len(treated))
        frame = pd.DataFrame({"uid": ids, "treated": treated, "_x": 0.0})
        psm = PsmPy(frame, treatment="treated", indx="uid", exclude=[])
        dist = np.asarray(distance, dtype=float)
        psm.predicted_data = pd.DataFrame({"uid": ids, "propensity_score": dist,
                                           "propensity_logit": dist, "treated": treated})
        if ratio == 1:
            psm.kdtree_matched(matcher="propensity_score", replacement=False, caliper=caliper,
                               drop_unmatched=True)
            pairs = psm.matched_ids
            got = dict(zip(pairs["uid"].astype(int), pairs["matched_ID"].astype(int)))
            cols = [[got.get(int(u), -1)] for u in ids[treated == minority_group]]
        else:
            psm.kdtree_matched_12n(matcher="propensity_score", how_many=int(ratio))
            mids = psm.matched_ids.set_index("uid")
            cols = [[int(v) for v in mids.loc[u].to_numpy()] for u in ids[treated == minority_group]]
    focal_index = np.flatnonzero(treated == minority_group)
    matches = np.asarray(cols, dtype=np.int64).reshape(len(focal_index), int(ratio))
    return MatchResult(focal_index, matches, minority_group, est, caliper, "data", "psmpy",
                       ["psmpy: minority group focal, data order, KDTree tie order"])


def matched_frame(result: MatchResult, stay_id, treated, ps) -> pd.DataFrame:
    """The matched sample as a table: ``stay_id, treated, ps, pair_id, match_weight, focal``.

    ``pair_id`` numbers the matched sets 1..n_pairs in the data order of their focal unit;
    every unit matched to a focal unit carries that unit's ``pair_id``. ``match_weight`` is the
    matching weight (MatchIt's convention for matching without replacement): focal units 1;
    a matched unit in a set with ``j`` matches gets ``1/j``, rescaled so the non-focal weights
    sum to the number of matched non-focal units. With every set complete (e.g. 1:1) all
    weights are 1.
    """
    stay_id = np.asarray(stay_id)
    treated = np.asarray(treated).astype(int)
    ps = np.asarray(ps, dtype=float)
    has = (result.matches >= 0).any(axis=1)
    fi = result.focal_index[has]
    mm = result.matches[has]
    n_sets = fi.shape[0]
    pair = np.arange(1, n_sets + 1)
    k = (mm >= 0).sum(axis=1)
    rows_f = fi
    sel = mm >= 0
    rows_o = mm[sel]
    pair_o = np.repeat(pair, k)
    w_o = np.repeat(1.0 / k, k)
    if w_o.size:
        w_o = w_o * (w_o.size / w_o.sum())
    rows = np.concatenate([rows_f, rows_o])
    out = pd.DataFrame({
        "stay_id": stay_id[rows],
        "treated": treated[rows],
        "ps": ps[rows],
        "pair_id": np.concatenate([pair, pair_o]).astype(np.int64),
        "match_weight": np.concatenate([np.ones(n_sets), w_o]),
        "focal": np.concatenate([np.ones(n_sets, bool), np.zeros(rows_o.size, bool)]),
        "_row": rows,
    })
    return out.sort_values(["pair_id", "focal"], ascending=[True, False], kind="stable") \
              .reset_index(drop=True)
