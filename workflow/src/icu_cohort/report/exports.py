"""Manuscript exports of one study: files a co-author can put straight into a paper.

Written into ``results/<source>/<study>/exports/`` (:data:`EXPORT_DIR`) by
:func:`write_exports`:

* every figure of the study's report, each as ``<key>.svg`` (standalone, text kept as text),
  ``<key>.pdf`` (vector) and ``<key>.png`` (300 dpi, :data:`PNG_DPI`). The figures are taken
  from the rendered ``report.html`` itself (:func:`report_figures`), so an export shows
  exactly what the report shows, small counts already suppressed, and a figure added to the
  report is exported without a change here. SVG to PDF/PNG is done by CairoSVG (which needs
  the system's cairo library: ``libcairo2`` on Debian/Ubuntu, ``cairo`` on conda-forge).
* ``table1.csv`` / ``table1.xlsx``: Table 1 in the layout a journal prints -- one row per
  characteristic (and per level of a categorical one), columns treated / control / SMD before
  matching, then the same after matching (:func:`table1_rows`).
* ``effects.csv`` / ``effects.xlsx``: the effect estimates -- one row per analysis, with the
  group sizes, the deaths by the study's horizon, the hazard ratio (95% CI) and p (:func:`effects_rows`).
* ``secondary_outcomes.csv`` / ``.xlsx`` (a study with ``outcome.secondary`` only): per
  secondary outcome, events by arm in the whole cohort and the matched sample, the matched risk
  difference and the matched Cox hazard ratio (:func:`secondary_rows`).
* ``manifest.json``: every file written, with its SHA-256.

Small counts: every count in the tables goes through
:func:`icu_cohort.report.disclosure.hide_row`, the one small-count rule of the report (a
count from 1 to ``threshold - 1`` is shown as ``<threshold``, and further cells are hidden
where a hidden count could otherwise be recovered by subtraction from a total). The CSV and
the XLSX hold the same cells, as text, in the same places (the XLSX merges the two group
headers "Before matching" / "After matching" over their three columns).

Deterministic: same results folder, same bytes (the PDF's creation date is fixed to
:data:`PDF_DATE`; PNG and SVG carry no date; the XLSX's document dates are fixed too).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from icu_cohort.artifacts import ESTIMATES, TABLE1, atomic_path

from .disclosure import HIDDEN_TEXT, hide_group_sizes, hide_matched_split, hide_row, is_small
from .format import fmt_ci, fmt_num, fmt_p, label_for
from .inputs import horizon_days

#: The exports folder inside a study's results folder.
EXPORT_DIR = "exports"
#: Each figure is written in these formats.
FIGURE_FORMATS = ("svg", "pdf", "png")
#: Each table is written in these formats.
TABLE_FORMATS = ("csv", "xlsx")
#: Resolution of the PNG figures, in dots per inch (the SVG's CSS pixels are 1/96 inch).
PNG_DPI = 300
#: File stems of the two tables.
TABLE1_STEM = "table1"
EFFECTS_STEM = "effects"
SECONDARY_STEM = "secondary_outcomes"
MANIFEST = "manifest.json"
#: The creation date written into every PDF (cairo would write the time of the run).
PDF_DATE = "D:20000101000000Z"
#: Shown for a cell hidden because it is small / because it would reveal a small one.
SMALL = "<{threshold}"
SUPPRESSED = HIDDEN_TEXT
GROUP_LABELS = ("Treated", "Control")

# Fonts for standalone SVG, PDF and PNG (the report page gives its own system font stack).
_FONTS = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif"
# Matplotlib's own stylesheet rule, which the report drops from inline SVG (svg.clean_svg)
# and carries in the page's CSS, scoped; a standalone file needs it back.
_STANDALONE_CSS = f"text {{ font-family: {_FONTS}; }} .mpl * {{ stroke-linejoin: round; stroke-linecap: butt; }}"


class ExportError(ValueError):
    """An input the exports need is missing or malformed (the message names it)."""


# ----------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Figure:
    """One figure of the report: ``key`` (file stem), its title, caption text and standalone SVG."""

    key: str
    title: str
    caption: str
    svg: str


_FIGURE_RE = re.compile(r"<figure\b[^>]*>(.*?)</figure>", re.S)
_SVG_RE = re.compile(r"<svg\b.*?</svg>", re.S)
_CAPTION_RE = re.compile(r"<figcaption\b[^>]*>(.*?)</figcaption>", re.S)
_TITLE_RE = re.compile(r'<title id="([^"]+)-title">(.*?)</title>', re.S)
_TAG_RE = re.compile(r"<[^>]+>")


def _text(markup: str) -> str:
    import html

    return " ".join(html.unescape(_TAG_RE.sub("", markup)).split())


def report_figures(html: str) -> list[Figure]:
    """Every ``<figure>`` of a rendered report holding an SVG, in page order.

    The file stem is the figure's id prefix (the ``key`` the report gave the figure); a key
    used twice gets ``-2``, ``-3``... in page order.
    """
    out: list[Figure] = []
    seen: dict[str, int] = {}
    for i, m in enumerate(_FIGURE_RE.finditer(html), start=1):
        body = m.group(1)
        svg = _SVG_RE.search(body)
        if not svg:
            continue
        markup = svg.group(0)
        t = _TITLE_RE.search(markup)
        key = re.sub(r"[^A-Za-z0-9_-]+", "-", t.group(1)).strip("-") if t else f"figure-{i}"
        title = _text(t.group(2)) if t else key
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key = f"{key}-{seen[key]}"
        cap = _CAPTION_RE.search(body)
        out.append(Figure(key, title, _text(cap.group(1)) if cap else "", standalone_svg(markup)))
    return out


def standalone_svg(markup: str) -> str:
    """An inline SVG of the report as a file of its own.

    Adds the XML declaration and namespaces, sets ``width``/``height`` in CSS pixels from the
    natural width the report kept as ``max-width`` (and the viewBox's aspect ratio), and
    embeds the few style rules the page's stylesheet gave it (fonts; matplotlib's line joins).
    """
    m = re.match(r"<svg\b([^>]*)>", markup)
    if not m:
        raise ExportError("not an SVG element")
    attrs = m.group(1)
    vb = re.search(r'viewBox="\s*([-\d.eE]+)[\s,]+([-\d.eE]+)[\s,]+([\d.eE]+)[\s,]+([\d.eE]+)\s*"', attrs)
    if not vb:
        raise ExportError("SVG without a viewBox: its size is unknown")
    vb_w, vb_h = float(vb.group(3)), float(vb.group(4))
    mw = re.search(r"max-width:\s*([\d.]+)px", attrs)
    width = float(mw.group(1)) if mw else vb_w
    height = width * vb_h / vb_w if vb_w else vb_h
    new = re.sub(r'\s(width|height|style)="[^"]*"', "", attrs)
    if "xmlns=" not in new:
        new += ' xmlns="http://www.w3.org/2000/svg"'
    if "xlink:" in markup and "xmlns:xlink=" not in new:
        new += ' xmlns:xlink="http://www.w3.org/1999/xlink"'
    new += f' width="{width:.2f}px" height="{height:.2f}px"'
    head = f"<svg{new}>"
    rest = markup[m.end():]
    # title first (accessibility), then the style
    t = re.match(r"\s*<title\b.*?</title>", rest, re.S)
    title = t.group(0) if t else ""
    rest = rest[t.end():] if t else rest
    return (
        '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
        + head + title + f'<style type="text/css">{_STANDALONE_CSS}</style>' + rest.rstrip() + "\n"
    )


def _cairosvg():
    """CairoSVG, or a clear error when the system's cairo library is missing."""
    try:
        import cairosvg
    except OSError as exc:  # cairocffi could not load libcairo
        raise ExportError(
            f"the PDF and PNG figures need the system's cairo library, which could not be loaded ({exc}); "
            "install it (Debian/Ubuntu: apt-get install libcairo2; conda: conda install -c conda-forge cairo; "
            "macOS: brew install cairo)"
        ) from exc
    return cairosvg


