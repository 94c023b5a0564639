"""CAM-ICU assessments in the synthetic chartevents, end to end.

The generator decides each assessment's result (positive, negative, not assessable) and then
charts it in one of MetaVision's forms: the four CAM-ICU features, the overall "Delirium
assessment" item, or both, in one of three itemid versions. Its ground truth is the first
positive assessment per stay (``cam_icu_first_positive_hours``). The SQL must find that stay
and time from the charted text alone (``mimiciv_derived.cam_icu``, Ely 2001), and a study with
a ``cam_icu`` criterion (``window_hours: {start: 0, end: H}``) in the encephalopathy step must give exactly the stays the truth
says: all other criteria met, and GCS < 15 / a delirium code, or a positive CAM-ICU by H hours.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icu_cohort import cohort, concepts, loader, pipeline
from icu_cohort.study import load_study
from icu_cohort.synth import generate, icu_tables

REPO = Path(__file__).resolve().parents[1]
PATIENTS, SEED = 2000, 5


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("cam_icu")
    generate(root / "mimic", PATIENTS, SEED, progress=None, threads=2, chart_rows_per_stay=120)
    loader.convert_tables(root / "mimic", root / "parquet", pipeline.required_tables(), threads=2, memory_limit="2GB")
    con = loader.connect(root / "parquet")
    concepts.build_concepts(con)
    truth = pd.read_csv(root / "mimic" / "ground_truth_stays.csv")
    return root, con, truth


def _sql_itemids() -> set[int]:
    text = (REPO / "sql" / "measurement" / "cam_icu.sql").read_text()
    body = text.split("WITH items AS", 1)[1].split("WHERE ce.itemid IN", 1)[1].split(")", 1)[0]
    return {int(x) for x in re.findall(r"\d{6}", body)}


def test_every_itemid_the_sql_reads_is_charted_in_every_form(synth):
    root, con, _ = synth
    ce = pd.read_csv(root / "mimic" / "icu" / "chartevents.csv.gz", usecols=["stay_id", "charttime", "itemid", "value",
                                                                           "valuenum"], dtype={"value": str})
    cam = ce[ce["itemid"].isin(_sql_itemids())]
    assert set(cam["itemid"]) == _sql_itemids() == {i for form in icu_tables.CAM_FORMS for i in form} | {
        icu_tables.DELIRIUM_ASSESSMENT}
    assert set(cam["value"]) == {"Yes", "No", "Unable to Assess", "Positive", "Negative", "UTA"}
    assert cam["valuenum"].isna().all()
    # assessments charted as features only, the overall item only, and both
    per = con.execute("""
        SELECT (ms_change IS NOT NULL OR inattention IS NOT NULL) AS features, delirium_assessment IS NOT NULL AS overall,
               count(*) FROM mimiciv_derived.cam_icu GROUP BY ALL""").fetchall()
    kinds = {(f, o) for f, o, n in per if n > 0}
    assert {(True, False), (False, True), (True, True)} <= kinds
    # positives found by the algorithm and by the overall item alone (the fallback)
    ways = con.execute("""
        SELECT count(*) FILTER (WHERE cam_icu_features = 1), count(*) FILTER (WHERE cam_icu_features IS NULL
               AND delirium_assessment = 1), count(*) FILTER (WHERE cam_icu_positive IS NULL)
        FROM mimiciv_derived.cam_icu""").fetchone()
    assert all(n > 0 for n in ways), ways


def test_the_concept_finds_each_stays_first_positive_assessment(synth):
    _, con, truth = synth
    got = con.execute("""
        SELECT c.stay_id, date_diff('second', ie.intime, min(c.charttime)) / 3600.0 AS hours
        FROM mimiciv_derived.cam_icu AS c INNER JOIN mimiciv_icu.icustays AS ie ON c.stay_id = ie.stay_id
        WHERE c.cam_icu_positive = 1 GROUP BY c.stay_id, ie.intime ORDER BY c.stay_id""").df()
    want = truth[truth["cam_icu_first_positive_hours"].notna()].sort_values("stay_id")
    assert len(want) > 100
    assert got["stay_id"].tolist() == want["stay_id"].tolist()
    np.testing.assert_allclose(got["hours"], want["cam_icu_first_positive_hours"], rtol=0, atol=1e-6)
    assert (want["cam_icu_first_positive_hours"] >= 2).all()  # the first assessment: 2-10 h after intime


def _study(hours):
    """sae_mgso4, with a positive CAM-ICU in the first ``hours`` of the stay as a third way to
    meet its encephalopathy step (None: the study as shipped)."""
    study = load_study("sae_mgso4", REPO / "config" / "studies")
    if hours is None:
        return study
    c = study["cohort"]
    steps = []
    for step in c["criteria"]:
        (kind, p), = step.items()
        if kind == "any_of" and p.get("name") == "encephalopathy":
            p = {**p, "criteria": [*p["criteria"], {"cam_icu": {"window_hours": {"start": 0, "end": hours}}}]}
        steps.append({kind: p})
    return study.replace(cohort={**c, "criteria": steps})


@pytest.mark.parametrize("hours", [None, 24, 72])
def test_cohort_with_the_cam_icu_option_is_the_truths(synth, hours):
    _, con, truth = synth
    df, attrition = cohort.build_cohort(con, _study(hours))
    others = truth["eligible_except_encephalopathy"] == 1
    enceph = truth["encephalopathy"] == 1
    if hours is not None:
        enceph |= truth["cam_icu_first_positive_hours"] <= hours
    want = sorted(truth.loc[others & enceph, "stay_id"])
    assert sorted(df["stay_id"]) == want
    assert attrition["n_remaining"].iloc[-1] == len(want)
    if hours is None:
        assert want == sorted(truth.loc[truth["eligible"] == 1, "stay_id"])
    else:
        added = int((others & ~(truth["encephalopathy"] == 1) & enceph).sum())
        assert added >= (3 if hours == 24 else 8), added  # the option does add stays
        assert "positive CAM-ICU in the first" in " ".join(attrition["description"])
