"""Statistical validation on the project's synthetic data (planted effect, strong confounding).

One cohort of 20,000 stays from :func:`icu_cohort.synth.dgp.simulate_stays` (default
parameters: conditional log HR log(0.6), ~90% treated, confounding through observed
covariates) goes through the full :func:`run_analysis`. Because each synthetic stay carries
both potential outcomes, the *true* effects of the matched population are known exactly
(:func:`icu_cohort.analysis.truth.true_effects`): the risk difference from both potential
outcomes of the matched stays, and the marginal HR from a Cox fit of that population
duplicated under both arms, censored at 28 days. The checks:

* the matched 28-day risk difference's 95% CI covers the true risk difference;
* the matched Cox HR's 95% CI covers the true marginal HR of the matched population;
* the naive (unmatched) comparison is far off (so confounding was removed, not absent);
* balance: large SMDs before matching, all below 0.1 after.

The seed is fixed, so the test is deterministic; tests/benchmarks/simulate_coverage.py checks
the coverage over many replicates.
"""

import numpy as np
import pandas as pd
import pytest

from icu_cohort.analysis import cox as coxm
from icu_cohort.analysis import run_analysis
from icu_cohort.analysis import survival as sv
from icu_cohort.analysis.truth import true_effects

from test_analysis_helpers import COVARIATES, small_cohort

N_STAYS = 20_000
SEED = 11


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    cohort = small_cohort(N_STAYS, SEED, missing=False)
    out = tmp_path_factory.mktemp("validation")
    est = run_analysis(cohort, COVARIATES, {}, out, "validation")
    matched = pd.read_parquet(out / "matched.parquet").merge(
        cohort.drop(columns=["treated"]), on="stay_id", how="left")
    truth = true_effects(matched["death_day_if_treated"], matched["death_day_if_untreated"],
                         28.0, weights=matched["match_weight"])
    return cohort, est, matched, truth


def test_matched_risk_difference_covers_truth(result):
    _, est, _, truth = result
    rd = est["risk_difference"]
    assert rd["ci95"][0] <= truth["rd"] <= rd["ci95"][1], (rd, truth)
    # and it is precise enough to mean something: CI half-width under 3 percentage points
    assert rd["ci95"][1] - rd["ci95"][0] < 0.06


def test_matched_cox_ci_covers_true_marginal_hr(result):
    _, est, _, truth = result
    lo, hi = est["cox_matched"]["ci95"]
    assert lo <= truth["hr"] <= hi, (est["cox_matched"], truth)
    assert hi / lo < 1.6                       # precise: CI ratio under 1.6
    assert est["cox_matched"]["hr"] < 1 and hi < 1   # the planted benefit is found


def test_naive_comparison_is_visibly_biased(result):
    cohort, est, _, truth = result
    whole = true_effects(cohort["death_day_if_treated"], cohort["death_day_if_untreated"], 28.0)
    naive = sv.risk_difference(cohort["death_28d"], cohort["treated"])
    # truth: treatment lowers 28-day risk; naively the treated look worse
    assert whole["rd"] < 0 and truth["rd"] < 0
    assert naive["rd"] - whole["rd"] > 5 * naive["se"]
    assert naive["rd"] - truth["rd"] > 5 * naive["se"]
    cph = coxm.fit_cox(cohort[["time_days", "death_28d", "treated"]], "time_days", "death_28d")
    naive_hr = coxm.term_effect(cph)
    assert naive_hr["ci95"][0] > 1 > whole["hr"]
    # crude mortality in the cohort points the wrong way; in the matched sample the right way
    m = est["mortality_28d"]
    assert m["cohort_treated"] > m["cohort_control"]
    assert m["matched_treated"] < m["matched_control"]


def test_balance_removed_observed_confounding(result):
    _, est, _, _ = result
    assert est["balance"]["max_abs_smd_before"] > 0.5
    assert est["balance"]["max_abs_smd_after"] < 0.1
    assert est["estimand"] == "ATC" and est["n_focal_unmatched"] < 0.1 * est["n_focal"]


def test_sensitivity_analyses_agree_in_direction(result):
    _, est, _, truth = result
    for key in ("cox_multivariable", "iptw"):
        assert est[key]["ci95"][1] < 1, key
    assert abs(np.log(est["iptw"]["hr"]) - truth["log_hr"]) < 0.25
    assert est["evalue"]["point"] > 1.5
