"""The report's secondary-outcomes section (report/secondary.py) and the manuscript export's
secondary-outcomes table (report/exports.py), on the report fixture with hand-made secondary
outcomes whose counts include small ones: small counts are shown as <11, the counts that would
give them away are hidden, and a study without secondary outcomes keeps its report and exports."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from icu_cohort.report import exports, render_report
from icu_cohort.report.disclosure import HIDDEN_TEXT

from test_report_fixtures import make_results


def _entry(name, kind, horizon, deaths, risk_n, hr=0.8, rd=-0.05):
    n = {"cohort_treated": 182, "cohort_control": 418, "matched_treated": 116, "matched_control": 116}
    deaths = dict(zip(n, deaths))
    return {"name": name, "kind": kind, "horizon_days": horizon, "n": n, "deaths": deaths,
            "risk": {k: deaths[k] / risk_n[k] for k in n} if risk_n else {k: deaths[k] / n[k] for k in n},
            "risk_difference": {"sample": "matched", "rd": rd, "ci95": [rd - 0.04, rd + 0.04], "se": 0.02, "p": 0.2},
            "cox_matched": {"hr": hr, "ci95": [None, None] if hr is None else [hr * 0.7, hr / 0.7],
                            "p": None if hr is None else 0.3}}


#: The fixture's primary outcome: 40 of 182 treated and 120 of 418 control stays died by day 28.
SECONDARY = [
    # 7 matched control deaths (small); 20 - 15 = 5 treated deaths among the stays not matched
    _entry("death_within_7d", "death_within", 7.0, [20, 60, 15, 7], None),
    # 36 treated deaths by day 21 against 40 by day 28: 4 in between
    _entry("death_within_21d", "death_within", 21.0, [36, 100, 25, 30], None, rd=-0.043),
    _entry("hospital_death", "in_hospital_death", None, [30, 90, 20, 25], None, hr=None),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder, study, prov = make_results(tmp_path_factory.mktemp("sec") / "sae_fixture")
    plain = render_report(folder, study, prov, 11)
    est = json.loads((folder / "estimates.json").read_text())
    est["secondary_outcomes"] = SECONDARY
    (folder / "estimates.json").write_text(json.dumps(est))
    study = {**study, "outcome": {"horizon_days": 28, "secondary": [
        {k: e[k] for k in ("name", "kind", "horizon_days") if e[k] is not None} for e in SECONDARY]}}
    return folder, study, prov, plain, render_report(folder, study, prov, 11)


def _section(html: str, sid: str) -> str:
    return re.search(rf'<section id="{sid}".*?</section>', html, re.S).group(0)


def _rows(section: str) -> list[list[str]]:
    """Each table row's cells as plain text."""
    out = []
    for tr in re.findall(r"<tr>(.*?)</tr>", section, re.S):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S)
        out.append([re.sub(r"<[^>]+>", " ", c).replace("&lt;", "<").split() and
                    " ".join(re.sub(r"<[^>]+>", " ", c).replace("&lt;", "<").split()) or "" for c in cells])
    return out


def test_the_section_follows_the_effects_and_names_the_outcomes(results):
    *_, plain, html = results
    ids = re.findall(r'<section id="([a-z0-9_-]+)"', html)
    assert ids.index("secondary") == ids.index("effects") + 1
    methods = _section(html, "methods")
    assert "Secondary outcomes were death from any cause within 7 days" in methods
    assert "<code>hospital_death</code>" in methods and "death before hospital discharge" in methods
    assert "Secondary outcome" not in _section(plain, "methods")
    # rendered here, so not listed again among the other estimates
    assert "secondary_outcomes" not in _section(html, "other")
    # without secondary outcomes the section says so
    assert "declares no secondary outcomes" in _section(plain, "secondary")


