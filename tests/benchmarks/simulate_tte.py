"""Monte-Carlo check of the target-trial emulation estimators on the time-varying DGP.

    python tests/benchmarks/simulate_tte.py --replicates 200 [--n-stays 2000] [--bootstrap 200]
        [--seed 1] [--threads 2] [--rows-out FILE]
    python tests/benchmarks/simulate_tte.py --merge ROWS1 ROWS2 ...   # summarise saved rows

(``--rows-out`` keeps one JSON line per replicate, so that runs in separate processes, e.g.
seeds 1 and 101 with 100 replicates each, are summarised together with ``--merge``.)

The sibling of simulate_coverage.py for :mod:`icu_cohort.analysis.tte`. Each replicate draws
``--n-stays`` eligible-type stays from the time-varying DGP
(:func:`icu_cohort.synth.timevarying.simulate_process`, default parameters, hourly severity kept)
and emulates the target trial of ``config/studies/sae_mgso4_tte.yaml``: time zero = 24 h after
ICU admission; eligible = alive, in the ICU and untreated at time zero; strategies "start within
24 h of time zero" vs "no start within 24 h"; death within 28 days of time zero. Covariates: the
DGP's baseline outcome linear predictor ``_eta``; time-varying: the severity change D(h),
known hourly (what a perfectly measured hourly severity score would give the censoring
models); see COVARIATES.

Estimators and their own true estimands (computed from the replicate's potential outcomes,
common random numbers):

* clone-censor-weight (hourly censoring intervals; 95% percentile bootstrap CI): the RD of
  ``start_within_48h`` vs ``no_start_within_48h`` among the eligible stays, death by day 29 after
  admission (:func:`timevarying.target_trial_truth`);
* landmark at 24 h after time zero (stays also alive and in the ICU at 48 h; exposure = first
  dose in [24 h, 48 h); IPTW on the covariates and D, Mg at 48 h; follow-up from 48 h): the RD
  among those stays of "start within 48 h" vs "untreated from 48 h" (the natural course until
  48 h, treatment withdrawn there, natural start after), deaths in (48 h, day 29];
* naive "ever treated during the stay" vs never, all stays, follow-up from admission, IPTW on
  the baseline covariates, 28-day risk: compared with start at admission vs never and with the
  trial's contrast (both are reported; it estimates neither).

Reported (stderr: a table; last stdout line: one JSON object): per estimator ``bias`` = mean of
(estimate - replicate truth) with its Monte-Carlo SE (``bias_mc_se``), ``within_1_mc_se``,
``empirical_sd``, ``mean_bootstrap_se``, ``coverage_95`` (share of replicates whose percentile
CI holds the replicate's truth, with its MC SE) and the same against the mean truth.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time

import numpy as np
import pandas as pd

T0 = 24.0           # time zero, hours after ICU admission
GRACE = 24.0        # grace period, hours
HORIZON = 28 * 24.0  # follow-up from time zero, hours
#: Weight models use the confounders only: the baseline outcome predictor and the hourly severity
#: change. The treatment-only predictors (x'b, magnesium) are left out: they are not confounders
#: (they do not act on death) and would only make the weights more variable (near-positivity:
#: with them the landmark's treated effective sample size falls from ~2,800 to ~300 of 3,700).
COVARIATES = ["eta"]
TV = ["d"]


def frames(df: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(stays, tv) in the layout of icu_cohort.analysis.tte from a simulate_process frame."""
    from icu_cohort.synth import timevarying as tv

    lp_t, _b_mg, mg0 = tv.treatment_terms({c: df[c].to_numpy() for c in df.columns}, params)
    death_h = df["T_natural"].to_numpy() * 24.0
    end_of_follow_up = T0 + HORIZON
    stays = pd.DataFrame({
        "id": df["stay_id"].to_numpy(), "time_zero": T0, "start": df["S_natural"].to_numpy(),
        "end": np.minimum(death_h, end_of_follow_up), "event": (death_h <= end_of_follow_up).astype(int),
        "icu_out": np.minimum(df["icu_hours"].to_numpy(), death_h),
        "eta": df["_eta"].to_numpy(), "lp_treat": lp_t, "mg0": mg0})
    H = int(params["severity_process"]["horizon_hours"])
    mg_sev = float(params["covariates"]["labs"]["magnesium"]["severity"])
    D = df[[f"_Dh{h}" for h in range(H)]].to_numpy(float)
    n = len(df)
    tvf = pd.DataFrame({"id": np.repeat(df["stay_id"].to_numpy(), H), "hour": np.tile(np.arange(H, dtype=float), n),
                        "d": D.ravel()})
    tvf["mg"] = np.repeat(mg0, H) * np.exp(mg_sev * tvf["d"].to_numpy())
    return stays, tvf


