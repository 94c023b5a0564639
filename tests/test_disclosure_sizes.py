"""Group sizes with matching (icu_cohort.report.disclosure.hide_group_sizes): a brute force
over every set of sizes a reader could fill in, with the 1:1 (and k:1) equality of the
matched sizes included, on cohorts where 1..10 controls or 1..10 treated stay unmatched.

The brute force is a second implementation of the reader: it enumerates whole numbers for
the matched treated n, the not-matched treated n and the not-matched control n (the matched
control n follows from the tie, or is enumerated when there is none), derives the group
sizes, keeps every combination that agrees with what is shown (values, labels "<11" = 1..10
and "hidden" = 11 or more, the cohort total, a shown number of sets = the matched treated n)
and asks whether a small count takes one value in all of them.
"""

from __future__ import annotations

import numpy as np
import pytest

from icu_cohort.report.disclosure import (
    DisclosureError,
    hide_group_sizes,
    hide_row,
    matched_tie,
)

T = 11


def _label_values(v: int, hidden: bool, cap: int) -> np.ndarray:
    """The values a reader allows for one count: itself when shown, else its label's range."""
    if not hidden:
        return np.array([v])
    if 1 <= v < T:
        return np.arange(1, T)
    return np.arange(T, cap + 1)


def _allowed(arr: np.ndarray, v: int, hidden: bool) -> np.ndarray:
    if not hidden:
        return arr == v
    if 1 <= v < T:
        return (arr >= 1) & (arr < T)
    return arr >= T


def reader_fills(g, m, dec, total_shown: bool, k: int | None, n_sets_shown: bool, floors=(0, 0)):
    """Every (treated, control, matched treated, matched control, not-matched treated,
    not-matched control) consistent with what is shown; ``k``: matched control = k x matched
    treated (``None``: no tie, the matched control n is enumerated too); ``floors``: numbers
    at risk shown after time 0 (the matched sizes are at least that)."""
    cap = g[0] + g[1] + 5
    u = [g[0] - m[0], g[1] - m[1]]
    r_mt = _label_values(m[0], dec.matched[0] and not n_sets_shown, cap)
    r_ut = _label_values(u[0], dec.unmatched[0], cap)
    r_uc = _label_values(u[1], dec.unmatched[1], cap)
    if k is not None:
        mt, ut, uc = np.meshgrid(r_mt, r_ut, r_uc, indexing="ij")
        mc = k * mt
    else:
        mt, mc, ut, uc = np.meshgrid(r_mt, _label_values(m[1], dec.matched[1], cap), r_ut, r_uc, indexing="ij")
    tr, co = mt + ut, mc + uc
    ok = (_allowed(tr, g[0], dec.group[0]) & _allowed(co, g[1], dec.group[1])
          & _allowed(mt, m[0], dec.matched[0]) & _allowed(mc, m[1], dec.matched[1])
          & (mt >= floors[0]) & (mc >= floors[1]))
    if total_shown:
        ok &= tr + co == g[0] + g[1]
    if n_sets_shown:
        ok &= mt == m[0]
    return [a[ok] for a in (tr, co, mt, mc, ut, uc)]


def assert_sizes_safe(g, m, dec, total_shown=True, k=1, n_sets_shown=None, floors=(0, 0)):
    n_sets_shown = (not dec.sets) if n_sets_shown is None else n_sets_shown
    u = [g[0] - m[0], g[1] - m[1]]
    true = [g[0], g[1], m[0], m[1], u[0], u[1]]
    fills = reader_fills(g, m, dec, total_shown, k, n_sets_shown, floors)
    assert len(fills[0]) > 0, "the true sizes must be among the reader's fills"
    flags = [*dec.group, *dec.matched, *dec.unmatched]
    names = ["treated", "control", "matched treated", "matched control", "not-matched treated", "not-matched control"]
    for name, v, h, col in zip(names, true, flags, fills):
        if 1 <= v < T:
            assert h, f"{name} ({v}) is shown"
            assert len(set(col.tolist())) > 1, f"{name} = {v} is pinned: shown {dict(zip(names, flags))}"
    if 1 <= u[0] + u[1] < T and (dec.unmatched[0] or dec.unmatched[1]):
        assert len(set((fills[4] + fills[5]).tolist())) > 1, "the not-matched stays together are pinned"


