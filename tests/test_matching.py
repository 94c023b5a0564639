"""Nearest-neighbour matching: hand-checked fixtures, MatchIt semantics, psmpy agreement.

Every fixture below was worked out by hand; the comments give the reasoning so a reader can
check the expected pairs without running anything.
"""

import numpy as np
import pytest

from icu_cohort.analysis import matching as mt


def pairs(distance, focal, **kw):
    """{focal row: [matched rows]} from nearest_neighbor_match."""
    fi, mm, _ = mt.nearest_neighbor_match(np.asarray(distance, float), np.asarray(focal, bool),
                                          **kw)
    return {int(f): [int(x) for x in row if x >= 0] for f, row in zip(fi, mm)}


# Fixture A: three treated (focal), four controls, absolute caliper 0.10, order "largest".
#   row: 0=t1 .80  1=t2 .50  2=t3 .20 | 3=c1 .78  4=c2 .55  5=c3 .47  6=c4 .05
#   t1 (.80) picks first: nearest control c1 (.02 away).
#   t2 (.50): left c3 (.03) beats right c2 (.05) -> c3.
#   t3 (.20): left c4 is .15 away, right c2 is .35 away: both outside .10 -> unmatched.
A_D = [0.80, 0.50, 0.20, 0.78, 0.55, 0.47, 0.05]
A_F = [1, 1, 1, 0, 0, 0, 0]


def test_caliper_excludes_one_unit():
    assert pairs(A_D, A_F, caliper=0.10, m_order="largest") == {0: [3], 1: [5], 2: []}


def test_without_caliper_everyone_matches():
    # t3 now takes the nearer of what is left: c4 (.15) rather than c2 (.35).
    assert pairs(A_D, A_F, caliper=None, m_order="largest") == {0: [3], 1: [5], 2: [6]}


def test_caliper_is_inclusive():
    # t1-c1 are exactly 0.25 apart (dyadic numbers, no rounding): a 0.25 caliper keeps them.
    d = [0.75, 0.5, 0.0]
    f = [1, 0, 0]
    assert pairs(d, f, caliper=0.25) == {0: [1]}
    assert pairs(d, f, caliper=0.2499) == {0: []}


# Fixture B: the matching order changes the pairs.
#   row: 0=a .50  1=b .56 (treated) | 2=x .53  3=y .40 (controls)
#   largest: b first takes x (.03); a gets y (.10).
#   smallest / data: a first takes x (.03 vs .10); b gets y (.16).
B_D = [0.50, 0.56, 0.53, 0.40]
B_F = [1, 1, 0, 0]


@pytest.mark.parametrize("order, expected", [
    ("largest", {0: [3], 1: [2]}),
    ("smallest", {0: [2], 1: [3]}),
    ("data", {0: [2], 1: [3]}),
])
def test_m_order_changes_pairs(order, expected):
    assert pairs(B_D, B_F, m_order=order) == expected


def test_m_order_and_caliper_together():
    # caliper .12: under "largest" both pairs fit (.03, .10); under "smallest" b-y is .16 apart.
    assert pairs(B_D, B_F, m_order="largest", caliper=0.12) == {0: [3], 1: [2]}
    assert pairs(B_D, B_F, m_order="smallest", caliper=0.12) == {0: [2], 1: []}


def test_equal_distance_tie_goes_left():
    # MatchIt: if |d_left| <= |d_right| the left (lower score) control is taken.
    assert pairs([0.5, 0.25, 0.75], [1, 0, 0]) == {0: [1]}
    assert pairs([0.5, 0.75, 0.25], [1, 0, 0]) == {0: [2]}


def test_identical_scores_keep_data_order():
    # Two controls with the focal unit's exact score: the stable sort puts the earlier row
    # (row 0) left of the focal unit (row 1) and the later one (row 2) right; distance 0 both,
    # left wins -> row 0.
    assert pairs([0.5, 0.5, 0.5], [0, 1, 0]) == {1: [0]}


# Fixture D: 1:2 matching is done in rounds (everyone's first match before anyone's second).
#   row: 0=p .60  1=q .50 (treated) | 2=c1 .58  3=c2 .55  4=c3 .40  5=c4 .70
#   round 1 (largest first): p takes c1 (.02); q takes c2 (.05; c3 is .10 away).
#   round 2: p: left c3 .20, right c4 .10 -> c4; q: only c3 left (.10) -> c3.
#   (Matching p's two controls before q's would give p [c1, c2], q [c3, c4] instead.)
def test_one_to_two_in_rounds():
    got = pairs([0.60, 0.50, 0.58, 0.55, 0.40, 0.70], [1, 1, 0, 0, 0, 0], ratio=2)
    assert got == {0: [2, 5], 1: [3, 4]}


