"""The report's figures, each a pure function returning inline SVG markup.

* :func:`attrition_svg` -- CONSORT-style flow diagram (hand-built SVG);
* :func:`love_plot_svg` -- absolute standardised mean differences before/after matching;
* :func:`ps_histogram_svg` -- mirrored propensity-score histograms by group, before/after;
* :func:`km_plot_svg` -- Kaplan-Meier curves with confidence bands and numbers at risk;
* :func:`forest_plot_svg` -- subgroup hazard ratios with interaction p-values (hand-built);
* :func:`effects_plot_svg` -- the main hazard ratios side by side (hand-built).

Every count drawn goes through :func:`~icu_cohort.report.format.suppress_count`.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .disclosure import (
    DisclosureError,
    GroupSizeDecision,
    coarsen_steps,
    hide_group_sizes,
    hide_nested_sequences,
    hide_row,
    hide_sequence,
)
from .format import (
    DASH,
    NOT_ESTIMABLE,
    as_int,
    fmt_ci,
    fmt_p,
    is_estimable,
    is_missing,
    is_small,
    label_for,
    shown_count,
    suppress_count,
)
from .inputs import PSHistograms, finite
from .svg import (
    AFTER,
    CONTROL,
    GRID,
    INK,
    MUTED,
    TREATED,
    SvgBuilder,
    mpl_figure_context,
    savefig_svg,
)

FONT_W = 0.56  # average glyph width of a sans-serif font, in em, for wrapping in hand-built SVG


def _wrap(text: str, width_px: float, font_px: float) -> list[str]:
    chars = max(8, int(width_px / (font_px * FONT_W)))
    return textwrap.wrap(str(text), chars) or [""]


# ----------------------------------------------------------------------------- attrition


def attrition_decisions(attrition: pd.DataFrame, threshold: int | None):
    """Which remaining / excluded counts of the flow are hidden (:func:`.disclosure.hide_sequence`:
    no small count shown or derivable by subtraction along the flow)."""
    rem = [as_int(v) for v in attrition["n_remaining"]]
    exc = [as_int(v) for v in attrition["n_excluded"]]
    if any(v is None for v in rem):
        raise DisclosureError("attrition.csv: every step needs n_remaining")
    try:
        return hide_sequence(rem, exc, threshold)
    except DisclosureError as err:
        raise DisclosureError(f"attrition.csv: {err}") from None


def group_decisions(total: Any, groups: Sequence[tuple[str, Any, Any]], threshold: int | None, ratio: Any = None,
                    n_sets: Any = None, floors: Sequence[Any] | None = None):
    """Hidden flags of the split of the cohort into groups and of each group into matched /
    not matched: ``(hide_group_n, [(hide_matched, hide_unmatched), ...])``, decided together
    by :func:`.disclosure.hide_group_sizes` (the cohort n; each group's n; the tie of the
    matched sizes under 1:1 or full k:1 matching, ``ratio``; ``n_sets`` and ``floors`` as
    there). See :func:`size_decision` for the number of sets."""
    dec = size_decision(total, groups, threshold, ratio, n_sets, floors)
    if dec is None:  # not two groups: each group alone
        sizes = [as_int(n) for _label, n, _m in groups]
        tot = as_int(total)
        if tot is not None and None not in sizes and sum(sizes) != tot:  # type: ignore[arg-type]
            tot = None
        split = hide_row(sizes, tot, threshold)
        hide_n = [h or split.total_hidden for h in split.hidden]
        out = []
        for (_label, n, m), hn in zip(groups, hide_n):
            k, mm = as_int(n), as_int(m)
            if k is None or mm is None or mm > k:
                out.append((is_small(mm, threshold), True))
                continue
            d = hide_row([mm, k - mm], None if hn else k, threshold)
            out.append((d.hidden[0] or d.total_hidden, d.hidden[1] or d.total_hidden))
        return hide_n, out
    return list(dec.group), [(dec.matched[j], dec.unmatched[j]) for j in range(2)]


def size_decision(total: Any, groups: Sequence[tuple[str, Any, Any]], threshold: int | None, ratio: Any = None,
                  n_sets: Any = None, floors: Sequence[Any] | None = None) -> GroupSizeDecision | None:
    """:func:`.disclosure.hide_group_sizes` for ``groups = [(label, n, n_matched)]`` of treated
    and control (``None`` for any other number of groups)."""
    if len(groups) != 2:
        return None
    sizes = [as_int(n) for _label, n, _m in groups]
    matched = [as_int(m) for _label, _n, m in groups]
    has_m = any(m is not None for m in matched)
    return hide_group_sizes(sizes, matched if has_m else None, as_int(total), threshold, ratio=as_int(ratio),
                            n_sets=as_int(n_sets), floors=floors)


def at_risk_floors(at_risk: pd.DataFrame | None, sample: str, threshold: int | None) -> list[int]:
    """What the numbers at risk of ``sample`` after time 0 tell a reader of the group sizes
    (``[treated, control]``): each is a lower bound of the group's size. Taken as the largest
    value that :func:`at_risk_texts` may show when time 0 is hidden (at least ``threshold``
    below time 0), a superset of what it shows, so the bound handed to
    :func:`.disclosure.hide_group_sizes` is never weaker than the reader's."""
    out = []
    for group in ("treated", "control"):
        if at_risk is None or not len(at_risk):
            out.append(0)
            continue
        sub = at_risk[(at_risk["sample"].astype(str) == sample) & (at_risk["group"].astype(str) == group)]
        sub = sub.assign(_t=pd.to_numeric(sub["time"], errors="coerce")).sort_values("_t", kind="mergesort")
        vals = [as_int(v) for v in sub["n_at_risk"]]
        vals = [v for v in vals if v is not None]
        if len(vals) < 2:
            out.append(0)
            continue
        t = threshold or 1
        later = [v for v in vals[1:] if vals[0] - v >= t]
        out.append(max(later) if later else 0)
    return out


