"""The exposure rate by period of admission (icu_cohort.analysis.periods) and its place in the
report: counts by hand, the departing period flagged and warned about, small counts hidden."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from icu_cohort.analysis.periods import exposure_by_period
from icu_cohort.report import render_report


def _cohort(spec: dict[str, tuple[int, int]]) -> pd.DataFrame:
    rows = []
    for group, (n, treated) in spec.items():
        rows += [{"anchor_year_group": group, "treated": int(i < treated)} for i in range(n)]
    return pd.DataFrame(rows)


def test_shares_by_hand_and_the_departing_period():
    out = exposure_by_period(_cohort({"2017 - 2019": (100, 90), "2020 - 2022": (50, 20), "2008 - 2010": (15, 3)}))
    by = {g["group"]: g for g in out["groups"]}
    assert [g["group"] for g in out["groups"]] == ["2008 - 2010", "2017 - 2019", "2020 - 2022"]
    assert by["2020 - 2022"]["share"] == pytest.approx(20 / 50)
    assert by["2020 - 2022"]["share_others"] == pytest.approx((90 + 3) / 115)
    assert by["2017 - 2019"]["share_others"] == pytest.approx(23 / 65)
    # 0.40 vs 0.81 and 0.90 vs 0.35 depart; 2008 - 2010 (0.20) is below the 20 stays needed
    assert out["departing"] == ["2017 - 2019", "2020 - 2022"]
    assert not by["2008 - 2010"]["departs"]
    even = exposure_by_period(_cohort({"a": (100, 90), "b": (100, 85)}))
    assert even["departing"] == [] and {g["share"] for g in even["groups"]} == {0.9, 0.85}
    assert exposure_by_period(pd.DataFrame({"treated": [1, 0]}))["groups"] == []


def test_the_report_shows_the_periods_and_warns(tmp_path):
    from test_report import make_results

    results, study, prov = make_results(tmp_path / "results" / "sae_fixture")
    est_path = results / "estimates.json"
    est = json.loads(est_path.read_text())
    est["exposure_by_period"] = exposure_by_period(
        _cohort({"2017 - 2019": (100, 80), "2020 - 2022": (50, 20), "2014 - 2016": (60, 55)}))
    est_path.write_text(json.dumps(est))
    page = render_report(results, study, prov, 11)
    assert "Exposure by period of admission" in page
    assert "80 (80.0%)" in page and "20 (40.0%)" in page
    assert "In 2020 - 2022 the share treated differs" in page
    # 2014 - 2016: 55 treated of 60, so 5 untreated could be read off: the treated count is hidden
    assert "55 (91.7%)" not in page and "suppressed" in page
    shutil.rmtree(results)