def svg_to_pdf(svg: str) -> bytes:
    """Vector PDF of a standalone SVG (one page of the figure's size; fixed creation date)."""
    cairosvg = _cairosvg()

    pdf = cairosvg.svg2pdf(bytestring=svg.encode("utf-8"))
    # Same-length replacement: the cross-reference offsets stay valid.
    return re.sub(rb"/CreationDate \(D:\d{14}[^)]*\)", f"/CreationDate ({PDF_DATE})".encode(), pdf)


def svg_to_png(svg: str, dpi: int = PNG_DPI) -> bytes:
    """PNG of a standalone SVG at ``dpi`` (CSS pixels are 1/96 inch), white background,
    the resolution recorded in the file (pHYs)."""
    from PIL import Image

    raw = _cairosvg().svg2png(bytestring=svg.encode("utf-8"), scale=dpi / 96.0, background_color="white")
    img = Image.open(io.BytesIO(raw))
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(dpi, dpi), optimize=False)
    return buf.getvalue()


# ----------------------------------------------------------------------------- counts


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _count(x: Any) -> int | None:
    v = _num(x)
    return None if v is None else int(round(v))


def _hide(counts: Sequence[int | None], threshold: int | None, unpublished: Sequence[bool] | None = None,
          partition: bool = True) -> list[bool]:
    """Which of ``counts`` to hide (:func:`icu_cohort.report.disclosure.hide_row`).

    ``partition``: the counts are every part of one total a reader knows (a group's stays
    split by level, or into shown and ``unpublished`` derivable parts), which is their sum;
    else only small counts are hidden. A ``None`` (no such cell) voids the subtraction.
    Unpublished cells are never shown; their flags are dropped by the callers.
    """
    total = sum(c for c in counts if c is not None) if partition and None not in counts else None
    return list(hide_row(list(counts), total, threshold, unpublished).hidden)


def _hidden_text(count: int | None, threshold: int | None) -> str:
    """How a hidden count is shown: ``<11`` when it is small, else :data:`SUPPRESSED`."""
    if is_small(count, threshold):
        return SMALL.format(threshold=threshold)
    return SUPPRESSED


def _count_text(count: int | None, pct: float | None, hidden: bool, threshold: int | None) -> str:
    if count is None:
        return ""
    if hidden:
        return _hidden_text(count, threshold)
    return f"{count:,} ({pct:.1f})" if pct is not None else f"{count:,}"


def _footnotes(threshold: int | None) -> list[str]:
    if threshold is None:
        return ["Small-count suppression is switched off (report.small_count_threshold: null): "
                "for the credentialed team only, not for sharing."]
    return [f"{SMALL.format(threshold=threshold)}: a count from 1 to {threshold - 1}, not shown (MIMIC-IV data use "
            f"agreement); {SUPPRESSED}: not shown so that such a count cannot be derived by subtraction."]


# ----------------------------------------------------------------------------- Table 1