def exclusion_reason(criterion: str) -> str:
    """The exclusion box's words for a step's criterion: ``"exclude X"`` / ``"no X"`` ->
    ``"Excluded: X"``; an inclusion criterion ``"age >= 18"`` -> ``"Excluded: not age >= 18"``."""
    text = " ".join(str(criterion).split())
    low = text.lower()
    for lead in ("exclude ", "excluding ", "no "):
        if low.startswith(lead):
            return "Excluded: " + text[len(lead):]
    if not text:
        return "Excluded"
    first = text.split()[0]
    # "First ICU stay" -> "not first ICU stay"; "Sepsis-3", "ICU", "GCS" keep their case
    lower = first.isalpha() and first[1:].islower()
    return "Excluded: not " + (text[0].lower() + text[1:] if lower else text)


def attrition_svg(
    attrition: pd.DataFrame,
    threshold: int | None = 11,
    groups: Sequence[tuple[str, Any, Any]] | None = None,
    key: str = "attrition",
    narrow: bool = False,
    group_flags: tuple[list[bool], list[tuple[bool, bool]]] | None = None,
) -> str:
    """CONSORT-style flow: one box per step (description, n remaining), the stays each step
    excluded in a box to the side naming the reason; the study cohort split into its groups,
    and each group into matched and not matched.

    ``groups``: optional ``[(label, n_in_cohort, n_matched), ...]`` (treated, control). Counts
    follow :mod:`.disclosure`: hidden small counts read ``<11``, counts hidden so that a small
    one cannot be derived read ``hidden``. ``narrow``: a 372-unit-wide layout for phones (the
    flow runs down the left edge, exclusion boxes indented beside it), same boxes and counts.
    ``group_flags``: the report's one decision of the group sizes (:func:`group_decisions`
    with the matching ratio, the number of sets and the numbers at risk); without it the flow
    decides from its own counts (1:1 assumed where the matched sizes are equal).
    """
    if narrow:
        W = 372.0
        mx, mw = 6.0, 360.0
        sx, sw = 40.0, 326.0
    else:
        W = 760.0
        mx, mw = 24.0, 340.0  # main column
        sx, sw = 412.0, 336.0  # side (excluded) column
    fs, lh, pad = 12.5, 16.0, 8.0
    b = SvgBuilder(W, 10, key, "Flow of ICU stays from the source data to the study cohort",
                   "fig-svg flow flow-narrow" if narrow else "fig-svg flow flow-wide")
    b.raw(
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#4B5563"/></marker></defs>'
    )
    dec = attrition_decisions(attrition, threshold)
    rows = list(attrition.itertuples(index=False))
    descs = [str(getattr(r, "description", "") or "") for r in rows]
    y = 12.0
    cx = mx + 18 if narrow else mx + mw / 2
    prev_bottom: float | None = None
    n_rows = len(rows)

    def count_text(x: float, yy: float, n: Any, hidden: bool, weight: str, prefix: str = "n = ") -> None:
        attrs = {"data_suppressed": "true"} if hidden and threshold is not None and as_int(n) else {}
        b.text(x, yy, prefix + shown_count(n, hidden, threshold), cls="count", fill=INK, font_size="13",
               font_weight=weight, **attrs)

    for i, row in enumerate(rows):
        n_rem = getattr(row, "n_remaining", None)
        n_exc = getattr(row, "n_excluded", None)
        final = i == n_rows - 1
        lines = _wrap(("Study cohort: " if final else "") + descs[i], mw - 2 * pad, fs)
        h = pad * 2 + lh * (len(lines) + 1) - 4
        if i > 0 and prev_bottom is not None:
            reason = _wrap(exclusion_reason(descs[i]), sw - 2 * pad, 11.5)
            sh = pad * 2 + lh * (len(reason) + 1) - 4
            gap = max(sh + 12, 34.0)
            top_gap = prev_bottom
            y = top_gap + gap
            b.line(cx, top_gap, cx, y - 1, stroke="#4B5563", stroke_width="1.4", marker_end="url(#arrow)")
            sy = top_gap + (gap - sh) / 2
            mid = sy + sh / 2
            b.line(cx, mid, sx - 1, mid, stroke="#4B5563", stroke_width="1.4", marker_end="url(#arrow)")
            b.rect(sx, sy, sw, sh, rx=6, fill="#F4F5F7", stroke="#9CA3AF", stroke_width="1")
            ty = sy + pad + fs - 1
            for line in reason:
                b.text(sx + pad, ty, line, fill=MUTED, font_size="11.5")
                ty += lh
            count_text(sx + pad, ty, n_exc, dec.removed[i], "600")
        stroke = TREATED if final else "#6B7280"
        b.rect(mx, y, mw, h, rx=6, fill="#FFFFFF" if not final else "#EEF5FB", stroke=stroke, stroke_width="2" if final else "1.2")
        ty = y + pad + fs - 1
        for line in lines:
            b.text(mx + pad, ty, line, fill=INK, font_size=f"{fs:g}", font_weight="600" if final else "400")
            ty += lh
        count_text(mx + pad, ty, n_rem, dec.remaining[i], "700")
        if i == 0 and (as_int(n_exc) or 0) > 0 and not narrow:
            sh = pad * 2 + lh * 2 - 4
            sy = y + (h - sh) / 2
            b.line(mx + mw, sy + sh / 2, sx - 1, sy + sh / 2, stroke="#4B5563", stroke_width="1.4", marker_end="url(#arrow)")
            b.rect(sx, sy, sw, sh, rx=6, fill="#F4F5F7", stroke="#9CA3AF", stroke_width="1")
            b.text(sx + pad, sy + pad + fs - 1, "Excluded", fill=MUTED, font_size="12")
            count_text(sx + pad, sy + pad + fs - 1 + lh, n_exc, dec.removed[0], "600")
        prev_bottom = y + h
        y = y + h

    if groups and prev_bottom is not None:
        total = as_int(rows[-1].n_remaining) if rows else None
        if rows and dec.remaining[-1]:
            total = None  # the cohort n itself is hidden: it gives nothing to subtract from
        hide_n, hide_m = group_flags if group_flags is not None else group_decisions(total, groups, threshold)
        k = len(groups)
        gw = min(330.0, (W - (12 if narrow else 48) - (12 if narrow else 24) * (k - 1)) / k)
        gap_g = 12 if narrow else 24
        tw = k * gw + (k - 1) * gap_g
        x0 = (W - tw) / 2
        split_y = prev_bottom + 22
        b.line(cx, prev_bottom, cx, split_y, stroke="#4B5563", stroke_width="1.4")
        centers = [x0 + j * (gw + gap_g) + gw / 2 for j in range(k)]
        b.line(min(centers + [cx]), split_y, max(centers + [cx]), split_y, stroke="#4B5563", stroke_width="1.4")
        gy = split_y + 22
        wrapped = [_wrap(label, gw - 2 * pad, fs) for label, _n, _m in groups]
        n_lines = max(len(w) for w in wrapped)
        gh = pad * 2 + lh * (n_lines + 1) - 4
        mh = pad * 2 + lh * 2 - 4
        for j, (label, n_all, n_matched) in enumerate(groups):
            gx = x0 + j * (gw + gap_g)
            colour = TREATED if j == 0 else CONTROL
            b.line(centers[j], split_y, centers[j], gy - 1, stroke="#4B5563", stroke_width="1.4", marker_end="url(#arrow)")
            b.rect(gx, gy, gw, gh, rx=6, fill="#FFFFFF", stroke=colour, stroke_width="1.6")
            ty = gy + pad + fs - 1
            for line in wrapped[j]:
                b.text(gx + pad, ty, line, fill=INK, font_size="13")
                ty += lh
            count_text(gx + pad, gy + pad + fs - 1 + lh * n_lines, n_all, hide_n[j], "700")
            if n_matched is not None:
                my = gy + gh + 34
                bw = gw if narrow else (gw - 12) / 2
                k_all, k_m = as_int(n_all), as_int(n_matched)
                unmatched = k_all - k_m if k_all is not None and k_m is not None else None
                for side, (title, n_box, hidden, dashed) in enumerate((
                        ("Matched", n_matched, hide_m[j][0], True),
                        ("Not matched", unmatched, hide_m[j][1], False))):
                    if narrow:  # one below the other
                        bx, top = gx, (gy + gh if side == 0 else my + mh)
                        if side == 1:
                            my = my + mh + 22
                        bcx = bx + bw / 2
                        b.line(bcx, top, bcx, my - 1, stroke="#4B5563", stroke_width="1.4", marker_end="url(#arrow)")
                    else:
                        bx = gx + side * (bw + 12)
                        bcx = bx + bw / 2
                        b.line(centers[j], gy + gh, bcx, my - 1, stroke="#4B5563", stroke_width="1.4", marker_end="url(#arrow)")
                    extra = {"stroke_dasharray": "4 3"} if dashed else {}
                    b.rect(bx, my, bw, mh, rx=6, fill="#F4F8FB" if dashed else "#F4F5F7",
                           stroke=colour if dashed else "#9CA3AF", stroke_width="1.2", **extra)
                    b.text(bx + pad, my + pad + fs - 1, title, fill=MUTED, font_size="12")
                    count_text(bx + pad, my + pad + fs - 1 + lh, n_box, hidden, "700")
                y = max(y, my + mh)
            else:
                y = max(y, gy + gh)
    b.height = y + 12
    return b.render()


