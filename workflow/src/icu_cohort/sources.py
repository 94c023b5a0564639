"""Where MIMIC-IV lives: the data sources besides PhysioNet's csv.gz folder.

* A **mimic-code DuckDB database** (``duckdb_database``): its ``mimiciv_hosp`` /
  ``mimiciv_icu`` schemas are read in place: the file is ATTACHed read-only and each table
  becomes a view with the catalogue's columns cast to the catalogue's types
  (:mod:`icu_cohort.mimic_tables`), so the SQL sees exactly what the Parquet copy of a csv.gz
  download holds. Nothing is converted.
* A **mimic-code PostgreSQL database** (``source=postgresql://...``): each needed table is
  exported once (``COPY (SELECT <catalogue columns> FROM mimiciv_x.t) TO STDOUT (FORMAT csv,
  HEADER)``, streamed through psycopg 3) into a temporary ``.csv.gz`` and converted by the very
  function that converts PhysioNet's files (:func:`icu_cohort.loader.convert_table`), so the
  Parquet files -- and everything downstream -- are those of a csv.gz run.

  Why not DuckDB's ``postgres`` extension: ``INSTALL postgres`` downloads from DuckDB's own
  server, and the extension's PyPI packages (``duckdb-extension-postgres``, newest 1.5.5) are
  built for one DuckDB version each and refuse to load in this project's DuckDB 2.x ("built
  specifically for DuckDB version 'v1.5.5'"). A Python driver works with any DuckDB.

Both are checked before any job runs (:func:`check_postgres`, :func:`check_duckdb_database`):
an unreachable server, refused credentials, a missing file, schema, table or column each raise
their own :class:`SourceError` subclass, naming it, and nothing is written.

Credentials: the workflow takes the password from ``PGPASSWORD`` or ``~/.pgpass`` (libpq's own
ways) and refuses a URI holding one (Snakemake writes its command line into its log).
:func:`redact` removes user and password from a URI; only redacted URIs reach the source name,
logs, error messages and manifests.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import time
from pathlib import Path
from typing import Iterable

import duckdb

from icu_cohort.mimic_tables import TableSpec, table

#: The alias the attached mimic-code DuckDB database gets in a connection.
DUCKDB_ALIAS = "mimic_src"
#: The schemas mimic-code's builds create (and the catalogue's ``TableSpec.schema``).
SCHEMAS = ("mimiciv_hosp", "mimiciv_icu")


class SourceError(ValueError):
    """A data source cannot be used; the message names the source (never its password)."""


class SourceUnreachableError(SourceError):
    """The database server does not answer, or the database file cannot be opened."""


class SourceAuthError(SourceError):
    """The server refused the user name or password."""


class MissingSchemaError(SourceError):
    """The database has no ``mimiciv_hosp`` or ``mimiciv_icu`` schema."""


class MissingTableError(SourceError):
    """A table the SQL needs is absent from the database."""


class MissingColumnError(SourceError):
    """A needed table lacks one of the catalogue's columns."""


class DataCheckError(SourceError):
    """A table of the source fails a data check (:mod:`icu_cohort.checks`): a duplicated or
    empty primary key, impossible ages or dates."""


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def _clean_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "db"


def exclusive_source_keys(cfg: dict) -> list[str]:
    """The data-source keys set in a validated config; more than one is an error."""
    keys = [k for k in ("mimic_dir", "source", "duckdb_database", "cohort_file") if cfg.get(k)]
    if len(keys) > 1:
        raise SourceError(
            f"set at most one data source; the configuration sets {', '.join(keys)} "
            "(mimic_dir: a csv.gz folder; source: a PostgreSQL URI; duckdb_database: a DuckDB file; "
            "cohort_file: an exported cohort table)"
        )
    return keys


