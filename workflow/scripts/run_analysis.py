"""Snakemake script: propensity scores, matching, balance, survival and Cox models."""
from pathlib import Path

from icu_cohort.pipeline import logged, run_analysis
from icu_cohort.study import Study

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    run_analysis(Study.from_dict(snakemake.params.study), snakemake.input.cohort,
                 Path(snakemake.output.estimates).parent)
