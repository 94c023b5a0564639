# Stage 2: the derived concepts (schema mimiciv_derived), built once per data source and
# reused by every study: data/concepts/<source>/<table>.parquet and manifest.json.


if SOURCE_KIND != "cohort_file":

    rule concepts:
        """Every study-independent derived table, in the run order of sql/concepts.txt."""
        input:
            tables=parquet_files(CONCEPT_TABLES),
            manifest=f"{PARQUET}/manifest.json",
            sql=CONCEPT_SQL,
        output:
            directory(CONCEPTS),
        params:
            tables_from=tables_from,
            source=SOURCE,
            duckdb=DUCKDB,
        log:
            f"logs/{SOURCE}/concepts.log",
        benchmark:
            f"logs/benchmarks/{SOURCE}/concepts.tsv"
        threads: DUCKDB["threads"]
        conda:
            CONDA_ENV
        script:
            "../scripts/build_concepts.py"
