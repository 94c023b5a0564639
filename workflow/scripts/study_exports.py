"""Snakemake script: the study's manuscript exports (icu_cohort.report.exports)."""
import sys
from pathlib import Path as _Path

try:
    import icu_cohort  # noqa: F401
except ImportError:  # a conda environment (workflow/envs/icu_cohort.yaml) holds the dependencies only
    sys.path.append(str(_Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from pathlib import Path

from icu_cohort.pipeline import logged
from icu_cohort.report.exports import write_exports

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    write_exports(
        Path(snakemake.input.html).parent,
        snakemake.params.study,
        out_dir=snakemake.output.exports,
        small_count_threshold=snakemake.params.small_count_threshold,
        report_html=snakemake.input.html,
    )
