"""HTML tables of the report, each a pure function returning markup.

Suppression in Table 1 (one rule, :mod:`.disclosure`): within one column (one group of one
sample), the cells of each variable add up to the group n, which the header shows, so they
are one total each (:func:`.disclosure.hide_row`):

* a categorical variable: its levels and its missing count;
* a binary variable: the count, the count without the characteristic (never shown, but
  derivable from n, the count and the missing) and the missing count;
* a continuous variable: the stays with a value (not shown) and the missing count.

Before and after matching stand side by side, so for each group their difference, the stays
*not matched*, is readable too: the two columns of a variable are decided together
(:func:`table1_suppression`, :func:`.disclosure.hide_matched_split`), so that no count of
not-matched stays of 1..threshold-1 (nor a hidden count) can be derived from both; a group
with 1..threshold-1 stays not matched has its matched size and after-matching counts hidden.

A hidden small count reads ``<11``; a count hidden so that a small one cannot be recovered by
subtraction reads ``hidden``; a percentage is hidden with its count. Summary statistics
(mean, SD, median, quartiles) of fewer than ``threshold`` stays with a value are not shown.
When the group n itself is hidden (see the flow diagram), every count of that column is.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from .disclosure import HIDDEN_TEXT, hide_group_sizes, hide_matched_split, hide_row
from .format import (
    DASH,
    as_int,
    count_with_pct,
    esc,
    fmt_int,
    fmt_num,
    fmt_p,
    fmt_smd,
    humanize,
    is_missing,
    is_small,
    label_for,
    shown_count,
    suppress_count,
)

HIDDEN = HIDDEN_TEXT
NUM = ' class="num"'


def html_table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    cls: str = "data",
    numeric: Sequence[bool] | None = None,
    caption: str | None = None,
) -> str:
    """A plain table; cells are escaped unless wrapped in :class:`Markup`."""
    numeric = numeric or [False] * len(header)
    out = [f'<table class="{cls}">']
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append("<thead><tr>")
    for h, num in zip(header, numeric):
        out.append(f"<th{NUM if num else ''} scope=\"col\">{_cell(h)}</th>")
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for v, num in zip(row, numeric):
            out.append(f"<td{NUM if num else ''}>{_cell(v)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return '<div class="scroll">' + "".join(out) + "</div>"


class Markup(str):
    """A string already safe as HTML."""


def _cell(v: Any) -> str:
    if isinstance(v, Markup):
        return str(v)
    if is_missing(v):
        return DASH
    return esc(v)


# ----------------------------------------------------------------------------- Table 1


def _pct_scale(df: pd.DataFrame) -> float:
    """Whether ``*_pct`` columns hold percentages (100) or fractions (1): judged from count/n."""
    votes_pct = votes_frac = 0
    for side in ("treated", "control"):
        for c, n, p in zip(df[f"{side}_count"], df[f"{side}_n"], df[f"{side}_pct"]):
            try:
                c, n, p = float(c), float(n), float(p)
            except (TypeError, ValueError):
                continue
            if any(math.isnan(x) for x in (c, n, p)) or c <= 0 or n <= 0 or p <= 0:
                continue
            ratio = p / (c / n)
            if abs(math.log(ratio / 100)) < abs(math.log(ratio)):
                votes_pct += 1
            else:
                votes_frac += 1
    if votes_pct == votes_frac == 0:
        vals = pd.to_numeric(pd.concat([df["treated_pct"], df["control_pct"]]), errors="coerce")
        return 100.0 if (vals > 1.0).any() else 1.0
    return 100.0 if votes_pct >= votes_frac else 1.0


def _pct_text(pct: Any, scale: float) -> str:
    if is_missing(pct):
        return ""
    try:
        v = float(pct) * (100.0 / scale)
    except (TypeError, ValueError):
        return ""
    return f" ({v:.1f}%)"


def _level_is_trivial(level: Any) -> bool:
    if is_missing(level):
        return True
    return str(level).strip().lower() in {"", "1", "1.0", "true", "yes", "y"}


def _hidden_text(c: int, threshold: int | None) -> str:
    return f"<{threshold}" if is_small(c, threshold) else HIDDEN_TEXT


def _count_cell(c: int | None, hidden: bool, pct: Any, threshold: int | None, scale: float) -> str:
    if c is None:
        return DASH
    if hidden:
        return _hidden_text(c, threshold)
    return f"{c:,}{_pct_text(pct, scale)}"


def _stats_text(side: str, r: Mapping[str, Any]) -> str:
    """``mean (SD)`` and, after a newline, ``median [Q1, Q3]``."""
    mean, sd = r[f"{side}_mean"], r[f"{side}_sd"]
    med, q1, q3 = r[f"{side}_median"], r[f"{side}_q1"], r[f"{side}_q3"]
    parts = []
    if not is_missing(mean):
        parts.append(f"{fmt_num(mean)} ({fmt_num(sd)})" if not is_missing(sd) else fmt_num(mean))
    if not is_missing(med):
        iqr = f" [{fmt_num(q1)}, {fmt_num(q3)}]" if not (is_missing(q1) or is_missing(q3)) else ""
        parts.append(f"{fmt_num(med)}{iqr}")
    return "\n".join(parts) if parts else DASH


@dataclass(frozen=True)
class _Cells:
    """The counts of one variable in one column (group of a sample) that add up to the
    group's size ``total``: ``values`` (``None``: not known), ``unpublished`` (derivable,
    never shown), ``partition`` (whether they do add up to ``total``)."""

    values: list[int | None]
    unpublished: list[bool]
    total: int | None
    partition: bool


def _binary_counts(side: str, r: Mapping[str, Any], g: int | None) -> _Cells:
    """A binary row: [with the value, without it (derivable: group - count - missing), missing]."""
    count, miss = as_int(r[f"{side}_count"]), as_int(r[f"{side}_n_missing"]) or 0
    if count is None or g is None or g - miss - count < 0:
        return _Cells([count, None, miss], [False, True, False], g, False)
    return _Cells([count, g - miss - count, miss], [False, True, False], g, True)


def _continuous_counts(side: str, r: Mapping[str, Any], g: int | None) -> _Cells:
    """A continuous row: [with a value (derivable, not shown), missing]."""
    miss = as_int(r[f"{side}_n_missing"]) or 0
    if g is None or g - miss < 0:
        n = as_int(r[f"{side}_n"])
        return _Cells([n, miss], [True, False], g, False)
    return _Cells([g - miss, miss], [True, False], g, True)


def _categorical_counts(side: str, p: pd.DataFrame, levels: Sequence[str], g: int | None,
                        with_missing: bool, with_rest: bool) -> _Cells:
    """A categorical variable: one cell per level (``levels``, in order), then its missing
    count (when missing is not a level of its own), then the stays counted in no row
    (derivable, not shown: when the rows do not add up to the group size anywhere)."""
    by = {str(lv): as_int(c) for lv, c in zip(p["level"].astype(str), p[f"{side}_count"])}
    vals: list[int | None] = [by.get(lv) for lv in levels]
    if with_missing:
        vals.append(as_int(p[f"{side}_n_missing"].iloc[0]) if len(p) else None)
    unpub = [False] * len(vals)
    known = None not in vals and g is not None
    if with_rest:
        rest = g - sum(vals) if known else None  # type: ignore[operator, arg-type]
        vals.append(rest)
        unpub.append(True)
        known = known and rest is not None and rest >= 0
    elif known and sum(vals) != g:  # type: ignore[arg-type]
        known = False
    return _Cells(vals, unpub, g, known)


def _column_hidden(cells: _Cells, threshold: int | None, n_hidden: bool) -> list[bool]:
    """One column alone (:func:`.disclosure.hide_row`, total = the group size)."""
    if n_hidden:
        return [u or (v is not None and v > 0) for v, u in zip(cells.values, cells.unpublished)]
    if not cells.partition:
        return [u or is_small(v, threshold) for v, u in zip(cells.values, cells.unpublished)]
    dec = hide_row(cells.values, cells.total, threshold, unpublished=cells.unpublished)
    if dec.total_hidden:
        return [u or (v is not None and v > 0) for v, u in zip(cells.values, cells.unpublished)]
    return list(dec.hidden)


def _decide(cells: Mapping[str, _Cells], threshold: int | None, hidden_sizes: Mapping[tuple[str, str], bool],
            side: str, cap: int | None) -> tuple[dict[str, list[bool]], dict[str, bool]]:
    """Hidden flags of one variable's cells in one group, per sample, and which group sizes
    must be hidden for them. Both samples known and adding up: one two-way decision
    (:func:`.disclosure.hide_matched_split`: the not-matched stays, before minus after, must
    not reveal a small count); else each column alone."""
    if {"before", "after"} <= set(cells) and cells["before"].partition and cells["after"].partition:
        b, a = cells["before"], cells["after"]
        dec = hide_matched_split(b.values, a.values, threshold, unpublished=b.unpublished,
                                 before_total_hidden=bool(hidden_sizes.get(("before", side))),
                                 after_total_hidden=bool(hidden_sizes.get(("after", side))), cap=cap)
        return {"before": dec.before, "after": dec.after}, {"before": dec.before_total_hidden,
                                                              "after": dec.after_total_hidden}
    return ({s: _column_hidden(c, threshold, bool(hidden_sizes.get((s, side)))) for s, c in cells.items()},
            {s: bool(hidden_sizes.get((s, side))) for s in cells})


SAMPLE_NAMES = {"before": "Before matching (whole cohort)", "after": "After matching"}
SIDES = ("treated", "control")


@dataclass(frozen=True)
class Table1Row:
    """One printed row of Table 1. ``kind``: ``"variable"`` (a binary or continuous
    variable, or the heading of a categorical one), ``"level"`` (a category) or
    ``"missing"``; ``stat``: what the cells hold (``"n (%)"``, ``"mean (SD)"``; empty for
    levels); ``cells``: per sample (before, after) the treated, control and SMD texts. A
    continuous cell holds ``mean (SD)``, a newline, ``median [Q1, Q3]``."""

    kind: str
    label: str
    stat: str
    cells: tuple[str, ...]


@dataclass(frozen=True)
class Table1Layout:
    """Table 1 as a journal prints it, every count already suppressed as the report shows
    it: ``samples`` (``"before"``, ``"after"``), ``sizes[(sample, side)]`` (the n of each
    column header), ``rows``. The report's HTML and the manuscript exports both render this."""

    samples: tuple[str, ...]
    sizes: dict[tuple[str, str], str]
    rows: tuple[Table1Row, ...]
    group_labels: tuple[str, str]

    def header(self) -> list[str]:
        """Flat column names: ``Characteristic``, then per sample ``<group> (n = ...)`` x 2 and ``SMD``."""
        out = ["Characteristic"]
        for s in self.samples:
            for side, lab in zip(SIDES, self.group_labels):
                out.append(f"{SAMPLE_NAMES[s]}: {lab} (n = {self.sizes[(s, side)]})")
            out.append(f"{SAMPLE_NAMES[s]}: SMD")
        return out


