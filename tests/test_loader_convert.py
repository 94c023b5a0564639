"""The fast conversions (ISA-L inflate piped into DuckDB; Arrow's reader): same Parquet as DuckDB's own gzip
reader, values equal to an independent parse, bad streams named, nothing left behind."""

from __future__ import annotations

import csv
import gc
import gzip
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from icu_cohort import loader
from icu_cohort.mimic_tables import TABLES, table
from conftest import write_csv_gz

pytest.importorskip("isal")


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    from icu_cohort.synth import generate

    root = tmp_path_factory.mktemp("conv") / "mimic"
    generate(root, 300, 5, progress=None, chart_rows_per_stay=200)
    return root


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and (p.suffix == ".tmp" or ".tmp" in p.name or
                                                          p.name.endswith(".parquet") or p.name.endswith(".json"))]


def test_isal_and_duckdb_readers_write_the_same_parquet_bytes(synth_dir, tmp_path):
    for key, spec in TABLES.items():
        src = synth_dir / spec.relpath
        a = tmp_path / "isal" / f"{spec.name}.parquet"
        b = tmp_path / "duckdb" / f"{spec.name}.parquet"
        na = loader.convert_table(src, a, spec, decompressor="isal")
        nb = loader.convert_table(src, b, spec, decompressor="duckdb")
        assert na == nb > 0, key
        assert a.read_bytes() == b.read_bytes(), key
        assert loader.table_report(a)["decompressor"] == "isal"
        assert loader.table_report(b)["decompressor"] == "duckdb"


def test_same_bytes_whatever_the_thread_count(synth_dir, tmp_path):
    spec = table("icu/chartevents")
    src = synth_dir / spec.relpath
    loader.convert_table(src, tmp_path / "t1.parquet", spec, threads=1)
    loader.convert_table(src, tmp_path / "t2.parquet", spec, threads=2)
    assert (tmp_path / "t1.parquet").read_bytes() == (tmp_path / "t2.parquet").read_bytes()


def test_demo_tables_same_bytes_with_both_readers(mimic_demo, tmp_path):
    """The real MIMIC-IV demo: isal and duckdb give the same bytes, Arrow's multi-core reader
    (:mod:`icu_cohort.arrow_csv`) the same rows in the same order, every table the pipeline reads."""
    from test_arrow_csv import _same_rows_in_order

    for key, spec in TABLES.items():
        src = mimic_demo / spec.relpath
        if not src.exists():
            continue
        a, b, c = (tmp_path / f"{spec.name}.{x}.parquet" for x in "abc")
        loader.convert_table(src, a, spec, decompressor="isal")
        loader.convert_table(src, b, spec, decompressor="duckdb")
        assert a.read_bytes() == b.read_bytes(), key
        loader.convert_table(src, c, spec, decompressor="arrow")
        assert loader.table_report(c)["decompressor"] == "arrow", key
        _same_rows_in_order(b, c)


def test_rows_and_values_in_file_order_match_pythons_csv_module(synth_dir, tmp_path):
    """An independent parse (gzip + csv): every row, every value, in order."""
    for key in ("icu/icustays", "icu/chartevents", "hosp/patients"):
        spec = table(key)
        src = synth_dir / spec.relpath
        dst = tmp_path / f"{spec.name}.parquet"
        n = loader.convert_table(src, dst, spec)
        with gzip.open(src, "rt", newline="") as handle:
            rows = list(csv.reader(handle))
        header, body = rows[0], rows[1:]
        assert n == len(body)
        got = pq.read_table(dst)
        assert got.column_names == spec.column_names
        for name, typ in spec.columns:
            want = [r[header.index(name)] for r in body]
            col = got.column(name).to_pylist()
            for i, (w, g) in enumerate(zip(want, col)):
                if w == "":
                    assert g is None, (key, name, i)
                elif typ in ("INTEGER", "BIGINT", "SMALLINT"):
                    assert g == int(w), (key, name, i)
                elif typ == "DOUBLE":
                    assert g == float(w), (key, name, i)
                elif typ == "TIMESTAMP":
                    assert g.isoformat(sep=" ") == w, (key, name, i)
                elif typ == "DATE":
                    assert g.isoformat() == w, (key, name, i)
                else:
                    assert g == w, (key, name, i)


