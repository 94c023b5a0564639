# Stage 2: the derived concepts (schema mimiciv_derived), built once per data source and
# reused by every study: data/concepts/<source>/<table>.parquet and manifest.json.


rule concepts:
    """Every study-independent derived table, in the run order of sql/concepts.txt."""
    input:
        tables=parquet_files(CONCEPT_TABLES),
        sql=CONCEPT_SQL,
    output:
        directory(CONCEPTS),
    params:
        parquet_dir=PARQUET,
        source=SOURCE,
        duckdb=DUCKDB,
    log:
        f"logs/{SOURCE}/concepts.log",
    benchmark:
        f"logs/benchmarks/{SOURCE}/concepts.tsv"
    threads: DUCKDB["threads"]
    script:
        "../scripts/build_concepts.py"
