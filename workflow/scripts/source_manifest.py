"""Snakemake script: the data manifest of a PostgreSQL or DuckDB-database source."""
import sys
from pathlib import Path as _Path

try:
    import icu_cohort  # noqa: F401
except ImportError:  # a conda environment (workflow/envs/icu_cohort.yaml) holds the dependencies only
    sys.path.append(str(_Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from icu_cohort.pipeline import duckdb_manifest, logged, postgres_manifest

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    if snakemake.rule == "duckdb_manifest":  # noqa: F821
        duckdb_manifest(snakemake.input.database, snakemake.params.table_keys, snakemake.output.manifest)  # noqa: F821
    else:
        postgres_manifest(snakemake.params.uri, snakemake.params.table_keys, list(snakemake.input),  # noqa: F821
                          snakemake.output.manifest)  # noqa: F821
