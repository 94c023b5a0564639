"""The small-count rule: which counts a shared table, figure or file may show.

This module is the one owner of the rule; the report and the manuscript exports import it.

**The rule.** A count of people (ICU stays) from 1 to ``threshold - 1`` (1 to 10 with the
default ``threshold=11``, the MIMIC-IV / PhysioNet data use agreement) is never shown. Zero
is shown, and so is every count from ``threshold`` up. Beyond the single cell, *no hidden
count may be recoverable from what is shown*:

* **Cells of one total** (the levels of a categorical row in one Table 1 column, with its
  missing count, adding up to the group n; treated and control adding up to the cohort;
  matched and unmatched adding up to a group): when a cell is hidden, more cells are hidden
  (the smallest positive ones first) until no hidden small count is determined by the total
  minus the shown cells, and the hidden cells together hold 0 or at least ``threshold``
  stays (so the derivable sum of the hidden cells is not itself a small count).
  See :func:`hide_cells` / :func:`hide_row`.
* **Sequences** (an attrition flow, where ``remaining[i] = remaining[i-1] - removed[i]``,
  and numbers at risk, where a drop between two times is the deaths and censorings in
  between): the shown ``remaining`` values are chosen so that the difference between any two
  shown values is 0 or at least ``threshold``; the ``removed`` counts between two shown
  values are then one total (their difference) and follow the rule above.
  See :func:`hide_sequence`.

**What a reader is assumed to know** (the attack the tests check by brute force): every
shown value and total; that a cell shown as ``"<threshold"`` holds 1 .. threshold-1 (see
:func:`cell_text`); that a cell shown as hidden otherwise (:data:`HIDDEN_TEXT`) holds at
least ``threshold`` (zero is never hidden as a complement); that counts are whole numbers
and not negative. Under this knowledge no hidden small count has only one possible value.

Everything here is pure: lists of ints in, lists of bools out. ``threshold=None`` switches
suppression off (nothing hidden).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

DEFAULT_THRESHOLD = 11

#: How a count hidden by complementary suppression (not itself small) is shown.
HIDDEN_TEXT = "hidden"

Count = Optional[int]


class DisclosureError(ValueError):
    """Counts that do not add up as the caller said they do (a bug upstream)."""


def is_small(n: Count, threshold: int | None = DEFAULT_THRESHOLD) -> bool:
    """True for a count that must never be shown: 1 .. threshold-1."""
    return threshold is not None and n is not None and 1 <= int(n) < threshold


def cell_text(n: Count, hidden: bool, threshold: int | None = DEFAULT_THRESHOLD) -> str:
    """The text of a count cell: ``"<11"`` for a hidden small count, :data:`HIDDEN_TEXT`
    for a count hidden so that another cannot be derived, else ``"1,234"`` (``"–"`` for
    ``None``)."""
    if n is None:
        return "\u2013"
    if hidden and threshold is not None:
        return f"<{threshold}" if is_small(n, threshold) else HIDDEN_TEXT
    return f"{int(n):,}"


def _check_counts(counts: Sequence[Count], what: str) -> list[Count]:
    out: list[Count] = []
    for c in counts:
        if c is None:
            out.append(None)
            continue
        k = int(c)
        if k != c or k < 0:
            raise DisclosureError(f"{what}: counts must be whole numbers >= 0, got {c!r}")
        out.append(k)
    return out


# ----------------------------------------------------------------------------- one total


def _bounds(value: int, hidden: bool, unpublished: bool, threshold: int, big: int) -> tuple[int, int]:
    """What a reader knows of one cell: its value when shown, else the range its label says."""
    if not hidden:
        return value, value
    if unpublished:
        return 0, big
    if is_small(value, threshold):
        return 1, threshold - 1
    return threshold, big


def row_ranges(counts: Sequence[int], hidden: Sequence[bool], total: int, threshold: int,
               unpublished: Sequence[bool] | None = None) -> list[tuple[int, int]]:
    """For cells adding up to a shown ``total``: the range of values each cell can take
    given what is shown (shown cells: their value). Exact for one linear total: a cell's
    range is its label range cut by ``total`` minus the others' largest / smallest sums."""
    unpublished = list(unpublished) if unpublished is not None else [False] * len(counts)
    b = [_bounds(c, h, u, threshold, total) for c, h, u in zip(counts, hidden, unpublished)]
    lo_sum = sum(x[0] for x in b)
    hi_sum = sum(x[1] for x in b)
    out = []
    for lo, hi in b:
        out.append((max(lo, total - (hi_sum - hi)), min(hi, total - (lo_sum - lo))))
    return out


