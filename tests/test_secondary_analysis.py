"""Secondary outcomes in the analysis (issue 12 point 3): ``estimates.json["secondary_outcomes"]``.

Every figure is checked against a value computed another way from the cohort and the matched
sample the analysis wrote (``matched.parquet``): counts and risks with pandas, the matched risk
difference and its CI from the paired differences of the 1:1 matched pairs, the Cox log hazard
ratio by maximising the partial likelihood by hand (scipy) and its robust CI with lifelines
called directly; and a secondary outcome defined as the primary one must give the primary's
numbers exactly. A study without secondary outcomes gives the same estimates.json as before.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from icu_cohort import artifacts
from icu_cohort.analysis import run_analysis

from test_analysis_helpers import COVARIATES, small_cohort

OPTS = {"subgroups": []}  # subgroups are not what these tests look at (and cost time)
SEVEN = {"name": "death_within_7d", "kind": "death_within", "horizon_days": 7}
SAME = {"name": "death_within_28d", "kind": "death_within", "horizon_days": 28}


def with_outcomes(df: pd.DataFrame) -> pd.DataFrame:
    """The cohort with a 7-day death outcome and one equal to the primary 28-day outcome."""
    out = df.copy()
    out["death_within_7d"] = ((out["death_28d"] == 1) & (out["time_days"] <= 7)).astype("int64")
    out["death_within_7d_time_days"] = out["time_days"].clip(upper=7.0)
    out["death_within_28d"] = out["death_28d"]
    out["death_within_28d_time_days"] = out["time_days"]
    return out


@pytest.fixture(scope="module")
def cohort():
    return with_outcomes(small_cohort(500, seed=3))


@pytest.fixture(scope="module")
def runs(cohort, tmp_path_factory):
    """The analysis without, and with two secondary outcomes."""
    plain = run_analysis(cohort, COVARIATES, OPTS, tmp_path_factory.mktemp("plain"), "t")
    out = tmp_path_factory.mktemp("secondary")
    est = run_analysis(cohort, COVARIATES, OPTS, out, "t", secondary=[SEVEN, SAME])
    return plain, est, out


def entry(est: dict, name: str) -> dict:
    return next(e for e in est[artifacts.SECONDARY_OUTCOMES] if e["name"] == name)


def matched_sample(cohort: pd.DataFrame, out) -> pd.DataFrame:
    m = pd.read_parquet(out / artifacts.MATCHED.name)
    return m[["stay_id", "pair_id", "match_weight"]].merge(cohort, on="stay_id", how="left", validate="1:1")


def test_a_study_without_secondary_outcomes_has_the_same_estimates(runs, cohort, tmp_path):
    plain, est, _ = runs
    assert artifacts.SECONDARY_OUTCOMES not in plain
    assert run_analysis(cohort, COVARIATES, OPTS, tmp_path, "t", secondary=[]) == plain
    # the secondary outcomes add their key (and notes) and change nothing else
    rest = {k: v for k, v in est.items() if k != artifacts.SECONDARY_OUTCOMES}
    rest["warnings"] = [w for w in rest["warnings"] if not w.startswith("secondary outcome ")]
    assert rest == plain
    assert [e["name"] for e in est[artifacts.SECONDARY_OUTCOMES]] == ["death_within_7d", "death_within_28d"]
    assert artifacts.missing_estimate_keys(est) == []


def test_counts_and_risks_by_arm_are_the_cohorts_and_the_matched_samples(runs, cohort):
    _, est, out = runs
    e = entry(est, "death_within_7d")
    m = matched_sample(cohort, out)
    assert np.allclose(m["match_weight"], 1.0) and est["matching"]["ratio"] == 1
    for sample, frame in (("cohort", cohort), ("matched", m)):
        for g, arm in ((1, "treated"), (0, "control")):
            sel = frame[frame["treated"] == g]
            deaths = int(((sel["death_28d"] == 1) & (sel["time_days"] <= 7)).sum())
            assert e["n"][f"{sample}_{arm}"] == len(sel) > 0
            assert e["deaths"][f"{sample}_{arm}"] == deaths
            assert e["risk"][f"{sample}_{arm}"] == pytest.approx(deaths / len(sel), abs=1e-15)
            # follow-up is complete to day 7: the Kaplan-Meier risk is the crude one
            assert e["km_risk"][f"{sample}_{arm}"] == pytest.approx(deaths / len(sel), abs=1e-9)
    assert e["deaths"]["matched_treated"] > 0 and e["deaths"]["matched_control"] > 0
    assert e["horizon_days"] == 7.0 and e["kind"] == "death_within"


def test_matched_risk_difference_is_the_mean_paired_difference(runs, cohort):
    _, est, out = runs
    rd = entry(est, "death_within_7d")["risk_difference"]
    m = matched_sample(cohort, out)
    wide = m.pivot(index="pair_id", columns="treated", values="death_within_7d")
    d = (wide[1] - wide[0]).to_numpy(float)  # 1:1 pairs: one treated, one control each
    se = d.std(ddof=1) / math.sqrt(len(d))
    z = stats.norm.ppf(0.975)
    assert rd["sample"] == "matched"
    assert rd["rd"] == pytest.approx(d.mean(), abs=1e-12)
    assert rd["se"] == pytest.approx(se, rel=1e-9)
    assert rd["ci95"] == pytest.approx([d.mean() - z * se, d.mean() + z * se], rel=1e-9)


def _cox_log_hr(time, event, x) -> float:
    """The maximiser of Cox's partial likelihood for one covariate (no tied event times)."""
    order = np.argsort(-time, kind="mergesort")
    t, e, x = time[order], event[order], x[order].astype(float)
    assert len(np.unique(t[e == 1])) == int(e.sum())  # distinct event times: Efron = Breslow = exact

    def neg_loglik(b):
        eta = b * x
        # risk set of an event at t_i: every stay with time >= t_i (sorted descending)
        log_den = np.logaddexp.accumulate(eta)
        # stays tied at the same time are all in each other's risk sets
        last = pd.Series(np.arange(len(t))).groupby(t).transform("max").to_numpy()
        return -np.sum((eta - log_den[last])[e == 1])

    return float(optimize.minimize_scalar(neg_loglik, bounds=(-10, 10), method="bounded",
                                          options={"xatol": 1e-10}).x)


