"""A study's complete SQL for another engine (BigQuery, PostgreSQL), transpiled from our DuckDB SQL by SQLGlot.

``icu-cohort sql --dialect bigquery|postgres --study S`` writes, in run order:

1. the concepts the study needs (the closure of its ``mimiciv_derived.*`` references over
   ``sql/concepts.txt``), each as ``CREATE OR REPLACE TABLE <derived dataset>.<name>``;
2. the study layer with the study's parameters rendered (:func:`icu_cohort.cohort.sql_params`),
   its criteria as ``final_stay`` (:func:`icu_cohort.cohort.final_stay_sql`) and ``cohort``, in
   the study dataset;
3. the final query, ``SELECT * FROM <study dataset>.cohort ORDER BY stay_id`` with, for a study
   with secondary outcomes, each one's two columns ``<name>`` and ``<name>_time_days`` from
   ``outcome_secondary`` (:func:`final_query_sql`; the DuckDB pipeline adds the same columns in
   :func:`icu_cohort.cohort.build_cohort`): export its result (Parquet or CSV) and give it to the
   analysis stage with ``--config cohort_file=FILE``.

Datasets. MIMIC-IV is read from PhysioNet's BigQuery datasets (``physionet-data.mimiciv_3_1_hosp``
and ``..._icu``), or from mimic-code's PostgreSQL schemas ``mimiciv_hosp`` / ``mimiciv_icu``.
Our derived tables are written to a dataset (schema) of the user's
(``--derived-dataset``), not read from ``physionet-data.mimiciv_3_1_derived``: ours follow
mimic-code but differ in places (``sofa`` over every ICU hour, ``sepsis3``'s tie-breaking,
extra concepts such as ``cam_icu``), and the cohort must be the one the DuckDB pipeline gives.
The study's own tables go to ``--study-dataset``; ``stage.x`` becomes ``<derived>.stage_x``.

The DuckDB SQL stays the one definition: nothing in ``sql/`` is written twice for another
engine. Where DuckDB has a form another engine lacks, the transpiler rewrites it (below),
rather than ``sql/`` being restricted to the engines' common subset: the DuckDB forms (PIVOT,
ASOF, ``* EXCLUDE``, ...) are what keep our files close to mimic-code's and short, and the
rewrites are each tested against DuckDB's own answer.

What needed care for BigQuery (DuckDB features with no direct BigQuery form; for PostgreSQL
see :func:`for_postgres`):

* **Macros** (``CREATE MACRO``): BigQuery has none. The scalar SOFA macros of
  ``sql/score/sofa_organ_scores.sql`` are inlined at each call with their arguments
  substituted; the table macro ``sepsis3_rule`` of ``sql/sepsis/sepsis3_rule.sql`` becomes a
  subquery in the ``FROM`` clause that called it. :func:`expand_macros`.
* Everything else (``PIVOT``, ``unnest(range())``, ``to_seconds`` intervals, ``epoch``, date
  arithmetic, ``NULLS LAST`` defaults, ``QUALIFY``...) is SQLGlot's own transpilation; a
  statement SQLGlot cannot write for the target dialect is reported by
  :class:`TranspileError` naming the source file, never written half-translated.

The tests (``tests/test_export_sql.py``) check that every statement parses in SQLGlot's
BigQuery dialect and that the BigQuery text, transpiled back to DuckDB, gives exactly the
cohort of :func:`icu_cohort.cohort.build_cohort` on a synthetic set. BigQuery itself cannot be
reached from the test machine: semantic differences that only BigQuery shows (such as its
handling of an unsupported type) are not tested. The PostgreSQL text is run on a real
PostgreSQL server (``tests/test_sources.py``): every table it creates equals DuckDB's row for
row (the plain, unordered means of ``first_day_vitalsign`` to their last bits, whose DuckDB
value itself depends on DuckDB's plan), and the cohort equals the pipeline's exactly.
"""

from __future__ import annotations

import functools

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from icu_cohort import cohort, concepts
from icu_cohort.resources import sql_dir as default_sql_dir
from icu_cohort.sqlrun import SqlError, is_query, render_sql, strip_comments
from icu_cohort.study import Study

#: PhysioNet's BigQuery datasets of MIMIC-IV 3.1 (project physionet-data).
BIGQUERY_HOSP = "physionet-data.mimiciv_3_1_hosp"
BIGQUERY_ICU = "physionet-data.mimiciv_3_1_icu"
DERIVED_DATASET = "icu_cohort_derived"
SQLGLOT_DIALECTS = {"bigquery": "bigquery", "duckdb": "duckdb", "postgres": "postgres"}


# SQLGlot logs a warning for every statement it keeps as a command (our CREATE MACRO files,
# which are inlined instead) and for star queries under CTE column lists (rewritten here).
logging.getLogger("sqlglot").setLevel(logging.ERROR)


class TranspileError(SqlError):
    """A statement cannot be written for the target dialect; names the SQL file."""


@dataclass(frozen=True)
class Statement:
    """One statement of a study's SQL: where it comes from and what it creates."""

    source: str  # the SQL file (relative to sql/) or "(criteria)" / "(final query)"
    creates: str | None  # "mimiciv_derived.age", "study.cohort", None for the final query
    sql: exp.Expression  # DuckDB dialect, macros expanded, original names


@dataclass(frozen=True)
class Macro:
    name: str
    params: tuple[str, ...]
    body: exp.Expression  # an expression (scalar macro) or a query (table macro)
    is_table: bool


_MACRO = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?MACRO\s+(\w+)\s*\(([^)]*)\)\s+AS\s+(TABLE\s+)?(.*?)(?:;|\Z)",
                    re.IGNORECASE | re.DOTALL)
_CREATES = re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:TABLE|VIEW)\s+(\w+\.\w+)", re.IGNORECASE)
_REFS = re.compile(r"\b(mimiciv_derived|stage)\.(\w+)", re.IGNORECASE)


def read_macros(text: str) -> dict[str, Macro]:
    """The ``CREATE MACRO`` definitions in a SQL file's text."""
    out = {}
    for name, params, table_kw, body in _MACRO.findall(strip_comments(text)):
        names = tuple(p.strip().lower() for p in params.split(",") if p.strip())
        if table_kw:
            parsed = sqlglot.parse_one(body, read="duckdb")
        else:
            parsed = sqlglot.parse_one(f"SELECT {body}", read="duckdb").expressions[0]
        out[name.lower()] = Macro(name.lower(), names, parsed, bool(table_kw))
    return out


def _substitute(macro: Macro, args: list[exp.Expression]) -> exp.Expression:
    if len(args) != len(macro.params):
        raise TranspileError(f"macro {macro.name} takes {len(macro.params)} arguments, got {len(args)}")
    values = dict(zip(macro.params, args))

    def repl(node):
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in values:
            return exp.Paren(this=values[node.name.lower()].copy())
        return node

    return macro.body.copy().transform(repl)


def expand_macros(tree: exp.Expression, macros: dict[str, Macro]) -> exp.Expression:
    """``tree`` with every call of a scalar macro replaced by its body (arguments substituted)
    and every table macro in a ``FROM``/``JOIN`` replaced by a subquery of its body."""

    def repl(node):
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous):
            macro = macros.get(node.this.name.lower())
            if macro and macro.is_table:
                alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(macro.name))
                return exp.Subquery(this=expand_macros(_substitute(macro, node.this.expressions), macros),
                                    alias=alias.copy())
        if isinstance(node, exp.Anonymous):
            macro = macros.get(node.name.lower())
            if macro and not macro.is_table:
                return exp.Paren(this=expand_macros(_substitute(macro, node.expressions), macros))
        return node

    return tree.transform(repl)


