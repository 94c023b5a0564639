# Stage 3: the study cohort: the study's own SQL (schema study) over the concepts.


rule cohort:
    """Eligibility, exposure, outcome and covariates for one study; the attrition table."""
    input:
        tables=parquet_files(STUDY_TABLES),
        manifest=f"{PARQUET}/manifest.json",
        concepts=CONCEPTS,
        study=study_files,
        sql=STUDY_SQL,
    output:
        cohort=f"{RESULTS_SOURCE}/{{study}}/{artifacts.COHORT.name}",
        attrition=report(
            f"{RESULTS_SOURCE}/{{study}}/{artifacts.ATTRITION.name}",
            caption="../report/attrition.rst",
            category="Cohort",
            subcategory="{study}",
        ),
        missingness=f"{RESULTS_SOURCE}/{{study}}/{artifacts.MISSINGNESS.name}",
    params:
        study=study_params,
        parquet_dir=lambda w, input: str(Path(input.manifest).parent),
        duckdb=DUCKDB,
    log:
        f"logs/{SOURCE}/cohort/{{study}}.log",
    benchmark:
        f"logs/benchmarks/{SOURCE}/cohort_{{study}}.tsv"
    threads: DUCKDB["threads"]
    conda:
        CONDA_ENV
    script:
        "../scripts/build_cohort.py"
