"""Benchmark: the concepts stage once, then each study's cohort stage over those concepts, on a
synthetic MIMIC-IV of N patients.

    python tests/benchmarks/bench_cohort.py --patients 100000 [--seed 1] [--threads 2]
        [--memory-limit 4GB] [--workdir DIR] [--mimic-dir DIR] [--studies S ...]

Preparation (not timed): the synthetic data set (``icu-cohort synth``, or an existing folder
given with ``--mimic-dir``) and its Parquet copy, kept in ``--workdir`` and reused. Timed, each
in its own child process so that each figure of peak memory is that stage's alone:
``icu_cohort.concepts.write_concepts`` (every derived concept, once), then for every study
``icu_cohort.pipeline.build_cohort`` (the study layer over the concept Parquet files). The
studies default to config/config.yaml ``studies:``. The cohort of each study is compared with
the generator's ground truth when there is one (sae_mgso4*: ``eligible`` and ``attrition``;
a study named by a ``populations`` entry of ground_truth.json: that population's).

Progress goes to stderr; the last stdout line is one JSON object: patients, icu_stays,
concepts {seconds, peak_memory_mb, tables}, studies {name: {seconds, peak_memory_mb,
cohort_size, n_treated, cohort_equals_ground_truth, attrition_equals_ground_truth}},
seconds_per_extra_study {mean, max} (the cohort stage of one more study, over concepts already
built), concepts_plus_studies_seconds, max_peak_memory_mb, extra_study_fraction_of_concepts
(the largest study's seconds / the concepts' seconds).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def say(msg: str) -> None:
    print(f"[bench_cohort] {msg}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """This process's peak resident memory. /proc/self/status VmHWM first: Linux keeps
    ru_maxrss across execve, so a child started after the parent generated the data would
    report the parent's peak (every stage read 979 MB, the generator's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def prepare(mimic_dir: Path, parquet_dir: Path, patients: int, seed: int, threads: int, memory_limit: str) -> None:
    """Generate the synthetic set (unless given) and convert every table the SQL reads."""
    from icu_cohort import loader
    from icu_cohort.pipeline import required_tables

    keys = required_tables()
    if not (mimic_dir / "icu" / "icustays.csv.gz").is_file():
        from icu_cohort.synth import generate

        t0 = time.perf_counter()
        say(f"generating {patients:,} synthetic patients (seed {seed}) in {mimic_dir} ...")
        generate(mimic_dir, patients, seed, threads=threads)
        say(f"  generated in {time.perf_counter() - t0:.1f} s")
    if not all(loader.parquet_path(parquet_dir, k).is_file() for k in keys):
        t0 = time.perf_counter()
        say(f"converting {len(keys)} tables to Parquet in {parquet_dir} ...")
        loader.convert_tables(mimic_dir, parquet_dir, keys, threads=threads, memory_limit=memory_limit)
        say(f"  converted in {time.perf_counter() - t0:.1f} s")


def compare_with_ground_truth(mimic_dir: Path, results: Path, study: str) -> dict:
    """The cohort against the generator's stays eligible by construction for the study's
    population (when the generator planted one for it)."""
    import pandas as pd

    path = mimic_dir / "ground_truth_stays.csv"
    if not path.is_file():
        return {}
    truth = json.loads((mimic_dir / "ground_truth.json").read_text())
    populations = {p["study"]: (name, p) for name, p in (truth.get("populations") or {}).items()
                   if isinstance(p, dict) and "study" in p}
    if study in populations:
        column, steps = f"eligible_{populations[study][0]}", populations[study][1]["attrition"]
    elif study.startswith("sae_mgso4"):
        column, steps = "eligible", truth.get("attrition", [])
    else:
        say(f"  no ground truth for {study}")
        return {}
    gt = pd.read_csv(path)
    df = pd.read_parquet(results / "cohort.parquet")
    attrition = pd.read_csv(results / "attrition.csv")
    eligible = set(gt.loc[gt[column] == 1, "stay_id"])
    got = set(df["stay_id"])
    steps_agree = [s["n_remaining"] for s in steps] == attrition["n_remaining"].tolist()
    say(f"  ground truth: {len(eligible):,} eligible by construction; cohort {len(got):,}; "
        f"{len(got - eligible):,} extra, {len(eligible - got):,} missing; attrition steps agree: {steps_agree}")
    return {"cohort_equals_ground_truth": got == eligible, "attrition_equals_ground_truth": steps_agree}