def truths(df: pd.DataFrame) -> dict:
    from icu_cohort.synth import timevarying as tv

    f = df["S_natural"].to_numpy()
    death_h = df["T_natural"].to_numpy() * 24.0
    in_icu = (df["icu_hours"].to_numpy() > T0) & (death_h > T0)
    ccw = tv.target_trial_truth(f, in_icu, df["T_start_within_48h"].to_numpy(), df["T_no_start_within_48h"].to_numpy(),
                                T0, HORIZON / 24.0)
    Lm = T0 + GRACE
    pop = in_icu & (np.isnan(f) | (f >= T0)) & (df["icu_hours"].to_numpy() > Lm) & (death_h > Lm)
    lm = tv.contrast(df["T_start_within_48h"].to_numpy()[pop] - Lm / 24, df["T_untreated_from_48h"].to_numpy()[pop]
                     - Lm / 24, "start within 48 h", "untreated from 48 h", "landmark population",
                     horizon=(T0 + HORIZON - Lm) / 24.0)
    whole = tv.contrast(df["T_always"].to_numpy(), df["T_never"].to_numpy(), "start at admission", "never",
                        "all stays", horizon=28.0)
    return {"ccw": ccw, "landmark": lm, "whole": whole}


def one_replicate(n_stays: int, seed: int, bootstrap: int, threads: int) -> dict:
    from icu_cohort.analysis import tte
    from icu_cohort.synth import timevarying as tv
    from icu_cohort.synth.params import load_params

    P = load_params(None, {}, dgp="timevarying")
    df = tv.simulate_process(n_stays, seed, extra_strategies=(tv.Strategy("untreated_from_48h", "untreated_from", 48),),
                             hourly_severity=True)
    stays, tvf = frames(df, P)
    truth = truths(df)
    el = stays[tte.eligible_at_time_zero(stays)]
    ccw = tte.CCW(el, COVARIATES, GRACE, HORIZON, interval_hours=1.0, tv=tvf, tv_covariates=TV)
    rc = tte.analyse(ccw, bootstrap, seed, threads)
    lmk = tte.Landmark(stays, COVARIATES, GRACE, HORIZON, tv=tvf, tv_covariates=TV)
    rl = tte.analyse(lmk, bootstrap, seed, threads)
    nv = tte.Naive(stays.assign(time_zero=0.0), COVARIATES, 28 * 24.0).estimate()
    return dict(
        n_stays=n_stays, seed=seed, n_eligible=ccw.n, n_landmark=lmk.n,
        ccw_rd=rc["rd"]["estimate"], ccw_se=rc["rd"]["se"], ccw_lo=rc["rd"]["ci95"][0], ccw_hi=rc["rd"]["ci95"][1],
        ccw_hr=rc["hr"]["estimate"], ccw_failed=rc["n_failed"], true_ccw_rd=truth["ccw"]["risk_difference"],
        true_ccw_hr=truth["ccw"]["hazard_ratio"],
        lm_rd=rl["rd"]["estimate"], lm_se=rl["rd"]["se"], lm_lo=rl["rd"]["ci95"][0], lm_hi=rl["rd"]["ci95"][1],
        lm_hr=rl["hr"]["estimate"], true_lm_rd=truth["landmark"]["risk_difference"],
        naive_rd=float(nv[2]), naive_hr=float(nv[4]), true_whole_rd=truth["whole"]["risk_difference"],
        true_whole_hr=truth["whole"]["hazard_ratio"])