def _check_columns(have: dict[str, dict[str, str]], keys: Iterable[str], where: str,
                   schemas: set[str] | None = None) -> None:
    """``have``: ``{"mimiciv_hosp.patients": {lower-case column: column}}``. Raise the first kind
    of problem found, listing every instance of it: missing schemas, then tables, then columns.
    Column names match case-insensitively (mimic-code's builds fold PhysioNet's upper-case
    ``ORIGINALAMOUNT`` to lower case)."""
    keys = sorted(set(keys))
    schemas_present = {name.split(".")[0] for name in have} | set(schemas or ())
    missing_schemas = sorted({table(k).schema for k in keys} - schemas_present)
    if missing_schemas:
        raise MissingSchemaError(
            f"{where}: schema(s) {', '.join(missing_schemas)} not found (expected mimic-code's layout: "
            "schemas mimiciv_hosp and mimiciv_icu)"
        )
    missing_tables = [table(k).qualified for k in keys if table(k).qualified not in have]
    if missing_tables:
        raise MissingTableError(f"{where}: table(s) not found: {', '.join(missing_tables)}")
    problems = []
    for k in keys:
        spec = table(k)
        absent = [c for c in spec.column_names if c.lower() not in have[spec.qualified]]
        if absent:
            problems.append(f"{spec.qualified} lacks column(s) {', '.join(absent)}")
    if problems:
        raise MissingColumnError(f"{where}: " + "; ".join(problems))


# --------------------------------------------------------------------------------------------
# A mimic-code DuckDB database
# --------------------------------------------------------------------------------------------


def duckdb_source(path: str | Path) -> str:
    """The data-source name of a DuckDB database file: ``duckdb-mimic4-1a2b3c4d`` (the file's
    stem and a short hash of its absolute path)."""
    path = Path(path).expanduser().resolve()
    return f"duckdb-{_clean_name(path.stem)}-{_short_hash(str(path))}"


