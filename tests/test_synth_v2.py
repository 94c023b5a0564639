"""The time-varying synthetic MIMIC-IV generator (``icu-cohort synth --dgp timevarying``).

Files and determinism; the study SQL (``icu_cohort.cohort.build_cohort`` over the concepts) selects exactly
the eligible stays and reads exposure, outcome and the missing covariates as the ground truth
says; treatment changes the measurements after it (exact, against the same set without the
response); the ground truth's risks, differences and marginal hazard ratios recompute from the
per-stay file (hazard ratios with lifelines, a second implementation); the DGP's missingness
and first-dose timing follow the parameters; the naive "ever treated" comparison shows the
immortal-time bias on a large sample; bad input fails before anything is written.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from icu_cohort.mimic_tables import TABLES
from icu_cohort.synth import MARKER, OUTPUT_FILES, OutputFolderError, generate, truth_columns_tv
from icu_cohort.synth import timevarying as tv
from icu_cohort.synth.params import InvalidParameterError, UnknownParameterError, load_params

N_PATIENTS, SEED, CHART = 1200, 7, 150
KW = dict(progress=None, chart_rows_per_stay=CHART, threads=1, dgp="timevarying")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def v2(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synth_v2") / "mimic"
    return root, generate(root, N_PATIENTS, SEED, **KW)


@pytest.fixture(scope="module")
def truth(v2) -> tuple[dict, pd.DataFrame]:
    root, _ = v2
    return json.loads((root / "ground_truth.json").read_text()), pd.read_csv(root / "ground_truth_stays.csv")


# ---- files, formats, determinism ------------------------------------------------------------

def test_same_files_headers_and_marker(v2, truth):
    root, summary = v2
    for key, spec in TABLES.items():
        path = root / spec.relpath
        assert path.is_file(), key
        con = duckdb.connect()
        cols = con.execute(f"SELECT * FROM read_csv('{path}', header=true, all_varchar=true) LIMIT 0").df().columns
        assert list(cols) == list(spec.column_names), key
    assert sorted(p.name for p in root.iterdir()) == sorted([MARKER, *OUTPUT_FILES, "hosp", "icu"])
    t, gt = truth
    assert t["dgp"] == "timevarying" and summary["dgp"] == "timevarying"
    assert list(gt.columns) == truth_columns_tv(load_params(dgp="timevarying"))
    assert list(gt.columns[:5]) == ["stay_id", "eligible", "treated", "death_day_if_treated", "death_day_if_untreated"]


def test_byte_identical_for_the_same_seed(tmp_path):
    kw = dict(progress=None, chart_rows_per_stay=60, dgp="timevarying")
    a = Path(generate(tmp_path / "a", 200, 3, threads=2, **kw)["out_dir"])
    b = Path(generate(tmp_path / "b", 200, 3, threads=1, **kw)["out_dir"])
    c = Path(generate(tmp_path / "c", 200, 4, **kw)["out_dir"])
    fa, fb, fc = _files(a), _files(b), _files(c)
    assert fa.keys() == fb.keys() and all(fa[k] == fb[k] for k in fa)
    assert fa["ground_truth_stays.csv"] != fc["ground_truth_stays.csv"]
    base = Path(generate(tmp_path / "base", 200, 3, progress=None, chart_rows_per_stay=60)["out_dir"])
    assert _files(base)["ground_truth_stays.csv"] != fa["ground_truth_stays.csv"]


# ---- the study SQL against the ground truth -------------------------------------------------

@pytest.fixture(scope="module")
def con(v2, tmp_path_factory):
    from icu_cohort import concepts, loader
    from icu_cohort.pipeline import required_tables

    root, _ = v2
    pq = tmp_path_factory.mktemp("synth_v2_parquet")
    keys = required_tables()
    loader.convert_tables(root, pq, keys, threads=1, memory_limit="1GB")
    con = loader.connect(pq, 1, "1GB", None, table_keys=keys)
    concepts.build_concepts(con)  # once; every study below reads them
    return con


@pytest.mark.parametrize("name", ["sae_mgso4", "sae_mgso4_48h"])
def test_cohort_sql_finds_exactly_the_eligible_stays(v2, truth, con, name):
    from icu_cohort import cohort
    from icu_cohort.study import Study
    from test_cohort_support import study

    t, gt = truth
    df, attrition = cohort.build_cohort(con, Study(study(name)))
    assert attrition["n_remaining"].tolist() == [s["n_remaining"] for s in t["attrition"]]
    el = gt[gt["eligible"] == 1]
    assert set(df["stay_id"]) == set(el["stay_id"]) and len(df) > 100
    m = df.merge(el, on="stay_id", suffixes=("", "_gt"))
    # exposure: a first dose anywhere in the stay (sae_mgso4) or within 48 h (sae_mgso4_48h)
    fd = m["iv_mgso4_first_dose_hours"]
    end = study(name)["exposure"]["window_end_hours"]
    exposed = fd.notna() if end is None else fd < end
    assert (m["treated"] == exposed.astype(int)).all()
    assert (m.loc[exposed, "mgso4_first_dose_hours"] - fd[exposed]).abs().max() < 1e-6
    if name == "sae_mgso4":
        assert (m["treated"] == m["treated_gt"]).all()
        assert 0.2 < (fd[exposed] >= 24).mean() < 0.6           # doses after the covariate window
    # outcome: the natural course's death as recorded
    obs = m["death_day_observed"]
    assert (m["death_28d"] == (obs <= 28).astype(int)).all()
    np.testing.assert_allclose(m["time_days"], np.minimum(obs.fillna(99.0), 28.0), atol=1e-6)
    # missing first-day items are missing covariates, nothing else is
    for col, flag in (("lactate", "missing_lactate"), ("bilirubin", "missing_liver_panel"),
                      ("inr", "missing_coagulation")):
        assert (m[col].isna() == (m[flag] == 1)).all(), col
        assert 0.15 < m[flag].mean() < 0.6, col
    for col in ("magnesium", "creatinine", "platelets", "mbp", "gcs_min"):
        assert m[col].notna().all(), col


# ---- treatment changes what is measured after it (exact) -------------------------------------

@pytest.fixture(scope="module")
def no_response(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth_v2_noresp") / "mimic"
    generate(root, N_PATIENTS, SEED, response={"magnesium": {"rise_min": 0.0, "rise_max": 0.0},
                                               "map": {"drop_mmhg": 0}}, **KW)
    return root


def _doses(root: Path) -> pd.DataFrame:
    return duckdb.connect().execute(
        f"SELECT stay_id, epoch(starttime) AS s, epoch(endtime) AS e FROM read_csv('{root}/icu/inputevents.csv.gz') "
        f"WHERE itemid = 222011 ORDER BY stay_id, starttime").df()


def test_magnesium_rises_and_map_falls_after_each_dose_and_nothing_else_changes(v2, truth, no_response):
    root, _ = v2
    q = duckdb.connect()
    P = load_params(dgp="timevarying")
    drop, hours = P["response"]["map"]["drop_mmhg"], P["response"]["map"]["hours"]
    # the rest of the data set is byte-identical without the response
    fa, fb = _files(root), _files(no_response)
    same = {k for k in fa if fa[k] == fb[k]}
    assert set(fa) - same <= {"icu/chartevents.csv.gz", "hosp/labevents.csv.gz", "ground_truth.json"}
    doses = _doses(root)
    assert doses.equals(_doses(no_response))
    # MAP: lower by drop_mmhg exactly in [dose start, start + hours), unchanged elsewhere
    sql = ("SELECT stay_id, epoch(charttime) AS t, itemid, valuenum FROM read_csv('{}/icu/chartevents.csv.gz') "
           "WHERE itemid IN (220052, 220181) ORDER BY stay_id, charttime, itemid")
    a, b = q.execute(sql.format(root)).df(), q.execute(sql.format(no_response)).df()
    assert a[["stay_id", "t", "itemid"]].equals(b[["stay_id", "t", "itemid"]])
    win = np.zeros(len(a), bool)
    for sid, s in doses[["stay_id", "s"]].itertuples(index=False):
        win |= (a["stay_id"].to_numpy() == sid) & (a["t"].to_numpy() >= s) & (a["t"].to_numpy() < s + hours * 3600)
    diff = (b["valuenum"] - a["valuenum"]).to_numpy()
    assert win.sum() > 100 and (diff[~win] == 0).all()
    at_floor = np.isin(a["valuenum"].to_numpy()[win], [35, 72])          # the drop stops at the MAP floor
    assert ((diff[win] == drop) | (at_floor & (diff[win] >= 0))).all()
    assert (diff[win] == drop).mean() > 0.95
    # magnesium (50960): higher after a dose, never before the first dose or without one
    sql = ("SELECT l.hadm_id, epoch(l.charttime) AS t, l.valuenum FROM read_csv('{}/hosp/labevents.csv.gz') l "
           "WHERE itemid = 50960 ORDER BY l.labevent_id")
    la, lb = q.execute(sql.format(root)).df(), q.execute(sql.format(no_response)).df()
    assert la[["hadm_id", "t"]].equals(lb[["hadm_id", "t"]])
    rise = (la["valuenum"] - lb["valuenum"]).to_numpy()
    stays = q.execute(f"SELECT stay_id, hadm_id FROM read_csv('{root}/icu/icustays.csv.gz')").df()
    first = doses.merge(stays, on="stay_id").groupby("hadm_id")["s"].min().rename("first").reset_index()
    lab = la.assign(rise=rise).merge(first, on="hadm_id", how="left")
    assert len(lab) == len(la)
    after = lab["first"].notna() & (lab["t"] > lab["first"])
    before = ~(lab["first"].notna() & (lab["t"] > lab["first"]))
    assert (lab.loc[before, "rise"].abs() < 1e-9).all()
    assert after.sum() > 50 and (lab.loc[after, "rise"] >= -1e-9).all()
    soon = after & (lab["t"] < lab["first"] + 8 * 3600)                # the check 1-6 h after the first dose
    assert 0.3 < lab.loc[soon, "rise"].mean() < 1.2


# ---- ground truth recomputes ---------------------------------------------------------------------

def _lifelines_hr(a: np.ndarray, b: np.ndarray) -> float:
    from lifelines import CoxPHFitter

    t = np.concatenate([a, b])
    event = ~np.isnan(t) & (t <= 28)
    df = pd.DataFrame({"time": np.where(event, t, 28.0), "event": event.astype(int),
                       "x": np.r_[np.ones(a.size), np.zeros(b.size)]})
    return float(np.exp(CoxPHFitter().fit(df, "time", "event").params_["x"]))


def test_truth_json_recomputes_from_the_stays_file(truth):
    t, gt = truth
    el = gt[gt["eligible"] == 1]

    def r(col, sub=el):
        return float((sub[col] <= 28).mean())

    for name, sel in (("ATT", el["treated"] == 1), ("ATC", el["treated"] == 0), ("ATE", el["treated"] >= 0)):
        e = t["effects"][name]
        assert e["n_stays"] == int(sel.sum())
        assert e["risk_treated"] == pytest.approx(r("death_day_if_treated", el[sel]), abs=1e-12)
        assert e["risk_untreated"] == pytest.approx(r("death_day_if_untreated", el[sel]), abs=1e-12)
    pairs = {"treat_at_admission_vs_never": ("death_day_if_treated", "death_day_if_untreated", el)}
    for g in (24, 48):
        pairs[f"start_within_{g}h_vs_no_start_within_{g}h"] = (
            f"death_day_start_within_{g}h", f"death_day_no_start_within_{g}h", el)
        pairs[f"landmark_{g}h"] = (f"death_day_start_within_{g}h", f"death_day_no_start_within_{g}h",
                                   el[el[f"alive_in_icu_at_{g}h"] == 1])
    assert set(t["contrasts"]) == set(pairs)
    for name, (ca, cb, sub) in pairs.items():
        c = t["contrasts"][name]
        assert c["n_stays"] == len(sub)
        assert c["risk_strategy"] == pytest.approx(r(ca, sub), abs=1e-12)
        assert c["risk_comparator"] == pytest.approx(r(cb, sub), abs=1e-12)
        assert c["risk_difference"] == pytest.approx(r(ca, sub) - r(cb, sub), abs=1e-12)
        assert c["hazard_ratio"] == pytest.approx(_lifelines_hr(sub[ca].to_numpy(), sub[cb].to_numpy()), rel=1e-5)
    fd = el["iv_mgso4_first_dose_hours"]
    f = t["first_dose"]
    assert f["share_treated_by_24h"] == pytest.approx((fd < 24).mean(), abs=1e-12)
    assert f["share_treated_by_48h"] == pytest.approx((fd < 48).mean(), abs=1e-12)
    assert f["share_treated_whole_stay"] == pytest.approx(fd.notna().mean(), abs=1e-12)
    obs = el["death_day_observed"]
    tr = el["treated"] == 1
    assert t["observed_crude"]["risk_treated"] == pytest.approx(float((obs[tr] <= 28).mean()), abs=1e-12)
    for item, m in t["missingness"].items():
        assert m["eligible_share"] == pytest.approx(el[f"missing_{item}"].mean(), abs=1e-12)


def test_potential_outcomes_share_their_random_numbers(truth):
    """Common random numbers: where two strategies give the same treatment history, the same death."""
    _, gt = truth
    el = gt[gt["eligible"] == 1]
    fd = el["iv_mgso4_first_dose_hours"]
    same = lambda a, b, sel: np.allclose(el.loc[sel, a].fillna(-1), el.loc[sel, b].fillna(-1), atol=1e-9)  # noqa: E731
    assert same("death_day_observed", "death_day_if_untreated", fd.isna())
    for g in (24, 48):
        assert same("death_day_observed", f"death_day_start_within_{g}h", fd < g)
        assert same("death_day_observed", f"death_day_no_start_within_{g}h", fd.isna() | (fd >= g))
    # treatment only lowers the hazard (log_hr < 0): treated from admission dies no earlier
    a, b = el["death_day_if_treated"].fillna(1e9), el["death_day_if_untreated"].fillna(1e9)
    assert (a >= b - 1e-9).all() and (a > b).mean() > 0.2


def test_without_an_effect_every_strategy_gives_the_same_death():
    df = tv.simulate_process(3000, 4, log_hr=0.0)
    names = [c for c in df.columns if c.startswith("T_")]
    assert len(names) == 7
    for c in names:
        np.testing.assert_allclose(df[c], df["T_never"], rtol=0, atol=1e-7)


# ---- DGP-level checks on large samples (no files) --------------------------------------------

@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    return tv.simulate_process(40_000, 2024)


def test_missingness_rates_match_the_parameters_and_are_mar(big):
    P = load_params(dgp="timevarying")
    for item, share in P["missingness"]["share"].items():
        assert big[f"miss_{item}"].mean() == pytest.approx(share, abs=0.015), item
    assert (big["miss_lactate"] >= big["miss_blood_gas"]).all()
    assert (big["miss_albumin"] >= big["miss_liver_panel"]).all()
    vent = big["mechanical_ventilation"] == 1
    assert big.loc[vent, "miss_blood_gas"].mean() < big.loc[~vent, "miss_blood_gas"].mean() - 0.1


def test_mnar_setting_depends_on_the_unobserved_value():
    df = tv.simulate_process(20_000, 9, missingness={"mnar_log_or": {"lactate": -1.5}})
    assert df["miss_lactate"].mean() == pytest.approx(0.40, abs=0.02)
    lac = np.log(df["lactate"])
    assert lac[df["miss_lactate"]].mean() < lac[~df["miss_lactate"]].mean() - 0.15


def test_first_dose_is_spread_over_time_as_documented(big):
    P = load_params(dgp="timevarying")
    fd = big["first_dose_hours"]
    f = tv.first_dose_summary(fd.to_numpy())
    assert f["share_treated_whole_stay"] == pytest.approx(P["treatment"]["target_treated_share"], abs=0.02)
    assert f["share_treated_by_24h"] < f["share_treated_by_48h"] < f["share_treated_whole_stay"]
    assert 0.2 <= f["share_of_treated_starting_after_24h"] <= 0.5
    assert (fd.dropna() >= P["treatment_process"]["earliest_hours"]).all()
    # a first dose only while alive and in the ICU (so early deaths and discharges cut treatment short)
    ok = fd.notna()
    assert (fd[ok] / 24 < big.loc[ok, "T_natural"]).all()
    assert (fd[ok] + 1 + tv.DOSE_FIT_HOURS <= big.loc[ok, "icu_hours"] + 1).all()


def _cox_breslow(start, stop, event, X) -> np.ndarray:
    """Counting-process Cox (Breslow ties) by Newton-Raphson: a second, independent fitter."""
    X = np.asarray(X, float)
    beta = np.zeros(X.shape[1])
    order_stop = np.argsort(stop)
    ev_idx = np.flatnonzero(event)
    ev_t = stop[ev_idx]
    for _ in range(30):
        w = np.exp(X @ beta)
        # risk set at t: start < t <= stop
        s_stop = np.sort(stop)
        s_start = np.sort(start)
        cs = lambda v, o: np.r_[0.0, np.cumsum(v[o][::-1])][::-1]  # noqa: E731  sums of v over rows >= position
        o_stop, o_start = order_stop, np.argsort(start)

        def at_risk_sum(v):
            a = cs(v, o_stop)[np.searchsorted(s_stop, ev_t, side="left")]
            b = cs(v, o_start)[np.searchsorted(s_start, ev_t, side="left")]
            return a - b

        S0 = at_risk_sum(w)
        S1 = np.stack([at_risk_sum(w * X[:, j]) for j in range(X.shape[1])], axis=1)
        S2 = np.stack([np.stack([at_risk_sum(w * X[:, j] * X[:, k]) for k in range(X.shape[1])], axis=1)
                       for j in range(X.shape[1])], axis=1)
        mean = S1 / S0[:, None]
        grad = X[ev_idx].sum(axis=0) - mean.sum(axis=0)
        info = (S2 / S0[:, None, None] - mean[:, :, None] * mean[:, None, :]).sum(axis=0)
        step = np.linalg.solve(info, grad)
        beta = beta + step
        if np.abs(step).max() < 1e-9:
            break
    return beta


def test_naive_ever_treated_comparison_shows_immortal_time_bias(big):
    """Adjusted for the baseline covariates (the DGP's eta), a time-fixed 'ever treated' Cox model
    credits the pre-treatment survival to the drug: its HR is below the planted 0.6 and well below
    the same model with treatment as time-varying (person-time split at the first dose), which is
    near 0.6 (slightly above: it ignores the time-varying severity that also drives treatment)."""
    obs = np.minimum(big["T_natural"].to_numpy(), 28.0)
    event = big["T_natural"].to_numpy() <= 28.0
    fd = big["first_dose_hours"].to_numpy() / 24.0
    ever = ~np.isnan(fd)
    eta = big["_eta"].to_numpy()
    n = len(big)
    naive = _cox_breslow(np.zeros(n), obs, event, np.c_[ever, eta])[0]
    split = ever & (fd < obs)
    start = np.r_[np.zeros(n), fd[split]]
    stop = np.r_[np.where(split, fd, obs), obs[split]]
    ev = np.r_[np.where(split, False, event), event[split]]
    A = np.r_[np.zeros(n), np.ones(split.sum())]
    timevar = _cox_breslow(start, stop, ev, np.c_[A, np.r_[eta, eta[split]]])[0]
    planted = math.log(0.6)
    assert naive < timevar - 0.05, (math.exp(naive), math.exp(timevar))
    assert naive < planted - 0.02, (math.exp(naive), math.exp(timevar))
    assert 0.0 < timevar - planted < 0.08, math.exp(timevar)


# ---- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, error, words", [
    ({"severity_process": {"nope": 1}}, UnknownParameterError, "severity_process.nope"),
    ({"late_dose": {"share": 0.1}}, UnknownParameterError, "late_dose"),
    ({"missingness": {"share": {"lactate": 1.2}}}, InvalidParameterError, "missingness.share.lactate"),
    ({"missingness": {"share": {"blood_gas": -0.1}}}, InvalidParameterError, "missingness.share.blood_gas"),
    ({"missingness": {"share": {"lactate": 0.1}}}, InvalidParameterError, "missingness.share.lactate"),
    ({"strategies": {"grace_hours": [24, -48]}}, InvalidParameterError, "negative"),
    ({"strategies": {"landmark_hours": [24, 500]}}, InvalidParameterError, "strategies.landmark_hours"),
    ({"covariates": {"male": 1.5}}, InvalidParameterError, "covariates.male"),
    ({"outcome": {"delay_days": 0.5}}, InvalidParameterError, "outcome.delay_days"),
])
def test_bad_parameters_are_named_errors_before_anything_is_written(tmp_path, overrides, error, words):
    with pytest.raises(error, match=words.replace(".", r"\.")):
        generate(tmp_path / "out", 50, 1, progress=None, dgp="timevarying", **overrides)
    assert list(tmp_path.iterdir()) == []


def test_out_replaces_only_folders_it_wrote(tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "mine.txt").write_text("not synthetic data")
    with pytest.raises(OutputFolderError, match="refusing"):
        generate(out, 50, 1, progress=None, chart_rows_per_stay=20, dgp="timevarying")
    assert (out / "sub" / "mine.txt").read_text() == "not synthetic data"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    (out / "sub" / "mine.txt").unlink()
    (out / "hosp").mkdir()                     # empty folders only (as Snakemake leaves them): fine
    generate(out, 50, 1, progress=None, chart_rows_per_stay=20, dgp="timevarying")
    generate(out, 50, 2, progress=None, chart_rows_per_stay=20, dgp="timevarying")   # ours: replaced
    assert (out / MARKER).is_file() and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_cli_dgp_option_and_errors(tmp_path):
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "icu_cohort.cli", "synth", "--patients", "80", "--seed", "2", "--out", str(out),
           "--chart-rows-per-stay", "30", "--dgp", "timevarying", "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "ground_truth.json").read_text())["dgp"] == "timevarying"
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategies:\n  grace_hours: [-24]\n")
    res = subprocess.run([*cmd[:-1], "--params", str(bad)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "grace_hours" in res.stderr
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.csv").write_text("a,b\n")
    res = subprocess.run([*cmd[:9], str(foreign), *cmd[10:]], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "refusing" in res.stderr and (foreign / "x.csv").read_text() == "a,b\n"
    res = subprocess.run([*cmd[:-2], "nonsense", "--quiet"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "nonsense" in res.stderr
