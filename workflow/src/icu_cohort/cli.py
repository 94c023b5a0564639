"""Command line (``icu-cohort`` or ``python -m icu_cohort``).

* ``icu-cohort --version``
* ``icu-cohort synth --patients N --seed S --out DIR [options]``: a synthetic MIMIC-IV v2.2
  folder (``DIR/hosp``, ``DIR/icu``, ``DIR/ground_truth.json``, ``DIR/ground_truth_stays.csv``);
  see ``synthetic_data/README.md`` for the data-generating process.
* ``icu-cohort check --mimic-dir DIR``: check a MIMIC-IV download -- every needed file and
  header, the release, and the checksums of PhysioNet's ``SHA256SUMS.txt`` when present
  (:mod:`icu_cohort.download`) -- converting nothing; exit code 2 when something is wrong.
* ``icu-cohort concepts --mimic-dir DIR --out DIR``: the derived concepts of a MIMIC-IV
  download (``mimiciv_derived``, one Parquet file per table, and ``manifest.json``).

* ``icu-cohort sql --dialect bigquery --study S [--out FILE]``: the study's complete SQL (the
  concepts it needs, its study layer, the final cohort query) for another engine
  (:mod:`icu_cohort.export_sql`); export the last query's result and run the analysis with
  ``--config cohort_file=FILE``.

Progress goes to stderr; a one-line JSON summary goes to stdout (``sql`` without ``--out``
writes the SQL itself to stdout).
"""

from __future__ import annotations