def _attach(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    if not path.is_file():
        raise SourceUnreachableError(f"duckdb_database {path}: file not found")
    try:
        con.execute(f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS {DUCKDB_ALIAS} (READ_ONLY)")
    except duckdb.Error as exc:
        raise SourceUnreachableError(
            f"duckdb_database {path}: cannot be opened read-only as a DuckDB database "
            f"({str(exc).splitlines()[0]})"
        ) from exc


def _duckdb_columns(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    rows = con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        f"WHERE table_catalog = '{DUCKDB_ALIAS}'"
    ).fetchall()
    return _by_table(rows)


def _by_table(rows) -> dict[str, dict[str, str]]:
    have: dict[str, dict[str, str]] = {}
    for schema, name, column in rows:
        have.setdefault(f"{schema.lower()}.{name.lower()}", {})[column.lower()] = column
    return have


def check_duckdb_database(path: str | Path, table_keys: Iterable[str],
                          found: dict[str, dict] | None = None) -> dict[str, int]:
    """Check that the database file holds every needed table with the catalogue's columns and
    passes the data checks of :mod:`icu_cohort.checks` (as a csv.gz table does when it is
    converted: :class:`DataCheckError` for an error); return ``{table_key: rows}``. ``found``,
    if given, receives per checked table ``{"table", "rows", "checks", "warnings"}`` (the
    loader's load report). Opens the file read-only; writes nothing."""
    from icu_cohort import checks

    path = Path(path).expanduser().resolve()
    con = duckdb.connect()
    try:
        _attach(con, path)
        schemas = {r[0].lower() for r in con.execute(
            f"SELECT schema_name FROM information_schema.schemata WHERE catalog_name = '{DUCKDB_ALIAS}'").fetchall()}
        have = _duckdb_columns(con)
        _check_columns(have, table_keys, f"duckdb_database {path}", schemas)
        rows = {k: con.execute(f"SELECT count(*) FROM {DUCKDB_ALIAS}.{table(k).qualified}").fetchone()[0]
                for k in sorted(set(table_keys))}
        for key in sorted(set(table_keys)):
            spec = table(key)
            if not checks.has_checks(spec):
                continue
            rel = f"({_cast_select(spec, f'{DUCKDB_ALIAS}.{spec.qualified}', have[spec.qualified])})"
            result = checks.check_relation(con, rel, spec)
            if result.errors:
                raise DataCheckError(f"duckdb_database {path}: " + "; ".join(result.errors))
            if found is not None:
                found[key] = {"table": spec.qualified, "rows": int(rows[key]), "checks": result.counts,
                              "warnings": [f"{spec.qualified}: {w}" for w in result.warnings]}
        return rows
    finally:
        con.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cast_select(spec: TableSpec, relation: str, actual: dict[str, str]) -> str:
    cols = ", ".join(f"CAST({_quote(actual[c.lower()])} AS {t}) AS {_quote(c)}" for c, t in spec.columns)
    return f"SELECT {cols} FROM {relation}"


def attach_duckdb_database(con: duckdb.DuckDBPyConnection, path: str | Path, table_keys: Iterable[str]) -> None:
    """Give ``con`` views ``mimiciv_hosp.<t>`` / ``mimiciv_icu.<t>`` over the database file's
    tables, with the catalogue's columns and types (ATTACH ... READ_ONLY; nothing is copied)."""
    path = Path(path).expanduser().resolve()
    _attach(con, path)
    keys = sorted(set(table_keys))
    have = _duckdb_columns(con)
    _check_columns(have, keys, f"duckdb_database {path}")
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS memory.{schema}")
    for key in keys:
        spec = table(key)
        con.execute(f"CREATE OR REPLACE VIEW memory.{spec.qualified} AS "
                    f"{_cast_select(spec, f'{DUCKDB_ALIAS}.{spec.qualified}', have[spec.qualified])}")


def duckdb_manifest(path: str | Path, rows: dict[str, int], found: dict[str, dict] | None = None) -> dict:
    """The data manifest (as :func:`icu_cohort.loader.data_manifest` writes for a folder) of a
    DuckDB database source: the file's size and date, each table's rows and, from ``found``
    (:func:`check_duckdb_database`), its data checks and ``warnings``."""
    from datetime import datetime, timezone

    path = Path(path).expanduser().resolve()
    stat = path.stat()
    return {
        "source": str(path),
        "kind": "duckdb",
        "mimic_version": None,
        "database": {"size_bytes": stat.st_size,
                     "mtime": datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc).isoformat(timespec="seconds")},
        "tables": [{"table": table(k).qualified, "rows": int(n),
                    **({"checks": found[k]["checks"], "warnings": found[k]["warnings"]} if found and k in found else {})}
                   for k, n in sorted(rows.items())],
        "warnings": [w for k in sorted(found or {}) for w in found[k]["warnings"]],
    }


# --------------------------------------------------------------------------------------------
# A mimic-code PostgreSQL database
# --------------------------------------------------------------------------------------------


def _conninfo(url: str) -> dict:
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError; its text may quote the URI
        raise SourceError(f"source {redact(url)}: not a valid PostgreSQL URI ({type(exc).__name__})") from None


def redact(url: str) -> str:
    """``url`` without user name and password: ``postgresql://host:5432/mimiciv``. Query
    options other than host, port and dbname are dropped too (one could be a password)."""
    m = re.match(r"^(postgres(?:ql)?)://(?:[^@/?#]*@)?([^/?#]*)(/[^?#]*)?", url or "")
    if not m:
        return "postgresql://<unparsable URI>"
    return f"{m.group(1)}://{m.group(2)}{m.group(3) or ''}"


def _where(info: dict) -> tuple[str, str, str]:
    host = info.get("host") or os.environ.get("PGHOST") or "localhost"
    port = str(info.get("port") or os.environ.get("PGPORT") or "5432")
    dbname = info.get("dbname") or os.environ.get("PGDATABASE") or info.get("user") or "postgres"
    return host, port, dbname


def postgres_source(url: str) -> str:
    """The data-source name of a PostgreSQL database: ``postgres-<dbname>-<hash>``, the hash of
    host, port and database name only (never of the user or password)."""
    host, port, dbname = _where(_conninfo(url))
    return f"postgres-{_clean_name(dbname)}-{_short_hash(f'{host}:{port}/{dbname}')}"


def postgres_password(url: str) -> str | None:
    """The password written in ``url``, if any (the workflow refuses such a URI)."""
    return _conninfo(url).get("password")


def _pg_connect(url: str, timeout: int = 10):
    import psycopg

    where = redact(url)
    try:
        return psycopg.connect(url, connect_timeout=timeout, autocommit=True)
    except psycopg.OperationalError as exc:
        text = str(exc)
        if re.search(r"password authentication failed|authentication failed|no password supplied|"
                     r"role .* does not exist|pg_hba\.conf", text):
            raise SourceAuthError(
                f"source {where}: the server refused the credentials (give the password through "
                "PGPASSWORD or ~/.pgpass)"
            ) from None
        if re.search(r"database .* does not exist", text):
            raise SourceUnreachableError(f"source {where}: the database does not exist on that server") from None
        raise SourceUnreachableError(
            f"source {where}: the server cannot be reached ({_first_line_without_secrets(text, url)})"
        ) from None


def _first_line_without_secrets(text: str, url: str) -> str:
    line = (text.strip().splitlines() or [""])[0]
    password = _conninfo(url).get("password")
    return line.replace(password, "***") if password else line


def _pg_columns(conn) -> dict[str, dict[str, str]]:
    rows = conn.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema IN ('mimiciv_hosp', 'mimiciv_icu')"
    ).fetchall()
    return _by_table(rows)


