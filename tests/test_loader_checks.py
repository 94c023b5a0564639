"""Data checks at load time: duplicated keys, impossible values, header-only tables.

Each bad input: a named error (file, key, a few offending ids) and nothing partial left --
no Parquet, no temporary file, no report beside it; or, for a warning, a table that loads
and a warning that reaches the table report, the Parquet folder's manifest and the data
manifest (and the log)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from icu_cohort import checks, loader
from icu_cohort.mimic_tables import TABLES, table
from conftest import write_csv_gz

PATIENTS = table("hosp/patients")
ADMISSIONS = table("hosp/admissions")
ICUSTAYS = table("icu/icustays")


def patient(sid, age=52, year=2180, dod=None):
    return [sid, "F", age, year, "2014 - 2016", dod]


def admission(sid, hadm):
    return [sid, hadm, "2180-05-06 22:23:00", "2180-05-07 17:15:00"] + [None] * 12


def stay(sid, hadm, stay_id, intime="2180-05-06 23:00:00", outtime="2180-05-08 23:00:00"):
    return [sid, hadm, stay_id, "MICU", "MICU", intime, outtime, 2.0]


def convert(tmp_path: Path, spec, rows):
    src = write_csv_gz(tmp_path / "mimic" / spec.relpath, spec.column_names, rows)
    dst = loader.parquet_path(tmp_path / "pq", f"{spec.module}/{spec.name}")
    return src, dst, lambda: loader.convert_table(src, dst, spec, temp_directory=str(tmp_path / "spill"))


def assert_nothing_left(tmp_path: Path) -> None:
    left = [p for p in (tmp_path / "pq").rglob("*") if p.is_file()] if (tmp_path / "pq").exists() else []
    assert left == []
    spill = tmp_path / "spill"
    assert not spill.exists() or not list(spill.iterdir())


@pytest.mark.parametrize("spec, rows, key, dups", [
    (PATIENTS, [patient(3), patient(1), patient(2), patient(1), patient(3), patient(3)], "subject_id", "3 (3 rows), 1 (2 rows)"),
    (ADMISSIONS, [admission(1, 20), admission(1, 21), admission(1, 20)], "hadm_id", "20 (2 rows)"),
    (ICUSTAYS, [stay(1, 20, 300), stay(1, 20, 301), stay(1, 20, 300)], "stay_id", "300 (2 rows)"),
])
def test_duplicate_primary_key_is_an_error_naming_file_key_and_values(tmp_path, spec, rows, key, dups):
    src, dst, run = convert(tmp_path, spec, rows)
    n_dup = dups.count("rows")
    with pytest.raises(loader.MimicInputError) as err:
        run()
    msg = str(err.value)
    assert msg.startswith(f"{src}: duplicate primary key {key} in {spec.qualified}: {n_dup} value(s)")
    assert f"e.g. {dups})" in msg
    assert_nothing_left(tmp_path)


def test_duplicate_examples_are_capped(tmp_path):
    rows = [patient(i) for i in range(20)] * 2
    _, _, run = convert(tmp_path, PATIENTS, rows)
    with pytest.raises(loader.MimicInputError, match=r"20 value\(s\) .*e\.g\. 0 \(2 rows\), 1 \(2 rows\), 2 \(2 rows\), "
                                                     r"3 \(2 rows\), 4 \(2 rows\)\)"):
        run()


def test_empty_primary_key_is_an_error(tmp_path):
    _, _, run = convert(tmp_path, ICUSTAYS, [stay(1, 20, 300), stay(1, 20, None)])
    with pytest.raises(loader.MimicInputError, match=r"icustays\.csv\.gz: 1 row\(s\) of mimiciv_icu\.icustays have an empty primary key stay_id"):
        run()
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("age, ok", [(-1, False), (0, True), (91, True), (120, True), (121, False), (300, False)])
def test_anchor_age_outside_0_to_120_is_an_error(tmp_path, age, ok):
    _, dst, run = convert(tmp_path, PATIENTS, [patient(1), patient(7, age=age)])
    if ok:
        assert run() == 2
        assert loader.table_report(dst)["checks"]["anchor_age_outside_0_120"] == 0
    else:
        with pytest.raises(loader.MimicInputError, match=r"1 patient\(s\) have anchor_age outside 0-120 .*subject_id 7;"):
            run()
        assert_nothing_left(tmp_path)


@pytest.mark.parametrize("dod, ok", [
    ("2127-12-31", True),   # anchor 2180, age 52: born 2127 or 2128 -> dying in 2127 is possible
    ("2126-12-31", False),  # before the earliest possible birth year
    ("2180-01-01", True),
])
def test_death_before_birth_year_is_an_error(tmp_path, dod, ok):
    _, _, run = convert(tmp_path, PATIENTS, [patient(1), patient(9, age=52, year=2180, dod=dod)])
    if ok:
        assert run() == 2
    else:
        with pytest.raises(loader.MimicInputError, match=r"1 patient\(s\) die before they were born .*subject_id 9"):
            run()
        assert_nothing_left(tmp_path)


def test_outtime_before_intime_loads_with_a_warning_everywhere(tmp_path, caplog):
    rows = [stay(1, 20, 300), stay(1, 20, 302, "2180-05-06 23:00:00", "2180-05-06 22:00:00"),
            stay(1, 20, 301, "2180-05-06 23:00:00", "2180-05-06 22:59:59")]
    root = tmp_path / "mimic"
    write_csv_gz(root / ICUSTAYS.relpath, ICUSTAYS.column_names, rows)
    with caplog.at_level(logging.WARNING, logger="icu_cohort"):
        assert loader.convert_tables(root, tmp_path / "pq", ["icu/icustays"]) == {"icu/icustays": 3}
    want = ("icu/icustays.csv.gz: 2 ICU stay(s) have outtime before intime (negative length of stay), "
            "e.g. stay_id 301, 302; they fail the 'ICU length of stay > 24 h' criterion and are counted there")
    rep = loader.table_report(loader.parquet_path(tmp_path / "pq", "icu/icustays"))
    assert rep["warnings"] == [want] and rep["checks"]["outtime_before_intime"] == 2
    assert loader.parquet_manifest(tmp_path / "pq")["warnings"] == [want]
    manifest = loader.data_manifest(root, loader.check_sources(root, ["icu/icustays"]), "mimic",
                                    checksums=False, parquet_dir=tmp_path / "pq")
    assert want in manifest["warnings"] and manifest["tables"][0]["warnings"] == [want]
    assert want in caplog.text


def test_clean_tables_record_every_check_with_zero(tmp_path):
    root = tmp_path / "mimic"
    write_csv_gz(root / PATIENTS.relpath, PATIENTS.column_names, [patient(1), patient(2)])
    write_csv_gz(root / ICUSTAYS.relpath, ICUSTAYS.column_names, [stay(1, 20, 300)])
    loader.convert_tables(root, tmp_path / "pq", ["hosp/patients", "icu/icustays"])
    assert loader.table_report(loader.parquet_path(tmp_path / "pq", "hosp/patients"))["checks"] == {
        "duplicate_subject_id": 0, "null_subject_id": 0, "anchor_age_outside_0_120": 0, "death_before_birth_year": 0}
    assert loader.table_report(loader.parquet_path(tmp_path / "pq", "icu/icustays"))["checks"] == {
        "duplicate_stay_id": 0, "null_stay_id": 0, "outtime_before_intime": 0}
    assert loader.parquet_manifest(tmp_path / "pq")["warnings"] == []


def test_only_outputevents_and_procedureevents_may_be_empty():
    assert sorted(k for k, t in TABLES.items() if t.may_be_empty) == ["icu/outputevents", "icu/procedureevents"]
    assert {t.primary_key for t in TABLES.values()} - {None} == {"subject_id", "hadm_id", "stay_id"}


@pytest.mark.parametrize("key", sorted(TABLES))
def test_header_only_table_loads_with_a_warning_only_where_allowed(tmp_path, key):
    spec = table(key)
    _, dst, run = convert(tmp_path, spec, [])
    if spec.may_be_empty:
        assert run() == 0
        assert loader.table_report(dst)["warnings"] == [f"{spec.relpath}: header only, no rows (accepted for {spec.qualified})"]
    else:
        with pytest.raises(loader.MimicInputError, match=rf"{spec.name}\.csv\.gz: the table has a header but no rows; .*"
                                                         r"only icu/outputevents, icu/procedureevents may be empty"):
            run()
        assert_nothing_left(tmp_path)


def test_a_duplicated_stay_stops_the_load_before_any_join(tmp_path):
    """The reported failure: a stay twice in icustays. It now stops at load time, by name."""
    root = tmp_path / "mimic"
    write_csv_gz(root / ICUSTAYS.relpath, ICUSTAYS.column_names, [stay(1, 20, 300), stay(1, 20, 300)])
    write_csv_gz(root / PATIENTS.relpath, PATIENTS.column_names, [patient(1)])
    with pytest.raises(loader.MimicInputError, match=r"icustays\.csv\.gz: duplicate primary key stay_id .*300 \(2 rows\)"):
        loader.convert_tables(root, tmp_path / "pq", ["hosp/patients", "icu/icustays"])
    assert not loader.parquet_path(tmp_path / "pq", "icu/icustays").exists()


def test_checks_find_what_a_python_scan_finds(tmp_path):
    """Second computation: the same counts from the rows in Python."""
    rows = [patient(i, age=(i * 37) % 140 - 5, year=2150 + i % 30, dod=f"{2100 + (i * 7) % 90}-06-01" if i % 3 else None)
            for i in range(400)]
    src, dst, _ = convert(tmp_path, PATIENTS, rows)
    import duckdb
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * REPLACE (CAST(dod AS DATE) AS dod) FROM read_csv('{src}', header=true)) TO '{tmp_path}/p.parquet'")
    found = checks.check_table(con, tmp_path / "p.parquet", PATIENTS)
    ages = sum(1 for r in rows if not 0 <= r[2] <= 120)
    before = sum(1 for r in rows if r[5] and int(r[5][:4]) < r[3] - r[2] - 1)
    assert found.counts["anchor_age_outside_0_120"] == ages > 0
    assert found.counts["death_before_birth_year"] == before > 0


def test_a_shared_warning_has_no_example_keys_and_hides_a_small_count():
    from icu_cohort.checks import shareable_warning

    w = "icu/icustays.csv.gz: 3 ICU stay(s) have outtime before intime (negative length of stay), e.g. stay_id 30000002, 30000009; they fail"
    assert shareable_warning(w, 11) == ("icu/icustays.csv.gz: <11 ICU stay(s) have outtime before intime "
                                        "(negative length of stay); they fail")
    big = w.replace(": 3 ICU", ": 250 ICU")
    assert shareable_warning(big, 11).startswith("icu/icustays.csv.gz: 250 ICU stay(s)")
    assert "30000002" not in shareable_warning(big, 11)
    assert shareable_warning("icu/x.csv.gz: header only, no rows", 11) == "icu/x.csv.gz: header only, no rows"
