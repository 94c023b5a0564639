# Stage 3: the study cohort: the study's own SQL (schema study) over the concepts.


if SOURCE_KIND != "cohort_file":

    rule cohort:
        """Eligibility, exposure, outcome and covariates for one study; the attrition table."""
        input:
            # the study's own MIMIC-IV tables and SQL files (an emar exposure adds hosp/emar)
            tables=lambda w: parquet_files(STUDY_TABLES[w.study]),
            manifest=f"{PARQUET}/manifest.json",
            concepts=CONCEPTS,
            study=study_files,
            sql=lambda w: STUDY_SQL[w.study],
        output:
            cohort=f"{RESULTS_SOURCE}/{{study}}/{artifacts.COHORT.name}",
            # exact counts, for the analyst: not embedded in snakemake --report (the exports are)
            attrition=f"{RESULTS_SOURCE}/{{study}}/{artifacts.ATTRITION.name}",
            missingness=f"{RESULTS_SOURCE}/{{study}}/{artifacts.MISSINGNESS.name}",
        params:
            study=study_params,
            tables_from=tables_from,
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


else:

    rule import_cohort:
        """A cohort table exported from another engine (BigQuery) as the study's cohort."""
        input:
            cohort_file=COHORT_FILE,
            study=study_files,
        output:
            cohort=f"{RESULTS_SOURCE}/{{study}}/{artifacts.COHORT.name}",
            attrition=f"{RESULTS_SOURCE}/{{study}}/{artifacts.ATTRITION.name}",
            missingness=f"{RESULTS_SOURCE}/{{study}}/{artifacts.MISSINGNESS.name}",
        params:
            study=study_params,
        log:
            f"logs/{SOURCE}/import_cohort/{{study}}.log",
        threads: 1
        conda:
            CONDA_ENV
        script:
            "../scripts/import_cohort.py"

    rule cohort_file_manifest:
        """The data manifest of a cohort-file source (the file's rows, size and SHA-256)."""
        input:
            cohort_file=COHORT_FILE,
        output:
            manifest=f"{PARQUET}/manifest.json",
        log:
            f"logs/{SOURCE}/cohort_file_manifest.log",
        conda:
            CONDA_ENV
        script:
            "../scripts/import_cohort.py"
