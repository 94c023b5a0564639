"""Benchmark: clone-censor-weight with bootstrap on a 5,000-stay cohort.

    python tests/benchmarks/bench_tte.py [--stays 5000] [--bootstrap 200] [--threads 2] [--seed 7]

Builds ``--stays`` stays eligible at time zero (24 h after ICU admission, as in
config/studies/sae_mgso4_tte.yaml) from the time-varying synthetic DGP
(:func:`icu_cohort.synth.timevarying.simulate_process`), with the study's 24 continuous and
binary baseline covariates the DGP draws and the hourly severity as the time-varying
covariate, then times :func:`icu_cohort.analysis.tte.analyse` on a
:class:`~icu_cohort.analysis.tte.CCW` (grace 24 h, hourly censoring intervals, horizon 28
days): the point estimate plus ``--bootstrap`` replicates on ``--threads`` threads (target:
under 60 s on 2 cores). Progress on stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import pandas as pd

COVARIATES = ["age", "weight", "heart_rate", "mbp", "resp_rate", "temperature", "spo2", "wbc", "hemoglobin",
              "platelets", "creatinine", "bun", "glucose", "sodium", "potassium", "magnesium", "sofa", "gcs_min",
              "charlson", "male", "mechanical_ventilation", "vasopressor", "rrt", "aki"]


def cohort(n_stays: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from icu_cohort.analysis import tte
    from icu_cohort.synth import timevarying as tv

    n_draw = int(n_stays / 0.55) + 200             # ~59 % of stays are untreated and in the ICU at 24 h
    df = tv.simulate_process(n_draw, seed, hourly_severity=True)
    death = df["T_natural"].to_numpy() * 24
    end = 24 + 28 * 24.0
    stays = pd.DataFrame({"id": df["stay_id"], "time_zero": 24.0, "start": df["S_natural"],
                          "end": np.minimum(death, end), "event": (death <= end).astype(int),
                          "icu_out": np.minimum(df["icu_hours"], death)})
    for c in COVARIATES:
        stays[c] = df[c].astype(float).to_numpy()
    el = stays[tte.eligible_at_time_zero(stays)].iloc[:n_stays]
    if len(el) < n_stays:
        raise SystemExit(f"only {len(el)} eligible stays drawn; raise the draw")
    H = 168
    ids = el["id"].to_numpy()
    D = df.set_index("stay_id").loc[ids, [f"_Dh{h}" for h in range(H)]].to_numpy()
    tvf = pd.DataFrame({"id": np.repeat(ids, H), "hour": np.tile(np.arange(H, dtype=float), ids.size),
                        "d": D.ravel()})
    return el, tvf


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stays", type=int, default=5000)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    from icu_cohort.analysis import tte

    t0 = time.time()
    el, tvf = cohort(a.stays, a.seed)
    t_data = time.time() - t0
    print(f"data: {len(el)} eligible stays, {len(tvf)} time-varying rows in {t_data:.1f} s", file=sys.stderr)
    t1 = time.time()
    c1 = time.process_time()
    design = tte.CCW(el, COVARIATES, 24.0, 28 * 24.0, 1.0, tv=tvf, tv_covariates=["d"])
    t_prep = time.time() - t1
    t2 = time.time()
    point = design.estimate()
    t_point = time.time() - t2
    t3 = time.time()
    res = tte.analyse(design, a.bootstrap, a.seed, a.threads)
    t_boot = time.time() - t3
    wall = time.time() - t1
    cpu = time.process_time() - c1
    print(f"prepare {t_prep:.2f} s, one estimate {t_point:.3f} s, analyse (point + {a.bootstrap} replicates, "
          f"{a.threads} threads) {t_boot:.1f} s; RD {res['rd']['estimate']:+.4f} {res['rd']['ci95']}",
          file=sys.stderr)
    out = {"benchmark": "bench_tte", "stays": int(design.n), "bootstrap": a.bootstrap, "threads": a.threads,
           "seed": a.seed, "n_covariates": len(COVARIATES), "censoring_rows_arm0": int(design._r0["stay"].size),
           "data_s": round(t_data, 2), "prepare_s": round(t_prep, 2), "one_estimate_s": round(t_point, 3),
           "analyse_s": round(t_boot, 2), "ccw_wall_s": round(wall, 2), "ccw_cpu_s": round(cpu, 2),
           "target_s": 60, "within_target": bool(wall < 60), "load_average_1m": round(os.getloadavg()[0], 2),
           "cpu_count": os.cpu_count(), "n_failed_replicates": res["n_failed"],
           "rd": res["rd"], "hr": res["hr"], "point_rd": float(point[2]),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
