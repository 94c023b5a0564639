"""End to end: a report (and its exports) of a 1:1 matched study where exactly 5 treated
stays found no match. The not-matched count (5) must not be derivable from the counts the
report and the exports show: the matched treated n would be the cohort's treated n minus 5,
and with 1:1 matching the matched control n, the pairs, the numbers at risk at time 0 of
the matched sample and the Table 1 after-matching headers all equal it."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

try:
    from test_report_fixtures import make_results
except ImportError:  # pragma: no cover - tests collected as a package
    from .test_report_fixtures import make_results  # type: ignore[no-redef]

UNMATCHED = 5


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    from icu_cohort.report import exports, load_results, render_report

    results, study, prov = make_results(tmp_path_factory.mktemp("unmatched") / "results" / "sae_fixture",
                                        n_unmatched_treated=UNMATCHED)
    html = render_report(results, study, prov)
    (results / "report.html").write_text(html, encoding="utf-8")
    # PDF and PNG are the exported SVG converted by CairoSVG (tests/test_exports.py opens
    # them); here the SVG and the tables are read, so the slow conversion is skipped
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(exports, "svg_to_pdf", lambda svg: b"")
        mp.setattr(exports, "svg_to_png", lambda svg: b"")
        exports.write_exports(results, study, small_count_threshold=11)
    res = load_results(results)
    return results, html, res


def _visible(html: str) -> str:
    """The page's text (tags dropped), without the appendix (study definition and run
    provenance hold configuration values, not counts)."""
    body = html.split('id="definition"')[0] if 'id="definition"' in html else html
    body = re.sub(r"<style\b.*?</style>", " ", body, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


COUNT = re.compile(r"(?<![\d.,\-])(\d{1,3}(?:,\d{3})*|\d+)(?![\d.,]*\d)(?!\s*%)")


def _shown_totals(html: str, results: Path) -> set[int]:
    """Group-size counts shown: flow diagram counts, Table 1 and export headers ``n = X``,
    numbers at risk, the sentences of the summary and methods, the effects export's n."""
    out: set[int] = set()
    for svg in re.findall(r"<svg\b.*?</svg>", html, flags=re.S):
        if 'class="fig-svg flow' in svg or "Number at risk" in svg:
            for t in re.findall(r"<text\b[^>]*>(.*?)</text>", svg, flags=re.S):
                t = re.sub(r"<[^>]+>", "", t)
                out |= {int(m.replace(",", "")) for m in re.findall(r"(?<![\d.])\d[\d,]*(?![\d.])", t)}
    out |= {int(m.replace(",", "")) for m in re.findall(r"n = ([\d,]+)", _visible(html))}
    for m in re.finditer(r"formed\s+(?:<strong>)?([\d,]+)", html):
        out.add(int(m.group(1).replace(",", "")))
    exp = results / "exports"
    for name in ("table1.csv", "effects.csv"):
        rows = list(csv.reader(io.StringIO((exp / name).read_text(encoding="utf-8"))))
        for row in rows:
            for cell in row:
                out |= {int(m.replace(",", "")) for m in re.findall(r"n = ([\d,]+)", cell)}
        if name == "effects.csv":
            for row in rows[1:]:
                for cell in row[2:4]:
                    if re.fullmatch(r"[\d,]+", cell):
                        out.add(int(cell.replace(",", "")))
    return out


def test_the_fixture_has_five_unmatched_treated(run) -> None:
    results, _html, res = run
    n_t = res.group_sizes[("before", "treated")]
    assert n_t - res.group_sizes[("after", "treated")] == UNMATCHED
    assert res.group_sizes[("after", "treated")] == res.group_sizes[("after", "control")]  # 1:1


def test_no_two_shown_totals_differ_by_the_unmatched_count(run) -> None:
    results, html, res = run
    shown = _shown_totals(html, results)
    n_t, n_c = res.group_sizes[("before", "treated")], res.group_sizes[("before", "control")]
    assert {n_t, n_c, n_t + n_c} <= shown  # the cohort's sizes are still shown
    pairs = [(a, b) for a in shown for b in shown if a - b == UNMATCHED]
    assert not pairs, f"shown totals differ by {UNMATCHED}: {pairs}"


def test_the_matched_size_is_shown_nowhere(run) -> None:
    """The matched n (= pairs = matched control n) appears in no count of the report's visible
    text, no figure and no exported table."""
    results, html, res = run
    m = res.group_sizes[("after", "treated")]
    text = _visible(html)
    assert not re.search(rf"(?<![\d.,]){m}(?![\d.,]*\d)", text), "the matched n is in the report's text"
    for name in ("table1.csv", "effects.csv"):
        cells = [c for row in csv.reader(io.StringIO((results / "exports" / name).read_text())) for c in row]
        assert not any(re.search(rf"(?<![\d.,]){m}(?![\d.,]*\d)", c) for c in cells), name
    for svg in (results / "exports").glob("*.svg"):
        texts = [re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<text\b[^>]*>(.*?)</text>", svg.read_text(), flags=re.S)]
        assert str(m) not in texts, svg.name


def test_the_not_matched_treated_show_as_small(run) -> None:
    _results, html, _res = run
    flow = next(svg for svg in re.findall(r"<svg\b.*?</svg>", html, flags=re.S) if 'class="fig-svg flow' in svg)
    texts = [re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<text\b[^>]*>(.*?)</text>", flow, flags=re.S)]
    assert any("&lt;11" in t for t in texts) and not any(re.search(rf"\b{UNMATCHED}\b", t) for t in texts)