def _creates(sql_dir: Path) -> dict[str, str]:
    """``{"mimiciv_derived.age": "demographics/age.sql", "stage.chartevents": ...}``."""
    out = {}
    for f in concepts.concept_files(sql_dir):
        if f.table:
            out[f.qualified] = f.path
        for name in _CREATES.findall(strip_comments((sql_dir / f.path).read_text())):
            out.setdefault(name.lower(), f.path)
    return out


def needed_concept_files(sql_dir: Path | None = None) -> list[str]:
    """The concept files the study layer needs, directly or through other concepts, in run order
    (macro files included where a needed file calls one of their macros)."""
    sql_dir = Path(sql_dir) if sql_dir is not None else default_sql_dir()
    creates = _creates(sql_dir)
    macro_files = {}
    for f in concepts.concept_files(sql_dir):
        for name in read_macros((sql_dir / f.path).read_text()):
            macro_files[name] = f.path

    def deps(text: str) -> set[str]:
        text = strip_comments(text)
        found = {creates[f"{s.lower()}.{t.lower()}"] for s, t in _REFS.findall(text)
                 if f"{s.lower()}.{t.lower()}" in creates}
        found |= {path for name, path in macro_files.items() if re.search(rf"\b{name}\s*\(", text, re.IGNORECASE)}
        return found

    todo = set()
    for path in cohort.STUDY_FILES:
        todo |= deps((sql_dir / path).read_text())
    needed: set[str] = set()
    while todo:
        path = todo.pop()
        if path in needed:
            continue
        needed.add(path)
        todo |= deps((sql_dir / path).read_text()) - needed
    return [f.path for f in concepts.concept_files(sql_dir) if f.path in needed]


def study_statements(study: Study, sql_dir: Path | None = None) -> list[Statement]:
    """Every statement of the study, in run order, as DuckDB syntax trees with macros expanded."""
    sql_dir = Path(sql_dir) if sql_dir is not None else default_sql_dir()
    params = cohort.sql_params(study)
    files = {f.path: f for f in concepts.concept_files(sql_dir)}
    concept_texts = tuple((path, files[path].qualified, (sql_dir / path).read_text())
                          for path in needed_concept_files(sql_dir))
    # the concepts are the same for every study: parsed once per process (copies handed out)
    parsed, concept_macros = _parsed_statements(concept_texts)
    out = [Statement(st.source, st.creates, st.sql.copy()) for st in parsed]
    macros = dict(concept_macros)
    after_criteria = cohort.covariate_steps(study)  # the study's own exposure-event file
    targets = dict(cohort.ELIGIBILITY + after_criteria)
    texts: list[tuple[str, str | None, str]] = []  # (source, table for a query file, text)
    for path in cohort.study_files(study):
        if path in files and path in dict((t[0], 1) for t in concept_texts):
            continue  # a macro file already listed among the concepts
        text = render_sql((sql_dir / path).read_text(), params, path)
        texts.append((path, targets.get(path), text))
    for source, target, text in texts:
        file_macros = read_macros(text)
        if file_macros:
            macros.update(file_macros)
            continue
        if source == after_criteria[0][0]:
            out.append(Statement("(criteria)", "study.final_stay",
                                 sqlglot.parse_one(cohort.final_stay_sql(study), read="duckdb")))
        out += _file_statements(source, target, text, macros)
    out.append(Statement("(final query)", None, sqlglot.parse_one(final_query_sql(study), read="duckdb")))
    return out


def _file_statements(source: str, target: str | None, text: str, macros: dict[str, Macro]) -> list[Statement]:
    """One SQL file's statements as DuckDB trees, macros expanded (a query file becomes
    ``CREATE OR REPLACE TABLE target AS`` its query)."""
    if is_query(text):
        body = text.strip().rstrip(";")
        trees = [sqlglot.parse_one(f"CREATE OR REPLACE TABLE {target} AS\n{body}", read="duckdb")]
    else:
        trees = [t for t in sqlglot.parse(text, read="duckdb") if t is not None]
    out = []
    for tree in trees:
        made = _CREATES.search(tree.sql(dialect="duckdb"))
        out.append(Statement(source, made.group(1).lower() if made else None, expand_macros(tree, macros)))
    return out


@functools.lru_cache(maxsize=4)
def _parsed_statements(texts: tuple[tuple[str, str | None, str], ...]) -> tuple[tuple[Statement, ...], dict[str, Macro]]:
    """The statements of ``texts`` ((source, target, text) in run order) and the macros they
    define; cached on the texts themselves (callers copy the trees before changing them)."""
    macros: dict[str, Macro] = {}
    out: list[Statement] = []
    for source, target, text in texts:
        file_macros = read_macros(text)
        if file_macros:
            macros.update(file_macros)
            continue
        out += _file_statements(source, target, text, macros)
    return tuple(out), macros


def final_query_sql(study: Study) -> str:
    """The script's last statement, in DuckDB SQL: every row of ``study.cohort``, and for each
    secondary outcome of the study (``outcome.secondary``) its event (0/1, BIGINT) and time
    (days, DOUBLE) from ``study.outcome_secondary`` under the column names of
    :func:`icu_cohort.cohort.secondary_outcome_columns`, in the study's order; by ``stay_id``."""
    specs = study["outcome"]["secondary"]
    if not specs:
        return "SELECT * FROM study.cohort ORDER BY stay_id"
    names = cohort.secondary_outcome_columns(study)
    columns, joins = ["c.*"], []
    for i, spec in enumerate(specs):
        event, time = names[2 * i], names[2 * i + 1]
        alias = f"s{i}"
        columns += [f"CAST({alias}.event AS BIGINT) AS {event}", f"CAST({alias}.time_days AS DOUBLE) AS {time}"]
        joins.append(f"LEFT JOIN study.outcome_secondary AS {alias} ON {alias}.stay_id = c.stay_id "
                     f"AND {alias}.name = '{spec['name']}'")  # a schema identifier: [a-z][a-z0-9_]*
    return f"SELECT {', '.join(columns)} FROM study.cohort AS c {' '.join(joins)} ORDER BY c.stay_id"


def rename_tables(tree: exp.Expression, hosp: str, icu: str, derived: str, study_dataset: str) -> exp.Expression:
    """Our schema names as the target's: ``mimiciv_hosp`` -> ``hosp`` (``project.dataset`` or
    ``dataset``), ``mimiciv_icu`` -> ``icu``, ``mimiciv_derived`` -> ``derived``, ``study`` ->
    ``study_dataset``, ``stage.x`` -> ``derived.stage_x``."""
    names = {"mimiciv_hosp": hosp, "mimiciv_icu": icu, "mimiciv_derived": derived, "study": study_dataset,
             "stage": derived}

    def repl(node):
        if isinstance(node, exp.Table) and node.db and node.db.lower() in names and not node.catalog:
            schema = node.db.lower()
            parts = names[schema].split(".")
            table = node.name if schema != "stage" else f"stage_{node.name}"
            new = exp.Table(this=exp.to_identifier(table), db=exp.to_identifier(parts[-1]),
                            catalog=exp.to_identifier(parts[0]) if len(parts) > 1 else None)
            for key in ("alias", "joins", "laterals", "pivots", "hints"):
                if node.args.get(key):
                    new.set(key, node.args[key])
            return new
        return node

    return tree.transform(repl)