@dataclass(frozen=True)
class Layout:
    """A table as text cells: ``header`` rows, ``body`` rows, ``notes`` (one cell each), and
    ``merges`` -- (row, first column, last column) of header cells spanning columns."""

    header: list[list[str]]
    body: list[list[str]]
    notes: list[str]
    merges: list[tuple[int, int, int]]

    def rows(self) -> list[list[str]]:
        """Every row as written to the CSV (notes after one empty row, in the first column)."""
        width = len(self.header[0]) if self.header else 0
        out = [list(r) for r in self.header] + [list(r) for r in self.body]
        if self.notes:
            out.append([""] * width)
            out += [[n] + [""] * (width - 1) for n in self.notes]
        return out


def _stats_cells(r: Mapping[str, Any], side: str, threshold: int | None) -> tuple[str, str]:
    """``mean (SD)`` and ``median [Q1, Q3]`` of one group; not shown for a group of fewer
    than ``threshold`` stays with a value."""
    n = _count(r.get(f"{side}_n"))
    if n is None or n == 0:
        return "", ""
    if threshold is not None and n < threshold:
        return f"n {SMALL.format(threshold=threshold)}", f"n {SMALL.format(threshold=threshold)}"
    mean, sd = _num(r.get(f"{side}_mean")), _num(r.get(f"{side}_sd"))
    med, q1, q3 = (_num(r.get(f"{side}_{k}")) for k in ("median", "q1", "q3"))
    a = f"{fmt_num(mean)} ({fmt_num(sd)})" if mean is not None and sd is not None else (fmt_num(mean) if mean is not None else "")
    b = f"{fmt_num(med)} [{fmt_num(q1)}, {fmt_num(q3)}]" if None not in (med, q1, q3) else ""
    return a, b


def _smd_text(x: Any) -> str:
    v = _num(x)
    if v is None:
        return ""
    text = f"{v:.2f}"
    return "0.00" if text == "-0.00" else text


