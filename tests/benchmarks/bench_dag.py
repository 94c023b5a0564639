"""Benchmark: the whole Snakemake DAG, from a MIMIC-IV folder of csv.gz files to every study's
report, as a user with that download runs it, phase by phase.

    python tests/benchmarks/bench_dag.py --patients 364000 [--seed 1] [--cores 2]
        [--workdir DIR] [--mimic-dir DIR] [--chart-rows-per-stay 4000] [--no-checksums]

A synthetic MIMIC-IV of N patients is generated once into ``--workdir`` (or an existing folder
is given with ``--mimic-dir``; not timed). Then, in a fresh run folder, ``snakemake --cores C
--config mimic_dir=...`` runs in four timed phases (wall clock, each phase's jobs in parallel
as Snakemake schedules them): the check and the conversion to Parquet (``--until
mimic_to_parquet``), the concepts (``--until concepts``), every study's cohort (``--until
cohort``), then analysis and reports (the default target). Each job's seconds and peak
memory come from Snakemake's own benchmark files.

Progress goes to stderr; the last stdout line is one JSON object: icu_stays, csv_gz_mb,
phases {conversion, concepts, cohorts, analysis_and_reports: seconds}, total_seconds,
jobs {rule: {seconds, max_rss_mb}} (conversion jobs summed), max_rss_mb, disk_mb {parquet,
concepts, results}, targets {key: {value, limit, met}} (issue 8's targets, :data:`TARGETS`).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


#: Issue 8's targets on this set (2 cores): (key, what, limit, unit).
TARGETS = (
    ("conversion_seconds", "conversion to Parquet", 150.0, "s"),
    ("concepts_plus_two_cohorts_seconds", "concepts once plus the two slowest cohort stages", 90.0, "s"),
    ("extra_study_share", "the slowest extra study's cohort stage over the concepts stage", 0.25, ""),
    ("peak_memory_mb", "peak memory of any job", 3072.0, "MB"),
    ("dag_seconds", "whole DAG, csv.gz to every report", 300.0, "s"),
)


def target_figures(phases: dict, jobs: dict, total: float) -> dict:
    """Each of :data:`TARGETS`: ``{key: {"value", "limit", "met"}}``, from the phases' wall
    times and the jobs' Snakemake benchmarks (the cohort figures use the two slowest cohort
    jobs, whatever the studies are)."""
    cohorts = sorted((j["seconds"] for r, j in jobs.items() if r.startswith("cohort_")), reverse=True)
    concepts = jobs.get("concepts", {}).get("seconds")
    values = {
        "conversion_seconds": phases.get("conversion"),
        "concepts_plus_two_cohorts_seconds": (round(concepts + sum(cohorts[:2]), 1)
                                              if concepts is not None and len(cohorts) >= 2 else None),
        "extra_study_share": round(cohorts[0] / concepts, 3) if concepts and cohorts else None,
        "peak_memory_mb": max((j["max_rss_mb"] for j in jobs.values()), default=None),
        "dag_seconds": total,
    }
    return {key: {"value": values[key], "limit": limit, "met": values[key] is not None and values[key] <= limit}
            for key, _, limit, _ in TARGETS}


def say(msg: str) -> None:
    print(f"[bench_dag] {msg}", file=sys.stderr, flush=True)


def folder_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20, 1)


def benchmarks(folder: Path) -> dict:
    """Snakemake benchmark TSVs: ``{file stem: (seconds, max_rss_mb)}``."""
    out = {}
    for path in sorted(folder.glob("*.tsv")):
        with path.open() as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        rss = row.get("max_rss", "NA")
        out[path.stem] = (float(row["s"]), float(rss) if rss not in ("NA", "-", "") else None)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=364_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=REPO / "benchmarks-out" / "dag")
    ap.add_argument("--mimic-dir", type=Path, default=None, help="an existing MIMIC-IV-format folder to use")
    ap.add_argument("--chart-rows-per-stay", type=int, default=4000,
                    help="chartevents rows per ICU stay when generating (default 4000: MIMIC-IV v3.1's volume, "
                         "about 362 million rows at 364,000 patients)")
    ap.add_argument("--no-checksums", action="store_true", help="skip the SHA-256 of every input file")
    a = ap.parse_args(argv)

    mimic_dir = (a.mimic_dir or a.workdir / f"synthetic-p{a.patients}-s{a.seed}").resolve()
    if not (mimic_dir / "icu" / "icustays.csv.gz").is_file():
        say(f"generating {a.patients:,} synthetic patients into {mimic_dir} (not timed) ...")
        subprocess.run([sys.executable, "-m", "icu_cohort", "synth", "--patients", str(a.patients), "--seed",
                        str(a.seed), "--threads", str(a.cores), "--chart-rows-per-stay", str(a.chart_rows_per_stay),
                        "--out", str(mimic_dir)], check=True)
    csv_mb = folder_mb(mimic_dir / "hosp") + folder_mb(mimic_dir / "icu")

    run = a.workdir / "run"
    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)
    config = [f"mimic_dir={mimic_dir}"] + (["data_checksums=false"] if a.no_checksums else [])
    base = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(run),
            "--cores", str(a.cores), "--quiet", "--config", *config]
    phases = {}
    start = time.perf_counter()
    for phase, extra in (("conversion", ["--until", "mimic_to_parquet"]), ("concepts", ["--until", "concepts"]),
                         ("cohorts", ["--until", "cohort"]), ("analysis_and_reports", [])):
        say(f"phase {phase} ...")
        t0 = time.perf_counter()
        proc = subprocess.run(base + extra, capture_output=True, text=True)
        if proc.returncode:
            sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
            raise SystemExit(f"snakemake failed in phase {phase}")
        phases[phase] = round(time.perf_counter() - t0, 1)
        say(f"  {phase}: {phases[phase]:.1f} s")
    total = round(time.perf_counter() - start, 1)

    (source_dir,) = [p for p in (run / "logs" / "benchmarks").iterdir() if p.is_dir()]
    jobs: dict = {}
    for stem, (seconds, rss) in benchmarks(source_dir).items():
        rule = "mimic_to_parquet" if stem.startswith("mimic_to_parquet") else stem
        entry = jobs.setdefault(rule, {"seconds": 0.0, "max_rss_mb": 0.0})
        entry["seconds"] = round(entry["seconds"] + seconds, 1)
        entry["max_rss_mb"] = max(entry["max_rss_mb"], rss or 0.0)
        if stem.startswith("mimic_to_parquet"):
            say(f"  {stem}: {seconds:.1f} s, {rss or 0:.0f} MB")
    import duckdb

    source = source_dir.name
    parquet = run / "data" / "parquet" / source
    icu_stays = duckdb.connect().execute(
        f"SELECT count(*) FROM read_parquet('{parquet / 'icu' / 'icustays.parquet'}')").fetchone()[0]
    out = {
        "mimic_dir": str(mimic_dir),
        "source": source,
        "icu_stays": int(icu_stays),
        "csv_gz_mb": round(csv_mb, 1),
        "cores": a.cores,
        "checksums": not a.no_checksums,
        "phases": phases,
        "total_seconds": total,
        "jobs": jobs,
        "max_rss_mb": max(j["max_rss_mb"] for j in jobs.values()),
        "disk_mb": {"parquet": folder_mb(parquet), "concepts": folder_mb(run / "data" / "concepts" / source),
                    "results": folder_mb(run / "results" / source)},
    }
    out["targets"] = target_figures(phases, jobs, total)
    say(f"whole DAG: {total:.1f} s")
    for key, what, limit, unit in TARGETS:
        t = out["targets"][key]
        say(f"  target {what}: {t['value']} {unit} (at most {limit:g} {unit}): {'met' if t['met'] else 'NOT met'}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