#: Aggregates whose value does not depend on the order of their input (up to floating-point
#: rounding of sums): an ``ORDER BY`` inside them is dropped for BigQuery, which allows one only
#: in ARRAY_AGG / STRING_AGG. (Ours order AVG's input so DuckDB's parallel sums are bit-stable.)
ORDER_FREE_AGGREGATES = (exp.Avg, exp.Sum, exp.Min, exp.Max, exp.Count)


def for_bigquery(tree: exp.Expression) -> exp.Expression:
    """Rewrites BigQuery needs and SQLGlot does not make (each keeps DuckDB's meaning):

    * window ``ORDER BY x`` (DuckDB: NULLs last; BigQuery: NULLs first, and no ``NULLS LAST``
      in a window) becomes ``ORDER BY x IS NULL, x``: the same order in both engines;
    * ``AVG(x ORDER BY ...)`` (and SUM, MIN, MAX, COUNT) loses its ``ORDER BY``; an ordered
      ``list()`` / ``string_agg()`` gets the same ``x IS NULL, x`` keys as a window;
    * a CTE's column list over ``SELECT * FROM (VALUES ...)`` (BigQuery has no CTE column
      lists) moves onto the VALUES alias, which SQLGlot writes as ``UNNEST([STRUCT(...)])``;
    * ``to_hours(n)`` (``to_minutes``, ``to_days``) becomes ``INTERVAL (n) HOUR``, and
      ``to_seconds(x)`` of a fractional number ``INTERVAL CAST(ROUND(x * 1e6) AS INT64)
      MICROSECOND`` (BigQuery intervals take integers; DuckDB keeps microseconds);
    * PhysioNet's BigQuery tables hold times as ``DATETIME`` (no time zone), DuckDB's
      ``TIMESTAMP``: ``date_diff('second', a, b)`` and ``date_trunc('hour', t)`` become
      ``DATETIME_DIFF(b, a, SECOND)`` and ``DATETIME_TRUNC(t, HOUR)`` (SQLGlot writes the
      DATE_/TIMESTAMP_ forms, which BigQuery does not take for DATETIME);
    * ``least(a, b)`` / ``greatest(a, b)`` skip NULLs in DuckDB and return NULL for any NULL
      in BigQuery: each argument becomes ``COALESCE(a, b)``, ``COALESCE(b, a)`` (NULL only
      when all are);
    * ``agg(x) FILTER (WHERE c)`` becomes ``agg(CASE WHEN c THEN x END)`` (``COUNT(*)``:
      ``COUNT(CASE WHEN c THEN 1 END)``), the same in every engine (SQLGlot's ``COUNTIF`` is
      0 for no row in BigQuery, NULL once back in DuckDB);
    * ``regexp_full_match(x, 'p')`` becomes ``REGEXP_CONTAINS(x, '^(?:p)$')`` and
      ``split_part(s, d, n)`` ``COALESCE(SPLIT(s, d)[SAFE_OFFSET(n - 1)], '')`` (neither
      exists in BigQuery);
    * ``CAST('infinity' AS DOUBLE)`` is written with BigQuery's spelling ``'inf'``;
    * DuckDB's statement ``PIVOT t ON name IN ('a', 'b') USING agg(x) GROUP BY k`` becomes
      ``SELECT k, agg(CASE WHEN name = 'a' THEN x END) AS a, ... FROM t GROUP BY k`` (as DuckDB
      computes it: ``agg(x) FILTER (WHERE name = 'a')``; ``first`` becomes ``ANY_VALUE``, which
      skips the NULLs of the other names), and ``COLUMNS(t.* EXCLUDE (k))`` is expanded to one
      expression per column of ``t``;
    * DuckDB's ``UNPIVOT t ON (a1, a2) AS x, ... INTO NAME n VALUE v1, v2`` becomes a
      ``UNION ALL`` of one ``SELECT`` per name (a row with any NULL value left out, as
      DuckDB 2.x does);
    * ``ASOF LEFT JOIN`` (``sql/measurement/bg.sql``) becomes a plain LEFT JOIN on the row
      whose next charting is later (:func:`_asof_to_join`);
    * ``SELECT ..., unnest(list) AS k FROM t`` (DuckDB's select-list unnest: one row per
      element, none for an empty or NULL list) becomes ``SELECT ..., k FROM t CROSS JOIN
      UNNEST(list) AS k``, which SQLGlot writes for BigQuery as it is (its own emulation of a
      select-list unnest, with array offsets, is 0-based in BigQuery and 1-based back in DuckDB);
    * a ``RANGE`` frame over a timestamp with ``INTERVAL`` bounds (BigQuery's RANGE takes one
      numeric key) orders by ``UNIX_SECONDS(ts)`` with the bounds in seconds.
    """

    tree = _duckdb_forms(tree)
    tree = tree.transform(_select_unnest_to_join)

    def repl(node):
        spec = node.args.get("spec") if isinstance(node, exp.Window) else None
        if spec is not None and str(spec.args.get("kind", "")).upper() == "RANGE":
            _range_in_seconds(node)
        elif isinstance(node, exp.Window) and isinstance(node.args.get("order"), exp.Order):
            node.args["order"].set("expressions", _nulls_last_portably(node.args["order"].expressions))
        if isinstance(node, ORDER_FREE_AGGREGATES) and isinstance(node.this, exp.Order):
            node.set("this", node.this.this)
        elif isinstance(node, exp.AggFunc) and isinstance(node.this, exp.Order):  # ARRAY_AGG, STRING_AGG
            node.this.set("expressions", _nulls_last_portably(node.this.expressions))
        if isinstance(node, exp.CTE) and node.alias_column_names:
            body = node.this
            source = body.args.get("from_") or body.args.get("from")
            inner = source.this if source else None
            if (isinstance(body, exp.Select) and len(body.expressions) == 1 and isinstance(body.expressions[0], exp.Star)
                    and isinstance(inner, exp.Subquery) and isinstance(inner.this, exp.Values)):
                inner = inner.this
            if (isinstance(body, exp.Select) and len(body.expressions) == 1 and isinstance(body.expressions[0], exp.Star)
                    and isinstance(inner, exp.Values)):
                columns = [exp.to_identifier(c) for c in node.alias_column_names]
                inner.set("alias", exp.TableAlias(this=exp.to_identifier("v"), columns=columns))
                source.set("this", inner)
                node.set("alias", exp.TableAlias(this=exp.to_identifier(node.alias)))
        if isinstance(node, exp.DateDiff) and str(node.args.get("unit").name).upper() in _SECONDS:
            return exp.Anonymous(this="DATETIME_DIFF", expressions=[node.this.copy(), node.expression.copy(),
                                                                   exp.Var(this=str(node.args["unit"].name).upper())])
        if isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)) and isinstance(node.args.get("unit"), (exp.Var, exp.Literal)):
            unit = str(node.args["unit"].name).upper()
            if unit in _SECONDS:
                return exp.Anonymous(this="DATETIME_TRUNC", expressions=[node.this.copy(), exp.Var(this=unit)])
        if isinstance(node, (exp.Least, exp.Greatest)) and not node.args.get("_nulls_handled"):
            args = [node.this, *node.expressions]
            if len(args) > 1:
                spread = [exp.Coalesce(this=args[i].copy(), expressions=[a.copy() for a in args[i + 1:] + args[:i]])
                          for i in range(len(args))]
                out = type(node)(this=spread[0], expressions=spread[1:])
                out.set("_nulls_handled", True)
                return out
        if isinstance(node, exp.Filter) and isinstance(node.this, exp.AggFunc):
            agg, cond = node.this.copy(), node.expression.this.copy()
            if isinstance(agg, exp.Count) and isinstance(agg.this, exp.Star):
                return exp.Count(this=exp.Case(ifs=[exp.If(this=cond, true=exp.Literal.number(1))]))
            if isinstance(agg, (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max)) and not isinstance(agg.this, exp.Star):
                agg.set("this", exp.Case(ifs=[exp.If(this=cond, true=agg.this.copy())]))
                return agg
        full_match = getattr(exp, "RegexpFullMatch", ())
        if (full_match and isinstance(node, full_match)) or (
                isinstance(node, exp.Anonymous) and node.name.lower() == "regexp_full_match" and len(node.expressions) == 2):
            text, pattern = (node.this, node.expression) if not isinstance(node, exp.Anonymous) else node.expressions
            if not (isinstance(pattern, exp.Literal) and pattern.is_string):
                raise TranspileError("regexp_full_match needs a literal pattern to be written for BigQuery")
            return exp.RegexpLike(this=text.copy(), expression=exp.Literal.string(f"^(?:{pattern.this})$"))
        if isinstance(node, exp.SplitPart) or (isinstance(node, exp.Anonymous) and node.name.lower() == "split_part"):
            args = ([node.this, node.args.get("delimiter"), node.args.get("part_index")]
                    if isinstance(node, exp.SplitPart) else node.expressions)
            text, delim, part = (a.copy() for a in args)
            # DuckDB: the part-th piece (1-based), '' when there is none
            return _bigquery_template("COALESCE(SPLIT(__a, __b)[SAFE_OFFSET(__c - 1)], '')",
                                      __a=text, __b=delim, __c=part)
        if isinstance(node, exp.Anonymous) and node.name.lower() in _TO_INTERVAL and len(node.expressions) == 1:
            unit, scale = _TO_INTERVAL[node.name.lower()]
            amount = node.expressions[0].copy()
            if scale != 1:  # to_seconds(double): DuckDB keeps microseconds, rounding to the nearest
                amount = exp.Cast(this=exp.Round(this=exp.Mul(this=exp.Paren(this=amount),
                                                              expression=exp.Literal.number(scale))),
                                  to=exp.DataType.build("BIGINT"))
            return exp.Interval(this=exp.Paren(this=amount), unit=exp.Var(this=unit))
        if (isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string
                and node.this.this.lower() in ("infinity", "-infinity", "+infinity")):
            node.set("this", exp.Literal.string(node.this.this.lower().replace("infinity", "inf")))
        return node

    # twice: a node a rewrite creates (COALESCE copies of GREATEST's arguments) is not revisited
    # by the same pass; no rewrite matches its own output again
    return tree.transform(repl).transform(repl)


