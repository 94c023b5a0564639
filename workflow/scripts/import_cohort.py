"""Snakemake script: an exported cohort table (BigQuery) as the study's cohort stage."""
import sys
from pathlib import Path as _Path

try:
    import icu_cohort  # noqa: F401
except ImportError:  # a conda environment (workflow/envs/icu_cohort.yaml) holds the dependencies only
    sys.path.append(str(_Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from pathlib import Path

from icu_cohort.pipeline import cohort_file_manifest, import_cohort, logged
from icu_cohort.study import Study

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    if snakemake.rule == "cohort_file_manifest":  # noqa: F821
        cohort_file_manifest(snakemake.input.cohort_file, snakemake.output.manifest)  # noqa: F821
    else:
        import_cohort(Study.from_dict(snakemake.params.study), snakemake.input.cohort_file,  # noqa: F821
                      Path(snakemake.output.cohort).parent)  # noqa: F821
