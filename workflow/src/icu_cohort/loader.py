"""Read MIMIC-IV as PhysioNet distributes it, check it, convert it to Parquet once, expose it to SQL.

The first stage of the pipeline:

1. :func:`check_sources` -- before any work, every table the studies need must exist under
   the MIMIC-IV root (``hosp/<table>.csv.gz``, ``icu/<table>.csv.gz``) and its header must hold
   every expected column (names compared case-insensitively: releases differ in case). One
   error lists every missing file and every missing column. Releases v2.2, v3.0 and v3.1 are
   read (:data:`icu_cohort.mimic_tables.SUPPORTED_VERSIONS`); :func:`detect_version` says which
   one a folder holds and from what evidence.
2. :func:`convert_table` -- one CSV to one Parquet file, with the types PhysioNet documents
   (:mod:`icu_cohort.mimic_tables`): ids as integers, times as timestamps, ``dod`` as a date.
   Columns are selected by name, so extra or reordered columns load too. The gzip stream is
   inflated by ISA-L (``isal``) in a thread of its own, in blocks parsed by Arrow on ``threads``
   threads and written by DuckDB (:mod:`icu_cohort.arrow_csv`: DuckDB's rows, in file order);
   a value Arrow refuses sends
   the file to DuckDB's own CSV reader, whose casts name a bad column;
   :func:`convert_tables` converts two tables at a time. The data checks of :mod:`icu_cohort.checks` run on the new file before it is
   renamed into place; warnings are kept beside it (:func:`table_report`). A failure leaves no
   partial Parquet and no DuckDB temporary files behind.
3. :func:`connect` -- a DuckDB connection with views ``mimiciv_hosp.<table>`` and
   ``mimiciv_icu.<table>`` over the Parquet files: the schema names of mimic-code's DuckDB and
   PostgreSQL builds, so the same SQL runs on a database built with mimic-code.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
import weakref
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import duckdb

from icu_cohort import arrow_csv, checks
from icu_cohort.mimic_tables import (OTHER_DOIS, RELEASES, SUPPORTED_VERSIONS, TABLES, V22_ADDED_COLUMNS,
                                     TableSpec, column_aliases, table)

log = logging.getLogger("icu_cohort")

#: How :func:`convert_table` reads: ``"arrow"`` (ISA-L's inflate in blocks, parsed by Arrow on
#: several threads, :mod:`icu_cohort.arrow_csv`; falls back to ``"isal"`` when Arrow refuses a
#: value), ``"isal"`` (ISA-L's inflate in a thread of its own, piped into DuckDB's CSV reader),
#: ``"duckdb"`` (DuckDB's own gzip reader, in DuckDB's scan thread), ``"auto"`` (the first of
#: these that is installed). All give the same rows in the same order; ``"isal"`` and
#: ``"duckdb"`` the same Parquet bytes (``"arrow"`` cuts row groups at other rows).
DECOMPRESSORS = ("auto", "arrow", "isal", "duckdb")

#: Memory a conversion needs at most: it streams, keeping only the row groups that wait to be
#: written in file order (DuckDB spills or waits beyond this). :func:`convert_table` uses the
#: smaller of this and the ``memory_limit`` it is given, so two conversions at a time (the
#: default of :func:`convert_tables`) stay near 2 GB. Measured: chartevents of the 364,000-
#: patient synthetic set peaked at 4 GB resident under a 4 GB limit without this cap.
CONVERT_MEMORY_CAP = "1GB"

#: Seconds between two progress messages of a conversion (:func:`convert_table`, ``progress``).
PROGRESS_EVERY = 5.0

_SIZE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
               "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}


def _bytes(size: str) -> int:
    """``"4GB"`` -> 4e9, ``"512MiB"`` -> 512 * 2**20 (DuckDB's units: KB = 1000, KiB = 1024)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(size))
    if not m or m.group(2).upper() not in _SIZE_UNITS:
        raise ValueError(f"memory_limit {size!r} is not a size such as '4GB' or '512MiB'")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()])


