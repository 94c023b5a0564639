"""The small-count rule (icu_cohort.report.disclosure): hand-built cases, and brute-force
checks that no hidden small count can be derived from what is shown.

The brute force is a second implementation of the reader's knowledge: it enumerates every
assignment of whole numbers to the hidden cells that agrees with the shown cells, the shown
total, the labels ("<11" = 1..10, "hidden" = 11 or more, unpublished = anything >= 0) and,
for sequences, the subtraction rule; a hidden small count is recoverable when it takes one
value in all of them.
"""

from __future__ import annotations

import itertools
import random

import pytest

from icu_cohort.report.disclosure import (
    HIDDEN_TEXT,
    DisclosureError,
    cell_text,
    hide_cells,
    hide_matched_split,
    hide_row,
    hide_sequence,
)

T = 11


def _label_range(v: int, hidden: bool, unpublished: bool, cap: int) -> range:
    if not hidden:
        return range(v, v + 1)
    if unpublished:
        return range(0, cap + 1)
    if 1 <= v < T:
        return range(1, T)
    return range(T, cap + 1)


def row_possible_values(counts, hidden, total, unpublished=None):
    """Brute force: for each cell, the set of values it takes over all consistent rows."""
    unpublished = unpublished or [False] * len(counts)
    ranges = [_label_range(c, h, u, total) for c, h, u in zip(counts, hidden, unpublished)]
    seen = [set() for _ in counts]
    for combo in itertools.product(*ranges):
        if sum(combo) == total:
            for s, v in zip(seen, combo):
                s.add(v)
    return seen


def assert_row_safe(counts, total, hidden, unpublished=None):
    seen = row_possible_values(counts, hidden, total, unpublished)
    for i, (c, h) in enumerate(zip(counts, hidden)):
        if 1 <= c < T:
            assert h, f"small cell {i} ({c}) of {counts} is shown"
            assert len(seen[i]) > 1, f"cell {i} ({c}) of {counts} / {total} is recoverable: hidden {hidden}"
    hidden_sum = sum(c for c, h in zip(counts, hidden) if h)
    assert hidden_sum == 0 or hidden_sum >= T, (counts, hidden)


# ----------------------------------------------------------------------------- one total


def test_no_small_cell_nothing_hidden() -> None:
    assert hide_cells([120, 15, 300, 0], total=435) == [False] * 4


def test_one_small_cell_hides_the_next_smallest_positive_one() -> None:
    # 7 alone could be read as 427 - 120 - 300; the next smallest positive cell (120) goes too.
    assert hide_cells([120, 7, 300, 0], total=427) == [True, True, False, False]


def test_zero_is_never_a_complement() -> None:
    assert hide_cells([0, 7, 0, 200], total=207) == [False, True, False, True]


def test_two_small_cells_summing_below_threshold_need_a_third() -> None:
    # 3 + 4 = 7 is derivable from the total: a small count of the two together.
    assert hide_cells([3, 4, 50, 60], total=117) == [True, True, True, False]


def test_two_small_cells_summing_to_threshold_or_more_are_enough() -> None:
    dec = hide_cells([6, 5, 50, 60], total=121)
    assert dec == [True, True, False, False]
    assert_row_safe([6, 5, 50, 60], 121, dec)


def test_labels_pin_a_pair_of_tens() -> None:
    # 10 + 10 of 20: both "<11" and the total 20 leave only 10 and 10: the total must go.
    dec = hide_row([10, 10, 0], total=20)
    assert dec.total_hidden and all(dec.hidden)
    # with a third positive cell, hiding it as well suffices
    d2 = hide_row([10, 10, 15], total=35)
    assert d2.hidden == [True, True, True] and not d2.total_hidden
    assert_row_safe([10, 10, 15], 35, d2.hidden)


def test_small_total_is_hidden_and_gives_nothing_to_subtract() -> None:
    dec = hide_row([3, 0, 4], total=7)
    assert dec.total_hidden and dec.hidden == [True, False, True]