import argparse
import json
import sys


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from icu_cohort import __version__

    parser = argparse.ArgumentParser(prog="icu-cohort", description="icu-cohort command line tools")
    parser.add_argument("--version", action="version", version=f"icu-cohort {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("synth", help="write a synthetic MIMIC-IV v2.2 folder with a planted effect",
                       description="Write DIR/hosp/*.csv.gz, DIR/icu/*.csv.gz (PhysioNet's names, headers and "
                                   "formats), DIR/ground_truth.json and DIR/ground_truth_stays.csv. Same seed "
                                   "and patients give byte-identical files.")
    s.add_argument("--patients", type=_positive_int, required=True,
                   help="rows of patients.csv.gz (about 0.25 ICU stays per patient)")
    s.add_argument("--seed", type=int, required=True, help="random seed")
    s.add_argument("--out", required=True,
                   help="output folder (an existing one is replaced only if icu-cohort synth wrote it or it is empty)")
    s.add_argument("--mimic-version", default="2.2", choices=("2.2", "3.0", "3.1"),
                   help="the MIMIC-IV release whose format is written (headers, anchor year groups; default 2.2)")
    s.add_argument("--dgp", choices=("baseline", "timevarying"), default="baseline",
                   help="data-generating process: baseline (default; treatment decided at ICU admission) or "
                        "timevarying (treatment starts over time, changes later measurements, missing labs; "
                        "synthetic_data/params_timevarying.yaml)")
    s.add_argument("--treated-share", type=_share, default=None,
                   help="target share of IV magnesium sulfate among eligible stays (default 0.90; with "
                        "--dgp timevarying: share ever treated in the ICU, default 0.60)")
    s.add_argument("--log-hr", type=float, default=None,
                   help="planted conditional log hazard ratio of treatment (default ln 0.6 = -0.511)")
    s.add_argument("--chart-rows-per-stay", type=float, default=None,
                   help="mean chartevents rows per ICU stay, filler included (default 4000)")
    s.add_argument("--params", default=None, metavar="FILE",
                   help="YAML file overriding synthetic_data/params.yaml (same nesting)")
    s.add_argument("--threads", type=_positive_int, default=2, help="compression threads (default 2)")
    s.add_argument("--quiet", action="store_true", help="no progress messages on stderr")

    k = sub.add_parser("check", help="check a MIMIC-IV download (files, headers, release, checksums) without converting it",
                       description="Check that DIR holds every table icu-cohort reads with the expected columns, "
                                   "which MIMIC-IV release it is, and, when PhysioNet's SHA256SUMS.txt is there, that "
                                   "every file it lists matches its checksum. Nothing is converted or written. Exit "
                                   "code 0: ready to use; 2: a problem, each named on stderr.")
    k.add_argument("--mimic-dir", required=True, help="MIMIC-IV root holding hosp/ and icu/ (as downloaded)")
    k.add_argument("--allow-missing", action="append", default=[], metavar="TABLE",
                   help="a table that may be absent, e.g. icu/chartevents for the open demo (repeatable)")
    k.add_argument("--no-checksums", action="store_true", help="skip the SHA256SUMS.txt comparison")
    k.add_argument("--threads", type=_positive_int, default=2, help="files hashed at a time (default 2)")
    k.add_argument("--quiet", action="store_true", help="no progress messages on stderr")

    c = sub.add_parser("concepts", help="build the derived concepts (mimiciv_derived) of a MIMIC-IV download",
                       description="Check a MIMIC-IV folder (PhysioNet's hosp/ and icu/ .csv.gz files), convert the "
                                   "tables the concepts read to typed Parquet, and build every derived concept "
                                   "(sql/concepts.txt) into OUT/<table>.parquet with OUT/manifest.json.")
    c.add_argument("--mimic-dir", required=True, help="MIMIC-IV root holding hosp/ and icu/")
    c.add_argument("--out", required=True, help="output folder for the concept Parquet files (replaced when complete)")
    c.add_argument("--parquet-dir", default=None,
                   help="keep the typed Parquet copies here and reuse those already there (default: a temporary "
                        "folder, removed at the end)")
    c.add_argument("--allow-missing", action="append", default=[], metavar="TABLE",
                   help="a table that may be absent, e.g. icu/chartevents for the open demo (repeatable)")
    c.add_argument("--threads", type=_positive_int, default=2, help="DuckDB threads (default 2)")
    c.add_argument("--memory-limit", default="4GB", help="DuckDB memory limit (default 4GB)")
    c.add_argument("--quiet", action="store_true", help="no progress messages on stderr")

    q = sub.add_parser("sql", help="write a study's complete SQL for BigQuery (or PostgreSQL, DuckDB)",
                       description="The concepts the study needs (in run order), its study layer with its parameters "
                                   "and the final cohort query, transpiled from our DuckDB SQL by SQLGlot. Run it in "
                                   "order; export the last query's result and give it to the analysis with "
                                   "snakemake --config cohort_file=FILE studies='[S]'.")
    q.add_argument("--study", required=True, help="study name (a YAML file in --study-dir)")
    q.add_argument("--study-dir", default="config/studies", help="folder of study files (default config/studies)")
    q.add_argument("--dialect", default="bigquery", choices=["bigquery", "postgres", "duckdb"])
    q.add_argument("--out", default=None, help="output file (default: stdout)")
    q.add_argument("--hosp-dataset", default=None,
                   help="MIMIC-IV hosp tables (BigQuery default physionet-data.mimiciv_3_1_hosp, else mimiciv_hosp)")
    q.add_argument("--icu-dataset", default=None,
                   help="MIMIC-IV icu tables (BigQuery default physionet-data.mimiciv_3_1_icu, else mimiciv_icu)")
    q.add_argument("--derived-dataset", default="icu_cohort_derived",
                   help="where our derived concepts are written (a dataset of yours; default icu_cohort_derived)")
    q.add_argument("--study-dataset", default=None, help="where the study's tables are written (default icu_cohort_<study>)")
    return parser


def _concepts(args) -> int:
    import shutil
    import tempfile
    import time
    from pathlib import Path

    from icu_cohort import artifacts, concepts, loader
    from icu_cohort.mimic_tables import table

    start = time.perf_counter()
    say = _progress(args.quiet) or (lambda msg: None)
    mimic_dir = Path(args.mimic_dir)
    source = artifacts.mimic_source(mimic_dir)
    keys = concepts.required_tables()
    sources = loader.check_sources(mimic_dir, keys, args.allow_missing)
    scratch = None
    if args.parquet_dir:
        parquet_dir = Path(args.parquet_dir)
    else:
        out_parent = Path(args.out).resolve().parent
        out_parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".parquet-", dir=out_parent))
        parquet_dir = scratch
    try:
        for number, (key, path) in enumerate(sorted(sources.items()), start=1):
            target = loader.parquet_path(parquet_dir, key)
            if target.is_file():
                say(f"table {number}/{len(sources)}: {key} (Parquet already there)")
                continue
            say(f"table {number}/{len(sources)}: {key}")
            loader.convert_table(path, target, table(key), args.threads, args.memory_limit, progress=say)
        manifest = concepts.write_concepts(parquet_dir, Path(args.out), source, threads=args.threads,
                                           memory_limit=args.memory_limit, progress=say)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({"source": source, "out_dir": str(Path(args.out)), "tables": len(manifest["tables"]),
                      "seconds": round(time.perf_counter() - start, 1)}))
    return 0