P = 30  # pairs (matched sets) in the fixtures


@pytest.mark.parametrize("ut", [0, 25])
@pytest.mark.parametrize("uc", range(1, 11))
def test_one_to_one_small_unmatched_controls(uc: int, ut: int) -> None:
    g, m = [P + ut, P + uc], [P, P]
    dec = hide_group_sizes(g, m, sum(g), ratio=1, n_sets=P)
    assert dec.tie == (1, "control")
    assert dec.matched == [True, True] and dec.sets  # either matched size would give the other
    assert_sizes_safe(g, m, dec, k=1)


@pytest.mark.parametrize("uc", [0, 30])
@pytest.mark.parametrize("ut", range(1, 11))
def test_one_to_one_small_unmatched_treated(ut: int, uc: int) -> None:
    g, m = [P + ut, P + uc], [P, P]
    dec = hide_group_sizes(g, m, sum(g), ratio=1, n_sets=P)
    assert dec.matched == [True, True] and dec.sets
    assert_sizes_safe(g, m, dec, k=1)


@pytest.mark.parametrize("small", range(1, 11))
@pytest.mark.parametrize("side", [0, 1])
def test_two_to_one_full_sets(small: int, side: int) -> None:
    """2:1 matching with every set full: matched control = 2 x matched treated."""
    m = [20, 40]
    u = [small, 25] if side == 0 else [25, small]
    g = [m[0] + u[0], m[1] + u[1]]
    dec = hide_group_sizes(g, m, sum(g), ratio=2, n_sets=20)
    assert dec.tie == (2, "control")
    assert_sizes_safe(g, m, dec, k=2)


@pytest.mark.parametrize("uc", [1, 5, 10])
def test_cohort_total_hidden_by_the_flow(uc: int) -> None:
    g, m = [P + 20, P + uc], [P, P]
    dec = hide_group_sizes(g, m, None, ratio=1, n_sets=P)
    assert_sizes_safe(g, m, dec, total_shown=False, k=1)


def test_large_unmatched_counts_hide_nothing() -> None:
    dec = hide_group_sizes([182, 418], [116, 116], 600, ratio=1, n_sets=116)
    assert dec.group == dec.matched == dec.unmatched == [False, False] and not dec.sets
    assert_sizes_safe([182, 418], [116, 116], dec, k=1)
    dec = hide_group_sizes([41, 52], [30, 30], 93, ratio=1, n_sets=30)  # 11 and 22 not matched
    assert dec.group == dec.matched == dec.unmatched == [False, False] and not dec.sets


def test_what_five_unmatched_controls_hide() -> None:
    """The case of the brief: 4,200 treated, 470 controls, 465 pairs. Both matched sizes, the
    sets and the 3,735 treated not matched are hidden (4,200 - 3,735 = 465 would give the
    pairs back); the cohort's group sizes stay."""
    dec = hide_group_sizes([4200, 470], [465, 465], 4670, ratio=1, n_sets=465)
    assert dec.group == [False, False]
    assert dec.matched == [True, True] and dec.unmatched == [True, True] and dec.sets


def test_a_zero_is_shown_and_the_groups_hidden_instead() -> None:
    """All 182 treated matched, 5 of 187 controls not: hiding the zero would make its label
    ("hidden" = 11 or more) contradict the rest, which tells the reader it is 0; the cohort's
    group sizes are hidden instead (the flow's cohort total stays)."""
    g, m = [182, 187], [182, 182]
    dec = hide_group_sizes(g, m, 369, ratio=1, n_sets=182)
    assert dec.unmatched == [False, True] and dec.group == [True, True]
    assert_sizes_safe(g, m, dec, k=1)


def test_unequal_sets_are_not_tied() -> None:
    """Variable-ratio matching (matched control not a multiple the reader knows): no tie, so
    only the group of the small not-matched count loses its matched size."""
    assert matched_tie(30, 47, 2) is None
    dec = hide_group_sizes([50, 52], [30, 47], 102, ratio=2, n_sets=30)
    assert dec.tie is None and dec.matched == [False, True] and dec.unmatched == [False, True]
    assert_sizes_safe([50, 52], [30, 47], dec, k=None)