def for_postgres(tree: exp.Expression, columns: dict[str, list[str]] | None = None,
                 function_schema: str = "mimiciv_derived", dry: "DryRun | None" = None) -> exp.Expression:
    """Rewrites PostgreSQL needs and SQLGlot does not make (each keeps DuckDB's meaning).

    ``columns``: each table's column names (:meth:`DryRun.columns`), for ``t.* EXCLUDE (...)``;
    ``dry``: the :class:`DryRun` that types expressions, for the collation rewrite below.

    * the DuckDB-only statement forms of :func:`_duckdb_forms` (PIVOT, UNPIVOT, COLUMNS(),
      ASOF joins, ``t.* EXCLUDE (...)``), as for BigQuery;
    * ``CREATE OR REPLACE TABLE t AS`` (PostgreSQL has no OR REPLACE for tables) becomes
      ``DROP TABLE IF EXISTS t; CREATE TABLE t AS`` (:func:`transpile`);
    * ``round(x, n)`` of a DOUBLE: PostgreSQL has ``round(numeric, int)`` only (its cast of a
      double to numeric keeps 15 digits) and ``round(double)`` rounds half to even. DuckDB
      (2.x) rounds the double's exact binary value half away from zero (``round(0.63125, 4)``
      = 0.6312, since 0.63125 is stored as 0.631249999...; ``round(0.125, 2)`` = 0.13). Each
      call becomes ``<function_schema>.duckdb_round(x, n)``, a PL/pgSQL function the script
      creates first (:data:`POSTGRES_FUNCTIONS`) that decides the rounding on the exact product
      ``x * 10^n`` (Dekker's error-free product in double arithmetic);
    * ``exp``, ``ln``, ``log``, ``sqrt``, ``power`` get DOUBLE PRECISION arguments: DuckDB
      computes them in DOUBLE, PostgreSQL in NUMERIC for a numeric argument (``exp(0.047 *
      apsiii)``: a different last bit);
    * ``to_seconds(x)`` / ``to_minutes`` / ``to_hours`` / ``to_days`` become
      ``make_interval(secs => x)`` (mins, hours, days): microseconds as in DuckDB;
    * regular expressions: DuckDB's are RE2, PostgreSQL's Tcl AREs, where ``\\b`` is a backspace,
      not a word boundary (``\\y``): patterns are translated (:func:`_postgres_regex`;
      ``cam_icu``'s ``'^yes\\b'``);
    * ``regexp_extract(s, 'p', g)`` (DuckDB: '' when there is no match) becomes
      ``COALESCE((regexp_match(s, '(p)'))[g + 1], '')``; ``regexp_full_match(s, 'p')``
      becomes ``s ~ '^(?:p)$'``;
    * a select-list ``unnest(range(a, b))`` becomes ``generate_series(a, b - 1)``, a
      set-returning function in the select list as DuckDB's unnest is (no row for an empty
      range or a NULL bound); SQLGlot writes ``UNNEST(GENERATE_SERIES(...))``, which
      PostgreSQL refuses;
    * a subquery in ``FROM`` without an alias gets one (PostgreSQL before 16 requires it);
    * text ordered or compared for order (``ORDER BY``, ``MIN``/``MAX``, ``<``, ``BETWEEN``) gets
      ``COLLATE "C"``: DuckDB orders text by its bytes, PostgreSQL by the database's collation
      (``en_US.UTF-8`` puts 'a' before 'B'; ties in ``oxygen_delivery``'s device order and
      Charlson's code ranges depend on it) (:func:`collate_text_bytewise`);
    * ``arg_min(a, b)`` / ``arg_max(a, b)`` (none in PostgreSQL; DuckDB skips rows where a or b
      is NULL) become ``(ARRAY_AGG(a ORDER BY b [DESC]) FILTER (WHERE a IS NOT NULL AND b IS
      NOT NULL))[1]``, and ``ANY_VALUE(x)`` (made from a PIVOT's ``first``; PostgreSQL 16 has it,
      15 not) ``(ARRAY_AGG(x) FILTER (WHERE x IS NOT NULL))[1]``: any non-NULL value.

    What PostgreSQL and DuckDB already agree on, left to SQLGlot: ``x / y`` (SQLGlot casts an
    integer dividend to DOUBLE PRECISION: DuckDB's ``/`` never truncates), ``date_diff``
    (as whole boundaries crossed, via ``date_trunc`` and ``epoch``), ``least``/``greatest``
    (both skip NULLs), ``FILTER (WHERE ...)``, ``NULLS LAST`` (both default), ``split_part``
    ('' past the last part in both), ``QUALIFY`` (a subquery).
    """
    if dry is not None:  # on the DuckDB statement, whose expressions DuckDB can type
        tree = collate_text_bytewise(tree, dry)
    tree = _duckdb_forms(tree, columns)
    tree = tree.transform(lambda n: _postgres_functions(n, function_schema))
    return tree


