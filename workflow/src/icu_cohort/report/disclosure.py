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
  See :func:`hide_sequence`. Two such sequences of the same group in two samples (numbers at
  risk in the whole cohort and in the matched sample) also give their difference (the stays
  not matched still at risk): :func:`hide_nested_sequences`.
* **Before and after matching side by side** (a Table 1 with both samples, an effects table
  with the cohort and the matched sample): for each group and variable, the before column,
  the after column and the never printed *not matched* column (before minus after, level by
  level) form a two-way table; no hidden cell and no not-matched count (nor a column's sum
  of cells not shown) of 1 .. threshold-1 may be derivable from the rows and columns
  together. A small not-matched total hides the matched (after) total and its whole column.
  See :func:`hide_matched_split` (exact check: :func:`split_leak`).

* **Group sizes with matching** (the flow diagram's groups and their matched / not matched
  boxes, Table 1's headers, the effects table, the numbers at risk at time 0, the number of
  matched sets, the methods and summary sentences): the cohort n, the treated and control n,
  each group's matched and not-matched n are one system of relations, decided once by
  :func:`hide_group_sizes` for the whole report and the exports. With matching whose matched
  sizes are *tied* (1:1 pairs: matched treated = matched control = the number of pairs; k:1
  with every set full: matched control = k x matched treated) a reader who knows the ratio
  (the methods say it) gets one matched size from the other, so a small not-matched count of
  *either* group hides both matched sizes, the number of sets, and the other group's
  not-matched count (which would give its matched size back by subtraction); the cohort group
  sizes stay shown whenever that is enough (exact check: :func:`group_size_leak`).

* **Curves** (Kaplan-Meier curves and their confidence bands in shared figures): a step's
  height, with the numbers at risk, gives the deaths at that time; each drawn step covers 0
  or at least ``threshold`` deaths (:func:`coarsen_steps`). The estimates themselves (risks,
  hazard ratios) are not coarsened, and the analyst's ``km.csv`` keeps the exact curve.

* **Shares next to their n** (the planted true risk difference on synthetic data, shown
  beside the matched sample): a proportion times its n is a count; such a share is rounded
  to a step of at least ``threshold`` stays (:func:`coarse_share`).

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
             unpublished: Sequence[bool] | None = None, hidden: Sequence[bool] | None = None) -> RowDecision:
    """Cells of one row/column that add up to ``total`` (see :func:`hide_cells`), and
    whether the total itself must be hidden.

    ``unpublished[i]``: cell i is never shown but a reader could derive it (the "no" count of a
    binary Table 1 row, which is n minus the "yes" count minus the missing): it is protected
    like a shown cell and is always reported hidden. ``hidden[i]``: cell i is already hidden
    for another reason (another total it belongs to, in a two-way table): it stays hidden.
    """
    vals = _check_counts(counts, "hide_row")
    unpub = list(unpublished) if unpublished is not None else [False] * len(vals)
    if len(unpub) != len(vals):
        raise DisclosureError("hide_row: unpublished must have one flag per count")
    pre = list(hidden) if hidden is not None else [False] * len(vals)
    if len(pre) != len(vals):
        raise DisclosureError("hide_row: hidden must have one flag per count")
    if threshold is None:
        return RowDecision([bool(u) or bool(h) for u, h in zip(unpub, pre)], False)
    hidden = [bool(u) or bool(h) or is_small(c, threshold) for c, u, h in zip(vals, unpub, pre)]
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


# ----------------------------------------------------------------------------- before / after


@dataclass(frozen=True)
class SplitDecision:
    """Hidden flags of :func:`hide_matched_split`: ``before[i]`` / ``after[i]`` for cell i
    of each column; ``before_total_hidden`` / ``after_total_hidden``: that column's total (the
    group size in the header) must be hidden, and then every positive cell of the column is."""

    before: list[bool]
    after: list[bool]
    before_total_hidden: bool
    after_total_hidden: bool