def test_no_total_only_small_cells() -> None:
    assert hide_cells([3, 40, 50]) == [True, False, False]


def test_unpublished_complement_of_a_binary_row_is_protected() -> None:
    # Table 1 binary row: yes = 95, no (not shown, n - yes - missing) = 3, missing = 2, n = 100.
    dec = hide_row([95, 3, 2], total=100, unpublished=[False, True, False])
    assert dec.hidden[1] and dec.hidden[2]
    # 3 + 2 = 5 is derivable unless "yes" goes as well
    assert dec.hidden[0]
    assert_row_safe([95, 3, 2], 100, dec.hidden, [False, True, False])


def test_threshold_none_hides_nothing_but_unpublished() -> None:
    assert hide_cells([3, 4, 50], total=57, threshold=None) == [False, False, False]


def test_counts_that_do_not_add_up_are_an_error() -> None:
    with pytest.raises(DisclosureError, match="add up to 57, not to the total 60"):
        hide_cells([3, 4, 50], total=60)
    with pytest.raises(DisclosureError, match="whole numbers"):
        hide_cells([3.5, 4], total=7.5)


def test_cell_text() -> None:
    assert cell_text(7, True) == "<11"
    assert cell_text(120, True) == HIDDEN_TEXT
    assert cell_text(120, False) == "120"
    assert cell_text(0, False) == "0"
    assert cell_text(12345, False) == "12,345"
    assert cell_text(None, False) == "\u2013"


@pytest.mark.parametrize("seed", range(40))
def test_rows_brute_force(seed: int) -> None:
    """Random rows of 2-4 cells with many small values: no hidden small cell is recoverable."""
    rng = random.Random(seed)
    for _ in range(25):
        k = rng.randint(2, 4)
        counts = [rng.choice([0, 1, 2, 5, 9, 10, 11, 12, 14, 20, 25]) for _ in range(k)]
        total = sum(counts)
        dec = hide_row(counts, total)
        if dec.total_hidden:
            assert all(dec.hidden[i] for i, c in enumerate(counts) if 1 <= c < T)
            continue
        assert_row_safe(counts, total, dec.hidden)


# ----------------------------------------------------------------------------- before / after


def _column_fills(vals, hidden, unpub, total_hidden, cap):
    """Brute force, one column: every vector of cell values consistent with the shown cells,
    the labels, and the column total (shown, or within its label when hidden)."""
    import numpy as np

    ranges = [_label_range(v, h, u, cap) for v, h, u in zip(vals, hidden, unpub)]
    total = sum(vals)
    # a hidden total of 0 (all cells 0): its label says nothing but "not negative"
    total_range = _label_range(total, total_hidden, total_hidden and total == 0, cap)
    out = [c for c in itertools.product(*ranges) if sum(c) in total_range]
    return np.array(out, dtype=int).reshape(len(out), len(vals))


def split_possible_values(before, after, dec, unpub, cap):
    """Brute force over the hidden cells of both columns: the values each before, after and
    unmatched cell (and each column's sum of cells not shown) takes over every pair of columns
    a reader finds consistent (after <= before in every level: the unmatched are >= 0)."""
    import numpy as np

    bc = _column_fills(before, dec.before, unpub, dec.before_total_hidden, cap)
    ac = _column_fills(after, dec.after, unpub, dec.after_total_hidden, cap)
    ok = np.all(ac[None, :, :] <= bc[:, None, :], axis=2)  # (nb, na)
    ib, ia = np.nonzero(ok)
    B, A = bc[ib], ac[ia]
    U = B - A
    k = len(before)
    seen = {"before": [set(B[:, i]) for i in range(k)], "after": [set(A[:, i]) for i in range(k)],
            "unmatched": [set(U[:, i]) for i in range(k)]}
    not_shown_b = [i for i in range(k) if dec.before[i]]
    not_shown_a = [i for i in range(k) if dec.after[i]]
    not_shown_u = [i for i in range(k) if dec.before[i] or dec.after[i]]
    sums = {"before": (not_shown_b, set(B[:, not_shown_b].sum(axis=1))),
            "after": (not_shown_a, set(A[:, not_shown_a].sum(axis=1))),
            "unmatched": (not_shown_u, set(U[:, not_shown_u].sum(axis=1)))}
    return seen, sums