def _duckdb_forms(tree: exp.Expression, columns: dict[str, list[str]] | None = None) -> exp.Expression:
    """DuckDB statement forms no other engine has, as standard SQL (for every target):
    ``PIVOT`` statements, ``COLUMNS(t.* EXCLUDE ...)``, ``UNPIVOT`` statements, ASOF joins
    (:func:`_asof_to_join`) and, given ``columns``, ``t.* EXCLUDE (...)`` over a table
    (:func:`_expand_star_exclude`)."""
    tree = tree.transform(_simple_pivot_to_select)
    tree = tree.transform(_expand_columns)
    tree = tree.transform(_simple_unpivot_to_union)
    tree = tree.transform(_asof_to_join)
    if columns is not None:
        tree = tree.transform(lambda n: _expand_star_exclude(n, columns))
    return tree


def _asof_to_join(node):
    """``A ASOF LEFT JOIN S ON A.k = S.k AND A.t >= S.t`` (DuckDB: for each row of A the row of
    S with the same k and the latest S.t at or before A.t) as a plain LEFT JOIN on the row of S
    whose next charting (``LEAD(S.t)`` by k) is after A.t or absent: the same row, in any
    engine. Rows of S with a NULL time are never matched, as in DuckDB."""
    if not (isinstance(node, exp.Join) and str(node.args.get("method") or "").upper() == "ASOF"):
        return node
    on = node.args.get("on")
    right = node.this
    if not isinstance(right, exp.Table) or str(node.args.get("side") or "").upper() != "LEFT" or on is None:
        raise TranspileError("an ASOF join is rewritten only as ASOF LEFT JOIN <table> ON <equalities> AND a.t >= s.t")
    alias = right.alias_or_name
    conditions = list(on.flatten()) if isinstance(on, exp.And) else [on]
    keys, order = [], None
    for c in conditions:
        sides = (c.this, c.expression)
        if isinstance(c, exp.EQ):
            keys += [x for x in sides if isinstance(x, exp.Column) and x.table == alias]
        elif isinstance(c, exp.GTE) and isinstance(c.expression, exp.Column) and c.expression.table == alias:
            order = (c.this, c.expression)
        else:
            raise TranspileError(f"ASOF join condition {c.sql('duckdb')} is not an equality or a.t >= s.t")
    if order is None or not keys:
        raise TranspileError("an ASOF join needs equalities and one a.t >= s.t")
    outer_t, inner_t = order
    nxt = "__asof_next"
    window = exp.Window(this=exp.Anonymous(this="LEAD", expressions=[exp.column(inner_t.name)]),
                        partition_by=[exp.column(k.name) for k in keys],
                        order=exp.Order(expressions=[exp.Ordered(this=exp.column(inner_t.name), nulls_first=False)]))
    inner = (exp.select(exp.Star(), exp.alias_(window, nxt)).from_(exp.Table(this=right.this.copy(), db=right.args.get("db")))
             .where(exp.Not(this=exp.Is(this=exp.column(inner_t.name), expression=exp.Null()))))
    later = exp.or_(exp.LT(this=outer_t.copy(), expression=exp.column(nxt, table=alias)),
                    exp.Is(this=exp.column(nxt, table=alias), expression=exp.Null()))
    join = exp.Join(this=exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias))),
                    side="LEFT", on=exp.and_(on.copy(), later))
    return join


class DryRun:
    """The statements run in DuckDB on empty MIMIC-IV tables of the catalogue
    (:mod:`icu_cohort.mimic_tables`), which takes a second or two: DuckDB itself then says what
    columns each table has (:meth:`columns`) and what type an expression of a statement has
    (:meth:`type_of`)."""

    def __init__(self, statements: list[Statement]) -> None:
        import duckdb

        from icu_cohort.mimic_tables import KNOWN_TABLES

        self.con = duckdb.connect()
        self._types: dict[str, str | None] = {}
        for schema in ("mimiciv_hosp", "mimiciv_icu", "mimiciv_derived", "study", "stage"):
            self.con.execute(f"CREATE SCHEMA {schema}")
        for spec in KNOWN_TABLES.values():
            self.con.execute(f"CREATE TABLE {spec.qualified} (" + ", ".join(f'"{c}" {t}' for c, t in spec.columns) + ")")
        for st in statements:
            if st.creates:
                self.con.execute(st.sql.sql(dialect="duckdb"))

    def columns(self) -> dict[str, list[str]]:
        """Each table and view with its column names, in order (``{"study.cohort": [...]}``)."""
        rows = self.con.execute("SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns "
                                "ORDER BY table_schema, table_name, ordinal_position").fetchall()
        out: dict[str, list[str]] = {}
        for name, column in rows:
            out.setdefault(name.lower(), []).append(column)
        return out

    def types_of(self, select: exp.Select, expressions: list[exp.Expression]) -> list[str | None]:
        """DuckDB's types of ``expressions`` evaluated over ``select``'s FROM clause (with every
        CTE in scope); None for one that cannot be bound there (an output alias, an outer
        reference). One DESCRIBE for all, one per expression only if that fails."""
        ctes: list[exp.Expression] = []
        node = select
        while node is not None:
            w = node.args.get("with_") or node.args.get("with")
            if isinstance(w, exp.With):
                ctes = list(w.expressions) + ctes
            node = node.parent
        prefix = ("WITH " + ", ".join(c.sql(dialect="duckdb") for c in ctes) + " ") if ctes else ""
        query = select.copy()
        for key in ("order", "group", "having", "qualify", "windows", "distinct", "limit", "offset", "where",
                    "with_", "with"):
            query.set(key, None)

        def describe(exprs):
            query.set("expressions", [exp.alias_(e.copy(), f"__t{i}") for i, e in enumerate(exprs)])
            text = prefix + query.sql(dialect="duckdb")
            if text not in self._types:
                import duckdb

                try:
                    self._types[text] = [r[1] for r in self.con.execute(f"DESCRIBE {text}").fetchall()]
                except duckdb.Error:
                    self._types[text] = None
            return self._types[text]

        got = describe(expressions) if expressions else []
        if got is not None:
            return got
        return [(describe([e]) or [None])[0] for e in expressions]

    def close(self) -> None:
        self.con.close()


#: DuckDB compares text by its bytes; PostgreSQL by the database's collation (mimic-code's
#: PostgreSQL databases are usually created in en_US.UTF-8, where 'a' < 'B').
TEXT_TYPES = ("VARCHAR",)