def test_brute_force_sees_the_per_group_rule_leak() -> None:
    """The rule before this one (each group's matched + not matched alone, hide_row) hides
    the matched control n only: the brute force with the 1:1 equality finds the 5."""
    from types import SimpleNamespace

    g, m = [60, 35], [30, 30]
    old = [hide_row([m[j], g[j] - m[j]], g[j], T).hidden for j in (0, 1)]
    dec = SimpleNamespace(group=[False, False], matched=[old[0][0], old[1][0]],
                          unmatched=[old[0][1], old[1][1]], sets=False)
    assert dec.matched == [False, True]
    with pytest.raises(AssertionError, match="pinned"):
        assert_sizes_safe(g, m, dec, k=1, n_sets_shown=False)


def test_floors_from_numbers_at_risk_are_used() -> None:
    """A number at risk shown after time 0 bounds the hidden matched size from below: 30
    pairs, 31 controls, 30 controls still at risk at day 7 give matched control >= 30, so
    the 1 control not matched would be 31 - 30. The decision hides the cohort's group sizes
    too; without the floor the brute force would pin it."""
    g, m = [60, 31], [30, 30]
    plain = hide_group_sizes(g, m, 91, ratio=1, n_sets=30)
    assert plain.group == [False, False] and plain.matched == [True, True]
    with pytest.raises(AssertionError, match="pinned"):
        assert_sizes_safe(g, m, plain, k=1, floors=(0, 30))
    floored = hide_group_sizes(g, m, 91, ratio=1, n_sets=30, floors=[0, 30])
    assert floored.group == [True, True]
    assert_sizes_safe(g, m, floored, k=1, floors=(0, 30))


def test_threshold_none_and_errors() -> None:
    dec = hide_group_sizes([5, 7], [3, 3], 12, threshold=None)
    assert dec.group == dec.matched == dec.unmatched == [False, False] and not dec.sets
    with pytest.raises(DisclosureError):
        hide_group_sizes([5], [3, 3])
    with pytest.raises(DisclosureError, match="too small"):
        hide_group_sizes([11, 12], [11, 11], 23, ratio=1)


# ----------------------------------------------------------------------------- numbers at risk of two samples


def test_nested_numbers_at_risk_by_hand() -> None:
    """Cohort treated at risk 182, 178, 162, 154 at days 0, 7, 14, 21; matched treated 177,
    166, 155, 150 (time 0 hidden: the matched size). Day 14: 162 - 155 = 7 not-matched stays
    still at risk: the matched 155 is hidden; day 7: the cohort's 178 is not shown, so 166
    stays; day 21: 154 - 150 = 4: hidden."""
    from icu_cohort.report.disclosure import hide_nested_sequences

    shown = hide_nested_sequences([182, 178, 162, 154], [177, 166, 155, 150], [True, False, True, True],
                                  [False, True, True, True])
    assert shown == [False, True, False, False]
    # 30 and 18 not matched at risk: both >= 11 but 12 apart -> fine; 30 then 25: 5 left between -> hidden
    assert hide_nested_sequences([100, 80], [70, 62], [True, True], [True, True]) == [True, True]
    assert hide_nested_sequences([100, 80], [70, 55], [True, True], [True, True]) == [True, False]
    with pytest.raises(DisclosureError):
        hide_nested_sequences([10], [12], [True], [True])


@pytest.mark.parametrize("seed", range(20))
def test_nested_numbers_at_risk_property(seed: int) -> None:
    """Random nested sequences: wherever both are shown the not-matched count at risk is 0 or
    >= 11, consecutive ones differ by 0 or >= 11, and only inner values are hidden."""
    from icu_cohort.report.disclosure import hide_nested_sequences

    rng = np.random.default_rng(seed)
    inner = np.sort(rng.integers(20, 200, 5))[::-1]
    extra = np.sort(rng.integers(0, 25, 5))[::-1]
    outer = inner + extra
    so = [bool(x) for x in rng.random(5) < 0.8]
    si = [bool(x) for x in rng.random(5) < 0.8]
    out = hide_nested_sequences(outer.tolist(), inner.tolist(), so, si)
    assert all(not o or s for o, s in zip(out, si))  # nothing new shown
    u = [int(a - b) for a, b, x, y in zip(outer, inner, so, out) if x and y]
    assert all(v == 0 or v >= T for v in u)
    assert all(a - b == 0 or a - b >= T for a, b in zip(u, u[1:]))
