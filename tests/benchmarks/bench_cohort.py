"""Benchmark: the cohort stage (all SQL concepts, eligibility, exposure, outcome, covariates)
on a synthetic MIMIC-IV of N patients.

    python tests/benchmarks/bench_cohort.py --patients 100000 [--seed 1] [--threads 2]
        [--memory-limit 4GB] [--temp-directory DIR] [--workdir DIR] [--study sae_mgso4]

Preparation, in a child process so that its memory does not count: the synthetic data set
(``icu_cohort.synth.generate``) and its Parquet copy (``icu_cohort.loader.convert_tables``),
both kept in ``--workdir`` and reused when already there. Timed, in this process: only
``icu_cohort.cohort.build_cohort`` + ``write_cohort`` on a connection from
``icu_cohort.loader.connect`` with the given DuckDB threads / memory limit / temp directory.
Progress goes to stderr; the last stdout line is one JSON object: patients, icu_stays,
cohort_size, seconds, peak_memory_mb (peak resident memory of this process, which did nothing
heavier than the cohort stage), and a few more figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def say(msg: str) -> None:
    print(f"[bench_cohort] {msg}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def prepare(mimic_dir: Path, parquet_dir: Path, patients: int, seed: int, threads: int, memory_limit: str,
            temp_directory: str | None) -> None:
    """Generate the synthetic set and convert the tables the cohort reads (skipped when present)."""
    from icu_cohort import cohort, loader

    keys = cohort.required_tables()
    if not (mimic_dir / "icu" / "icustays.csv.gz").is_file():
        try:
            from icu_cohort.synth import generate
        except ImportError as exc:
            raise SystemExit(f"icu_cohort.synth.generate is not available yet: {exc}") from exc
        t0 = time.perf_counter()
        say(f"generating {patients:,} synthetic patients (seed {seed}) in {mimic_dir} ...")
        generate(mimic_dir, patients, seed)
        say(f"  generated in {time.perf_counter() - t0:.1f} s")
    if not all(loader.parquet_path(parquet_dir, k).is_file() for k in keys):
        t0 = time.perf_counter()
        say(f"converting {len(keys)} tables to Parquet in {parquet_dir} ...")
        loader.convert_tables(mimic_dir, parquet_dir, keys, threads=threads, memory_limit=memory_limit,
                              temp_directory=temp_directory)
        say(f"  converted in {time.perf_counter() - t0:.1f} s")


def compare_with_ground_truth(mimic_dir: Path, df, attrition) -> dict:
    """Compare the cohort with the generator's stays eligible by construction (when present)."""
    import pandas as pd

    path = mimic_dir / "ground_truth_stays.csv"
    if not path.is_file():
        return {}
    gt = pd.read_csv(path)
    eligible = set(gt.loc[gt["eligible"] == 1, "stay_id"])
    got = set(df["stay_id"])
    truth_json = mimic_dir / "ground_truth.json"
    if truth_json.is_file():
        steps = json.loads(truth_json.read_text()).get("attrition", [])
        for ours, theirs in zip(attrition.itertuples(index=False), steps):
            flag = "" if ours.n_remaining == theirs["n_remaining"] else "   <-- differs"
            say(f"  step {ours.step}: SQL {ours.n_remaining:,} vs generator {theirs['n_remaining']:,}{flag}")
    treated_gt = dict(zip(gt["stay_id"], gt["treated"]))
    treated_agree = all(int(t) == int(treated_gt.get(s, -1)) for s, t in zip(df["stay_id"], df["treated"]))
    say(f"ground truth: {len(eligible):,} eligible by construction; cohort {len(got):,}; "
        f"{len(got - eligible):,} extra, {len(eligible - got):,} missing; treatment agrees: {treated_agree}")
    return {"ground_truth_eligible": len(eligible), "cohort_equals_ground_truth": got == eligible,
            "treated_equals_ground_truth": treated_agree}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--temp-directory", default=None)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where the synthetic data and its Parquet copy are kept (default: a temporary folder)")
    ap.add_argument("--study", default="sae_mgso4")
    ap.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    tmp = None
    if a.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_cohort_")
        a.workdir = Path(tmp.name)
    mimic_dir = a.workdir / f"synthetic-p{a.patients}-s{a.seed}"
    parquet_dir = a.workdir / f"parquet-p{a.patients}-s{a.seed}"
    temp_directory = a.temp_directory or str(a.workdir / "duckdb_tmp")

    if a.prepare_only:
        prepare(mimic_dir, parquet_dir, a.patients, a.seed, a.threads, a.memory_limit, temp_directory)
        return 0

    t0 = time.perf_counter()
    cmd = [sys.executable, __file__, "--prepare-only", "--patients", str(a.patients), "--seed", str(a.seed),
           "--threads", str(a.threads), "--memory-limit", a.memory_limit, "--workdir", str(a.workdir),
           "--temp-directory", temp_directory]
    subprocess.run(cmd, check=True)
    prepare_seconds = time.perf_counter() - t0

    from icu_cohort import cohort, loader
    from icu_cohort.config import load_study

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[bench_cohort]   %(message)s")
    study = load_study(a.study, REPO / "config" / "studies")
    keys = cohort.required_tables(study)
    con = loader.connect(parquet_dir, a.threads, a.memory_limit, temp_directory, table_keys=keys)
    icu_stays = con.execute("SELECT count(*) FROM mimiciv_icu.icustays").fetchall()[0][0]
    say(f"{icu_stays:,} ICU stays; building the {a.study} cohort with {a.threads} thread(s), "
        f"memory limit {a.memory_limit} ...")

    t1 = time.perf_counter()
    df, attrition = cohort.build_cohort(con, study, REPO / "sql")
    cohort.write_cohort(df, attrition, a.workdir / f"results-{a.study}")
    seconds = time.perf_counter() - t1
    say(f"cohort: {len(df):,} stays ({int(df['treated'].sum()):,} treated) in {seconds:.1f} s")
    for row in attrition.itertuples(index=False):
        say(f"  step {row.step}: {row.n_remaining:,} remaining, {row.n_excluded:,} excluded ({row.description})")

    truth = compare_with_ground_truth(mimic_dir, df, attrition)

    out = {
        "patients": a.patients,
        "icu_stays": int(icu_stays),
        "cohort_size": int(len(df)),
        "seconds": round(seconds, 2),
        "peak_memory_mb": round(peak_rss_mb(), 1),
        "n_treated": int(df["treated"].sum()),
        "study": a.study,
        "threads": a.threads,
        "memory_limit": a.memory_limit,
        "prepare_seconds": round(prepare_seconds, 1),
        **truth,
    }
    con.close()
    if tmp is not None:
        tmp.cleanup()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