def collate_text_bytewise(tree: exp.Expression, dry: DryRun) -> exp.Expression:
    """Every place where text is ordered or compared for order gets ``COLLATE "C"`` (byte order,
    as DuckDB): ``ORDER BY`` keys (of queries, windows and ordered aggregates), ``MIN``/``MAX``
    (and ``arg_min``/``arg_max``'s key) of text and ``<``, ``<=``, ``>``, ``>=``, ``BETWEEN``
    between texts. Whether an expression is text DuckDB says (:meth:`DryRun.types_of`, on the
    DuckDB statement); an expression it cannot bind alone (an output alias) is left as is."""
    def scope(node):
        while node is not None and not isinstance(node, exp.Select):
            node = node.parent
        return node

    def known(expr):
        """True / False when the expression's form says whether it is text, else None."""
        if isinstance(expr, exp.Literal):
            return expr.is_string
        if isinstance(expr, (exp.Null, exp.Collate, exp.Boolean)) or not list(expr.find_all(exp.Column)):
            return False
        return None

    # (node, keys to collate, expressions deciding, "each" key alone or "any" of them)
    plans: list[tuple[exp.Expression, tuple[str, ...], str]] = []
    for node in list(tree.walk()):
        if isinstance(node, exp.Ordered) or (isinstance(node, (exp.Min, exp.Max)) and not isinstance(node.this, exp.Order)):
            plans.append((node, ("this",), "each"))
        elif isinstance(node, (exp.ArgMin, exp.ArgMax)):
            plans.append((node, ("expression",), "each"))
        elif isinstance(node, (exp.LT, exp.LTE, exp.GT, exp.GTE)):
            plans.append((node, ("this", "expression"), "any"))
        elif isinstance(node, exp.Between):
            plans.append((node, ("this", "low", "high"), "any"))
    pending: dict[int, tuple[exp.Select, list[exp.Expression]]] = {}
    for node, keys, _ in plans:
        for key in keys:
            expr = node.args.get(key)
            if expr is not None and known(expr) is None and scope(node) is not None:
                pending.setdefault(id(scope(node)), (scope(node), []))[1].append(expr)
    text: dict[int, bool] = {}
    for select, exprs in pending.values():
        for e, t in zip(exprs, dry.types_of(select, exprs)):
            text[id(e)] = t in TEXT_TYPES

    def is_text(expr) -> bool:
        k = known(expr)
        return k if k is not None else text.get(id(expr), False)

    for node, keys, mode in plans:
        exprs = {k: node.args.get(k) for k in keys if node.args.get(k) is not None}
        if mode == "any" and not any(is_text(e) for e in exprs.values()):
            continue
        for key, expr in exprs.items():
            if isinstance(expr, exp.Collate) or (mode == "each" and not is_text(expr)):
                continue
            node.set(key, exp.Paren(this=exp.Collate(this=expr.copy(), expression=exp.to_identifier("C", quoted=True))))
    return tree


def _expand_star_exclude(node, columns: dict[str, list[str]]):
    """``t.* EXCLUDE (a, b)`` in a select list (``t`` a table of ``columns`` or a CTE with its
    columns spelled out) as ``t.c1, t.c2, ...`` without a and b."""
    if not isinstance(node, exp.Select):
        return node
    out, changed = [], False
    for projection in node.expressions:
        star = projection.this if isinstance(projection, exp.Column) else None
        excluded = (star.args.get("except_") or star.args.get("except")) if isinstance(star, exp.Star) else None
        if not excluded:
            out.append(projection)
            continue
        names = _relation_columns(node, projection.table, columns)
        drop = {e.name.lower() for e in excluded}
        missing = drop - {n.lower() for n in names}
        if missing:
            raise TranspileError(f"{projection.table}.* EXCLUDE: no column {', '.join(sorted(missing))}")
        out += [exp.column(n, table=projection.table) for n in names if n.lower() not in drop]
        changed = True
    if changed:
        node.set("expressions", out)
    return node


def _relation_columns(select: exp.Select, alias: str, columns: dict[str, list[str]]) -> list[str]:
    sources = [select.args.get("from_") or select.args.get("from")] + list(select.args.get("joins") or [])
    for source in sources:
        rel = source.this if source is not None else None
        if isinstance(rel, exp.Table) and rel.alias_or_name == alias:
            if rel.db:
                qualified = f"{rel.db}.{rel.name}".lower()
                if qualified not in columns:
                    raise TranspileError(f"{alias}.* EXCLUDE: the columns of {qualified} are not known")
                return columns[qualified]
            return _output_names(_cte(select, rel.name))
    raise TranspileError(f"{alias}.* EXCLUDE: {alias} is not a table of the FROM clause")


def _postgres_regex(pattern: str) -> str:
    """A DuckDB (RE2) pattern for PostgreSQL's regular expressions (Tcl ARE): the word boundary
    ``\\b`` / ``\\B`` is ``\\y`` / ``\\Y`` there (``\\b`` is a backspace); the rest of what our SQL
    uses (anchors, classes, ``*``, ``+``, ``(?:...)``) means the same in both."""
    return re.sub(r"(?<!\\)((?:\\\\)*)\\([bB])", lambda m: m.group(1) + "\\" + ("y" if m.group(2) == "b" else "Y"),
                  pattern)


def _postgres_functions(node, function_schema: str):
    if isinstance(node, exp.RegexpLike) and isinstance(node.expression, exp.Literal) and node.expression.is_string:
        node.set("expression", exp.Literal.string(_postgres_regex(node.expression.this)))
    if isinstance(node, (exp.ArgMin, exp.ArgMax, exp.AnyValue)):
        value = node.this.copy()
        if isinstance(node, exp.AnyValue):
            order, keep = None, exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))
        else:
            key = node.expression.copy()
            order = exp.Ordered(this=key.copy(), desc=isinstance(node, exp.ArgMax))
            keep = exp.and_(exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())),
                            exp.Not(this=exp.Is(this=key.copy(), expression=exp.Null())))
        agg = exp.ArrayAgg(this=exp.Order(this=value, expressions=[order]) if order else value)
        return exp.Bracket(this=exp.Paren(this=exp.Filter(this=agg, expression=exp.Where(this=keep))),
                           expressions=[exp.Literal.number(1)], offset=1)  # offset: the index is 1-based
    if isinstance(node, exp.Round):
        digits = node.args.get("decimals")
        if digits is not None and not (isinstance(digits, exp.Literal) and not digits.is_string and int(digits.name) >= 0):
            raise TranspileError("round(x, n) needs a literal n >= 0 to be written for PostgreSQL")
        return exp.Dot(this=exp.to_identifier(function_schema), expression=exp.Anonymous(
            this=POSTGRES_ROUND, expressions=[exp.cast(node.this.copy(), "DOUBLE"),
                                              exp.Literal.number(int(digits.name) if digits is not None else 0)]))
    if isinstance(node, (exp.Exp, exp.Ln, exp.Log, exp.Sqrt, exp.Pow)):
        # DuckDB computes these in DOUBLE; PostgreSQL would compute exp(numeric) exactly for a
        # numeric argument (our literals are numeric there) and round differently
        for key in ("this", "expression"):
            if node.args.get(key) is not None:
                node.set(key, exp.cast(node.args[key].copy(), "DOUBLE"))
        return node
    if isinstance(node, exp.Anonymous) and node.name.lower() in _TO_INTERVAL and len(node.expressions) == 1:
        unit = {"to_seconds": "secs", "to_minutes": "mins", "to_hours": "hours", "to_days": "days"}[node.name.lower()]
        return exp.Anonymous(this="MAKE_INTERVAL", expressions=[
            exp.Kwarg(this=exp.var(unit), expression=node.expressions[0].copy())])
    if isinstance(node, exp.RegexpExtract):
        pattern, group = node.expression, node.args.get("group")
        g = 0 if group is None else int(group.name)
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise TranspileError("regexp_extract needs a literal pattern to be written for PostgreSQL")
        match = exp.Bracket(this=exp.Paren(this=exp.Anonymous(this="REGEXP_MATCH", expressions=[
            node.this.copy(), exp.Literal.string(_postgres_regex(f"({pattern.this})"))])), expressions=[exp.Literal.number(g + 1)],
                            offset=1)
        return exp.Coalesce(this=match, expressions=[exp.Literal.string("")])
    full_match = getattr(exp, "RegexpFullMatch", ())
    if (full_match and isinstance(node, full_match)) or (
            isinstance(node, exp.Anonymous) and node.name.lower() == "regexp_full_match" and len(node.expressions) == 2):
        text, pattern = (node.this, node.expression) if not isinstance(node, exp.Anonymous) else node.expressions
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise TranspileError("regexp_full_match needs a literal pattern to be written for PostgreSQL")
        return exp.RegexpLike(this=text.copy(), expression=exp.Literal.string(_postgres_regex(f"^(?:{pattern.this})$")))
    if isinstance(node, (exp.Unnest, exp.Explode)):
        items = node.expressions if isinstance(node, exp.Unnest) else [node.this]
        if len(items) == 1 and isinstance(items[0], exp.GenerateSeries) and isinstance(node.parent, (exp.Cast, exp.Alias)):
            return items[0].copy()
    if isinstance(node, exp.Subquery) and not node.alias and isinstance(node.parent, (exp.From, exp.Join)):
        node.set("alias", exp.TableAlias(this=exp.to_identifier(f"_q{id(node) % 100000}")))
    return node


