"""Read MIMIC-IV as PhysioNet distributes it, check it, convert it to Parquet once, expose it to SQL.

The first stage of the pipeline:

1. :func:`check_sources` -- before any work, every table the studies need must exist under
   the MIMIC-IV root (``hosp/<table>.csv.gz``, ``icu/<table>.csv.gz``) and its header must hold
   every expected column. One error lists every missing file and every missing column.
2. :func:`convert_table` -- one CSV to one Parquet file, with the types PhysioNet documents
   (:mod:`icu_cohort.mimic_tables`): ids as integers, times as timestamps, ``dod`` as a date.
   Columns are selected by name, so a newer release (3.0, 3.1) with extra columns loads too.
   Written to a temporary file and renamed, so a failure leaves no partial Parquet behind.
3. :func:`connect` -- a DuckDB connection with views ``mimiciv_hosp.<table>`` and
   ``mimiciv_icu.<table>`` over the Parquet files: the schema names of mimic-code's DuckDB and
   PostgreSQL builds, so the same SQL runs on a database built with mimic-code.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import duckdb

from icu_cohort.mimic_tables import TABLES, TableSpec, table


class MimicInputError(ValueError):
    """An input MIMIC-IV file is missing, malformed, or does not have the expected content."""


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def read_header(path: Path) -> list[str]:
    """The column names in the first line of a gzip-compressed CSV file.

    Raises :class:`MimicInputError` naming the file when it is empty, not gzip, or has no header.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise MimicInputError(f"{path}: the file is empty (0 bytes); expected a gzip-compressed CSV")
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            line = handle.readline()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise MimicInputError(
            f"{path}: cannot be read as a gzip-compressed CSV ({exc}); a truncated or corrupt "
            "download? Download the file again from PhysioNet."
        ) from exc
    line = line.rstrip("\r\n")
    if not line:
        raise MimicInputError(f"{path}: no header line; expected a CSV header with column names")
    return [c.strip().strip('"') for c in line.split(",")]


def check_sources(
    mimic_dir: Path, table_keys: Iterable[str], allow_missing: Iterable[str] = ()
) -> dict[str, Path | None]:
    """Check that every needed table exists under ``mimic_dir`` with the expected columns.

    Returns ``{table_key: path}``; a table in ``allow_missing`` that is absent maps to ``None``
    (the loader will substitute an empty table). Raises one :class:`MimicInputError` listing
    every problem found: missing folder, missing files, missing columns (by file).
    """
    mimic_dir = Path(mimic_dir)
    if not mimic_dir.is_dir():
        raise MimicInputError(
            f"mimic_dir {mimic_dir} is not a folder; expected a MIMIC-IV root holding PhysioNet's "
            "hosp/ and icu/ folders of .csv.gz files"
        )
    allowed = set(allow_missing)
    found: dict[str, Path | None] = {}
    problems: list[str] = []
    for key in sorted(set(table_keys)):
        spec = table(key)
        path = mimic_dir / spec.relpath
        if not path.is_file():
            if key in allowed:
                found[key] = None
                continue
            problems.append(
                f"missing file {path} (table {spec.qualified}; columns expected: "
                f"{', '.join(spec.column_names)})"
            )
            continue
        try:
            header = read_header(path)
        except MimicInputError as exc:
            problems.append(str(exc))
            continue
        absent = [c for c in spec.column_names if c not in header]
        if absent:
            problems.append(f"{path}: missing column(s) {', '.join(absent)} (header has: {', '.join(header)})")
            continue
        found[key] = path
    if problems:
        hint = ""
        if any("chartevents" in p and "missing file" in p for p in problems):
            hint = (
                "\nNote: the open MIMIC-IV demo ships without icu/chartevents.csv.gz; to run on it "
                "anyway, add --config allow_missing_tables='[\"icu/chartevents\"]' (GCS, vital "
                "signs and SOFA then see no charted values)."
            )
        raise MimicInputError(
            f"MIMIC-IV input check failed for {mimic_dir}:\n  - " + "\n  - ".join(problems) + hint
        )
    return found


def _duckdb(threads: int = 2, memory_limit: str = "4GB", temp_directory: str | None = None):
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET memory_limit = {_quote_str(memory_limit)}")
    if temp_directory:
        Path(temp_directory).mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {_quote_str(str(temp_directory))}")
    con.execute("SET preserve_insertion_order = false")
    return con


def _select_list(spec: TableSpec) -> str:
    return ", ".join(f"CAST({_quote_ident(c)} AS {t}) AS {_quote_ident(c)}" for c, t in spec.columns)


def _explain_duckdb_error(src: Path, spec: TableSpec, exc: Exception) -> str:
    text = str(exc)
    column = None
    m = re.search(r'[Cc]olumn:?\s*"?([A-Za-z_]+)"?', text)
    if m and m.group(1) in spec.types:
        column = m.group(1)
    if column is None:
        for name in spec.column_names:
            if re.search(rf"\b{re.escape(name)}\b", text):
                column = name
                break
    if "gzip" in text.lower() or "compress" in text.lower() or "zlib" in text.lower():
        return (
            f"{src}: cannot be decompressed ({text.splitlines()[0]}); a truncated or corrupt "
            "download? Download the file again from PhysioNet."
        )
    if column:
        return (
            f"{src}: column {column!r} has a value that is not a valid {spec.types[column]} "
            f"(expected by {spec.qualified}): {text.splitlines()[0]}"
        )
    return f"{src}: could not be read as {spec.qualified}: {text.splitlines()[0]}"