def _split_bounds(v: int, hidden: bool, unpublished: bool, threshold: int, cap: int) -> tuple[int, int]:
    # a hidden zero (only a total can be one) tells the reader nothing but "not negative"
    return _bounds(v, hidden, unpublished or (hidden and v == 0), threshold, max(cap, threshold))


def split_leak(before: Sequence[int], after: Sequence[int], hide_b: Sequence[bool], hide_a: Sequence[bool],
               unpublished: Sequence[bool], b_total_hidden: bool, a_total_hidden: bool,
               threshold: int, cap: int | None = None) -> tuple[str, int] | None:
    """The first small count a reader can pin down in a before / after split, or ``None``.

    The reader's knowledge (exact, by linear programming): every shown cell and shown total;
    the label range of every hidden cell and hidden total (``<11``: 1..10, ``hidden``: 11 or
    more; unpublished: 0 or more); ``before[i] = after[i] + unmatched[i]`` with
    ``unmatched[i] >= 0``; each column adds up to its total. As a flow network (after and
    unmatched arcs into each level, level arcs out) the constraints are totally unimodular:
    the LP's optimum is a whole number and every whole number in between is attained, so a
    count is pinned exactly when its LP minimum equals its maximum. Checked: each hidden or
    unpublished cell of the three columns (before, after, unmatched) holding 1..threshold-1,
    and, per column, the sum of its cells not shown (a count of stays in those levels
    together). ``cap``: the largest count the reader may assume for any cell (the cohort's
    size, shown in the flow diagram); default the before total (exact when it is shown).
    Returns ``(column, i)`` with column ``"before"``, ``"after"``, ``"unmatched"``
    (``i = -1`` for a column's hidden sum).
    """
    import numpy as np
    from scipy.optimize import linprog

    k = len(before)
    b_tot, a_tot = sum(before), sum(after)
    cap = max(b_tot if cap is None else int(cap), b_tot, threshold)
    unmatched = [x - y for x, y in zip(before, after)]
    hidden_sums = [sum(v for v, h in zip(before, hide_b) if h), sum(v for v, h in zip(after, hide_a) if h),
                   sum(u for u, x, y in zip(unmatched, hide_b, hide_a) if x or y)]
    if not any(is_small(v, threshold) for v in [*before, *after, *unmatched, *hidden_sums]):
        return None  # nothing small anywhere: nothing to pin
    # variables: b_0..b_k-1, a_0..a_k-1, u_0..u_k-1, B, A
    m = 3 * k + 2
    bounds = ([_split_bounds(v, h, u, threshold, cap) for v, h, u in zip(before, hide_b, unpublished)]
              + [_split_bounds(v, h, u, threshold, cap) for v, h, u in zip(after, hide_a, unpublished)]
              + [(0, cap)] * k
              + [_split_bounds(b_tot, b_total_hidden, False, threshold, cap),
                 _split_bounds(a_tot, a_total_hidden, False, threshold, cap)])
    a_eq = []
    for i in range(k):
        row = np.zeros(m)
        row[i], row[k + i], row[2 * k + i] = 1.0, -1.0, -1.0
        a_eq.append(row)
    for off, tot in ((0, 3 * k), (k, 3 * k + 1)):
        row = np.zeros(m)
        row[off:off + k] = 1.0
        row[tot] = -1.0
        a_eq.append(row)
    a_eq_arr, b_eq = np.array(a_eq), np.zeros(len(a_eq))

    def pinned(obj: np.ndarray) -> int | None:
        lo = linprog(obj, A_eq=a_eq_arr, b_eq=b_eq, bounds=bounds, method="highs")
        hi = linprog(-obj, A_eq=a_eq_arr, b_eq=b_eq, bounds=bounds, method="highs")
        if lo.status != 0 or hi.status != 0:  # pragma: no cover - the true table is feasible
            raise DisclosureError("hide_matched_split: the shown counts admit no table (internal error)")
        a, b = round(lo.fun), round(-hi.fun)
        return a if a == b else None

    cols = (("before", 0, before, hide_b), ("after", k, after, hide_a),
            ("unmatched", 2 * k, unmatched, [True] * k))
    for name, off, vals, hid in cols:
        for i, (v, h) in enumerate(zip(vals, hid)):
            if h and is_small(v, threshold):
                obj = np.zeros(m)
                obj[off + i] = 1.0
                if pinned(obj) is not None:
                    return name, i
    shown_b = [not h for h in hide_b]
    shown_a = [not h for h in hide_a]
    for name, off, vals, hid in cols:
        if name == "unmatched":
            idx = [i for i in range(k) if not (shown_b[i] and shown_a[i])]
        else:
            idx = [i for i in range(k) if hid[i]]
        if not idx:
            continue
        s = sum(vals[i] for i in idx)
        if is_small(s, threshold):
            obj = np.zeros(m)
            obj[[off + i for i in idx]] = 1.0
            if pinned(obj) is not None:
                return name, -1
    return None


