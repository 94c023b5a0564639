"""Arrow column builders for the table writers (typed, nullable, cheap to format as CSV)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .csvio import csv_text


def _mask(mask: np.ndarray | None) -> np.ndarray | None:
    return None if mask is None else np.asarray(mask, dtype=bool)


def ints(x: np.ndarray, mask: np.ndarray | None = None, wide: bool = False) -> pa.Array:
    """Integer column (``wide``: int64), NULL where ``mask``."""
    dtype = np.int64 if wide else np.int32
    return pa.array(np.asarray(x).astype(dtype, copy=False), mask=_mask(mask))


def floats(x: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Double column written in shortest round-trip form (``120``, ``2.0000001043081284``)."""
    x = np.asarray(x, dtype=np.float64)
    m = np.isnan(x) if mask is None else (np.asarray(mask, bool) | np.isnan(x))
    return pa.array(x, mask=m if m.any() else None)


def times(sec: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Timestamp column (``YYYY-MM-DD HH:MM:SS``) from int64 seconds since 1970."""
    return pa.array(np.asarray(sec, dtype=np.int64), type=pa.timestamp("s"), mask=_mask(mask))


def dates(sec: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Date column (``YYYY-MM-DD``) from int64 seconds since 1970 (time of day dropped)."""
    days = (np.asarray(sec, dtype=np.int64) // 86400).astype(np.int32)
    return pa.array(days, type=pa.date32(), mask=_mask(mask))


class Vocab:
    """A fixed list of CSV-ready strings; columns index into it (Arrow dictionary arrays)."""

    def __init__(self, values: Sequence[str], *, empty_quoted: bool = False) -> None:
        self.values = list(values)
        self.index = {v: i for i, v in enumerate(self.values)}
        self.array = pa.array([csv_text(v, empty_quoted=empty_quoted) for v in self.values], pa.string())

    def code(self, value: str) -> int:
        return self.index[value]

    def codes(self, values: Sequence[str]) -> np.ndarray:
        return np.array([self.index[v] for v in values], dtype=np.int32)

    def column(self, codes: np.ndarray, mask: np.ndarray | None = None) -> pa.DictionaryArray:
        idx = pa.array(np.asarray(codes).astype(np.int32, copy=False), mask=_mask(mask))
        return pa.DictionaryArray.from_arrays(idx, self.array)


def const(value: str, n: int, empty_quoted: bool = False) -> pa.DictionaryArray:
    """A column holding the same string in every row."""
    return Vocab([value], empty_quoted=empty_quoted).column(np.zeros(n, np.int32))


def nulls(n: int, typ: pa.DataType = pa.string()) -> pa.Array:
    """An all-NULL column."""
    return pa.nulls(n, typ)


def fixed_decimals(ticks: np.ndarray, decimals: int) -> pa.Array:
    """Strings of ``ticks / 10**decimals`` with exactly ``decimals`` digits (``'2.0'``, ``'7.35'``)."""
    ticks = np.asarray(ticks, dtype=np.int64)
    if decimals == 0:
        return pc.cast(pa.array(ticks), pa.string())
    scale = 10 ** decimals
    neg = ticks < 0
    mag = np.abs(ticks)
    whole = pc.cast(pa.array(mag // scale), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(mag % scale), pa.string()), decimals, "0")
    out = pc.binary_join_element_wise(whole, frac, ".")
    if neg.any():
        out = pc.if_else(pa.array(neg), pc.binary_join_element_wise(pa.scalar("-"), out, ""), out)
    return out


def ids_from_counter(counter: np.ndarray, modulus: int = 99_999_989, mult: int = 48_271,
                     offset: int = 1_000_000) -> np.ndarray:
    """Distinct, random-looking identifiers from a running counter (a bijection mod a prime).

    ``counter`` values must be distinct and below ``modulus - offset`` for the ids to be distinct.
    """
    c = np.asarray(counter, dtype=np.int64)
    return (c * mult + offset) % modulus + 1
