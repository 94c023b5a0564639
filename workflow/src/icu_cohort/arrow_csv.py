"""Read one MIMIC-IV ``csv.gz`` on several cores: ISA-L inflate, Arrow's CSV parser, in order.

DuckDB's CSV reader over a gzip stream parses in one thread; on chartevents that thread is
the whole conversion (measured on a 20-million-row slice of the 364,000-patient synthetic set,
2 cores: 26.4 s wall for 26.7 CPU-s). Here the stream is inflated by ISA-L, in a thread of its
own, in blocks of :data:`BLOCK_BYTES`, each cut after a newline outside quotes; the blocks are
parsed by Arrow (``pyarrow.csv``, with the documented types) on a small pool of threads while
DuckDB writes the Parquet file from the batches in file order (16.8 s wall on the same slice
with the inflate in DuckDB's thread; on another machine 22.1 s that way and 17.5 s with the
inflate in its own thread, the Parquet file byte-identical).

The values are DuckDB's: :func:`icu_cohort.loader.convert_table` falls back to DuckDB's
reader (whose casts name the bad column) whenever Arrow refuses a value, and Arrow accepts
only what DuckDB's casts read the same way (integers without spaces or decimals, ISO-8601
timestamps, plain decimals; an empty field, quoted or not, is NULL as DuckDB's
``allow_quoted_nulls`` default makes it). Tests compare both readers on fixtures with quoted
commas, quoted newlines, quoted and unquoted empty fields, CRLF endings and on the MIMIC-IV
demo.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

#: Decompressed bytes per parsed block (each block is one Arrow table of about this size).
BLOCK_BYTES = 32 << 20

#: Blocks parsed at a time (and held in memory at most, beyond the one DuckDB is writing).
WORKERS = 2


def available() -> bool:
    """True when both ISA-L (``isal``) and Arrow (``pyarrow``) can be imported."""
    try:
        import isal.igzip  # noqa: F401
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


def arrow_type(duckdb_type: str):
    """The Arrow type DuckDB stores as ``duckdb_type`` (the types of :mod:`icu_cohort.mimic_tables`)."""
    import pyarrow as pa

    types = {"INTEGER": pa.int32(), "BIGINT": pa.int64(), "SMALLINT": pa.int16(), "DOUBLE": pa.float64(),
             "VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us"), "DATE": pa.date32()}
    try:
        return types[duckdb_type.upper()]
    except KeyError:
        raise ValueError(f"no Arrow type for DuckDB type {duckdb_type!r}") from None


#: The end of the blocks (:func:`record_batches`' producer thread to its consumer).
_END = object()


class DecompressError(Exception):
    """The gzip stream itself is damaged (raised from the inflate, with the cause attached)."""


def newline_blocks(src: Path, block_bytes: int = BLOCK_BYTES,
                   on_read: Callable[[int, float], None] | None = None) -> Iterator[memoryview]:
    """The rows of ``src`` (gzip CSV) after its header line, as blocks of whole records.

    A block ends after a newline with an even number of quote characters before it in the
    block (so a newline inside a quoted value never ends one: ``""`` escapes keep the count
    even). Each block is a ``memoryview`` of a buffer of its own (the inflated bytes are read
    into it and never copied again: copying each block, as slicing ``bytes`` does, was 3.5 s of
    an 8.5 s pass over 20 million chartevents rows). ``on_read(newlines, share)`` is called after
    each read with the newlines so far and the share of the compressed file consumed. A
    damaged stream raises :class:`DecompressError`.
    """
    from isal import igzip

    total = max(os.path.getsize(src), 1)
    # A buffer is zero-filled when made, so a small file gets a small one (its inflated size
    # is rarely above 16 times its size; beyond that it is just read in more blocks).
    read_bytes = min(block_bytes, max(1 << 20, 16 * total))
    newlines = 0
    try:
        with open(src, "rb") as raw, igzip.IGzipFile(fileobj=raw, mode="rb") as f:
            f.readline()  # the header: read by loader.read_header
            rest = b""  # the records begun but not ended by the previous read
            while True:
                start = len(rest)
                buf = bytearray(start + read_bytes)
                buf[:start] = rest
                got = f.readinto(memoryview(buf)[start:])
                end = start + got
                if not got:
                    if end:
                        if not buf.endswith(b"\n", 0, end):
                            buf[end:end + 1] = b"\n"
                            end += 1
                        yield memoryview(buf)[:end]
                    return
                cut = buf.rfind(b"\n", 0, end) + 1
                while cut and buf.count(b'"', 0, cut) % 2:
                    cut = buf.rfind(b"\n", 0, cut - 1) + 1
                if on_read is not None:
                    newlines += buf.count(b"\n", start, end)
                    on_read(newlines, raw.tell() / total)
                if cut == 0:  # no complete record yet (one value longer than a block)
                    rest = memoryview(buf)[:end]
                    continue
                rest = bytes(buf[cut:end])
                yield memoryview(buf)[:cut]
    except (OSError, EOFError, ValueError) as exc:
        raise DecompressError(f"{type(exc).__name__}: {exc}") from exc


def schema(columns):
    """The Arrow schema of a spec's ``columns`` ((name, DuckDB type) pairs)."""
    import pyarrow as pa

    return pa.schema([(c, arrow_type(t)) for c, t in columns])


