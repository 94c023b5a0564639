"""The pipeline's stages as plain functions of paths, called by the Snakemake scripts.

Each function reads its inputs, calls the package's logic and writes its outputs; the
scripts under ``workflow/scripts`` only unpack Snakemake's ``input``/``output``/``params``
into these calls. Keeping the wiring here means a stage can be run and tested without
Snakemake.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from icu_cohort import artifacts, loader
from icu_cohort.mimic_tables import KNOWN_TABLES, table
from icu_cohort.study import Study

log = logging.getLogger("icu_cohort")


@contextlib.contextmanager
def logged(log_path: str | Path):
    """Send logging, stdout and stderr to ``log_path`` for the duration of a stage.

    An exception is written to the log (with its traceback) and re-raised, so Snakemake
    marks the job failed and shows the log's path; its message is also printed on the
    terminal (:func:`icu_cohort.console.to_terminal`), so the job's own error is seen without
    opening the log.
    """
    from icu_cohort.console import job, to_terminal

    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as handle, contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle), job():
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        start = time.perf_counter()
        try:
            yield
        except Exception as exc:
            logging.exception("stage failed")
            to_terminal(f"icu-cohort: error: {type(exc).__name__}: {exc}\n  (traceback in {log_path})")
            raise
        finally:
            logging.info("stage took %.1f s", time.perf_counter() - start)
            root.removeHandler(handler)


def required_tables(sql_dir: Path | None = None, studies: Iterable[Study] | None = None) -> list[str]:
    """Every MIMIC-IV table (``"icu/chartevents"``) the concepts and the study layer of
    ``studies`` read: the tables a run of those studies requires, checks and converts.

    ``studies=None``: the study layer without the source-specific exposure files (no study
    with an exposure from hosp.emar), i.e. the tables every run reads. A study whose exposure
    comes from hosp.emar adds hosp/emar and hosp/emar_detail
    (:func:`icu_cohort.cohort.required_tables`)."""
    from icu_cohort import cohort, concepts

    keys = set(concepts.required_tables(sql_dir))
    for study in (None,) if studies is None else tuple(studies):
        keys |= set(cohort.required_tables(sql_dir, study))
    return sorted(keys)


def check_synthetic_tables(studies: Mapping[str, Study], sql_dir: Path | None = None) -> None:
    """Raise :class:`icu_cohort.sources.SourceError` naming each study that reads a MIMIC-IV
    table the synthetic generator does not write (:data:`icu_cohort.mimic_tables.OPTIONAL_TABLES`:
    an exposure from hosp.emar), before any job runs on the synthetic set."""
    from icu_cohort import cohort, sources
    from icu_cohort.mimic_tables import TABLES

    missing = {name: [k for k in cohort.required_tables(sql_dir, st) if k not in TABLES] for name, st in studies.items()}
    missing = {name: keys for name, keys in missing.items() if keys}
    if missing:
        raise sources.SourceError(
            "the synthetic data set has no " + ", ".join(sorted({k for keys in missing.values() for k in keys}))
            + " (read by " + "; ".join(f"study {name}: {', '.join(keys)}" for name, keys in missing.items())
            + "): run these studies on MIMIC-IV (mimic_dir, source or duckdb_database)"
        )


def check_mimic(mimic_dir: Path, kind: str, tables: list[str], allow_missing: list[str],
                checksums: bool, manifest_path: Path) -> dict:
    """Check the needed tables (files, headers) and write the data manifest."""
    sources = loader.check_sources(Path(mimic_dir), tables, allow_missing)
    for key, path in sources.items():
        log.info("%s: %s", table(key).qualified, path if path else "absent, allowed: empty table")
    manifest = loader.data_manifest(Path(mimic_dir), sources, kind, checksums=checksums)
    artifacts.write_json(manifest, manifest_path)
    return manifest


def mimic_to_parquet(csv: Path | None, key: str, parquet: Path, threads: int, memory_limit: str,
                     temp_directory: str | None) -> int:
    """Convert one table; ``csv=None`` for an allowed missing table."""
    start = time.perf_counter()
    from icu_cohort.console import progress

    rows = loader.convert_table(csv, Path(parquet), table(key), threads, memory_limit, temp_directory,
                                progress=progress("convert"))
    log.info("%s: %d rows to %s in %.1f s", table(key).qualified, rows, parquet, time.perf_counter() - start)
    return rows


def postgres_to_parquet(uri: str, key: str, parquet: Path, threads: int, memory_limit: str,
                        temp_directory: str | None) -> int:
    """Export one table from a PostgreSQL source to typed Parquet (``uri`` without password)."""
    from icu_cohort import sources

    start = time.perf_counter()
    rows = sources.export_postgres_table(uri, key, Path(parquet), threads, memory_limit, temp_directory)
    log.info("%s: %d rows from %s to %s in %.1f s", table(key).qualified, rows, sources.redact(uri), parquet,
             time.perf_counter() - start)
    return rows


def postgres_manifest(uri: str, keys: list[str], parquet_files: list[str], manifest_path: Path) -> dict:
    """The data manifest of a PostgreSQL source, with each exported table's rows."""
    import pyarrow.parquet as pq

    from icu_cohort import sources

    by_key = {}
    for key in keys:
        path = loader.parquet_path(Path(parquet_files[0]).parents[1], key)
        by_key[key] = pq.ParquetFile(path).metadata.num_rows
    manifest = sources.postgres_manifest(sources.redact(uri), by_key)
    artifacts.write_json(manifest, manifest_path)
    return manifest