def assert_split_safe(before, after, dec, unpub=None, cap=None):
    unpub = unpub or [False] * len(before)
    cap = max(sum(before), T) if cap is None else cap
    unmatched = [x - y for x, y in zip(before, after)]
    for name, vals, flags in (("before", before, dec.before), ("after", after, dec.after)):
        total_hidden = dec.before_total_hidden if name == "before" else dec.after_total_hidden
        for v, h, u in zip(vals, flags, unpub):
            if 1 <= v < T or u:
                assert h, f"{name} cell {v} of {vals} is shown ({dec})"
            if total_hidden and v > 0:
                assert h, f"{name} column total hidden, but its cell {v} is shown ({dec})"
    seen, sums = split_possible_values(before, after, dec, unpub, cap)
    for name, vals in (("before", before), ("after", after), ("unmatched", unmatched)):
        for i, v in enumerate(vals):
            assert v in seen[name][i]  # the brute force sees the true table
            if 1 <= v < T and len(seen[name][i]) == 1:
                raise AssertionError(f"{name} count {v} (level {i}) of {before} / {after} is pinned: {dec}")
        idx, vals_sum = sums[name]
        true_sum = sum(vals[i] for i in idx)
        if idx and 1 <= true_sum < T and len(vals_sum) == 1:
            raise AssertionError(f"{name}: the cells not shown {idx} sum to {true_sum}, pinned: {dec}")


def test_split_unmatched_level_of_5_is_not_readable() -> None:
    # male controls: 28 of 51 before, 23 of 37 after (14 unmatched, 5 of them male)
    before, after, unpub = [28, 23, 0], [23, 14, 0], [False, True, False]
    assert hide_row(before, 51, unpublished=unpub).hidden == [False, True, False]  # each column alone: shown
    assert hide_row(after, 37, unpublished=unpub).hidden == [False, True, False]
    dec = hide_matched_split(before, after, unpublished=unpub)
    assert dec.before[0] != dec.after[0]  # one of 28 / 23 goes; the smaller (after) one
    assert dec.after[0] and not dec.before[0]
    assert not dec.after_total_hidden and not dec.before_total_hidden
    assert_split_safe(before, after, dec, unpub)


def test_split_large_differences_hide_nothing_more() -> None:
    before, after = [225, 170, 0], [20, 17, 0]
    dec = hide_matched_split(before, after, unpublished=[False, True, False])
    assert dec.before == [False, True, False] and dec.after == [False, True, False]


def test_split_small_unmatched_total_hides_the_after_column() -> None:
    # 50 controls, 45 matched: "5 not matched" is 50 - 45 -> the after total and cells go
    dec = hide_matched_split([30, 20], [27, 18])
    assert dec.after_total_hidden and dec.after == [True, True]
    assert dec.before == [False, False] and not dec.before_total_hidden
    assert_split_safe([30, 20], [27, 18], dec)
    # the before total already hidden (by the flow diagram): the after one may stay
    dec2 = hide_matched_split([30, 20], [27, 18], before_total_hidden=True)
    assert dec2.before_total_hidden and dec2.before == [True, True]
    assert_split_safe([30, 20], [27, 18], dec2)


def test_split_zero_unmatched_everywhere_is_fine() -> None:
    # every stay matched: before == after, unmatched all 0 (zero is not small)
    dec = hide_matched_split([40, 30, 0], [40, 30, 0])
    assert dec.before == dec.after == [False, False, False]
    assert_split_safe([40, 30, 0], [40, 30, 0], dec)