#: The PL/pgSQL function that rounds as DuckDB: ``{schema}.duckdb_round(x double precision, n
#: integer)``, half away from zero on the exact value of ``x * 10^n``. ``x * 10^n`` in double is
#: ``p`` plus an exact error ``err`` (Dekker's product with the 2^27 + 1 split; 10^n is exact for
#: n <= 22); with ``q = trunc(p)``, ``(p - q) - 0.5`` is exact whenever it matters, so the test
#: ``(p - q) - 0.5 >= -err`` is exact, and ``(q + up) / 10^n`` is the double nearest the rounded
#: decimal, as DuckDB returns it. Infinities and NaN come back unchanged, NULL gives NULL.
POSTGRES_ROUND = "duckdb_round"
POSTGRES_FUNCTIONS = """CREATE OR REPLACE FUNCTION {schema}.duckdb_round(x DOUBLE PRECISION, n INTEGER)
RETURNS DOUBLE PRECISION LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  s DOUBLE PRECISION := CAST(10 AS DOUBLE PRECISION) ^ n;
  a DOUBLE PRECISION := abs(x);
  split CONSTANT DOUBLE PRECISION := 134217729;
  p DOUBLE PRECISION; c DOUBLE PRECISION; err DOUBLE PRECISION; q DOUBLE PRECISION;
  ah DOUBLE PRECISION; al DOUBLE PRECISION; sh DOUBLE PRECISION; sl DOUBLE PRECISION;
BEGIN
  IF x IN ('Infinity', '-Infinity', 'NaN') THEN RETURN x; END IF;
  p := a * s;
  c := split * a; ah := c - (c - a); al := a - ah;
  c := split * s; sh := c - (c - s); sl := s - sh;
  err := ((ah * sh - p) + ah * sl + al * sh) + al * sl;
  q := trunc(p);
  IF (p - q) - CAST(0.5 AS DOUBLE PRECISION) >= -err THEN q := q + 1; END IF;
  RETURN sign(x) * q / s;
END
$$"""


def _postgres_template(template: str, **args: exp.Expression) -> exp.Expression:
    """A PostgreSQL expression with the columns ``__v``, ``__s``... replaced by ``args``."""
    tree = sqlglot.parse_one(template, read="postgres")
    return tree.transform(lambda n: exp.Paren(this=args[n.name].copy()) if isinstance(n, exp.Column) and n.name in args else n)


def _simple_pivot_to_select(node):
    if not (isinstance(node, exp.Pivot) and node.args.get("using") and isinstance(node.this, exp.Table)):
        return node
    ons, using, group = node.expressions, node.args["using"], node.args.get("group")
    if len(ons) != 1 or not isinstance(ons[0], exp.In) or len(using) != 1 or group is None:
        raise TranspileError("a PIVOT statement is rewritten only with one ON ... IN (...), one USING and GROUP BY")
    name, values, agg = ons[0].this, ons[0].expressions, using[0]
    columns = [k.copy() for k in group.expressions]
    for value in values:
        match = exp.EQ(this=name.copy(), expression=value.copy())
        if isinstance(agg, exp.Count) and isinstance(agg.this, exp.Star):
            new = exp.Count(this=exp.Case(ifs=[exp.If(this=match, true=exp.Literal.number(1))]))
        elif isinstance(agg, (exp.First, exp.Count, exp.Sum, exp.Min, exp.Max, exp.Avg)):
            cls = exp.AnyValue if isinstance(agg, exp.First) else type(agg)
            new = cls(this=exp.Case(ifs=[exp.If(this=match, true=agg.this.copy())]))
        else:
            raise TranspileError(f"PIVOT ... USING {agg.sql('duckdb')} cannot be rewritten")
        columns.append(exp.alias_(new, exp.to_identifier(value.name)))
    return exp.select(*columns).from_(node.this.copy()).group_by(*[k.copy() for k in group.expressions])


def _output_names(query: exp.Expression) -> list[str]:
    if not isinstance(query, exp.Select) or any(isinstance(e, exp.Star) for e in query.expressions):
        raise TranspileError("COLUMNS(t.*) / UNPIVOT need t's columns spelled out in its SELECT")
    return [e.alias_or_name for e in query.expressions]


def _cte(node: exp.Expression, name: str) -> exp.Expression:
    scope = node
    while scope is not None:
        with_ = scope.args.get("with_") or scope.args.get("with")
        if with_:
            for cte in with_.expressions:
                if cte.alias == name:
                    return cte.this
        scope = scope.parent
    raise TranspileError(f"COLUMNS({name}.*) / UNPIVOT {name}: {name} is not a CTE of the statement")


def _expand_columns(node):
    if not isinstance(node, exp.Select):
        return node
    out, changed = [], False
    for projection in node.expressions:
        found = list(projection.find_all(exp.Columns))
        if not found:
            out.append(projection)
            continue
        (columns,) = found
        star = columns.this
        if not (isinstance(star, exp.Column) and isinstance(star.this, exp.Star) and star.table):
            raise TranspileError("COLUMNS() is rewritten only for COLUMNS(t.* [EXCLUDE (...)])")
        excluded = {e.name for e in (star.this.args.get("except_") or star.this.args.get("except") or [])}
        for name in _output_names(_cte(node, star.table)):
            if name in excluded:
                continue
            copy = projection.copy()
            (inner,) = list(copy.find_all(exp.Columns))
            inner.replace(exp.column(name, table=star.table))
            out.append(exp.alias_(copy.unalias() if isinstance(copy, exp.Alias) else copy, exp.to_identifier(name)))
        changed = True
    if changed:
        node.set("expressions", out)
    return node