# ----------------------------------------------------------------------------- love plot


def love_plot_svg(
    balance: pd.DataFrame,
    labels: Mapping[str, str] | None = None,
    line: float = 0.1,
    key: str = "love",
) -> str:
    """Absolute SMD of each covariate before (open) and after (filled) matching, 0.1 line."""
    from .tables import balance_label

    df = balance.copy()
    if "kind" in df.columns:
        df = df[df["kind"].astype(str).str.lower() != "score"]
    df["label"] = [balance_label(r, labels) for _, r in df.iterrows()]
    df["b"] = pd.to_numeric(df["smd_before"], errors="coerce").abs()
    df["a"] = pd.to_numeric(df["smd_after"], errors="coerce").abs()
    df = df.sort_values(["b", "covariate"], ascending=[True, False], na_position="first", kind="mergesort")
    k = len(df)
    with mpl_figure_context(key) as plt:
        fig, ax = plt.subplots(figsize=(7.2, 0.9 + 0.24 * max(k, 3)))
        ys = np.arange(k)
        for yv, b, a in zip(ys, df["b"], df["a"]):
            if not (math.isnan(b) or math.isnan(a)):
                ax.plot([b, a], [yv, yv], color="#C9CED6", lw=1, zorder=1)
        ax.scatter(df["b"], ys, s=30, facecolors="white", edgecolors=CONTROL, linewidths=1.4, label="Before matching", zorder=3, marker="o")
        ax.scatter(df["a"], ys, s=30, color=AFTER, label="After matching", zorder=4, marker="D")
        ax.axvline(line, color="#4B5563", lw=1, ls=(0, (4, 3)), zorder=0)
        ax.set_yticks(ys)
        ax.set_yticklabels(list(df["label"]))
        xmax = np.nanmax(np.r_[df["b"].to_numpy(), df["a"].to_numpy(), line * 1.6])
        ax.set_xlim(0, float(xmax) * 1.08)
        ax.set_ylim(-0.7, k - 0.3)
        ax.set_xlabel("Absolute standardised mean difference")
        ax.grid(axis="x", color=GRID, lw=0.8)
        ax.set_axisbelow(True)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.text(line, 1.0, f" {line:g}", transform=ax.get_xaxis_transform(), va="bottom", ha="left", color=MUTED, fontsize=9)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=9, handletextpad=0.3)
        return savefig_svg(
            fig,
            key,
            title="Love plot: absolute standardised mean differences before and after matching",
            desc=f"{k} covariates; dashed line at {line:g}.",
        )


