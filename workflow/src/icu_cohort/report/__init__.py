"""The study's self-contained HTML report (``results/<study>/report.html``).

Entry points:

* :func:`write_report` -- render and write the report atomically;
* :func:`render_report` -- the same page as a string;
* :func:`~icu_cohort.report.provenance.collect_provenance` -- the provenance dict
  (data source, software versions, git commit, run time, stage timings) the report shows.

The page is one file: CSS and figures (SVG) inline, system fonts, no script, no request to
any network address. It holds aggregates only; counts from 1 to ``threshold - 1`` are shown
as ``<threshold`` (default ``<11``), and counts that would let a hidden one be recovered by
subtraction as ``hidden`` (the rule and its complementary suppression:
:mod:`icu_cohort.report.disclosure`, which the manuscript exports import too). Section builders (``attrition_svg``, ``love_plot_svg``,
``km_plot_svg``, ``forest_plot_svg``, ``ps_histogram_svg``, ``table1_html``,
``suppress_count``...) are pure functions, exported for tests and reuse.
"""

from __future__ import annotations

from .figures import (
    attrition_svg,
    effects_plot_svg,
    forest_plot_svg,
    km_plot_svg,
    love_plot_svg,
    ps_histogram_svg,
)
from .format import suppress_count
from .inputs import ReportInputError, load_results
from .provenance import collect_provenance
from .render import SECTIONS, render_report, write_report
from .tables import balance_table_html, table1_html

__all__ = [
    "write_report",
    "render_report",
    "collect_provenance",
    "load_results",
    "ReportInputError",
    "SECTIONS",
    "suppress_count",
    "attrition_svg",
    "love_plot_svg",
    "ps_histogram_svg",
    "km_plot_svg",
    "forest_plot_svg",
    "effects_plot_svg",
    "table1_html",
    "balance_table_html",
]
