"""Monte-Carlo check of the matched analysis: bias, standard errors and 95% CI coverage.

    python tests/benchmarks/simulate_coverage.py --replicates 200 [--n-stays 2000] [--seed 1]

Each replicate draws ``--n-stays`` stays from the project's data-generating process
(:func:`icu_cohort.synth.dgp.simulate_stays`, default parameters: conditional log HR log(0.6),
~90% treated, confounding through observed covariates), then runs the study's default
analysis steps: logistic propensity score on the study covariates, 1:1 nearest-neighbour
matching without replacement (smaller group focal, caliper 0.25 SD of the score), Cox model
in the matched sample with robust variance clustered on the pair, and the matched 28-day risk
difference with its cluster-robust CI. The truth of each replicate is that replicate's matched
population's: the risk difference from both potential outcomes of the matched stays and the
marginal HR of that population duplicated under both arms (censored at day 28).

Reported (stderr: a readable table; last stdout line: one JSON object):

* ``bias``: mean of (estimate - truth) (log HR, and risk difference);
* ``empirical_se``: SD over replicates of (estimate - truth) -- the spread the CI must cover --
  and ``sd_estimate``: SD of the estimate itself;
* ``mean_model_se``: mean of the reported standard errors (robust Cox SE; RD sandwich SE);
* ``coverage_95``: share of replicates whose 95% CI contains that replicate's truth, with its
  Monte-Carlo SE; ``coverage_95_vs_mean_truth``: the same against the mean truth over all
  replicates (a stand-in for the population-level effect, which the robust SE targets);
* the same bias for the naive unmatched comparison, to show the confounding being removed.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time

import numpy as np

STUDY_COVARIATES = (
    [(c, "continuous") for c in (
        "age", "weight", "heart_rate", "mbp", "resp_rate", "temperature", "spo2", "wbc",
        "hemoglobin", "platelets", "creatinine", "bun", "glucose", "sodium", "potassium",
        "calcium", "magnesium", "lactate", "bilirubin", "inr", "sofa", "gcs_min", "charlson")]
    + [(c, "binary") for c in (
        "male", "mechanical_ventilation", "vasopressor", "rrt", "copd", "aki", "heart_failure",
        "diabetes", "hypertension", "ckd", "liver_disease", "malignancy")]
    + [("race", "categorical")])


def one_replicate(n_stays: int, seed: int) -> dict:
    from icu_cohort.analysis import cox as coxm
    from icu_cohort.analysis import matching as mt
    from icu_cohort.analysis import propensity as pr
    from icu_cohort.analysis import survival as sv
    from icu_cohort.analysis.truth import true_effects
    from icu_cohort.synth.dgp import simulate_stays

    covs = [{"name": n, "type": t} for n, t in STUDY_COVARIATES]
    df = simulate_stays(n_stays, seed)
    design = pr.build_design(df, covs)
    fit = pr.fit_propensity(design.X, df["treated"])
    res = mt.match(fit.ps, df["treated"].to_numpy(), estimand="auto", ratio=1, caliper_sd=0.25,
                   scale="ps", seed=seed)
    mf = mt.matched_frame(res, df["stay_id"].to_numpy(), df["treated"].to_numpy(), fit.ps)
    m = df.iloc[mf["_row"].to_numpy()].assign(pair_id=mf["pair_id"].to_numpy())
    cph = coxm.fit_cox(m[["time_days", "death_28d", "treated", "pair_id"]], "time_days",
                       "death_28d", cluster="pair_id")
    hr = coxm.term_effect(cph)
    rd = sv.risk_difference(m["death_28d"], m["treated"], cluster=m["pair_id"])
    truth = true_effects(m["death_day_if_treated"], m["death_day_if_untreated"], 28.0)
    naive_rd = sv.risk_difference(df["death_28d"], df["treated"])
    naive_hr = coxm.term_effect(coxm.fit_cox(df[["time_days", "death_28d", "treated"]],
                                             "time_days", "death_28d"))
    whole = true_effects(df["death_day_if_treated"], df["death_day_if_untreated"], 28.0)
    return dict(
        n_pairs=res.n_matched_focal, n_focal=len(res.focal_index), events=int(m["death_28d"].sum()),
        log_hr=hr["log_hr"], se_log_hr=hr["se"], lo=math.log(hr["ci95"][0]),
        hi=math.log(hr["ci95"][1]), true_log_hr=truth["log_hr"],
        rd=rd["rd"], se_rd=rd["se"], rd_lo=rd["ci95"][0], rd_hi=rd["ci95"][1],
        true_rd=truth["rd"], naive_log_hr=naive_hr["log_hr"], naive_rd=naive_rd["rd"],
        cohort_true_log_hr=whole["log_hr"], cohort_true_rd=whole["rd"])


def summarise(rows: list[dict]) -> dict:
    a = {k: np.array([r[k] for r in rows], float) for k in rows[0]}
    R = len(rows)

    def block(est, se, lo, hi, truth):
        err = est - truth
        cov = float(np.mean((lo <= truth) & (truth <= hi)))
        pop = float(truth.mean())
        cov_pop = float(np.mean((lo <= pop) & (pop <= hi)))
        return dict(coverage_95_vs_mean_truth=cov_pop,bias=float(err.mean()), bias_mc_se=float(err.std(ddof=1) / math.sqrt(R)),
                    empirical_se=float(err.std(ddof=1)), sd_estimate=float(est.std(ddof=1)),
                    mean_model_se=float(se.mean()), coverage_95=cov,
                    coverage_mc_se=float(math.sqrt(cov * (1 - cov) / R)),
                    mean_truth=float(truth.mean()), mean_estimate=float(est.mean()))

    return dict(
        matched_log_hr=block(a["log_hr"], a["se_log_hr"], a["lo"], a["hi"], a["true_log_hr"]),
        matched_rd=block(a["rd"], a["se_rd"], a["rd_lo"], a["rd_hi"], a["true_rd"]),
        naive=dict(bias_log_hr_vs_cohort_truth=float(np.mean(a["naive_log_hr"]
                                                             - a["cohort_true_log_hr"])),
                   bias_rd_vs_cohort_truth=float(np.mean(a["naive_rd"] - a["cohort_true_rd"]))),
        mean_n_pairs=float(a["n_pairs"].mean()), mean_n_focal=float(a["n_focal"].mean()),
        mean_events_matched=float(a["events"].mean()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--n-stays", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1, help="replicate r uses seed + r")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for r in range(a.replicates):
        rows.append(one_replicate(a.n_stays, a.seed + r))
        if (r + 1) % 10 == 0 or r + 1 == a.replicates:
            print(f"[simulate_coverage] {r + 1}/{a.replicates} replicates, "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    s = summarise(rows)
    for name in ("matched_log_hr", "matched_rd"):
        b = s[name]
        print(f"[simulate_coverage] {name}: bias {b['bias']:+.4f} (MC SE {b['bias_mc_se']:.4f}), "
              f"empirical SE {b['empirical_se']:.4f} vs mean model SE {b['mean_model_se']:.4f}, "
              f"95% CI coverage {b['coverage_95']:.3f} (MC SE {b['coverage_mc_se']:.3f})",
              file=sys.stderr)
    print(f"[simulate_coverage] naive (unmatched) bias vs the cohort's truth: log HR "
          f"{s['naive']['bias_log_hr_vs_cohort_truth']:+.3f}, RD "
          f"{s['naive']['bias_rd_vs_cohort_truth']:+.4f}", file=sys.stderr)
    out = dict(replicates=a.replicates, n_stays=a.n_stays, seed=a.seed, **s,
               seconds=round(time.perf_counter() - t0, 1),
               peak_memory_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
