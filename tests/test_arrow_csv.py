"""The multi-core reader (ISA-L inflate in blocks, Arrow's CSV parser): the same rows, in the
same order, with the same values as DuckDB's reader; refusals fall back to DuckDB's reader."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest

from icu_cohort import arrow_csv, loader
from icu_cohort.mimic_tables import TABLES, table

pytestmark = pytest.mark.skipif(not arrow_csv.available(), reason="isal or pyarrow not installed")


def _same_rows_in_order(a: Path, b: Path) -> None:
    """Row i of ``a`` equals row i of ``b`` for every i (NULLs equal), and the types are equal."""
    con = duckdb.connect()
    ta = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{a}')").fetchall()
    tb = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{b}')").fetchall()
    assert ta == tb
    cols = [r[0] for r in ta]
    na, nb = (con.execute(f"SELECT count(*) FROM read_parquet('{p}')").fetchone()[0] for p in (a, b))
    assert na == nb
    q = ("SELECT count(*) FROM (SELECT row_number() OVER () AS i, * FROM read_parquet('{a}')) x "
         "FULL JOIN (SELECT row_number() OVER () AS i, * FROM read_parquet('{b}')) y USING (i) WHERE "
         + " OR ".join(f'x."{c}" IS DISTINCT FROM y."{c}"' for c in cols))
    assert con.execute(q.format(a=a, b=b)).fetchone()[0] == 0


def _gz(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", newline="", encoding="utf-8") as h:
        h.write(text)
    return path


OUTPUT_HEADER = ",".join(table("icu/outputevents").column_names)


@pytest.mark.parametrize("block", [64, 1 << 20])
def test_quotes_newlines_empties_and_crlf_as_duckdb_reads_them(tmp_path, monkeypatch, block):
    """Blocks of 64 bytes cut the file on every line: a newline inside quotes must not end one."""
    monkeypatch.setattr(arrow_csv, "BLOCK_BYTES", block)
    rows = [
        '1,2,3,4,2150-01-01 10:00:00,2150-01-01 10:05:00,226559,100,"ml, ""foley""\nbag"',
        '1,2,3,4,2150-01-01 11:00:00,2150-01-01 11:05:00,226559,50,""',
        '1,2,3,,2150-01-01 12:00:00,,226559,,',
        '1,2,3,4,2150-01-01 13:00:00.5,2150-01-01 13:05:00,226560,1.5e2,"µg ""x"", ""y"""',
        '1,2,3,4,2150-01-01T14:00:00,2150-01-01 14:05:00,226560,-0.25,"line1\r\nline2"',
        '10,20,30,40,2150-01-02 00:00:00,2150-01-02 00:00:00,226561,0,mL',
    ]
    for eol in ("\n", "\r\n"):
        src = _gz(tmp_path / eol.encode().hex() / "icu" / "outputevents.csv.gz", OUTPUT_HEADER + eol + eol.join(rows) + eol)
        a, b = src.with_name("a.parquet"), src.with_name("b.parquet")
        spec = table("icu/outputevents")
        assert loader.convert_table(src, a, spec, decompressor="arrow") == len(rows)
        assert loader.table_report(a)["decompressor"] == "arrow"
        loader.convert_table(src, b, spec, decompressor="duckdb")
        _same_rows_in_order(a, b)
    import pyarrow.parquet as pq
    assert pq.read_table(a).column("valueuom").to_pylist() == [
        'ml, "foley"\nbag', None, None, 'µg "x", "y"', "line1\r\nline2", "mL"]


