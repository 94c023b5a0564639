"""The study report: small-count suppression, privacy, no network references, determinism,
every section present, tolerant and strict reading, provenance.

All inputs are hand-built (tests/test_report_fixtures.py); no pipeline run is needed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from icu_cohort.report import (
    SECTIONS,
    ReportInputError,
    attrition_svg,
    collect_provenance,
    forest_plot_svg,
    km_plot_svg,
    load_results,
    love_plot_svg,
    ps_histogram_svg,
    render_report,
    suppress_count,
    table1_html,
    write_report,
)

try:
    from test_report_fixtures import EXCLUDED_SMALL, HADM_IDS, REPO_ROOT, STAY_IDS, SUBJECT_IDS, make_results
except ImportError:  # pragma: no cover - tests collected as a package
    from .test_report_fixtures import (  # type: ignore[no-redef]
        EXCLUDED_SMALL,
        HADM_IDS,
        REPO_ROOT,
        STAY_IDS,
        SUBJECT_IDS,
        make_results,
    )


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    return make_results(tmp_path_factory.mktemp("report") / "results" / "sae_fixture")


@pytest.fixture(scope="module")
def html(fixture_dir: tuple[Path, dict, dict]) -> str:
    results, study, prov = fixture_dir
    return render_report(results, study, prov)


def svg_texts(svg: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<text\b[^>]*>(.*?)</text>", svg, flags=re.S)]


def svg_count_texts(svg: str) -> list[str]:
    """Texts the figures mark as counts of stays: ``<text class="count">`` (hand-built) and
    ``<g class="count"><text>`` (matplotlib artists drawn with gid="count-...")."""
    out = re.findall(r'<text\b[^>]*class="count"[^>]*>(.*?)</text>', svg, flags=re.S)
    out += re.findall(r'<g class="count">\s*<text\b[^>]*>(.*?)</text>', svg, flags=re.S)
    return [re.sub(r"<[^>]+>", "", t) for t in out]


SMALL_COUNT = re.compile(r"(?<![\d.,])(?:[1-9]|10)(?![\d.,%])")


def small_counts(texts: list[str]) -> list[str]:
    """Count texts holding a whole number 1..10 (``n = 7``, ``8 / 2``, ``9``)."""
    return [t for t in texts if SMALL_COUNT.search(t.replace("&lt;11", ""))]


# ----------------------------------------------------------------------------- suppression


@pytest.mark.parametrize("n", range(1, 11))
def test_counts_1_to_10_are_shown_as_less_than_11(n: int) -> None:
    assert suppress_count(n) == "<11"
    assert suppress_count(float(n)) == "<11"
    assert suppress_count(str(n)) == "<11"


@pytest.mark.parametrize("n, shown", [(0, "0"), (11, "11"), (12, "12"), (1234, "1,234"), (None, "\u2013")])
def test_zero_and_counts_from_11_are_shown(n: object, shown: str) -> None:
    assert suppress_count(n) == shown


def test_threshold_none_disables_and_other_thresholds_work() -> None:
    assert suppress_count(7, None) == "7"
    assert suppress_count(4, 5) == "<5"
    assert suppress_count(5, 5) == "5"
    assert suppress_count(float("nan")) == "\u2013"


def test_attrition_box_with_7_excluded_never_shows_7(fixture_dir: tuple[Path, dict, dict]) -> None:
    att = pd.read_csv(fixture_dir[0] / "attrition.csv")
    assert EXCLUDED_SMALL in set(att["n_excluded"])
    svg = attrition_svg(att, 11)
    texts = svg_texts(svg)
    lone_seven = re.compile(r"(?<![\d,.])7(?![\d,.])")
    assert not [t for t in texts if lone_seven.search(t)], texts
    assert "n = &lt;11" in svg
    # 9,210 - 9,203 would give the 7, and 9,203 - 8,603 = 600 would give 9,203 back: both
    # are hidden; every other count is exact
    assert "n = 9,203" not in svg and "n = 8,603" not in svg and svg.count("n = hidden") == 2
    assert "n = 22,261" in svg and "n = 9,210" in svg and "n = 73,181" in svg and "n = 600" in svg
    # what is shown leaves the 7 anywhere in 1..10 (the remaining 9,210 and 600 give 8,610 for both)
    shown = [int(t.split("= ")[1].replace(",", "")) for t in texts if t.startswith("n = ") and t[4:5].isdigit()]
    assert 9210 in shown and 600 in shown and 9203 not in shown
    # without suppression the same box says 7: the check above is not vacuous
    assert "n = 7" in svg_texts(attrition_svg(att, None))


def test_report_suppresses_small_counts_everywhere(html: str) -> None:
    # attrition (7), at-risk (9), subgroup (8 / 2 / 5), Table 1 (4, 6, 5), other estimates (6)
    assert "&lt;11" in html
    flow = html[html.index('id="cohort"'):html.index('id="matching"')]
    assert not re.search(r"n = 7\b", flow)
    assert not re.search(r">\s*7\s*<", flow)
    km = html[html.index('id="survival"'):html.index('id="effects"')]
    assert not re.search(r">\s*9\s*<", km), "a small number at risk is printed"
    sub = html[html.index('id="subgroups"'):html.index('id="other"')]
    forest = sub[sub.index("<svg"):sub.index("</svg>")]
    for small in (">8 / 2<", ">8<", ">2<", ">5<"):
        assert small not in forest
    assert "&lt;11 / &lt;11" in forest
    other = html[html.index('id="other"'):html.index('id="provenance"')]
    assert "small_group_size" in other and not re.search(r">\s*6\s*<", other)


def test_report_without_suppression_shows_small_counts(fixture_dir: tuple[Path, dict, dict]) -> None:
    results, study, prov = fixture_dir
    page = render_report(results, study, prov, small_count_threshold=None)
    assert "n = 7" in page
    assert "switched off" in page


def test_table1_suppression(fixture_dir: tuple[Path, dict, dict]) -> None:
    t1 = pd.read_csv(fixture_dir[0] / "table1.csv")
    out = table1_html(t1, 11, labels={"ventilation": "Mechanical ventilation"})
    rows = re.findall(r"<tr[^>]*>.*?</tr>", out, flags=re.S)
    vent = next(r for r in rows if "Mechanical ventilation" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", vent)
    # after matching: treated count 4 -> <11, control 113 of 116 (complement 3, derivable) -> hidden
    assert cells[3] == "&lt;11" and "hidden" in cells[4] and "113" not in cells[4], cells
    asian = next(r for r in rows if ">Asian<" in r)
    assert ">6" not in asian and "&lt;11" in asian
    # before matching the control levels and missing (267 + 66 + 33 + 14 + 7) leave 31 stays
    # unaccounted for (of 418), so the hidden 7 cannot be derived and 14 stays shown
    assert "14 (3.3%)" in asian
    assert "n = 182" in out and "n = 116" in out
    assert ">N<" not in out and "N, mean" not in out  # the group-size row feeds the header only
    race_missing = [r for r in rows if 'class="level missing"' in r and ">Missing<" in r]
    assert race_missing and not re.search(r">\s*[57]\s*<", race_missing[0])


def _t1_row(sample, variable, level, kind, tr, co):
    r = {"sample": sample, "variable": variable, "level": level, "kind": kind, "smd": 0.1}
    for side, vals in (("treated", tr), ("control", co)):
        for f in ("n", "mean", "sd", "median", "q1", "q3", "count", "pct", "n_missing"):
            r[f"{side}_{f}"] = vals.get(f, float("nan"))
    return r


def test_table1_complementary_suppression_when_levels_add_up() -> None:
    """Levels + missing = n: a lone small cell would be n minus the others; the next smallest
    positive cell is hidden, and what is shown leaves the small one undetermined."""
    from icu_cohort.report.disclosure import row_ranges

    rows = [_t1_row("before", "N", None, "count", {"n": 200}, {"n": 100})]
    tr = [("A", 120), ("B", 50), ("C", 25), ("D", 5)]  # + missing 0 = 200
    co = [("A", 60), ("B", 25), ("C", 15), ("D", 0)]  # + missing 0 = 100
    for (lev, ct), (_, cc) in zip(tr, co):
        rows.append(_t1_row("before", "race", lev, "categorical",
                            {"n": 200, "count": ct, "pct": ct / 2, "n_missing": 0},
                            {"n": 100, "count": cc, "pct": cc, "n_missing": 0}))
    # binary: 195 of 200 with the characteristic, so 5 without it (derivable): 195 is hidden
    rows.append(_t1_row("before", "ventilation", "1", "binary", {"n": 200, "count": 195, "pct": 97.5, "n_missing": 0},
                        {"n": 100, "count": 50, "pct": 50.0, "n_missing": 0}))
    # continuous with 4 missing of 200: the 4 is hidden; the 196 with a value are not shown
    rows.append(_t1_row("before", "lactate", None, "continuous",
                        {"n": 200, "mean": 2.0, "sd": 1.0, "median": 1.8, "q1": 1.2, "q3": 2.5, "n_missing": 4},
                        {"n": 100, "mean": 2.1, "sd": 1.1, "median": 1.9, "q1": 1.3, "q3": 2.6, "n_missing": 0}))
    out = table1_html(pd.DataFrame(rows), 11)
    body = re.findall(r"<tr[^>]*>.*?</tr>", out, flags=re.S)

    def cells(label: str) -> list[str]:
        r = next(r for r in body if f">{label}<" in r or f">{label}," in r)
        return re.findall(r"<td[^>]*>(.*?)</td>", r)

    assert cells("D")[0] == "&lt;11" and "hidden" in cells("C")[0] and "25" not in cells("C")[0]
    assert cells("A")[0].startswith("120") and cells("B")[0].startswith("50")
    assert cells("D")[1].startswith("0") and cells("C")[1].startswith("15")  # control: nothing small
    # the reader's view of the treated column: D in 1..10, C hidden (>= 11), 120 + 50 shown, n 200
    ranges = row_ranges([120, 50, 25, 5], [False, False, True, True], 200, 11)
    assert ranges[3][0] < ranges[3][1]
    vent = cells("Mechanical ventilation") if any("Mechanical ventilation" in r for r in body) else cells("Ventilation")
    assert "hidden" in vent[0] and "195" not in vent[0] and vent[1].startswith("50")
    missing = [r for r in body if 'class="level missing"' in r]
    assert missing and "&lt;11" in missing[-1] and not re.search(r">\s*4\s*<", missing[-1])


def test_km_numbers_at_risk_suppressed(fixture_dir: tuple[Path, dict, dict]) -> None:
    km = pd.read_csv(fixture_dir[0] / "km.csv")
    risk = pd.read_csv(fixture_dir[0] / "km_at_risk.csv")
    svg = km_plot_svg(km[km["sample"] == "matched"], risk[risk["sample"] == "matched"], 11, title="Matched",
                      logrank_p=0.031)
    texts = svg_texts(svg)
    assert "&lt;11" in texts and "9" not in texts
    assert "Number at risk" in texts and "Log-rank p = 0.031" in texts
    assert "116" in texts


def test_forest_plot_counts_and_interaction(fixture_dir: tuple[Path, dict, dict]) -> None:
    sg = pd.read_csv(fixture_dir[0] / "subgroups.csv")
    svg = forest_plot_svg(sg, 11, overall={"label": "Overall", "hr": 0.79, "lo": 0.63, "hi": 0.98})
    texts = svg_texts(svg)
    assert "&lt;11 / &lt;11" in texts and "8 / 2" not in texts and "2" not in texts
    assert "0.41" in texts and "0.85" in texts  # interaction p-values
    assert "not estimable\u2020" in texts
    assert "0.72 (0.50\u20131.04)" in texts


def test_subgroup_with_a_non_estimable_level_shows_no_interaction_p() -> None:
    """The issue's case: a level with no events in one arm (HR empty) next to an interaction
    p-value < 0.001 from a model that is not identified: neither is shown; the other
    subgroup keeps its p-value; counts over the levels are suppressed as one total."""
    sg = pd.DataFrame({
        "subgroup": ["Vasopressors", "Vasopressors", "Sex", "Sex"],
        "level": ["no", "yes", "female", "male"],
        "n": [69, 5, 35, 39], "n_treated": [35, 2, 16, 21], "n_control": [34, 3, 19, 18],
        "events": [12, 1, 7, 6],
        "hr": [0.9997, float("nan"), 0.914, 0.855], "ci_low": [0.32, float("nan"), 0.22, 0.17],
        "ci_high": [3.10, float("nan"), 3.79, 4.28], "p": [0.9996, float("nan"), 0.90, 0.85],
        "p_interaction": [1.8e-30, 1.8e-30, 0.982, 0.982],
    })
    texts = svg_texts(forest_plot_svg(sg, 11))
    assert "<0.001" not in texts and "\u2013\u2020" in texts
    assert "0.98" in texts
    assert "not estimable\u2020" in texts and "1.00 (0.32\u20133.10)" in texts
    # treated 35 + 2 = 37: the 2 is small, so the 35 is hidden too (37 is the matched n)
    assert "hidden / hidden" in texts and "35 / 34" not in texts
    # events 12 + 1 and 7 + 6 = 13: all small or complements of small ones
    counts = svg_count_texts(forest_plot_svg(sg, 11))
    assert len(counts) == 8 and small_counts(counts) == [], counts
    assert small_counts(svg_count_texts(forest_plot_svg(sg, None)))  # not vacuous


def test_estimable_rule() -> None:
    from icu_cohort.report.format import is_estimable

    assert is_estimable(0.8, 0.6, 1.1)
    assert not is_estimable(float("nan"), 0.6, 1.1)
    assert not is_estimable(0.8, 0.0, 1.1)
    assert not is_estimable(0.8, 0.6, float("inf"))
    assert not is_estimable(None, None, None)
    assert not is_estimable(1.2, 1.3, 2.0)  # an interval that does not hold its estimate


def test_ps_histogram_hides_small_bins(fixture_dir: tuple[Path, dict, dict]) -> None:
    res = load_results(fixture_dir[0])
    assert res.ps_hist is not None
    svg = ps_histogram_svg(res.ps_hist, 11)
    assert "hatch" in svg or "pattern" in svg
    assert "n = 182" in " ".join(svg_texts(svg))
    assert "not to scale" in svg


def test_love_plot_has_every_covariate_and_the_line(fixture_dir: tuple[Path, dict, dict]) -> None:
    bal = pd.read_csv(fixture_dir[0] / "balance.csv")
    svg = love_plot_svg(bal, {"age": "Age, years"})
    texts = svg_texts(svg)
    assert "Age, years" in texts and "GCS" in texts and "Heart rate" in texts
    assert "Race: OTHER" in texts and "Lactate: missing" in texts
    assert "Propensity score" not in texts and "ps" not in texts  # the score row is not a covariate
    assert "Before matching" in texts and "After matching" in texts
    assert any(t.strip() == "0.1" for t in texts)


def test_mortality_implying_a_small_death_count_is_hidden(tmp_path: Path) -> None:
    results, study, prov = make_results(tmp_path / "r")
    est = json.loads((results / "estimates.json").read_text())
    est["mortality_28d"]["matched_treated"] = 0.05  # 5.8 deaths of 116
    (results / "estimates.json").write_text(json.dumps(est))
    page = render_report(results, study, prov)
    surv = page[page.index('id="survival"'):page.index('id="effects"')]
    assert "&lt;11 deaths" in surv and "5.0%" not in page
    # the matched risk difference is the treated risk minus the control risk, which is shown:
    # with it, the hidden treated risk (and its deaths) would come back
    eff = page[page.index('id="effects"'):]
    rd_sentence = eff[eff.index("<strong>Risk difference</strong>"):]
    rd_sentence = rd_sentence[:rd_sentence.index("</p>")]
    assert "hidden" in rd_sentence and "4.7" not in rd_sentence and "percentage points" not in rd_sentence


def test_risk_difference_names_the_horizon_and_shows_when_risks_are_shown(tmp_path: Path) -> None:
    results, study, prov = make_results(tmp_path / "r")
    est = json.loads((results / "estimates.json").read_text())
    est["mortality_28d"]["horizon_days"] = 90
    (results / "estimates.json").write_text(json.dumps(est))
    page = render_report(results, study, prov)
    eff = page[page.index('id="effects"'):]
    rd_sentence = eff[eff.index("<strong>Risk difference</strong>"):]
    rd_sentence = rd_sentence[:rd_sentence.index("</p>")]
    assert "death by day 90" in rd_sentence and "\u22124.7 percentage points" in rd_sentence, rd_sentence


# ----------------------------------------------------------------------------- privacy and network


def test_no_identifiers_or_row_level_data(html: str) -> None:
    low = html.lower()
    for name in ("subject_id", "hadm_id", "stay_id", "pair_id"):
        assert name not in low, name
    tokens = set(re.findall(r"\d+", html))
    for ids in (STAY_IDS, SUBJECT_IDS, HADM_IDS):
        leaked = [i for i in ids if str(i) in tokens]
        assert not leaked, leaked[:5]


RESOURCE_PATTERNS = [
    re.compile(r"""\b(?:src|href|xlink:href|srcset|poster|data|action|formaction|background|manifest|ping)\s*=\s*["']?\s*(?!#|data:)([^"'\s>]+)""", re.I),
    re.compile(r"""url\(\s*["']?\s*(?!#|data:)([^"')\s]+)""", re.I),
    re.compile(r"""@import\s+(?:url\()?\s*["']?([^"')\s;]+)""", re.I),
]