def test_matched_hazard_ratio_maximises_the_partial_likelihood(runs, cohort):
    from lifelines import CoxPHFitter

    _, est, out = runs
    cox = entry(est, "death_within_7d")["cox_matched"]
    m = matched_sample(cohort, out)
    time, event = m["death_within_7d_time_days"].to_numpy(float), m["death_within_7d"].to_numpy(int)
    b = _cox_log_hr(time, event, m["treated"].to_numpy())
    # lifelines stops its Newton steps at its default precision (1e-7 on the step): on this flat
    # likelihood (4 deaths) that leaves about 4e-5 on the log HR, far below the reported digits
    assert cox["log_hr"] == pytest.approx(b, abs=1e-4) and cox["hr"] == pytest.approx(math.exp(b), rel=1e-4)
    # the interval: robust variance clustered on the matched pair, lifelines called directly
    cph = CoxPHFitter().fit(pd.DataFrame({"t": time, "e": event, "treated": m["treated"], "pair": m["pair_id"]}),
                            "t", "e", cluster_col="pair", robust=True)
    s = cph.summary.loc["treated"]
    assert cox["ci95"] == pytest.approx([s["exp(coef) lower 95%"], s["exp(coef) upper 95%"]], rel=1e-9)
    assert cox["p"] == pytest.approx(s["p"], rel=1e-9)
    assert cox["variance"].endswith("clustered on pair_id") and cox["weighted"] is False


def test_a_secondary_outcome_equal_to_the_primary_gives_the_primarys_numbers(runs):
    _, est, _ = runs
    e = entry(est, "death_within_28d")
    for k in ("hr", "ci95", "p", "log_hr", "se"):
        assert e["cox_matched"][k] == est["cox_matched"][k], k
    for k in ("rd", "ci95", "se", "p"):
        assert e["risk_difference"][k] == est["risk_difference"][k], k
    mort = est["mortality_28d"]
    for cell in artifacts.SAMPLE_ARMS:
        assert e["risk"][cell] == mort[cell], cell
        assert e["km_risk"][cell] == mort[f"km_{cell}"], cell


