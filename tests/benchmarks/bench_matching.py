"""Benchmark: nearest-neighbour propensity-score matching of N stays.

    python tests/benchmarks/bench_matching.py --n 1000000 [--treated-share 0.9] [--ratio 1]

Draws N scores (logistic in a normal covariate, treated share as the study's ~0.9 by
default), then times ``icu_cohort.analysis.matching.match`` with the study defaults
(estimand auto = the smaller group focal, 1:1 without replacement, caliper 0.25 SD of the
score, MatchIt's default order). Progress goes to stderr; the last stdout line is one JSON
object: n, n_focal, n_pairs, seconds (matching only), peak_memory_mb (process peak RSS).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--treated-share", type=float, default=0.9)
    ap.add_argument("--ratio", type=int, default=1)
    ap.add_argument("--caliper-sd", type=float, default=0.25)
    ap.add_argument("--scale", choices=["ps", "logit"], default="ps")
    ap.add_argument("--m-order", choices=["largest", "smallest", "random", "data"], default=None)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)

    from icu_cohort.analysis import matching as mt

    rng = np.random.default_rng(a.seed)
    x = rng.normal(size=a.n)
    base = np.log(a.treated_share / (1 - a.treated_share))
    ps = 1 / (1 + np.exp(-(base + 1.0 * x)))
    treated = (rng.random(a.n) < ps).astype(np.int8)
    print(f"[bench_matching] {a.n:,} stays, {int(treated.sum()):,} treated; matching...",
          file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    res = mt.match(ps, treated, estimand="auto", ratio=a.ratio, caliper_sd=a.caliper_sd,
                   scale=a.scale, m_order=a.m_order, seed=a.seed,
                   progress=lambda done, total: print(
                       f"[bench_matching]   {done:,}/{total:,} focal picks",
                       file=sys.stderr, flush=True))
    seconds = time.perf_counter() - t0
    out = dict(n=a.n, n_treated=int(treated.sum()), n_focal=int(len(res.focal_index)),
               n_pairs=res.n_matched_focal, n_focal_unmatched=res.n_focal_unmatched,
               estimand=res.estimand, m_order=res.m_order, ratio=a.ratio,
               caliper_width=res.caliper, seconds=round(seconds, 3),
               peak_memory_mb=round(peak_rss_mb(), 1))
    print(f"[bench_matching] {out['n_pairs']:,} matched sets of {out['n_focal']:,} focal stays "
          f"in {seconds:.2f} s", file=sys.stderr)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