def resource_references(page: str) -> list[str]:
    """Every URL the page could load: attributes that fetch, CSS url() and @import."""
    found = []
    for pat in RESOURCE_PATTERNS:
        found += pat.findall(page)
    return found


def test_no_network_resource_references(html: str) -> None:
    refs = resource_references(html)
    assert refs == [], refs
    assert "<script" not in html.lower()
    assert "<iframe" not in html.lower() and "<img" not in html.lower()
    # The only http(s) strings are SVG namespace declarations, which are names, not requests.
    without_ns = re.sub(r'\sxmlns(?::\w+)?="http://www\.w3\.org/[^"]*"', "", html)
    assert "http://" not in without_ns and "https://" not in without_ns
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_resource_check_catches_references() -> None:
    bad = ('<img src="https://x.org/a.png"><link href="http://cdn/x.css"><div style="background:url(https://f/x)">'
           '<style>@import "https://fonts/x.css";</style><use xlink:href="http://e/s.svg#a"/>')
    assert len(resource_references(bad)) == 5
    good = '<a href="#summary">s</a><use xlink:href="#m1"/><path clip-path="url(#p1)"/><link rel="icon" href="data:,">'
    assert resource_references(good) == []


def test_urls_in_the_configuration_stay_text(fixture_dir: tuple[Path, dict, dict]) -> None:
    results, study, prov = fixture_dir
    study = dict(study, reference="Gu W-J et al., https://doi.org/10.1016/j.bja.2023.08.005")
    page = render_report(results, study, prov)
    assert resource_references(page) == []
    assert "https://doi.org/10.1016/j.bja.2023.08.005" in page  # shown, not linked


