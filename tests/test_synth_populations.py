"""The generator's truth for the sepsis and acute ischaemic stroke populations (ground_truth.json
"populations", ground_truth_stays.csv eligible_sepsis / eligible_ais / thrombectomy), recomputed
from the written CSV files alone with pandas (a second implementation, independent of the
study SQL): the stroke and thrombectomy codes on each stay's admission, the attrition counts,
the decoy codes, and the SAE study's exclusion of every stroke."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from icu_cohort.synth import generate

N_PATIENTS, SEED = 1500, 3
#: acute ischaemic stroke as ais_mgso4 defines it (ICD-9 433.x1 / 434.x1; ICD-10 I63)
AIS9 = {"43301", "43311", "43321", "43331", "43381", "43391", "43401", "43411", "43491"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pop") / "mimic"
    generate(root, N_PATIENTS, SEED, progress=None, chart_rows_per_stay=300, threads=1)
    read = lambda rel, **kw: pd.read_csv(root / rel, **kw)  # noqa: E731
    return dict(
        truth=json.loads((root / "ground_truth.json").read_text()),
        gt=read("ground_truth_stays.csv").set_index("stay_id"),
        icu=read("icu/icustays.csv.gz", parse_dates=["intime", "outtime"]),
        dx=read("hosp/diagnoses_icd.csv.gz", dtype={"icd_code": str}),
        px=read("hosp/procedures_icd.csv.gz", dtype={"icd_code": str}),
        pat=read("hosp/patients.csv.gz"),
        adm=read("hosp/admissions.csv.gz", parse_dates=["admittime"]),
    )


def _is_ais(code: str, version: int) -> bool:
    return code.startswith("I63") if version == 10 else code[:5] in AIS9 and len(code) == 5


def test_stroke_and_thrombectomy_are_the_codes_on_the_admission(files):
    gt, icu, dx, px = files["gt"], files["icu"], files["dx"], files["px"]
    stroke_hadm = {h for h, c, v in dx[["hadm_id", "icd_code", "icd_version"]].itertuples(index=False) if _is_ais(c, v)}
    evt = px[((px["icd_version"] == 9) & (px["icd_code"] == "3974"))
             | ((px["icd_version"] == 10) & px["icd_code"].str.match(r"^03C[GHJKLMNPQ]3Z"))]
    got = gt.loc[icu["stay_id"], "thrombectomy"].to_numpy() == 1
    assert (got == icu["hadm_id"].isin(set(evt["hadm_id"])).to_numpy()).all() and got.any()
    # a thrombectomy only ever follows a stroke; some ICD-10 ones are not the intracranial code
    assert set(evt["hadm_id"]) <= stroke_hadm
    assert (evt["icd_code"].isin(["03CL3ZZ", "03CK3ZZ", "03CP3ZZ"])).any()
    # decoys: occlusion without infarction is planted on admissions that hold no stroke code
    # (they test the x1 / I63 rule), and none of their stays is eligible
    decoy = set(dx.loc[dx["icd_code"].isin(["43310", "43320", "I6521", "I651"]), "hadm_id"]) - stroke_hadm
    assert decoy
    assert (gt.loc[icu.loc[icu["hadm_id"].isin(decoy), "stay_id"], "eligible_ais"] == 0).all()


def test_population_attrition_and_eligible_stays_recomputed(files):
    truth, gt, icu, pat, adm = files["truth"], files["gt"], files["icu"], files["pat"], files["adm"]
    stroke_hadm = {h for h, c, v in files["dx"][["hadm_id", "icd_code", "icd_version"]].itertuples(index=False)
                   if _is_ais(c, v)}
    s = icu.merge(adm[["hadm_id", "admittime"]], on="hadm_id").merge(
        pat[["subject_id", "anchor_age", "anchor_year"]], on="subject_id")
    s["age"] = s["anchor_age"] + s["admittime"].dt.year - s["anchor_year"]
    s = s.sort_values(["subject_id", "intime", "stay_id"])
    first = ~s.duplicated("subject_id")
    keep = [np.ones(len(s), bool), (s["age"] >= 18).to_numpy(), first.to_numpy(),
            ((s["outtime"] - s["intime"]).dt.total_seconds() > 86400).to_numpy(),
            s["hadm_id"].isin(stroke_hadm).to_numpy()]
    cum = np.logical_and.accumulate(np.vstack(keep), axis=0)
    ais = truth["populations"]["ais"]
    assert [int(c.sum()) for c in cum] == [r["n_remaining"] for r in ais["attrition"]]
    assert set(s["stay_id"][cum[-1]]) == set(gt.index[gt["eligible_ais"] == 1])
    assert ais["n_eligible"] == int(cum[-1].sum()) > 10
    assert ais["n_thrombectomy"] == int(gt.loc[s["stay_id"][cum[-1]], "thrombectomy"].sum()) > 0
    # sepsis: the same first four steps, then Sepsis-3 (the plan); SAE-eligible stays are inside it
    sep = truth["populations"]["sepsis"]
    assert [r["n_remaining"] for r in sep["attrition"][:4]] == [int(c.sum()) for c in cum[:4]]
    assert sep["attrition"] == truth["attrition"][:5]
    sepsis = set(gt.index[gt["eligible_sepsis"] == 1])
    assert len(sepsis) == sep["n_eligible"] and set(gt.index[gt["eligible"] == 1]) < sepsis
    # a stroke is primary brain injury: never in the SAE cohort
    assert not (gt.loc[s["stay_id"][cum[-1]], "eligible"] == 1).any()


def test_population_exposure_and_effects(files):
    truth, gt = files["truth"], files["gt"]
    for name, horizons in (("sepsis", (28,)), ("ais", (28, 90))):
        p = truth["populations"][name]
        el = gt[gt[f"eligible_{name}"] == 1]
        dose = el["iv_mgso4_first_dose_hours"]
        assert p["n_exposed_whole_stay"] == int(dose.notna().sum())
        assert p["n_exposed_first_24h"] == int((dose < 24).sum()) == p["n_treated_baseline"] == int(el["treated"].sum())
        for h in horizons:
            for est, sel in (("ATT", el["treated"] == 1), ("ATC", el["treated"] == 0), ("ATE", el["treated"] >= 0)):
                sub = el[sel]
                r1 = float((sub["death_day_if_treated"] <= h).mean())
                r0 = float((sub["death_day_if_untreated"] <= h).mean())
                eff = p[f"effects_{h}d"][est]
                assert eff["n_stays"] == len(sub)
                assert eff["risk_treated"] == pytest.approx(r1) and eff["risk_untreated"] == pytest.approx(r0)