def _row_unsafe(counts: list[int], hidden: list[bool], unpublished: list[bool], total: int, threshold: int) -> bool:
    ranges = row_ranges(counts, hidden, total, threshold, unpublished)
    for c, h, (lo, hi) in zip(counts, hidden, ranges):
        if h and is_small(c, threshold) and lo == hi:
            return True
    s = sum(c for c, h in zip(counts, hidden) if h)
    return 0 < s < threshold


@dataclass(frozen=True)
class RowDecision:
    """``hidden[i]``: cell i must not be shown; ``total_hidden``: the total must not be
    shown either (it is small, or no choice of cells protects the small ones)."""

    hidden: list[bool]
    total_hidden: bool


def hide_row(counts: Sequence[Count], total: Count = None, threshold: int | None = DEFAULT_THRESHOLD,
             unpublished: Sequence[bool] | None = None) -> RowDecision:
    """Cells of one row/column that add up to ``total`` (see :func:`hide_cells`), and
    whether the total itself must be hidden.

    ``unpublished[i]``: cell i is never shown but a reader could derive it (the "no" count of a
    binary Table 1 row, which is n minus the "yes" count minus the missing): it is protected
    like a shown cell and is always reported hidden.
    """
    vals = _check_counts(counts, "hide_row")
    unpub = list(unpublished) if unpublished is not None else [False] * len(vals)
    if len(unpub) != len(vals):
        raise DisclosureError("hide_row: unpublished must have one flag per count")
    if threshold is None:
        return RowDecision([bool(u) for u in unpub], False)
    hidden = [bool(u) or is_small(c, threshold) for c, u in zip(vals, unpub)]
    if total is None:
        return RowDecision(hidden, False)
    total = int(total)
    known = [c for c in vals if c is not None]
    if None in vals:
        # An unknown cell: the others do not determine anything through the total.
        return RowDecision(hidden, is_small(total, threshold))
    if sum(known) != total:
        raise DisclosureError(f"hide_row: counts {vals} add up to {sum(known)}, not to the total {total}")
    if is_small(total, threshold):
        # The total is hidden, so it gives nothing to subtract from.
        return RowDecision(hidden, True)
    cells = [int(c) for c in vals]  # type: ignore[arg-type]
    while _row_unsafe(cells, hidden, unpub, total, threshold):
        cands = [(c, i) for i, c in enumerate(cells) if not hidden[i] and c > 0]
        if not cands:
            return RowDecision([True] * len(cells), True)
        hidden[min(cands)[1]] = True
    return RowDecision(hidden, False)


def hide_cells(counts: Sequence[Count], total: Count = None, threshold: int | None = DEFAULT_THRESHOLD) -> list[bool]:
    """Which cells of one row/column of counts adding up to ``total`` must be hidden.

    A cell is hidden when it is a small count (1 .. threshold-1), or when it must be hidden
    so that no small hidden cell can be recovered by subtracting the shown cells from
    ``total``: complementary cells are the smallest positive ones (zeros stay shown), added
    until every small hidden cell has more than one possible value and the hidden cells hold
    0 or at least ``threshold`` in all. ``total=None``: no total is shown, only small cells
    are hidden. ``None`` cells (unknown) are never hidden and void the subtraction.

    When even hiding every positive cell cannot protect a small one (``[10, 10, 0]`` of 20:
    both are 10), every cell is hidden and the total must be hidden too: use
    :func:`hide_row` to learn that.

    >>> hide_cells([120, 7, 300, 0], total=427)
    [True, True, False, False]
    >>> hide_cells([120, 15, 300], total=435)
    [False, False, False]
    """
    return hide_row(counts, total, threshold).hidden


# ----------------------------------------------------------------------------- sequences


@dataclass(frozen=True)
class SequenceDecision:
    """``remaining[i]`` / ``removed[i]`` hidden flags of :func:`hide_sequence`."""

    remaining: list[bool]
    removed: list[bool]


def _shown_subsequence(rem: list[int], threshold: int, keep_first: bool, keep_last: bool) -> list[bool]:
    """Show ``rem[i]`` so that no shown value is small and consecutive shown values differ
    by 0 or at least ``threshold``; the first value (and, if it can be, the last) is shown."""
    n = len(rem)
    shown_idx: list[int] = []
    for i, v in enumerate(rem):
        if is_small(v, threshold):
            continue
        if not shown_idx:
            if i == 0 or not keep_first:
                shown_idx.append(i)
            continue
        d = rem[shown_idx[-1]] - v
        if d == 0 or d >= threshold:
            shown_idx.append(i)
    if keep_last and n and not is_small(rem[-1], threshold) and (not shown_idx or shown_idx[-1] != n - 1):
        # Make room for the last value: drop shown values from the end (never the first kept).
        while shown_idx and 0 < rem[shown_idx[-1]] - rem[-1] < threshold:
            if keep_first and shown_idx == [0]:
                break
            shown_idx.pop()
        if not shown_idx or rem[shown_idx[-1]] - rem[-1] == 0 or rem[shown_idx[-1]] - rem[-1] >= threshold:
            shown_idx.append(n - 1)
    shown = [False] * n
    for i in shown_idx:
        shown[i] = True
    return shown


