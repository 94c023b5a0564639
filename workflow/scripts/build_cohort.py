"""Snakemake script: a study's cohort and attrition table from the SQL in sql/."""
from pathlib import Path

from icu_cohort.pipeline import build_cohort, logged

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    build_cohort(
        snakemake.input.study,
        snakemake.params.parquet_dir,
        Path(snakemake.params.sql_dir),
        Path(snakemake.output.cohort).parent,
        dict(snakemake.params.duckdb, threads=snakemake.threads),
    )
