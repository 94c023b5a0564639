"""Hand-checkable numbers: SMD, variance ratio, Kaplan-Meier, at-risk, risk difference,
IPTW weights, E-value, Rubin's rules, the propensity design, the PH test."""

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icu_cohort.analysis import balance as bal
from icu_cohort.analysis import cox as coxm
from icu_cohort.analysis import evalue as ev
from icu_cohort.analysis import pooling, propensity as pr
from icu_cohort.analysis import survival as sv
from icu_cohort.analysis import weighting as wt

# --- SMD ------------------------------------------------------------------------------------
# Cohort of 7: treated rows 0-2, control rows 3-6.
#   x (continuous): treated 1, 2, 3 (mean 2, var 1); control 2, 3, 4, 5 (mean 3.5, var 5/3)
#     SMD before = (2 - 3.5) / sqrt((1 + 5/3) / 2) = -1.5 / 1.154701 = -1.299038
#     variance ratio before = 1 / (5/3) = 0.6
#   b (binary): treated 1, 1, 0 (p = 2/3); control 1, 0, 0, 0 (p = 1/4)
#     SMD before = (2/3 - 1/4) / sqrt((2/9 + 3/16) / 2) = 0.416667 / 0.452616 = 0.920575
# Matched sample: rows 1, 2 (treated) with 3, 4 (control):
#   x: treated 2, 3 (mean 2.5), control 2, 3 (mean 2.5) -> SMD after 0 (denominator unmatched)
#   b: treated 1, 0 (p .5), control 1, 0 (p .5) -> SMD after 0
# Matched rows 0, 1 with 5, 6: x means 1.5 vs 4.5 -> SMD after = -3 / 1.154701 = -2.598076
#   (the unmatched SD in the denominator, not the matched sample's).
COH = pd.DataFrame({"x": [1, 2, 3, 2, 3, 4, 5.0], "b": [1, 1, 0, 1, 0, 0, 0],
                    "treated": [1, 1, 1, 0, 0, 0, 0]})
COVS = [{"name": "x", "type": "continuous"}, {"name": "b", "type": "binary"}]


def test_smd_by_hand():
    b = bal.balance_table(COH, COVS, COH["treated"], [1, 2, 3, 4]).set_index("covariate")
    assert b.loc["x", "smd_before"] == pytest.approx(-1.5 / math.sqrt(4 / 3))
    assert b.loc["x", "smd_before"] == pytest.approx(-1.299038, abs=1e-6)
    assert b.loc["x", "variance_ratio_before"] == pytest.approx(0.6)
    assert b.loc["b", "smd_before"] == pytest.approx(0.920575, abs=1e-6)
    assert b.loc["x", "smd_after"] == pytest.approx(0.0)
    assert b.loc["b", "smd_after"] == pytest.approx(0.0)
    assert bool(b.loc["x", "imbalanced_before"]) and not bool(b.loc["x", "imbalanced_after"])
    b2 = bal.balance_table(COH, COVS, COH["treated"], [0, 1, 5, 6]).set_index("covariate")
    assert b2.loc["x", "smd_after"] == pytest.approx(-2.598076, abs=1e-6)
    # after-matching variance ratio: both matched groups have var 0.5 -> 1.0
    assert b2.loc["x", "variance_ratio_after"] == pytest.approx(1.0)


def test_smd_binary_formula_and_zero_denominator():
    assert bal.smd_binary(0.5, 0.2) == pytest.approx(0.3 / math.sqrt(0.205))
    assert bal.smd_binary(0.0, 0.0) == 0.0
    assert bal.smd_continuous(1.0, 1.0, 0.0, 0.0) == 0.0


