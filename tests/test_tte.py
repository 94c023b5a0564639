"""Target-trial emulation estimators (icu_cohort.analysis.tte) on hand-built stays."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from icu_cohort.analysis import tte


def stays(rows):
    """rows: (id, time_zero, start, end, event, icu_out, x)."""
    return pd.DataFrame(rows, columns=["id", "time_zero", "start", "end", "event", "icu_out", "x"])


NAN = float("nan")


def test_clone_censor_times_at_the_grace_edges():
    G, H = 24.0, 100.0
    df = stays([
        (1, 10, 10 + 24, 80, 1, 200, 0),     # start exactly at G: follows both arms
        (2, 10, 10 + 23.5, 80, 1, 200, 0),   # start just before G: arm 0 censored at 23.5
        (3, 10, 10 + 24.5, 80, 1, 200, 0),   # start just after G: arm 1 censored at G
        (4, 10, NAN, 10 + 20, 1, 200, 0),    # never treated, dies before G: no censoring, death in both arms
        (5, 10, NAN, 10 + 30, 1, 200, 0),    # never treated, dies after G: arm 1 censored at G
        (6, 10, 10, 10 + 50, 1, 200, 0),     # start at time zero: arm 0 censored at 0
        (7, 10, NAN, 10 + 24, 1, 200, 0),    # dies exactly at G untreated: a death in arm 1, not censored
        (8, 10, NAN, 10 + 150, 0, 200, 0),   # alive past the horizon
    ])
    cl = tte.clone_censor(df, G, H).set_index(["id", "arm"])
    c = cl["censor"].to_dict()
    t = cl["time"].to_dict()
    e = cl["event"].to_dict()
    assert c[(1, 1)] == np.inf and c[(1, 0)] == np.inf and t[(1, 1)] == t[(1, 0)] == 70 and e[(1, 0)] == 1
    assert c[(2, 0)] == 23.5 and t[(2, 0)] == 23.5 and e[(2, 0)] == 0 and c[(2, 1)] == np.inf and e[(2, 1)] == 1
    assert c[(3, 1)] == 24 and t[(3, 1)] == 24 and e[(3, 1)] == 0 and c[(3, 0)] == np.inf and e[(3, 0)] == 1
    assert c[(4, 1)] == np.inf and c[(4, 0)] == np.inf and e[(4, 1)] == e[(4, 0)] == 1 and t[(4, 1)] == 20
    assert c[(5, 1)] == 24 and e[(5, 1)] == 0 and e[(5, 0)] == 1 and t[(5, 0)] == 30
    assert c[(6, 0)] == 0 and t[(6, 0)] == 0 and e[(6, 0)] == 0 and e[(6, 1)] == 1
    assert c[(7, 1)] == np.inf and e[(7, 1)] == 1 and e[(7, 0)] == 1
    assert t[(8, 1)] == 24 and t[(8, 0)] == 100 and e[(8, 0)] == 0


def test_eligibility_at_time_zero():
    df = stays([(1, 24, 10, 80, 1, 200, 0),     # treated before time zero
                (2, 24, 24, 80, 1, 200, 0),     # start at time zero: eligible
                (3, 24, NAN, 20, 1, 200, 0),    # dead before time zero
                (4, 24, NAN, 80, 1, 24, 0),     # left the ICU at time zero
                (5, 24, NAN, 80, 0, 30, 0)])
    assert tte.eligible_at_time_zero(df).tolist() == [False, True, False, False, True]
    assert tte.eligible_at_time_zero(df, allow_prior_treatment=True).tolist() == [True, True, False, False, True]


def _hand_cohort():
    """Two strata of x; one censoring interval (interval = grace) so that the saturated
    logistic models give stratum proportions."""
    rows = []
    i = 0
    # x = 0: 4 start in grace (hours 3, 8, 15, 20), 6 do not
    for s, end, ev in [(3, 60, 1), (8, 90, 0), (15, 70, 1), (20, 90, 0), (NAN, 30.5, 1), (NAN, 50.25, 1),
                       (NAN, 90, 0), (40, 80.5, 1), (NAN, 12.5, 1), (NAN, 90, 0)]:
        i += 1
        rows.append((i, 0.0, s, end, ev, 500, 0))
    # x = 1: 6 start, 2 do not
    for s, end, ev in [(1, 33.3, 1), (2, 90, 0), (5, 45.5, 1), (9, 90, 0), (12, 61.7, 1), (22, 90, 0),
                       (NAN, 40.1, 1), (NAN, 90, 0)]:
        i += 1
        rows.append((i, 0.0, s, end, ev, 500, 1))
    return stays(rows)


def test_weights_against_a_hand_computation():
    df = _hand_cohort()
    d = tte.CCW(df, ["x"], grace_hours=24, horizon_hours=90, interval_hours=24)
    p0, p1 = d.censoring_probabilities()
    x = df["x"].to_numpy()
    # arm 0: P(start in [0, 24) | x) among all (every clone is at risk in the single interval)
    exp0 = np.where(x == 0, 4 / 10, 6 / 8)
    assert p0 == pytest.approx(exp0, abs=1e-6)
    # arm 1: P(untreated by 24 | x) among clones alive at 24: x=0 -> stay 9 died at 12.5, so 9 at
    # risk, 5 untreated (30.5, 50.25, 90, start 40, 90); x=1 -> 8 at risk, 2 untreated
    exp1 = np.where(x == 0, 5 / 9, 2 / 8)
    at_g = df["end"].to_numpy() > 24
    assert p1[at_g] == pytest.approx(exp1[at_g], abs=1e-6)
    w0, w1 = d.weights()
    s0, s1 = d._s0, d._s1
    # arm 0: every segment of an uncensored clone weighs 1 / (1 - p0) (censoring precedes the outcome)
    assert w0 == pytest.approx(1 / (1 - exp0[s0["stay"]]), abs=1e-6)
    # arm 1: 1 before G, 1 / P(treated by G | x) after
    expect1 = np.where(s1["post"], 1 / (1 - exp1[s1["stay"]]), 1.0)
    assert w1 == pytest.approx(expect1, abs=1e-6)
    # and the risks by hand: arm 1 post-G weights; KM over segments
    r1, r0, rd, rr, hr = d.estimate()
    # arm 0 by hand: a clone is followed to min(end, start if start < 24, 90) with weight
    # 1 / (1 - p0(x)); deaths count only when not censored first
    S = 1.0
    ends = df["end"].to_numpy()
    start = df["start"].to_numpy()
    cens = np.where(~np.isnan(start) & (start < 24), start, np.inf)
    tclone = np.minimum(np.minimum(ends, cens), 90)
    dead = (df["event"].to_numpy() == 1) & (ends < cens)
    wt = 1 / (1 - exp0)
    for tt in np.unique(tclone[dead]):
        S *= 1 - wt[dead & (tclone == tt)].sum() / wt[tclone >= tt].sum()
    assert r0 == pytest.approx(1 - S, abs=1e-9)
    assert rd == pytest.approx(r1 - r0) and rr == pytest.approx(r1 / r0)


def test_weighted_km_and_cox_match_lifelines():
    from lifelines import CoxTimeVaryingFitter, KaplanMeierFitter

    rng = np.random.default_rng(3)
    n = 300
    a = rng.uniform(0, 5, n)
    b = a + rng.exponential(10, n) + 0.01
    ev = rng.random(n) < 0.7
    w = rng.uniform(0.2, 3.0, n)
    z = rng.random(n) < 0.5
    at = 9.0
    kmf = KaplanMeierFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmf.fit(b, ev, entry=a, weights=w)
    assert tte.weighted_km(a, b, ev, w, at) == pytest.approx(1 - float(kmf.predict(at)), abs=1e-10)
    ctv = CoxTimeVaryingFitter()
    frame = pd.DataFrame({"id": np.arange(n), "start": a, "stop": b, "event": ev.astype(int), "z": z.astype(float),
                          "w": w})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctv.fit(frame, id_col="id", event_col="event", start_col="start", stop_col="stop", weights_col="w")
    assert tte.weighted_cox_binary(a, b, ev, w, z) == pytest.approx(float(np.exp(ctv.params_["z"])), rel=1e-6)


def test_frequency_weights_equal_duplicated_stays():
    df = _hand_cohort()
    counts = np.array([2, 0, 1, 3, 1, 1, 0, 2, 1, 1, 1, 2, 0, 1, 1, 3, 1, 1], float)
    dup = df.loc[np.repeat(np.arange(len(df)), counts.astype(int))].reset_index(drop=True)
    dup["id"] = np.arange(1, len(dup) + 1)
    a = tte.CCW(df, ["x"], 24, 90, interval_hours=6).estimate(counts)
    b = tte.CCW(dup, ["x"], 24, 90, interval_hours=6).estimate()
    assert a == pytest.approx(b, rel=1e-8)
    # the landmark's units are the stays of its population (alive and in the ICU at 24 h)
    la = tte.Landmark(df, ["x"], 24, 90).estimate(counts[df["end"].to_numpy() > 24])
    lb = tte.Landmark(dup, ["x"], 24, 90).estimate()
    assert la == pytest.approx(lb, rel=1e-8)


def test_landmark_population_exposure_and_follow_up():
    df = _hand_cohort()
    lm = tte.Landmark(df, ["x"], 24, 90)
    alive = df["end"].to_numpy() > 24
    assert lm.n == int(alive.sum())
    st = lm.stays
    assert lm.treated.tolist() == (st["start"].fillna(1e9) < 24).tolist()
    assert np.all(lm.time == np.minimum(st["end"].to_numpy(), 90) - 24)


def test_time_varying_covariates_last_value_carried_forward():
    tv = pd.DataFrame({"id": [1, 1, 1, 2], "hour": [0.0, 5.0, 9.0, 2.0], "v": [1.0, 2.0, 3.0, 7.0]})
    got = tte.tv_values_at(tv, ["v"], np.array([1, 1, 1, 1, 2, 2]), np.array([0.0, 4.9, 5.0, 100.0, 2.0, 3.0]))
    assert got[:, 0].tolist() == [1.0, 1.0, 2.0, 3.0, 7.0, 7.0]
    with pytest.raises(tte.TTEError, match="stay id 2"):
        tte.tv_values_at(tv, ["v"], np.array([2]), np.array([1.0]))
    with pytest.raises(tte.TTEError, match="no rows for stay id 3"):
        tte.tv_values_at(tv, ["v"], np.array([3]), np.array([1.0]))


def test_time_varying_covariate_enters_the_censoring_model():
    df = _hand_cohort()
    tv = pd.DataFrame({"id": df["id"], "hour": 0.0, "v": df["x"].astype(float)})
    a = tte.CCW(df, [], 24, 90, interval_hours=24, tv=tv, tv_covariates=["v"]).estimate()
    b = tte.CCW(df, ["x"], 24, 90, interval_hours=24).estimate()
    assert a == pytest.approx(b, rel=1e-7)


def test_bootstrap_is_deterministic_and_thread_independent():
    df = _hand_cohort()
    d = tte.CCW(df, ["x"], 24, 90, interval_hours=6)
    r1 = tte.bootstrap(d.estimate, d.n, 20, seed=5, threads=1)
    r2 = tte.bootstrap(d.estimate, d.n, 20, seed=5, threads=2)
    r3 = tte.bootstrap(d.estimate, d.n, 20, seed=6, threads=2)
    assert np.array_equal(r1, r2, equal_nan=True)
    assert not np.array_equal(r1, r3, equal_nan=True)
    s = tte.analyse(d, replicates=20, seed=5, threads=2)
    assert s["n_replicates"] + s["n_failed"] == 20
    assert s["rd"]["estimate"] == pytest.approx(d.estimate()[2])


def test_bad_input_is_named():
    df = _hand_cohort()
    with pytest.raises(tte.TTEError, match="missing column"):
        tte.CCW(df.drop(columns="icu_out"), ["x"], 24, 90)
    bad = df.copy()
    bad.loc[0, "start"] = 1000.0
    with pytest.raises(tte.TTEError, match="start after the end of follow-up.*stay id 1"):
        tte.CCW(bad, ["x"], 24, 90)
    late = df.copy()
    late["time_zero"] = 5.0
    with pytest.raises(tte.TTEError, match="eligible at time zero"):
        tte.CCW(late, ["x"], 24, 90)