def test_quoted_commas_quotes_and_newlines_survive(tmp_path):
    spec = table("icu/outputevents")
    src = tmp_path / "m" / spec.relpath
    src.parent.mkdir(parents=True)
    text = (",".join(spec.column_names) + "\n"
            '1,2,3,4,2150-01-01 10:00:00,2150-01-01 10:05:00,226559,100,"ml, ""foley""\nbag"\n'
            '1,2,3,4,2150-01-01 11:00:00,2150-01-01 11:05:00,226559,50,""\n')
    with gzip.open(src, "wt", newline="") as h:
        h.write(text)
    dst = tmp_path / "o.parquet"
    loader.convert_table(src, dst, spec)
    assert pq.read_table(dst).column("valueuom").to_pylist() == ['ml, "foley"\nbag', None]


@pytest.mark.parametrize("decompressor", ["arrow", "isal", "duckdb"])
@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
def test_damaged_gzip_is_named_and_leaves_nothing(tmp_path, decompressor, damage):
    spec = table("hosp/labevents")
    root = tmp_path / "mimic"
    rows = [[i, 1, 2, 3, 50960, None, "2150-01-01 10:00:00", "2150-01-01 11:00:00", f"{i % 7}.0", i % 7,
             "mg/dL", 1.6, 2.6, None, "ROUTINE", None] for i in range(60000)]
    path = write_csv_gz(root / spec.relpath, spec.column_names, rows)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) * 2 // 3]
    else:  # a flipped byte near the end: inflate may pass, the CRC-32 check must not
        data[-12] ^= 0xFF
    path.write_bytes(bytes(data))
    out, spill = tmp_path / "pq", tmp_path / "spill"
    with pytest.raises(loader.MimicInputError,
                       match=r"labevents\.csv\.gz: (cannot be (decompressed|read)|could not be read).*") as err:
        loader.convert_table(path, loader.parquet_path(out, "hosp/labevents"), spec, temp_directory=str(spill),
                             decompressor=decompressor)
    if decompressor in ("arrow", "isal"):
        assert "truncated or corrupt" in str(err.value)
    assert not _leftovers(out)
    assert not [p for p in spill.rglob("*")], "DuckDB temp folder not cleaned"


def test_failed_conversion_leaves_the_duckdb_temp_folder_empty(tmp_path):
    spec = table("icu/outputevents")
    root = tmp_path / "mimic"
    rows = [[1, 2, 3, 4, "2150-01-01 10:00:00", "2150-01-01 10:05:00", 226559, i, "ml"] for i in range(200000)]
    rows.append([1, 2, 3, 4, "2150-01-01 10:00:00", "not a time", 226559, 1, "ml"])
    src = write_csv_gz(root / spec.relpath, spec.column_names, rows)
    spill = tmp_path / "spill"
    with pytest.raises(loader.MimicInputError, match=r"outputevents\.csv\.gz: column 'storetime'"):
        loader.convert_table(src, tmp_path / "pq" / "o.parquet", spec, threads=2, memory_limit="64MB",
                             temp_directory=str(spill))
    assert spill.is_dir() and not list(spill.iterdir())
    assert not _leftovers(tmp_path / "pq")


def test_any_failure_after_duckdb_spilled_removes_its_files(tmp_path, monkeypatch):
    """Spill files DuckDB wrote (simulated in its temp folder) go, whatever the exception."""
    spec = table("icu/outputevents")
    src = write_csv_gz(tmp_path / "mimic" / spec.relpath, spec.column_names,
                       [[1, 2, 3, 4, "2150-01-01 10:00:00", "2150-01-01 10:05:00", 226559, 1, "ml"]])
    seen = []

    def spill_then_fail(con, parquet, spec):
        folder = Path(con.execute("SELECT current_setting('temp_directory')").fetchone()[0])
        (folder / "duckdb_temp_storage_S32K-0.tmp").write_bytes(b"\0" * 4096)
        seen.append(folder)
        raise RuntimeError("killed mid-check")

    monkeypatch.setattr(loader.checks, "check_table", spill_then_fail)
    spill = tmp_path / "spill"
    with pytest.raises(RuntimeError, match="killed mid-check"):
        loader.convert_table(src, tmp_path / "pq" / "o.parquet", spec, temp_directory=str(spill))
    assert seen and seen[0].parent == spill and not seen[0].exists()
    assert not list(spill.iterdir()) and not _leftovers(tmp_path / "pq")