def _value_range(k: int, n: int, c: list[tuple[int, int, int]], bounds: list[tuple[int, int]],
                 eqs: list[tuple[int, int, int]]) -> tuple[float, float]:
    """Smallest and largest value of ``x[k] - x[k+1]`` (``n=1``: of ``x[k]``) over the
    sequences a reader finds consistent: ``bounds`` on each x, ``lo <= x[i-1] - x[i] <= hi``
    for each ``(i, lo, hi)`` in ``c``, ``x[i-1] - x[i] == r`` for each ``(i, r, _)`` in
    ``eqs``. The constraint matrix is an interval matrix (totally unimodular), so the linear
    programme's optimum is a whole number and every whole number in between is attained."""
    import numpy as np
    from scipy.optimize import linprog

    m = len(bounds)
    obj = np.zeros(m)
    obj[k] = 1.0
    if n == 2:
        obj[k + 1] = -1.0
    a_ub, b_ub, a_eq, b_eq = [], [], [], []
    for i, lo, hi in c:
        row = np.zeros(m)
        row[i - 1], row[i] = 1.0, -1.0
        a_ub.append(row.copy())
        b_ub.append(hi)
        a_ub.append(-row)
        b_ub.append(-lo)
    for i, r, _ in eqs:
        row = np.zeros(m)
        row[i - 1], row[i] = 1.0, -1.0
        a_eq.append(row)
        b_eq.append(r)
    kw = dict(A_ub=np.array(a_ub) if a_ub else None, b_ub=np.array(b_ub) if b_ub else None,
              A_eq=np.array(a_eq) if a_eq else None, b_eq=np.array(b_eq) if b_eq else None,
              bounds=bounds, method="highs")
    lo = linprog(obj, **kw)
    hi = linprog(-obj, **kw)
    if lo.status != 0 or hi.status != 0:  # pragma: no cover - the true sequence is feasible
        raise DisclosureError("hide_sequence: the shown counts admit no sequence (internal error)")
    return round(lo.fun), round(-hi.fun)


def _sequence_leak(rem: list[int], rmv: list[Count] | None, shown: list[bool], shown_rmv: list[bool],
                   threshold: int) -> int | None:
    """Position of the first small count a reader can pin down (a hidden small remaining
    value, a small drop ``rem[i-1] - rem[i]``), or of a small sum of hidden counts between two
    shown remaining values; ``None`` when there is none."""
    n = len(rem)
    big = rem[0]
    bounds = []
    for i, v in enumerate(rem):
        if shown[i]:
            bounds.append((v, v))
        elif is_small(v, threshold):
            bounds.append((1, threshold - 1))
        else:
            bounds.append((threshold, big))
    cons: list[tuple[int, int, int]] = [(i, 0, big) for i in range(1, n)]  # never rises
    eqs: list[tuple[int, int, int]] = []
    if rmv is not None:
        for i in range(1, n):
            r = rem[i - 1] - rem[i]
            if shown_rmv[i]:
                eqs.append((i, r, r))
            elif is_small(r, threshold):
                cons.append((i, 1, threshold - 1))
            elif r > 0:
                cons.append((i, threshold, big))
    # sums between consecutive shown values: a small one is a leak by itself
    idx = [i for i in range(n) if shown[i]]
    for a, b in zip(idx, idx[1:]):
        d = rem[a] - rem[b]
        if rmv is not None:
            d -= sum(rem[i - 1] - rem[i] for i in range(a + 1, b + 1) if shown_rmv[i])
        if is_small(d, threshold):
            return b
    for i in range(n):
        if not shown[i] and is_small(rem[i], threshold):
            lo, hi = _value_range(i, 1, cons, bounds, eqs)
            if lo == hi:
                return i
    for i in range(1, n):
        r = rem[i - 1] - rem[i]
        if is_small(r, threshold) and not (rmv is not None and shown_rmv[i]):
            if shown[i - 1] and shown[i]:
                return i
            lo, hi = _value_range(i - 1, 2, cons, bounds, eqs)
            if lo == hi:
                return i
    return None