def test_no_final_newline_and_header_only(tmp_path):
    spec = table("icu/outputevents")
    src = _gz(tmp_path / "a" / "icu" / "outputevents.csv.gz",
              OUTPUT_HEADER + "\n1,2,3,4,2150-01-01 10:00:00,2150-01-01 10:05:00,226559,100,mL")
    assert loader.convert_table(src, tmp_path / "a.parquet", spec, decompressor="arrow") == 1
    loader.convert_table(src, tmp_path / "b.parquet", spec, decompressor="duckdb")
    _same_rows_in_order(tmp_path / "a.parquet", tmp_path / "b.parquet")
    spec = table("icu/procedureevents")  # may be empty
    assert spec.may_be_empty
    src = _gz(tmp_path / "e" / spec.relpath, ",".join(spec.column_names) + "\n")
    assert loader.convert_table(src, tmp_path / "e.parquet", spec, decompressor="arrow") == 0
    loader.convert_table(src, tmp_path / "f.parquet", spec, decompressor="duckdb")
    _same_rows_in_order(tmp_path / "e.parquet", tmp_path / "f.parquet")


@pytest.mark.parametrize("value", ["12.0", " 12", "12 ", "1e1", "+12", "0012"])
def test_integers_written_oddly_read_as_duckdb_reads_them(tmp_path, value):
    """DuckDB's cast reads each of these as the integer 12 (or 10); where Arrow refuses one
    (``12.0``), the conversion reads the file again with DuckDB's reader and says so in its
    report; either way the rows equal DuckDB's."""
    spec = table("icu/outputevents")
    src = _gz(tmp_path / "icu" / "outputevents.csv.gz",
              OUTPUT_HEADER + f"\n1,2,3,{value},2150-01-01 10:00:00,2150-01-01 10:05:00,226559,100,mL\n")
    out = tmp_path / "o.parquet"
    loader.convert_table(src, out, spec, decompressor="arrow")
    if value == "12.0":
        assert loader.table_report(out)["decompressor"] in ("isal", "duckdb")
    loader.convert_table(src, tmp_path / "d.parquet", spec, decompressor="duckdb")
    _same_rows_in_order(out, tmp_path / "d.parquet")


@pytest.mark.parametrize("charttime,value", [
    ("2150-01-01 10:00", "NaN"), ("2150-01-01", "inf"), ("2150-01-01 10:00:00.123456", ".5"),
    ("2150-01-01 10:00:00Z", "5."), ("2150-01-01 10:00:00+00", "-1E-3"), ("2150-1-1 10:00:00", "1,5"),
    ("2150-01-01  10:00:00", " 7 "), ("2150-01-01 24:00:00", "0x10"),
])
def test_times_and_decimals_written_oddly_read_as_duckdb_reads_them(tmp_path, charttime, value):
    """Whatever Arrow accepts, it reads as DuckDB's casts do; what it refuses, DuckDB reads (or
    names as a bad value)."""
    spec = table("icu/outputevents")
    q = '"' if "," in value else ""
    src = _gz(tmp_path / "icu" / "outputevents.csv.gz",
              OUTPUT_HEADER + f"\n1,2,3,4,{charttime},2150-01-01 10:05:00,226559,{q}{value}{q},mL\n")
    try:
        loader.convert_table(src, tmp_path / "d.parquet", spec, decompressor="duckdb")
    except loader.MimicInputError as exc:
        with pytest.raises(loader.MimicInputError) as err:
            loader.convert_table(src, tmp_path / "a.parquet", spec, decompressor="arrow")
        assert str(err.value) == str(exc)
        return
    loader.convert_table(src, tmp_path / "a.parquet", spec, decompressor="arrow")
    _same_rows_in_order(tmp_path / "a.parquet", tmp_path / "d.parquet")


def test_a_bad_value_is_still_named_by_column(tmp_path):
    spec = table("icu/outputevents")
    src = _gz(tmp_path / "icu" / "outputevents.csv.gz",
              OUTPUT_HEADER + "\n1,2,3,4,not a time,2150-01-01 10:05:00,226559,100,mL\n")
    with pytest.raises(loader.MimicInputError, match=r"outputevents\.csv\.gz: column 'charttime'"):
        loader.convert_table(src, tmp_path / "o.parquet", spec, decompressor="arrow")
    assert not list(tmp_path.glob("*.parquet")) and not list(tmp_path.glob(".*tmp"))


