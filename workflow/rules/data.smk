# Stage 1: the data, by source kind (common.smk). csv.gz (a MIMIC-IV download, or the synthetic
# set generated when no source is configured): a checked one-time conversion of every needed
# table to typed Parquet. PostgreSQL: a one-time export of every needed table to the same
# Parquet files. A DuckDB database: read in place, only its manifest is written. A cohort file:
# nothing (cohort.smk imports it).

if SOURCE_KIND == "synthetic":

    rule synthetic_mimic:
        """Generate the embedded synthetic MIMIC-IV set (PhysioNet's files and formats)."""
        output:
            tables=[f"{MIMIC_DIR}/{spec.relpath}" for spec in TABLES.values()],
            truth=f"{MIMIC_DIR}/ground_truth.json",
            truth_stays=f"{MIMIC_DIR}/ground_truth_stays.csv",
        params:
            patients=CFG["synthetic"]["patients"],
            seed=CFG["synthetic"]["seed"],
            dgp=CFG["synthetic"]["dgp"],
            mimic_version=CFG["synthetic"]["mimic_version"],
            chart_rows=CFG["synthetic"]["chart_rows_per_stay"],
            out=lambda w, output: str(Path(output.truth).parent),
        log:
            f"logs/{SOURCE}/synthetic_mimic.log",
        benchmark:
            f"logs/benchmarks/{SOURCE}/synthetic_mimic.tsv"
        threads: 2
        conda:
            CONDA_ENV
        script:
            "../scripts/synthetic_mimic.py"


if SOURCE_KIND in ("mimic", "synthetic"):

    rule check_mimic:
        """Check every needed table's file and header; record sizes, dates and checksums."""
        input:
            [str(p) for p in SOURCES.values() if p is not None],
        output:
            manifest=f"{PARQUET}/manifest.json",
        params:
            mimic_dir=lambda w, input: mimic_root(input),
            kind=SOURCE_KIND,
            tables=NEEDED_TABLES,
            allow_missing=CFG["allow_missing_tables"],
            checksums=CFG["data_checksums"],
        log:
            f"logs/{SOURCE}/check_mimic.log",
        conda:
            CONDA_ENV
        script:
            "../scripts/check_mimic.py"


    rule mimic_to_parquet:
        """One MIMIC-IV table, CSV (gzip) to typed Parquet, once."""
        input:
            csv=lambda w: [str(p) for p in [SOURCES[f"{w.module}/{w.table}"]] if p is not None],
            manifest=f"{PARQUET}/manifest.json",
        output:
            f"{PARQUET}/{{module}}/{{table}}.parquet",
        params:
            key=lambda w: f"{w.module}/{w.table}",
            memory_limit=DUCKDB["memory_limit"],
            temp_directory=DUCKDB["temp_directory"],
        log:
            f"logs/{SOURCE}/mimic_to_parquet/{{module}}_{{table}}.log",
        benchmark:
            f"logs/benchmarks/{SOURCE}/mimic_to_parquet_{{module}}_{{table}}.tsv"
        threads: 1
        conda:
            CONDA_ENV
        script:
            "../scripts/mimic_to_parquet.py"


if SOURCE_KIND == "postgres":

    rule postgres_to_parquet:
        """One MIMIC-IV table, exported from PostgreSQL to the typed Parquet of a csv.gz, once."""
        output:
            f"{PARQUET}/{{module}}/{{table}}.parquet",
        params:
            key=lambda w: f"{w.module}/{w.table}",
            # never holds a password (common.smk): libpq reads PGPASSWORD or ~/.pgpass
            uri=PG_URI,
            memory_limit=DUCKDB["memory_limit"],
            temp_directory=DUCKDB["temp_directory"],
        log:
            f"logs/{SOURCE}/postgres_to_parquet/{{module}}_{{table}}.log",
        benchmark:
            f"logs/benchmarks/{SOURCE}/postgres_to_parquet_{{module}}_{{table}}.tsv"
        threads: 1
        conda:
            CONDA_ENV
        script:
            "../scripts/postgres_to_parquet.py"

    rule postgres_manifest:
        """The data manifest of a PostgreSQL source: its redacted URI and each table's rows."""
        input:
            parquet_files(NEEDED_TABLES),
        output:
            manifest=f"{PARQUET}/manifest.json",
        params:
            uri=PG_URI,
            table_keys=NEEDED_TABLES,
        log:
            f"logs/{SOURCE}/postgres_manifest.log",
        conda:
            CONDA_ENV
        script:
            "../scripts/source_manifest.py"


if SOURCE_KIND == "duckdb":

    rule duckdb_manifest:
        """The data manifest of a DuckDB database source (read in place, nothing converted)."""
        input:
            database=DUCKDB_DATABASE,
        output:
            manifest=f"{PARQUET}/manifest.json",
        params:
            table_keys=NEEDED_TABLES,
        log:
            f"logs/{SOURCE}/duckdb_manifest.log",
        conda:
            CONDA_ENV
        script:
            "../scripts/source_manifest.py"