def test_split_is_only_per_column_without_the_relation() -> None:
    # an after count above its before one (weighted / with replacement): no subtraction relation
    dec = hide_matched_split([20, 5, 30], [22, 3, 30])
    assert dec.before == hide_row([20, 5, 30], 55).hidden and dec.after == hide_row([22, 3, 30], 55).hidden


def test_split_threshold_none_flags_only_unpublished() -> None:
    dec = hide_matched_split([28, 23, 0], [23, 14, 0], threshold=None, unpublished=[False, True, False])
    assert dec.before == dec.after == [False, True, False]


def test_split_errors() -> None:
    with pytest.raises(DisclosureError, match="one count per level"):
        hide_matched_split([1, 2], [1])
    with pytest.raises(DisclosureError, match="whole numbers"):
        hide_matched_split([1, -2], [1, 0])


@pytest.mark.parametrize("seed", range(40))
def test_split_brute_force(seed: int) -> None:
    """Random before / after columns of 2-3 levels, many small values and small unmatched
    counts: the brute force finds no pinned small count anywhere (before, after, unmatched)."""
    rng = random.Random(5000 + seed)
    for _ in range(6):
        k = rng.randint(2, 3)
        after = [rng.choice([0, 0, 1, 3, 6, 10, 11, 13, 18]) for _ in range(k)]
        before = [a + rng.choice([0, 0, 1, 2, 5, 9, 10, 11, 14]) for a in after]
        unpub = [False] * k
        if rng.random() < 0.4:
            unpub[rng.randrange(k)] = True  # a binary row's "no", or a continuous row's "with a value"
        pre_b = rng.random() < 0.1
        cap = sum(before) + 12  # the reader knows the cohort, a little more than this group
        dec = hide_matched_split(before, after, unpublished=unpub, before_total_hidden=pre_b, cap=cap)
        assert_split_safe(before, after, dec, unpub, cap)


def test_brute_force_sees_the_leak_of_per_column_suppression() -> None:
    """The check can fail: suppressing each column alone leaves 28 - 23 = 5 readable."""
    from icu_cohort.report.disclosure import SplitDecision

    unpub = [False, True, False]
    per_column = SplitDecision(hide_row([28, 23, 0], 51, unpublished=unpub).hidden,
                               hide_row([23, 14, 0], 37, unpublished=unpub).hidden, False, False)
    with pytest.raises(AssertionError, match="unmatched count 5"):
        assert_split_safe([28, 23, 0], [23, 14, 0], per_column, unpub)


# ----------------------------------------------------------------------------- sequences


def sequence_possible(rem, hidden_rem, removed=None, hidden_removed=None):
    """Brute force over the hidden remaining values (the removed follow by subtraction):
    values each hidden remaining and each removed count takes in consistent sequences."""
    n = len(rem)
    cap = rem[0]
    ranges = []
    for i in range(n):
        ranges.append(_label_range(rem[i], hidden_rem[i], False, cap))
    seen_rem = [set() for _ in range(n)]
    seen_rmv = [set() for _ in range(n)]
    for combo in itertools.product(*ranges):
        if any(combo[i] > combo[i - 1] for i in range(1, n)):
            continue
        ok = True
        if removed is not None:
            for i in range(1, n):
                r = combo[i - 1] - combo[i]
                if not hidden_removed[i] and r != removed[i]:
                    ok = False
                    break
                if hidden_removed[i] and 1 <= removed[i] < T and not 1 <= r < T:
                    ok = False  # labelled "<11"
                    break
                if hidden_removed[i] and removed[i] >= T and r < T:
                    ok = False  # labelled hidden (>= 11)
                    break
        if not ok:
            continue
        for i in range(n):
            seen_rem[i].add(combo[i])
            if i:
                seen_rmv[i].add(combo[i - 1] - combo[i])
    return seen_rem, seen_rmv


