"""run_analysis end to end: the files and keys the project promises, determinism, atomic
writing, the options (1:k, logit scale, psmpy engine, multiple imputation) and the schema."""

import json

import numpy as np
import pandas as pd
import pytest

from icu_cohort import artifacts
from icu_cohort.analysis import run_analysis
from icu_cohort.analysis.options import analysis_schema, defaults, with_defaults

from test_analysis_helpers import COVARIATES, small_cohort

CONTRACT_KEYS = {key: set(sub) if sub else None for key, sub in artifacts.ESTIMATES_KEYS.items()}
FILES = {
    "propensity.parquet": ["stay_id", "treated", "ps"],
    "matched.parquet": ["stay_id", "treated", "ps", "pair_id"],
    "balance.csv": ["covariate", "smd_before", "smd_after", "variance_ratio_before",
                    "variance_ratio_after", "imbalanced_after"],
    "table1.csv": ["sample", "variable", "level", "kind", "treated_n", "treated_mean",
                   "treated_sd", "treated_median", "treated_q1", "treated_q3", "treated_count",
                   "treated_pct", "treated_n_missing", "control_n", "control_mean", "control_sd",
                   "control_median", "control_q1", "control_q3", "control_count", "control_pct",
                   "control_n_missing", "smd"],
    "km.csv": ["sample", "group", "time", "survival", "ci_lower", "ci_upper"],
    "km_at_risk.csv": ["sample", "group", "time", "n_at_risk"],
    "cox_multivariable.csv": ["term", "hr", "ci_low", "ci_high", "p"],
    "subgroups.csv": ["subgroup", "level", "n", "n_treated", "n_control", "events", "hr",
                      "ci_low", "ci_high", "p", "p_interaction"],
    "ph_test.csv": ["model", "term", "test_statistic", "p"],
    "ps_summary.csv": ["sample", "group", "n", "mean", "sd", "min", "q1", "median", "q3", "max"],
    "estimates.json": None,
}


@pytest.fixture(scope="module")
def cohort():
    return small_cohort(1500, seed=3)


@pytest.fixture(scope="module")
def default_run(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("default")
    est = run_analysis(cohort, COVARIATES, {}, out, "sae_test")
    return est, out


def test_contract_keys_and_files(default_run, cohort):
    est, out = default_run
    for key, sub in CONTRACT_KEYS.items():
        assert key in est, key
        if sub:
            assert sub <= set(est[key]), (key, sub - set(est[key]))
    for key in ("cox_matched", "cox_multivariable", "iptw"):
        lo, hi = est[key]["ci95"]
        assert lo < est[key]["hr"] < hi and 0 <= est[key]["p"] <= 1
    for k, v in est["mortality_28d"].items():
        if k != "horizon_days":
            assert 0 <= v <= 1, k
    assert est["study"] == "sae_test" and est["n_cohort"] == len(cohort)
    assert est["n_treated"] + est["n_control"] == len(cohort)
    for name, cols in FILES.items():
        path = out / name
        assert path.is_file(), name
        if cols:
            df = pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)
            assert set(cols) <= set(df.columns), (name, set(cols) - set(df.columns))
    assert json.loads((out / "estimates.json").read_text()) == est
    assert not [p for p in out.iterdir() if p.name.startswith(".analysis-tmp")]
    # the Snakemake rule's outputs are exactly the files written
    from icu_cohort.analysis import OUTPUT_FILES

    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)


def test_extended_estimates(default_run):
    est, _ = default_run
    # the untreated are the smaller group here, as in the paper -> ATC
    assert est["estimand"] == "ATC" and est["focal_group"] == "control"
    assert "untreated" in est["estimand_description"]
    assert est["n_focal"] == est["n_control"]
    assert est["n_focal_matched"] + est["n_focal_unmatched"] == est["n_focal"]
    m = est["matching"]
    assert m["caliper_width"] == pytest.approx(0.25 * m["sd_of_distance"])
    assert m["m_order"] == "smallest" and m["engine"] == "native" and m["seed"] == est["seed"]
    assert 0.5 < est["c_statistic"] < 1
    assert est["ps_model"]["converged"]
    assert est["imputation"]["method"] == "median_indicator"
    for g in ("cohort_treated", "cohort_control", "matched_treated", "matched_control"):
        # everyone is followed to day 28, so 1 - KM(28) equals the crude proportion
        assert est["mortality_28d"]["km_" + g] == pytest.approx(est["mortality_28d"][g])
    rd = est["risk_difference"]
    assert rd["rd"] == pytest.approx(est["mortality_28d"]["matched_treated"]
                                     - est["mortality_28d"]["matched_control"])
    assert rd["ci95"][0] < rd["rd"] < rd["ci95"][1]
    assert est["evalue"]["point"] >= 1 and est["evalue"]["ci_limit"] >= 1
    assert 0 <= est["ph_test"]["global_p"] <= 1
    ip = est["iptw"]
    assert ip["estimand"] == "ATC" and ip["stabilized"] and ip["truncation_percentiles"] == [1, 99]
    assert 0 < ip["effective_sample_size"]["treated"] <= est["n_treated"]
    names = {s["subgroup"] for s in est["subgroups"]}
    assert names == {"COPD", "AKI", "Vasopressors", "Age", "Sex", "SOFA"}


