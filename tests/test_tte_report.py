"""The report's target-trial section (icu_cohort.report.design)."""

from __future__ import annotations

import re

from icu_cohort.report import design as rd
from icu_cohort.report.format import suppress_count


def est(x, lo, hi):
    return {"estimate": x, "se": 0.1, "ci95": [lo, hi]}


def trial(counts=None, truth=True, post=()):
    one = {"risk_1": est(0.12, 0.10, 0.14), "risk_0": est(0.18, 0.16, 0.20), "rd": est(-0.06, -0.09, -0.03),
           "rr": est(0.67, 0.55, 0.8), "hr": est(0.64, 0.5, 0.8), "n_replicates": 200, "n_failed": 0, "n_stays": 900}
    t = {"design": {"time_zero": {"anchor": "icu_admission", "offset_hours": 24.0}, "grace_hours": 24.0,
                    "landmark_hours": 24.0, "horizon_days": 28.0, "interval_hours": 1.0,
                    "allow_prior_treatment": False,
                    "post_baseline": [{"covariate": c, "window_end_hours": 30.0} for c in post],
                    "history_covariates": ["charlson"], "time_varying": ["sofa_24hours"],
                    "bootstrap": {"replicates": 200, "seed": 1}},
         "counts": counts or {"n_cohort": 1500, "n_excluded_dead_or_out_of_icu_by_time_zero": 0,
                              "n_excluded_treated_before_time_zero": 600, "n_eligible": 900,
                              "n_started_within_grace": 150},
         "clone_censor_weight": {**one, "clones": {"start_censored": 700, "no_start_censored": 150}},
         "landmark": {**one, "n_exposed": 140, "n_stays": 800},
         "naive": {**one, "n_exposed": 800, "rd": est(-0.1, -0.13, -0.07)}}
    if truth:
        t["truth"] = {"risk_strategy": 0.13, "risk_comparator": 0.18, "risk_difference": -0.05,
                      "hazard_ratio": 0.7, "source": "ground_truth_stays.csv"}
    return t


class Ctx:
    def __init__(self, est, t=11):
        self.est = est
        self.t = t
        self.study = {"name": "x"}
        self.exposure = "IV magnesium sulfate"
        self.consumed = set()
        self.synthetic = True  # the report found the generator's data (report.inputs.synthetic_source)

    def get(self, key, default=None):
        return self.est.get(key, default)

    def count(self, n):
        return suppress_count(n, self.t)


def test_target_trial_table_and_estimates():
    html = rd.section_design(Ctx({"target_trial": trial()}))
    for component in ("Eligibility", "Treatment strategies", "Assignment", "Time zero and follow-up", "Outcome",
                      "Causal contrast", "Analysis"):
        assert f"<strong>{component}</strong>" in html
    assert "24 h after ICU admission" in html
    assert "\u22126.0 (\u22129.0 to \u22123.0)" in html   # CCW RD in percentage points with its CI
    assert "True value (synthetic data)" in html and "stroke-dasharray" in html
    assert "<svg" in html and "target_trial.clone_censor_weight" not in html


def test_no_truth_no_dashed_line_and_post_baseline_flag():
    html = rd.section_design(Ctx({"target_trial": trial(truth=False, post=("mbp",))}))
    assert "stroke-dasharray" not in html and "True value" not in html
    assert "Post-baseline covariates" in html and "mbp (to 30 h)" in html


def test_small_counts_are_hidden_and_not_derivable():
    counts = {"n_cohort": 1500, "n_excluded_dead_or_out_of_icu_by_time_zero": 7,
              "n_excluded_treated_before_time_zero": 593, "n_eligible": 900, "n_started_within_grace": 4}
    html = rd.section_design(Ctx({"target_trial": trial(counts)}))
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    assert "7" not in cells and "4" not in cells and "593" not in cells   # 593 = 600 - 7 would reveal the 7
    assert "600" in cells and "&lt;11" in html


def test_without_design_the_section_says_so():
    html = rd.section_design(Ctx({}))
    assert "no <code>design:</code> section" in html


def test_a_not_estimable_analysis_is_shown_as_such():
    t = trial(truth=False)
    t["clone_censor_weight"] = {**{k: {"estimate": None, "se": None, "ci95": [None, None]}
                                   for k in ("risk_1", "risk_0", "rd", "rr", "hr")}, "error": "nobody treated"}
    t["warnings"] = ["target trial, clone-censor-weight: not estimable: nobody treated"]
    html = rd.section_design(Ctx({"target_trial": t}))
    assert "not estimable: nobody treated" in html and "<svg" in html