# ----------------------------------------------------------------------------- PS histograms


def ps_display_bins(hist: PSHistograms, threshold: int | None) -> int:
    """Number of display bins: 40 for large groups, fewer (down to 10) for small ones."""
    fine = len(hist.edges) - 1
    sizes = [int(c.sum()) for c in hist.counts.values() if int(c.sum()) > 0]
    n_min = min(sizes) if sizes else 0
    per_bin = 8
    best = 10
    for k in (10, 20, 25, 40):
        if fine % k == 0 and n_min / k >= per_bin:
            best = k
    return best if fine % best == 0 else fine


def hidden_bins(counts: Sequence[int], threshold: int | None, n_hidden: bool = False) -> np.ndarray:
    """Which histogram bins of one group are drawn as hidden: the bins add up to the group n
    shown beside them, so they are one total (:func:`.disclosure.hide_row`); when the n
    itself is hidden, every bin holding stays is."""
    c = [int(x) for x in counts]
    if threshold is None:
        return np.zeros(len(c), bool)
    if n_hidden or is_small(sum(c), threshold):
        return np.array([x > 0 for x in c], dtype=bool)
    return np.array(hide_row(c, sum(c), threshold).hidden, dtype=bool)


def ps_histogram_svg(
    hist: PSHistograms,
    threshold: int | None = 11,
    labels: tuple[str, str] = ("Treated", "Control"),
    key: str = "ps-hist",
    hidden_sizes: Mapping[tuple[str, str], bool] | None = None,
) -> str:
    """Mirrored histograms (treated up, control down) of the propensity score, before/after.

    Bar heights are the percentage of the group in each bin. The number of bins (10 to 40)
    follows the smallest group, so most bins hold enough stays. A bin holding 1 to
    ``threshold - 1`` stays of a group, or hidden so that such a bin cannot be derived from
    the group n and the other bars, is not drawn to scale: it is marked by a short hatched
    bar of fixed height, which shows that the group has stays there but not how many.
    """
    k = ps_display_bins(hist, threshold)
    fine = len(hist.edges) - 1
    step = fine // k
    edges = hist.edges[::step]
    width = np.diff(edges)
    panels = [("before", "Before matching"), ("after", "After matching")]
    panels = [p for p in panels if (p[0], "treated") in hist.counts or (p[0], "control") in hist.counts]
    data: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, int]] = {}
    ymax = 1.0
    for (sample, group), fine_counts in hist.counts.items():
        counts = fine_counts.reshape(k, step).sum(axis=1) if step > 1 else fine_counts
        n = int(counts.sum())
        if n == 0:
            continue
        # The bars give each bin's share of the group (exactly, in the SVG's coordinates) and
        # the label the group n: the bins are one total, so a lone hidden bin would be n minus
        # the others. Hidden bins follow disclosure.hide_row (all of them when n is hidden).
        small = hidden_bins(counts, threshold, bool((hidden_sizes or {}).get((sample, group))))
        pct = np.where(small, 0.0, 100.0 * counts / n)
        data[(sample, group)] = (pct, small, n)
        ymax = max(ymax, float(pct.max()))
    top = ymax * 1.12
    marker_h = top * 0.045
    any_small = any(v[1].any() for v in data.values())
    with mpl_figure_context(key) as plt:
        from matplotlib.patches import Patch

        fig, axes = plt.subplots(1, len(panels), figsize=(7.6, 3.5), sharey=True, squeeze=False)
        for ax, (sample, title) in zip(axes[0], panels):
            for group, colour, sign, label in (
                ("treated", TREATED, 1, labels[0]),
                ("control", CONTROL, -1, labels[1]),
            ):
                if (sample, group) not in data:
                    continue
                pct, small, n = data[(sample, group)]
                big = ~small & (pct > 0)
                ax.bar(edges[:-1][big], sign * pct[big], width=width[big], align="edge", color=colour, alpha=0.85,
                       edgecolor="white", linewidth=0.5)
                if small.any():
                    ax.bar(edges[:-1][small], np.full(int(small.sum()), sign * marker_h), width=width[small], align="edge",
                           facecolor="white", edgecolor=colour, linewidth=0.7, hatch="////")
                n_text = shown_count(n, bool((hidden_sizes or {}).get((sample, group))) or is_small(n, threshold), threshold)
                ax.text(0.02, 0.97 if sign > 0 else 0.03, f"{label}, n = {n_text}", gid=f"count-n-{sample}-{group}",
                        transform=ax.transAxes, ha="left", va="top" if sign > 0 else "bottom", fontsize=8.5, color=colour)
            ax.axhline(0, color="#4B5563", lw=0.8)
            ax.set_title(title)
            ax.set_xlim(0, 1)
            ax.set_xlabel("Propensity score")
        for ax in axes[0]:
            ax.set_ylim(-top, top)
            ticks = [t for t in ax.get_yticks() if -top <= t <= top]
            ax.set_yticks(ticks)
            ax.set_yticklabels([f"{abs(t):g}" for t in ticks])
        axes[0][0].set_ylabel(f"% of group ({labels[0].lower()} up, {labels[1].lower()} down)")
        handles = [Patch(facecolor=TREATED, alpha=0.85, label=labels[0]), Patch(facecolor=CONTROL, alpha=0.85, label=labels[1])]
        if any_small:
            handles.append(Patch(facecolor="white", edgecolor="#4B5563", hatch="////",
                                 label="hidden count (not to scale)"))
        fig.tight_layout(rect=(0, 0, 1, 0.9))
        fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=9, bbox_to_anchor=(0.5, 1.0))
        return savefig_svg(fig, key, title="Propensity-score distributions by group, before and after matching",
                           desc=f"{k} bins of width {1 / k:g}.")