def _simple_unpivot_to_union(node):
    if not (isinstance(node, exp.Pivot) and node.args.get("unpivot") and isinstance(node.this, exp.Table)):
        return node
    into = node.args.get("into")
    if not isinstance(into, exp.UnpivotColumns):
        raise TranspileError("an UNPIVOT statement is rewritten only with INTO NAME ... VALUE ...")
    values = [v.name for v in into.expressions]
    groups = []
    for item in node.expressions:
        cols = item.this.expressions if isinstance(item.this, exp.Tuple) else [item.this]
        if not isinstance(item, exp.Alias) or len(cols) != len(values):
            raise TranspileError("each UNPIVOT ON item must be (c1, ..., cn) AS name, with n VALUE columns")
        groups.append((item.alias, [c.name for c in cols]))
    unpivoted = {c for _, cols in groups for c in cols}
    source = node.this.name
    others = [c for c in _output_names(_cte(node, source)) if c not in unpivoted]
    selects = []
    for label, cols in groups:
        projections = [exp.column(c) for c in others] + [exp.alias_(exp.Literal.string(label), into.this.name)]
        projections += [exp.alias_(exp.column(c), v) for c, v in zip(cols, values)]
        # DuckDB (2.x) leaves out a row when any of its value columns is NULL
        keep = exp.and_(*[exp.Not(this=exp.Is(this=exp.column(c), expression=exp.Null())) for c in cols])
        selects.append(exp.select(*projections).from_(exp.to_table(source)).where(keep))
    union = selects[0]
    for nxt in selects[1:]:
        union = exp.union(union, nxt, distinct=False)
    return union


def _nulls_last_portably(items: list) -> list:
    """``x ASC`` with DuckDB's NULLS LAST as ``x IS NULL, x`` (BigQuery's NULLS FIRST default
    then never applies: the first key already puts NULLs last)."""
    out = []
    for o in items:
        if isinstance(o, exp.Ordered) and not o.args.get("desc") and not o.args.get("nulls_first"):
            out.append(exp.Ordered(this=exp.Is(this=o.this.copy(), expression=exp.Null()), nulls_first=True))
            out.append(exp.Ordered(this=o.this.copy(), nulls_first=True))
        else:
            out.append(o)
    return out


def _select_unnest_to_join(node):
    if not isinstance(node, exp.Select):
        return node
    unnests = [(i, e) for i, e in enumerate(node.expressions) if list(e.find_all(exp.Unnest, exp.Explode))]
    if not unnests:
        return node
    source = node.args.get("from_") or node.args.get("from")
    if len(unnests) > 1 or source is None or node.args.get("group") or node.args.get("joins"):
        raise TranspileError("a select-list unnest is rewritten only alone, over one FROM table, without GROUP BY")
    i, projection = unnests[0]
    (unnest,) = list(projection.find_all(exp.Unnest, exp.Explode))
    items = unnest.expressions if isinstance(unnest, exp.Unnest) else [unnest.this]
    name = projection.alias_or_name
    column = f"__unnest_{name}"
    unnest.replace(exp.column(column))
    node.append("joins", exp.Join(this=exp.Unnest(expressions=[e.copy() for e in items],
                                                   alias=exp.TableAlias(this=exp.to_identifier("_u"),
                                                                        columns=[exp.to_identifier(column)])),
                                  kind="CROSS"))
    return node


def _bigquery_template(template: str, **args: exp.Expression) -> exp.Expression:
    """A BigQuery expression with the columns ``__a``, ``__b``... replaced by ``args``."""
    tree = sqlglot.parse_one(template, read="bigquery")
    return tree.transform(lambda n: exp.Paren(this=args[n.name]) if isinstance(n, exp.Column) and n.name in args else n)


#: DuckDB's interval constructors and the BigQuery interval each becomes (unit, scale).
_TO_INTERVAL = {"to_seconds": ("MICROSECOND", 1000000), "to_minutes": ("MINUTE", 1), "to_hours": ("HOUR", 1),
                "to_days": ("DAY", 1)}

_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}


def _range_in_seconds(window: exp.Window) -> None:
    spec = window.args["spec"]
    bounds = [k for k in ("start", "end") if isinstance(spec.args.get(k), exp.Interval)]
    if not bounds:
        return
    order = window.args.get("order")
    if not isinstance(order, exp.Order) or len(order.expressions) != 1:
        raise TranspileError("a RANGE frame with INTERVAL bounds needs exactly one ORDER BY key")
    key = order.expressions[0]
    key.set("this", exp.UnixSeconds(this=key.this.copy()))
    # NULL keys form their own peer group under RANGE: where they sort does not change the
    # frame of any other row, so BigQuery's default null order is as good as DuckDB's
    key.set("nulls_first", not key.args.get("desc"))
    for k in bounds:
        interval = spec.args[k]
        unit = str(interval.args["unit"].name).upper().rstrip("S")
        if unit not in _SECONDS:
            raise TranspileError(f"RANGE frame bound in {unit}: only SECOND, MINUTE, HOUR, DAY can be converted")
        spec.set(k, exp.Literal.number(float(interval.this.name) * _SECONDS[unit] if "." in interval.this.name
                                       else int(interval.this.name) * _SECONDS[unit]))


def transpile(statements: list[Statement], dialect: str = "bigquery", hosp: str = BIGQUERY_HOSP,
              icu: str = BIGQUERY_ICU, derived: str = DERIVED_DATASET, study_dataset: str = "icu_cohort_study",
              ) -> list[tuple[Statement, str]]:
    """Each statement written in ``dialect`` with the target's table names. A statement SQLGlot
    cannot write raises :class:`TranspileError` naming its file."""
    if dialect not in SQLGLOT_DIALECTS:
        raise TranspileError(f"dialect {dialect!r} is not supported (choose from {', '.join(SQLGLOT_DIALECTS)})")
    out = []
    dry = DryRun(statements) if dialect == "postgres" else None
    columns = dry.columns() if dry is not None else None
    if dialect == "postgres":
        text = "".join(f"CREATE SCHEMA IF NOT EXISTS {name};\n" for name in dict.fromkeys((derived, study_dataset)))
        text += POSTGRES_FUNCTIONS.format(schema=derived.split(".")[-1])
        out.append((Statement("(PostgreSQL function)", None, exp.Command(this="CREATE", expression=text)), text))
    for st in statements:
        tree = st.sql.copy()
        if dialect == "postgres":  # EXCLUDE lists resolved on our own table names, then renamed
            tree = for_postgres(tree, columns, function_schema=derived.split(".")[-1], dry=dry)
        tree = rename_tables(tree, hosp, icu, derived, study_dataset)
        if dialect == "bigquery":
            tree = for_bigquery(tree)
        drop = ""
        if dialect == "postgres" and isinstance(tree, exp.Create) and tree.args.get("replace") \
                and str(tree.args.get("kind", "")).upper() == "TABLE":
            tree.set("replace", False)
            drop = f"DROP TABLE IF EXISTS {tree.this.sql(dialect='postgres')};\n"
        try:
            text = tree.sql(dialect=SQLGLOT_DIALECTS[dialect], unsupported_level=ErrorLevel.RAISE, pretty=True)
        except Exception as exc:  # sqlglot.errors.UnsupportedError and generator errors
            raise TranspileError(f"sql/{st.source}: cannot be written for {dialect}: {type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
        out.append((st, drop + text))
    if dry is not None:
        dry.close()
    return out


def study_sql_text(study: Study, dialect: str = "bigquery", **names) -> str:
    """The study's complete SQL script for ``dialect``: a header, then each statement with the
    file it comes from."""
    parts = [f"-- icu-cohort: study {study.name}, transpiled from DuckDB to {dialect} by SQLGlot "
             f"{sqlglot.__version__}.\n-- Run the statements in order; export the result of the last one and "
             "run the analysis with --config cohort_file=FILE.\n"]
    for st, text in transpile(study_statements(study), dialect, **names):
        parts.append(f"-- {st.source}" + (f" -> {st.creates}" if st.creates else "") + f"\n{text};\n")
    return "\n".join(parts)
