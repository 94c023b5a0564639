"""Snakemake script: one MIMIC-IV table from CSV (gzip) to typed Parquet."""
from icu_cohort.pipeline import logged, mimic_to_parquet

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    mimic_to_parquet(
        snakemake.input.csv[0] if snakemake.input.csv else None,
        snakemake.params.key,
        snakemake.output[0],
        snakemake.threads,
        snakemake.params.memory_limit,
        snakemake.params.temp_directory,
    )
