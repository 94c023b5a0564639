"""Running our SQL files in DuckDB: parameters, one file at a time, errors that name the file.

Used by both SQL layers: the concepts (:mod:`icu_cohort.concepts`, no parameters) and the
study layer (:mod:`icu_cohort.cohort`, the study's values through ``${name}`` placeholders).

A file that is a single query (``SELECT``/``WITH``/...) is materialised into a table by the
caller's choice (:func:`run_file` with ``table=``); a file that starts with another statement
(``CREATE VIEW``, ``CREATE MACRO``) is run as written.

Parameters reach the SQL only through ``${name}`` placeholders (:func:`render_sql`), rendered
as SQL literals: numbers, ``NULL``, quoted and escaped strings, comma-separated lists (for
``IN (...)``) and ``VALUES`` rows. An unknown placeholder is an error naming the file and the
placeholder; there is no other way for configuration text to become SQL.
"""

from __future__ import annotations

import logging
import math
import re
import time
from pathlib import Path
from typing import Any, Iterable

import duckdb

from icu_cohort.mimic_tables import KNOWN_TABLES

log = logging.getLogger("icu_cohort.sql")


class SqlError(RuntimeError):
    """A SQL file failed, is missing, or did not create what it should."""


class SqlTemplateError(SqlError):
    """A SQL file holds a placeholder the parameters do not define, or a malformed one."""


class Rows(list):
    """``VALUES`` rows: a list of equally long tuples, rendered ``(a, b), (c, d)``.

    With no rows it renders one row of ``NULL``s (``width`` of them), which the SQL filters out,
    because ``VALUES`` cannot be empty.
    """

    def __init__(self, rows: Iterable[tuple], width: int):
        super().__init__(rows)
        self.width = width


def sql_literal(value: Any) -> str:
    """A Python value as a SQL literal: the only way configuration reaches the SQL text."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SqlTemplateError(f"cannot use the non-finite number {value!r} in SQL")
        return repr(float(value))
    if isinstance(value, str):
        if "\x00" in value:
            raise SqlTemplateError("a string for SQL contains a NUL character")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, Rows):
        if not value:
            return "(" + ", ".join(["NULL"] * value.width) + ")"
        for row in value:
            if len(row) != value.width:
                raise SqlTemplateError(f"VALUES row {row!r} does not have {value.width} columns")
        return ", ".join(sql_literal(tuple(row)) for row in value)
    if isinstance(value, tuple):
        return "(" + ", ".join(sql_literal(v) for v in value) + ")"
    if isinstance(value, (list, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        # an empty IN list: IN (NULL) matches nothing
        return ", ".join(sql_literal(v) for v in items) if items else "NULL"
    raise SqlTemplateError(f"cannot render {type(value).__name__} value {value!r} as SQL")


_PLACEHOLDER = re.compile(r"\$\{([^{}]*)\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def render_sql(text: str, params: dict[str, Any], source: str = "<sql>") -> str:
    """Replace every ``${name}`` in ``text`` by ``sql_literal(params[name])``.

    An unknown name, a malformed placeholder or a stray ``${`` raises
    :class:`SqlTemplateError` naming ``source`` and the placeholder.
    """

    def repl(match: re.Match) -> str:
        name = match.group(1)
        if not _NAME.match(name):
            raise SqlTemplateError(f"{source}: malformed placeholder ${{{name}}}")
        if name not in params:
            raise SqlTemplateError(
                f"{source}: unknown placeholder ${{{name}}} (defined: {', '.join(sorted(params)) or 'none'})"
            )
        return sql_literal(params[name])

    out = _PLACEHOLDER.sub(repl, text)
    if "${" in out:
        line = out[: out.index("${")].count("\n") + 1
        raise SqlTemplateError(f"{source}: unterminated placeholder '${{' on line {line}")
    return out


def strip_comments(text: str) -> str:
    """SQL text without ``--`` and ``/* */`` comments."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", " ", text)


_QUERY_START = re.compile(r"^\s*\(?\s*(with|select|from|values|pivot|unpivot)\b", re.IGNORECASE)


def is_query(text: str) -> bool:
    """Whether SQL text is one query (to be materialised) rather than statements to run."""
    return bool(_QUERY_START.match(strip_comments(text)))


_MIMIC_REF = re.compile(r"\bmimiciv_(hosp|icu)\.([a-z_][a-z0-9_]*)", re.IGNORECASE)


def mimic_tables_read(paths: Iterable[Path]) -> list[str]:
    """The MIMIC-IV tables (``"icu/chartevents"``) that the given SQL files read.

    Found from their ``mimiciv_hosp.*`` / ``mimiciv_icu.*`` references (comments ignored); a
    reference to a table the catalogue does not know is an error naming the file.
    """
    keys: set[str] = set()
    for path in paths:
        for module, name in _MIMIC_REF.findall(strip_comments(Path(path).read_text())):
            key = f"{module.lower()}/{name.lower()}"
            if key not in KNOWN_TABLES:
                raise SqlError(f"{path}: reads mimiciv_{module}.{name}, which is not a known MIMIC-IV table")
            keys.add(key)
    return sorted(keys)


def relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Every ``schema.name`` table or view of the connection, lower case."""
    rows = con.execute("SELECT table_schema || '.' || table_name FROM information_schema.tables").fetchall()
    return {r[0].lower() for r in rows}


def run_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    params: dict[str, Any] | None = None,
    table: str | None = None,
    copy_to: Path | None = None,
) -> float:
    """Run one SQL file on ``con``; return its duration in seconds. Errors name the file.

    With ``table`` (``schema.name``), a file that is one query is materialised: as
    ``CREATE OR REPLACE TABLE`` in the connection, or, with ``copy_to``, written to that
    Parquet file and exposed as a view of the same name (so the table is never held in
    memory). A file of statements is run as written and must create ``table`` if given.
    """
    path = Path(path)
    if not path.is_file():
        raise SqlError(f"{path}: SQL file not found" + (f" (it creates {table})" if table else ""))
    sql = render_sql(path.read_text(), params or {}, str(path))
    start = time.perf_counter()
    try:
        if table is not None and is_query(sql):
            body = sql.rstrip().rstrip(";")
            if copy_to is None:
                con.execute(f"CREATE OR REPLACE TABLE {table} AS\n{body}\n")
            else:
                target = sql_literal(str(copy_to))
                con.execute(f"COPY (\n{body}\n) TO {target} (FORMAT parquet, COMPRESSION zstd)")
                con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet({target})")
        else:
            con.execute(sql)
    except duckdb.Error as exc:
        raise SqlError(f"{path}: {type(exc).__name__}: {exc}") from exc
    if table is not None and table.lower() not in relations(con):
        raise SqlError(f"{path}: ran, but did not create {table}")
    seconds = time.perf_counter() - start
    log.info("%-40s -> %-40s %6.2f s", "/".join(path.parts[-2:]), table or "(statements)", seconds)
    return seconds
