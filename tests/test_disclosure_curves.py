"""Kaplan-Meier curves in shared figures (icu_cohort.report.disclosure.coarsen_steps and the
report's KM figure): each visible step covers 0 or at least 11 deaths.

By hand: deaths 4, 5, 3 at days 1, 2, 3; none at day 4 (a censoring); 11 at day 5; 2 at day
8. The deaths since the last drawn time reach 11 first at day 3 (4 + 5 + 3 = 12): drawn;
then at day 5 (11): drawn; the 2 at day 8 never reach 11: the curve stays flat from day 5.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from icu_cohort.report.disclosure import DisclosureError, coarsen_steps

T = 11


def test_coarsen_steps_by_hand() -> None:
    assert coarsen_steps([4, 5, 3, 0, 11, 2]) == [False, False, True, False, True, False]
    assert coarsen_steps([4, 5, 3, 0, 11, 2], threshold=None) == [True, True, True, False, True, True]
    assert coarsen_steps([10, 1, 10, 0, 1]) == [False, True, False, False, True]
    assert coarsen_steps([]) == []
    with pytest.raises(DisclosureError):
        coarsen_steps([1, None])
    with pytest.raises(DisclosureError):
        coarsen_steps([1.5])


def _hand_curve() -> pd.DataFrame:
    """The docstring's event list on 100 stays, estimates by hand (product limit)."""
    times = [1.0, 2.0, 3.0, 4.0, 5.0, 8.0]
    deaths = [4, 5, 3, 0, 11, 2]
    censored = [0, 0, 0, 6, 0, 0]
    n, s, rows = 100, 1.0, [(0.0, 1.0, 1.0, 1.0, 100, 0)]
    for t, d, c in zip(times, deaths, censored):
        s *= 1 - d / n
        rows.append((t, s, s - 0.05, min(1.0, s + 0.05), n, d))
        n -= d + c
    return pd.DataFrame(rows, columns=["time", "survival", "ci_lower", "ci_upper", "n_at_risk", "n_events"])


def test_drawn_points_of_the_hand_curve() -> None:
    from icu_cohort.report.figures import km_drawn_points

    t, s, lo, hi = km_drawn_points(_hand_curve(), T)
    # time 0 at 1, then day 3 at S(3) = 96/100 * 91/96 * 88/91 = 0.88, day 5 at 0.88 * (1 - 11/82)
    assert t.tolist() == [0.0, 3.0, 5.0]
    assert s == pytest.approx([1.0, 0.88, 0.88 * (1 - 11 / 82)])
    assert lo == pytest.approx([1.0, 0.83, 0.88 * (1 - 11 / 82) - 0.05])
    # no suppression: every row exact
    assert km_drawn_points(_hand_curve(), None)[0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 8.0]
    # without death counts the curve cannot be drawn safely
    assert km_drawn_points(_hand_curve().drop(columns="n_events"), T) is None


def _plotted_steps(svg: str) -> list[list[tuple[float, float]]]:
    """The step lines of a matplotlib KM figure as vertex lists (SVG user units)."""
    out = []
    for d in re.findall(r'<path d="([^"]+)"[^>]*clip-path', svg):
        pts = [(float(x), float(y)) for x, y in re.findall(r"[ML]\s*(-?[\d.]+)\s+(-?[\d.]+)", d)]
        if len(pts) >= 3:
            out.append(pts)
    return out


def test_report_curves_step_only_over_11_or_more_deaths(tmp_path) -> None:
    """Every drop of every curve the report draws covers 11 or more deaths: the survival
    values drawn are those at the times coarsen_steps keeps, and between two of them the
    fixture's deaths add up to 11 or more."""
    from test_report_fixtures import make_results

    from icu_cohort.report.figures import km_drawn_points, km_plot_svg

    results, _s, _p = make_results(tmp_path / "r" / "sae_fixture")
    km = pd.read_csv(results / "km.csv")
    risk = pd.read_csv(results / "km_at_risk.csv")
    checked = 0
    for (sample, group), g in km.groupby(["sample", "group"]):
        g = g.sort_values("time")
        t, s, _lo, _hi = km_drawn_points(g, T)
        exact_steps = int((g["n_events"] > 0).sum())
        assert len(t) - 1 < exact_steps  # coarser than the exact curve
        times = g["time"].to_numpy()
        d = g["n_events"].to_numpy()
        for a, b in zip(t, t[1:]):
            between = d[(times > a) & (times <= b)].sum()
            assert between >= T, (sample, group, a, b, between)
            assert s[list(t).index(b)] == pytest.approx(float(g.loc[g["time"] == b, "survival"].iloc[0]))
            checked += 1
    # the curves drawn in the matched sample's SVG drop exactly at the drawn points, no more
    svg = km_plot_svg(km[km["sample"] == "matched"], risk[risk["sample"] == "matched"], T)
    lines = _plotted_steps(svg)
    drops = sum(1 for line in lines for (x0, y0), (x1, y1) in zip(line, line[1:]) if x0 == x1 and y1 != y0)
    expected = sum(len(km_drawn_points(g, T)[0]) - 1 for _k, g in km[km["sample"] == "matched"].groupby("group"))
    assert drops == expected > 0
    assert checked > 0


def test_analysis_km_table_writes_the_death_counts() -> None:
    """The analysis's km.csv carries the people at risk and dying at each time (analyst-only
    file: exact), checked against a hand count."""
    from icu_cohort.analysis.survival import km_table

    time = np.array([1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 5.0, 5.0])
    event = np.array([1, 1, 0, 1, 1, 0, 1, 0])
    treated = np.ones(8, int)
    tab = km_table(time, event, treated, "cohort")
    by_t = tab.set_index("time")
    assert by_t.loc[1.0, "n_events"] == 2 and by_t.loc[1.0, "n_at_risk"] == 8
    assert by_t.loc[2.0, "n_events"] == 0 and by_t.loc[2.0, "n_at_risk"] == 6
    assert by_t.loc[3.0, "n_events"] == 2 and by_t.loc[3.0, "n_at_risk"] == 5
    assert by_t.loc[5.0, "n_events"] == 1 and by_t.loc[5.0, "n_at_risk"] == 2
    assert by_t.loc[3.0, "survival"] == pytest.approx((6 / 8) * (3 / 5))
