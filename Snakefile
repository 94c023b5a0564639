# icu-cohort: MIMIC-IV (or the embedded synthetic set) -> Parquet -> concepts (once per data
# source) -> each study's cohort -> propensity-score matching, balance, survival -> one
# self-contained HTML report per study, under results/<source>/<study>/.
#
#   snakemake --cores 2                                        # synthetic data, every study
#   snakemake --cores 2 --config mimic_dir=/path/to/mimiciv/2.2  # real MIMIC-IV
#   snakemake --report results/report.html                     # Snakemake's own report
import os
import sys

from snakemake.utils import min_version

min_version("8.20")


# The repository's config; data/, results/ and logs/ go to the working directory (--directory).
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/concepts.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        expand(f"{RESULTS_SOURCE}/{{study}}/{artifacts.REPORT.name}", study=STUDY_NAMES),
        expand(f"{RESULTS_SOURCE}/{{study}}/{EXPORT_DIR}", study=STUDY_NAMES),
    default_target: True


# At the end, say where the results are (or where to look when a job failed).
onsuccess:
    print(run_summary(RESULTS_SOURCE, STUDY_NAMES, EXPORT_DIR, ok=True), file=sys.stderr)


onerror:
    print(run_summary(RESULTS_SOURCE, STUDY_NAMES, EXPORT_DIR, ok=False, snakemake_log=log), file=sys.stderr)
