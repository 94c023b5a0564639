# Stage 4: propensity score, matching, balance, Kaplan-Meier, Cox, IPTW, subgroups.

# Reported separately below (Snakemake report entries): balance.csv and estimates.json.
ANALYSIS_TABLES = [
    a.name for a in artifacts.ANALYSIS_OUTPUTS if a not in (artifacts.BALANCE, artifacts.ESTIMATES)
]


rule analysis:
    """The study's estimates from its cohort."""
    input:
        cohort=f"{RESULTS_SOURCE}/{{study}}/{artifacts.COHORT.name}",
        study=study_files,
    output:
        tables=[f"{RESULTS_SOURCE}/{{study}}/{name}" for name in ANALYSIS_TABLES],
        # exact counts (n_missing, group sizes), for the analyst: not embedded in
        # snakemake --report (the study's exports are)
        balance=f"{RESULTS_SOURCE}/{{study}}/{artifacts.BALANCE.name}",
        estimates=f"{RESULTS_SOURCE}/{{study}}/{artifacts.ESTIMATES.name}",
    params:
        study=study_params,
    log:
        f"logs/{SOURCE}/analysis/{{study}}.log",
    benchmark:
        f"logs/benchmarks/{SOURCE}/analysis_{{study}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    script:
        "../scripts/run_analysis.py"