def assert_sequence_safe(rem, removed, dec):
    seen_rem, seen_rmv = sequence_possible(rem, dec.remaining, removed, dec.removed if removed else None)
    n = len(rem)
    for i in range(n):
        if 1 <= rem[i] < T:
            assert dec.remaining[i], (rem, i)
            assert len(seen_rem[i]) > 1, f"remaining {i} of {rem} recoverable ({dec})"
    for i in range(1, n):
        drop = rem[i - 1] - rem[i]
        if 1 <= drop < T:
            assert len(seen_rmv[i]) > 1, f"removed {i} ({drop}) of {rem} recoverable ({dec})"
            if removed is not None:
                assert dec.removed[i]
    shown = [rem[i] for i in range(n) if not dec.remaining[i]]
    for a, b in zip(shown, shown[1:]):
        assert a - b == 0 or a - b >= T, f"shown {a} and {b} differ by a small count ({rem}, {dec})"


def test_attrition_small_exclusion_hides_its_remaining_and_the_next_exclusion() -> None:
    rem = [400, 300, 293, 200]
    rmv = [0, 100, 7, 93]
    dec = hide_sequence(rem, rmv)
    # 293 would give 300 - 293 = 7; the 93 after it would give 293 back from 200.
    assert dec.remaining == [False, False, True, False]
    assert dec.removed == [False, False, True, True]
    assert_sequence_safe(rem, rmv, dec)


def test_attrition_last_step_small_keeps_the_cohort_shown() -> None:
    rem = [400, 300, 200, 195]
    rmv = [0, 100, 100, 5]
    dec = hide_sequence(rem, rmv)
    assert not dec.remaining[-1] and not dec.remaining[0]
    assert dec.remaining[2] and dec.removed[3] and dec.removed[2]
    assert_sequence_safe(rem, rmv, dec)


def test_numbers_at_risk_drop_of_deaths_is_not_derivable() -> None:
    # 28-day follow-up without censoring: 40 at day 0 and 34 at day 28 would say 6 deaths.
    rem = [40, 38, 36, 35, 34]
    dec = hide_sequence(rem)
    shown = [r for r, h in zip(rem, dec.remaining) if not h]
    assert shown == [40]
    assert all(dec.removed)
    assert_sequence_safe(rem, None, dec)


def test_numbers_at_risk_large_drops_all_shown() -> None:
    rem = [400, 350, 300, 280, 260]
    dec = hide_sequence(rem)
    assert dec.remaining == [False] * 5


def test_numbers_at_risk_small_tail() -> None:
    rem = [60, 30, 9, 4, 0]
    dec = hide_sequence(rem)
    assert dec.remaining[2] and dec.remaining[3]
    assert_sequence_safe(rem, None, dec)


def test_sequence_errors() -> None:
    with pytest.raises(DisclosureError, match="rises at position 2"):
        hide_sequence([10, 5, 6])
    with pytest.raises(DisclosureError, match="step 1 removes 4"):
        hide_sequence([10, 5], [0, 4])


@pytest.mark.parametrize("seed", range(30))
def test_sequences_brute_force(seed: int) -> None:
    rng = random.Random(1000 + seed)
    for _ in range(12):
        n = rng.randint(3, 5)
        rem = [rng.randint(25, 45)]
        for _ in range(n - 1):
            rem.append(max(0, rem[-1] - rng.choice([0, 1, 3, 6, 10, 11, 13])))
        with_removed = rng.random() < 0.5
        rmv = [0] + [rem[i - 1] - rem[i] for i in range(1, n)] if with_removed else None
        dec = hide_sequence(rem, rmv)
        assert_sequence_safe(rem, rmv, dec)


# ----------------------------------------------------------------------------- Table 1 end to end