def hide_matched_split(before: Sequence[Count], after: Sequence[Count], threshold: int | None = DEFAULT_THRESHOLD,
                       unpublished: Sequence[bool] | None = None, before_total_hidden: bool = False,
                       after_total_hidden: bool = False, cap: int | None = None) -> SplitDecision:
    """Hidden flags for the cells of one variable in one group before and after matching.

    ``before[i]`` / ``after[i]``: the stays of level i (a category, a binary row's yes / no /
    missing, a continuous row's with-value / missing) in the whole cohort and in the matched
    sample; each column adds up to the group's size (its total, shown in the header unless
    ``*_total_hidden``). Shown side by side, the two columns reveal a third one never printed:
    the stays *not matched*, ``unmatched[i] = before[i] - after[i]``, which add up to the
    group's unmatched count. No hidden cell and no unmatched count (nor the sum of a column's
    cells not shown) of 1..threshold-1 may be derivable from all of that together
    (:func:`split_leak` is the exact check). ``unpublished[i]``: cell i is never shown in
    either column (a binary row's "no"), as in :func:`hide_row`. ``cap``: what a reader knows
    bounds every count (the cohort size); it matters only when the before total is hidden.

    How it decides:

    1. When the unmatched total itself is small (1..threshold-1) and both totals are shown,
       it is their difference: the *after* total is hidden (as the flow diagram hides the
       matched box, :func:`hide_row` on matched + not matched), and with it every positive
       cell of the after column. A column whose total is hidden shows only its zeros.
    2. Each column by itself follows :func:`hide_row` (its cells add up to its total).
    3. Each level as a row ``after[i] + unmatched[i] = before[i]`` follows :func:`hide_row`
       with the hidden flags so far (the unmatched cell unpublished); 2 and 3 are repeated
       until nothing changes.
    4. While :func:`split_leak` still finds a pinned small count, one more cell is hidden:
       the smallest positive shown cell of the leaking level (after before before on a tie),
       else of the leaking column, else of the after column, else of the before column; when
       no cell is left, the after total is hidden, then the before total.

    Not seen from here: another count that gives a hidden total back. With 1:1 matching the
    matched treated and control sizes are equal (the number of pairs), so hiding one matched
    size protects nothing while the other is shown; the caller (the flow diagram's decision)
    must hide both, or pass both as hidden.

    Cells that are ``None`` (unknown), or an after count above its before count (a matched
    sample with replacement, weighted counts), void the before / after relation: each column
    is then decided alone by :func:`hide_row`. ``threshold=None``: only unpublished cells are
    flagged.
    """
    b = _check_counts(before, "hide_matched_split")
    a = _check_counts(after, "hide_matched_split")
    k = len(b)
    if len(a) != k:
        raise DisclosureError("hide_matched_split: before and after need one count per level each")
    unpub = [bool(u) for u in unpublished] if unpublished is not None else [False] * k
    if len(unpub) != k:
        raise DisclosureError("hide_matched_split: unpublished must have one flag per level")
    if threshold is None:
        return SplitDecision(list(unpub), list(unpub), False, False)

    def column(vals: list[Count], total_hidden: bool, pre: list[bool] | None = None) -> tuple[list[bool], bool]:
        if total_hidden:
            return [u or (v is not None and v > 0) for v, u in zip(vals, unpub)], True
        tot = None if None in vals else sum(vals)  # type: ignore[arg-type]
        d = hide_row(vals, tot, threshold, unpublished=unpub, hidden=pre)
        if d.total_hidden:
            return [u or (v is not None and v > 0) for v, u in zip(vals, unpub)], True
        return list(d.hidden), False

    if None in b or None in a or any(y > x for x, y in zip(b, a)):  # type: ignore[operator]
        hb, tb = column(b, before_total_hidden)
        ha, ta = column(a, after_total_hidden)
        return SplitDecision(hb, ha, tb, ta)
    bi = [int(x) for x in b]  # type: ignore[arg-type]
    ai = [int(x) for x in a]  # type: ignore[arg-type]
    tb_hidden, ta_hidden = bool(before_total_hidden), bool(after_total_hidden)
    if is_small(sum(bi) - sum(ai), threshold) and not tb_hidden:
        ta_hidden = True
    hb, tb_hidden = column(bi, tb_hidden)  # type: ignore[arg-type]
    ha, ta_hidden = column(ai, ta_hidden)  # type: ignore[arg-type]
    for _ in range(4 * k + 4):
        before_state = (list(hb), list(ha))
        for i in range(k):
            if hb[i] and ha[i]:
                continue
            d = hide_row([ai[i], bi[i] - ai[i]], None if hb[i] else bi[i], threshold,
                         unpublished=[unpub[i], True], hidden=[ha[i], True])
            ha[i] = ha[i] or ((d.hidden[0] or d.total_hidden) and ai[i] > 0)
        hb, tb_hidden = column(bi, tb_hidden, hb)  # type: ignore[arg-type]
        ha, ta_hidden = column(ai, ta_hidden, ha)  # type: ignore[arg-type]
        if (hb, ha) == before_state:
            break
    while (leak := split_leak(bi, ai, hb, ha, unpub, tb_hidden, ta_hidden, threshold, cap)) is not None:
        col, i = leak

        def shown(flags: list[bool], vals: list[int], rows: Sequence[int], tag: int) -> list[tuple[int, int, int]]:
            return [(vals[j], tag, j) for j in rows if not flags[j] and vals[j] > 0]

        everything = range(k)
        cands: list[tuple[int, int, int]] = []
        if i >= 0:
            cands = shown(ha, ai, [i], 0) + shown(hb, bi, [i], 1)
        if not cands and col == "before":
            cands = shown(hb, bi, everything, 1)
        if not cands:
            cands = shown(ha, ai, everything, 0)
        if not cands:
            cands = shown(hb, bi, everything, 1)
        if cands:
            _, tag, j = min(cands)
            (ha if tag == 0 else hb)[j] = True
            continue
        if not ta_hidden:
            ta_hidden = True
            ha = [u or v > 0 for v, u in zip(ai, unpub)]
            continue
        if not tb_hidden:
            tb_hidden = True
            hb = [u or v > 0 for v, u in zip(bi, unpub)]
            continue
        raise DisclosureError("hide_matched_split: no choice of hidden cells protects the split (internal error)")  # pragma: no cover
    return SplitDecision(hb, ha, tb_hidden, ta_hidden)


