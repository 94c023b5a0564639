"""The study's `design:` section (icu_cohort.trial, study_design.schema.yaml) and the
target-trial analysis on stay-level inputs."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icu_cohort import trial
from icu_cohort.config import ConfigError, validate
from icu_cohort.config import study_schema as load_study_schema
from icu_cohort.study import load_study, study_from_definition

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "config" / "studies"
SCHEMAS = ROOT / "workflow" / "schemas"


def tte_definition() -> dict:
    return copy.deepcopy(load_study("sae_mgso4_tte", STUDIES).to_dict()["definition"])


def test_studies_without_design_are_validated_exactly_as_before(tmp_path):
    # the schema without the design part gives the same validated definition (no key added,
    # no default filled), so every stage sees exactly today's study
    for f in SCHEMAS.glob("*.yaml"):
        if f.name != "study_design.schema.yaml":
            shutil.copy(f, tmp_path / f.name)
    old = load_study_schema(tmp_path)
    for name in ("sae_mgso4", "sae_mgso4_48h"):
        s = load_study(name, STUDIES)
        assert s.design is None and "design" not in s
        raw = copy.deepcopy(s.to_dict()["definition"])
        assert validate(raw, old, name) == s.to_dict()["definition"]


def test_no_design_adds_nothing_to_the_analysis(monkeypatch, tmp_path):
    from icu_cohort import pipeline

    called = []
    monkeypatch.setattr(trial, "run_stage", lambda *a, **k: called.append(a) or {})
    seen = {}

    def fake_run(cohort, covariates, analysis, out_dir, name, extra=None, secondary=None):
        seen["extra"], seen["secondary"] = extra, secondary
        return {"n_cohort": len(cohort)}

    monkeypatch.setattr("icu_cohort.analysis.run_analysis", fake_run)
    cohort = pd.DataFrame({"stay_id": [1, 2]})
    cohort.to_parquet(tmp_path / "cohort.parquet")
    pipeline.run_analysis(load_study("sae_mgso4", STUDIES), tmp_path / "cohort.parquet", tmp_path)
    assert seen["extra"] is None and not called and seen["secondary"] == []


def test_tte_study_design_and_time_zero():
    s = load_study("sae_mgso4_tte", STUDIES)
    d = s.design
    assert d.time_zero_anchor == "icu_admission" and d.time_zero_hours == 24
    assert d.grace_hours == 24 and d.landmark_hours == 24 and d.horizon_days == 28
    assert d.post_baseline == ()          # every window ends by 24 h
    assert "charlson" in d.history_covariates and "aki" in d.history_covariates
    # the rest of the study is sae_mgso4's
    base = load_study("sae_mgso4", STUDIES)
    for section in ("cohort", "exposure", "outcome", "covariates", "analysis"):
        assert s[section] == base[section]


def test_a_covariate_window_past_time_zero_is_an_error_naming_it():
    d = tte_definition()
    d["design"]["time_zero"]["offset_hours"] = 12
    d["covariates"]["continuous"] = ["age", "mbp"]
    d["covariates"]["binary"] = ["male"]
    d["covariates"]["categorical"] = []
    d["covariates"]["vitals_window_hours"] = {"start": 0, "end": 24}
    with pytest.raises(ConfigError, match=r"mbp \(window ends 24 h"):
        study_from_definition(d)
    d["design"]["allow_post_baseline"] = ["mbp"]
    s = study_from_definition(d)
    assert s.design.post_baseline == (("mbp", 24.0),)
    d["design"]["allow_post_baseline"] = ["not_a_covariate"]
    with pytest.raises(ConfigError, match="not_a_covariate"):
        study_from_definition(d)
    d["design"]["allow_post_baseline"] = True
    assert study_from_definition(d).design.post_baseline == (("mbp", 24.0),)
    d["design"]["allow_post_baseline"] = False
    d["covariates"]["vitals_window_hours"] = {"start": 0, "end": 12}
    assert study_from_definition(d).design.post_baseline == ()   # ends at time zero: baseline


def test_lab_window_is_checked_and_unknown_covariate_timing_is_named():
    d = tte_definition()
    d["covariates"]["labs_window_hours"] = {"start": -6, "end": 30}
    with pytest.raises(ConfigError, match=r"lactate \(window ends 30 h"):
        study_from_definition(d)
    d = tte_definition()
    d["covariates"]["continuous"] = d["covariates"]["continuous"] + ["mystery"]
    with pytest.raises(ConfigError, match="mystery"):
        trial.design_of(d)


def test_schema_rejects_bad_design_values():
    d = tte_definition()
    d["design"]["grace_hours"] = -1
    with pytest.raises(ConfigError, match="grace_hours"):
        study_from_definition(d)
    d = tte_definition()
    d["design"]["time_zero"]["anchor"] = "sunrise"
    with pytest.raises(ConfigError, match="anchor"):
        study_from_definition(d)


def _synthetic_inputs(n=1500, seed=3):
    from icu_cohort.synth import timevarying as tv

    df = tv.simulate_process(n, seed, hourly_severity=True)
    cohort = pd.DataFrame({"stay_id": df["stay_id"], "treated": df["treated"], "age": df["age"],
                           "lactate": df["lactate"].where(~df["miss_lactate"]), "male": df["male"],
                           "mgso4_first_dose_hours": df["S_natural"]})
    follow = pd.DataFrame({"stay_id": df["stay_id"], "icu_out_hours": df["icu_hours"],
                           "death_hours": df["T_natural"] * 24.0})
    H = 168
    sofa = pd.DataFrame({"stay_id": np.repeat(df["stay_id"].to_numpy(), H), "hour": np.tile(np.arange(H) + 1.0, n),
                         "sofa_24hours": df[[f"_Dh{h}" for h in range(H)]].to_numpy().ravel()})
    truth = pd.DataFrame({"stay_id": df["stay_id"], "death_day_start_within_48h": df["T_start_within_48h"],
                          "death_day_no_start_within_48h": df["T_no_start_within_48h"]})
    return df, cohort, follow, sofa, truth


def _small_study(replicates=3):
    d = tte_definition()
    d["covariates"]["continuous"] = ["age", "lactate"]
    d["covariates"]["binary"] = ["male"]
    d["covariates"]["categorical"] = []
    d["design"]["bootstrap"]["replicates"] = replicates
    return study_from_definition(d)


def test_run_target_trial_matches_the_estimators_called_directly():
    from icu_cohort.analysis import propensity as pr
    from icu_cohort.analysis import tte
    from icu_cohort.synth.timevarying import target_trial_truth

    df, cohort, follow, sofa, truth = _synthetic_inputs()
    study = _small_study()
    res = trial.run_target_trial(study, cohort, follow, sofa, threads=2, truth_stays=truth)
    # the same analysis by hand
    X = pr.build_design(cohort, study.covariates).X.reset_index(drop=True)
    death = df["T_natural"].to_numpy() * 24
    end = 24 + 28 * 24
    stays = pd.DataFrame({"id": df["stay_id"], "time_zero": 24.0, "start": df["S_natural"],
                          "end": np.where(death <= end, death, end), "event": (death <= end).astype(int),
                          "icu_out": df["icu_hours"]})
    stays = pd.concat([stays, X.set_axis([f"c{j}" for j in range(X.shape[1])], axis=1)], axis=1)
    cols = [f"c{j}" for j in range(X.shape[1])]
    tvf = sofa.rename(columns={"stay_id": "id"})
    el = stays[tte.eligible_at_time_zero(stays)]
    direct = tte.CCW(el, cols, 24, 672, 1.0, tv=tvf, tv_covariates=["sofa_24hours"]).estimate()
    got = res["clone_censor_weight"]
    assert [got[k]["estimate"] for k in tte.ESTIMATES] == pytest.approx(list(direct), rel=1e-9)
    assert res["counts"]["n_eligible"] == len(el)
    assert res["counts"]["n_excluded_treated_before_time_zero"] == int((df["S_natural"] < 24).sum())
    assert got["n_replicates"] + got["n_failed"] == 3
    lm = tte.Landmark(stays, cols, 24, 672, tv=tvf, tv_covariates=["sofa_24hours"]).estimate()
    assert res["landmark"]["rd"]["estimate"] == pytest.approx(lm[2], rel=1e-9)
    t = target_trial_truth(df["S_natural"].to_numpy()[el.index], np.ones(len(el), bool),
                           df["T_start_within_48h"].to_numpy()[el.index],
                           df["T_no_start_within_48h"].to_numpy()[el.index], 24, 28)
    assert res["truth"]["risk_difference"] == pytest.approx(t["risk_difference"], abs=1e-12)
    # deterministic and JSON-clean
    again = trial.run_target_trial(study, cohort, follow, sofa, threads=1, truth_stays=truth)
    assert json.dumps(res, sort_keys=True, default=float) == json.dumps(again, sort_keys=True, default=float)


def test_stays_without_sofa_rows_get_the_median_and_are_counted():
    df, cohort, follow, sofa, truth = _synthetic_inputs(400, 4)
    drop = cohort["stay_id"].iloc[:7]
    res = trial.run_target_trial(_small_study(0), cohort, follow, sofa[~sofa["stay_id"].isin(drop)])
    assert res["counts"]["n_stays_without_time_varying_rows"] == 7


def test_stage_inputs():
    s, base = load_study("sae_mgso4_tte", STUDIES), load_study("sae_mgso4", STUDIES)
    assert trial.stage_inputs(base, "results/x", "sae_mgso4", "data/syn") == {}
    got = trial.stage_inputs(s, "results/x", "sae_mgso4_tte", "data/syn")
    assert got == {"followup": "results/x/sae_mgso4_tte/design_followup.parquet",
                   "sofa": "results/x/sae_mgso4_tte/design_sofa.parquet", "truth": "data/syn/ground_truth_stays.csv"}
    assert "truth" not in trial.stage_inputs(s, "results/x", "sae_mgso4_tte", None)
    assert trial.stage_threads(s) == 2 and trial.stage_threads(base) == 1


def test_timevarying_extras_change_nothing_else_and_the_truth_recomputes():
    from icu_cohort.synth import timevarying as tv

    a = tv.simulate_process(600, 21)
    b = tv.simulate_process(600, 21, extra_strategies=(tv.Strategy("untreated_from_48h", "untreated_from", 48),),
                            hourly_severity=True)
    pd.testing.assert_frame_equal(a, b[a.columns])
    assert np.allclose(b["_Dh24"], b["_D1"]) and np.allclose(b["_Dh48"], b["_D2"]) and (b["_Dh0"] == 0).all()
    s = b["S_natural"].to_numpy()
    late = np.isnan(s) | (s >= 48)
    assert np.allclose(b["T_untreated_from_48h"][late], b["T_natural"][late])       # nothing to withdraw
    early = ~late
    assert np.all(np.isnan(b["S_untreated_from_48h"][early]) | (b["S_untreated_from_48h"][early] >= 48))
    died_before = early & (b["T_natural"] * 24 <= 48)
    assert np.allclose(b["T_untreated_from_48h"][died_before], b["T_natural"][died_before])
    # target_trial_truth by hand: untreated at 24 h, deaths within 28 days of 24 h
    t = tv.target_trial_truth(s, np.ones(len(b), bool), b["T_start_within_48h"].to_numpy(),
                              b["T_no_start_within_48h"].to_numpy(), 24.0, 28.0)
    pop = np.isnan(s) | (s >= 24)
    r1 = np.mean(b["T_start_within_48h"][pop] <= 29.0)
    r0 = np.mean(b["T_no_start_within_48h"][pop] <= 29.0)
    assert t["n_stays"] == pop.sum()
    assert t["risk_strategy"] == pytest.approx(r1) and t["risk_comparator"] == pytest.approx(r0)


def test_an_analysis_the_data_cannot_give_is_reported_not_fatal():
    df, cohort, follow, sofa, truth = _synthetic_inputs(400, 5)
    cohort = cohort.assign(mgso4_first_dose_hours=cohort["mgso4_first_dose_hours"].where(
        cohort["mgso4_first_dose_hours"] < 24))        # nobody starts after time zero (the baseline DGP)
    res = trial.run_target_trial(_small_study(2), cohort, follow, sofa)
    c = res["clone_censor_weight"]
    assert c["rd"]["estimate"] is None and "nobody treated" in c["error"]
    assert any("clone-censor-weight: not estimable" in w for w in res["warnings"])
    assert res["naive"]["rd"]["estimate"] is not None