def _check(args) -> int:
    from pathlib import Path

    from icu_cohort.download import check_download

    say = _progress(args.quiet) or (lambda msg: None)
    result = check_download(Path(args.mimic_dir), args.allow_missing, checksums=not args.no_checksums,
                            threads=args.threads, progress=say)
    version = result["version"]["version"]
    sums = result["checksums"]
    lines = [f"icu-cohort check {result['mimic_dir']}:",
             f"  tables: {len(result['tables'])} needed tables present with their columns"
             if result["tables"] else "  tables: see the problems below",
             f"  release: MIMIC-IV {version}" if version else "  release: unknown"]
    if sums is not None:
        lines.append(f"  checksums: {sums['ok']} of {sums['checked']} files match {Path(sums['file']).name}"
                     f" ({sums['listed']} listed, {len(sums['absent'])} absent) in {sums['seconds']} s")
    lines += [f"  note: {n}" for n in result["notes"]]
    lines += [f"  PROBLEM: {p}" for p in result["problems"]]
    lines.append("  ready to use" if result["ok"] else "  not ready: fix the problems above")
    print("\n".join(lines), file=sys.stderr)
    print(json.dumps({"mimic_dir": result["mimic_dir"], "ok": result["ok"], "version": version,
                      "tables": len(result["tables"]),
                      "checksums_checked": None if sums is None else sums["checked"],
                      "checksums_mismatched": None if sums is None else sums["mismatched"],
                      "problems": result["problems"], "seconds": result["seconds"]}))
    return 0 if result["ok"] else 2


def _sql(args) -> int:
    from pathlib import Path

    from icu_cohort import artifacts, export_sql
    from icu_cohort.study import load_study

    study = load_study(args.study, Path(args.study_dir))
    bigquery = args.dialect == "bigquery"
    text = export_sql.study_sql_text(
        study, args.dialect,
        hosp=args.hosp_dataset or (export_sql.BIGQUERY_HOSP if bigquery else "mimiciv_hosp"),
        icu=args.icu_dataset or (export_sql.BIGQUERY_ICU if bigquery else "mimiciv_icu"),
        derived=args.derived_dataset, study_dataset=args.study_dataset or f"icu_cohort_{study.name}")
    if args.out is None:
        sys.stdout.write(text)
        return 0
    with artifacts.atomic_path(args.out) as tmp:
        tmp.write_text(text)
    print(json.dumps({"study": study.name, "dialect": args.dialect, "out": str(args.out),
                      "statements": text.count(";\n")}))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from icu_cohort.config import ConfigError
    from icu_cohort.loader import MimicInputError
    from icu_cohort.sqlrun import SqlError

    commands = {"sql": (_sql, (ConfigError, SqlError, FileNotFoundError)),
                "check": (_check, (MimicInputError, FileNotFoundError)),
                "concepts": (_concepts, (MimicInputError, SqlError, FileNotFoundError))}
    if args.command in commands:
        run, expected = commands[args.command]
        try:
            return run(args)
        except expected as exc:
            print(f"icu-cohort {args.command}: error: {exc}", file=sys.stderr)
            return 2
    if args.command == "synth":
        from .synth import generate

        try:
            summary = generate(args.out, args.patients, args.seed, params_file=args.params,
                               progress=_progress(args.quiet), dgp=args.dgp, mimic_version=args.mimic_version,
                               threads=args.threads, treated_share=args.treated_share, log_hr=args.log_hr,
                               chart_rows_per_stay=args.chart_rows_per_stay)
        except (KeyError, ValueError, FileNotFoundError, FileExistsError) as exc:
            print(f"icu-cohort synth: error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps({k: summary[k] for k in ("out_dir", "dgp", "patients", "admissions", "icu_stays",
                                                  "eligible_stays", "seconds")}))
        return 0
    return 2


def _progress(quiet: bool):
    """Progress messages to stderr; inside a Snakemake job (stderr in its log) to the log and
    the terminal (:func:`icu_cohort.console.progress`)."""
    if quiet:
        return None
    from icu_cohort.console import progress

    return progress()


if __name__ == "__main__":
    sys.exit(main())
