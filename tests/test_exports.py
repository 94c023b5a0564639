"""Manuscript exports (icu_cohort.report.exports): every figure and table exists and opens,
Table 1 agrees with the MIMIC community's ``tableone`` library, small counts are hidden by
the report's one rule, and the same results give the same bytes."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icu_cohort.analysis import balance as bal
from icu_cohort.report import exports
from icu_cohort.report.format import fmt_num

# ----------------------------------------------------------------------------- helpers


def _csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def _trim(rows: list[list[str]]) -> list[list[str]]:
    """Rows without trailing empty cells, trailing empty rows dropped (how a sheet reads back)."""
    out = []
    for r in rows:
        r = list(r)
        while r and r[-1] == "":
            r.pop()
        out.append(r)
    while out and not out[-1]:
        out.pop()
    return out


def _small_counts(text_cells: list[str], threshold: int = 11) -> list[str]:
    """Cells showing a count from 1 to threshold-1 as a number (``7``, ``7 (3.5)``)."""
    bad = []
    for cell in text_cells:
        m = re.fullmatch(r"(\d[\d,]*)( \([\d.]+\))?", cell.strip())
        if m and 0 < int(m.group(1).replace(",", "")) < threshold:
            bad.append(cell)
    return bad


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The report fixture's results folder, its report, and its exports (written twice)."""
    from test_report_fixtures import make_results

    from icu_cohort.report import write_report

    base = tmp_path_factory.mktemp("exports")
    results, study, prov = make_results(base / "results" / "sae_fixture")
    write_report(results, study, prov, results / "report.html", 11)
    manifest = exports.write_exports(results, study, small_count_threshold=11)
    again = exports.write_exports(results, study, out_dir=base / "again", small_count_threshold=11)
    return results, results / exports.EXPORT_DIR, manifest, base / "again", again


# ----------------------------------------------------------------------------- files open


def test_every_report_figure_is_exported_as_svg_pdf_and_png(exported):
    results, out, manifest, _, _ = exported
    html = (results / "report.html").read_text()
    n_figures = len(re.findall(r"<figure\b[^>]*>\s*<svg\b", html))
    assert n_figures >= 5
    assert len(manifest["figures"]) == n_figures
    keys = [f["key"] for f in manifest["figures"]]
    assert len(set(keys)) == len(keys)
    from PIL import Image

    for fig in manifest["figures"]:
        svg_path, pdf_path, png_path = (out / fig["files"][f] for f in ("svg", "pdf", "png"))
        root = ET.fromstring(svg_path.read_bytes())  # parses as XML, standalone
        assert root.tag == "{http://www.w3.org/2000/svg}root".replace("root", "svg")
        width = float(root.get("width").removesuffix("px"))
        height = float(root.get("height").removesuffix("px"))
        assert width > 100 and height > 50
        pdf = pdf_path.read_bytes()
        assert pdf.startswith(b"%PDF-")
        assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1  # one page
        box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
        assert box and abs(float(box.group(1)) - width * 0.75) < 1.5  # CSS px -> pt
        with Image.open(png_path) as img:
            img.load()
            assert img.format == "PNG"
            dpi = img.info.get("dpi")
            assert dpi and abs(dpi[0] - 300) < 1 and abs(dpi[1] - 300) < 1
            assert abs(img.size[0] - width * 300 / 96) <= 2
            assert abs(img.size[1] - height * 300 / 96) <= 2
            # not blank: ink somewhere
            assert img.convert("L").getextrema()[0] < 128


def test_tables_are_csv_and_xlsx_with_the_same_cells(exported):
    _, out, manifest, _, _ = exported
    assert set(manifest["tables"]) == {exports.TABLE1_STEM, exports.EFFECTS_STEM}
    for stem in manifest["tables"]:
        rows = _csv_rows(out / f"{stem}.csv")
        back = exports.read_xlsx_cells(out / f"{stem}.xlsx")
        assert _trim(back) == _trim(rows)
        assert len(rows) > 3


def test_xlsx_merges_the_group_headers(exported):
    from openpyxl import load_workbook

    _, out, _, _, _ = exported
    ws = load_workbook(out / "table1.xlsx").worksheets[0]
    merged = sorted(str(r) for r in ws.merged_cells.ranges)
    assert merged == ["B1:D1", "E1:G1"]
    assert ws["B1"].value == "Before matching" and ws["E1"].value == "After matching"