# ----------------------------------------------------------------------------- structure


def test_every_section_present(html: str) -> None:
    for sid, title in SECTIONS:
        assert f'<section id="{sid}"' in html, sid
        assert f"{title}</h2>" in html
    for needle in (
        "Flow of ICU stays",  # CONSORT diagram
        "Love plot",
        "Propensity-score distributions",
        "Kaplan-Meier",
        "Number at risk",
        "Log-rank",
        "Forest plot of subgroup hazard ratios",
        "Table 1",
        "Proportional-hazards diagnostics",
        "E-value",
        "ATT",
        "caliper of 0.20 standard deviations",
        "rmst_difference_days",  # unknown estimates key, shown generically
        "Git commit",
        "Random seed",
        "1 min 14 s",  # stage time from the benchmark TSV
        "MIMIC-IV version",
        "duckdb",
        "age_min: 18",  # the configuration as YAML
        "Analysis options as run",
        "Risk difference",
        "whole cohort p = 0.012",  # log-rank, cohort
        "Propensity-score model",
    ):
        assert needle in html, needle
    assert html.count("<svg") >= 7


def test_html_is_well_formed_and_svg_ids_unique(html: str) -> None:
    void = {"meta", "link", "br", "hr", "img", "input", "col", "wbr", "source"}

    class Checker(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[str] = []
            self.errors: list[str] = []

        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag not in void:
                self.stack.append(tag)

        def handle_startendtag(self, tag: str, attrs: list) -> None:
            pass

        def handle_endtag(self, tag: str) -> None:
            if not self.stack or self.stack[-1] != tag:
                self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            else:
                self.stack.pop()

    c = Checker()
    c.feed(html)
    assert c.errors[:5] == [] and c.stack == []
    ids = re.findall(r'\sid="([^"]+)"', html)
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, dupes[:10]
    referenced = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', html))
    assert referenced <= set(ids), sorted(referenced - set(ids))[:10]


def test_render_is_deterministic(fixture_dir: tuple[Path, dict, dict], html: str, tmp_path: Path) -> None:
    results, study, prov = fixture_dir
    assert render_report(results, study, prov) == html
    a, b = tmp_path / "a" / "report.html", tmp_path / "b.html"
    write_report(results, study, prov, a)
    write_report(results, study, prov, b)
    assert a.read_bytes() == b.read_bytes() == html.encode("utf-8")


def test_render_is_deterministic_across_processes(fixture_dir: tuple[Path, dict, dict], html: str, tmp_path: Path) -> None:
    results, study, prov = fixture_dir
    (tmp_path / "study.json").write_text(json.dumps(study))
    (tmp_path / "prov.json").write_text(json.dumps(prov))
    code = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from icu_cohort.report import write_report
        write_report(Path({str(results)!r}), json.loads(Path({str(tmp_path / 'study.json')!r}).read_text()),
                     json.loads(Path({str(tmp_path / 'prov.json')!r}).read_text()), Path({str(tmp_path / 'out.html')!r}))
    """)
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    assert (tmp_path / "out.html").read_text(encoding="utf-8") == html


def test_write_report_is_atomic_and_leaves_no_temp_files(fixture_dir: tuple[Path, dict, dict], tmp_path: Path) -> None:
    results, study, prov = fixture_dir
    out = tmp_path / "deep" / "report.html"
    out.parent.mkdir()
    out.write_text("old")
    write_report(results, study, prov, out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_print_css_has_page_breaks(html: str) -> None:
    assert "@media print" in html and "break-before: page" in html and "@page" in html


# ----------------------------------------------------------------------------- reading


def test_missing_optional_files_are_reported_not_fatal(tmp_path: Path) -> None:
    results, study, prov = make_results(tmp_path / "r", with_optional=False)
    page = render_report(results, study, prov)
    for name in ("subgroups.csv", "ph_test.csv", "cox_multivariable.csv", "ps_summary.csv"):
        assert f"<code>{name}</code> was not produced" in page
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}"' in page


def test_wrong_columns_stop_the_report_naming_file_and_column(tmp_path: Path) -> None:
    results, study, prov = make_results(tmp_path / "r")
    pd.read_csv(results / "attrition.csv").drop(columns=["n_excluded"]).to_csv(results / "attrition.csv", index=False)
    with pytest.raises(ReportInputError, match=r"attrition\.csv.*n_excluded"):
        render_report(results, study, prov)


def test_unknown_and_odd_estimates_do_not_crash(tmp_path: Path) -> None:
    results, study, prov = make_results(tmp_path / "r")
    est = json.loads((results / "estimates.json").read_text())
    est["bootstrap"] = {"replicates": list(range(500)), "n_failed": 3, "method": "percentile", "ok": True}
    est["cox_matched"]["robust_se"] = 0.112
    est["km"]["median_followup"] = None
    (results / "estimates.json").write_text(json.dumps(est))
    page = render_report(results, study, prov)
    other = page[page.index('id="other"'):page.index('id="provenance"')]
    assert "bootstrap.replicates" in other and "(list of 500 values)" in other
    assert "bootstrap.n_failed" in other and not re.search(r">\s*3\s*<", other)
    assert "km.median_followup" in other
    assert "cox_matched.robust_se" in other and "0.112" in other


def test_renders_with_the_projects_study_configuration(fixture_dir: tuple[Path, dict, dict]) -> None:
    yaml = pytest.importorskip("yaml")
    studies = sorted((REPO_ROOT / "config" / "studies").glob("*.yaml"))
    if not studies:
        pytest.skip("no study configuration in config/studies")
    results, _study, prov = fixture_dir
    from icu_cohort.study import load_study

    for path in studies:
        study = load_study(path.stem, path.parent)
        page = render_report(results, study, prov)
        assert study["title"].split()[0] in page
        assert resource_references(page) == []


# ----------------------------------------------------------------------------- provenance


def test_collect_provenance(tmp_path: Path) -> None:
    bench = tmp_path / "analysis_x.tsv"
    bench.write_text("s\th:m:s\tmax_rss\n10.0\t0:00:10\t100.5\n14.0\t0:00:14\t120.0\n")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"source": "/physionet/mimiciv/3.1/", "kind": "mimic", "mimic_version": None,
                                    "tables": [{"file": "hosp/patients.csv.gz", "size_bytes": 10, "mtime": 0,
                                                "sha256": None}]}))
    prov = collect_provenance(manifest, [bench, tmp_path / "absent.tsv"], REPO_ROOT)
    assert prov["data"]["mimic_version"] == "3.1"
    assert prov["data"]["tables"][0]["mtime"] == "1970-01-01T00:00:00+00:00"
    assert prov["stages"][0] == {"stage": "analysis_x", "file": str(bench), "seconds": 12.0, "max_rss_mb": 120.0}
    assert prov["stages"][1]["seconds"] is None
    sw = prov["software"]
    for name in ("python", "duckdb", "pandas", "numpy", "scikit-learn", "lifelines", "psmpy", "snakemake", "icu-cohort"):
        assert name in sw
    git = prov["git"]
    if (REPO_ROOT / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}", git["commit"]) and isinstance(git["dirty"], bool)
    assert prov["generated_at"].endswith("+00:00")
    json.dumps(prov)  # serialisable as it is

    none = collect_provenance(None, [], tmp_path)  # not a git checkout, no manifest
    assert none["git"]["commit"] is None and none["data"]["source"] is None


def test_ps_summary_shows_no_single_stay_values():
    """Minimum and maximum of the score are one stay's value each: never shown."""
    from icu_cohort.report.tables import ps_summary_table_html

    ps = pd.DataFrame([{"sample": "cohort", "group": "treated", "n": 500, "mean": 0.61234, "sd": 0.1,
                        "min": 0.01357, "q1": 0.5, "median": 0.64321, "q3": 0.7, "max": 0.98642}])
    html = str(ps_summary_table_html(ps, 11, {"treated": "Treated"}))
    assert "0.643" in html and "0.612" in html
    assert "0.014" not in html and "0.986" not in html and "Max" not in html


# ----------------------------------------------------------------------------- synthetic truth


def _synthetic_run(tmp_path: Path, same_outcomes: bool) -> tuple[Path, dict, dict, int, int]:
    """The fixture results on a 'synthetic' data folder whose generator truth is hand-built:
    among the matched treated stays (ATT), the first half would die on day 10 untreated;
    treated, only the first quarter would (or the same half, with ``same_outcomes``)."""
    results, study, prov = make_results(tmp_path / "results" / "sae_fixture")
    data = tmp_path / "synthetic"
    data.mkdir()
    prop = pd.read_parquet(results / "propensity.parquet")
    matched = pd.read_parquet(results / "matched.parquet")
    mt = sorted(matched.loc[matched["treated"] == 1, "stay_id"])
    rows = []
    for sid in prop["stay_id"]:
        k = mt.index(sid) if sid in mt else None
        dies_untreated = k is not None and k < len(mt) // 2
        dies_treated = dies_untreated if same_outcomes else (k is not None and k < len(mt) // 4)
        rows.append({"stay_id": sid, "eligible": 1, "treated": 0,
                     "death_day_if_treated": 10.0 if dies_treated else float("nan"),
                     "death_day_if_untreated": 10.0 if dies_untreated else float("nan")})
    pd.DataFrame(rows).to_csv(data / "ground_truth_stays.csv", index=False)
    (data / "ground_truth.json").write_text(json.dumps({"generator": "icu-cohort synth (synthetic MIMIC-IV v2.2)",
                                                        "settings": {"hazard_ratio": 0.6}}))
    from icu_cohort.synth import MARKER

    (data / MARKER).write_text("written by icu-cohort synth\n")  # the generator's marker
    prov = dict(prov)
    prov["data"] = dict(prov["data"], kind="synthetic", source=str(data))
    return results, study, prov, len(mt), len(mt) // 2 - len(mt) // 4


def test_synthetic_truth_risk_difference_by_hand(tmp_path: Path) -> None:
    from icu_cohort.report.inputs import synthetic_truth

    results, study, prov, n_mt, fewer = _synthetic_run(tmp_path, same_outcomes=False)
    t = synthetic_truth(results, prov["data"]["source"], "ATT")
    assert t is not None and t["focal"] == "treated" and t["conditional_hr"] == 0.6
    m = t["matched"]
    assert m["n_stays"] == n_mt
    assert m["risk_control"] == pytest.approx((n_mt // 2) / n_mt)
    assert m["risk_treated"] == pytest.approx((n_mt // 4) / n_mt)
    assert m["rd"] == pytest.approx(-fewer / n_mt)
    assert m["hr"] < 1
    page = render_report(results, study, prov)
    summary = page[page.index('id="summary"'):page.index('id="methods"')]
    assert f"true (synthetic): {m['hr']:.2f}" in summary
    effects = page[page.index('id="effects"'):page.index('id="subgroups"')]
    assert "True HR (synthetic data)" in effects and f"{m['hr']:.2f}" in effects
    assert "planted conditional HR of the generator" in effects and "0.60" in effects
    # the true RD rounded to a step of at least 11 matched stays (coarse_share), said in a footnote
    from icu_cohort.report.disclosure import coarse_share

    rv, step = coarse_share(m["rd"], n_mt, 11)
    assert step * n_mt >= 11 and abs(rv - m["rd"]) <= step / 2 + 1e-12
    assert f"{100 * rv:.1f} percentage points" in effects.replace("\u2212", "-")
    assert f"rounded to {100 * step:.1f} percentage points" in effects
    if abs(rv - m["rd"]) > 1e-9:
        assert f"{100 * m['rd']:.1f} percentage points" not in effects.replace("\u2212", "-")


def test_truth_only_for_the_generators_own_folder(tmp_path: Path) -> None:
    """The same truth files beside a MIMIC-IV source (provenance kind "mimic"), or a
    "synthetic" folder without the generator's marker, give no true effect anywhere."""
    from icu_cohort.report.inputs import synthetic_source, synthetic_truth
    from icu_cohort.synth import MARKER

    results, study, prov, _n, _f = _synthetic_run(tmp_path, same_outcomes=False)
    data = Path(prov["data"]["source"])
    assert synthetic_source(data, "synthetic")
    mimic = dict(prov, data=dict(prov["data"], kind="mimic"))
    assert not synthetic_source(data, "mimic") and synthetic_truth(results, data, "ATT", kind="mimic") is None
    page = render_report(results, study, mimic)
    assert "True HR" not in page and "true (synthetic)" not in page and "synthetic, so the effect is known" not in page
    (data / MARKER).unlink()
    assert not synthetic_source(data, "synthetic") and synthetic_truth(results, data, "ATT") is None
    assert "True HR" not in render_report(results, study, prov)
    (data / MARKER).write_text("x")
    (data / "ground_truth.json").write_text(json.dumps({"settings": {"hazard_ratio": 0.6}}))  # not the generator's
    assert not synthetic_source(data, "synthetic")


def test_design_truth_only_on_synthetic_data() -> None:
    """The target-trial section shows its true value only when the report found the
    generator's data (ctx.synthetic), and rounds the true risks (coarse_share, n eligible)."""
    from icu_cohort.report import design as rd
    from icu_cohort.report.format import suppress_count

    trial = {"counts": {"n_cohort": 1500, "n_eligible": 900},
             "truth": {"risk_strategy": 0.1337, "risk_comparator": 0.1811, "risk_difference": -0.0474,
                       "hazard_ratio": 0.7, "source": "ground_truth_stays.csv"}}

    class Ctx:
        def __init__(self, synthetic):
            self.est, self.t, self.study, self.exposure = {"target_trial": trial}, 11, {"name": "x"}, "MgSO4"
            self.consumed, self.synthetic = set(), synthetic

        def get(self, key, default=None):
            return self.est.get(key, default)

        def count(self, n):
            return suppress_count(n, self.t)

    assert "True value (synthetic data)" not in rd.section_design(Ctx(False))
    html = rd.section_design(Ctx(True))
    assert "True value (synthetic data)" in html
    # 900 eligible: step 0.02 (0.01 x 900 = 9 < 11): 13.37 -> 14.0, 18.11 -> 18.0, -4.74 -> -4.0
    assert ">14.0<" in html and ">18.0<" in html and "\u22124.0" in html and "13.4" not in html
    assert "rounded to 2.0 percentage points" in html


def test_synthetic_truth_no_effect_gives_hr_one(tmp_path: Path) -> None:
    from icu_cohort.report.inputs import synthetic_truth

    results, _study, prov, _n, _f = _synthetic_run(tmp_path, same_outcomes=True)
    t = synthetic_truth(results, prov["data"]["source"], "ATT")
    assert t["matched"]["hr"] == pytest.approx(1.0, abs=1e-6) and t["matched"]["rd"] == 0.0


def test_no_truth_on_real_data(fixture_dir: tuple[Path, dict, dict], html: str) -> None:
    assert "True HR" not in html and "true (synthetic)" not in html


def test_numbers_at_risk_hide_a_drop_of_small_deaths() -> None:
    """28-day follow-up without censoring: 40 at day 0 and 34 at day 28 would say 6 deaths;
    every later number is hidden (each drop from 40 is below 11)."""
    from icu_cohort.report.figures import at_risk_texts

    risk = pd.DataFrame({"group": ["treated"] * 5, "time": [0, 7, 14, 21, 28], "n_at_risk": [40, 38, 36, 35, 34]})
    texts = at_risk_texts(risk, "treated", [0.0, 7.0, 14.0, 21.0, 28.0], 11)
    assert texts == {0.0: "40", 7.0: "hidden", 14.0: "hidden", 21.0: "hidden", 28.0: "hidden"}
    risk2 = pd.DataFrame({"group": ["c"] * 5, "time": [0, 7, 14, 21, 28], "n_at_risk": [400, 350, 345, 300, 290]})
    t2 = at_risk_texts(risk2, "c", [0.0, 7.0, 14.0, 21.0, 28.0], 11)
    assert t2 == {0.0: "400", 7.0: "350", 14.0: "hidden", 21.0: "300", 28.0: "hidden"}
    assert at_risk_texts(risk2, "c", [0.0, 7.0, 14.0, 21.0, 28.0], None)[14.0] == "345"


def test_counts_in_the_analysis_sentences_follow_the_rule(tmp_path: Path) -> None:
    results, study, prov = make_results(tmp_path / "r" / "sae_fixture")
    est = json.loads((results / "estimates.json").read_text())
    est["estimand_description"] = "Only 7 untreated (control) stays found no match within 2 days."
    (results / "estimates.json").write_text(json.dumps(est))
    page = render_report(results, study, prov)
    assert "Only &lt;11 untreated (control) stays found no match within 2 days." in page


def test_histogram_bins_are_one_total() -> None:
    from icu_cohort.report.figures import hidden_bins

    # 3 stays in one bin would be 100 - 97: the next smallest bin (20) is hidden too
    assert list(hidden_bins([0, 3, 20, 40, 37], 11)) == [False, True, True, False, False]
    assert list(hidden_bins([0, 30, 20, 40, 37], 11)) == [False] * 5
    assert list(hidden_bins([0, 30, 20], 11, n_hidden=True)) == [False, True, True]
    assert not hidden_bins([0, 3, 20], None).any()


def test_methods_paragraph_names_every_topic(html: str) -> None:
    """Data source and version, criteria in order, exposure, outcome, covariates, PS model,
    matching settings, estimand, outcome models, software versions: all from the run."""
    sec = html[html.index('id="methods"'):html.index('id="cohort"')]
    text = re.sub(r"<[^>]+>", "", sec)
    assert "MIMIC-IV v2.2" in text and "mimic-code" in text
    order = ["first ICU stay of adult patients", "Sepsis-3 within 24 h", "encephalopathy: GCS below 15",
             "no traumatic brain injury", "ICU stay of 24 hours or longer"]
    pos = [text.find(o) for o in order]
    assert all(p >= 0 for p in pos) and pos == sorted(pos), pos
    assert "The exposure was IV MgSO4" in text
    assert "within 28 days of ICU admission" in text and "censored at day 28" in text
    assert "Covariates were Age, years; Male sex; SOFA score" in text
    assert "logistic regression (c-statistic 0.71)" in text
    assert "matched to 1 control stay" in text and "caliper of 0.20 standard deviations" in text
    assert "logit of the propensity score" in text and "without replacement" in text
    assert "treated (ATT)" in text
    assert "Cox model of treatment in the matched sample" in text and "inverse probability of treatment" in text
    import platform

    assert f"Python {platform.python_version()}" in text and "lifelines" in text and "icu-cohort" in text


def test_table1_layout_is_what_the_html_shows(fixture_dir: tuple[Path, dict, dict]) -> None:
    """One owner of Table 1's content: the layout the exports can write holds the very texts
    of the report's table, suppression included."""
    from icu_cohort.report.tables import table1_layout

    t1 = pd.read_csv(fixture_dir[0] / "table1.csv")
    lay = table1_layout(t1, 11, labels={"ventilation": "Mechanical ventilation"})
    vent = next(r for r in lay.rows if r.label == "Mechanical ventilation")
    assert vent.cells[3] == "<11" and vent.cells[4] == "hidden" and vent.stat == "n (%)"
    assert lay.sizes[("before", "treated")] == "182" and lay.header()[1].endswith("Treated (n = 182)")
    out = table1_html(t1, 11, labels={"ventilation": "Mechanical ventilation"})
    for row in lay.rows:
        for cell in row.cells:
            first = cell.split("\n")[0]
            assert esc_html(first) in out, (row.label, cell)


def esc_html(text: str) -> str:
    import html as _html

    return _html.escape(text, quote=True)


def test_the_horizon_in_words_follows_the_analysis():
    from icu_cohort.report.figures import effects_plot_svg
    from icu_cohort.report.inputs import horizon_days

    assert horizon_days({"mortality_28d": {"horizon_days": 90.0}}) == 90
    assert horizon_days({}) == 28
    svg = effects_plot_svg([{"label": "Matched Cox", "hr": 0.7, "lo": 0.5, "hi": 0.9, "p": 0.01}], horizon_days=90)
    assert "90-day death" in svg and "28-day" not in svg