def block(rows: list[dict], est: str, truth: str, lo: str | None = None, hi: str | None = None,
          se: str | None = None) -> dict:
    e = np.array([r[est] for r in rows], float)
    t = np.array([r[truth] for r in rows], float)
    R = e.size
    diff = e - t
    out = {"mean_estimate": float(e.mean()), "mean_truth": float(t.mean()), "bias": float(diff.mean()),
           "bias_mc_se": float(diff.std(ddof=1) / math.sqrt(R)) if R > 1 else float("nan"),
           "bias_vs_mean_truth": float(e.mean() - t.mean()),
           "empirical_sd": float(e.std(ddof=1)) if R > 1 else float("nan")}
    out["within_1_mc_se"] = bool(abs(out["bias"]) <= out["bias_mc_se"])
    if lo:
        L = np.array([r[lo] for r in rows], float)
        U = np.array([r[hi] for r in rows], float)
        cov = float(np.mean((L <= t) & (t <= U)))
        out.update({"coverage_95": cov, "coverage_mc_se": math.sqrt(cov * (1 - cov) / R),
                    "coverage_95_vs_mean_truth": float(np.mean((L <= t.mean()) & (t.mean() <= U))),
                    "mean_bootstrap_se": float(np.mean([r[se] for r in rows]))})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--n-stays", type=int, default=2000)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1, help="replicate r uses seed + r")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows-out", default=None, help="append one JSON line per replicate to this file")
    ap.add_argument("--merge", nargs="+", default=None, help="summarise rows files instead of simulating")
    a = ap.parse_args(argv)
    t_start = time.time()
    rows = []
    if a.merge:
        for path in a.merge:
            with open(path) as fh:
                rows += [json.loads(line) for line in fh if line.strip()]
        a.replicates = len(rows)
    for r in range(0 if a.merge else a.replicates):
        rows.append(one_replicate(a.n_stays, a.seed + r, a.bootstrap, a.threads))
        if a.rows_out:
            with open(a.rows_out, "a") as fh:
                fh.write(json.dumps(rows[-1]) + "\n")
        x = rows[-1]
        print(f"[{r + 1}/{a.replicates}] {time.time() - t_start:7.1f}s  ccw rd {x['ccw_rd']:+.4f} "
              f"[{x['ccw_lo']:+.4f}, {x['ccw_hi']:+.4f}] truth {x['true_ccw_rd']:+.4f} | landmark rd {x['lm_rd']:+.4f} "
              f"truth {x['true_lm_rd']:+.4f} | naive rd {x['naive_rd']:+.4f}", file=sys.stderr, flush=True)
    out = {
        "benchmark": "simulate_tte", "replicates": a.replicates, "n_stays": a.n_stays, "bootstrap": a.bootstrap,
        "seed": None if a.merge else a.seed, "threads": None if a.merge else a.threads,
        "merged_from": a.merge or None,
        "n_stays_per_replicate": sorted({int(r.get("n_stays", a.n_stays)) for r in rows}) if a.merge else a.n_stays,
        "design": {"time_zero_hours": T0, "grace_hours": GRACE, "horizon_hours": HORIZON},
        "mean_n_eligible": float(np.mean([r["n_eligible"] for r in rows])),
        "mean_n_landmark": float(np.mean([r["n_landmark"] for r in rows])),
        "ccw_rd": block(rows, "ccw_rd", "true_ccw_rd", "ccw_lo", "ccw_hi", "ccw_se"),
        "ccw_log_hr": {"mean_estimate": float(np.mean(np.log([r["ccw_hr"] for r in rows]))),
                       "mean_truth": float(np.mean(np.log([r["true_ccw_hr"] for r in rows])))},
        "ccw_failed_replicates": int(sum(r["ccw_failed"] for r in rows)),
        "landmark_rd": block(rows, "lm_rd", "true_lm_rd", "lm_lo", "lm_hi", "lm_se"),
        "naive_rd_vs_start_at_admission_vs_never": block(rows, "naive_rd", "true_whole_rd"),
        "naive_rd_vs_trial_contrast": block(rows, "naive_rd", "true_ccw_rd"),
        "naive_log_hr": {"mean_estimate": float(np.mean(np.log([r["naive_hr"] for r in rows]))),
                         "mean_truth_start_at_admission_vs_never": float(np.mean(np.log([r["true_whole_hr"]
                                                                                          for r in rows])))},
        "wall_s": round(time.time() - t_start, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    for key in ("ccw_rd", "landmark_rd", "naive_rd_vs_start_at_admission_vs_never", "naive_rd_vs_trial_contrast"):
        b = out[key]
        print(f"{key:42s} bias {b['bias']:+.5f} (MC SE {b['bias_mc_se']:.5f})"
              + (f"  coverage {b['coverage_95']:.3f} (+-{b['coverage_mc_se']:.3f})" if "coverage_95" in b else ""),
              file=sys.stderr)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