class MimicInputError(ValueError):
    """An input MIMIC-IV file is missing, malformed, or does not have the expected content."""


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def read_header(path: Path) -> list[str]:
    """The column names in the first line of a gzip-compressed CSV file, as written there.

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
    line = line.lstrip("\ufeff").rstrip("\r\n")
    if not line:
        raise MimicInputError(f"{path}: no header line; expected a CSV header with column names")
    return [c.strip().strip('"') for c in line.split(",")]


def header_columns(path: Path, spec: TableSpec, header: list[str] | None = None) -> dict[str, str]:
    """``{catalogue name: name in the file}`` for every column of ``spec``, matched case-insensitively.

    Raises :class:`MimicInputError` naming the file for missing columns, or for two header
    names that differ only in case (which one to read would be a guess).
    """
    header = read_header(path) if header is None else header
    aliases = column_aliases(f"{spec.module}/{spec.name}")
    mapping, absent = {}, []
    for name in spec.column_names:
        found = [h for h in header if h.lower() in aliases[name]]
        if len(found) > 1:
            raise MimicInputError(f"{path}: header has column {name!r} more than once ({', '.join(found)})")
        if not found:
            absent.append(name)
        else:
            mapping[name] = found[0]
    if absent:
        key = f"{spec.module}/{spec.name}"
        older = [c for c in V22_ADDED_COLUMNS.get(key, ()) if c in absent]
        hint = (f"; the header lacks {', '.join(older)}, added in MIMIC-IV v2.2: an older release (v2.0/v2.1)? "
                f"icu-cohort reads MIMIC-IV {', '.join(SUPPORTED_VERSIONS)}") if older else ""
        raise MimicInputError(f"{path}: missing column(s) {', '.join(absent)} (header has: {', '.join(header)}){hint}")
    return mapping


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
            header_columns(path, spec)
        except MimicInputError as exc:
            problems.append(str(exc))
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


# --------------------------------------------------------------------------------------------
# DuckDB connections and their temporary folders
# --------------------------------------------------------------------------------------------

_TEMP_PREFIX = "icu-cohort-duckdb-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _private_temp_dir(base: str | Path | None) -> Path:
    """A new folder for one connection's DuckDB spill files, below ``base``.

    ``base`` defaults to DuckDB's own default, ``.tmp`` in the working directory. Folders left
    by earlier processes that no longer run (killed, e.g. by the out-of-memory killer, before
    they could clean up) are removed first.
    """
    base = Path(base) if base else Path(".tmp")
    try:
        left = list(base.glob(f"{_TEMP_PREFIX}*"))
    except OSError:  # no base yet, or another connection just removed it
        left = []
    for old in left:
        m = re.match(rf"{_TEMP_PREFIX}(\d+)-", old.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(old, ignore_errors=True)
    path = base / f"{_TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    # Another connection closing meanwhile may remove an empty ``.tmp`` base between our
    # creating it and creating the folder inside it (see _remove_spill): try again then.
    for attempt in range(50):
        try:
            path.mkdir(parents=True)
            return path
        except (FileExistsError, FileNotFoundError):
            if base.exists() and not base.is_dir():
                raise NotADirectoryError(f"DuckDB temp_directory {base} exists and is not a folder")
            if attempt == 49:
                raise
    return path


def _remove_spill(path: str | Path) -> None:
    """Remove a connection's spill folder, and DuckDB's default ``.tmp`` base when left empty."""
    path = Path(path)
    shutil.rmtree(path, ignore_errors=True)
    if path.parent.name == ".tmp":
        try:
            path.parent.rmdir()  # only when empty: other connections may still use it
        except OSError:
            pass


def _duckdb(threads: int = 2, memory_limit: str = "4GB", temp_directory: str | None = None):
    """A DuckDB connection spilling into its own folder below ``temp_directory``.

    The folder (see :func:`_private_temp_dir`) is removed when the connection is closed and
    garbage-collected, at interpreter exit, or -- after a kill -- by the next process.
    """
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET memory_limit = {_quote_str(memory_limit)}")
    spill = _private_temp_dir(temp_directory)
    con.execute(f"SET temp_directory = {_quote_str(str(spill))}")
    weakref.finalize(con, _remove_spill, str(spill))
    con.execute("SET preserve_insertion_order = false")
    return con, spill


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


class _Decompressor(threading.Thread):
    """Decompress a gzip file with ISA-L (``isal``) into a pipe that DuckDB reads as plain CSV.

    DuckDB's CSV reader over a stream runs in one thread (parse, casts, Parquet encoding);
    doing the inflate here, on another core and 2-3 times faster than DuckDB's own gzip reader
    (CPU seconds, measured on the synthetic labevents), takes it off that thread. An error (a truncated or corrupt stream) is kept in
    :attr:`error` and raised by the caller after DuckDB is done: a clean end of the pipe then
    does not pass for a complete file.
    """

    def __init__(self, src: Path, progress: Callable[[str], None] | None = None, every: float | None = None) -> None:
        super().__init__(name=f"decompress-{src.name}", daemon=True)
        self.src = src
        self.read_fd, self._write_fd = os.pipe()
        self.error: BaseException | None = None
        self.bytes_out = 0
        self.lines = 0  # newlines passed on (the header and one per row, unless a value holds one)
        self.progress = progress
        self.every = PROGRESS_EVERY if every is None else every

    def run(self) -> None:
        from isal import igzip

        from icu_cohort.console import Rate

        try:
            total = max(os.path.getsize(self.src), 1)
            rate = Rate("rows", self.every) if self.progress else None
            with open(self.src, "rb") as raw, igzip.IGzipFile(fileobj=raw, mode="rb") as f, \
                    os.fdopen(self._write_fd, "wb", buffering=0) as out:
                buf = bytearray(1 << 22)
                view = memoryview(buf)
                while n := f.readinto(buf):
                    out.write(view[:n])
                    self.bytes_out += n
                    if rate is not None:
                        # progress: rows so far (lines after the header) and the share of the
                        # compressed file read, which gives the time left
                        self.lines += buf.count(b"\n", 0, n)
                        msg = rate.update(max(self.lines - 1, 0), raw.tell() / total)
                        if msg:
                            self.progress(f"{self.src.name}: {msg}")
        except BrokenPipeError:
            pass  # DuckDB stopped reading (it failed, and says why)
        except BaseException as exc:  # noqa: BLE001 -- handed to the caller
            self.error = exc

    @property
    def path(self) -> str:
        return f"/dev/fd/{self.read_fd}"

    def close(self) -> None:
        """Close the read end (unblocks the writer if DuckDB never read) and wait for the thread."""
        try:
            os.close(self.read_fd)
        except OSError:
            pass
        self.join()


def _decompressor_available() -> bool:
    try:
        import isal.igzip  # noqa: F401
    except ImportError:
        return False
    return os.path.isdir("/dev/fd")


def _sidecar(dst: Path) -> Path:
    """The JSON file beside ``dst`` holding what its load found (:func:`table_report`)."""
    return dst.with_name(dst.name + ".json")


def table_report(parquet: Path) -> dict | None:
    """What :func:`convert_table` recorded for one Parquet file: rows, checks, ``warnings``."""
    path = _sidecar(Path(parquet))
    return json.loads(path.read_text()) if path.is_file() else None


def _copy(con: duckdb.DuckDBPyConnection, query: str, tmp: Path) -> None:
    """Write ``query`` to the Parquet file ``tmp``, rows in the query's (file) order."""
    # File order, whatever the number of threads (same data, same Parquet rows).
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"COPY ({query}) TO {_quote_str(str(tmp))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)")
    con.execute("SET preserve_insertion_order = false")