def duckdb_manifest(database: Path, keys: list[str], manifest_path: Path) -> dict:
    """The data manifest of a mimic-code DuckDB database source (checked again, rows counted)."""
    from icu_cohort import sources

    found: dict[str, dict] = {}
    manifest = sources.duckdb_manifest(database, sources.check_duckdb_database(database, keys, found), found)
    artifacts.write_json(manifest, manifest_path)
    return manifest


def concepts(tables_from: dict, out_dir: Path, source: str, duckdb_cfg: dict) -> dict:
    """Build every derived concept of one data source into ``out_dir`` (with its manifest).

    ``tables_from``: ``{"parquet_dir": DIR}`` or ``{"duckdb_database": FILE}``
    (:func:`icu_cohort.sources.connect`)."""
    from icu_cohort.concepts import write_concepts
    from icu_cohort.console import progress

    return write_concepts(tables_from.get("parquet_dir"), Path(out_dir), source, threads=duckdb_cfg["threads"],
                          memory_limit=duckdb_cfg["memory_limit"],
                          temp_directory=duckdb_cfg.get("temp_directory"), progress=progress("concepts"),
                          duckdb_database=tables_from.get("duckdb_database"))


def build_cohort(study: Study, tables_from: dict | str | Path, concepts_dir: Path, out_dir: Path,
                 duckdb_cfg: dict) -> None:
    """The study layer over the concepts: write cohort.parquet, attrition.csv and
    covariate_missingness.csv. ``tables_from``: a Parquet folder, or a mapping as for
    :func:`icu_cohort.sources.connect`."""
    from icu_cohort import cohort, sources
    from icu_cohort.concepts import attach_concepts

    if not isinstance(tables_from, dict):
        tables_from = {"parquet_dir": str(tables_from)}
    con = sources.connect(tables_from, cohort.required_tables(study=study), duckdb_cfg["threads"],
                          duckdb_cfg["memory_limit"], duckdb_cfg.get("temp_directory"))
    attach_concepts(con, Path(concepts_dir), cohort.required_concepts(study=study))
    cohort_df, attrition = cohort.build_cohort(con, study)
    cohort.write_cohort(cohort_df, attrition, Path(out_dir))
    for row in attrition.itertuples(index=False):
        log.info("attrition step %s: %s remaining, %s excluded (%s)", row.step, row.n_remaining,
                 row.n_excluded, row.description)


