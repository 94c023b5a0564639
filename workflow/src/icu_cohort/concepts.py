"""The concepts stage: every study-independent derived table, built once per data source.

The run order is the plain list ``sql/concepts.txt`` (as mimic-code's ``duckdb.sql``); this
module runs exactly those files, in that order, and nothing else runs concept SQL. A file
that is one query (or statements creating that table) becomes ``mimiciv_derived.<file name>``, under mimic-code's table names
(``age``, ``icustay_detail``, ``gcs``, ``vitalsign``, ``bg``, ``sofa`` over every ICU hour,
``suspicion_of_infection``, ``sepsis3`` with the standard parameters, ``first_day_*``,
``charlson``, ``apsiii``, ...); a file of statements (a staging view, macros) is run as written.

:func:`write_concepts` builds them from the typed Parquet copy of a data source into
``data/concepts/<source>/<table>.parquet`` plus ``manifest.json`` (row counts, build seconds,
the SQL files' hashes). It builds in a temporary folder and renames it at the end, so a
failure names the SQL file and leaves no half-written concept folder. :func:`attach_concepts`
gives a study's connection read-only views of those files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import duckdb

from icu_cohort import __version__, artifacts, sources
from icu_cohort.mimic_tables import table
from icu_cohort.resources import sql_dir as default_sql_dir
from icu_cohort.sqlrun import SqlError, is_query, mimic_tables_read, relations, run_file, sql_literal, strip_comments

log = logging.getLogger("icu_cohort.concepts")

#: The run-order list, relative to the SQL folder.
RUN_LIST = "concepts.txt"
#: The schema of the derived tables (mimic-code's name).
SCHEMA = "mimiciv_derived"
#: The schema of the staging views (source rows the concepts read, e.g. ``stage.chartevents``).
STAGE_SCHEMA = "stage"
#: Schemas the concept SQL creates objects in.
SCHEMAS = (STAGE_SCHEMA, SCHEMA)
#: Where a folder build writes its staged working copies (removed when the build ends).
STAGE_FOLDER = "_stage"


class ConceptError(SqlError):
    """The concepts cannot be built or read: a SQL file failed, a file or table is missing."""


@dataclass(frozen=True)
class ConceptFile:
    """One line of the run list: the SQL file and, for a query, the table it becomes."""

    path: str  # relative to the SQL folder
    table: str | None  # "age" for mimiciv_derived.age; None for a file of statements

    @property
    def qualified(self) -> str | None:
        return f"{SCHEMA}.{self.table}" if self.table else None


def concept_files(sql_dir: Path | None = None) -> list[ConceptFile]:
    """The run list, in order. A listed file that does not exist, or one listed twice, is an
    error naming the list and the line."""
    sql_dir = Path(sql_dir) if sql_dir is not None else default_sql_dir()
    listing = sql_dir / RUN_LIST
    if not listing.is_file():
        raise ConceptError(f"{listing}: the concepts' run-order list is missing")
    out: list[ConceptFile] = []
    seen: set[str] = set()
    for number, line in enumerate(listing.read_text().splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        path = sql_dir / entry
        if not path.is_file():
            raise ConceptError(f"{listing}, line {number}: {entry} does not exist")
        if entry in seen:
            raise ConceptError(f"{listing}, line {number}: {entry} is listed twice")
        seen.add(entry)
        out.append(ConceptFile(entry, Path(entry).stem if _makes_table(path) else None))
    return out


def _makes_table(path: Path) -> bool:
    """A query, or statements creating ``mimiciv_derived.<file name>`` as a table."""
    text = path.read_text()
    if is_query(text):
        return True
    creates = re.compile(rf"\bcreate\s+(or\s+replace\s+)?table\s+{SCHEMA}\.{re.escape(path.stem)}\b", re.IGNORECASE)
    return bool(creates.search(strip_comments(text)))


def concept_tables(sql_dir: Path | None = None) -> list[str]:
    """The names of the derived tables the concepts stage writes, in run order."""
    return [f.table for f in concept_files(sql_dir) if f.table]


def required_tables(sql_dir: Path | None = None) -> list[str]:
    """The MIMIC-IV tables (``"icu/chartevents"``) the concept SQL reads."""
    sql_dir = Path(sql_dir) if sql_dir is not None else default_sql_dir()
    return mimic_tables_read(sql_dir / f.path for f in concept_files(sql_dir))


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_concepts(
    con: duckdb.DuckDBPyConnection,
    sql_dir: Path | None = None,
    out_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Run every concept file on ``con`` (which holds the ``mimiciv_hosp/icu`` tables or views).

    Without ``out_dir`` each concept becomes a table in the connection (for tests on tiny
    hand-built data). With ``out_dir`` each is written to ``out_dir/<table>.parquet`` and
    exposed as a view, so no concept is held in memory; the views a file of statements creates
    in schema ``stage`` are then written once to ``out_dir/_stage/`` and read from there by
    the later files (removed at the end; see :func:`_materialise_stage_views`). Returns one
    record per file:
    ``sql`` (path in the SQL folder), ``sql_sha256``, ``table`` (or None), ``seconds``.
    """
    sql_dir = Path(sql_dir) if sql_dir is not None else default_sql_dir()
    files = concept_files(sql_dir)
    have = relations(con)
    missing = [table(k).qualified for k in mimic_tables_read(sql_dir / f.path for f in files)
               if table(k).qualified.lower() not in have]
    if missing:
        raise ConceptError(
            "MIMIC-IV table(s) not available to the concept SQL: " + ", ".join(missing)
            + " (the loader creates one view per table from its Parquet file; an absent table "
            "such as the demo's chartevents must still be given as an empty view with its columns)"
        )
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    stage_dir = Path(out_dir) / STAGE_FOLDER if out_dir is not None else None
    records = []
    for number, f in enumerate(files, start=1):
        if progress:
            progress(f"concept {number}/{len(files)}: {f.path}")
        copy_to = Path(out_dir) / f"{f.table}.parquet" if (out_dir is not None and f.table) else None
        seconds = run_file(con, sql_dir / f.path, table=f.qualified, copy_to=copy_to)
        if stage_dir is not None and f.table is None:
            seconds += _materialise_stage_views(con, stage_dir, sql_dir / f.path)
        if copy_to is not None and not copy_to.exists():
            # a file of statements that created the table in the connection: export it too
            t0 = time.perf_counter()
            con.execute(f"COPY {f.qualified} TO {sql_literal(str(copy_to))} (FORMAT parquet, COMPRESSION zstd)")
            con.execute(f"DROP TABLE {f.qualified}")
            con.execute(f"CREATE VIEW {f.qualified} AS SELECT * FROM read_parquet({sql_literal(str(copy_to))})")
            seconds += time.perf_counter() - t0
        records.append({"sql": f.path, "sql_sha256": _sha256(sql_dir / f.path), "table": f.table,
                        "seconds": round(seconds, 3)})
    if stage_dir is not None and stage_dir.exists():
        for view in _stage_views(con):
            con.execute(f"DROP VIEW {STAGE_SCHEMA}.{view}")
        shutil.rmtree(stage_dir)
    return records