def _copy_with_arrow(con: duckdb.DuckDBPyConnection, src: Path, spec: TableSpec, header: list[str],
                     names: dict[str, str], tmp: Path, progress: Callable[[str], None] | None,
                     workers: int = 2) -> str | None:
    """Convert ``src`` to ``tmp`` through :mod:`icu_cohort.arrow_csv` (``workers`` parsing
    threads); ``None`` when done, else
    why Arrow refused the file (``tmp`` removed; the caller reads it again with DuckDB's reader,
    whose error names the column). A damaged gzip stream raises :class:`MimicInputError`."""
    from icu_cohort.console import Rate

    rate = Rate("rows", PROGRESS_EVERY) if progress else None

    def on_read(lines: int, share: float) -> None:
        msg = rate.update(lines, share)
        if msg:
            progress(f"{src.name}: {msg}")

    failure: list[BaseException] = []  # what the batches raised (DuckDB re-raises it as text)

    def batches():
        try:
            yield from arrow_csv.record_batches(src, header, names, spec.columns, workers=workers,
                                                on_read=on_read if rate else None)
        except BaseException as exc:
            failure.append(exc)
            raise

    import pyarrow as pa

    try:
        con.register("mimic_csv_arrow", pa.RecordBatchReader.from_batches(arrow_csv.schema(spec.columns), batches()))
        _copy(con, "SELECT * FROM mimic_csv_arrow", tmp)
        return None
    except Exception as exc:  # noqa: BLE001 -- sorted below
        cause = failure[0] if failure else exc
        if isinstance(cause, arrow_csv.DecompressError):
            raise _decompress_error(src, cause.__cause__ or cause) from exc
        if tmp.exists():
            tmp.unlink()
        return f"{type(cause).__name__}: {str(cause).splitlines()[0][:300] if str(cause) else ''}"
    finally:
        con.unregister("mimic_csv_arrow")