def convert_table(
    src: Path | None,
    dst: Path,
    spec: TableSpec,
    threads: int = 2,
    memory_limit: str = "4GB",
    temp_directory: str | None = None,
) -> int:
    """Convert one MIMIC-IV CSV (gzip) to Parquet with the documented types; return its row count.

    ``src=None`` writes an empty table with the right columns (for an allowed missing table).
    The Parquet file appears at ``dst`` only when complete. A table with a header but no rows,
    a value that does not parse as its column's type, or a corrupt gzip stream raises
    :class:`MimicInputError` naming the file (and the column, where DuckDB says which).
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    con = _duckdb(threads, memory_limit, temp_directory)
    try:
        if src is None:
            cols = ", ".join(f"CAST(NULL AS {t}) AS {_quote_ident(c)}" for c, t in spec.columns)
            query = f"SELECT {cols} WHERE false"
        else:
            header = read_header(src)
            # Every column read as text first; the CASTs below apply the documented types, so a
            # bad value fails here with the column named rather than being sniffed into VARCHAR.
            types = ", ".join(f"{_quote_str(c)}: 'VARCHAR'" for c in header)
            reader = (
                f"read_csv({_quote_str(str(src))}, header = true, delim = ',', quote = '\"', "
                f"escape = '\"', columns = {{{types}}}, compression = 'gzip')"
            )
            query = f"SELECT {_select_list(spec)} FROM {reader}"
        con.execute(
            f"COPY ({query}) TO {_quote_str(str(tmp))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
        )
        n_rows = con.execute(f"SELECT count(*) FROM read_parquet({_quote_str(str(tmp))})").fetchone()[0]
        if src is not None and n_rows == 0:
            raise MimicInputError(
                f"{src}: the table has a header but no rows; expected {spec.qualified} data"
            )
        os.replace(tmp, dst)
        return int(n_rows)
    except MimicInputError:
        raise
    except duckdb.Error as exc:
        raise MimicInputError(_explain_duckdb_error(Path(src) if src else dst, spec, exc)) from exc
    finally:
        con.close()
        if tmp.exists():
            tmp.unlink()


def parquet_path(parquet_dir: Path, key: str) -> Path:
    """Where table ``key`` (``"icu/chartevents"``) lives below ``parquet_dir``."""
    spec = table(key)
    return Path(parquet_dir) / spec.module / f"{spec.name}.parquet"


def convert_tables(
    mimic_dir: Path,
    parquet_dir: Path,
    table_keys: Iterable[str],
    allow_missing: Iterable[str] = (),
    threads: int = 2,
    memory_limit: str = "4GB",
    temp_directory: str | None = None,
) -> dict[str, int]:
    """Check then convert every table; return ``{table_key: rows}``. For scripts and benchmarks."""
    sources = check_sources(mimic_dir, table_keys, allow_missing)
    return {
        key: convert_table(src, parquet_path(parquet_dir, key), table(key), threads, memory_limit, temp_directory)
        for key, src in sources.items()
    }


def connect(
    parquet_dir: Path,
    threads: int = 2,
    memory_limit: str = "4GB",
    temp_directory: str | None = None,
    table_keys: Iterable[str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with ``mimiciv_hosp.*`` / ``mimiciv_icu.*`` views.

    Each view reads one Parquet file written by :func:`convert_table`. ``table_keys`` limits
    the views (default: every table whose Parquet file exists). A requested table without its
    Parquet file raises :class:`MimicInputError` naming the file.
    """
    parquet_dir = Path(parquet_dir)
    con = _duckdb(threads, memory_limit, temp_directory)
    con.execute("CREATE SCHEMA IF NOT EXISTS mimiciv_hosp")
    con.execute("CREATE SCHEMA IF NOT EXISTS mimiciv_icu")
    con.execute("CREATE SCHEMA IF NOT EXISTS mimiciv_derived")
    keys = list(table_keys) if table_keys is not None else list(TABLES)
    for key in keys:
        spec = table(key)
        path = parquet_path(parquet_dir, key)
        if not path.is_file():
            if table_keys is None:
                continue
            raise MimicInputError(f"{path}: Parquet file for {spec.qualified} not found; run the load stage first")
        con.execute(
            f"CREATE OR REPLACE VIEW {spec.qualified} AS SELECT * FROM read_parquet({_quote_str(str(path))})"
        )
    return con


def detect_version(mimic_dir: Path) -> str | None:
    """MIMIC-IV version from the folder name as PhysioNet's download lays it out (``.../mimiciv/2.2``)."""
    for part in reversed(Path(mimic_dir).resolve().parts):
        m = re.search(r"(\d+\.\d+)", part)
        if m:
            return m.group(1)
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def data_manifest(
    mimic_dir: Path,
    sources: dict[str, Path | None],
    kind: str,
    rows: dict[str, int] | None = None,
    checksums: bool = True,
) -> dict:
    """What the report says about the data: source, version, and per file size, date, checksum."""
    tables = []
    for key in sorted(sources):
        path = sources[key]
        entry: dict = {"table": table(key).qualified, "file": table(key).relpath}
        if path is None:
            entry.update({"missing": True, "note": "absent; replaced by an empty table"})
        else:
            stat = path.stat()
            entry.update(
                {
                    "size_bytes": stat.st_size,
                    "mtime": datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc).isoformat(timespec="seconds"),
                    "sha256": _sha256(path) if checksums else None,
                }
            )
        if rows is not None and key in rows:
            entry["rows"] = rows[key]
        tables.append(entry)
    return {
        "source": str(Path(mimic_dir).resolve()),
        "kind": kind,
        "mimic_version": detect_version(mimic_dir) if kind == "mimic" else "2.2 (synthetic)",
        "tables": tables,
    }