def table1_rows(
    table1: pd.DataFrame,
    threshold: int | None = 11,
    labels: Mapping[str, str] | None = None,
    group_labels: tuple[str, str] = GROUP_LABELS,
    hidden_sizes: Mapping[tuple[str, str], bool] | None = None,
) -> Layout:
    """Table 1 from ``table1.csv`` (:func:`icu_cohort.analysis.balance.table1`, long form) in
    a journal's layout.

    Columns: Characteristic; then for *before matching* and *after matching* each: treated
    ``n (%)`` or ``mean (SD)``, control, SMD (treated minus control, as ``balance.csv``).
    Rows: a continuous characteristic has a row ``mean (SD)`` and a row ``median [Q1, Q3]``;
    a binary one a row ``n (%)`` (stays with the value; % of stays with a value); a categorical
    one a heading row and one row per level; a row ``Missing, n`` follows wherever values are
    missing. The headers carry each group's number of stays.

    Suppression: the group sizes before and after matching together
    (:func:`icu_cohort.report.disclosure.hide_group_sizes`: treated + control, each group's
    matched + not matched, and the tie of 1:1 matched sizes), or, from :func:`write_exports`,
    the report's own decision (``hidden_sizes``: ``{(sample, group): hidden}``, which also
    knows the flow diagram, the numbers at risk and the matching ratio); every count cell as the report's
    Table 1 decides it (:func:`icu_cohort.report.tables.table1_suppression`: per group and
    variable, the cells before and after matching together, so neither a hidden count nor a
    count of stays not matched -- before minus after -- of 1 to ``threshold - 1`` can be
    derived). A binary count's percentage is left out when its missing count is hidden.
    """
    labels = labels or {}
    need = set(TABLE1.columns) | {f"{g}_{k}" for g in ("treated", "control") for k in ("n", "count", "pct", "n_missing")}
    absent = sorted(need - set(table1.columns))
    if absent:
        raise ExportError(f"{TABLE1.name}: missing column(s) {', '.join(absent)}")
    t1 = table1.copy()
    t1["sample"] = t1["sample"].astype(str).str.lower()
    t1["level"] = t1["level"].fillna("").astype(str)
    samples = ("before", "after")
    sides = ("treated", "control")

    # group sizes, with their suppression
    sizes: dict[tuple[str, str], int | None] = {}
    for s in samples:
        row = t1[(t1["sample"] == s) & (t1["kind"].astype(str) == "count")]
        for side in sides:
            sizes[(s, side)] = _count(row[f"{side}_n"].iloc[0]) if len(row) else None
    # every count of the table, and the group sizes: one decision for the report and the
    # exports (tables.table1_suppression: the sizes as one system, disclosure.hide_group_sizes;
    # before and after matching together, so the stays not matched cannot be read by
    # subtraction either)
    from .tables import table1_hidden_note, table1_suppression

    sup = table1_suppression(table1, threshold, hidden_sizes=dict(hidden_sizes or {}))
    size_hidden = {key: sup.size_hidden.get(key, False) for key in sizes}

    def size_text(s: str, side: str) -> str:
        n = sizes[(s, side)]
        if n is None:
            return ""
        return _hidden_text(n, threshold) if size_hidden[(s, side)] else f"{n:,}"

    header0 = ["", "Before matching", "", "", "After matching", "", ""]
    header1 = ["Characteristic"]
    for s in samples:
        for side, label in zip(sides, group_labels):
            header1.append(f"{label} (n = {size_text(s, side)})")
        header1.append("SMD")

    body: list[list[str]] = []
    data = t1[t1["kind"].astype(str) != "count"]
    order = list(dict.fromkeys(data["variable"].astype(str)))
    for var in order:
        rows = data[data["variable"].astype(str) == var]
        kind = str(rows["kind"].iloc[0])
        label = label_for(var, labels)
        by_sample = {s: rows[rows["sample"] == s] for s in samples}

        if kind == "categorical":
            levels = list(dict.fromkeys(rows["level"]))
            body.append([f"{label}, n (%)"] + [""] * 6)
            cells: dict[tuple[str, str], dict[str, str]] = {}
            for s in samples:
                sub = by_sample[s].set_index("level")
                for side in sides:
                    counts = [_count(sub.loc[lev, f"{side}_count"]) if lev in sub.index else None for lev in levels]
                    hidden = [sup.hidden(var, lev, s, side) for lev in levels]
                    cells[(s, side)] = {
                        lev: _count_text(c, _num(sub.loc[lev, f"{side}_pct"]) if lev in sub.index else None, h, threshold)
                        for lev, c, h in zip(levels, counts, hidden)
                    }
            for lev in levels:
                row = [f"    {lev}"]
                for s in samples:
                    sub = by_sample[s].set_index("level")
                    row += [cells[(s, "treated")][lev], cells[(s, "control")][lev],
                            _smd_text(sub.loc[lev, "smd"]) if lev in sub.index else ""]
                body.append(row)
            continue

        r = {s: (by_sample[s].iloc[0].to_dict() if len(by_sample[s]) else {}) for s in samples}
        missing = {(s, side): _count(r[s].get(f"{side}_n_missing")) for s in samples for side in sides}
        any_missing = any((m or 0) > 0 for m in missing.values())
        if kind in ("continuous", "score"):
            mean_row, med_row = [f"{label}, mean (SD)"], [f"{label}, median [Q1, Q3]"]
            miss_hidden = {}
            for s in samples:
                for side in sides:
                    a, b = _stats_cells(r[s], side, threshold)
                    mean_row.append(a)
                    med_row.append(b)
                    miss_hidden[(s, side)] = sup.hidden(var, "missing", s, side)
                mean_row.append(_smd_text(r[s].get("smd")))
                med_row.append("")
            body += [mean_row, med_row]
        else:  # binary
            row = [f"{label}, n (%)"]
            miss_hidden = {}
            for s in samples:
                for side in sides:
                    c = _count(r[s].get(f"{side}_count"))
                    h_c, h_m = sup.hidden(var, "count", s, side), sup.hidden(var, "missing", s, side)
                    miss_hidden[(s, side)] = h_m
                    # the percentage (of the stays with a value) would give a hidden missing count back
                    pct = None if h_m and missing[(s, side)] else _num(r[s].get(f"{side}_pct"))
                    row.append(_count_text(c, pct, h_c, threshold))
                row.append(_smd_text(r[s].get("smd")))
            body.append(row)
        if any_missing:
            row = ["    Missing, n"]
            for s in samples:
                for side in sides:
                    row.append(_count_text(missing[(s, side)], None, miss_hidden[(s, side)], threshold))
                row.append("")
            body.append(row)

    notes = ["Continuous characteristics: mean (SD) and median [Q1, Q3] of the stays with a value; "
             "n (%): stays, percent of the stays with a value. SMD: standardised mean difference, treated "
             "minus control, with the whole cohort's standard deviations before and after matching."]
    notes += _footnotes(threshold)
    if threshold is not None:
        notes.append(table1_hidden_note(threshold))
    return Layout([header0, header1], body, notes, [(0, 1, 3), (0, 4, 6)])


# ----------------------------------------------------------------------------- effects

#: The analyses of the effects table, in order: estimates.json key, its name, its sample.
ANALYSES = (
    ("cox_matched", "Cox proportional hazards, matched sample", "matched"),
    ("cox_multivariable", "Cox proportional hazards, whole cohort, adjusted for the covariates", "cohort"),
    ("iptw", "Cox proportional hazards, whole cohort, inverse probability of treatment weights", "cohort"),
)


def _get(d: Mapping[str, Any], path: str) -> Any:
    node: Any = d
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _sample_sizes(est: Mapping[str, Any], sample: str) -> tuple[int | None, int | None]:
    if sample == "cohort":
        return _count(est.get("n_treated")), _count(est.get("n_control"))
    m = est.get("matching") if isinstance(est.get("matching"), Mapping) else {}
    return _count(m.get("n_matched_treated")), _count(m.get("n_matched_control"))


Cell = tuple[str, str]  # (sample, side): ("cohort" | "matched", "treated" | "control")
CELLS: tuple[Cell, ...] = (("cohort", "treated"), ("cohort", "control"), ("matched", "treated"), ("matched", "control"))


def _primary_counts(estimates: Mapping[str, Any]) -> tuple[dict, dict, dict]:
    """Group sizes, deaths (the risk in ``mortality_28d`` times the size) and risks of the
    primary outcome, by :data:`CELLS`."""
    n: dict[Cell, int | None] = {}
    d: dict[Cell, int | None] = {}
    risk: dict[Cell, float | None] = {}
    for sample in ("cohort", "matched"):
        sizes = dict(zip(("treated", "control"), _sample_sizes(estimates, sample)))
        for side in ("treated", "control"):
            n[(sample, side)] = sizes[side]
            risk[(sample, side)] = _num(_get(estimates, f"mortality_28d.{sample}_{side}"))
            r, k = risk[(sample, side)], sizes[side]
            d[(sample, side)] = None if r is None or k is None else int(round(r * k))
    return n, d, risk