def convert_table(
    src: Path | None,
    dst: Path,
    spec: TableSpec,
    threads: int = 2,
    memory_limit: str = "4GB",
    temp_directory: str | None = None,
    *,
    decompressor: str = "auto",
    progress: Callable[[str], None] | None = None,
) -> int:
    """Convert one MIMIC-IV CSV (gzip) to Parquet with the documented types; return its row count.

    ``src=None`` writes an empty table with the right columns (for an allowed missing table).
    ``decompressor``: one of :data:`DECOMPRESSORS`; every choice gives the same rows in the
    same (file) order. The data checks of :mod:`icu_cohort.checks` run on the new file before
    it is renamed to ``dst``; ``dst.json`` beside it records the rows, the checks and any
    warnings (:func:`table_report`; the warnings are also logged). A header-only file is
    accepted only where :attr:`TableSpec.may_be_empty`. DuckDB gets at most
    :data:`CONVERT_MEMORY_CAP` of memory. Errors raise :class:`MimicInputError`
    naming the file (and the column or key); nothing is left behind: no Parquet, no temporary
    Parquet, no DuckDB spill files. ``progress``, when given, receives a message every 5 s
    while the file is read (rows so far, rows per second, share done and time left; with
    the ``isal`` decompressor) and one when the table is done.
    """
    if decompressor not in DECOMPRESSORS:
        raise ValueError(f"decompressor must be one of {', '.join(DECOMPRESSORS)}, not {decompressor!r}")
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp_side = dst.with_name(f".{dst.name}.json.{os.getpid()}.tmp")
    start = time.perf_counter()
    if _bytes(memory_limit) > _bytes(CONVERT_MEMORY_CAP):
        memory_limit = CONVERT_MEMORY_CAP
    con, spill = _duckdb(threads, memory_limit, temp_directory)
    feeder: _Decompressor | None = None
    report: dict = {"table": spec.qualified, "source": str(src) if src else None, "warnings": []}
    try:
        if src is None:
            cols = ", ".join(f"CAST(NULL AS {t}) AS {_quote_ident(c)}" for c, t in spec.columns)
            query = f"SELECT {cols} WHERE false"
            report["decompressor"] = None
        else:
            src = Path(src)
            header = read_header(src)
            names = header_columns(src, spec, header)
            # Every column read as text first; the CASTs below apply the documented types, so a
            # bad value fails here with the column named rather than being sniffed into VARCHAR.
            types = ", ".join(f"{_quote_str(c)}: 'VARCHAR'" for c in header)
            use = decompressor
            if use == "auto":
                use = "arrow" if arrow_csv.available() else "isal" if _decompressor_available() else "duckdb"
            if use == "arrow":
                why = _copy_with_arrow(con, src, spec, header, names, tmp, progress, workers=threads)
                if why is not None:
                    log.info("%s: Arrow's reader refused it (%s); reading it again with DuckDB's reader", src, why)
                    use = "isal" if _decompressor_available() else "duckdb"
            report["decompressor"] = use
            query = None
            if use == "isal":
                feeder = _Decompressor(src, progress)
                feeder.start()
                path, compression = feeder.path, "none"
            elif use == "duckdb":
                path, compression = str(src), "gzip"
            if use != "arrow":
                reader = (
                    f"read_csv({_quote_str(path)}, header = true, delim = ',', quote = '\"', "
                    f"escape = '\"', columns = {{{types}}}, compression = {_quote_str(compression)})"
                )
                select = ", ".join(f"CAST({_quote_ident(names[c])} AS {t}) AS {_quote_ident(c)}" for c, t in spec.columns)
                query = f"SELECT {select} FROM {reader}"
        if query is not None:
            try:
                _copy(con, query, tmp)
            except duckdb.Error:
                if feeder is not None:
                    feeder.close()
                    if feeder.error is not None:
                        raise _decompress_error(src, feeder.error) from feeder.error
                raise
            if feeder is not None:
                feeder.close()
                if feeder.error is not None:
                    raise _decompress_error(src, feeder.error) from feeder.error
        n_rows = int(con.execute(f"SELECT count(*) FROM read_parquet({_quote_str(str(tmp))})").fetchone()[0])
        report["rows"] = n_rows
        if src is not None and n_rows == 0:
            if not spec.may_be_empty:
                raise MimicInputError(
                    f"{src}: the table has a header but no rows; expected {spec.qualified} data "
                    f"(only {', '.join(k for k, t in TABLES.items() if t.may_be_empty)} may be empty)"
                )
            report["warnings"].append(f"{spec.relpath}: header only, no rows (accepted for {spec.qualified})")
        found = checks.check_table(con, tmp, spec)
        report["checks"] = found.counts
        if found.errors:
            raise MimicInputError(f"{src}: " + "; ".join(found.errors))
        report["warnings"] += [f"{spec.relpath}: {w}" for w in found.warnings]
        for w in report["warnings"]:
            log.warning("%s", w)
        report["seconds"] = round(time.perf_counter() - start, 3)
        tmp_side.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, dst)
        os.replace(tmp_side, _sidecar(dst))
        if progress is not None:
            secs = time.perf_counter() - start
            progress(f"{spec.relpath}: {n_rows:,} rows converted in {secs:.1f} s ({n_rows / max(secs, 1e-9):,.0f} rows/s)")
        return n_rows
    except MimicInputError:
        raise
    except duckdb.Error as exc:
        raise MimicInputError(_explain_duckdb_error(Path(src) if src else dst, spec, exc)) from exc
    finally:
        if feeder is not None and feeder.is_alive():
            feeder.close()
        con.close()
        _remove_spill(spill)
        for leftover in (tmp, tmp_side):
            if leftover.exists():
                leftover.unlink()


