"""Data checks run on each MIMIC-IV table while it is loaded (before its Parquet file is in place),
or, for a mimic-code DuckDB database read in place, when the source is checked at start-up.

:func:`check_table` runs the checks of one table on its freshly written (temporary) Parquet
file and returns what it found; the loader raises :class:`icu_cohort.loader.MimicInputError`
for an error and records the warnings beside the Parquet file (and in the data manifest).
Nothing is dropped or changed here: a table either loads as PhysioNet shipped it, or stops
the run with a message naming the file, the key and a few offending ids.

Errors -- values that cannot occur in a real MIMIC-IV download and would corrupt every join
or model downstream:

* a duplicated or empty primary key (:attr:`icu_cohort.mimic_tables.TableSpec.primary_key`:
  ``patients.subject_id``, ``admissions.hadm_id``, ``icustays.stay_id``). A duplicated stay
  multiplies every row joined to it (one copy of chartevents per duplicate), which made the
  cohort join grow until the process was killed;
* ``patients.anchor_age`` outside 0-120 years (MIMIC-IV shifts ages over 89 to 91, so real
  values are 0-91);
* a death before the patient's birth: ``year(dod)`` earlier than the earliest possible birth
  year, ``anchor_year - anchor_age - 1`` (``anchor_age`` is the age during ``anchor_year``,
  so the birth year is ``anchor_year - anchor_age`` or the year before).

Warnings -- recorded, never silent, but the table loads:

* ``icustays.outtime`` before ``intime`` (a negative length of stay). Such a stay fails every
  study's "ICU length of stay > 24 h" criterion, so it leaves the cohort at that step and is
  counted in ``attrition.csv`` there; the warning says how many and which.
* a header-only table where one is allowed (``TableSpec.may_be_empty``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from icu_cohort.mimic_tables import TableSpec

#: How many offending ids a message lists.
EXAMPLES = 5


@dataclass
class CheckResult:
    """What the checks of one table found: ``errors`` stop the load, ``warnings`` are recorded.

    ``counts`` holds the number of offending rows per check (0 where the check passed), so the
    manifest shows which checks ran.
    """

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


#: The example keys a check names after its count ("e.g. stay_id 3, 5"): for the analyst's
#: console and log only.
_EXAMPLE_KEYS = re.compile(r",? e\.g\. (?:subject_id|hadm_id|stay_id) \d+(?:, \d+)*")
_COUNT = re.compile(r"(^|: )(\d+)(?= )")


def shareable_warning(warning: str, threshold: int | None = 11) -> str:
    """A check's warning as a shared report may show it: without the example keys (patient
    identifiers) and with its count hidden as ``<threshold`` when it is 1..threshold-1.

    >>> shareable_warning("icu/icustays.csv.gz: 3 ICU stay(s) have outtime before intime, e.g. stay_id 7, 9; x")
    'icu/icustays.csv.gz: <11 ICU stay(s) have outtime before intime; x'
    """
    text = _EXAMPLE_KEYS.sub("", warning)

    def count(m: re.Match) -> str:
        n = int(m.group(2))
        small = threshold is not None and 0 < n < threshold
        return m.group(1) + (f"<{threshold}" if small else m.group(2))

    return _COUNT.sub(count, text, count=1)


def _ids(rows: list[tuple]) -> str:
    return ", ".join(str(r[0]) for r in rows)


def _rule(con: duckdb.DuckDBPyConnection, rel: str, where: str, key: str) -> tuple[int, list[tuple]]:
    """Rows of ``rel`` matching ``where``: their number and the first few ``key`` values."""
    n = con.execute(f"SELECT count(*) FROM {rel} WHERE {where}").fetchone()[0]
    rows = con.execute(f"SELECT {_ident(key)} FROM {rel} WHERE {where} ORDER BY 1 LIMIT {EXAMPLES}").fetchall() if n else []
    return int(n), rows


def check_primary_key(con: duckdb.DuckDBPyConnection, rel: str, spec: TableSpec, result: CheckResult) -> None:
    key = spec.primary_key
    if key is None:
        return
    k = _ident(key)
    n_null = con.execute(f"SELECT count(*) FROM {rel} WHERE {k} IS NULL").fetchone()[0]
    dup = con.execute(
        f"SELECT {k}, count(*) AS n FROM {rel} WHERE {k} IS NOT NULL GROUP BY {k} HAVING count(*) > 1"
        f" ORDER BY n DESC, {k} LIMIT {EXAMPLES}"
    ).fetchall()
    n_dup = con.execute(
        f"SELECT count(*) FROM (SELECT {k} FROM {rel} WHERE {k} IS NOT NULL GROUP BY {k} HAVING count(*) > 1)"
    ).fetchone()[0] if dup else 0
    result.counts[f"duplicate_{key}"] = int(n_dup)
    result.counts[f"null_{key}"] = int(n_null)
    if n_dup:
        examples = ", ".join(f"{v} ({n} rows)" for v, n in dup)
        result.errors.append(
            f"duplicate primary key {key} in {spec.qualified}: {n_dup} value(s) appear on more than one "
            f"row (e.g. {examples}); expected one row per {key}. Was a file concatenated twice, or "
            "two extracts mixed? Download the file again from PhysioNet."
        )
    if n_null:
        result.errors.append(f"{n_null} row(s) of {spec.qualified} have an empty primary key {key}")


def check_patients(con: duckdb.DuckDBPyConnection, rel: str, result: CheckResult) -> None:
    n, ex = _rule(con, rel, "anchor_age < 0 OR anchor_age > 120", "subject_id")
    result.counts["anchor_age_outside_0_120"] = n
    if n:
        result.errors.append(
            f"{n} patient(s) have anchor_age outside 0-120 years (MIMIC-IV caps ages at 91), e.g. "
            f"subject_id {_ids(ex)}; a column shifted or a corrupt file?"
        )
    n, ex = _rule(con, rel, "year(dod) < anchor_year - anchor_age - 1", "subject_id")
    result.counts["death_before_birth_year"] = n
    if n:
        result.errors.append(
            f"{n} patient(s) die before they were born (year of dod < anchor_year - anchor_age - 1), "
            f"e.g. subject_id {_ids(ex)}"
        )


def check_icustays(con: duckdb.DuckDBPyConnection, rel: str, result: CheckResult) -> None:
    n, ex = _rule(con, rel, "outtime < intime", "stay_id")
    result.counts["outtime_before_intime"] = n
    if n:
        result.warnings.append(
            f"{n} ICU stay(s) have outtime before intime (negative length of stay), e.g. stay_id "
            f"{_ids(ex)}; they fail the 'ICU length of stay > 24 h' criterion and are counted there"
        )


_TABLE_RULES = {"hosp/patients": check_patients, "icu/icustays": check_icustays}


def has_checks(spec: TableSpec) -> bool:
    """Whether any check applies to ``spec``'s table."""
    return spec.primary_key is not None or f"{spec.module}/{spec.name}" in _TABLE_RULES


def check_table(con: duckdb.DuckDBPyConnection, parquet: str, spec: TableSpec) -> CheckResult:
    """Run every check of ``spec``'s table on the Parquet file ``parquet``; see the module doc."""
    return check_relation(con, f"read_parquet('{str(parquet).replace(chr(39), chr(39) * 2)}')", spec)


def check_relation(con: duckdb.DuckDBPyConnection, rel: str, spec: TableSpec) -> CheckResult:
    """Run every check of ``spec``'s table on the relation ``rel`` (a table, a view or a
    parenthesised query with the catalogue's column names and types)."""
    result = CheckResult()
    check_primary_key(con, rel, spec, result)
    rule = _TABLE_RULES.get(f"{spec.module}/{spec.name}")
    if rule is not None:
        rule(con, rel, result)
    return result