def test_manifest_checksums_and_same_inputs_give_same_bytes(exported):
    import hashlib

    _, out, manifest, again_dir, again = exported
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
        assert (again_dir / name).read_bytes() == (out / name).read_bytes(), name
    assert again["files"] == manifest["files"]


def test_no_small_count_in_the_exported_tables(exported):
    _, out, _, _, _ = exported
    for stem in (exports.TABLE1_STEM, exports.EFFECTS_STEM):
        cells = [c for r in _csv_rows(out / f"{stem}.csv")[1:] for c in r[1:]]
        assert _small_counts(cells) == [], stem
    # the fixture does hold small Table 1 cells: they are shown as <11
    assert any("<11" in c for r in _csv_rows(out / "table1.csv") for c in r)


def test_exports_need_their_inputs(tmp_path):
    with pytest.raises(exports.ExportError, match="report.html: not found"):
        exports.write_exports(tmp_path, {"name": "x"})
    assert not (tmp_path / exports.EXPORT_DIR).exists()


# ----------------------------------------------------------------------------- Table 1


def _cohort(n: int = 400, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treated = (rng.random(n) < 0.35).astype(int)
    age = rng.normal(62 + 4 * treated, 12)
    age[rng.random(n) < 0.05] = np.nan
    lactate = np.round(np.exp(rng.normal(0.6 + 0.2 * treated, 0.5)), 1)
    male = (rng.random(n) < 0.5 + 0.1 * treated).astype(float)
    race = rng.choice(["WHITE", "BLACK", "ASIAN"], n, p=[0.6, 0.25, 0.15]).astype(object)
    race[rng.random(n) < 0.06] = None
    return pd.DataFrame({"treated": treated, "age": age, "lactate": lactate, "male": male, "race": race})


COVARIATES = [{"name": "age", "type": "continuous"}, {"name": "lactate", "type": "continuous"},
              {"name": "male", "type": "binary"}, {"name": "race", "type": "categorical"}]


def _matched_rows(df: pd.DataFrame) -> np.ndarray:
    t = np.flatnonzero(df["treated"].to_numpy() == 1)
    c = np.flatnonzero(df["treated"].to_numpy() == 0)
    k = min(len(t), len(c)) - 20
    return np.sort(np.concatenate([t[:k], c[:k]]))


def _layout(df: pd.DataFrame, threshold=None):
    rows = _matched_rows(df)
    b = bal.balance_table(df, COVARIATES, df["treated"].to_numpy(), rows)
    t1 = bal.table1(df, COVARIATES, df["treated"].to_numpy(), rows, balance=b)
    return exports.table1_rows(t1, threshold, {"age": "Age, years"}), rows


def _find(layout, label: str) -> list[str]:
    for r in layout.body:
        if r[0] == label:
            return r
    raise AssertionError(f"no row {label!r} in {[r[0] for r in layout.body]}")


def test_table1_agrees_with_tableone():
    """Every number of our Table 1, before and after matching, as tableone computes it from
    the same stays (our SMD after matching uses the whole cohort's SDs, tableone the matched
    sample's: the SMD is compared before matching)."""
    tableone = pytest.importorskip("tableone")
    df = _cohort()
    layout, matched = _layout(df)
    data = df.assign(race=df["race"].fillna("Missing"))
    for s, (sample, sub) in enumerate((("before", data), ("after", data.iloc[matched]))):
        t = tableone.TableOne(sub, columns=["age", "lactate", "male", "race"], categorical=["male", "race"],
                              groupby="treated", smd=True, pval=False)
        col = {1: 1 + 3 * s, 0: 2 + 3 * s}  # treated, control columns of this sample
        n = sub["treated"].value_counts()
        for g in (1, 0):
            assert layout.header[1][col[g]].endswith(f"(n = {n[g]:,})")
        cont = t.cont_describe
        for var, label in (("age", "Age, years"), ("lactate", "Lactate")):
            mean_row, med_row = _find(layout, f"{label}, mean (SD)"), _find(layout, f"{label}, median [Q1, Q3]")
            for g in (1, 0):
                assert mean_row[col[g]] == f"{fmt_num(cont.loc[var, ('mean', g)])} ({fmt_num(cont.loc[var, ('std', g)])})"
                assert med_row[col[g]] == (f"{fmt_num(cont.loc[var, ('median', g)])} [{fmt_num(cont.loc[var, ('q25', g)])}, "
                                           f"{fmt_num(cont.loc[var, ('q75', g)])}]")
            if sample == "before":
                assert abs(abs(float(mean_row[3])) - float(t.smd_table.loc[var].iloc[0])) < 0.0051
        cat = t.cat_describe
        male_row = _find(layout, "Male, n (%)")
        for g in (1, 0):
            freq, pct = cat.loc[("male", "1.0"), ("freq", g)], cat.loc[("male", "1.0"), ("percent", g)]
            assert male_row[col[g]] == f"{int(freq):,} ({pct:.1f})"
        if sample == "before":
            assert abs(abs(float(male_row[3])) - float(t.smd_table.loc["male"].iloc[0])) < 0.0051
        for level in ("ASIAN", "BLACK", "Missing", "WHITE"):
            row = _find(layout, f"    {level}")
            for g in (1, 0):
                freq, pct = cat.loc[("race", level), ("freq", g)], cat.loc[("race", level), ("percent", g)]
                assert row[col[g]] == f"{int(freq):,} ({pct:.1f})"
        # age has missing values: its missing row counts them
        miss = _find(layout, "    Missing, n")
        for g in (1, 0):
            assert miss[col[g]] == f"{int(sub.loc[sub['treated'] == g, 'age'].isna().sum()):,}"


def _t1(rows: list[dict]) -> pd.DataFrame:
    base = {f"{g}_{k}": np.nan for g in ("treated", "control") for k in bal.TABLE1_STATS}
    return pd.DataFrame([{**base, "smd": np.nan, "level": "", **r} for r in rows])


def _sizes(sample, t, c):
    return {"sample": sample, "variable": "N", "kind": "count", "treated_n": t, "control_n": c}


def test_table1_hides_small_and_derivable_counts():
    rows = []
    for sample, (nt, nc) in (("before", (200, 60)), ("after", (55, 55))):
        rows.append(_sizes(sample, nt, nc))
        # binary: 5 treated with the value (small); control: 57 of 60 (3 without it: derivable)
        rows.append({"sample": sample, "variable": "copd", "kind": "binary", "treated_n": nt, "treated_count": 5,
                     "treated_pct": 100 * 5 / nt, "treated_n_missing": 0, "control_n": nc, "control_count": nc - 3,
                     "control_pct": 100 * (nc - 3) / nc, "control_n_missing": 0})
        # categorical: one small level among three -> the next smallest is hidden as well
        for lev, ct in (("A", nt - 47), ("B", 40), ("C", 7)):
            rows.append({"sample": sample, "variable": "race", "kind": "categorical", "level": lev,
                         "treated_n": nt, "treated_count": ct, "treated_pct": 100 * ct / nt, "treated_n_missing": 0,
                         "control_n": nc, "control_count": nc / 3, "control_pct": 100 / 3, "control_n_missing": 0})
    layout = exports.table1_rows(_t1(rows), 11)
    # before matching: treated 200, control 60; after: 55 of 60 controls (5 unmatched: derivable)
    assert layout.header[1][1:3] == ["Treated (n = 200)", "Control (n = 60)"]
    assert layout.header[1][5] == f"Control (n = {exports.SUPPRESSED})"
    copd = _find(layout, "COPD, n (%)")
    assert copd[1] == "<11" and copd[2] == exports.SUPPRESSED
    a, b, c = (_find(layout, f"    {lev}") for lev in "ABC")
    assert c[1] == "<11" and b[1] == exports.SUPPRESSED and a[1].startswith(f"{200 - 47:,} (")
    assert a[2] == b[2] == c[2] == "20 (33.3)"
    assert _small_counts([x for r in layout.rows() for x in r[1:]]) == []
    # switched off: exact counts, and a note that says the table is not for sharing
    off = exports.table1_rows(_t1(rows), None)
    assert _find(off, "COPD, n (%)")[1] == "5 (2.5)"
    assert any("switched off" in n for n in off.notes)


# ----------------------------------------------------------------------------- effects


def _estimates(n_mt=381, d_mt=32, n_mc=300, d_mc=55):
    """Cohort: 4,093 treated (893 deaths), 391 control (62 deaths); matched as given."""
    return {
        "n_treated": 4093, "n_control": 391,
        "matching": {"n_matched_treated": n_mt, "n_matched_control": n_mc},
        "mortality_28d": {"cohort_treated": 893 / 4093, "cohort_control": 62 / 391,
                          "matched_treated": d_mt / n_mt, "matched_control": d_mc / n_mc},
        "cox_matched": {"hr": 0.513, "ci95": [0.336, 0.784], "p": 0.00201},
        "cox_multivariable": {"hr": 0.64, "ci95": [0.48, 0.84], "p": 0.001},
        "iptw": {"hr": float("inf"), "ci95": [None, None], "p": None},
    }


def test_effects_table_layout_and_suppression():
    layout = exports.effects_rows(_estimates(), 11)
    assert [r[0] for r in layout.body] == [name for _, name, _ in exports.ANALYSES]
    matched, multi, iptw = layout.body
    assert matched[1:4] == ["matched", "381", "300"]
    assert matched[4] == "32 (8.4)"
    # 62 control deaths in the cohort, 55 in the matched sample: 7 among the 91 not matched
    assert matched[5] == exports.SUPPRESSED
    assert matched[6] == "0.51 (0.34\u20130.78)" and matched[7] == "0.002"
    assert multi[1:6] == ["whole cohort", "4,093", "391", "893 (21.8)", "62 (15.9)"]
    assert iptw[6:] == ["not estimable", ""]
    text = exports.layout_csv(layout)
    assert _small_counts([c for r in csv.reader(io.StringIO(text)) for c in r[1:]]) == []


@pytest.mark.parametrize("kwargs, column, expected", [
    ({"n_mc": 381, "d_mc": 62}, 3, exports.SUPPRESSED),  # 10 controls not matched: matched size hidden
    ({"n_mc": 381, "d_mc": 62}, 5, exports.SUPPRESSED),  # ... and with it the matched deaths
    ({"d_mt": 376}, 4, exports.SUPPRESSED),              # 5 matched treated survivors
    ({"n_mc": 310, "d_mc": 62}, 5, "62 (20.0)"),         # 0 deaths among the 81 not matched: shown
    ({"n_mc": 310, "d_mc": 55}, 5, exports.SUPPRESSED),  # 7 deaths among them
    ({"n_mc": 310, "d_mc": 0}, 5, "0 (0.0)"),            # zero is shown
])
def test_effects_table_hides_what_cohort_minus_matched_would_reveal(kwargs, column, expected):
    matched = exports.effects_rows(_estimates(**kwargs), 11).body[0]
    assert matched[column] == expected


# ----------------------------------------------------------------------------- snakemake --report


def test_snakemake_report_embeds_only_shareable_files():
    """``report(...)`` marks only the study report and its exports folder (both with small
    counts hidden) for ``snakemake --report``; the exact-count stage outputs are not marked."""
    rules = Path(__file__).resolve().parents[1] / "workflow" / "rules"
    marked = []
    for path in sorted(rules.glob("*.smk")):
        text = path.read_text()
        for m in re.finditer(r"\breport\(\s*(.+?),\s*$", text, flags=re.M):
            marked.append((path.name, m.group(1).strip()))
    assert marked, "no report() output at all"
    for name, first in marked:
        assert "artifacts.REPORT.name" in first or "EXPORT_DIR" in first, (name, first)


def test_a_failed_export_leaves_the_previous_exports_as_they_were(exported, monkeypatch, tmp_path):
    results, out, manifest, _, _ = exported
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(svg, dpi=exports.PNG_DPI):
        raise RuntimeError("cairo exploded")

    monkeypatch.setattr(exports, "svg_to_png", broken)
    with pytest.raises(RuntimeError, match="cairo exploded"):
        exports.write_exports(results, {"name": "sae_fixture"}, small_count_threshold=11)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{exports.EXPORT_DIR}")]


def test_a_missing_cairo_library_is_named_with_the_fix(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_cairo(name, *args, **kwargs):
        if name == "cairosvg":
            raise OSError("no library called \"cairo-2\" was found")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cairo)
    with pytest.raises(exports.ExportError, match="libcairo2"):
        exports.svg_to_pdf('<svg xmlns="http://www.w3.org/2000/svg" width="10px" height="10px"/>')
