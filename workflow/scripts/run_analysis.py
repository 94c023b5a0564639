"""Snakemake script: propensity scores, matching, balance, survival and Cox models."""
import sys
from pathlib import Path as _Path

try:
    import icu_cohort  # noqa: F401
except ImportError:  # a conda environment (workflow/envs/icu_cohort.yaml) holds the dependencies only
    sys.path.append(str(_Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from pathlib import Path

from icu_cohort.pipeline import logged, run_analysis
from icu_cohort.study import Study

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    design = {k: snakemake.input[k] for k in ("followup", "sofa", "truth") if k in snakemake.input.keys()}  # noqa: F821
    run_analysis(Study.from_dict(snakemake.params.study), snakemake.input.cohort,
                 Path(snakemake.output.estimates).parent, design or None, snakemake.threads)  # noqa: F821