# ----------------------------------------------------------------------------- Kaplan-Meier


def at_risk_shown(at_risk: pd.DataFrame, group: str, times: Sequence[float], threshold: int | None,
                  first_hidden: bool = False) -> dict[float, tuple[int, bool]]:
    """``{time: (number at risk, shown)}`` of one group at the ``times`` it has, as
    :func:`at_risk_texts` decides them."""
    sub = at_risk[at_risk["group"] == group]
    by_time = {float(t): as_int(n) for t, n in zip(pd.to_numeric(sub["time"], errors="coerce"), sub["n_at_risk"])}
    known = [t for t in times if by_time.get(t) is not None]
    vals = [by_time[t] for t in known]
    if any(b > a for a, b in zip(vals, vals[1:])):  # type: ignore[operator]
        raise DisclosureError(f"km_at_risk.csv: the number at risk of {group} rises over time")
    dec = hide_sequence(vals, None, threshold, keep_first=True, keep_last=False) if vals else None
    out = {}
    for i, t in enumerate(known):
        hide = dec.remaining[i] or (first_hidden and threshold is not None and vals[i] == vals[0])  # type: ignore[union-attr]
        out[t] = (int(vals[i]), not hide)  # type: ignore[arg-type]
    return out


def nested_hidden_times(at_risk: pd.DataFrame, group: str, times: Sequence[float], threshold: int | None,
                        hidden_sizes: Mapping[tuple[str, str], bool] | None = None) -> set[float]:
    """Times at which the matched sample's number at risk of ``group`` is hidden because,
    with the whole cohort's shown beside it, the difference (stays not matched still at
    risk) would be small (:func:`.disclosure.hide_nested_sequences`). ``hidden_sizes``:
    ``{(sample, group): hidden}`` with sample ``"cohort"`` / ``"matched"``."""
    hs = hidden_sizes or {}
    coh = at_risk_shown(at_risk[at_risk["sample"].astype(str) == "cohort"], group, times, threshold,
                        bool(hs.get(("cohort", group))))
    mat = at_risk_shown(at_risk[at_risk["sample"].astype(str) == "matched"], group, times, threshold,
                        bool(hs.get(("matched", group))))
    common = [t for t in times if t in coh and t in mat]
    if not common:
        return set()
    shown = hide_nested_sequences([coh[t][0] for t in common], [mat[t][0] for t in common],
                                  [coh[t][1] for t in common], [mat[t][1] for t in common], threshold)
    return {t for t, s in zip(common, shown) if mat[t][1] and not s}


def at_risk_texts(at_risk: pd.DataFrame, group: str, times: Sequence[float], threshold: int | None,
                  first_hidden: bool = False, hidden_times: Sequence[float] = ()) -> dict[float, str]:
    """Numbers at risk of one group as shown under the curves: between two shown times the
    drop (deaths and censorings) is 0 or at least ``threshold``, so no small count of deaths
    can be read by subtraction (:func:`.disclosure.hide_sequence`, first value kept: it is
    the group's n, shown elsewhere).

    ``first_hidden``: the group's n is hidden in the report (:func:`.disclosure.hide_group_sizes`,
    e.g. the matched sizes under 1:1 matching with a few stays not matched): the value at
    time 0 is hidden too, and so is every later value equal to it (nobody left yet: it would
    be the n itself); the values shown are then at least ``threshold`` below the n.
    ``hidden_times``: times hidden for another reason (:func:`nested_hidden_times`)."""
    out = {t: DASH for t in times}
    extra = {float(t) for t in hidden_times}
    for t, (v, shown) in at_risk_shown(at_risk, group, times, threshold, first_hidden).items():
        out[t] = shown_count(v, not shown or (threshold is not None and t in extra), threshold)
    return out


def km_drawn_points(g: pd.DataFrame, threshold: int | None):
    """The points of one group's curve as a shared figure draws them: ``(time, survival,
    ci_lower, ci_upper)`` arrays at the times :func:`.disclosure.coarsen_steps` keeps (each
    drawn step covers 0 or at least ``threshold`` deaths; held flat in between; the exact
    estimates at those times), after a first point at time 0 (survival 1). ``None`` when the
    rows have no ``n_events`` and suppression is on (the curve cannot be drawn safely).
    ``threshold=None``: every row, exact."""
    g = g.sort_values("time", kind="mergesort")
    t = pd.to_numeric(g["time"], errors="coerce").to_numpy(float)
    s = pd.to_numeric(g["survival"], errors="coerce").to_numpy(float)
    lo = pd.to_numeric(g["ci_lower"], errors="coerce").to_numpy(float)
    hi = pd.to_numeric(g["ci_upper"], errors="coerce").to_numpy(float)
    if threshold is None:
        return t, s, lo, hi
    if "n_events" not in g.columns:
        return None
    d = [as_int(v) for v in g["n_events"]]
    if any(v is None for v in d):
        raise DisclosureError("km.csv: n_events must be a whole number on every row")
    keep = np.array(coarsen_steps(d, threshold), dtype=bool)
    before = (t <= 0) & ~keep  # the start of the curve (time 0, nobody dead yet) is drawn as 1
    keep = keep & ~before
    t0 = np.r_[0.0, t[keep]]
    return t0, np.r_[1.0, s[keep]], np.r_[1.0, lo[keep]], np.r_[1.0, hi[keep]]