def test_every_table_of_a_synthetic_set_in_small_blocks(tmp_path, monkeypatch):
    """Every table, cut into many blocks, gives DuckDB's rows in DuckDB's order."""
    from icu_cohort.synth import generate

    monkeypatch.setattr(arrow_csv, "BLOCK_BYTES", 1 << 16)
    root = tmp_path / "mimic"
    generate(root, 120, 3, progress=None, chart_rows_per_stay=100)
    for key, spec in TABLES.items():
        src = root / spec.relpath
        if not src.exists():
            continue
        a, b = tmp_path / f"{spec.name}.a.parquet", tmp_path / f"{spec.name}.b.parquet"
        loader.convert_table(src, a, spec, decompressor="arrow")
        assert loader.table_report(a)["decompressor"] == "arrow", key
        loader.convert_table(src, b, spec, decompressor="duckdb")
        _same_rows_in_order(a, b)


def test_blocks_end_only_between_records(tmp_path):
    """Hand-made: every block ends after a record's newline, never inside quotes, and the
    blocks put together are the file after its header."""
    body = 'a,"x\ny",1\n' + 'b,"""q""\n",2\n' * 3 + 'c,plain,3\n' + 'd,"' + "z" * 50 + '\n",4\n'
    src = _gz(tmp_path / "t.csv.gz", "k,v,n\n" + body)
    for size in (1, 7, 16, 1 << 20):
        blocks = [bytes(b) for b in arrow_csv.newline_blocks(src, size)]
        assert b"".join(blocks).decode() == body, size
        for b in blocks:
            assert b.endswith(b"\n") and b.count(b'"') % 2 == 0, (size, b)
    assert len(list(arrow_csv.newline_blocks(src, 1))) == 6  # six records, one block each


def test_damaged_stream_is_a_decompress_error(tmp_path):
    src = _gz(tmp_path / "t.csv.gz", "k,v\n" + "a,1\n" * 100000)
    src.write_bytes(src.read_bytes()[:-40])
    with pytest.raises(arrow_csv.DecompressError):
        list(arrow_csv.newline_blocks(src, 1 << 12))


def test_stopping_early_ends_the_inflate_thread(tmp_path):
    """A consumer that stops after the first batch (DuckDB failing mid-file) leaves no thread
    inflating behind it, and the batches it did get are the file's first rows, in order."""
    import threading

    spec = table("icu/outputevents")
    rows = [f"1,2,3,4,2150-01-01 10:00:00,2150-01-01 10:05:00,{226000 + i},{i},mL" for i in range(20000)]
    src = _gz(tmp_path / "icu" / "outputevents.csv.gz", OUTPUT_HEADER + "\n" + "\n".join(rows) + "\n")
    header = loader.read_header(src)
    batches = arrow_csv.record_batches(src, header, loader.header_columns(src, spec, header), spec.columns,
                                       workers=2, block_bytes=1 << 12)
    first = next(batches)
    assert first.column("value").to_pylist() == list(range(first.num_rows)) and 0 < first.num_rows < len(rows)
    assert any(t.name.startswith("inflate-") for t in threading.enumerate())
    batches.close()
    assert not any(t.name.startswith("inflate-") for t in threading.enumerate())


def test_a_damaged_stream_reaches_the_consumer(tmp_path):
    """The inflate runs in its own thread; its error is raised where the batches are read."""
    spec = table("icu/outputevents")
    rows = [f"1,2,3,4,2150-01-01 10:00:00,2150-01-01 10:05:00,226559,{i},mL" for i in range(50000)]
    src = _gz(tmp_path / "icu" / "outputevents.csv.gz", OUTPUT_HEADER + "\n" + "\n".join(rows) + "\n")
    src.write_bytes(src.read_bytes()[:-40])
    header = loader.read_header(src)
    with pytest.raises(arrow_csv.DecompressError):
        for _ in arrow_csv.record_batches(src, header, loader.header_columns(src, spec, header), spec.columns,
                                          block_bytes=1 << 12):
            pass
