"""The loader: header checks, CSV to typed Parquet, bad inputs, the mimiciv_* views."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from icu_cohort import loader
from icu_cohort.mimic_tables import TABLES, table
from conftest import write_csv_gz

PATIENTS = table("hosp/patients")
PATIENT_ROWS = [
    [10000032, "F", 52, 2180, "2014 - 2016", "2180-09-09"],
    [10000048, "M", 17, 2126, "2008 - 2010", None],
]


def _patients_dir(tmp_path: Path, header=None, rows=None) -> Path:
    root = tmp_path / "mimic"
    write_csv_gz(root / "hosp" / "patients.csv.gz", header or PATIENTS.column_names, rows or PATIENT_ROWS)
    return root


def _no_partial_files(folder: Path) -> bool:
    return not folder.exists() or not any(folder.rglob("*.parquet")) and not any(folder.rglob("*.tmp"))


def test_types_follow_physionet_documentation(tmp_path):
    root = _patients_dir(tmp_path)
    out = tmp_path / "pq"
    rows = loader.convert_tables(root, out, ["hosp/patients"])
    assert rows == {"hosp/patients": 2}
    con = loader.connect(out)
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE mimiciv_hosp.patients)").fetchall())
    assert types == {"subject_id": "INTEGER", "gender": "VARCHAR", "anchor_age": "SMALLINT",
                     "anchor_year": "SMALLINT", "anchor_year_group": "VARCHAR", "dod": "DATE"}
    got = con.execute("SELECT subject_id, CAST(dod AS VARCHAR) FROM mimiciv_hosp.patients ORDER BY 1").fetchall()
    assert got == [(10000032, "2180-09-09"), (10000048, None)]


def test_columns_selected_by_name_so_newer_releases_with_extra_columns_load(tmp_path):
    header = ["extra_col"] + list(reversed(PATIENTS.column_names))
    rows = [["x"] + list(reversed(r)) for r in PATIENT_ROWS]
    root = _patients_dir(tmp_path, header, rows)
    loader.convert_tables(root, tmp_path / "pq", ["hosp/patients"])
    con = loader.connect(tmp_path / "pq")
    assert [d[0] for d in con.execute("SELECT * FROM mimiciv_hosp.patients").description] == PATIENTS.column_names
    assert con.execute("SELECT anchor_age FROM mimiciv_hosp.patients ORDER BY subject_id").fetchall() == [(52,), (17,)]


def test_timestamps_with_and_without_milliseconds(tmp_path):
    spec = table("icu/outputevents")
    root = tmp_path / "mimic"
    write_csv_gz(root / spec.relpath, spec.column_names, [
        [1, 2, 3, 4, "2150-01-01 10:00:00", "2150-01-01 10:05:00.090", 226559, 100, "ml"],
    ])
    loader.convert_tables(root, tmp_path / "pq", ["icu/outputevents"])
    con = loader.connect(tmp_path / "pq")
    assert con.execute("SELECT CAST(storetime AS VARCHAR), typeof(charttime) FROM mimiciv_icu.outputevents").fetchone() == (
        "2150-01-01 10:05:00.09", "TIMESTAMP")


def test_missing_file_is_named_before_any_work(tmp_path):
    root = _patients_dir(tmp_path)
    with pytest.raises(loader.MimicInputError) as err:
        loader.check_sources(root, ["hosp/patients", "icu/icustays", "hosp/admissions"])
    msg = str(err.value)
    assert "icu/icustays.csv.gz" in msg and "hosp/admissions.csv.gz" in msg
    assert "patients.csv.gz" not in msg


def test_missing_chartevents_names_it_and_suggests_the_demo_option(tmp_path):
    root = _patients_dir(tmp_path)
    with pytest.raises(loader.MimicInputError, match=r"icu/chartevents\.csv\.gz.*\n.*allow_missing_tables"):
        loader.check_sources(root, ["icu/chartevents"])


def test_missing_column_names_file_and_columns(tmp_path):
    header = [c for c in PATIENTS.column_names if c not in ("anchor_year", "dod")]
    rows = [[r[0], r[1], r[2], r[4]] for r in PATIENT_ROWS]
    root = _patients_dir(tmp_path, header, rows)
    with pytest.raises(loader.MimicInputError, match=r"patients\.csv\.gz: missing column\(s\) anchor_year, dod"):
        loader.check_sources(root, ["hosp/patients"])


def test_truncated_gzip_gives_clear_error_and_no_parquet(tmp_path):
    spec = table("hosp/labevents")
    root = tmp_path / "mimic"
    rows = [[i, 1, 2, 3, 50960, None, "2150-01-01 10:00:00", "2150-01-01 11:00:00", "2.0", 2.0,
             "mg/dL", 1.6, 2.6, None, "ROUTINE", None] for i in range(20000)]
    path = write_csv_gz(root / spec.relpath, spec.column_names, rows)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    out = tmp_path / "pq"
    with pytest.raises(loader.MimicInputError, match=r"labevents\.csv\.gz: cannot be (decompressed|read).*truncated or corrupt"):
        src = loader.check_sources(root, ["hosp/labevents"])["hosp/labevents"]
        loader.convert_table(src, loader.parquet_path(out, "hosp/labevents"), spec)
    assert _no_partial_files(out)


def test_empty_file_and_header_only_table_are_errors(tmp_path):
    root = tmp_path / "mimic"
    (root / "hosp").mkdir(parents=True)
    (root / "hosp" / "patients.csv.gz").write_bytes(b"")
    with pytest.raises(loader.MimicInputError, match=r"patients\.csv\.gz: the file is empty"):
        loader.check_sources(root, ["hosp/patients"])
    write_csv_gz(root / "hosp" / "patients.csv.gz", PATIENTS.column_names, [])
    src = loader.check_sources(root, ["hosp/patients"])["hosp/patients"]
    out = tmp_path / "pq"
    with pytest.raises(loader.MimicInputError, match=r"patients\.csv\.gz: the table has a header but no rows"):
        loader.convert_table(src, loader.parquet_path(out, "hosp/patients"), PATIENTS)
    assert _no_partial_files(out)


@pytest.mark.parametrize("column, bad", [("subject_id", "10000032x"), ("dod", "not-a-date"), ("anchor_age", "fifty")])
def test_wrong_type_names_file_and_column_and_leaves_nothing(tmp_path, column, bad):
    rows = [list(r) for r in PATIENT_ROWS]
    rows[1][PATIENTS.column_names.index(column)] = bad
    root = _patients_dir(tmp_path, rows=rows)
    out = tmp_path / "pq"
    src = loader.check_sources(root, ["hosp/patients"])["hosp/patients"]
    with pytest.raises(loader.MimicInputError, match=rf"patients\.csv\.gz: column '{column}' has a value that is not a valid"):
        loader.convert_table(src, loader.parquet_path(out, "hosp/patients"), PATIENTS)
    assert _no_partial_files(out)


def test_failed_conversion_keeps_an_earlier_good_parquet_untouched(tmp_path):
    root = _patients_dir(tmp_path)
    out = tmp_path / "pq"
    loader.convert_tables(root, out, ["hosp/patients"])
    good = loader.parquet_path(out, "hosp/patients").read_bytes()
    rows = [list(r) for r in PATIENT_ROWS]
    rows[0][0] = "oops"
    write_csv_gz(root / "hosp" / "patients.csv.gz", PATIENTS.column_names, rows)
    with pytest.raises(loader.MimicInputError):
        loader.convert_tables(root, out, ["hosp/patients"])
    assert loader.parquet_path(out, "hosp/patients").read_bytes() == good
    assert not list(out.rglob("*.tmp"))


def test_allowed_missing_table_becomes_empty_typed_view(tmp_path):
    root = _patients_dir(tmp_path)
    out = tmp_path / "pq"
    rows = loader.convert_tables(root, out, ["hosp/patients", "icu/chartevents"], allow_missing=["icu/chartevents"])
    assert rows["icu/chartevents"] == 0
    con = loader.connect(out, table_keys=["hosp/patients", "icu/chartevents"])
    cols = con.execute("SELECT column_name, column_type FROM (DESCRIBE mimiciv_icu.chartevents)").fetchall()
    assert cols == list(table("icu/chartevents").columns)


def test_connect_names_a_missing_parquet(tmp_path):
    with pytest.raises(loader.MimicInputError, match=r"icustays\.parquet.*mimiciv_icu\.icustays"):
        loader.connect(tmp_path, table_keys=["icu/icustays"])


def test_demo_headers_match_the_committed_specs(mimic_demo):
    for key, spec in TABLES.items():
        path = mimic_demo / spec.relpath
        if key == "icu/chartevents" and not path.exists():
            continue  # the demo copy ships without it (its NOTE.md); the header is checked below
        assert loader.read_header(path) == spec.column_names, key
    note = (mimic_demo / "NOTE.md").read_text()
    assert ",".join(table("icu/chartevents").column_names) in note


def test_demo_loads_with_chartevents_allowed_missing(mimic_demo, tmp_path):
    with pytest.raises(loader.MimicInputError, match="chartevents"):
        loader.check_sources(mimic_demo, TABLES)
    rows = loader.convert_tables(mimic_demo, tmp_path, TABLES, allow_missing=["icu/chartevents"])
    assert rows["icu/icustays"] == 140 and rows["hosp/patients"] == 100 and rows["hosp/admissions"] == 275
    con = loader.connect(tmp_path)
    # Real content, real types: IV magnesium sulfate rows in inputevents with their itemids.
    n_mg = con.execute("SELECT count(*) FROM mimiciv_icu.inputevents WHERE itemid IN (222011, 227523)").fetchone()[0]
    assert n_mg > 0
    assert con.execute("SELECT typeof(intime) FROM mimiciv_icu.icustays LIMIT 1").fetchone()[0] == "TIMESTAMP"
    manifest = loader.data_manifest(mimic_demo, loader.check_sources(mimic_demo, TABLES, ["icu/chartevents"]),
                                    "mimic", rows, checksums=True)
    assert manifest["mimic_version"] == "2.2"
    sums = dict(line.split()[::-1] for line in (mimic_demo / "SHA256SUMS.txt").read_text().splitlines() if line.strip())
    for entry in manifest["tables"]:
        if not entry.get("missing"):
            assert entry["sha256"] == sums[entry["file"]], entry["file"]


def test_spill_folders_survive_concurrent_connections_removing_the_base(tmp_path, monkeypatch):
    """Parallel table conversions each open and close a connection; one closing removes the
    empty ``.tmp`` base while another is creating its folder in it (a race CI once hit)."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.chdir(tmp_path)

    def open_close(_):
        for _ in range(40):
            path = loader._private_temp_dir(None)
            assert path.is_dir()
            loader._remove_spill(path)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(open_close, range(4)))
    assert not (tmp_path / ".tmp").exists()