def km_plot_svg(
    km: pd.DataFrame,
    at_risk: pd.DataFrame | None,
    threshold: int | None = 11,
    title: str = "",
    logrank_p: Any = None,
    labels: tuple[str, str] = ("Treated", "Control"),
    horizon: float | None = None,
    key: str = "km",
    hidden_sizes: tuple[bool, bool] = (False, False),
    hidden_times: Mapping[str, Sequence[float]] | None = None,
) -> str:
    """Kaplan-Meier curves by group with 95% CI bands, numbers at risk under the axis.

    Drawn coarsened (:func:`km_drawn_points`): each visible step of a curve and of its band
    covers 0 or at least ``threshold`` deaths; the estimates elsewhere stay exact. A curve
    without death counts (``n_events``, from an analysis before they were written) is not
    drawn when suppression is on; the plot says so.

    ``hidden_sizes``: (treated, control) group sizes the report hides: their numbers at risk
    at time 0 are hidden too (:func:`at_risk_texts`). ``hidden_times``: ``{group: times}``
    whose numbers at risk are hidden as well (:func:`nested_hidden_times`)."""
    groups = (("treated", TREATED, "-", labels[0]), ("control", CONTROL, (0, (5, 2.5)), labels[1]))
    t_max = float(pd.to_numeric(km["time"], errors="coerce").max()) if len(km) else 28.0
    if horizon is None:
        horizon = 28.0 if t_max <= 28.0 + 1e-9 else t_max
    risk_times: list[float] = []
    if at_risk is not None and len(at_risk):
        risk_times = sorted({float(t) for t in pd.to_numeric(at_risk["time"], errors="coerce").dropna()})
    if not risk_times:
        step = 7.0 if horizon <= 35 else max(1.0, round(horizon / 5))
        risk_times = list(np.arange(0, horizon + 1e-9, step))
    with mpl_figure_context(key) as plt:
        fig = plt.figure(figsize=(7.4, 4.9))
        gs = fig.add_gridspec(2, 1, height_ratios=[4.2, 0.9], hspace=0.42)
        ax = fig.add_subplot(gs[0])
        ymin_seen = 1.0
        undrawn = False
        for group, colour, ls, label in groups:
            g = km[km["group"] == group].copy()
            if g.empty:
                continue
            pts = km_drawn_points(g, threshold)
            if pts is None:
                undrawn = True
                ax.plot([], [], color=colour, lw=1.8, ls=ls, label=label)
                continue
            t, s, lo, hi = pts
            if t[0] > 0:
                t, s, lo, hi = np.r_[0.0, t], np.r_[1.0, s], np.r_[1.0, lo], np.r_[1.0, hi]
            if t[-1] < horizon:
                t, s, lo, hi = np.r_[t, horizon], np.r_[s, s[-1]], np.r_[lo, lo[-1]], np.r_[hi, hi[-1]]
            lo = np.where(np.isnan(lo), s, lo)
            hi = np.where(np.isnan(hi), s, hi)
            ymin_seen = min(ymin_seen, float(np.nanmin(lo)))
            ax.fill_between(t, lo, hi, step="post", color=colour, alpha=0.15, linewidth=0)
            ax.step(t, s, where="post", color=colour, lw=1.8, ls=ls, label=label)
        if undrawn:
            ax.text(0.5, 0.5, "Curve not drawn: km.csv has no death counts (n_events) to draw it\n"
                    "without revealing small counts; run the analysis again.", transform=ax.transAxes,
                    ha="center", va="center", fontsize=9.5, color=MUTED)
        bottom = min(0.5, math.floor(ymin_seen * 10) / 10)
        ax.set_ylim(max(0.0, bottom), 1.005)
        ax.set_xlim(0, horizon)
        ax.set_xticks(risk_times)
        ax.set_xticklabels([f"{t:g}" for t in risk_times])
        ax.set_ylabel("Survival probability")
        ax.set_xlabel("Days since ICU admission")
        ax.grid(axis="y", color=GRID, lw=0.8)
        ax.set_axisbelow(True)
        if title:
            ax.set_title(title)
        ax.legend(loc="lower left", fontsize=9)
        if not is_missing(logrank_p):
            ax.text(0.98, 0.04, f"Log-rank p = {fmt_p(logrank_p)}", transform=ax.transAxes, ha="right", va="bottom", fontsize=9.5)
        # Numbers at risk: a second axes sharing the time scale, no frame.
        rx = fig.add_subplot(gs[1], sharex=ax)
        rx.set_ylim(-0.5, 1.9)
        for sp in rx.spines.values():
            sp.set_visible(False)
        rx.tick_params(axis="both", length=0, labelbottom=False, labelleft=False)
        rx.text(-0.045, 1.7, "Number at risk", transform=rx.get_yaxis_transform(), fontsize=9, fontweight="bold", ha="right", va="center")
        for row, (group, colour, _ls, label) in enumerate(groups):
            yv = 0.9 - row * 0.9
            rx.text(-0.045, yv, label, transform=rx.get_yaxis_transform(), ha="right", va="center", fontsize=9, color=colour, fontweight="bold")
            if at_risk is None:
                continue
            texts = at_risk_texts(at_risk, group, risk_times, threshold, first_hidden=bool(hidden_sizes[row]),
                                  hidden_times=(hidden_times or {}).get(group, ()))
            for k, (tv, text) in enumerate(texts.items()):
                rx.text(tv, yv, text, ha="center", va="center", fontsize=9, gid=f"count-{row}-{k}")
        return savefig_svg(fig, key, title=title or "Kaplan-Meier curves")