def table1_hidden_note(threshold: int | None) -> str:
    """The footnote sentence (plain text) saying what ``hidden`` means in Table 1, where the
    counts before and after matching are protected together (:func:`table1_suppression`);
    empty when suppression is off. The report and the exports both print it."""
    if threshold is None:
        return ""
    return (f"Before and after matching are protected together: a count is also hidden when its difference from "
            f"the same count in the other sample (the stays not matched) would be 1 to {threshold - 1}, and when a "
            f"group has 1 to {threshold - 1} stays not matched, its size and its counts after matching are hidden.")


@dataclass(frozen=True)
class Table1Suppression:
    """Every suppression decision of one Table 1 (the report's and the exports' one rule).

    ``size_hidden[(sample, side)]``: that group size is hidden (and every positive count of
    its column). ``hidden(variable, key, sample, side)``: whether a count cell is hidden;
    ``key`` is the level of a categorical variable, ``"count"`` for a binary variable's count
    and ``"missing"`` for a variable's missing count. ``raw``: the group sizes read."""

    samples: tuple[str, ...]
    raw: dict[tuple[str, str], int | None]
    size_hidden: dict[tuple[str, str], bool]
    cells: dict[str, dict[str, dict[str, "_Cells"]]]
    flags: dict[str, dict[str, dict[str, list[bool]]]]
    levels: dict[str, list[str]]

    def hidden(self, variable: str, key: str, sample: str, side: str) -> bool:
        f = self.flags[variable][side].get(sample)
        c = self.cells[variable][side].get(sample)
        if f is None or c is None:
            return False
        if key == "missing":
            lv = self.levels.get(variable)
            j = len(lv) if lv is not None else len(c.values) - 1
            return bool(f[j]) if j < len(f) and not c.unpublished[j] else False
        if key == "count":
            return bool(f[0])
        return bool(f[self.levels[variable].index(key)])


