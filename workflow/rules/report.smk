# Stage 5: one self-contained HTML report per study.


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