# ----------------------------------------------------------------------------- forest plots


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Hazard-ratio ticks inside [lo, hi], at most about six, always including 1."""
    ladders = (
        [0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0],
        [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0],
        [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0],
        [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0, 20.0, 50.0],
    )
    for ladder in ladders:
        ticks = [c for c in ladder if lo * 0.999 <= c <= hi * 1.001]
        if 3 <= len(ticks) <= 6 or (ladder is ladders[-1]):
            return ticks or [1.0]
    return [1.0]  # pragma: no cover


def _forest(
    rows: list[dict[str, Any]],
    columns: list[tuple[str, str, float, str]],
    key: str,
    title: str,
    plot_x: float,
    plot_w: float,
    right_cols: list[tuple[str, str, float, str]],
    width: float,
    treated_label: str = "treatment",
) -> str:
    """Generic hand-built forest plot.

    ``rows``: dicts with 'hr', 'lo', 'hi', 'kind' ('header'|'row'|'overall') and text cells.
    ``columns``/``right_cols``: (field, header, x, anchor) text columns left/right of the plot.
    """
    rh, head_h, fs = 24.0, 40.0, 12.5
    count_fields = {"ntc", "events"}
    vals = [v for r in rows for v in (finite(r.get("lo")), finite(r.get("hi")), finite(r.get("hr")), finite(r.get("true")))
            if v and v > 0]
    lo = min(vals + [0.8]) if vals else 0.5
    hi = max(vals + [1.25]) if vals else 2.0
    lo, hi = max(lo / 1.15, 0.02), min(hi * 1.15, 50.0)
    llo, lhi = math.log(lo), math.log(hi)

    def X(v: float) -> float:
        return plot_x + (math.log(v) - llo) / (lhi - llo) * plot_w

    height = head_h + rh * len(rows) + 58
    b = SvgBuilder(width, height, key, title, "fig-svg forest")
    # header
    for field, header, x, anchor in columns + right_cols:
        b.text(x, 24, header, anchor=anchor, font_size="12", font_weight="700", fill=INK)
    b.text(plot_x + plot_w / 2, 24, "Hazard ratio (95% CI)", anchor="middle", font_size="12", font_weight="700", fill=INK)
    b.line(8, head_h - 6, width - 8, head_h - 6, stroke="#9CA3AF", stroke_width="1")
    top = head_h
    bottom = head_h + rh * len(rows)
    b.line(X(1.0), top - 2, X(1.0), bottom + 2, stroke="#4B5563", stroke_width="1")
    for i, r in enumerate(rows):
        yc = top + rh * i + rh / 2
        kind = r.get("kind", "row")
        weight = "700" if kind in ("header", "overall") else "400"
        for field, _h, x, anchor in columns + right_cols:
            val = r.get(field, "")
            if val in (None, ""):
                continue
            b.text(x, yc + 4.5, str(val), cls="count" if field in count_fields else "", anchor=anchor, font_size=f"{fs:g}",
                   font_weight=weight, fill=INK if kind != "muted" else MUTED)
        hr, l, h = finite(r.get("hr")), finite(r.get("lo")), finite(r.get("hi"))
        if hr and hr > 0:
            colour = INK if kind == "overall" else TREATED
            if l and h and l > 0 and h > 0:
                xl, xh = X(max(l, lo)), X(min(h, hi))
                b.line(xl, yc, xh, yc, stroke=colour, stroke_width="1.6")
                if l < lo:
                    b.path(f"M{b.n(xl + 5)},{b.n(yc - 4)} L{b.n(xl)},{b.n(yc)} L{b.n(xl + 5)},{b.n(yc + 4)}", fill="none", stroke=colour)
                if h > hi:
                    b.path(f"M{b.n(xh - 5)},{b.n(yc - 4)} L{b.n(xh)},{b.n(yc)} L{b.n(xh - 5)},{b.n(yc + 4)}", fill="none", stroke=colour)
            tv = finite(r.get("true"))
            if tv and lo <= tv <= hi:
                xt = X(tv)
                b.line(xt, yc - 8, xt, yc + 8, stroke=CONTROL, stroke_width="2.2")
            if lo <= hr <= hi:
                xc = X(hr)
                if kind == "overall":
                    b.path(f"M{b.n(xc - 7)},{b.n(yc)} L{b.n(xc)},{b.n(yc - 6)} L{b.n(xc + 7)},{b.n(yc)} L{b.n(xc)},{b.n(yc + 6)} z", fill=colour)
                else:
                    b.rect(xc - 4.5, yc - 4.5, 9, 9, fill=colour)
    # axis
    ay = bottom + 8
    b.line(plot_x, ay, plot_x + plot_w, ay, stroke="#4B5563", stroke_width="1")
    for t in _log_ticks(lo, hi):
        xt = X(t)
        b.line(xt, ay, xt, ay + 5, stroke="#4B5563", stroke_width="1")
        b.text(xt, ay + 18, f"{t:g}", anchor="middle", font_size="11.5", fill=INK)
    b.text(X(1.0) - 8, ay + 38, f"\u2190 Favours {treated_label}", anchor="end", font_size="11.5", fill=MUTED)
    b.text(X(1.0) + 8, ay + 38, "Favours control \u2192", anchor="start", font_size="11.5", fill=MUTED)
    return b.render()


def subgroup_count_flags(part: pd.DataFrame, column: str, threshold: int | None, total: Any = None,
                         total_hidden: bool = False) -> list[bool]:
    """Hidden flags of one count column (``n_treated``, ``n_control``, ``events``) over the
    levels of one subgroup: the levels (and the stays with the variable missing, not shown)
    add up to the matched sample's count, so they are one total (:func:`.disclosure.hide_row`).
    ``total``: that count if known; else the levels' own sum is taken as known (the strict
    reading: nothing is assumed to be missing). ``total_hidden``: the report hides that count
    (a matched group size, :func:`.disclosure.hide_group_sizes`): every positive level is
    hidden, since the levels would add up to it."""
    vals = [as_int(v) for v in part[column]]
    if total_hidden and threshold is not None:
        return [v is None or v > 0 for v in vals]
    if None in vals:
        return [is_small(v, threshold) for v in vals]
    s = sum(vals)  # type: ignore[arg-type]
    tot = as_int(total)
    if tot is None or tot < s:
        return hide_row(vals, s, threshold).hidden
    dec = hide_row(vals + [tot - s], tot, threshold, unpublished=[False] * len(vals) + [True])
    return [h or dec.total_hidden for h in dec.hidden[:len(vals)]]


def forest_plot_svg(
    subgroups: pd.DataFrame,
    threshold: int | None = 11,
    overall: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    treated_label: str = "treatment",
    key: str = "forest",
    totals: Mapping[str, Any] | None = None,
    hidden_totals: Sequence[str] = (),
) -> str:
    """Subgroup hazard ratios (log scale) with n, events and the interaction p per subgroup.
    ``hidden_totals``: the columns of ``totals`` the report hides (their levels are hidden).

    ``overall``: optional ``{"label", "hr", "lo", "hi"}`` drawn first as a diamond.
    Counts (n treated / control, events) follow :func:`subgroup_count_flags` (``totals``: the
    matched sample's ``n_treated``, ``n_control``, ``events`` where known). A level whose
    estimate is not estimable (:func:`.format.is_estimable`: no events in an arm) shows
    "not estimable†" and no square, and its subgroup shows no interaction p-value
    ("–†"): the interaction model is not identified either.
    """
    labels = labels or {}
    totals = totals or {}
    rows: list[dict[str, Any]] = []
    if overall:
        rows.append({"kind": "overall", "label": overall.get("label", "All"), "hr": overall.get("hr"),
                     "lo": overall.get("lo"), "hi": overall.get("hi"),
                     "est": fmt_ci(overall.get("hr"), overall.get("lo"), overall.get("hi"))})
    order = list(dict.fromkeys(subgroups["subgroup"].astype(str)))
    for sg in order:
        part = subgroups[subgroups["subgroup"].astype(str) == sg]
        ok = [is_estimable(r.hr, r.ci_low, r.ci_high) for r in part.itertuples(index=False)]
        p_int = next((v for v in part["p_interaction"] if not is_missing(v)), None)
        if not all(ok):
            pint = "–†"
        else:
            pint = fmt_p(p_int) if p_int is not None else ""
        rows.append({"kind": "header", "label": label_for(sg, labels), "pint": pint})
        flags = {c: subgroup_count_flags(part, c, threshold, totals.get(c), c in hidden_totals)
                 for c in ("n_treated", "n_control", "events")}
        for i, r in enumerate(part.itertuples(index=False)):
            est = fmt_ci(r.hr, r.ci_low, r.ci_high) if ok[i] else NOT_ESTIMABLE + "†"
            rows.append({
                "kind": "row",
                "label": " " + str(r.level),
                "ntc": f"{shown_count(r.n_treated, flags['n_treated'][i], threshold)} / "
                       f"{shown_count(r.n_control, flags['n_control'][i], threshold)}",
                "events": shown_count(r.events, flags["events"][i], threshold),
                "hr": r.hr if ok[i] else None, "lo": r.ci_low if ok[i] else None,
                "hi": r.ci_high if ok[i] else None, "est": est,
            })
    columns = [("label", "Subgroup", 12.0, "start"), ("ntc", "Treated / control", 292.0, "end"),
               ("events", "Events", 356.0, "end")]
    right = [("est", "HR (95% CI)", 790.0, "end"), ("pint", "p interaction", 900.0, "end")]
    return _forest(rows, columns, key, "Forest plot of subgroup hazard ratios", plot_x=384.0, plot_w=300.0,
                   right_cols=right, width=912.0, treated_label=treated_label)


def effects_plot_svg(estimates: list[dict[str, Any]], treated_label: str = "treatment", key: str = "effects",
                     horizon_days: int = 28) -> str:
    """The main hazard ratios (matched Cox, multivariable Cox, IPTW...) of death within
    ``horizon_days`` as a small forest plot."""
    rows = [{"kind": "row", "label": e["label"], "hr": e.get("hr"), "lo": e.get("lo"), "hi": e.get("hi"), "true": e.get("true"),
             "est": fmt_ci(e.get("hr"), e.get("lo"), e.get("hi")), "p": fmt_p(e.get("p"))} for e in estimates]
    columns = [("label", "Analysis", 12.0, "start")]
    right = [("est", "HR (95% CI)", 720.0, "end"), ("p", "p", 800.0, "end")]
    return _forest(rows, columns, key, f"Hazard ratios of {horizon_days}-day death from the main analyses", plot_x=300.0,
                   plot_w=300.0, right_cols=right, width=812.0, treated_label=treated_label)


__all__ = [
    "attrition_svg",
    "love_plot_svg",
    "ps_histogram_svg",
    "km_plot_svg",
    "forest_plot_svg",
    "effects_plot_svg",
    "ps_display_bins",
]
