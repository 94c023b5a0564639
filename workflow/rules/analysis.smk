# Stage 4: propensity score, matching, balance, Kaplan-Meier, Cox, IPTW, subgroups; for a study
# with a `design:` section also the target-trial emulation (icu_cohort.trial).

from icu_cohort import trial

# Reported separately below (Snakemake report entries): balance.csv and estimates.json.
ANALYSIS_TABLES = [
    a.name for a in artifacts.ANALYSIS_OUTPUTS if a not in (artifacts.BALANCE, artifacts.ESTIMATES)
]


DESIGN_STUDIES = [name for name, s in STUDIES.items() if s.design is not None]


if DESIGN_STUDIES and SOURCE_KIND != "cohort_file":

    rule design_data:
        """Per-stay ICU outtime, death time and hourly SOFA of a design study's cohort."""
        input:
            cohort=f"{RESULTS_SOURCE}/{{study}}/{artifacts.COHORT.name}",
            tables=parquet_files(trial.required_tables()),
            manifest=f"{PARQUET}/manifest.json",
            concepts=CONCEPTS,
            study=study_files,
            sql=[str(trial.SQL_DIR / f) for f, _ in trial.DESIGN_SQL],
        output:
            followup=f"{RESULTS_SOURCE}/{{study}}/{artifacts.DESIGN_FOLLOWUP.name}",
            sofa=f"{RESULTS_SOURCE}/{{study}}/{artifacts.DESIGN_SOFA.name}",
        params:
            study=study_params,
            tables_from=tables_from,
            duckdb=DUCKDB,
        log:
            f"logs/{SOURCE}/design_data/{{study}}.log",
        threads: DUCKDB["threads"]
        conda:
            CONDA_ENV
        script:
            "../scripts/design_data.py"


rule analysis:
    """The study's estimates from its cohort (and, with a design, the target trial's)."""
    input:
        unpack(lambda wc: trial.stage_inputs(STUDIES[wc.study], RESULTS_SOURCE, wc.study,
                                             MIMIC_DIR if SOURCE_KIND == "synthetic" else None)),
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
    threads: lambda wc: trial.stage_threads(STUDIES[wc.study])
    conda:
        CONDA_ENV
    script:
        "../scripts/run_analysis.py"