def test_missing_values_get_their_own_balance_row_and_table1_counts():
    coh = COH.assign(x=[1, np.nan, 3, 2, 3, np.nan, np.nan],
                     race=["A", "B", None, "A", "A", "B", "A"])
    covs = COVS + [{"name": "race", "type": "categorical"}]
    b = bal.balance_table(coh, covs, coh["treated"], [0, 1, 2, 3, 4, 5])
    miss = b[(b["covariate"] == "x") & (b["kind"] == "missing")].iloc[0]
    # missing share: treated 1/3, control 2/4
    assert miss["smd_before"] == pytest.approx(bal.smd_binary(1 / 3, 0.5))
    assert set(b.loc[b["covariate"] == "race", "level"]) == {"A", "B", "Missing"}
    t1 = bal.table1(coh, covs, coh["treated"], [0, 1, 2, 3, 4, 5], balance=b)
    row = t1[(t1["sample"] == "before") & (t1["variable"] == "x")].iloc[0]
    assert row["treated_n"] == 2 and row["treated_n_missing"] == 1
    assert row["treated_mean"] == pytest.approx(2.0) and row["control_n_missing"] == 2
    a = t1[(t1["sample"] == "before") & (t1["variable"] == "race") & (t1["level"] == "A")].iloc[0]
    assert a["treated_count"] == 1 and a["treated_pct"] == pytest.approx(100 / 3)
    assert a["control_count"] == 3 and a["control_pct"] == pytest.approx(75.0)
    n = t1[(t1["sample"] == "after") & (t1["variable"] == "N")].iloc[0]
    assert (n["treated_n"], n["control_n"]) == (3, 3)


def test_table1_continuous_summaries():
    t1 = bal.table1(COH, COVS, COH["treated"], [1, 2, 3, 4])
    r = t1[(t1["sample"] == "before") & (t1["variable"] == "x")].iloc[0]
    assert (r["control_mean"], r["control_median"], r["control_q1"], r["control_q3"]) == \
        pytest.approx((3.5, 3.5, 2.75, 4.25))
    assert r["control_sd"] == pytest.approx(math.sqrt(5 / 3))


# --- Kaplan-Meier ---------------------------------------------------------------------------
# times 1, 2, 2+, 3, 4+, 5 (+ = censored)
#   t=1: 6 at risk, 1 death -> S = 5/6
#   t=2: 5 at risk, 1 death (the censored-at-2 stay still counts) -> S = 5/6 * 4/5 = 2/3
#   t=3: 3 at risk, 1 death -> S = 2/3 * 2/3 = 4/9
#   t=5: 1 at risk, 1 death -> S = 0
T = np.array([1, 2, 2, 3, 4, 5.0])
E = np.array([1, 1, 0, 1, 0, 1])


def km_by_hand(time, event, weights=None):
    """Independent product-limit estimator: {event time: S(t)}."""
    w = np.ones_like(time, dtype=float) if weights is None else np.asarray(weights, float)
    s, out = 1.0, {}
    for u in np.unique(time[event == 1]):
        n_risk = w[time >= u].sum()
        d = w[(time == u) & (event == 1)].sum()
        s *= 1 - d / n_risk
        out[float(u)] = s
    return out


def test_km_values_by_hand():
    tab = sv.km_table(T, E, np.ones(6), "cohort").set_index("time")
    for t, s in {0: 1.0, 1: 5 / 6, 2: 2 / 3, 3: 4 / 9, 4: 4 / 9, 5: 0.0}.items():
        assert tab.loc[float(t), "survival"] == pytest.approx(s)
    assert km_by_hand(T, E) == pytest.approx({1.0: 5 / 6, 2.0: 2 / 3, 3.0: 4 / 9, 5.0: 0.0})
    # 95% CI at t=1, exponential Greenwood: V = 1/(6*5); se of log(-log S) = sqrt(V)/|log S|
    s, v = 5 / 6, 1 / 30
    se = math.sqrt(v) / abs(math.log(s))
    lo, hi = s ** math.exp(1.959964 * se), s ** math.exp(-1.959964 * se)
    assert tab.loc[1.0, "ci_lower"] == pytest.approx(lo, abs=1e-5)
    assert tab.loc[1.0, "ci_upper"] == pytest.approx(hi, abs=1e-5)
    assert sv.km_at(T, E, 3) == pytest.approx(5 / 9)


