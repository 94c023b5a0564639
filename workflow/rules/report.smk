# Stage 5: one self-contained HTML report per study, and its manuscript exports
# (results/<source>/<study>/exports/: icu_cohort.report.exports).

from icu_cohort.report.exports import EXPORT_DIR


rule study_report:
    """The study's self-contained HTML report (no network, small counts suppressed)."""
    input:
        estimates=f"{RESULTS_SOURCE}/{{study}}/{artifacts.ESTIMATES.name}",
        balance=f"{RESULTS_SOURCE}/{{study}}/{artifacts.BALANCE.name}",
        analysis=[f"{RESULTS_SOURCE}/{{study}}/{name}" for name in ANALYSIS_TABLES],
        attrition=f"{RESULTS_SOURCE}/{{study}}/{artifacts.ATTRITION.name}",
        missingness=f"{RESULTS_SOURCE}/{{study}}/{artifacts.MISSINGNESS.name}",
        manifest=f"{PARQUET}/manifest.json",
        study=study_files,
    output:
        html=report(
            f"{RESULTS_SOURCE}/{{study}}/{artifacts.REPORT.name}",
            caption="../report/report_html.rst",
            category="Study reports",
            subcategory="{study}",
        ),
    params:
        study=study_params,
        small_count_threshold=CFG["report"]["small_count_threshold"],
        repo=str(REPO),
        benchmarks=lambda w: [
            f"logs/benchmarks/{SOURCE}/concepts.tsv",
            f"logs/benchmarks/{SOURCE}/cohort_{w.study}.tsv",
            f"logs/benchmarks/{SOURCE}/analysis_{w.study}.tsv",
        ],
    log:
        f"logs/{SOURCE}/report/{{study}}.log",
    threads: 1
    conda:
        CONDA_ENV
    script:
        "../scripts/study_report.py"


rule study_exports:
    """Manuscript exports: every report figure as SVG, PDF and PNG (300 dpi); Table 1 and the
    effect estimates as CSV and XLSX in a journal's layout; small counts hidden as in the report."""
    input:
        html=f"{RESULTS_SOURCE}/{{study}}/{artifacts.REPORT.name}",
        table1=f"{RESULTS_SOURCE}/{{study}}/{artifacts.TABLE1.name}",
        estimates=f"{RESULTS_SOURCE}/{{study}}/{artifacts.ESTIMATES.name}",
        study=study_files,
    output:
        # Snakemake's report (snakemake --report) embeds these files, the shareable ones: the
        # stage outputs with exact counts (attrition.csv, balance.csv, estimates.json) are not
        # marked for it.
        exports=report(
            directory(f"{RESULTS_SOURCE}/{{study}}/{EXPORT_DIR}"),
            patterns=["{name}.svg", "{name}.csv"],
            caption="../report/exports.rst",
            category="Manuscript exports",
            subcategory="{study}",
        ),
    params:
        study=study_params,
        small_count_threshold=CFG["report"]["small_count_threshold"],
    log:
        f"logs/{SOURCE}/exports/{{study}}.log",
    threads: 1
    conda:
        CONDA_ENV
    script:
        "../scripts/study_exports.py"