# ----------------------------------------------------------------------------- group sizes

#: Names of the group-size quantities of :func:`hide_group_sizes`, in the order of its flags.
GROUP_SIZE_NAMES = ("treated", "control", "matched_treated", "matched_control",
                    "unmatched_treated", "unmatched_control")


@dataclass(frozen=True)
class GroupSizeDecision:
    """Hidden flags of :func:`hide_group_sizes`, each ``[treated, control]``: ``group`` (the
    cohort's group sizes), ``matched``, ``unmatched`` (not matched); ``sets``: the number of
    matched sets must be hidden; ``tie``: the relation between the matched sizes a reader
    can use (``(k, "control")``: matched control = k x matched treated; ``(k, "treated")``:
    the reverse; ``None``: no tie)."""

    group: list[bool]
    matched: list[bool]
    unmatched: list[bool]
    sets: bool
    tie: tuple[int, str] | None


def matched_tie(matched_treated: Count, matched_control: Count, ratio: Count = None) -> tuple[int, str] | None:
    """The relation between the two matched group sizes that a reader who knows the matching
    ratio can use: ``(k, "control")`` when matched control = k x matched treated (1:1 pairs:
    ``k = 1``; k:1 matching with every set full: ``k = ratio``), ``(k, "treated")`` when
    matched treated = k x matched control, else ``None`` (sets of unequal size: the sizes are
    not tied). Only ``k = 1`` and ``k = ratio`` are considered: the two a reader is told."""
    if matched_treated is None or matched_control is None:
        return None
    mt, mc = int(matched_treated), int(matched_control)
    ks = sorted({1, int(ratio)} if ratio is not None and int(ratio) >= 1 else {1})
    for k in ks:
        if mc == k * mt:
            return k, "control"
        if mt == k * mc:
            return k, "treated"
    return None