def test_km_matches_second_implementation_on_random_data():
    rng = np.random.default_rng(11)
    time = np.round(np.minimum(rng.exponential(15, 300), 28), 1)
    event = ((time < 28) & (rng.random(300) < 0.8)).astype(int)
    w = rng.uniform(0.5, 2, 300)
    for weights in (None, w):
        fit = sv.km_curve(time, event, weights).survival_function_.iloc[:, 0]
        for t, s in km_by_hand(time, event, weights).items():
            assert fit.loc[t] == pytest.approx(s, rel=1e-9)


def test_at_risk_by_hand():
    tab = sv.at_risk_table(np.array([1, 7, 7, 10, 28, 28.0]), np.ones(6), "cohort")
    got = tab[tab["group"] == "treated"].set_index("time")["n_at_risk"].to_dict()
    assert got == {0.0: 6, 7.0: 5, 14.0: 2, 21.0: 2, 28.0: 2}


def test_crude_risk_and_logrank():
    r = sv.crude_risk([1, 0, 0, 1, 1, 0], [1, 1, 1, 0, 0, 0])
    assert r == pytest.approx({"treated": 1 / 3, "control": 2 / 3})
    # identical groups: log-rank p = 1
    assert sv.logrank_p(np.r_[T, T], np.r_[E, E], np.r_[np.ones(6), np.zeros(6)]) == \
        pytest.approx(1.0)


def test_risk_difference_paired_by_hand():
    # 4 pairs (treated y, control y): (1,0) (1,0) (0,0) (1,1): p1 = .75, p0 = .25, RD = .5
    # Within-pair differences 1, 1, 0, 0: SE = sd(d)/sqrt(4) = sqrt(1/3)/2 = 0.288675
    y = [1, 0, 1, 0, 0, 0, 1, 1]
    t = [1, 0, 1, 0, 1, 0, 1, 0]
    pid = [1, 1, 2, 2, 3, 3, 4, 4]
    r = sv.risk_difference(y, t, cluster=pid)
    assert r["rd"] == pytest.approx(0.5)
    assert r["se"] == pytest.approx(math.sqrt(1 / 3) / 2)
    assert r["ci95"] == pytest.approx([0.5 - 1.959964 * 0.288675, 0.5 + 1.959964 * 0.288675],
                                      abs=1e-5)


# --- IPTW -----------------------------------------------------------------------------------
# ps .8 .5 .6 (treated), .25 (control); P(treated) = 3/4.
#   ATE stabilised: treated .75/.8 = .9375, .75/.5 = 1.5, .75/.6 = 1.25; control .25/.75 = 1/3
#   ATT stabilised: treated 1; control (.25/.75) * (.25/.75) = 1/9
#   ATC stabilised: treated (.2/.8)*3 = .75, (.5/.5)*3 = 3, (.4/.6)*3 = 2; control 1
PS = np.array([0.8, 0.5, 0.6, 0.25])
TR = np.array([1, 1, 1, 0])


@pytest.mark.parametrize("estimand, stabilized, expected", [
    ("ATE", True, [0.9375, 1.5, 1.25, 1 / 3]),
    ("ATE", False, [1.25, 2.0, 1 / 0.6, 1 / 0.75]),
    ("ATT", True, [1, 1, 1, 1 / 9]),
    ("ATT", False, [1, 1, 1, 1 / 3]),
    ("ATC", True, [0.75, 3.0, 2.0, 1.0]),
    ("ATC", False, [0.25, 1.0, 2 / 3, 1.0]),
])
def test_iptw_weights_by_hand(estimand, stabilized, expected):
    assert wt.iptw_weights(PS, TR, estimand, stabilized) == pytest.approx(expected)