def test_one_to_two_with_caliper_leaves_incomplete_set():
    # Same data, caliper .15: p's second match c4 (.10) fits; q's second (c3, .10) fits too.
    # With caliper .09 only the first round fits for both.
    d = [0.60, 0.50, 0.58, 0.55, 0.40, 0.70]
    f = [1, 1, 0, 0, 0, 0]
    assert pairs(d, f, ratio=2, caliper=0.15) == {0: [2, 5], 1: [3, 4]}
    assert pairs(d, f, ratio=2, caliper=0.09) == {0: [2], 1: [3]}


def test_runs_out_of_controls():
    # three focal units, one control: only the first in order ("largest") is matched.
    assert pairs([0.9, 0.5, 0.1, 0.4], [1, 1, 1, 0]) == {0: [3], 1: [], 2: []}


def brute_force(d, focal, ratio, caliper, order):
    """Literal transcription of MatchIt's nn_matchC_vec loop (quadratic), for comparison."""
    d = np.asarray(d, float)
    n = len(d)
    srt = np.argsort(d, kind="stable")
    rank = np.empty(n, int)
    rank[srt] = np.arange(n)
    fi = np.flatnonzero(focal)
    other = [int(i) for i in np.flatnonzero(~np.asarray(focal, bool))]
    fd = d[fi]
    proc = {"largest": np.argsort(-fd, kind="stable"), "smallest": np.argsort(fd, kind="stable"),
            "data": np.arange(len(fi))}[order]
    used = set()
    out = {int(f): [] for f in fi}
    cal = np.inf if caliper is None else caliper
    for _ in range(ratio):
        for i in proc:
            f = fi[i]
            left = [o for o in other if o not in used and rank[o] < rank[f]]
            right = [o for o in other if o not in used and rank[o] > rank[f]]
            kl = max(left, key=lambda o: rank[o]) if left else None
            kr = min(right, key=lambda o: rank[o]) if right else None
            kl = kl if kl is not None and abs(d[f] - d[kl]) <= cal else None
            kr = kr if kr is not None and abs(d[f] - d[kr]) <= cal else None
            if kl is not None and kr is not None:
                k = kl if abs(d[kl] - d[f]) <= abs(d[kr] - d[f]) else kr
            else:
                k = kl if kl is not None else kr
            if k is not None:
                out[int(f)].append(k)
                used.add(k)
    return out


def test_agrees_with_quadratic_reference_on_random_cases():
    rng = np.random.default_rng(7)
    for trial in range(150):
        n = int(rng.integers(2, 25))
        d = rng.random(n)
        if trial % 2:
            d = np.round(d, 1)  # many exact ties
        focal = rng.random(n) < 0.4
        ratio = int(rng.integers(1, 4))
        cal = [None, 0.05, 0.2][trial % 3]
        order = ["largest", "smallest", "data"][trial % 3]
        assert pairs(d, focal, ratio=ratio, caliper=cal, m_order=order) == \
            brute_force(d, focal, ratio, cal, order), trial


def test_random_order_is_seeded():
    rng = np.random.default_rng(1)
    d = rng.random(400)
    f = rng.random(400) < 0.3
    a = pairs(d, f, m_order="random", seed=5)
    assert a == pairs(d, f, m_order="random", seed=5)
    assert a != pairs(d, f, m_order="random", seed=6)


def test_caliper_width_by_hand():
    d = np.array([0.1, 0.2, 0.3, 0.4])
    t = np.array([1, 1, 0, 0])
    # SD of all four (n - 1): sqrt(0.05 / 3) = 0.129099...; x 0.25 = 0.0322749
    assert mt.caliper_width(d, t, 0.25, "all") == pytest.approx(0.25 * np.sqrt(0.05 / 3))
    # pooled: both groups have SD 0.0707107 -> 0.25 x 0.0707107 = 0.0176777
    assert mt.caliper_width(d, t, 0.25, "pooled") == pytest.approx(0.25 * np.sqrt(0.005))
    assert mt.caliper_width(d, t, None) is None


def test_focal_group_and_default_order():
    assert mt.resolve_estimand([1, 1, 1, 0, 0, 0, 0, 0], "auto") == "ATT"
    assert mt.resolve_estimand([1, 1, 1, 1, 1, 0, 0, 0], "auto") == "ATC"
    assert mt.resolve_estimand([1, 1, 0, 0], "auto") == "ATT"      # equal: MatchIt's default
    assert mt.resolve_estimand([1, 1, 1, 0], "ATT") == "ATT"
    assert mt.default_m_order("ATT") == "largest"
    assert mt.default_m_order("ATC") == "smallest"