def test_matched_file_structure(default_run, cohort):
    est, out = default_run
    prop = pd.read_parquet(out / "propensity.parquet")
    assert len(prop) == len(cohort) and prop["stay_id"].is_unique
    assert prop["ps"].between(0, 1).all()
    m = pd.read_parquet(out / "matched.parquet")
    assert m["stay_id"].is_unique and set(m["stay_id"]) <= set(prop["stay_id"])
    sizes = m.groupby("pair_id")["treated"].agg(["size", "sum"])
    assert (sizes["size"] == 2).all() and (sizes["sum"] == 1).all()   # 1:1, one of each
    assert len(sizes) == est["matching"]["n_pairs"]
    # the matched ps is the score of propensity.parquet
    merged = m.merge(prop, on="stay_id", suffixes=("", "_p"))
    assert np.allclose(merged["ps"], merged["ps_p"])
    # within each pair the scores are inside the caliper
    width = est["matching"]["caliper_width"]
    spread = m.groupby("pair_id")["ps"].agg(lambda s: s.max() - s.min())
    assert (spread <= width + 1e-12).all()
    bal = pd.read_csv(out / "balance.csv")
    assert est["balance"]["max_abs_smd_after"] == pytest.approx(
        bal.loc[bal["kind"].isin(["continuous", "binary", "categorical"]), "smd_after"].abs().max())
    assert est["balance"]["max_abs_smd_after"] < est["balance"]["max_abs_smd_before"]


def test_deterministic(cohort, default_run, tmp_path):
    est, out = default_run
    again = run_analysis(cohort, COVARIATES, {}, tmp_path, "sae_test")
    assert again == est
    for name in ("matched.parquet", "balance.csv", "km.csv", "subgroups.csv"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_atomic_on_error(cohort, tmp_path, monkeypatch):
    (tmp_path / "estimates.json").write_text("old")
    boom = RuntimeError("disk full")

    def fail(self, *a, **k):
        raise boom

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail)   # parquet written first, then this fails
    with pytest.raises(RuntimeError):
        run_analysis(cohort, COVARIATES, {}, tmp_path, "sae_test")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["estimates.json"]
    assert (tmp_path / "estimates.json").read_text() == "old"


def test_bad_input_is_named(cohort, tmp_path):
    with pytest.raises(KeyError, match="not_there"):
        run_analysis(cohort, COVARIATES + [{"name": "not_there", "type": "binary"}], {},
                     tmp_path, "x")
    with pytest.raises(Exception, match="ratio"):
        run_analysis(cohort, COVARIATES, {"matching": {"ratio": 0}}, tmp_path, "x")
    assert not list(tmp_path.iterdir())


def test_one_to_two_logit_att(cohort, tmp_path):
    est = run_analysis(cohort, COVARIATES, {"matching": {"ratio": 2, "scale": "logit",
                                                         "estimand": "ATT",
                                                         "caliper_sd": 0.2}},
                       tmp_path, "x")
    assert est["estimand"] == "ATT" and est["matching"]["m_order"] == "largest"
    m = pd.read_parquet(tmp_path / "matched.parquet")
    per = m.groupby("pair_id")["treated"].agg(["size", "sum"])
    assert (per["sum"] == 1).all() and per["size"].between(2, 3).all()
    # the focal group (treated) is the larger one, so many stay unmatched
    assert est["n_focal_unmatched"] > 0
    assert "larger group" in " ".join(est["matching"]["notes"])