def _stage_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The names of the views in schema ``stage``, sorted."""
    return [name for (name,) in con.execute(
        f"SELECT view_name FROM duckdb_views() WHERE schema_name = '{STAGE_SCHEMA}' AND NOT internal "
        "ORDER BY view_name").fetchall()]


def _materialise_stage_views(con: duckdb.DuckDBPyConnection, stage_dir: Path, path: Path) -> float:
    """Write each view of schema ``stage`` that is still a view over the source tables (e.g.
    ``stage.chartevents``, chartevents restricted to the concepts' itemids) once to
    ``stage_dir/<view>.parquet`` and point the view at that file; return the seconds taken.

    Why: DuckDB applies a long itemid list after decoding every row of the Parquet scan (an
    IN list is only an "optional" statistics filter there), so each concept reading the view
    decoded all of chartevents (362 M rows on a MIMIC-IV-sized set) again. Written once (one
    scan, the matching rows in their source order, as a single-file COPY keeps it), every later
    reader decodes only the staged rows. The file lives in the build folder and is removed when
    the build ends; it is a working copy, not a concept.
    """
    start = time.perf_counter()
    stage_dir.mkdir(exist_ok=True)
    for name in _stage_views(con):
        target = stage_dir / f"{name}.parquet"
        if target.exists():
            continue  # already staged by an earlier file
        try:
            con.execute(f"COPY (SELECT * FROM {STAGE_SCHEMA}.{name}) TO {sql_literal(str(target))} "
                        "(FORMAT parquet, COMPRESSION zstd)")
            con.execute(f"CREATE OR REPLACE VIEW {STAGE_SCHEMA}.{name} AS "
                        f"SELECT * FROM read_parquet({sql_literal(str(target))})")
        except duckdb.Error as exc:
            raise ConceptError(f"{path}: staging {STAGE_SCHEMA}.{name}: {type(exc).__name__}: {exc}") from exc
        log.info("%-40s -> %-40s %6.2f s", "staged", f"{STAGE_SCHEMA}.{name} ({target.name})",
                 time.perf_counter() - start)
    return time.perf_counter() - start


def write_concepts(
    parquet_dir: Path | None,
    out_dir: Path,
    source: str,
    sql_dir: Path | None = None,
    threads: int = 2,
    memory_limit: str = "4GB",
    temp_directory: str | None = None,
    progress: Callable[[str], None] | None = None,
    duckdb_database: Path | None = None,
) -> dict:
    """Build every concept from one data source's Parquet folder (or, with
    ``duckdb_database``, from a mimic-code DuckDB database read in place) into ``out_dir``.

    Writes ``out_dir/<table>.parquet`` for each derived table and ``out_dir/manifest.json``
    (source, versions, the run list's and each SQL file's SHA-256, rows and seconds per
    table). Built in a temporary folder beside ``out_dir`` and renamed at the end; on any
    failure ``out_dir`` is left as it was. Returns the manifest.
    """
    sql_dir = Path(sql_dir) if sql_dir is not None else default_sql_dir()
    out_dir = Path(out_dir)
    start = time.perf_counter()
    with artifacts.atomic_dir(out_dir) as tmp:
        tables_from = ({"duckdb_database": str(duckdb_database)} if duckdb_database is not None
                       else {"parquet_dir": str(parquet_dir)})
        con = sources.connect(tables_from, required_tables(sql_dir), threads, memory_limit, temp_directory)
        try:
            records = build_concepts(con, sql_dir, tmp, progress)
            for rec in records:
                if rec["table"]:
                    rec["rows"] = con.execute(
                        f"SELECT count(*) FROM read_parquet({sql_literal(str(tmp / (rec['table'] + '.parquet')))})"
                    ).fetchone()[0]
        finally:
            con.close()
        manifest = {
            "source": source,
            "schema": SCHEMA,
            "icu_cohort_version": __version__,
            "duckdb_version": duckdb.__version__,
            "run_list": RUN_LIST,
            "run_list_sha256": _sha256(sql_dir / RUN_LIST),
            "seconds": round(time.perf_counter() - start, 3),
            "tables": [
                {"name": r["table"], "file": f"{r['table']}.parquet", "rows": r["rows"], "seconds": r["seconds"],
                 "sql": r["sql"], "sql_sha256": r["sql_sha256"]}
                for r in records if r["table"]
            ],
            "statements": [
                {"sql": r["sql"], "sql_sha256": r["sql_sha256"], "seconds": r["seconds"]}
                for r in records if not r["table"]
            ],
        }
        artifacts.write_json(manifest, tmp / artifacts.CONCEPTS_MANIFEST.name)
    log.info("concepts of %s: %d tables in %.1f s -> %s", source, len(manifest["tables"]),
             manifest["seconds"], out_dir)
    return manifest


def read_manifest(concepts_dir: Path) -> dict:
    """The concepts folder's manifest; a missing or unreadable one names the folder."""
    path = Path(concepts_dir) / artifacts.CONCEPTS_MANIFEST.name
    if not path.is_file():
        raise ConceptError(
            f"{concepts_dir}: no concepts here ({path.name} missing); build them with the concepts "
            "stage (snakemake, or icu-cohort concepts --mimic-dir DIR --out DIR)"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConceptError(f"{path}: not valid JSON ({exc}); rebuild the concepts") from exc


def attach_concepts(con: duckdb.DuckDBPyConnection, concepts_dir: Path,
                    tables: Iterable[str] | None = None) -> list[str]:
    """Create read-only views ``mimiciv_derived.<table>`` over a concepts folder's Parquet files.

    ``tables`` limits them (default: every table of the manifest); a table not in the
    folder is an error naming it. Returns the table names attached.
    """
    concepts_dir = Path(concepts_dir)
    manifest = read_manifest(concepts_dir)
    available = {t["name"]: concepts_dir / t["file"] for t in manifest["tables"]}
    wanted = list(tables) if tables is not None else list(available)
    absent = [t for t in wanted if t not in available or not available[t].is_file()]
    if absent:
        raise ConceptError(
            f"{concepts_dir}: concept table(s) {', '.join(absent)} not built (the folder has: "
            f"{', '.join(sorted(available))}); rebuild the concepts"
        )
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for name in wanted:
        con.execute(
            f"CREATE OR REPLACE VIEW {SCHEMA}.{name} AS SELECT * FROM read_parquet({sql_literal(str(available[name]))})"
        )
    return wanted