def test_atc_matches_treated_to_each_control():
    # 4 treated, 2 controls; auto -> ATC: the controls are focal and pick treated units.
    # ps: rows 0-3 treated .9 .7 .5 .3, rows 4-5 control .65 .35; "smallest" first:
    # control .35 takes treated .3 (.05); control .65 takes .7 (.05 < .15).
    ps = np.array([0.9, 0.7, 0.5, 0.3, 0.65, 0.35])
    t = np.array([1, 1, 1, 1, 0, 0])
    r = mt.match(ps, t, caliper_sd=None)
    assert r.estimand == "ATC" and r.focal_group == 0 and r.m_order == "smallest"
    assert dict(zip(r.focal_index.tolist(), r.matches[:, 0].tolist())) == {4: 1, 5: 3}


def test_logit_scale():
    ps = np.array([0.5, 0.8])
    assert mt.to_scale(ps, "logit") == pytest.approx([0.0, np.log(4)])
    assert mt.to_scale(ps, "ps") == pytest.approx(ps)


def test_matched_frame_pair_ids_and_weights():
    # Fixture D 1:2 with caliper .15: p gets [c1, c4], q gets [c2, c3] -- complete sets.
    d = np.array([0.60, 0.50, 0.58, 0.55, 0.40, 0.70])
    t = np.array([1, 1, 0, 0, 0, 0])
    fi, mm, order = mt.nearest_neighbor_match(d, t == 1, ratio=2, caliper=0.15)
    res = mt.MatchResult(fi, mm, 1, "ATT", 0.15, order)
    f = mt.matched_frame(res, np.arange(100, 106), t, d)
    assert f["pair_id"].tolist() == [1, 1, 1, 2, 2, 2]
    assert f["stay_id"].tolist() == [100, 102, 105, 101, 103, 104]
    assert np.allclose(f["match_weight"], 1.0)
    # An incomplete set: 2 controls for one focal, 1 for the other. Raw 1/2, 1/2, 1 rescaled
    # to sum to 3 controls: 0.75, 0.75, 1.5.
    mm2 = np.array([[2, 5], [3, -1]])
    f2 = mt.matched_frame(mt.MatchResult(fi, mm2, 1, "ATT", None, order), np.arange(6), t, d)
    assert f2.loc[~f2["focal"], "match_weight"].tolist() == pytest.approx([0.75, 0.75, 1.5])


def test_million_units_quickly():
    # The benchmark runs 1e6; here a 2e5 smoke test keeps the suite fast.
    import time

    rng = np.random.default_rng(0)
    ps = rng.beta(2, 2, 200_000)
    t = (rng.random(200_000) < 0.5).astype(int)
    t0 = time.perf_counter()
    r = mt.match(ps, t, estimand="ATT")
    assert time.perf_counter() - t0 < 5
    assert r.n_matched_focal > 0.95 * len(r.focal_index)


def test_psmpy_engine_agrees_with_native():
    # Same scores and absolute caliper; psmpy makes the minority focal and goes in data order,
    # so compare with native estimand auto + m_order "data". Distinct scores: no tie rules.
    rng = np.random.default_rng(3)
    n = 80
    t = (rng.random(n) < 0.75).astype(int)     # controls are the minority -> ATC
    ps = np.where(t == 1, rng.uniform(0.3, 0.95, n), rng.uniform(0.0, 0.8, n))
    native = mt.match(ps, t, estimand="auto", caliper_sd=0.25, m_order="data")
    theirs = mt.match(ps, t, estimand="auto", caliper_sd=0.25, engine="psmpy")
    assert native.estimand == theirs.estimand == "ATC"
    assert theirs.caliper == pytest.approx(native.caliper)
    assert np.array_equal(native.focal_index, theirs.focal_index)
    assert np.array_equal(native.matches, theirs.matches)
    assert native.n_focal_unmatched > 0      # the caliper did exclude some controls
    assert native.n_matched_focal > 10


def test_psmpy_engine_refuses_what_it_cannot_do():
    ps = np.linspace(0.1, 0.9, 10)
    t = np.array([1] * 7 + [0] * 3)
    with pytest.raises(ValueError, match="smaller group"):
        mt.match(ps, t, estimand="ATT", engine="psmpy")
    with pytest.raises(ValueError, match="no caliper"):
        mt.match(ps, t, ratio=2, caliper_sd=0.25, engine="psmpy")


def test_psmpy_import_leaves_matplotlib_style_alone():
    import matplotlib

    before = dict(matplotlib.rcParams)
    mt.match(np.linspace(0.1, 0.9, 10), np.array([1] * 7 + [0] * 3), engine="psmpy")
    after = dict(matplotlib.rcParams)
    assert before == after


def test_input_checks():
    with pytest.raises(ValueError):
        mt.nearest_neighbor_match([0.1, np.nan], [1, 0])
    with pytest.raises(ValueError):
        mt.nearest_neighbor_match([0.1, 0.2], [1, 0], ratio=0)
    with pytest.raises(ValueError):
        mt.nearest_neighbor_match([0.1, 0.2], [1, 0], m_order="closest")
    empty = pairs([0.1, 0.2], [1, 1])
    assert empty == {0: [], 1: []}