def hide_sequence(remaining: Sequence[int], removed: Sequence[Count] | None = None,
                  threshold: int | None = DEFAULT_THRESHOLD, keep_first: bool = True,
                  keep_last: bool = True) -> SequenceDecision:
    """Hidden flags for a non-increasing sequence ``remaining`` and the counts ``removed``
    between its values (``removed[i] = remaining[i-1] - remaining[i]``; ``removed[0]`` is
    what the first step itself removed and stands alone).

    * ``removed`` given (an attrition flow: excluded counts are shown): the shown remaining
      values differ pairwise by 0 or >= ``threshold``; the removed counts between two shown
      values form one total (:func:`hide_row`), so no small one is shown or derivable.
    * ``removed=None`` (numbers at risk: the drops are deaths and censorings, not shown but
      derivable from two shown values): only the remaining values are chosen, so that every
      derivable drop is 0 or >= ``threshold``. ``SequenceDecision.removed`` is then all True
      (nothing removed is shown).

    ``keep_first`` shows ``remaining[0]`` whatever follows (it is published elsewhere: all ICU
    stays, or a group's n at time 0); ``keep_last`` shows the last value when that is possible
    (the study cohort), hiding earlier ones instead.
    """
    rem = _check_counts(remaining, "hide_sequence")
    if any(v is None for v in rem):
        raise DisclosureError("hide_sequence: every remaining count must be known")
    rem_i = [int(v) for v in rem]  # type: ignore[arg-type]
    for i in range(1, len(rem_i)):
        if rem_i[i] > rem_i[i - 1]:
            raise DisclosureError(f"hide_sequence: remaining count rises at position {i} ({rem_i[i - 1]} -> {rem_i[i]})")
    n = len(rem_i)
    if removed is not None:
        rmv = _check_counts(removed, "hide_sequence")
        if len(rmv) != n:
            raise DisclosureError("hide_sequence: removed must have one count per remaining count")
        for i in range(1, n):
            if rmv[i] is not None and rmv[i] != rem_i[i - 1] - rem_i[i]:
                raise DisclosureError(f"hide_sequence: step {i} removes {rmv[i]}, but the remaining count goes from "
                                      f"{rem_i[i - 1]} to {rem_i[i]}")
    if threshold is None:
        return SequenceDecision([False] * n, [removed is None] * n)
    shown = _shown_subsequence(rem_i, threshold, keep_first, keep_last)
    shown_rmv = [not is_small(r, threshold) for r in rmv] if removed is not None else [False] * n
    rmv_or_none = rmv if removed is not None else None
    while (i := _sequence_leak(rem_i, rmv_or_none, shown, shown_rmv, threshold)) is not None:
        # Hide one more count near position i: a shown removed count of the same stretch
        # between shown remaining values (the smallest positive one), else the shown
        # remaining value after it (not the last, if possible), else the one before it.
        a = _prev_shown(shown, i) if i > 0 else None
        b = next((j for j in range(i, n) if shown[j]), None)
        lo_i = (a + 1) if a is not None else 1
        hi_i = b if b is not None else n - 1
        cands = [(rmv[j], j) for j in range(lo_i, hi_i + 1)
                 if removed is not None and shown_rmv[j] and (rmv[j] or 0) > 0]
        if cands:
            shown_rmv[min(cands)[1]] = False
            continue
        after = [j for j in range(i, n) if shown[j] and not (keep_first and j == 0)]
        before = [j for j in range(i - 1, -1, -1) if shown[j] and not (keep_first and j == 0)]
        pick = next((j for j in after if not (keep_last and j == n - 1)), None)
        if pick is None:
            pick = before[0] if before else (after[0] if after else None)
        if pick is None:  # pragma: no cover - only the kept first value is shown
            raise DisclosureError("hide_sequence: cannot protect the sequence without hiding its first value")
        shown[pick] = False
    hide_rmv = [True] * n if removed is None else [not s for s in shown_rmv]
    if removed is not None:
        hide_rmv[0] = is_small(rmv[0], threshold)
    return SequenceDecision([not s for s in shown], hide_rmv)


def _prev_shown(shown: list[bool], j: int) -> int | None:
    return next((k for k in range(j - 1, -1, -1) if shown[k]), None)


__all__ = [
    "DEFAULT_THRESHOLD",
    "HIDDEN_TEXT",
    "DisclosureError",
    "RowDecision",
    "SequenceDecision",
    "cell_text",
    "hide_cells",
    "hide_row",
    "hide_sequence",
    "is_small",
    "row_ranges",
]