def _decompress_error(src: Path, exc: BaseException) -> MimicInputError:
    return MimicInputError(
        f"{src}: cannot be decompressed ({type(exc).__name__}: {exc}); a truncated or corrupt "
        "download? Download the file again from PhysioNet."
    )


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
    *,
    parallel: int = 2,
    decompressor: str = "auto",
    timings: dict[str, float] | None = None,
) -> dict[str, int]:
    """Check then convert every table; return ``{table_key: rows}`` (in key order).

    ``parallel`` tables are converted at a time, largest file first, each with its own DuckDB
    connection (``threads``, ``memory_limit``): one table's scan is a single thread (see
    :class:`_Decompressor`), so on two cores chartevents runs beside all the other tables.
    ``timings``, when given, receives each table's seconds. The first error is raised once the
    conversions already running have finished (their files are complete and valid).
    """
    from concurrent.futures import ThreadPoolExecutor

    sources = check_sources(mimic_dir, table_keys, allow_missing)

    def size(key: str) -> int:
        return sources[key].stat().st_size if sources[key] is not None else 0

    def one(key: str) -> int:
        t0 = time.perf_counter()
        n = convert_table(sources[key], parquet_path(parquet_dir, key), table(key), threads, memory_limit,
                          temp_directory, decompressor=decompressor)
        if timings is not None:
            timings[key] = time.perf_counter() - t0
        return n

    order = sorted(sources, key=lambda k: (-size(k), k))
    with ThreadPoolExecutor(max_workers=max(1, int(parallel))) as pool:
        futures = {key: pool.submit(one, key) for key in order}
        errors = [f.exception() for f in futures.values() if f.exception() is not None]
    if errors:
        raise errors[0]
    return {key: futures[key].result() for key in sorted(sources)}


