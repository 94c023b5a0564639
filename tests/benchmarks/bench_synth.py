"""Benchmark of the synthetic MIMIC-IV generator (``icu-cohort synth``).

    python tests/benchmarks/bench_synth.py --patients 100000 [--dgp timevarying]

Generates the set in this process (progress on stderr), then prints, as the LAST line of stdout,
one JSON object: patients, icu_stays, chartevents_rows, seconds, peak_memory_mb (maximum
resident set size of this process -- all its threads -- and of any child process), plus
admissions, eligible stays, rows per table, output size and CPU seconds.
Targets on 2 cores: --patients 100000 in <= 120 s and <= 4096 MB; 364,000 patients (MIMIC-IV v3.1
size) in <= 480 s. ``--dgp`` chooses the data-generating process (default baseline).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _peak_mb() -> float:
    """Peak RSS in MB of this process (threads included) and of waited-for children (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = 1024.0 if sys.platform != "darwin" else 1024.0 * 1024.0
    return max(own, kids) / scale


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chart-rows-per-stay", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dgp", default="baseline", help="baseline (default) or timevarying")
    ap.add_argument("--out", default=None, help="output folder (default: a temporary folder, removed)")
    args = ap.parse_args(argv)

    from icu_cohort.synth import generate

    tmp = None
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_synth_")) / "mimic"
    if args.out is None:
        tmp = out.parent
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    try:
        summary = generate(out, args.patients, args.seed, threads=args.threads, dgp=args.dgp,
                           chart_rows_per_stay=args.chart_rows_per_stay,
                           progress=lambda msg: print(msg, file=sys.stderr, flush=True))
        seconds = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    rows = summary["rows"]
    result = {
        "dgp": args.dgp,
        "patients": summary["patients"],
        "icu_stays": summary["icu_stays"],
        "chartevents_rows": rows["icu/chartevents"],
        "seconds": round(seconds, 2),
        "peak_memory_mb": round(_peak_mb(), 1),
        "admissions": summary["admissions"],
        "eligible_stays": summary["eligible_stays"],
        "cpu_seconds": round(time.process_time() - cpu0, 2),
        "output_mb": round(size_mb, 1),
        "rows": rows,
        "targets": {"seconds": 120 if args.patients <= 100_000 else 480, "peak_memory_mb": 4096},
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
