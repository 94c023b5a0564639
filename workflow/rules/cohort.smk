# Stage 2: the study cohort, by the SQL concepts in sql/ run in DuckDB over the Parquet views.


rule cohort:
    """Cohort, exposure, outcome and covariates for one study; the attrition table."""
    input:
        tables=study_parquet,
        study=study_file,
        sql=SQL_FILES,
    output:
        cohort=f"{RESULTS}/{{study}}/cohort.parquet",
        attrition=report(
            f"{RESULTS}/{{study}}/attrition.csv",
            caption="../report/attrition.rst",
            category="Cohort",
            subcategory="{study}",
        ),
        missingness=f"{RESULTS}/{{study}}/covariate_missingness.csv",
    params:
        parquet_dir=PARQUET,
        sql_dir=str(SQL_DIR),
        duckdb=DUCKDB,
    log:
        f"logs/cohort/{{study}}.log",
    benchmark:
        f"logs/benchmarks/cohort_{{study}}.tsv"
    threads: DUCKDB["threads"]
    script:
        "../scripts/build_cohort.py"