def _cohort_with_unmatched(n_unmatched_control: int, seed: int):
    """A cohort of 150 treated and 60 control stays with a binary, a categorical and a
    continuous covariate (some missing), matched 1:1 so that ``n_unmatched_control``
    controls stay unmatched; Table 1 from the analysis's own function."""
    import numpy as np
    import pandas as pd

    from icu_cohort.analysis import balance as bal

    rng = np.random.default_rng(seed)
    n_t, n_c = 150, 60
    treated = np.r_[np.ones(n_t, int), np.zeros(n_c, int)]
    n = n_t + n_c
    male = (rng.random(n) < 0.55).astype(float)
    male[rng.random(n) < 0.04] = np.nan
    race = rng.choice(["WHITE", "BLACK", "ASIAN", "OTHER"], n, p=[0.6, 0.2, 0.12, 0.08]).astype(object)
    age = rng.normal(62, 12, n)
    age[rng.random(n) < 0.05] = np.nan
    df = pd.DataFrame({"treated": treated, "male": male, "race": race, "age": age})
    k = n_c - n_unmatched_control
    matched = np.sort(np.r_[rng.choice(n_t, k, replace=False), n_t + rng.choice(n_c, k, replace=False)])
    covs = [{"name": "male", "type": "binary"}, {"name": "race", "type": "categorical"},
            {"name": "age", "type": "continuous"}]
    return df, matched, bal.table1(df, covs, treated, matched)


def _number(text: str):
    import re

    m = re.match(r"^([\d,]+)(?: \(|$)", text)
    return int(m.group(1).replace(",", "")) if m else None


@pytest.mark.parametrize("n_unmatched", [5, 14])
@pytest.mark.parametrize("seed", range(6))
def test_table1_layout_shows_no_small_before_after_difference(n_unmatched: int, seed: int) -> None:
    """Table 1 as the report and the exports print it: wherever a count is shown both before
    and after matching for the same group, the two differ by 0 or by 11 or more (the stays not
    matched); with 5 controls unmatched, the matched controls' size is hidden; and a brute
    force over the printed male row (its "no" count derivable) finds no pinned small count."""
    from icu_cohort.report.tables import table1_layout

    df, matched, t1 = _cohort_with_unmatched(n_unmatched, seed)
    lay = table1_layout(t1, 11)
    if n_unmatched == 5:
        # 1:1: the matched treated n equals the matched control n, so both go (hide_group_sizes)
        assert lay.sizes[("after", "control")] == lay.sizes[("after", "treated")] == HIDDEN_TEXT
        assert lay.sizes[("before", "control")] == "60"
    else:
        assert lay.sizes[("after", "control")] == "46"
    for (s, side), text in lay.sizes.items():
        other = lay.sizes[("after" if s == "before" else "before", side)]
        b, a = (_number(text), _number(other)) if s == "before" else (_number(other), _number(text))
        if b is not None and a is not None:
            assert not 1 <= b - a < T, (side, b, a)
    n_count_rows = 0
    for row in lay.rows:
        if row.stat.startswith("mean"):
            continue
        for j in (0, 1):
            b, a = _number(row.cells[j]), _number(row.cells[3 + j])
            if b is not None and a is not None:
                n_count_rows += 1
                assert not 1 <= b - a < T, f"{row.label}: {row.cells[j]} before, {row.cells[3 + j]} after"
    assert n_count_rows > 0 or n_unmatched == 5  # the check looked at shown pairs (none left with 5)
    # brute force on the male row of each group, read back from the printed cells
    from icu_cohort.report.disclosure import SplitDecision

    male = next(r for r in lay.rows if r.label == "Male")
    miss_row = next((r for r, nxt in zip(lay.rows, lay.rows[1:]) if r.label == "Male" and nxt.kind == "missing"), None)
    miss = lay.rows[lay.rows.index(male) + 1] if miss_row is not None else None
    sub = df.iloc[matched]
    for j, (side, g) in enumerate((("treated", 1), ("control", 0))):
        cols = []
        for sample in (df, sub):
            x = sample.loc[sample["treated"] == g, "male"]
            yes, m = int((x == 1).sum()), int(x.isna().sum())
            cols.append([yes, len(x) - yes - m, m])
        hb = [_number(male.cells[j]) is None, True, miss is not None and _number(miss.cells[j]) is None]
        ha = [_number(male.cells[3 + j]) is None, True, miss is not None and _number(miss.cells[3 + j]) is None]
        for shown, flag, v in ((male.cells[j], hb[0], cols[0][0]), (male.cells[3 + j], ha[0], cols[1][0])):
            if not flag:
                assert _number(shown) == v  # the printed count is the true one
        dec = SplitDecision(hb, ha, _number(lay.sizes[("before", side)]) is None,
                            _number(lay.sizes[("after", side)]) is None)
        assert_split_safe(cols[0], cols[1], dec, [False, True, False], cap=len(df))