def test_truncation_and_ess():
    w = np.arange(1, 101, dtype=float)
    tw = wt.truncate(w, [1, 99])
    assert tw.min() == pytest.approx(1.99) and tw.max() == pytest.approx(99.01)
    assert wt.truncate(w, None).tolist() == w.tolist()
    assert wt.effective_sample_size([1, 1, 2]) == pytest.approx(16 / 6)


# --- E-value --------------------------------------------------------------------------------
def test_evalue_by_hand():
    # VanderWeele & Ding's example: RR 3.9 -> 3.9 + sqrt(3.9 * 2.9) = 7.263
    assert ev.evalue_rr(3.9) == pytest.approx(7.263, abs=1e-3)
    assert ev.evalue_rr(1 / 3.9) == pytest.approx(7.263, abs=1e-3)
    # rare outcome: RR = HR = .6 -> 1/.6 = 1.6667; E = 1.6667 + sqrt(1.6667 * .6667) = 2.7208
    r = ev.evalue_hr(0.6, 0.45, 0.8, outcome_risk=0.10)
    assert not r["common_outcome"] and r["point"] == pytest.approx(2.7208, abs=1e-4)
    # CI limit closest to 1 is .8 -> 1.25 + sqrt(1.25 * .25) = 1.8090
    assert r["ci_limit"] == pytest.approx(1.8090, abs=1e-4)
    # common outcome (25% > 15%): RR = (1 - .5^sqrt(.6)) / (1 - .5^sqrt(1/.6))
    #   = .415449 / .591334 = .702564 -> 1/RR = 1.423356 -> E = 1.423356 + .776262 = 2.1996
    c = ev.evalue_hr(0.6, 0.45, 0.8, outcome_risk=0.25)
    assert c["common_outcome"] and c["rr"] == pytest.approx(0.702564, abs=1e-6)
    assert c["point"] == pytest.approx(2.1996, abs=1e-4)
    # a CI that crosses 1 gives 1
    assert ev.evalue_hr(0.9, 0.7, 1.1, 0.25)["ci_limit"] == 1.0


# --- Rubin's rules --------------------------------------------------------------------------
def test_rubin_by_hand():
    # q = 1, 2, 3 with SE 1: Q = 2, W = 1, B = 1, T = 1 + 4/3 = 7/3,
    # df = 2 (1 + 1 / (4/3))^2 = 6.125
    r = pooling.rubin([1, 2, 3], [1, 1, 1])
    assert r["estimate"] == 2 and r["within"] == 1 and r["between"] == 1
    assert r["se"] == pytest.approx(math.sqrt(7 / 3))
    assert r["df"] == pytest.approx(6.125)
    from scipy import stats

    half = stats.t.ppf(0.975, 6.125) * math.sqrt(7 / 3)
    assert r["ci"] == pytest.approx([2 - half, 2 + half])
    same = pooling.rubin([0.5, 0.5], [0.1, 0.1])
    assert same["between"] == 0 and same["se"] == pytest.approx(0.1)


# --- Design matrix --------------------------------------------------------------------------
def test_design_median_imputation_indicators_and_categorical_reference():
    coh = pd.DataFrame({
        "a": [1.0, np.nan, 3, 5, 2, 8, 4, 6, 7, 9, 3, 1, 2, 6],
        "b": [1, 0, np.nan, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0],
        "c": ["x", "y", "x", None, "x", "y", "x", "z", "x", "y", "z", "x", "y", "x"],
        "d": [2.0, 4, 6, np.nan, 1, 3, 5, 7, 9, 8, 2, 6, 4, 1],
        "k": [7] * 14})
    covs = [{"name": "a", "type": "continuous"}, {"name": "b", "type": "binary"},
            {"name": "c", "type": "categorical"}, {"name": "d", "type": "continuous"},
            {"name": "k", "type": "continuous"}]
    des = pr.build_design(coh, covs)
    X = des.X
    assert des.medians["a"] == 4.0                            # median of the 13 observed
    assert X.loc[1, "a"] == 4.0 and X["a__missing"].tolist() == [0, 1] + [0] * 12
    assert des.medians["b"] == 1.0 and X.loc[2, "b"] == 1.0   # 7 ones, 6 zeros observed
    assert des.references["c"] == "x"                         # most frequent level
    assert X["c[y]"].tolist() == [0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0]
    assert X["c[Missing]"].tolist() == [0, 0, 0, 1] + [0] * 10
    # k is constant; d__missing equals c[Missing] (collinear) -> both dropped
    assert "k" in des.dropped and "d__missing" in des.dropped
    assert "k" not in X.columns and "d__missing" not in X.columns
    assert des.n_missing == {"a": 1, "b": 1, "c": 1, "d": 1, "k": 0}