def parquet_manifest(parquet_dir: Path, table_keys: Iterable[str] | None = None) -> dict:
    """The load reports of the Parquet files below ``parquet_dir`` (:func:`table_report`).

    ``{"tables": {key: report}, "warnings": [...]}``: every warning of every table, in key order.
    """
    keys = sorted(table_keys) if table_keys is not None else sorted(TABLES)
    tables = {}
    for key in keys:
        rep = table_report(parquet_path(parquet_dir, key))
        if rep is not None:
            tables[key] = rep
    return {"tables": tables, "warnings": [w for rep in tables.values() for w in rep.get("warnings", [])]}


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
    con, _ = _duckdb(threads, memory_limit, temp_directory)
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


_VERSION_IN_NAME = re.compile(r"(?:^|[^0-9.])(\d+\.\d+)$")


def _folder_version(mimic_dir: Path) -> tuple[str, str] | None:
    """``(version, folder)`` from the root's name or its parent's (``.../mimiciv/3.1``, ``mimic-iv-3.1``)."""
    root = Path(mimic_dir).resolve()
    for part in (root, root.parent):
        m = _VERSION_IN_NAME.search(part.name)
        if m:
            return m.group(1), str(part)
    return None


def _root_file_versions(mimic_dir: Path) -> list[dict]:
    """Versions named by PhysioNet's files in the root (README, SHA256SUMS.txt, ...), via their DOI."""
    found = []
    known = {RELEASES[v]["doi"]: v for v in RELEASES} | OTHER_DOIS
    for path in sorted(Path(mimic_dir).glob("*")):
        if not path.is_file() or path.suffix.lower() not in (".txt", ".md", ".html") or path.stat().st_size > 1 << 20:
            continue
        text = path.read_text(errors="replace")
        for doi, version in known.items():
            if doi in text:
                found.append({"source": f"DOI {doi} in {path.name}", "says": version.split(" ")[0], "kind": "exact"})
        if path.name == "SHA256SUMS.txt":
            listed = {line.split()[-1] for line in text.splitlines() if line.strip()}
            if "hosp/provider.csv.gz" in listed or "icu/caregiver.csv.gz" in listed:
                found.append({"source": "SHA256SUMS.txt lists hosp/provider.csv.gz / icu/caregiver.csv.gz (new in v2.2)",
                              "says": ">=2.2", "kind": "hint"})
    return found


def _content_version(mimic_dir: Path) -> dict | None:
    """v2.2 or v3.x from the years in ``patients.anchor_year_group`` (v3.x adds 2020 - 2022)."""
    path = Path(mimic_dir) / table("hosp/patients").relpath
    if not path.is_file():
        return None
    try:
        names = header_columns(path, table("hosp/patients"))
        con = duckdb.connect()
        try:
            groups = {r[0] for r in con.execute(
                f"SELECT DISTINCT {_quote_ident(names['anchor_year_group'])} FROM read_csv({_quote_str(str(path))}, "
                "header = true, all_varchar = true, compression = 'gzip')").fetchall()}
        finally:
            con.close()
    except (MimicInputError, duckdb.Error):
        return None
    v3 = set(RELEASES["3.1"]["anchor_year_groups"]) - set(RELEASES["2.2"]["anchor_year_groups"])
    source = f"patients.anchor_year_group values {', '.join(sorted(g for g in groups if g))}"
    if groups & v3:
        return {"source": source, "says": "3.x", "kind": "family"}
    # No 2020-2022 patients: v2.2, or an extract of v3.x without them.
    return {"source": source, "says": "2.2", "kind": "hint"}