def record_batches(src: Path, header: list[str], names: dict[str, str], columns, *,
                   workers: int | None = None, block_bytes: int | None = None,
                   on_read: Callable[[int, float], None] | None = None) -> Iterator:
    """The rows of ``src`` as ``pyarrow.RecordBatch`` es of :func:`schema` (``columns``), in
    file order, each column read from the header column ``names[column]``.

    ``workers`` blocks (default :data:`WORKERS`) of ``block_bytes`` (default
    :data:`BLOCK_BYTES`) are parsed at a time. A value Arrow will not read as the documented
    type, a row with too many or too few fields or bad UTF-8 raises ``pyarrow.ArrowInvalid``;
    a damaged gzip stream raises :class:`DecompressError`.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    workers = max(1, int(WORKERS if workers is None else workers))
    block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
    read = pacsv.ReadOptions(column_names=header, use_threads=False)
    parse = pacsv.ParseOptions(delimiter=",", quote_char='"', double_quote=True, escape_char=False,
                               newlines_in_values=True)
    convert = pacsv.ConvertOptions(
        column_types={names[c]: arrow_type(t) for c, t in columns},
        include_columns=[names[c] for c, _ in columns],
        null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True,
        true_values=[], false_values=[],
    )
    out_names = [c for c, _ in columns]
    target = schema(columns)

    def one(block: memoryview):
        table = pacsv.read_csv(pa.BufferReader(pa.py_buffer(block)), read_options=read, parse_options=parse,
                               convert_options=convert)
        return table.rename_columns(out_names).cast(target)

    # The inflate and the cutting into blocks run in a thread of their own, ahead of the
    # parsing: done in the thread that consumes the batches (DuckDB's scan, which then also
    # writes the Parquet file) they held up that thread for 8.5 s of 22 s on 20 million
    # chartevents rows. ``ahead`` holds the parse futures in file order.
    ahead: queue.Queue = queue.Queue(maxsize=workers)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce(pool: ThreadPoolExecutor) -> None:
        try:
            with contextlib.closing(newline_blocks(src, block_bytes, on_read)) as blocks:
                for block in blocks:
                    fut = pool.submit(one, block)
                    if not put(fut):
                        fut.cancel()
                        return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 -- handed to the consumer, which raises it
            put(exc)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"csv-{src.name}") as pool:
        producer = threading.Thread(target=produce, args=(pool,), name=f"inflate-{src.name}", daemon=True)
        producer.start()
        try:
            while True:
                item = ahead.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield from item.result().to_batches()
        finally:
            stop.set()
            producer.join()
            while not ahead.empty():
                item = ahead.get_nowait()
                if isinstance(item, Future):
                    item.cancel()