def test_propensity_fit_and_c_statistic():
    rng = np.random.default_rng(2)
    x = rng.normal(size=2000)
    t = (rng.random(2000) < 1 / (1 + np.exp(-(0.3 + 1.2 * x)))).astype(int)
    fit = pr.fit_propensity(pd.DataFrame({"x": x}), t)
    assert fit.converged
    assert fit.coefficients["x"] == pytest.approx(1.2, abs=0.15)
    assert fit.c_statistic == pytest.approx(pr.c_statistic(t, x))
    # c-statistic by hand: 2 treated (.9, .4), 2 controls (.5, .1): 3 of 4 pairs concordant
    assert pr.c_statistic([1, 1, 0, 0], [0.9, 0.4, 0.5, 0.1]) == pytest.approx(0.75)


def test_multiple_imputation_is_seeded_and_fills_everything():
    rng = np.random.default_rng(4)
    n = 300
    a = rng.normal(size=n)
    b = a + rng.normal(scale=0.5, size=n)
    coh = pd.DataFrame({"a": np.where(rng.random(n) < 0.2, np.nan, a), "b": b,
                        "z": (rng.random(n) < 0.5).astype(float),
                        "treated": rng.integers(0, 2, n), "time_days": rng.uniform(1, 28, n),
                        "death_28d": rng.integers(0, 2, n)})
    coh.loc[rng.random(n) < 0.1, "z"] = np.nan
    covs = [{"name": "a", "type": "continuous"}, {"name": "b", "type": "continuous"},
            {"name": "z", "type": "binary"}]
    d1 = pr.impute_multiple(coh, covs, 3, seed=9)
    d2 = pr.impute_multiple(coh, covs, 3, seed=9)
    assert len(d1) == 3
    for x, y in zip(d1, d2):
        assert not x.X.isna().any().any()
        pd.testing.assert_frame_equal(x.X, y.X)
        assert set(x.X["z"].unique()) <= {0.0, 1.0}
    assert not d1[0].X.equals(d1[1].X)                         # draws differ between sets
    obs = coh["a"].notna()
    assert np.allclose(d1[0].X.loc[obs, "a"], coh.loc[obs, "a"])


def test_nelson_aalen_by_hand():
    # T as above: H(1) = 1/6, H(2) = 1/6 + 1/5, H(3) = .. + 1/3, H(4) = same, H(5) = .. + 1
    h = pr.nelson_aalen_at(T, E)
    h1, h2, h3 = 1 / 6, 1 / 6 + 1 / 5, 1 / 6 + 1 / 5 + 1 / 3
    assert h == pytest.approx([h1, h2, h2, h3, h3, h3 + 1])


# --- Cox and the PH test --------------------------------------------------------------------
def test_ph_test_single_term_global_equals_term_and_detects_nonproportionality():
    rng = np.random.default_rng(5)
    n = 600
    g = rng.integers(0, 2, n)
    # group 1: early hazard high, later low (crossing hazards) -> PH violated
    t1 = np.where(rng.random(n) < 0.5, rng.uniform(0, 3, n), rng.uniform(20, 40, n))
    t0 = rng.exponential(20, n)
    time = np.where(g == 1, t1, t0)
    event = (time < 28).astype(int)
    df = pd.DataFrame({"time": np.minimum(time, 28), "event": event, "g": g})
    tab = coxm.ph_tests(df, "time", "event", "m").set_index("term")
    assert tab.loc["GLOBAL", "test_statistic"] == pytest.approx(tab.loc["g", "test_statistic"])
    assert tab.loc["GLOBAL", "p"] < 1e-4
    df["x"] = rng.normal(size=n)
    tab2 = coxm.ph_tests(df, "time", "event", "m").set_index("term")
    assert tab2.loc["GLOBAL", "df"] == 2 and 0 <= tab2.loc["GLOBAL", "p"] <= 1