def detect_version(mimic_dir: Path) -> dict:
    """Which MIMIC-IV release ``mimic_dir`` holds, and from what evidence.

    Evidence, each an entry ``{"source": ..., "says": ...}`` of ``evidence``:

    * the folder name, as PhysioNet's download lays it out (``physionet.org/files/mimiciv/3.1``);
    * PhysioNet's files in the root: a release's DOI in a README/text file; ``SHA256SUMS.txt``
      listing the tables new in v2.2;
    * the data: ``patients.anchor_year_group`` holds ``2020 - 2022`` only from v3.0 on.
      (v2.2, v3.0 and v3.1 have the same headers -- :data:`icu_cohort.mimic_tables.VERSION_CHANGES`
      -- so headers only tell v2.0/v2.1 apart, which :func:`check_sources` rejects.)

    Each entry's ``kind`` says how strong it is: ``exact`` (a name or DOI), ``family`` (the data
    show v3.x), ``hint`` (consistent with a release but not proof: a v3.x extract without
    2020-2022 patients looks like v2.2).

    Returns ``{"version": "3.1" | "3.0" | "2.2" | "3.x" | None, "evidence": [...],
    "conflicts": [...], "notes": [...]}``: the first exact version that the data do not
    contradict; else ``"3.x"`` when the data show it; else the hint ``"2.2"`` from the data;
    ``None`` when there is no evidence at all. ``conflicts`` lists evidence that disagrees (the
    data win over names); ``notes`` the release's known content changes
    (:data:`icu_cohort.mimic_tables.RELEASES`).
    """
    evidence: list[dict] = []
    folder = _folder_version(mimic_dir)
    if folder:
        evidence.append({"source": f"folder name {folder[1]}", "says": folder[0], "kind": "exact"})
    evidence += _root_file_versions(mimic_dir)
    content = _content_version(mimic_dir)
    if content:
        evidence.append(content)
    family = "3.x" if content and content["kind"] == "family" else None
    conflicts: list[str] = []
    version = None
    for e in evidence:
        if e["kind"] != "exact":
            continue
        if family and not e["says"].startswith("3."):
            conflicts.append(f"{e['source']} says {e['says']}, but {content['source']} (2020 - 2022 only from v3.0)")
        elif version is None:
            version = e["says"]
        elif e["says"] != version:
            conflicts.append(f"{e['source']} says {e['says']}, not {version}")
    if version is None:
        version = family or (content["says"] if content else None)
    notes = [RELEASES[version]["notes"]] if version in RELEASES and RELEASES[version]["notes"] else []
    if version is not None and version not in SUPPORTED_VERSIONS and version != "3.x":
        notes.append(f"MIMIC-IV {version} is not one of the releases icu-cohort reads ({', '.join(SUPPORTED_VERSIONS)})")
    return {"version": version, "evidence": evidence, "conflicts": conflicts, "notes": notes}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file (read in 4 MiB blocks), as ``sha256sum`` prints it."""
    return _sha256(path)


def data_manifest(
    mimic_dir: Path,
    sources: dict[str, Path | None],
    kind: str,
    rows: dict[str, int] | None = None,
    checksums: bool = True,
    parquet_dir: Path | None = None,
) -> dict:
    """What the report says about the data: source, version, and per file size, date, checksum.

    ``mimic_version`` is the detected release (:func:`detect_version`; ``"2.2 (synthetic)"``
    for the generator's data) and ``mimic_version_detection`` the evidence behind it. With
    ``parquet_dir`` (after conversion), each table carries its load checks and ``warnings``
    (:func:`table_report`) and ``warnings`` lists them all.
    """
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
        if parquet_dir is not None:
            rep = table_report(parquet_path(parquet_dir, key))
            if rep is not None:
                entry.update({"rows": rep.get("rows"), "checks": rep.get("checks", {}),
                              "warnings": rep.get("warnings", [])})
        tables.append(entry)
    if kind == "mimic":
        detected = detect_version(mimic_dir)
        version = detected["version"]
    else:
        detected, version = {"version": "2.2", "evidence": [{"source": "synthetic generator", "says": "2.2"}],
                             "conflicts": [], "notes": []}, "2.2 (synthetic)"
    warnings = [f"MIMIC-IV version: {c}" for c in detected["conflicts"]] + list(detected["notes"])
    warnings += [w for entry in tables for w in entry.get("warnings", [])]
    return {
        "source": str(Path(mimic_dir).resolve()),
        "kind": kind,
        "mimic_version": version,
        "mimic_version_detection": detected,
        "tables": tables,
        "warnings": warnings,
    }