def import_cohort(study: Study, cohort_file: Path, out_dir: Path) -> None:
    """A cohort table exported from another engine as the study's cohort stage: the same column
    selection and types as :func:`icu_cohort.cohort.build_cohort` gives
    (:func:`icu_cohort.cohort.analysis_table`), ``cohort.parquet``,
    ``covariate_missingness.csv`` and an ``attrition.csv`` of one step (the other engine's
    attrition is not in the file)."""
    from icu_cohort import cohort, sources

    raw = sources.read_cohort_file(cohort_file).sort_values("stay_id", kind="mergesort").reset_index(drop=True)
    df = cohort.analysis_table(raw, study)
    # the secondary outcomes' columns, as build_cohort adds them (the export's final query has them)
    names = cohort.secondary_outcome_columns(study)
    absent = [c for c in names if c not in raw.columns]
    if absent:
        raise sources.MissingColumnError(
            f"cohort_file {cohort_file}: missing column(s) {', '.join(absent)} of the study's secondary outcomes "
            f"(outcome.secondary of {study.name}); export the cohort again with icu-cohort sql")
    for event, time in zip(names[::2], names[1::2]):
        df[event] = raw[event].astype("int64")
        df[time] = raw[time].astype("float64")
    attrition = pd.DataFrame([{"step": 1, "description": f"cohort imported from {Path(cohort_file).name}",
                               "n_remaining": len(df), "n_excluded": 0}], columns=list(artifacts.ATTRITION.columns))
    cohort.write_cohort(df, attrition, Path(out_dir))
    log.info("imported %d stays (%d treated) from %s", len(df), int(df["treated"].sum()), cohort_file)


def cohort_file_manifest(cohort_file: Path, manifest_path: Path) -> dict:
    """The data manifest of a cohort-file source: the file, its rows, size and SHA-256."""
    from icu_cohort import sources

    path = Path(cohort_file).resolve()
    rows = len(sources.read_cohort_file(path))
    manifest = {"source": str(path), "kind": "cohort_file", "mimic_version": None,
                "tables": [{"table": "study.cohort", "file": path.name, "rows": rows,
                            "size_bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}]}
    artifacts.write_json(manifest, manifest_path)
    return manifest


#: BLAS threads of the analysis stage (one, so its numbers do not depend on the environment).
ANALYSIS_BLAS_THREADS = 1


def run_analysis(study: Study, cohort_path: Path, out_dir: Path, design_inputs: dict | None = None,
                 threads: int = 1) -> dict:
    """Propensity scores, matching, balance, survival and Cox models for one study; with a
    `design:` section also the target-trial analysis (``design_inputs``: paths ``followup``,
    ``sofa`` and optionally ``truth``; :func:`icu_cohort.trial.run_stage`)."""
    from threadpoolctl import threadpool_limits

    from icu_cohort.analysis import run_analysis as _run

    cohort_df = pd.read_parquet(cohort_path)
    # One BLAS thread, whatever the environment says: a BLAS splits its sums by its thread
    # count, and Snakemake sets OPENBLAS/OMP_NUM_THREADS to the job's threads (1 for most
    # studies, 2 for a target trial's bootstrap) while a direct call gets one per core. The
    # propensity scores moved by ~4e-12 (and estimates.json with them) between 1 and 2 BLAS
    # threads. Measured: no slower (the models are small); ``threads`` still runs the bootstrap.
    with threadpool_limits(limits=ANALYSIS_BLAS_THREADS, user_api="blas"):
        extra = None
        if study.design is not None:
            from icu_cohort import trial

            d = design_inputs or {}
            extra = {"target_trial": trial.run_stage(study, cohort_path, d["followup"], d["sofa"], threads,
                                                     d.get("truth"))}
        try:
            estimates = _run(cohort_df, study.covariates, study["analysis"], Path(out_dir), study.name, extra,
                             secondary=study["outcome"]["secondary"])
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{cohort_path} (study {study.name}): {exc}") from exc
    log.info("cohort %s stays, %s matched pairs", estimates.get("n_cohort"),
             (estimates.get("matching") or {}).get("n_pairs"))
    return estimates


def study_report(study: Study, results_dir: Path, manifest_path: Path, benchmark_files: list[str],
                 out_html: Path, small_count_threshold: int | None, repo_dir: Path = Path(".")) -> None:
    """The study's self-contained HTML report."""
    from icu_cohort.report import write_report
    from icu_cohort.report.provenance import collect_provenance

    from icu_cohort.validation import validated_on

    manifest = json.loads(Path(manifest_path).read_text())
    # the load-time checks' reports sit beside the Parquet files, in the manifest's folder
    # (written after the manifest, by each table's conversion)
    # every known table's report, hosp/emar's included when the run converted it
    load_reports = loader.parquet_manifest(Path(manifest_path).parent, KNOWN_TABLES)
    provenance = collect_provenance(manifest, [Path(p) for p in benchmark_files if Path(p).exists()], Path(repo_dir),
                                    load_reports=load_reports, validated_on=validated_on(study.name))
    write_report(Path(results_dir), study, provenance, Path(out_html), small_count_threshold)
