"""Snakemake script: every derived concept of one data source, from its Parquet tables."""
import sys
from pathlib import Path as _Path

try:
    import icu_cohort  # noqa: F401
except ImportError:  # a conda environment (workflow/envs/icu_cohort.yaml) holds the dependencies only
    sys.path.append(str(_Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from icu_cohort.pipeline import concepts, logged

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    concepts(
        snakemake.params.tables_from,
        snakemake.output[0],
        snakemake.params.source,
        dict(snakemake.params.duckdb, threads=snakemake.threads),
    )