def check_postgres(url: str, table_keys: Iterable[str]) -> None:
    """Connect, and check that every needed table exists with the catalogue's columns.
    Reads the catalogue only (no table is scanned); writes nothing."""
    with _pg_connect(url) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_catalog.pg_namespace").fetchall()}
        _check_columns(_pg_columns(conn), table_keys, f"source {redact(url)}", schemas)


def _session(conn) -> None:
    # text output exactly as PhysioNet's CSVs write values: ISO dates, shortest exact floats
    conn.execute("SET DateStyle = 'ISO, YMD'")
    conn.execute("SET extra_float_digits = 1")
    conn.execute("SET client_encoding = 'UTF8'")
    conn.execute("SET IntervalStyle = 'postgres'")


def export_postgres_table(url: str, key: str, dst: Path, threads: int = 1, memory_limit: str = "4GB",
                          temp_directory: str | None = None) -> int:
    """Export one table to the typed Parquet file a csv.gz download gives; return its rows.

    Streams ``COPY (SELECT <catalogue columns> FROM <schema.table>) TO STDOUT (FORMAT csv,
    HEADER)`` into a temporary gzip CSV beside ``dst`` and converts it with
    :func:`icu_cohort.loader.convert_table`. Rows are not re-ordered (neither are a csv.gz's).
    """
    from icu_cohort import loader

    spec = table(key)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{spec.name}.{os.getpid()}.export.csv.gz")
    try:
        with _pg_connect(url) as conn:
            have = _pg_columns(conn)
            _check_columns(have, [key], f"source {redact(url)}")
            actual = have[spec.qualified]
            # selected by the database's own (lower-case) names, headed by the catalogue's names
            columns = ", ".join(f"{_quote(actual[c.lower()])} AS {_quote(c)}" for c in spec.column_names)
            _session(conn)
            with conn.cursor() as cur, gzip.open(tmp, "wb", compresslevel=1) as out:
                with cur.copy(f"COPY (SELECT {columns} FROM {spec.qualified}) TO STDOUT (FORMAT csv, HEADER)") as copy:
                    for block in copy:
                        out.write(block)
        try:
            rows = loader.convert_table(tmp, dst, spec, threads, memory_limit, temp_directory)
        except loader.MimicInputError as exc:
            raise SourceError(f"source {redact(url)}, table {spec.qualified}: {exc}".replace(str(tmp), "(export)")) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return rows


