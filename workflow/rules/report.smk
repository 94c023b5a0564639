# Stage 4: one self-contained HTML report per study.


rule study_report:
    """The study's self-contained HTML report (no network, small counts suppressed)."""
    input:
        estimates=f"{RESULTS}/{{study}}/estimates.json",
        balance=f"{RESULTS}/{{study}}/balance.csv",
        analysis=[f"{RESULTS}/{{study}}/{name}" for name in ANALYSIS_TABLES],
        attrition=f"{RESULTS}/{{study}}/attrition.csv",
        missingness=f"{RESULTS}/{{study}}/covariate_missingness.csv",
        manifest=f"{PARQUET}/manifest.json",
        study=study_file,
    output:
        html=report(
            f"{RESULTS}/{{study}}/report.html",
            caption="../report/report_html.rst",
            category="Study reports",
            subcategory="{study}",
        ),
    params:
        small_count_threshold=CFG["report"]["small_count_threshold"],
        repo=str(REPO),
        benchmarks=lambda w: [
            f"logs/benchmarks/cohort_{w.study}.tsv",
            f"logs/benchmarks/analysis_{w.study}.tsv",
        ],
    log:
        f"logs/report/{{study}}.log",
    threads: 1
    script:
        "../scripts/study_report.py"