def stage(a) -> dict:
    """One timed stage in this (child) process."""
    from icu_cohort import pipeline
    from icu_cohort.study import load_study

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[bench_cohort]     %(message)s")
    duckdb_cfg = {"threads": a.threads, "memory_limit": a.memory_limit,
                  "temp_directory": str(a.workdir / "duckdb_tmp")}
    t0 = time.perf_counter()
    if a.stage == "concepts":
        manifest = pipeline.concepts({"parquet_dir": str(a.parquet_dir)}, a.concepts_dir, "bench", duckdb_cfg)
        out = {"tables": len(manifest["tables"])}
    else:
        study = load_study(a.stage, REPO / "config" / "studies")
        pipeline.build_cohort(study, {"parquet_dir": str(a.parquet_dir)}, a.concepts_dir,
                              a.workdir / f"results-{a.stage}", duckdb_cfg)
        out = {}
    return {"seconds": round(time.perf_counter() - t0, 2), "peak_memory_mb": round(peak_rss_mb(), 1), **out}


def run_child(a, name: str) -> dict:
    cmd = [sys.executable, __file__, "--stage", name, "--threads", str(a.threads), "--memory-limit", a.memory_limit,
           "--workdir", str(a.workdir), "--parquet-dir", str(a.parquet_dir), "--concepts-dir", str(a.concepts_dir)]
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--workdir", type=Path, default=REPO / "benchmarks-out" / "cohort",
                    help="where the synthetic data, its Parquet copy and the concepts are kept")
    ap.add_argument("--mimic-dir", type=Path, default=None, help="an existing MIMIC-IV-format folder to use")
    ap.add_argument("--studies", nargs="+", default=None, help="default: config/config.yaml studies")
    ap.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--parquet-dir", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--concepts-dir", type=Path, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.stage:
        print(json.dumps(stage(a)))
        return 0

    if a.studies is None:
        from icu_cohort.config import load_config

        a.studies = list(load_config(REPO / "config" / "config.yaml")["studies"])
    tag = f"p{a.patients}-s{a.seed}"
    mimic_dir = a.mimic_dir or a.workdir / f"synthetic-{tag}"
    a.parquet_dir = a.workdir / f"parquet-{mimic_dir.name}"
    a.concepts_dir = a.workdir / f"concepts-{mimic_dir.name}"
    a.workdir.mkdir(parents=True, exist_ok=True)
    prepare(mimic_dir, a.parquet_dir, a.patients, a.seed, a.threads, a.memory_limit)

    import duckdb

    icu_stays = duckdb.connect().execute(
        f"SELECT count(*) FROM read_parquet('{a.parquet_dir / 'icu' / 'icustays.parquet'}')").fetchone()[0]
    say(f"{icu_stays:,} ICU stays; concepts stage with {a.threads} thread(s), memory limit {a.memory_limit} ...")
    concepts = run_child(a, "concepts")
    say(f"concepts: {concepts['tables']} tables in {concepts['seconds']:.1f} s, peak {concepts['peak_memory_mb']:.0f} MB")
    studies = {}
    for name in a.studies:
        say(f"study {name} over the concepts ...")
        studies[name] = run_child(a, name)
        studies[name].update(compare_with_ground_truth(mimic_dir, a.workdir / f"results-{name}", name))
        import pandas as pd

        df = pd.read_parquet(a.workdir / f"results-{name}" / "cohort.parquet")
        studies[name].update({"cohort_size": int(len(df)), "n_treated": int(df["treated"].sum())})
        say(f"  {name}: {len(df):,} stays in {studies[name]['seconds']:.1f} s, "
            f"peak {studies[name]['peak_memory_mb']:.0f} MB")
    total = concepts["seconds"] + sum(s["seconds"] for s in studies.values())
    out = {
        "patients": a.patients if a.mimic_dir is None else None,
        "mimic_dir": str(mimic_dir),
        "icu_stays": int(icu_stays),
        "threads": a.threads,
        "memory_limit": a.memory_limit,
        "concepts": concepts,
        "studies": studies,
        "seconds_per_extra_study": {"mean": round(sum(s["seconds"] for s in studies.values()) / len(studies), 2),
                                    "max": max(s["seconds"] for s in studies.values())},
        "concepts_plus_studies_seconds": round(total, 2),
        "max_peak_memory_mb": max([concepts["peak_memory_mb"]] + [s["peak_memory_mb"] for s in studies.values()]),
        "extra_study_fraction_of_concepts": round(max(s["seconds"] for s in studies.values()) / concepts["seconds"], 3),
    }
    for name, st in studies.items():
        say(f"  cohort stage of {name}: {st['seconds']:.1f} s")
    say(f"concepts {concepts['seconds']:.1f} s + {len(studies)} studies: {total:.1f} s; one extra study "
        f"{out['seconds_per_extra_study']['mean']:.1f} s on average")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