def table1_suppression(
    table1: pd.DataFrame,
    threshold: int | None = 11,
    group_sizes: Mapping[tuple[str, str], Any] | None = None,
    hidden_sizes: Mapping[tuple[str, str], bool] | None = None,
) -> Table1Suppression:
    """Which counts of Table 1 (long form, ``table1.csv``) are hidden: per variable and group,
    the cells before and after matching decided together by
    :func:`.disclosure.hide_matched_split` (each column adds up to the group size, and the
    never printed not-matched column, before minus after, must not reveal 1..threshold-1
    stays either); a variable known in one sample only is decided per column by
    :func:`.disclosure.hide_row`. A group whose not-matched total is small gets its matched
    size hidden (``size_hidden``), and then its whole after column (zeros stay shown), as
    the flow diagram hides the matched box; the sizes are first decided together by
    :func:`.disclosure.hide_group_sizes`, so with 1:1 matching (equal matched sizes) both
    matched sizes and after columns go. ``hidden_sizes``: sizes already hidden by the
    caller (the flow diagram's decision). ``group_sizes``: sizes when there is no ``N`` row."""
    hidden_sizes = dict(hidden_sizes or {})
    t1 = table1.copy()
    t1["sample"] = t1["sample"].astype(str).str.lower()
    samples = tuple(s for s in ("before", "after") if (t1["sample"] == s).any())
    # The analysis writes the group sizes as a first row "N" of kind "count": header, not a row.
    is_count = t1["kind"].astype(str).str.lower().eq("count")
    count_rows = t1[is_count]
    t1 = t1[~is_count]

    raw: dict[tuple[str, str], int | None] = {}
    for sample in samples:
        for side in SIDES:
            c = count_rows[count_rows["sample"] == sample]
            if len(c):
                n = c[f"{side}_n"].iloc[0]
            elif group_sizes and (sample, side) in group_sizes:
                n = group_sizes[(sample, side)]
            else:
                vals = pd.to_numeric(t1.loc[t1["sample"] == sample, f"{side}_n"], errors="coerce")
                n = vals.max() if len(vals) else None
            raw[(sample, side)] = as_int(n)
            if hidden_sizes.get((sample, side)) or is_small(n, threshold):
                hidden_sizes[(sample, side)] = True
    cohort = (None if None in (raw.get(("before", "treated")), raw.get(("before", "control")))
              else raw[("before", "treated")] + raw[("before", "control")])  # type: ignore[operator]
    # The group sizes as one system (treated + control; matched + not matched; 1:1 matched
    # sizes equal, so hiding one hides the other): .disclosure.hide_group_sizes
    tie = None
    if samples == ("before", "after") and threshold is not None:
        g = [raw[("before", side)] for side in SIDES]
        m = [raw[("after", side)] for side in SIDES]
        if None not in g:
            dec = hide_group_sizes(g, m if None not in m else None, None, threshold)
            tie = dec.tie
            for j, side in enumerate(SIDES):
                hidden_sizes[("before", side)] = bool(hidden_sizes.get(("before", side))) or dec.group[j]
                hidden_sizes[("after", side)] = bool(hidden_sizes.get(("after", side))) or dec.matched[j]

    def tie_sizes() -> bool:
        """With tied matched sizes one hidden matched size hides the other (it gives it back)."""
        if tie is None or not any(hidden_sizes.get(("after", side)) for side in SIDES):
            return False
        changed = not all(hidden_sizes.get(("after", side)) for side in SIDES)
        for side in SIDES:
            hidden_sizes[("after", side)] = True
        return changed

    variables = list(dict.fromkeys(t1["variable"].astype(str)))
    by = {s: t1[t1["sample"] == s] for s in samples}
    parts_of = {var: {s: by[s][by[s]["variable"].astype(str) == var] for s in samples} for var in variables}

    def counts_of(var: str) -> dict[str, dict[str, _Cells]]:
        """{side: {sample: cells}} of one variable (samples where it has rows)."""
        parts = parts_of[var]
        first = next(p for p in parts.values() if len(p))
        kind = str(first["kind"].iloc[0]).lower()
        out: dict[str, dict[str, _Cells]] = {side: {} for side in SIDES}
        if kind == "categorical":
            levels = list(dict.fromkeys(first["level"].astype(str)))
            with_missing = not any(lv.strip().lower() == "missing" for lv in levels)
            probe = {(s, side): _categorical_counts(side, parts[s], levels, raw[(s, side)], with_missing, False)
                     for s in samples if len(parts[s]) for side in SIDES}
            with_rest = any(None not in c.values and c.total is not None and c.total - sum(c.values) > 0  # type: ignore[arg-type]
                            for c in probe.values())
            for (s, side), c in probe.items():
                out[side][s] = (_categorical_counts(side, parts[s], levels, raw[(s, side)], with_missing, True)
                                if with_rest else c)
            return out
        for s in samples:
            if not len(parts[s]):
                continue
            r = parts[s].iloc[0]
            for side in SIDES:
                g = raw[(s, side)]
                out[side][s] = _binary_counts(side, r, g) if kind == "binary" else _continuous_counts(side, r, g)
        return out

    # Decide every variable; a decision may need a group size hidden (a small not-matched
    # total): then its column is hidden for every variable, so decide again.
    for _ in range(3):
        flags: dict[str, dict[str, dict[str, list[bool]]]] = {}
        more = False
        for var in variables:
            flags[var] = {}
            for side, cells in counts_of(var).items():
                f, totals = _decide(cells, threshold, hidden_sizes, side, cohort)
                flags[var][side] = f
                for s, th in totals.items():
                    if th and not hidden_sizes.get((s, side)):
                        hidden_sizes[(s, side)] = True
                        more = True
        more = tie_sizes() or more
        if not more:
            break
    levels = {var: list(dict.fromkeys(next(p for p in parts_of[var].values() if len(p))["level"].astype(str)))
              for var in variables
              if str(next(p for p in parts_of[var].values() if len(p))["kind"].iloc[0]).lower() == "categorical"}
    return Table1Suppression(samples, raw, {k: bool(v) for k, v in hidden_sizes.items()},
                             {var: counts_of(var) for var in variables}, flags, levels)


