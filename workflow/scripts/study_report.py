"""Snakemake script: the study's self-contained HTML report."""
import sys
from pathlib import Path as _Path

try:
    import icu_cohort  # noqa: F401
except ImportError:  # a conda environment (workflow/envs/icu_cohort.yaml) holds the dependencies only
    sys.path.append(str(_Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from pathlib import Path

from icu_cohort.pipeline import logged, study_report
from icu_cohort.study import Study

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    study_report(
        Study.from_dict(snakemake.params.study),
        Path(snakemake.output.html).parent,
        snakemake.input.manifest,
        snakemake.params.benchmarks,
        snakemake.output.html,
        snakemake.params.small_count_threshold,
        Path(snakemake.params.repo),
    )