def test_no_events_in_an_arm_gives_no_hazard_ratio_and_a_note(cohort, tmp_path):
    df = cohort.copy()
    df["control_deaths"] = np.where(df["treated"] == 0, df["death_28d"], 0)
    df["control_deaths_time_days"] = df["time_days"]
    spec = {"name": "control_deaths", "kind": "in_hospital_death"}
    est = run_analysis(df, COVARIATES, OPTS, tmp_path, "t", secondary=[spec])
    e = entry(est, "control_deaths")
    assert e["cox_matched"]["hr"] is None and e["cox_matched"]["ci95"] == [None, None]
    assert "secondary outcome control_deaths: matched Cox: no deaths among the treated stays; the hazard ratio " \
           "is not estimable" in est["warnings"]
    assert e["deaths"]["matched_treated"] == 0 < e["deaths"]["matched_control"]
    assert e["risk_difference"]["rd"] == pytest.approx(-e["risk"]["matched_control"], abs=1e-15)
    # in-hospital death has no horizon and no Kaplan-Meier risk (discharge alive is not censoring)
    assert e["horizon_days"] is None and "km_risk" not in e
    assert artifacts.missing_estimate_keys(est) == []


def test_multiple_imputation_pools_the_secondary_outcome_as_the_primary(cohort, tmp_path):
    opts = {**OPTS, "propensity": {"missing": {"method": "multiple_imputation", "n_imputations": 2}}}
    est = run_analysis(cohort, COVARIATES, opts, tmp_path, "t", secondary=[SAME])
    e = entry(est, "death_within_28d")
    for k in ("hr", "ci95", "p", "df", "fmi", "by_imputation"):
        assert e["cox_matched"][k] == est["cox_matched"][k], k
    for k in ("rd", "ci95", "p", "df", "pooled"):
        assert e["risk_difference"][k] == est["risk_difference"][k], k
    assert "secondary_outcomes.cox_matched" in est["imputation"]["pooled"]


@pytest.mark.parametrize("change, error, words", [
    (lambda d: d.drop(columns=["death_within_7d_time_days"]), KeyError, "death_within_7d_time_days"),
    (lambda d: d.assign(death_within_7d=d["death_within_7d"] * 2), ValueError, "'death_within_7d'.*0/1"),
    (lambda d: d.assign(death_within_7d_time_days=-1.0), ValueError, "'death_within_7d_time_days'.*>= 0"),
])
def test_a_bad_secondary_column_is_named(cohort, tmp_path, change, error, words):
    with pytest.raises(error, match=words):
        run_analysis(change(cohort), COVARIATES, OPTS, tmp_path, "t", secondary=[SEVEN])
    assert not list(tmp_path.iterdir())  # nothing written


def test_missing_secondary_keys_are_named():
    est = {"secondary_outcomes": [{"name": "x", "kind": "death_within", "horizon_days": 7,
                                   "n": {}, "deaths": {}, "risk": {}, "risk_difference": {}}]}
    missing = artifacts.missing_estimate_keys(est)
    assert "secondary_outcomes[0].cox_matched" in missing
    assert "secondary_outcomes[0].n.cohort_treated" in missing
    assert "secondary_outcomes[0].risk_difference.rd" in missing


def test_incomplete_matched_sets_weight_the_risks_and_the_model(cohort, tmp_path):
    """1:2 matching: sets with one control get weights; the matched risks are weighted means and
    the Cox model the weighted, clustered fit, as for the primary outcome."""
    from lifelines import CoxPHFitter

    est = run_analysis(cohort, COVARIATES, {**OPTS, "matching": {"ratio": 2}}, tmp_path, "t", secondary=[SEVEN, SAME])
    assert est["matching"]["weighted"] is True
    e = entry(est, "death_within_7d")
    m = matched_sample(cohort, tmp_path)
    assert not np.allclose(m["match_weight"], 1.0)
    for g, arm in ((1, "treated"), (0, "control")):
        s = m[m["treated"] == g]
        assert e["n"][f"matched_{arm}"] == len(s) and e["deaths"][f"matched_{arm}"] == int(s["death_within_7d"].sum())
        assert e["risk"][f"matched_{arm}"] == pytest.approx(np.average(s["death_within_7d"], weights=s["match_weight"]),
                                                            rel=1e-12)
    cph = CoxPHFitter().fit(pd.DataFrame({"t": m["death_within_7d_time_days"], "e": m["death_within_7d"],
                                          "treated": m["treated"], "w": m["match_weight"], "pair": m["pair_id"]}),
                            "t", "e", weights_col="w", cluster_col="pair", robust=True)
    assert e["cox_matched"]["hr"] == pytest.approx(math.exp(cph.params_["treated"]), rel=1e-9)
    assert e["cox_matched"]["weighted"] is True
    same = entry(est, "death_within_28d")
    assert same["cox_matched"]["hr"] == est["cox_matched"]["hr"] and same["risk_difference"] == {
        **est["risk_difference"]}