def test_spill_folders_of_dead_processes_are_removed(tmp_path):
    spill = tmp_path / "spill"
    dead = spill / f"icu-cohort-duckdb-{2**22 + 12345}-deadbeef"
    dead.mkdir(parents=True)
    (dead / "duckdb_temp_storage-0.tmp").write_bytes(b"x" * 1000)
    mine_alive = spill / f"icu-cohort-duckdb-{os.getppid()}-cafe0000"
    mine_alive.mkdir()
    con = loader.connect(tmp_path / "nothing", temp_directory=str(spill))
    assert not dead.exists()
    assert mine_alive.exists()  # a running process's folder is left alone
    own = [p for p in spill.iterdir() if p.name.startswith(f"icu-cohort-duckdb-{os.getpid()}-")]
    assert len(own) == 1
    con.close()
    del con
    gc.collect()
    assert not own[0].exists()


def test_convert_tables_in_parallel_equals_one_at_a_time(synth_dir, tmp_path):
    timings: dict[str, float] = {}
    a = loader.convert_tables(synth_dir, tmp_path / "a", TABLES, parallel=2, timings=timings)
    b = loader.convert_tables(synth_dir, tmp_path / "b", TABLES, parallel=1)
    assert a == b and list(a) == sorted(TABLES) and set(timings) == set(TABLES)
    for key in TABLES:
        assert loader.parquet_path(tmp_path / "a", key).read_bytes() == loader.parquet_path(tmp_path / "b", key).read_bytes()
    manifest = loader.parquet_manifest(tmp_path / "a")
    assert {k: r["rows"] for k, r in manifest["tables"].items()} == a


def test_convert_tables_error_names_the_table_and_other_tables_complete(synth_dir, tmp_path):
    root = tmp_path / "mimic"
    for key, spec in TABLES.items():
        (root / spec.relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / spec.relpath).write_bytes((synth_dir / spec.relpath).read_bytes())
    bad = root / table("icu/icustays").relpath
    with gzip.open(bad, "rt") as h:
        lines = h.read().splitlines()
    lines[3] = lines[3].replace(lines[3].split(",")[5], "yesterday", 1)  # intime
    with gzip.open(bad, "wt") as h:
        h.write("\n".join(lines) + "\n")
    out = tmp_path / "pq"
    with pytest.raises(loader.MimicInputError, match=r"icustays\.csv\.gz: column 'intime'"):
        loader.convert_tables(root, out, TABLES)
    assert not loader.parquet_path(out, "icu/icustays").exists()
    assert loader.parquet_path(out, "hosp/patients").is_file()
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def test_default_temp_folder_leaves_no_litter_in_the_working_directory(tmp_path, monkeypatch):
    spec = table("icu/outputevents")
    src = write_csv_gz(tmp_path / "mimic" / spec.relpath, spec.column_names,
                       [[1, 2, 3, 4, "2150-01-01 10:00:00", "2150-01-01 10:05:00", 226559, 1, "ml"]])
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    loader.convert_table(src, tmp_path / "pq" / "o.parquet", spec)
    assert list(work.iterdir()) == []
    con = loader.connect(tmp_path / "pq")
    assert (work / ".tmp").is_dir()  # DuckDB's default base, holding this connection's folder
    con.close()
    del con
    gc.collect()
    assert list(work.iterdir()) == []


def test_early_failure_in_a_large_file_stops_the_decompressor(tmp_path):
    """DuckDB fails on the first rows while most of the stream is still to come: no hang, named error."""
    import threading

    spec = table("icu/outputevents")
    rows = [[1, 2, 3, 4, "2150-01-01 10:00:00", "2150-01-01 10:05:00", 226559, i, "ml"] for i in range(400000)]
    rows[2][6] = "itemid?"
    src = write_csv_gz(tmp_path / "mimic" / spec.relpath, spec.column_names, rows)
    with gzip.open(src, "rb") as h:
        assert len(h.read()) > 100 * 65536  # far more than a pipe buffer holds
    errors = []

    def run():
        try:
            loader.convert_table(src, tmp_path / "pq" / "o.parquet", spec, decompressor="isal")
        except loader.MimicInputError as exc:
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "convert_table hangs after an early DuckDB error"
    assert len(errors) == 1 and "outputevents.csv.gz: column 'itemid'" in str(errors[0])
    assert not _leftovers(tmp_path / "pq")