def _matching(estimates: Mapping[str, Any]) -> Mapping[str, Any]:
    m = estimates.get("matching")
    return m if isinstance(m, Mapping) else {}


def _effects_group_cells(estimates: Mapping[str, Any], threshold: int | None,
                         hidden_sizes: Mapping[Cell, bool] | None = None) -> dict[tuple[str, str], tuple[str, str]]:
    """``{(sample, side): (size text, deaths text)}`` for the cohort and the matched sample
    (the primary outcome; :func:`hide_group_cells`; ``hidden_sizes`` as the report decided
    them, ``{(sample, group): hidden}``, sample ``"cohort"`` / ``"matched"``)."""
    n, d, risk = _primary_counts(estimates)
    hide_n, hide_d = hide_group_cells(n, d, threshold, matching=_matching(estimates), hidden_sizes=hidden_sizes)
    out = {}
    for key in n:
        k, dd, r = n[key], d[key], risk[key]
        size = "" if k is None else (_hidden_text(k, threshold) if hide_n[key] else f"{k:,}")
        deaths = "" if dd is None else (_hidden_text(dd, threshold) if hide_n[key] or hide_d[key]
                                        else _count_text(dd, 100.0 * r, False, threshold))
        out[key] = (size, deaths)
    return out


def hide_group_cells(n: Mapping[Cell, int | None], d: Mapping[Cell, int | None], threshold: int | None, *,
                     matching: Mapping[str, Any] | None = None,
                     hidden_sizes: Mapping[Cell, bool] | None = None) -> tuple[dict[Cell, bool], dict[Cell, bool]]:
    """Which group sizes ``n`` and death counts ``d`` (by :data:`CELLS`) to hide.

    The rule (:func:`hide_row`) on every total a reader has: treated + control = the sample;
    deaths + survivors = a group; and, because both samples are shown, matched + not matched
    = a cohort group, for its stays, its deaths and its survivors -- a matched count is hidden
    when the not-matched part it would reveal (cohort minus matched) is small. The group sizes
    are decided together by :func:`icu_cohort.report.disclosure.hide_group_sizes` (with the
    tie of 1:1 / full k:1 matched sizes: ``matching`` is ``estimates.json["matching"]``, with
    the ratio and the number of sets), or as the report decided them (``hidden_sizes``).
    """
    hide_n: dict[tuple[str, str], bool] = {}
    hide_d: dict[tuple[str, str], bool] = {}
    m = matching or {}
    g_sizes = [n[("cohort", "treated")], n[("cohort", "control")]]
    m_sizes = [n[("matched", "treated")], n[("matched", "control")]]
    dec = hide_group_sizes(g_sizes, m_sizes if None not in m_sizes else None, None, threshold,
                           ratio=_count(m.get("ratio")), n_sets=_count(m.get("n_pairs")))
    for j, side in enumerate(("treated", "control")):
        hide_n[("cohort", side)] = dec.group[j] or bool((hidden_sizes or {}).get(("cohort", side)))
        hide_n[("matched", side)] = dec.matched[j] or bool((hidden_sizes or {}).get(("matched", side)))
    for sample in ("cohort", "matched"):
        for side in ("treated", "control"):
            k, dd = n[(sample, side)], d[(sample, side)]
            hide_d[(sample, side)] = dd is not None and (hide_n[(sample, side)] or _hide([dd, k - dd], threshold, [False, True])[0])
    cohort_n = None if None in (n[("cohort", "treated")], n[("cohort", "control")]) else \
        n[("cohort", "treated")] + n[("cohort", "control")]  # type: ignore[operator]
    for side in ("treated", "control"):
        nc, nm, dc, dm = n[("cohort", side)], n[("matched", side)], d[("cohort", side)], d[("matched", side)]
        if None in (nc, nm):
            continue
        if None in (dc, dm):
            continue
        # deaths and survivors (derivable) of the cohort and of the matched sample: one
        # before / after split, so the not-matched deaths and survivors stay unreadable too
        dec = hide_matched_split([dc, nc - dc], [dm, nm - dm], threshold, unpublished=[False, True],
                                 before_total_hidden=hide_n[("cohort", side)],
                                 after_total_hidden=hide_n[("matched", side)], cap=cohort_n)
        hide_d[("cohort", side)] |= dec.before[0]
        hide_d[("matched", side)] |= dec.after[0]
        hide_n[("cohort", side)] |= dec.before_total_hidden
        hide_n[("matched", side)] |= dec.after_total_hidden
    return hide_n, hide_d


# ----------------------------------------------------------------------------- secondary outcomes


@dataclass(frozen=True)
class SecondaryCells:
    """One secondary outcome's by-arm counts as a shared table may show them: ``n`` /
    ``deaths`` / ``risk`` by :data:`CELLS`, ``hide_n`` / ``hide_deaths`` their decisions (a
    hidden death count hides its percentage too), and ``hide_rd``: the matched risk
    difference is not shown (it is one matched risk minus the other, so with one of them
    shown it would give the hidden one)."""

    entry: Mapping[str, Any]
    n: dict[Cell, int | None]
    deaths: dict[Cell, int | None]
    risk: dict[Cell, float | None]
    hide_n: dict[Cell, bool]
    hide_deaths: dict[Cell, bool]
    hide_rd: bool

    def size_text(self, cell: Cell, threshold: int | None) -> str:
        k = self.n[cell]
        return "" if k is None else (_hidden_text(k, threshold) if self.hide_n[cell] else f"{k:,}")

    def deaths_text(self, cell: Cell, threshold: int | None) -> str:
        dd, r = self.deaths[cell], self.risk[cell]
        if dd is None:
            return ""
        if self.hide_n[cell] or self.hide_deaths[cell]:
            return _hidden_text(dd, threshold)
        return _count_text(dd, None if r is None else 100.0 * r, False, threshold)