def test_psmpy_engine_run(cohort, tmp_path):
    small = cohort.iloc[:400].reset_index(drop=True)
    a = run_analysis(small, COVARIATES, {"matching": {"engine": "psmpy"}}, tmp_path / "p", "x")
    b = run_analysis(small, COVARIATES, {"matching": {"m_order": "data"}}, tmp_path / "n", "x")
    assert a["matching"]["engine"] == "psmpy"
    assert a["matching"]["n_pairs"] == b["matching"]["n_pairs"]
    assert a["cox_matched"]["hr"] == pytest.approx(b["cox_matched"]["hr"])


def test_multiple_imputation_pools(cohort, tmp_path):
    est = run_analysis(cohort.iloc[:1000], COVARIATES,
                       {"propensity": {"missing": {"method": "multiple_imputation",
                                                   "n_imputations": 2}}}, tmp_path, "x")
    assert est["imputation"]["n_imputations"] == 2
    assert set(est["imputation"]["pooled"]) == {"cox_matched", "cox_multivariable", "iptw",
                                                "risk_difference"}
    for key in ("cox_matched", "cox_multivariable", "iptw"):
        assert len(est[key]["by_imputation"]) == 2
        hrs = [x["hr"] for x in est[key]["by_imputation"]]
        assert min(hrs) <= est[key]["hr"] * 1.0001 and est[key]["hr"] <= max(hrs) * 1.0001
    assert "pooled" in est["risk_difference"]


def _walk(schema, path="analysis"):
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")


def test_schema_every_option_has_a_default_and_no_extra_keys():
    schema = analysis_schema()
    for path, sub in _walk(schema):
        if path.endswith("[]"):
            continue
        parent_items = path.rsplit(".", 1)[0].endswith("[]")
        if not parent_items or path.split(".")[-1] not in ("name", "column"):
            assert "default" in sub, path
        if sub.get("type") == "object":
            assert sub.get("additionalProperties") is False, path
    d = defaults()
    assert d["matching"] == {"engine": "native", "estimand": "auto", "ratio": 1,
                             "caliper_sd": 0.25, "scale": "ps", "caliper_sd_sample": "all",
                             "m_order": "default"}
    assert with_defaults(None) == d
    with pytest.raises(Exception, match="(?i)additional"):
        with_defaults({"matching": {"calliper": 0.2}})


def test_study_schema_includes_analysis_section():
    from icu_cohort import config

    schema = config.study_schema()
    assert "analysis" in schema["properties"]
    study = config.validate({"name": "s", "title": "t", "question": "q", "analysis": {}},
                            {**schema, "required": ["name"]}, "s.yaml")
    assert study["analysis"]["matching"]["caliper_sd"] == 0.25


def test_degrades_gracefully_without_events(cohort, tmp_path):
    none_died = cohort.iloc[:600].assign(death_28d=0, time_days=28.0)
    est = run_analysis(none_died, COVARIATES[:8], {}, tmp_path, "x")
    assert est["cox_matched"]["hr"] is None and est["mortality_28d"]["matched_treated"] == 0
    assert any("matched Cox" in w for w in est["warnings"])
    assert all((tmp_path / name).is_file() for name in FILES)


def test_no_hazard_ratio_when_one_matched_arm_has_no_death(cohort, tmp_path):
    """No death among the treated: a Cox fit would report a huge log HR with a tight interval;
    the analysis reports no HR (null) and says why, and still writes every file."""
    df = cohort.iloc[:600].copy()
    t = df["treated"] == 1
    df.loc[t, "death_28d"] = 0
    df.loc[t, "time_days"] = 28.0
    assert df.loc[~t, "death_28d"].sum() > 0
    est = run_analysis(df, COVARIATES[:8], {}, tmp_path, "x")
    assert est["cox_matched"]["hr"] is None and est["iptw"]["hr"] is None and est["cox_multivariable"]["hr"] is None
    assert "matched Cox: no deaths among the treated stays; the hazard ratio is not estimable" in est["warnings"]
    assert est["mortality_28d"]["matched_treated"] == 0 and est["mortality_28d"]["matched_control"] > 0
    assert all((tmp_path / name).is_file() for name in FILES)


def test_no_overlap_is_a_clear_error(tmp_path):
    from icu_cohort.analysis.run import AnalysisError

    df = pd.DataFrame({"stay_id": range(20), "treated": [1] * 15 + [0] * 5,
                       "time_days": 28.0, "death_28d": 0,
                       "x": list(range(15)) + [100, 101, 102, 103, 104]})
    with pytest.raises(AnalysisError, match="no control stay"):
        run_analysis(df, [{"name": "x", "type": "continuous"}], {}, tmp_path, "x")
    assert not list(tmp_path.iterdir())
