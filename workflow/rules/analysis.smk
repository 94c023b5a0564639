# Stage 3: propensity score, matching, balance, Kaplan-Meier, Cox, IPTW, subgroups.

from icu_cohort.analysis import OUTPUT_FILES

# Reported separately below (Snakemake report entries): balance.csv and estimates.json.
ANALYSIS_TABLES = [name for name in OUTPUT_FILES if name not in ("balance.csv", "estimates.json")]


rule analysis:
    """The study's estimates from its cohort."""
    input:
        cohort=f"{RESULTS}/{{study}}/cohort.parquet",
        study=study_file,
    output:
        tables=[f"{RESULTS}/{{study}}/{name}" for name in ANALYSIS_TABLES],
        balance=report(
            f"{RESULTS}/{{study}}/balance.csv",
            caption="../report/balance.rst",
            category="Analysis",
            subcategory="{study}",
        ),
        estimates=report(
            f"{RESULTS}/{{study}}/estimates.json",
            caption="../report/estimates.rst",
            category="Analysis",
            subcategory="{study}",
        ),
    log:
        f"logs/analysis/{{study}}.log",
    benchmark:
        f"logs/benchmarks/analysis_{{study}}.tsv"
    threads: 1
    script:
        "../scripts/run_analysis.py"
