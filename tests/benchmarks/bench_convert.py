"""Benchmark: converting a synthetic MIMIC-IV download (csv.gz) to Parquet (the load stage).

    python tests/benchmarks/bench_convert.py --patients 364000 [--seed 1] [--threads 2]
        [--parallel 2] [--decompressor auto|arrow|isal|duckdb] [--memory-limit 4GB]
        [--cache DIR] [--out DIR] [--tables icu/chartevents,hosp/patients]

The synthetic set is generated with ``icu-cohort synth --patients N --seed S`` into
``--cache`` (default ``../bench-data`` beside the repository, i.e. outside it) as
``p<N>`` (seed 1) or ``p<N>-s<S>``, and reused when already there. Timed: only
``icu_cohort.loader.convert_tables`` over every table of ``icu_cohort.mimic_tables.TABLES``
(or ``--tables``), writing into ``--out`` (default: a temporary folder, removed).

Progress goes to stderr; the last stdout line is one JSON object: patients, seconds (the
whole conversion, wall clock), peak_memory_mb (peak resident memory of this process, which
does nothing but the conversion), cpu_seconds, and per table rows, seconds and rows_per_s.
Target (issue 8): --patients 364000 in <= 150 s on 2 cores, peak <= 3072 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def say(msg: str) -> None:
    print(f"[bench_convert] {msg}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def ensure_synthetic(folder: Path, patients: int, seed: int) -> None:
    if (folder / "icu" / "chartevents.csv.gz").is_file():
        say(f"reusing {folder}")
        return
    say(f"generating {patients:,} synthetic patients (seed {seed}) in {folder} (not timed) ...")
    env = dict(os.environ, PYTHONPATH=str(REPO / "workflow" / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-m", "icu_cohort.cli", "synth", "--patients", str(patients), "--seed", str(seed),
                    "--out", str(folder)], check=True, env=env, stdout=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=364_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads per table")
    ap.add_argument("--parallel", type=int, default=2, help="tables converted at a time")
    ap.add_argument("--decompressor", default="auto")
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--cache", default=str(REPO.parent / "bench-data"))
    ap.add_argument("--out", default=None, help="Parquet folder (default: a temporary folder, removed)")
    ap.add_argument("--tables", default=None, help="comma-separated table keys (default: all)")
    a = ap.parse_args(argv)

    sys.path.insert(0, str(REPO / "workflow" / "src"))
    from icu_cohort import loader
    from icu_cohort.mimic_tables import TABLES

    name = f"p{a.patients}" if a.seed == 1 else f"p{a.patients}-s{a.seed}"
    mimic_dir = Path(a.cache) / name
    ensure_synthetic(mimic_dir, a.patients, a.seed)
    keys = a.tables.split(",") if a.tables else list(TABLES)
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="bench_convert_"))
    timings: dict[str, float] = {}
    say(f"converting {len(keys)} tables ({a.parallel} at a time, {a.threads} DuckDB threads each, "
        f"decompressor {a.decompressor}) ...")
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    try:
        rows = loader.convert_tables(mimic_dir, out, keys, threads=a.threads, memory_limit=a.memory_limit,
                                     parallel=a.parallel, decompressor=a.decompressor, timings=timings)
        seconds = time.perf_counter() - t0
        parquet_mb = sum(p.stat().st_size for p in out.rglob("*.parquet")) / 2**20
        reports = loader.parquet_manifest(out, keys)
    finally:
        if a.out is None:
            shutil.rmtree(out, ignore_errors=True)
    per_table = {}
    for key in sorted(rows):
        s = timings.get(key, float("nan"))
        per_table[key] = {"rows": rows[key], "seconds": round(s, 2), "rows_per_s": round(rows[key] / s) if s else None}
        say(f"  {key:28s} {rows[key]:>12,} rows {s:8.1f} s {rows[key] / s:>12,.0f} rows/s")
    decomp = sorted({r.get("decompressor") for r in reports["tables"].values()} - {None})
    result = {
        "patients": a.patients,
        "seconds": round(seconds, 2),
        "peak_memory_mb": round(peak_rss_mb(), 1),
        "cpu_seconds": round(time.process_time() - cpu0, 2),
        "threads": a.threads,
        "parallel": a.parallel,
        "decompressor": decomp,
        "parquet_mb": round(parquet_mb, 1),
        "csv_gz_mb": round(sum((mimic_dir / TABLES[k].relpath).stat().st_size for k in keys) / 2**20, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "tables": per_table,
        "warnings": reports["warnings"],
        "targets": {"seconds": 150, "peak_memory_mb": 3072},
    }
    say(f"total {seconds:.1f} s, peak {result['peak_memory_mb']:.0f} MB")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