def table1_layout(
    table1: pd.DataFrame,
    threshold: int | None = 11,
    labels: Mapping[str, str] | None = None,
    group_sizes: Mapping[tuple[str, str], Any] | None = None,
    group_labels: tuple[str, str] = ("Treated", "Control"),
    hidden_sizes: Mapping[tuple[str, str], bool] | None = None,
) -> Table1Layout:
    """Table 1 rows before and after matching with SMDs, counts suppressed (module docstring).

    Continuous: mean (SD) and median [Q1, Q3]. Binary: n (%). Categorical: one row per level.
    ``group_sizes``: {(sample, group): n} for the column headers, else the largest ``*_n`` of
    the sample. ``hidden_sizes``: {(sample, group): True} for a group size the report hides
    (the flow diagram's decision); that column's counts are then all hidden.
    """
    labels = labels or {}
    t1 = table1.copy()
    t1["sample"] = t1["sample"].astype(str).str.lower()
    samples = tuple(s for s in ("before", "after") if (t1["sample"] == s).any())
    is_count = t1["kind"].astype(str).str.lower().eq("count")
    t1 = t1[~is_count]
    scale = _pct_scale(t1) if len(t1) else 100.0
    sup = table1_suppression(table1, threshold, group_sizes, hidden_sizes)
    raw, hidden_sizes, flags = sup.raw, sup.size_hidden, sup.flags
    variables = list(dict.fromkeys(t1["variable"].astype(str)))
    by = {s: t1[t1["sample"] == s] for s in samples}
    parts_of = {var: {s: by[s][by[s]["variable"].astype(str) == var] for s in samples} for var in variables}

    def counts_of(var: str) -> dict[str, dict[str, _Cells]]:
        return sup.cells[var]

    sizes = {(s, side): shown_count(raw[(s, side)], bool(hidden_sizes.get((s, side))), threshold)
             for s in samples for side in SIDES}

    def text(c: int | None, hidden: bool, pct: Any) -> str:
        return _count_cell(c, hidden, pct, threshold, scale)

    def miss_text(m: int | None, hidden: bool) -> str:
        m = m or 0
        return _hidden_text(m, threshold) if hidden and m else f"{m:,}"

    rows: list[Table1Row] = []
    for var in variables:
        parts = parts_of[var]
        first = next(p for p in parts.values() if len(p))
        kind = str(first["kind"].iloc[0]).lower()
        label = label_for(var, labels)
        counts = counts_of(var)
        fl = flags[var]
        if kind == "categorical":
            levels = list(dict.fromkeys(first["level"].astype(str)))
            head: list[str] = []
            for s in samples:
                smds = pd.to_numeric(parts[s]["smd"], errors="coerce").dropna().unique()
                head += ["", "", fmt_smd(smds[0]) if len(smds) == 1 else ""]
            rows.append(Table1Row("variable", label, "n (%)", tuple(head)))
            for j, lev in enumerate(levels):
                cells: list[str] = []
                for s in samples:
                    p = parts[s]
                    idx = [i for i, v in enumerate(p["level"].astype(str)) if v == lev]
                    smds = pd.to_numeric(p["smd"], errors="coerce").dropna().unique()
                    per_level = "" if len(smds) == 1 else (fmt_smd(p["smd"].iloc[idx[0]]) if idx else "")
                    for side in SIDES:
                        if idx and s in counts[side]:
                            cells.append(text(counts[side][s].values[j], fl[side][s][j], p[f"{side}_pct"].iloc[idx[0]]))
                        else:
                            cells.append(DASH)
                    cells.append(per_level)
                rows.append(Table1Row("level", lev, "", tuple(cells)))
            k = len(levels)
            miss_vals = {(s, side): (counts[side][s].values[k], fl[side][s][k])
                         for side in SIDES for s in counts[side] if len(counts[side][s].values) > k
                         and not counts[side][s].unpublished[k]}
            if any(v for v, _ in miss_vals.values()):
                cells = []
                for s in samples:
                    cells += [miss_text(*miss_vals[(s, side)]) if (s, side) in miss_vals else "0" for side in SIDES] + [""]
                rows.append(Table1Row("missing", "Missing", "", tuple(cells)))
            continue

        lev = first["level"].iloc[0]
        shown = label if _level_is_trivial(lev) or kind != "binary" else f"{label}: {lev}"
        any_missing = False
        cells = []
        miss_cells: dict[tuple[str, str], str] = {}
        for s in samples:
            p = parts[s]
            if p.empty:
                cells += [DASH, DASH, ""]
                continue
            r = p.iloc[0]
            for side in SIDES:
                c = counts[side][s]
                h = fl[side][s]
                miss = c.values[-1] or 0
                miss_cells[(s, side)] = miss_text(miss, h[-1])
                if kind == "binary":
                    # A shown percentage is of the stays with a value: with a hidden missing
                    # count it would give that count back (count / pct), so it is left out.
                    pct = None if (h[-1] and miss) else r[f"{side}_pct"]
                    cells.append(text(c.values[0], h[0], pct))
                else:
                    with_value = c.values[0]
                    # summary statistics of 1..threshold-1 stays with a value are not shown
                    cells.append(f"n <{threshold}" if is_small(with_value, threshold) else _stats_text(side, r))
                if miss > 0:
                    any_missing = True
            cells.append(fmt_smd(r["smd"]))
        rows.append(Table1Row("variable", shown, "n (%)" if kind == "binary" else "mean (SD)\nmedian [Q1, Q3]",
                              tuple(cells)))
        if any_missing:
            mc: list[str] = []
            for s in samples:
                mc += [miss_cells.get((s, side), DASH) for side in SIDES] + [""]
            rows.append(Table1Row("missing", "Missing, n", "", tuple(mc)))
    return Table1Layout(samples, sizes, tuple(rows), tuple(group_labels))  # type: ignore[arg-type]