def postgres_manifest(url: str, rows: dict[str, int]) -> dict:
    """The data manifest of a PostgreSQL source: the redacted URI and each table's rows."""
    return {
        "source": redact(url),
        "kind": "postgres",
        "mimic_version": None,
        "tables": [{"table": table(k).qualified, "rows": int(n)} for k, n in sorted(rows.items())],
    }


# --------------------------------------------------------------------------------------------
# One connection for the SQL stages, whatever holds the tables
# --------------------------------------------------------------------------------------------


def connect(tables_from: dict, table_keys: Iterable[str], threads: int = 2, memory_limit: str = "4GB",
            temp_directory: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with ``mimiciv_hosp.*`` / ``mimiciv_icu.*`` for ``table_keys``.

    ``tables_from``: ``{"parquet_dir": DIR}`` (the typed Parquet copy: csv.gz, synthetic or
    PostgreSQL sources) or ``{"duckdb_database": FILE}`` (a mimic-code DuckDB database, read in
    place). The concept and study SQL cannot tell the two apart.
    """
    from icu_cohort import loader

    keys = list(table_keys)
    if set(tables_from) == {"parquet_dir"}:
        return loader.connect(Path(tables_from["parquet_dir"]), threads, memory_limit, temp_directory,
                              table_keys=keys)
    if set(tables_from) == {"duckdb_database"}:
        con = loader.connect(Path("."), threads, memory_limit, temp_directory, table_keys=[])
        try:
            attach_duckdb_database(con, tables_from["duckdb_database"], keys)
        except Exception:
            con.close()
            raise
        return con
    raise SourceError(f"tables_from must be {{'parquet_dir': DIR}} or {{'duckdb_database': FILE}}, got {tables_from!r}")


# --------------------------------------------------------------------------------------------
# A cohort table exported from another engine (BigQuery)
# --------------------------------------------------------------------------------------------


def cohort_file_source(path: str | Path) -> str:
    """The data-source name of an imported cohort table: ``cohort-<stem>-<hash of its path>``."""
    path = Path(path).expanduser().resolve()
    stem = path.name.split(".")[0]
    return f"cohort-{_clean_name(stem)}-{_short_hash(str(path))}"


def read_cohort_file(path: str | Path):
    """The exported cohort table (``.parquet`` or ``.csv``/``.csv.gz``) as a DataFrame; a
    missing file, another format or a missing required column is a :class:`SourceError`."""
    import pandas as pd

    from icu_cohort import artifacts

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise SourceUnreachableError(f"cohort_file {path}: file not found")
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            df = pd.read_parquet(path)
        elif name.endswith((".csv", ".csv.gz")):
            df = pd.read_csv(path, float_precision="round_trip")  # exact: pandas' default parser is not
        else:
            raise SourceError(f"cohort_file {path}: expected a .parquet, .csv or .csv.gz file")
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(f"cohort_file {path}: cannot be read ({type(exc).__name__}: {exc})") from None
    df.columns = [str(c).lower() for c in df.columns]
    needed = [c for c in artifacts.COHORT.columns if c != "intime"] + ["intime", "first_dose_hours", "total_dose_g"]
    absent = [c for c in needed if c not in df.columns]
    if absent:
        raise MissingColumnError(
            f"cohort_file {path}: missing column(s) {', '.join(absent)} (expected the columns of study.cohort, "
            "as the last statement of icu-cohort sql writes them)"
        )
    return df


def check_cohort_file(path: str | Path) -> None:
    """Read the cohort file once at start-up; raises :class:`SourceError` naming the problem."""
    read_cohort_file(path)
