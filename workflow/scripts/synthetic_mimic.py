"""Snakemake script: the embedded synthetic MIMIC-IV set (``icu-cohort synth``), run by the
interpreter running Snakemake, so no command needs to be on PATH."""
import sys
from pathlib import Path as _Path

try:
    import icu_cohort  # noqa: F401
except ImportError:  # a conda environment (workflow/envs/icu_cohort.yaml) holds the dependencies only
    sys.path.append(str(_Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from icu_cohort.cli import main
from icu_cohort.pipeline import logged

with logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    code = main(["synth", "--patients", str(snakemake.params.patients), "--seed", str(snakemake.params.seed),
                 "--dgp", snakemake.params.dgp, "--mimic-version", snakemake.params.mimic_version,
                 "--threads", str(snakemake.threads),
                 "--out", str(snakemake.params.out)]
                + ([] if snakemake.params.chart_rows is None else ["--chart-rows-per-stay", str(snakemake.params.chart_rows)]))
    if code:
        raise SystemExit(f"icu-cohort synth failed with exit code {code} (see the messages above)")
