"""Snakemake script: a study's cohort and attrition table, from the concepts."""
import sys
from pathlib import Path as _Path

try:
    import icu_cohort  # noqa: F401
except ImportError:  # a conda environment (workflow/envs/icu_cohort.yaml) holds the dependencies only
    sys.path.append(str(_Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from pathlib import Path

from icu_cohort.pipeline import build_cohort, logged
from icu_cohort.study import Study

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    build_cohort(
        Study.from_dict(snakemake.params.study),
        snakemake.params.tables_from,
        snakemake.input.concepts,
        Path(snakemake.output.cohort).parent,
        dict(snakemake.params.duckdb, threads=snakemake.threads),
    )