@pytest.mark.parametrize("n_unmatched", [5, 14])
@pytest.mark.parametrize("seed", range(4))
def test_exported_table1_shows_no_small_before_after_difference(n_unmatched: int, seed: int) -> None:
    """The manuscript export of Table 1 reads the same decision: no shown before/after pair
    of counts (or of group sizes) differs by 1 to 10, and its notes say what "hidden" means."""
    from icu_cohort.report import exports
    from icu_cohort.report.tables import table1_hidden_note, table1_layout

    _, _, t1 = _cohort_with_unmatched(n_unmatched, seed)
    lay = exports.table1_rows(t1, 11)
    sizes = [_number(h.split("(n = ")[1].rstrip(")")) for h in lay.header[1][1:] if "(n = " in h]
    for b, a in ((sizes[0], sizes[2]), (sizes[1], sizes[3])):
        if b is not None and a is not None:
            assert not 1 <= b - a < T
    pairs = 0
    for row in lay.body:
        if "mean (SD)" in row[0] or "median" in row[0]:
            continue
        for j in (1, 2):
            b, a = _number(row[j]), _number(row[j + 3])
            if b is not None and a is not None:
                pairs += 1
                assert not 1 <= b - a < T, row
    assert pairs > 0 or n_unmatched == 5  # with 5 not matched (1:1) no after column is left
    assert table1_hidden_note(11) in lay.notes
    # the same cells hidden as in the report's layout (one decision)
    rep = table1_layout(t1, 11)
    rep_hidden = sum(c in (HIDDEN_TEXT, "<11") for r in rep.rows for c in r.cells)
    exp_hidden = sum(c in (exports.SUPPRESSED, "<11") for r in lay.body for c in r)
    assert rep_hidden == exp_hidden


def test_effects_table_hides_not_matched_deaths() -> None:
    """Cohort controls 60 with 20 deaths, matched 46 with 15: 5 not-matched deaths would be
    20 - 15; one of the two death counts is hidden (the matched one)."""
    from icu_cohort.report import exports

    est = {"n_treated": 150, "n_control": 60,
           "matching": {"n_matched_treated": 46, "n_matched_control": 46},
           "mortality_28d": {"cohort_treated": 45 / 150, "cohort_control": 20 / 60,
                             "matched_treated": 14 / 46, "matched_control": 15 / 46},
           "cox_matched": {"hr": 0.9, "ci95": [0.5, 1.6], "p": 0.7},
           "cox_multivariable": {"hr": 0.8, "ci95": [0.5, 1.3], "p": 0.4}}
    body = exports.effects_rows(est, 11).body
    matched, cohort = body[0], body[1]
    assert cohort[3] == "60" and cohort[5].startswith("20 (")
    assert matched[3] == "46" and matched[5] == exports.SUPPRESSED
    assert matched[4].startswith("14 (") and cohort[4].startswith("45 (")  # 31 not matched: fine