def test_small_and_derivable_counts_are_hidden(results):
    *_, html = results
    rows = _rows(_section(html, "secondary"))
    header, body = rows[0], rows[1:]
    assert header[:6] == ["Outcome", "Sample", "Treated, n", "Treated: events", "Control, n", "Control: events"]
    by = {(r[0].split()[-1], r[1]): r for r in body}
    d7m = by[("death_within_7d", "Matched sample")]
    assert d7m[5] == "<11"                      # 7 matched control deaths
    assert d7m[6] == "hidden"                   # the risk difference would give them
    d7c = by[("death_within_7d", "Whole cohort")]
    # 20 cohort and 15 matched treated deaths would give the 5 of the stays not matched
    assert HIDDEN_TEXT in (d7c[3], d7m[3])
    d21c = by[("death_within_21d", "Whole cohort")]
    assert d21c[3] == HIDDEN_TEXT               # 36 by day 21, 40 by day 28 (primary): 4 between
    assert d21c[5] == "100 (23.9%)"             # 100 against 120 by day 28: 20 between, shown
    d21m = by[("death_within_21d", "Matched sample")]
    assert d21m[3] == "25 (21.6%)" and d21m[5] == "30 (25.9%)"
    assert d21m[6] == "\u22124.3 (\u22128.3 to \u22120.3)" and d21m[7] == "0.80 (0.56\u20131.14)"
    hm = by[("hospital_death", "Matched sample")]
    assert hm[7].startswith("not estimable") and hm[8] == "\u2013"
    # no count from 1 to 10 anywhere in the table
    for r in body:
        for cell in r[2:6]:
            m = re.match(r"^(\d[\d,]*)", cell)
            assert not (m and 0 < int(m.group(1).replace(",", "")) < 11), (r, cell)


def test_suppression_off_shows_every_count(results):
    folder, study, prov, *_ = results
    rows = _rows(_section(render_report(folder, study, prov, None), "secondary"))
    by = {(r[0].split()[-1], r[1]): r for r in rows[1:]}
    assert by[("death_within_7d", "Matched sample")][5] == "7 (6.0%)"
    assert by[("death_within_21d", "Whole cohort")][3] == "36 (19.8%)"


def test_the_export_table_shows_the_same_cells(results):
    layout = exports.secondary_rows({**json.loads((results[0] / "estimates.json").read_text())}, 11)
    text = exports.layout_csv(layout)
    rows = list(csv.reader(io.StringIO(text)))
    by = {(r[0], r[1]): r for r in rows[1:] if len(r) > 2 and r[1]}
    d7m = by[("Death within 7 days (death_within_7d)", "matched")]
    assert d7m[2:4] == ["116", "116"] and d7m[5] == "<11" and d7m[6] == exports.SUPPRESSED
    d21 = by[("Death within 21 days (death_within_21d)", "whole cohort")]
    assert d21[4] == exports.SUPPRESSED and d21[5] == "100 (23.9)"
    assert by[("In-hospital death (hospital_death)", "matched")][7:] == ["not estimable", ""]
    assert exports.secondary_rows({"n_treated": 1}, 11) is None  # a study without secondary outcomes


def test_write_exports_adds_the_table_only_with_secondary_outcomes(results, tmp_path, monkeypatch):
    folder, study, prov, *_ = results
    from icu_cohort.report import write_report

    # the figures' PDF and PNG conversions are test_exports' business (and take seconds)
    monkeypatch.setattr(exports, "svg_to_pdf", lambda svg: b"%PDF")
    monkeypatch.setattr(exports, "svg_to_png", lambda svg, dpi=300: b"PNG")
    write_report(folder, study, prov, folder / "report.html", 11)
    manifest = exports.write_exports(folder, study, out_dir=tmp_path / "x", small_count_threshold=11)
    assert exports.SECONDARY_STEM in manifest["tables"]
    back = exports.read_xlsx_cells(tmp_path / "x" / f"{exports.SECONDARY_STEM}.xlsx")
    csv_rows = list(csv.reader(io.StringIO((tmp_path / "x" / f"{exports.SECONDARY_STEM}.csv").read_text())))
    assert [[c for c in r if c] for r in back if any(r)] == [[c for c in r if c] for r in csv_rows if any(r)]