def secondary_cells(estimates: Mapping[str, Any], threshold: int | None,
                    hidden_sizes: Mapping[Cell, bool] | None = None) -> list[SecondaryCells]:
    """The suppression decisions for every secondary outcome of ``estimates.json``
    (``secondary_outcomes``; empty list without), one rule with the primary outcome's:

    * within one outcome, :func:`hide_group_cells` (the sizes of a sample, each group's deaths
      with its survivors, cohort = matched + not matched);
    * a group size hidden for the primary outcome stays hidden (the same stays);
    * nested outcomes: deaths within H days and within another horizon (the primary's, another
      secondary one's) are counted in the same group, so their difference -- the deaths between
      the two horizons -- can be read off two shown counts; when it is 1 .. threshold-1, the
      secondary count is hidden (the primary's is shown elsewhere and stays; it is compared
      even where a table hides it), and a count so hidden is not compared further;
    * the matched risk difference is hidden when a matched death count is.
    """
    entries = [e for e in (estimates.get("secondary_outcomes") or []) if isinstance(e, Mapping)]
    if not entries:
        return []
    p_n, p_d, _ = _primary_counts(estimates)
    p_hide_n, _ = hide_group_cells(p_n, p_d, threshold, matching=_matching(estimates), hidden_sizes=hidden_sizes)
    # death counts of other horizons a reader may have, per cell: the primary's first (compared
    # even where one table hides it, as another part of the report may show it)
    shown: dict[Cell, list[int]] = {c: [p_d[c]] if p_d[c] is not None else [] for c in CELLS}
    out = []
    for e in entries:
        n = {c: _count(_get(e, f"n.{c[0]}_{c[1]}")) for c in CELLS}
        d = {c: _count(_get(e, f"deaths.{c[0]}_{c[1]}")) for c in CELLS}
        risk = {c: _num(_get(e, f"risk.{c[0]}_{c[1]}")) for c in CELLS}
        hide_n, hide_d = hide_group_cells(n, d, threshold, matching=_matching(estimates), hidden_sizes=hidden_sizes)
        for c in CELLS:
            hide_n[c] |= bool(p_hide_n.get(c))
            hide_d[c] |= hide_n[c]
        if e.get("kind") == "death_within" and threshold is not None:
            for c in CELLS:
                if d[c] is None or hide_d[c]:
                    continue
                if any(is_small(abs(d[c] - other), threshold) for other in shown[c]):
                    hide_d[c] = True
                else:
                    shown[c].append(d[c])
        hide_rd = hide_d[("matched", "treated")] or hide_d[("matched", "control")]
        out.append(SecondaryCells(e, n, d, risk, hide_n, hide_d, hide_rd))
    return out


def outcome_label(entry: Mapping[str, Any]) -> str:
    """``"Death within 28 days"``, ``"In-hospital death"``: a secondary outcome in words."""
    if entry.get("kind") == "in_hospital_death":
        return "In-hospital death"
    h = _num(entry.get("horizon_days"))
    return f"Death within {h:g} days" if h is not None else str(entry.get("name", ""))


def _pp(x: Any) -> str:
    v = _num(x)
    return "" if v is None else fmt_num(100.0 * v, 1)


def secondary_rows(estimates: Mapping[str, Any], threshold: int | None = 11,
                   group_labels: tuple[str, str] = GROUP_LABELS,
                   hidden_sizes: Mapping[Cell, bool] | None = None) -> Layout | None:
    """The secondary outcomes (``estimates.json["secondary_outcomes"]``) in a journal's layout,
    or None for a study without them: per outcome a row for the whole cohort and one for the
    matched sample, with the group sizes, the events by arm as ``n (%)``, and on the matched row
    the risk difference (percentage points, 95% CI) and the matched Cox hazard ratio (95% CI)
    and p. Suppression: :func:`secondary_cells`."""
    cells = secondary_cells(estimates, threshold, hidden_sizes)
    if not cells:
        return None
    tl, cl = (g.lower() for g in group_labels)
    header = [["Outcome", "Sample", f"{group_labels[0]}, n", f"{group_labels[1]}, n", f"Events, {tl}, n (%)",
               f"Events, {cl}, n (%)", "Risk difference, percentage points (95% CI)", "Hazard ratio (95% CI)", "p"]]
    body = []
    for sc in cells:
        e = sc.entry
        for sample in ("cohort", "matched"):
            row = [f"{outcome_label(e)} ({e.get('name')})", "matched" if sample == "matched" else "whole cohort"]
            row += [sc.size_text((sample, side), threshold) for side in ("treated", "control")]
            row += [sc.deaths_text((sample, side), threshold) for side in ("treated", "control")]
            if sample == "cohort":
                row += ["", "", ""]
            else:
                rd = e.get("risk_difference") if isinstance(e.get("risk_difference"), Mapping) else {}
                ci = rd.get("ci95") if isinstance(rd.get("ci95"), (list, tuple)) and len(rd.get("ci95")) == 2 else [None, None]
                if sc.hide_rd:
                    row.append(SUPPRESSED)
                elif _num(rd.get("rd")) is None:
                    row.append("")
                else:
                    row.append(f"{_pp(rd.get('rd'))} ({_pp(ci[0])} to {_pp(ci[1])})")
                cox = e.get("cox_matched") if isinstance(e.get("cox_matched"), Mapping) else {}
                row += _hr_cells(cox)
            body.append(row)
    notes = [f"Events: stays with the outcome, percent of the group's stays (weighted by the matching weights in the "
             f"matched sample). Risk difference: {tl} minus {cl}, matched sample, cluster-robust by matched set. "
             f"Hazard ratio: Cox model in the matched sample, {tl} versus {cl}, robust variance clustered on the matched "
             "set; not estimable when an arm has no events. Death within H days: from ICU admission, survivors "
             "censored at day H. In-hospital death: death before hospital discharge, censored at discharge."]
    notes += _footnotes(threshold)
    return Layout(header, body, notes, [])