@pytest.mark.parametrize("weighted", [False, True])
def test_schoenfeld_residuals_are_bit_identical_to_lifelines(weighted):
    """cox._schoenfeld_within_strata replaces lifelines' quadratic row-by-row np.append; the
    residuals (raw and scaled) must be exactly lifelines' own."""
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(11)
    n = 1500
    df = pd.DataFrame({"g": rng.integers(0, 2, n), "x": rng.normal(size=n), "z": rng.normal(size=n)})
    # whole days, so many times are tied, with and without events among the tied rows
    df["time"] = np.minimum(np.ceil(rng.exponential(12, n) * np.exp(-0.4 * df["g"])), 28.0)
    df["event"] = ((df["time"] < 28) & (rng.random(n) < 0.8)).astype(int)
    if weighted:
        df["w"] = rng.uniform(0.5, 2.0, n)
    kw = dict(duration_col="time", event_col="event", weights_col="w" if weighted else None)
    stock, ours = CoxPHFitter(), CoxPHFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stock.fit(df, **kw)
        ours.fit(df, **kw)
        assert coxm.use_linear_schoenfeld(ours)  # the replacement is in use with this lifelines
        for kind in ("schoenfeld", "scaled_schoenfeld"):
            a, b = stock.compute_residuals(df, kind=kind), ours.compute_residuals(df, kind=kind)
            assert a.index.equals(b.index) and np.array_equal(a.to_numpy(), b.to_numpy()), kind
    assert int(df["event"].sum()) == len(a) and (df.loc[df["event"] == 1, "time"].duplicated()).any()


def test_the_analysis_stage_runs_with_one_blas_thread(tmp_path, monkeypatch):
    """pipeline.run_analysis pins BLAS to one thread, so the propensity scores (and every
    estimate) do not depend on OPENBLAS_NUM_THREADS / OMP_NUM_THREADS."""
    from threadpoolctl import threadpool_info

    from icu_cohort import analysis, pipeline
    from icu_cohort.study import load_study

    seen = []

    def spy(*args, **kwargs):
        seen.append([p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"])
        return {}

    monkeypatch.setattr(analysis, "run_analysis", spy)
    pd.DataFrame({"stay_id": [1]}).to_parquet(tmp_path / "cohort.parquet")
    study = load_study("sae_mgso4", Path(__file__).resolve().parents[1] / "config" / "studies")
    pipeline.run_analysis(study, tmp_path / "cohort.parquet", tmp_path)
    assert len(seen) == 1 and seen[0] and set(seen[0]) == {pipeline.ANALYSIS_BLAS_THREADS} == {1}


def test_matched_cox_uses_cluster_robust_se():
    rng = np.random.default_rng(6)
    n = 400
    df = pd.DataFrame({"time": rng.exponential(10, n).clip(max=28), "treated": np.tile([1, 0], n // 2),
                       "pair_id": np.repeat(np.arange(n // 2), 2)})
    df["event"] = (df["time"] < 28).astype(int)
    robust = coxm.term_effect(coxm.fit_cox(df, "time", "event", cluster="pair_id"))
    naive = coxm.term_effect(coxm.fit_cox(df.drop(columns="pair_id"), "time", "event"))
    assert robust["log_hr"] == pytest.approx(naive["log_hr"])
    assert robust["se"] != pytest.approx(naive["se"])
    assert robust["hr"] == pytest.approx(math.exp(robust["log_hr"]))
