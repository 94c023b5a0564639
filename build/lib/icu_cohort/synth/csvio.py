"""Fast, deterministic writing of PhysioNet-style ``.csv.gz`` files from Arrow tables.

Each table is written as chunks: a worker thread formats a chunk with ``pyarrow.csv`` (C++,
releases the GIL) and compresses it with zlib as a raw-deflate block ending in a sync flush
(also without the GIL). The main thread appends the blocks in chunk order to one gzip member
(header with mtime 0, final empty block, CRC-32 combined from the chunks' CRCs, length), so
the file is a standard single-member gzip, identical byte for byte whatever the thread timing.

Value formats follow PhysioNet's files: no quoting unless a value needs it, empty field for
NULL, timestamps ``YYYY-MM-DD HH:MM:SS``, dates ``YYYY-MM-DD``, shortest round-trip doubles.
Arrow refuses unquoted values holding a comma or quote, so strings that need CSV quoting are
stored pre-quoted with placeholder bytes (:func:`csv_text`) and translated back after formatting.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

COMMA, QUOTE = "\x01", "\x02"
_TRANSLATE = bytes.maketrans(COMMA.encode() + QUOTE.encode(), b',"')
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"   # deflate, no flags, mtime 0, OS unknown


def csv_text(value: str, empty_quoted: bool = False) -> str:
    """``value`` as it must appear in the CSV, with placeholder bytes for structural characters.

    Values holding a comma, quote or newline are quoted (inner quotes doubled), as PhysioNet's
    files do. ``empty_quoted=True`` writes an empty string as ``""`` (PhysioNet's way to tell an
    empty string from NULL, e.g. prescriptions.form_rx of IV drugs).
    """
    if value == "" and empty_quoted:
        return QUOTE + QUOTE
    if any(ch in value for ch in ',"\n\r'):
        inner = value.replace('"', QUOTE + QUOTE).replace(",", COMMA)
        return QUOTE + inner + QUOTE
    return value


def has_placeholders(table: pa.Table) -> bool:
    """Whether any string value of ``table`` holds a :func:`csv_text` placeholder byte."""
    pattern = f"[{COMMA}{QUOTE}]"
    for col in table.columns:
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary
        if pa.types.is_string(arr.type) and len(arr) and pc.any(pc.match_substring_regex(arr, pattern)).as_py():
            return True
    return False


def _gf2_times(mat: list[int], vec: int) -> int:
    acc, i = 0, 0
    while vec:
        if vec & 1:
            acc ^= mat[i]
        vec >>= 1
        i += 1
    return acc


def _gf2_square(mat: list[int]) -> list[int]:
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def _zero_byte_operators(count: int = 64) -> list[list[int]]:
    """GF(2) operators that append 2**k zero bytes to a CRC-32 state, k = 0..count-1."""
    op = [0xEDB88320] + [1 << n for n in range(31)]      # one zero bit
    for _ in range(3):                                  # 2, 4, 8 zero bits = one byte
        op = _gf2_square(op)
    ops = [op]
    for _ in range(count - 1):
        ops.append(_gf2_square(ops[-1]))
    return ops


_ZERO_OPS = _zero_byte_operators()


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A+B from crc(A), crc(B) and len(B) (zlib's GF(2) method, operators precomputed)."""
    k = 0
    while len2 > 0:
        if len2 & 1:
            crc1 = _gf2_times(_ZERO_OPS[k], crc1)
        len2 >>= 1
        k += 1
    return crc1 ^ crc2


def _format_and_deflate(table: pa.Table | bytes, translate: bool, level: int) -> tuple[bytes, int, int]:
    """CSV bytes of ``table`` (no header) deflated as a non-final raw block; (block, crc, len)."""
    if isinstance(table, bytes):
        data = table
    else:
        buf = io.BytesIO()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none",
                                                        batch_size=65536))
        data = buf.getvalue()
        if translate:
            data = data.translate(_TRANSLATE)
    comp = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
    block = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
    return block, zlib.crc32(data), len(data)


class GzipCsvWriter:
    """One ``.csv.gz`` file written from Arrow tables in order (see module docstring).

    ``columns`` is the exact header; every table passed to :meth:`write` must have exactly these
    columns in this order. ``translate=True`` for tables holding :func:`csv_text` placeholders.
    At most ``max_pending`` chunks are in flight, which bounds memory.
    """

    def __init__(self, path: Path, columns: list[str], pool: ThreadPoolExecutor, *,
                 translate: bool = False, level: int = 1, max_pending: int = 3) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.pool = pool
        self.translate = translate
        self.level = level
        self.max_pending = max_pending
        self.rows = 0
        self._pending: deque[Future] = deque()
        self._crc = 0
        self._size = 0
        self._fh = open(self.path, "wb")
        self._fh.write(_GZIP_HEADER)
        self._submit((",".join(self.columns) + "\n").encode())

    def _submit(self, item: pa.Table | bytes) -> None:
        self._pending.append(self.pool.submit(_format_and_deflate, item, self.translate, self.level))
        while len(self._pending) > self.max_pending:
            self._drain_one()

    def _drain_one(self) -> None:
        block, crc, size = self._pending.popleft().result()
        self._fh.write(block)
        self._crc = crc32_combine(self._crc, crc, size)
        self._size += size

    def write(self, table: pa.Table) -> None:
        """Queue one chunk of rows (an Arrow table with exactly :attr:`columns`)."""
        if table.column_names != self.columns:
            raise ValueError(f"{self.path.name}: columns {table.column_names} != header {self.columns}")
        if table.num_rows:
            self.translate = self.translate or has_placeholders(table)
            self.rows += table.num_rows
            self._submit(table)

    def close(self) -> None:
        """Finish the file: remaining chunks, final deflate block, CRC-32 and length."""
        while self._pending:
            self._drain_one()
        self._fh.write(zlib.compressobj(self.level, zlib.DEFLATED, -15).flush(zlib.Z_FINISH))
        self._fh.write(struct.pack("<II", self._crc & 0xFFFFFFFF, self._size & 0xFFFFFFFF))
        self._fh.close()

    def abort(self) -> None:
        """Drop queued work and close the handle (the caller removes the partial file)."""
        for fut in self._pending:
            fut.cancel()
        self._pending.clear()
        self._fh.close()
