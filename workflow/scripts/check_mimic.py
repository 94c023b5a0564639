"""Snakemake script: check the MIMIC-IV files the studies need and write the data manifest."""
import sys
from pathlib import Path as _Path

try:
    import icu_cohort  # noqa: F401
except ImportError:  # a conda environment (workflow/envs/icu_cohort.yaml) holds the dependencies only
    sys.path.append(str(_Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from icu_cohort.pipeline import check_mimic, logged

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    check_mimic(
        snakemake.params.mimic_dir,
        snakemake.params.kind,
        snakemake.params.tables,
        snakemake.params.allow_missing,
        snakemake.params.checksums,
        snakemake.output.manifest,
    )
