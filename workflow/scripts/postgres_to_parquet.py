"""Snakemake script: one MIMIC-IV table from a PostgreSQL database to typed Parquet."""
import sys
from pathlib import Path as _Path

try:
    import icu_cohort  # noqa: F401
except ImportError:  # a conda environment (workflow/envs/icu_cohort.yaml) holds the dependencies only
    sys.path.append(str(_Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from icu_cohort.pipeline import logged, postgres_to_parquet

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    postgres_to_parquet(
        snakemake.params.uri,
        snakemake.params.key,
        snakemake.output[0],
        snakemake.threads,
        snakemake.params.memory_limit,
        snakemake.params.temp_directory,
    )