def _size_bounds(v: int, hidden: bool, threshold: int, cap: int) -> tuple[int, int]:
    # a hidden zero never occurs here (zeros are not hidden); kept as "not negative" for safety
    return _bounds(v, hidden, hidden and v == 0, threshold, max(cap, threshold))


def group_size_leak(values: Sequence[int], hidden: Sequence[bool], total: int | None, tie: tuple[int, str] | None,
                    threshold: int, cap: int | None = None, floors: Sequence[int] | None = None) -> int | None:
    """The first group-size quantity (an index into :data:`GROUP_SIZE_NAMES`, or ``6`` for the
    two not-matched counts together) that is a small count a reader can pin down, else ``None``.

    ``values``: treated, control, matched treated, matched control, not-matched treated,
    not-matched control. The reader's knowledge (exact, integer programming): every shown value
    and the label range of every hidden one (``<11``: 1..10, ``hidden``: 11 or more); the
    shown cohort ``total`` (``None``: not shown) = treated + control; each group = matched +
    not matched; the ``tie`` (:func:`matched_tie`); ``floors``: lower bounds the reader has of
    the two matched sizes from elsewhere (the largest number at risk shown after time 0, the
    number of matched sets), ``[matched treated, matched control]`` or, with the cohort's
    groups first, ``[treated, control, matched treated, matched control]``; ``cap`` bounds every count (default: treated + control)."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp

    v = [int(x) for x in values]
    cap = max(int(cap) if cap is not None else v[0] + v[1], v[0] + v[1], threshold)
    targets = [i for i in range(6) if hidden[i] and is_small(v[i], threshold)]
    both_small = is_small(v[4] + v[5], threshold) and (hidden[4] or hidden[5])
    if not targets and not both_small:
        return None
    b = [_size_bounds(x, h, threshold, cap) for x, h in zip(v, hidden)]
    fl = list(floors or [])
    fl = ([0, 0] + fl) if len(fl) == 2 else (fl + [0, 0, 0, 0])[:4]
    for j, f in enumerate(fl):
        if f:
            b[j] = (max(b[j][0], int(f)), b[j][1])
    rows, lo_eq = [], []
    rows.append([1, 0, -1, 0, -1, 0])  # treated = matched + not matched
    rows.append([0, 1, 0, -1, 0, -1])  # control = matched + not matched
    lo_eq += [0, 0]
    if total is not None:
        rows.append([1, 1, 0, 0, 0, 0])
        lo_eq.append(int(total))
    if tie is not None:
        k, bigger = tie
        rows.append([0, 0, -k, 1, 0, 0] if bigger == "control" else [0, 0, 1, -k, 0, 0])
        lo_eq.append(0)
    cons = LinearConstraint(np.array(rows, float), np.array(lo_eq, float), np.array(lo_eq, float))
    bounds = Bounds([x[0] for x in b], [x[1] for x in b])

    def pinned(obj: np.ndarray) -> bool:
        out = []
        for sign in (1.0, -1.0):
            r = milp(sign * obj, constraints=cons, integrality=np.ones(6), bounds=bounds)
            if r.status != 0:  # pragma: no cover - the true sizes are feasible
                raise DisclosureError("hide_group_sizes: the shown group sizes admit no solution (internal error)")
            out.append(round(sign * r.fun))
        return out[0] == out[1]

    for i in targets:
        obj = np.zeros(6)
        obj[i] = 1.0
        if pinned(obj):
            return i
    if both_small:
        obj = np.zeros(6)
        obj[4] = obj[5] = 1.0
        if pinned(obj):
            return 6
    return None


def hide_group_sizes(groups: Sequence[Count], matched: Sequence[Count] | None = None, total: Count = None,
                     threshold: int | None = DEFAULT_THRESHOLD, ratio: Count = None, n_sets: Count = None,
                     floors: Sequence[Count] | None = None, cap: Count = None) -> GroupSizeDecision:
    """Which group sizes the report and the exports may show: ``groups`` = [treated, control]
    in the cohort, ``matched`` = [treated, control] in the matched sample (``None``: no
    matching), ``total``: the cohort size where it is shown (``None``: hidden or absent),
    ``ratio``: the matching ratio the methods state, ``n_sets``: the number of matched sets
    shown, ``floors``: lower bounds a reader has of the sizes from elsewhere (the numbers at
    risk shown after time 0; see :func:`group_size_leak`).

    How it decides:

    1. Small sizes (1..threshold-1) are hidden; each total (the cohort = treated + control,
       each group = matched + not matched) follows :func:`hide_row` (the smallest positive
       shown part becomes the complement).
    2. While :func:`group_size_leak` still pins a small count, one more positive count is
       hidden, in this order of preference (least destructive first): a matched size, then a
       not-matched count, then a cohort group size. Zeros are never hidden (a hidden zero's
       label would lie). With tied matched sizes (:func:`matched_tie`) and 5 controls not
       matched this hides the matched control n, the matched treated n (equal or k times it)
       and the not-matched treated n (cohort treated minus it gives the matched treated n
       back); the cohort's treated and control n stay shown.
    3. ``sets``: the number of matched sets is hidden when small, or when it equals (or is
       ``ratio`` times smaller than) a hidden matched size -- it is the same number.

    Unknown (``None``) sizes void the relations they are in: then only small sizes are hidden.
    ``threshold=None``: nothing hidden.
    """
    g = _check_counts(groups, "hide_group_sizes")
    m = _check_counts(matched, "hide_group_sizes") if matched is not None else [None, None]
    if len(g) != 2 or len(m) != 2:
        raise DisclosureError("hide_group_sizes: groups and matched are [treated, control]")
    if threshold is None:
        return GroupSizeDecision([False] * 2, [False] * 2, [False] * 2, False, matched_tie(m[0], m[1], ratio))
    u = [None if a is None or b is None or b > a else a - b for a, b in zip(g, m)]
    vals: list[Count] = [g[0], g[1], m[0], m[1], u[0], u[1]]
    hidden = [is_small(x, threshold) for x in vals]
    tot = None if total is None else int(total)
    if tot is not None and None not in g and sum(g) != tot:  # type: ignore[arg-type]
        tot = None  # the groups do not partition the total shown: no subtraction relation
    if None not in g:
        d = hide_row(g, tot, threshold, hidden=hidden[:2])
        hidden[0], hidden[1] = d.hidden[0] or d.total_hidden, d.hidden[1] or d.total_hidden
    for j in (0, 1):
        if None in (g[j], m[j], u[j]):
            continue
        d = hide_row([m[j], u[j]], None if hidden[j] else g[j], threshold, hidden=[hidden[2 + j], hidden[4 + j]])
        hidden[2 + j] = hidden[2 + j] or ((d.hidden[0] or d.total_hidden) and m[j] > 0)  # type: ignore[operator]
        hidden[4 + j] = hidden[4 + j] or ((d.hidden[1] or d.total_hidden) and u[j] > 0)  # type: ignore[operator]
    tie = matched_tie(m[0], m[1], ratio)
    k = max(1, int(ratio)) if ratio is not None else 1

    def sets_hidden() -> bool:
        if n_sets is None or is_small(n_sets, threshold):
            return is_small(n_sets, threshold)
        ns = int(n_sets)
        return any(m[j] is not None and hidden[2 + j] and (ns == m[j] or ns * k == m[j]) for j in (0, 1))

    if None not in vals:
        base = [0 if f is None else int(f) for f in (floors or [])]
        base = ([0, 0] + base) if len(base) == 2 else (base + [0, 0, 0, 0])[:4]
        iv = [int(x) for x in vals]  # type: ignore[arg-type]
        while True:
            # a shown number of sets bounds both matched sizes from below (a set holds a stay of each group)
            fl = base if sets_hidden() or n_sets is None else base[:2] + [max(f, int(n_sets)) for f in base[2:]]
            if group_size_leak(iv, hidden, tot, tie, threshold, cap, fl) is None:
                break
            cands = [i for i in (2, 3, 4, 5, 0, 1) if not hidden[i] and iv[i] > 0]
            for cls in ((2, 3), (4, 5), (0, 1)):
                pick = sorted((iv[i], i) for i in cands if i in cls)
                if pick:
                    hidden[pick[0][1]] = True
                    break
            else:
                raise DisclosureError(
                    f"hide_group_sizes: no choice of hidden group sizes protects a small count (sizes {iv}, cohort "
                    f"{tot}); the cohort is too small to report")
    sets = sets_hidden()
    return GroupSizeDecision(hidden[:2], hidden[2:4], hidden[4:6], sets, tie)


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


# ----------------------------------------------------------------------------- curves


def coarsen_steps(n_events: Sequence[Count], threshold: int | None = DEFAULT_THRESHOLD) -> list[bool]:
    """Which times of a Kaplan-Meier curve a shared figure draws, so that every visible step
    covers 0 or at least ``threshold`` deaths.

    ``n_events[i]``: the deaths (people, unweighted) at the i-th time of the curve, in time
    order. A time is drawn (``True``) when the deaths since the last drawn time, this one's
    included, reach ``threshold``; the curve (and its confidence band) is held flat at the
    last drawn value in between. The values drawn are the exact estimates at the drawn times,
    so a visible step is the product of the exact factors over at least ``threshold`` deaths;
    deaths after the last drawn time that do not reach ``threshold`` are not drawn at all (the
    curve stays flat to the end). ``threshold=None``: every time with a death is drawn.

    Why: a step's height with the numbers at risk shown gives the deaths at that time,
    d = n x (1 - S(t) / S(t-)), and the Greenwood increment of the band gives it as well. The
    same idea as the "rounded" Kaplan-Meier curves of OpenSAFELY's kaplan-meier-function
    action (opensafely-actions/kaplan-meier-function, analysis/km.R, ``round_km``: cumulative
    event counts are only updated once ``min_count`` events have accumulated, and the curve is
    re-derived from them); here the curve is not re-estimated but sampled at those times.

    >>> coarsen_steps([4, 5, 3, 0, 11, 2])
    [False, False, True, False, True, False]
    """
    d = _check_counts(n_events, "coarsen_steps")
    if any(v is None for v in d):
        raise DisclosureError("coarsen_steps: every time needs its number of deaths")
    if threshold is None:
        return [int(v) > 0 for v in d]  # type: ignore[arg-type]
    out, acc = [], 0
    for v in d:
        acc += int(v)  # type: ignore[arg-type]
        if acc >= threshold:
            out.append(True)
            acc = 0
        else:
            out.append(False)
    return out


# ----------------------------------------------------------------------------- shares

#: Rounding steps of :func:`coarse_share`, as proportions (0.1 to 10 percentage points).
SHARE_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)


def coarse_share(value: float | None, n: Count, threshold: int | None = DEFAULT_THRESHOLD) -> tuple[float | None, float]:
    """A proportion (a risk, a risk difference) rounded so that, times ``n`` (the stays it is
    a share of), it does not give back a count: the smallest step of :data:`SHARE_STEPS` with
    ``step x n >= threshold`` (so the counts consistent with the rounded value span at least
    ``threshold`` whole numbers), the largest step when ``n`` is unknown or too small.
    Returns ``(rounded value, step)``; ``(None, step)`` for a missing value.
    ``threshold=None``: the smallest step (0.1 percentage points).

    >>> coarse_share(-0.04737, 4000)   # 0.002 x 4000 = 8 < 11; 0.005 x 4000 = 20
    (-0.045, 0.005)
    >>> coarse_share(0.2463, 50)
    (0.2, 0.1)
    """
    if threshold is None:
        step = SHARE_STEPS[0]
    else:
        k = None if n is None else int(n)
        step = next((s for s in SHARE_STEPS if k is not None and s * k >= threshold), SHARE_STEPS[-1])
    if value is None:
        return None, step
    v = float(value)
    if v != v:  # NaN
        return None, step
    q = round(v / step)
    return round(q * step, 6), step


def hide_nested_sequences(outer: Sequence[int], inner: Sequence[int], shown_outer: Sequence[bool],
                          shown_inner: Sequence[bool], threshold: int | None = DEFAULT_THRESHOLD) -> list[bool]:
    """Two non-increasing sequences at the same times, one inside the other (the numbers at
    risk of a group in the whole cohort, ``outer``, and in the matched sample, ``inner``):
    their difference ``outer[i] - inner[i]`` is a third sequence never printed (the stays
    not matched still at risk), readable wherever both are shown. Returns ``shown_inner``
    with more values hidden, so that the derivable differences are each 0 or at least
    ``threshold`` and differ pairwise (consecutive ones) by 0 or at least ``threshold`` (the
    not-matched stays who died or left in between), as :func:`hide_sequence` asks of one
    sequence. Only inner values are hidden: hiding a value of a sequence whose consecutive
    shown values differ by 0 or >= ``threshold`` keeps that property (a sum of such drops
    is such a drop)."""
    o = _check_counts(outer, "hide_nested_sequences")
    n_ = _check_counts(inner, "hide_nested_sequences")
    if len(o) != len(n_) or len(shown_outer) != len(o) or len(shown_inner) != len(o):
        raise DisclosureError("hide_nested_sequences: one value and one flag per time in each sequence")
    out = [bool(s) for s in shown_inner]
    if threshold is None:
        return out
    last: int | None = None
    for i in range(len(o)):
        if not (shown_outer[i] and out[i]) or o[i] is None or n_[i] is None:
            continue
        d = int(o[i]) - int(n_[i])  # type: ignore[arg-type]
        if d < 0:
            raise DisclosureError(f"hide_nested_sequences: the inner sequence exceeds the outer at position {i}")
        if is_small(d, threshold) or (last is not None and 0 < last - d < threshold) or (last is not None and d > last):
            out[i] = False
            continue
        last = d
    return out


def _prev_shown(shown: list[bool], j: int) -> int | None:
    return next((k for k in range(j - 1, -1, -1) if shown[k]), None)


__all__ = [
    "DEFAULT_THRESHOLD",
    "HIDDEN_TEXT",
    "DisclosureError",
    "GROUP_SIZE_NAMES",
    "GroupSizeDecision",
    "RowDecision",
    "SequenceDecision",
    "SplitDecision",
    "cell_text",
    "coarse_share",
    "SHARE_STEPS",
    "coarsen_steps",
    "hide_cells",
    "hide_row",
    "hide_group_sizes",
    "group_size_leak",
    "matched_tie",
    "hide_matched_split",
    "hide_sequence",
    "hide_nested_sequences",
    "is_small",
    "row_ranges",
    "split_leak",
]