def _t1_cell_html(text: str) -> str:
    if text == HIDDEN_TEXT or text.startswith("n <"):
        return f'<span class="muted">{esc(text)}</span>'
    if "\n" in text:
        main, sub = text.split("\n", 1)
        return f'{esc(main)}<br><span class="sub">{esc(sub)}</span>'
    return esc(text)


def table1_html(
    table1: pd.DataFrame,
    threshold: int | None = 11,
    labels: Mapping[str, str] | None = None,
    group_sizes: Mapping[tuple[str, str], Any] | None = None,
    group_labels: tuple[str, str] = ("Treated", "Control"),
    hidden_sizes: Mapping[tuple[str, str], bool] | None = None,
) -> str:
    """Table 1 before and after matching, side by side, with SMDs (see :func:`table1_layout`)."""
    lay = table1_layout(table1, threshold, labels, group_sizes, group_labels, hidden_sizes)
    out = ['<table class="data table1">', "<thead><tr>", '<th rowspan="2" scope="col">Characteristic</th>']
    for s in lay.samples:
        out.append(f'<th colspan="3" scope="colgroup" class="grp">{SAMPLE_NAMES[s]}</th>')
    out.append("</tr><tr>")
    for s in lay.samples:
        for side, lab in zip(SIDES, group_labels):
            out.append(f'<th scope="col" class="num">{esc(lab)}<br><span class="sub">n = {esc(lay.sizes[(s, side)])}</span></th>')
        out.append('<th scope="col" class="num">SMD</th>')
    out.append("</tr></thead><tbody>")
    for row in lay.rows:
        if row.kind == "variable":
            stat = row.stat.replace("\n", '<br><span class="sub">', 1) + ("</span>" if "\n" in row.stat else "")
            cls = "var"
            out.append(f'<tr class="{cls}"><th scope="row">{esc(row.label)}' + (f", {stat}" if stat else "") + "</th>")
        elif row.kind == "level":
            out.append(f'<tr class="level"><th scope="row">{esc(row.label)}</th>')
        else:
            out.append(f'<tr class="level missing"><th scope="row">{esc(row.label)}</th>')
        for k, text in enumerate(row.cells):
            is_smd = k % 3 == 2
            if row.kind == "variable" and row.stat == "n (%)" and not any(row.cells[i] for i in range(len(row.cells)) if i % 3 != 2):
                out.append(f'<td class="num">{esc(text)}</td>' if is_smd else "<td></td>")  # categorical heading
            else:
                out.append(f'<td class="num">{esc(text) if is_smd else _t1_cell_html(text)}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


# ----------------------------------------------------------------------------- other tables


def balance_table_html(balance: pd.DataFrame, labels: Mapping[str, str] | None = None) -> str:
    labels = labels or {}
    cols = [c for c in ("variance_ratio_before", "variance_ratio_after") if c in balance.columns]
    header = ["Covariate", "SMD before", "SMD after"] + [humanize(c).replace("Variance ratio", "Variance ratio,") for c in cols]
    if "imbalanced_after" in balance.columns:
        header.append("Imbalanced after")
    rows = []
    for _, r in balance.iterrows():
        row: list[Any] = [balance_label(r, labels), fmt_smd(r["smd_before"]), fmt_smd(r["smd_after"])]
        row += [fmt_num(r[c], 2) for c in cols]
        if "imbalanced_after" in balance.columns:
            v = r["imbalanced_after"]
            flag = str(v).strip().lower() in {"true", "1", "1.0", "yes"}
            row.append(Markup('<span class="flag">yes</span>') if flag else "no")
        rows.append(row)
    return html_table(header, rows, cls="data compact", numeric=[False] + [True] * (len(header) - 1))


def balance_label(r: Any, labels: Mapping[str, str] | None = None) -> str:
    """``race`` level ``OTHER`` -> ``Race: OTHER``; kind ``missing`` -> ``Lactate: missing``;
    kind ``score`` -> ``Propensity score``."""
    get = r.get if hasattr(r, "get") else (lambda k, d=None: getattr(r, k, d))
    kind = str(get("kind", "") or "").lower()
    if kind == "score":
        return "Propensity score"
    text = label_for(get("covariate"), labels)
    level = get("level", None)
    if not is_missing(level) and str(level).strip():
        text += f": {level}"
    if kind == "missing":
        text += ": missing"
    return text


def missingness_table_html(miss: pd.DataFrame, threshold: int | None, labels: Mapping[str, str] | None = None) -> str:
    labels = labels or {}
    rows = []
    for _, r in miss.iterrows():
        small = is_small(r["n_missing"], threshold)
        frac = DASH if small else (f"{100 * float(r['fraction_missing']):.1f}%" if not is_missing(r["fraction_missing"]) else DASH)
        rows.append([label_for(r["covariate"], labels), suppress_count(r["n_missing"], threshold), frac])
    return html_table(["Covariate", "Missing, n", "Missing, %"], rows, cls="data compact", numeric=[False, True, True])


def ps_summary_table_html(ps: pd.DataFrame, threshold: int | None, group_labels: Mapping[str, str],
                          hidden_sizes: Mapping[tuple[str, str], bool] | None = None) -> str:
    """The propensity score's summary per sample and group. ``n`` is the group's size:
    hidden where the report hides that size (``hidden_sizes``: ``{(sample, group): True}``,
    sample ``"before"`` / ``"after"``; :func:`.disclosure.hide_group_sizes`)."""
    names = {"before": "Before matching", "cohort": "Before matching", "after": "After matching", "matched": "After matching"}
    canon = {"cohort": "before", "matched": "after"}
    rows = []
    for _, r in ps.iterrows():
        small = is_small(r["n"], threshold)
        sample = canon.get(str(r["sample"]).lower(), str(r["sample"]).lower())
        if threshold is not None and (hidden_sizes or {}).get((sample, str(r["group"]).lower())):
            rows.append([names.get(str(r["sample"]).lower(), str(r["sample"])),
                         group_labels.get(str(r["group"]).lower(), str(r["group"])),
                         shown_count(r["n"], True, threshold)]
                        + ([DASH] * 5 if small else [fmt_num(r[c], 3) for c in ("mean", "sd", "q1", "median", "q3")]))
            continue
        # The minimum and maximum are one stay's score each: row-level, so not shown.
        stats = [DASH] * 5 if small else [fmt_num(r[c], 3) for c in ("mean", "sd", "q1", "median", "q3")]
        rows.append([names.get(str(r["sample"]).lower(), str(r["sample"])), group_labels.get(str(r["group"]).lower(), str(r["group"])),
                     suppress_count(r["n"], threshold)] + stats)
    header = ["Sample", "Group", "n", "Mean", "SD", "Q1", "Median", "Q3"]
    return html_table(header, rows, cls="data compact", numeric=[False, False] + [True] * 6)


def cox_terms_table_html(cox: pd.DataFrame, labels: Mapping[str, str] | None = None, exposure_terms: Sequence[str] = ()) -> str:
    labels = labels or {}
    rows = []
    for _, r in cox.iterrows():
        term = str(r["term"])
        name = label_for(term, labels)
        if term in exposure_terms:
            name = Markup(f"<strong>{esc(name)}</strong>")
        ci = f"{fmt_num(r['ci_low'], 2)}\u2013{fmt_num(r['ci_high'], 2)}" if not is_missing(r["ci_low"]) else DASH
        rows.append([name, fmt_num(r["hr"], 2), ci, fmt_p(r["p"])])
    header, numeric = ["Term", "HR", "95% CI", "p"], [False, True, True, True]
    if len(rows) < 16:
        return html_table(header, rows, cls="data compact", numeric=numeric)
    half = (len(rows) + 1) // 2  # a long model: two tables side by side (one column on a phone)
    return ('<div class="split2">' + html_table(header, rows[:half], cls="data compact", numeric=numeric)
            + html_table(header, rows[half:], cls="data compact", numeric=numeric) + "</div>")


def ph_table_html(ph: pd.DataFrame, alpha: float = 0.05) -> str:
    rows = []
    for _, r in ph.iterrows():
        p = r["p"]
        flag = (not is_missing(p)) and float(p) < alpha
        rows.append([humanize(r["model"]), str(r["term"]), fmt_num(r["test_statistic"], 2),
                     Markup(f'<span class="flag">{esc(fmt_p(p))}</span>') if flag else fmt_p(p)])
    return html_table(["Model", "Term", "Test statistic", "p"], rows, cls="data compact", numeric=[False, False, True, True])


COUNT_WORDS = ("count", "events", "deaths", "size", "patients", "stays", "pairs", "subjects", "admissions",
               "cases", "matched", "truncated", "missing", "unmatched", "focal")
# Numbers of things that are not people: never suppressed.
NOT_PEOPLE = ("imbalanced", "term", "column", "iter", "imputation", "replicate", "bin", "covariate", "level",
              "subgroup", "fold", "df", "seed", "percentile", "horizon", "days", "hours", "ratio")


def _is_count_key(key: str) -> bool:
    """Whether an estimates.json key path names a count of stays (its value is then suppressed).

    ``matching.n_matched``, ``n_focal_unmatched``, ``iptw.effective_sample_size.treated``: yes;
    ``balance.n_imbalanced_after``, ``cox_multivariable.n_terms``, ``seed``: no.
    """
    segs = key.lower().split(".")
    if any(w in segs[-1] for w in NOT_PEOPLE):
        return False
    return any(s == "n" or s.startswith("n_") or s.endswith("_n") or any(w in s for w in COUNT_WORDS) for s in segs)


def flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}}`` -> ``[("a.b", 1)]``; lists of scalars stay one value."""
    out: list[tuple[str, Any]] = []
    if isinstance(d, Mapping):
        for k, v in d.items():
            out += flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        out.append((prefix, d))
    return out


def value_text(key: str, v: Any, threshold: int | None) -> str:
    """A value from estimates.json for display: counts suppressed, long lists summarised."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if v is None:
        return DASH
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if _is_count_key(key) and float(v).is_integer():
            return suppress_count(v, threshold)
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)
    if isinstance(v, list):
        if not v:
            return "none"
        if len(v) > 12:
            return f"(list of {len(v)} values)"
        return ", ".join(value_text(key, x, threshold) for x in v)
    if isinstance(v, Mapping):
        if not v:
            return "none"
        if len(v) > 12:
            return f"({len(v)} entries)"
        return "; ".join(f"{k}: {value_text(f'{key}.{k}', x, threshold)}" for k, x in v.items())
    s = str(v)
    return s if len(s) <= 300 else s[:297] + "..."


def key_value_table_html(items: Sequence[tuple[str, Any]], threshold: int | None) -> str:
    rows = [[k, value_text(k, v, threshold)] for k, v in items]
    return html_table(["Key", "Value"], rows, cls="data compact kv", numeric=[False, False])


__all__ = [
    "Markup",
    "html_table",
    "table1_html",
    "table1_layout",
    "table1_suppression",
    "table1_hidden_note",
    "Table1Suppression",
    "Table1Layout",
    "Table1Row",
    "balance_table_html",
    "missingness_table_html",
    "ps_summary_table_html",
    "cox_terms_table_html",
    "ph_table_html",
    "key_value_table_html",
    "flatten",
    "value_text",
    "fmt_int",
    "count_with_pct",
    "HIDDEN",
]