def _hr_cells(res: Mapping[str, Any]) -> list[str]:
    """``[HR (95% CI), p]`` of a hazard-ratio dict, or ``["not estimable", ""]``."""
    hr = _num(res.get("hr"))
    ci = res.get("ci95") if isinstance(res.get("ci95"), (list, tuple)) else [None, None]
    lo, hi = (_num(ci[0]), _num(ci[1])) if len(ci) == 2 else (None, None)
    if hr is None or lo is None or hi is None or not all(math.isfinite(v) and v > 0 for v in (hr, lo, hi)):
        return ["not estimable", ""]
    return [fmt_ci(hr, lo, hi), fmt_p(res.get("p"))]


def effects_rows(estimates: Mapping[str, Any], threshold: int | None = 11,
                 group_labels: tuple[str, str] = GROUP_LABELS,
                 hidden_sizes: Mapping[tuple[str, str], bool] | None = None) -> Layout:
    """The effect estimates (``estimates.json``) in a journal's layout.

    One row per analysis (:data:`ANALYSES`, those present): its sample, the stays treated and
    control, the deaths by the horizon (day 28 or the study's) in each group as ``n (%)`` (the risk in ``mortality_28d``
    times the group size), the hazard ratio of treated versus control with its 95% CI, and p.
    A model without a finite hazard ratio shows "not estimable". Suppression
    (:func:`hide_row`): the two group sizes of a sample together; each group's deaths with
    its survivors (total = the group size); a matched size or death count whose difference
    from the cohort's (the stays, deaths or survivors not matched) is small
    (:func:`_effects_group_cells`, :func:`icu_cohort.report.disclosure.hide_matched_split`).
    """
    tl, cl = (g.lower() for g in group_labels)
    header = [["Analysis", "Sample", f"{group_labels[0]}, n", f"{group_labels[1]}, n",
               f"Deaths by day {horizon_days(estimates)}, {tl}, n (%)", f"Deaths by day {horizon_days(estimates)}, {cl}, n (%)",
               "Hazard ratio (95% CI)", "p"]]
    group_cells = _effects_group_cells(estimates, threshold, hidden_sizes)
    body = []
    for key, name, sample in ANALYSES:
        res = estimates.get(key)
        if not isinstance(res, Mapping):
            continue
        cells = [name, "matched" if sample == "matched" else "whole cohort"]
        cells += [group_cells[(sample, side)][0] for side in ("treated", "control")]
        cells += [group_cells[(sample, side)][1] for side in ("treated", "control")]
        cells += _hr_cells(res)
        body.append(cells)
    notes = [f"Hazard ratio of death within {horizon_days(estimates)} days of ICU admission, {tl} versus {cl}; "
             "below 1: lower hazard "
             "with treatment. Deaths: percent of the group's stays."]
    notes += _footnotes(threshold)
    return Layout(header, body, notes, [])


# ----------------------------------------------------------------------------- writing


def layout_csv(layout: Layout) -> str:
    """The layout as CSV text (UTF-8, comma, minimal quoting, ``\\n`` line ends)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows(layout.rows())
    return buf.getvalue()


def layout_xlsx(layout: Layout, sheet: str) -> bytes:
    """The layout as an Excel workbook: the CSV's cells as text in the same places, the group
    headers merged over their columns, header rows bold, column widths fitted."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side

    wb = Workbook()
    ws = wb.active
    ws.title = sheet[:31]
    rows = layout.rows()
    for r in rows:
        ws.append(list(r))
    bold = Font(bold=True)
    rule = Border(bottom=Side(style="thin"))
    for i in range(len(layout.header)):
        for cell in ws[i + 1]:
            cell.font = bold
            if i == len(layout.header) - 1:
                cell.border = rule
    for row, c0, c1 in layout.merges:
        ws.merge_cells(start_row=row + 1, start_column=c0 + 1, end_row=row + 1, end_column=c1 + 1)
        ws.cell(row=row + 1, column=c0 + 1).alignment = Alignment(horizontal="center")
    width = len(rows[0]) if rows else 0
    n_table = len(layout.header) + len(layout.body)
    for j in range(width):
        longest = max((len(r[j]) for r in rows[:n_table] if j < len(r)), default=8)
        ws.column_dimensions[_col(j)].width = min(max(10, longest + 2), 60)
    for r in range(len(layout.header) + 1, n_table + 1):
        for j in range(2, width + 1):
            ws.cell(row=r, column=j).alignment = Alignment(horizontal="right")
    wb.properties.creator = "icu-cohort"
    import datetime as _dt

    fixed = _dt.datetime(2000, 1, 1)
    wb.properties.created = wb.properties.modified = fixed
    buf = io.BytesIO()
    wb.save(buf)
    return _fixed_zip(buf.getvalue())


