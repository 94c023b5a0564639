"""Snakemake script: every derived concept of one data source, from its Parquet tables."""
from icu_cohort.pipeline import concepts, logged

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    concepts(
        snakemake.params.parquet_dir,
        snakemake.output[0],
        snakemake.params.source,
        dict(snakemake.params.duckdb, threads=snakemake.threads),
    )
