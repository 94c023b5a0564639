"""Snakemake script: per-stay follow-up times and hourly SOFA of a design study (icu_cohort.trial)."""
import sys
from pathlib import Path as _Path

try:
    import icu_cohort  # noqa: F401
except ImportError:  # a conda environment (workflow/envs/icu_cohort.yaml) holds the dependencies only
    sys.path.append(str(_Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from pathlib import Path

from icu_cohort.pipeline import logged
from icu_cohort.study import Study
from icu_cohort.trial import write_design_data

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    write_design_data(
        Study.from_dict(snakemake.params.study),
        snakemake.params.tables_from,
        snakemake.input.concepts,
        snakemake.input.cohort,
        Path(snakemake.output.followup).parent,
        dict(snakemake.params.duckdb, threads=snakemake.threads),
    )