def _col(j: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(j + 1)


def _fixed_zip(data: bytes) -> bytes:
    """The same ZIP (XLSX) with fixed member dates (openpyxl stamps the time of writing) and
    the modified date in docProps/core.xml fixed (openpyxl sets it to now on save)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                              rb"\g<1>2000-01-01T00:00:00Z\g<3>", body)
            zi = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, body)
    return out.getvalue()


def read_xlsx_cells(path: str | Path) -> list[list[str]]:
    """Every row of the first sheet as text cells (empty cells as ``""``), for checks."""
    from openpyxl import load_workbook

    ws = load_workbook(path, read_only=True).worksheets[0]
    rows = [["" if v is None else str(v) for v in r] for r in ws.iter_rows(values_only=True)]
    return rows


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_exports(
    results_dir: str | Path,
    study: Mapping[str, Any],
    out_dir: str | Path | None = None,
    small_count_threshold: int | None = 11,
    report_html: str | Path | None = None,
) -> dict:
    """Write every export of one study (module docstring) into ``out_dir``, all or nothing.

    ``results_dir``: the study's results folder (``table1.csv``, ``estimates.json``, and the
    report, ``report.html`` unless ``report_html`` names another file). ``out_dir``: default
    ``results_dir/exports``; replaced as a whole when everything is written. Returns the
    manifest (also written as ``manifest.json``): ``{"figures": [{key, title, caption,
    files}], "tables": {...}, "files": {name: sha256}}``.
    """
    from icu_cohort.artifacts import REPORT, write_files

    from .inputs import load_results
    from .render import covariate_labels, shown_group_sizes

    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir / EXPORT_DIR
    threshold = None if small_count_threshold is None else int(small_count_threshold)
    html_path = Path(report_html) if report_html is not None else results_dir / REPORT.name
    for need in (html_path, results_dir / TABLE1.name, results_dir / ESTIMATES.name):
        if not need.is_file():
            raise ExportError(f"{need}: not found; the exports are made from the study's report, Table 1 and estimates")
    figures = report_figures(html_path.read_text(encoding="utf-8"))
    if not figures:
        raise ExportError(f"{html_path}: no figure found (expected <figure> elements holding SVG)")
    t1 = pd.read_csv(results_dir / TABLE1.name, keep_default_na=True)
    try:
        estimates = json.loads((results_dir / ESTIMATES.name).read_text())
    except json.JSONDecodeError as exc:
        raise ExportError(f"{results_dir / ESTIMATES.name}: not valid JSON ({exc})") from exc
    # the group sizes as the report decided them (flow, numbers at risk, matching ratio)
    sizes = shown_group_sizes(load_results(results_dir), study, threshold)
    by_sample = {("cohort" if s == "before" else "matched", g): h for (s, g), h in sizes.items()}
    tables = {
        TABLE1_STEM: table1_rows(t1, threshold, covariate_labels(study), hidden_sizes=sizes),
        EFFECTS_STEM: effects_rows(estimates, threshold, hidden_sizes=by_sample),
    }
    secondary = secondary_rows(estimates, threshold, hidden_sizes=by_sample)
    if secondary is not None:  # a study with secondary outcomes only
        tables[SECONDARY_STEM] = secondary

    writers: dict[str, Any] = {}
    fig_entries = []
    for fig in figures:
        files = {}
        for fmt in FIGURE_FORMATS:
            name = f"{fig.key}.{fmt}"
            files[fmt] = name
            if fmt == "svg":
                writers[name] = (lambda p, s=fig.svg: p.write_text(s, encoding="utf-8"))
            elif fmt == "pdf":
                writers[name] = (lambda p, s=fig.svg: p.write_bytes(svg_to_pdf(s)))
            else:
                writers[name] = (lambda p, s=fig.svg: p.write_bytes(svg_to_png(s)))
        fig_entries.append({"key": fig.key, "title": fig.title, "caption": fig.caption, "files": files})
    table_entries = {}
    for stem, layout in tables.items():
        writers[f"{stem}.csv"] = (lambda p, lay=layout: p.write_text(layout_csv(lay), encoding="utf-8"))
        writers[f"{stem}.xlsx"] = (lambda p, lay=layout, s=stem: p.write_bytes(layout_xlsx(lay, s)))
        table_entries[stem] = {fmt: f"{stem}.{fmt}" for fmt in TABLE_FORMATS}

    manifest: dict[str, Any] = {"study": study.get("name") or estimates.get("study"),
                                "small_count_threshold": threshold, "png_dpi": PNG_DPI,
                                "figures": fig_entries, "tables": table_entries}

    import shutil
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        written = write_files(tmp, writers)
        manifest["files"] = {name: _sha256(path) for name, path in sorted(written.items())}
        with atomic_path(tmp / MANIFEST) as p:
            p.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        old = out.with_name(f".{out.name}-old-{tmp.name}")
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return manifest


__all__ = [
    "EXPORT_DIR", "FIGURE_FORMATS", "TABLE_FORMATS", "PNG_DPI", "Figure", "Layout", "ExportError",
    "report_figures", "standalone_svg", "svg_to_pdf", "svg_to_png", "table1_rows", "effects_rows",
    "secondary_rows", "secondary_cells", "hide_group_cells", "outcome_label",
    "layout_csv", "layout_xlsx", "read_xlsx_cells", "write_exports",
]
