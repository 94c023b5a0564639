"""The synthetic MIMIC-IV generator: files, formats, determinism, ground truth, planted effect.

(The mimic-code-level checks of eligibility and covariates are in test_synth_sql.py.)
"""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from icu_cohort.mimic_tables import TABLES
from icu_cohort.synth import generate, icu_tables, load_params
from icu_cohort.synth.dgp import PUBLIC_COLUMNS, simulate_stays

N_PATIENTS, SEED, CHART = 400, 11, 1200
TRUTH_COLUMNS = ["stay_id", "eligible", "treated", "death_day_if_treated", "death_day_if_untreated",
                 "iv_mgso4_first_dose_hours", "eligible_except_encephalopathy", "encephalopathy",
                 "cam_icu_first_positive_hours", "eligible_sepsis", "eligible_ais", "thrombectomy"]


def demo_dir() -> Path:
    env = os.environ.get("ICU_COHORT_DEMO_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "mimic-iv-demo-2.2"


def _header(path: Path) -> str:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        return fh.readline().rstrip("\r\n")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synth") / "mimic"
    summary = generate(root, N_PATIENTS, SEED, progress=None, chart_rows_per_stay=CHART)
    return root, summary


# ---- files and formats -----------------------------------------------------------------

def test_every_table_written_with_the_exact_header(synth):
    root, _ = synth
    for key, spec in TABLES.items():
        path = root / spec.relpath
        assert path.is_file(), key
        assert _header(path) == ",".join(spec.column_names), key
    assert sorted(p.name for p in root.iterdir()) == [".icu-cohort-synth", "ground_truth.json", "ground_truth_stays.csv",
                                                      "hosp", "icu"]


def test_headers_equal_the_open_demo(synth):
    demo = demo_dir()
    if not (demo / "hosp" / "patients.csv.gz").is_file():
        pytest.skip(f"the open MIMIC-IV demo is not at {demo} (set ICU_COHORT_DEMO_DIR)")
    root, _ = synth
    compared = 0
    for spec in TABLES.values():
        theirs = demo / spec.relpath
        if theirs.is_file():                      # the demo ships without chartevents
            assert _header(root / spec.relpath) == _header(theirs), spec.relpath
            compared += 1
    assert compared >= len(TABLES) - 1


def test_every_table_parses_with_the_documented_types(synth):
    root, summary = synth
    con = duckdb.connect()
    for key, spec in TABLES.items():
        cols = ", ".join(f"'{c}': '{t}'" for c, t in spec.columns)
        n = con.execute(f"SELECT COUNT(*) FROM read_csv('{root / spec.relpath}', header=true, "
                        f"columns={{{cols}}}, auto_detect=false)").fetchall()[0][0]
        assert n == summary["rows"][key] > 0, key


def test_value_formats_follow_physionet(synth):
    root, _ = synth
    con = duckdb.connect()
    icu = con.execute(f"SELECT * FROM read_csv('{root}/icu/icustays.csv.gz', all_varchar=true)").df()
    assert icu["intime"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    pat = con.execute(f"SELECT * FROM read_csv('{root}/hosp/patients.csv.gz', all_varchar=true)").df()
    assert pat["dod"].dropna().str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    assert (pat["anchor_age"].astype(int) < 18).sum() >= 0
    lab = con.execute(f"SELECT value, valuenum FROM read_csv('{root}/hosp/labevents.csv.gz', all_varchar=true) "
                      f"WHERE itemid = '50960' LIMIT 50").df()
    assert lab["value"].str.fullmatch(r"\d+\.\d").all()               # magnesium '2.0' as MIMIC writes it
    mg = con.execute(f"SELECT amount FROM read_csv('{root}/icu/inputevents.csv.gz', all_varchar=true) "
                     f"WHERE itemid = '222011' AND CAST(amount AS DOUBLE) BETWEEN 1.9 AND 2.1 LIMIT 1").df()
    assert mg["amount"].iloc[0] == "2.0000001043081284"
    # NULL is an empty field; an empty string (IV form_rx) is written "" as PhysioNet does
    raw = gzip.open(root / "hosp" / "prescriptions.csv.gz", "rt").read()
    assert ',"",' in raw and ",,," in raw
    gcs = con.execute(f"SELECT DISTINCT value FROM read_csv('{root}/icu/chartevents.csv.gz', all_varchar=true) "
                      f"WHERE itemid = '223900'").df()["value"]
    assert set(gcs) <= {"Oriented", "Confused", "Inappropriate Words", "Incomprehensible sounds", "No Response",
                        "No Response-ETT"}


def test_values_with_commas_or_quotes_are_quoted(tmp_path):
    race = 'OTHER, "UNSPECIFIED"'
    out = Path(generate(tmp_path / "q", 60, 1, progress=None, chart_rows_per_stay=50,
                        covariates={"race": {race: 1.0}})["out_dir"])
    raw = gzip.open(out / "hosp" / "admissions.csv.gz", "rt").read()
    assert '"OTHER, ""UNSPECIFIED"""' in raw
    got = duckdb.connect().execute(f"SELECT DISTINCT race FROM read_csv('{out}/hosp/admissions.csv.gz')").fetchall()
    assert got == [(race,)]


def test_files_are_standard_gzip_with_zero_mtime(synth):
    root, _ = synth
    for spec in TABLES.values():
        raw = (root / spec.relpath).read_bytes()
        assert raw[:4] == b"\x1f\x8b\x08\x00" and raw[4:8] == b"\x00\x00\x00\x00", spec.relpath
        assert gzip.decompress(raw).endswith(b"\n")


# ---- determinism and atomic writing ----------------------------------------------------------

def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = generate(tmp_path / "a", 150, 3, progress=None, chart_rows_per_stay=100, threads=2)["out_dir"]
    b = generate(tmp_path / "b", 150, 3, progress=None, chart_rows_per_stay=100, threads=1)["out_dir"]
    c = generate(tmp_path / "c", 150, 4, progress=None, chart_rows_per_stay=100)["out_dir"]
    fa, fb, fc = _files(Path(a)), _files(Path(b)), _files(Path(c))
    assert fa.keys() == fb.keys() and all(fa[k] == fb[k] for k in fa)
    assert fa["hosp/patients.csv.gz"] != fc["hosp/patients.csv.gz"]
    assert fa["ground_truth_stays.csv"] != fc["ground_truth_stays.csv"]


def test_many_chunks_same_bytes_and_unique_ids(tmp_path, monkeypatch):
    """Small chunks (several gzip blocks, CRCs combined, id counters carried across chunks)."""
    import icu_cohort.synth as synth_pkg

    monkeypatch.setattr(synth_pkg, "CHUNK_CHART_ROWS", 3000)
    a = Path(generate(tmp_path / "a", 150, 8, progress=None, chart_rows_per_stay=100, threads=2)["out_dir"])
    b = Path(generate(tmp_path / "b", 150, 8, progress=None, chart_rows_per_stay=100, threads=1)["out_dir"])
    fa, fb = _files(a), _files(b)
    assert all(fa[k] == fb[k] for k in fa)
    con = duckdb.connect()
    lab = con.execute(f"SELECT labevent_id FROM read_csv('{a}/hosp/labevents.csv.gz')").df()["labevent_id"]
    assert (lab.to_numpy() == np.arange(1, len(lab) + 1)).all()
    inp = con.execute(f"SELECT itemid, orderid FROM read_csv('{a}/icu/inputevents.csv.gz') WHERE itemid != 227523").df()
    assert inp["orderid"].is_unique
    spec = con.execute(f"SELECT specimen_id, COUNT(DISTINCT charttime) AS n FROM read_csv('{a}/hosp/labevents.csv.gz') "
                       f"GROUP BY specimen_id").df()
    assert (spec["n"] == 1).all()


def test_failed_run_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(icu_tables, "outputevents_chunk", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        generate(tmp_path / "out", 100, 1, progress=None, chart_rows_per_stay=50)
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_is_replaced_only_if_synth_wrote_it(tmp_path):
    from icu_cohort.synth import MARKER, OutputFolderError

    out = tmp_path / "out"
    out.mkdir()
    (out / "stale").write_text("someone else's file")
    with pytest.raises(OutputFolderError, match="refusing"):
        generate(out, 100, 1, progress=None, chart_rows_per_stay=50)
    assert [p.name for p in out.iterdir()] == ["stale"]
    (out / MARKER).write_text("x")                  # a folder marked as ours is replaced
    generate(out, 100, 1, progress=None, chart_rows_per_stay=50)
    assert not (out / "stale").exists() and (out / "ground_truth.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# ---- ground truth -------------------------------------------------------------------------

def test_ground_truth_stays_file(synth):
    root, summary = synth
    gt = pd.read_csv(root / "ground_truth_stays.csv")
    assert list(gt.columns) == TRUTH_COLUMNS
    icu = pd.read_csv(root / "icu" / "icustays.csv.gz")
    assert sorted(gt["stay_id"]) == sorted(icu["stay_id"])
    assert set(gt["eligible"]) <= {0, 1} and set(gt["treated"]) <= {0, 1}
    for col in ("death_day_if_treated", "death_day_if_untreated"):
        d = gt[col].dropna()
        assert (d > 0).all() and (d <= 90).all()
    assert gt["eligible"].sum() == summary["eligible_stays"]
    share = gt["eligible"].mean()
    assert 0.30 <= share <= 0.60, share


def test_ground_truth_json_recomputes_from_the_stays_file(synth):
    root, _ = synth
    truth = json.loads((root / "ground_truth.json").read_text())
    s = truth["settings"]
    assert s["seed"] == SEED and s["patients"] == N_PATIENTS
    assert math.isclose(s["log_hr"], math.log(0.6)) and math.isclose(s["hazard_ratio"], 0.6)
    assert s["treated_share_target"] == 0.9
    gt = pd.read_csv(root / "ground_truth_stays.csv")
    el = gt[gt["eligible"] == 1]
    for name, sel in (("ATT", el["treated"] == 1), ("ATC", el["treated"] == 0), ("ATE", el["treated"] >= 0)):
        sub = el[sel]
        r1 = float((sub["death_day_if_treated"] <= 28).mean())
        r0 = float((sub["death_day_if_untreated"] <= 28).mean())
        eff = truth["effects"][name]
        assert eff["n_stays"] == len(sub)
        assert eff["risk_treated"] == pytest.approx(r1, abs=1e-12)
        assert eff["risk_untreated"] == pytest.approx(r0, abs=1e-12)
        assert eff["risk_difference"] == pytest.approx(r1 - r0, abs=1e-12)
    att = truth["attrition"]
    assert att[-1]["n_remaining"] == len(el)
    assert all(a["n_remaining"] + a["n_excluded"] == b["n_remaining"] for b, a in zip(att, att[1:]))


def test_observed_deaths_in_the_data_match_the_truth(synth):
    """death_day_if_<treated status> is the death the SQL reads: own-admission deathtime,
    else patients.dod at 12:00 (CONTRACT's outcome rule)."""
    root, _ = synth
    con = duckdb.connect()
    q = f"""
    SELECT ie.stay_id,
      epoch(COALESCE(a.deathtime, CAST(p.dod AS TIMESTAMP) + INTERVAL 12 HOUR) - ie.intime) / 86400.0 AS death_day
    FROM read_csv('{root}/icu/icustays.csv.gz') ie
    JOIN read_csv('{root}/hosp/admissions.csv.gz') a USING (hadm_id)
    JOIN read_csv('{root}/hosp/patients.csv.gz', types={{'dod': 'DATE'}}) p ON p.subject_id = ie.subject_id
    """
    data = con.execute(q).df().set_index("stay_id")
    gt = pd.read_csv(root / "ground_truth_stays.csv").set_index("stay_id")
    obs = np.where(gt["treated"] == 1, gt["death_day_if_treated"], gt["death_day_if_untreated"])
    d = data.loc[gt.index, "death_day"].to_numpy()
    known = ~np.isnan(obs)
    np.testing.assert_allclose(d[known], obs[known], atol=1e-6)
    # stays whose truth says "alive at day 90" are not dead by day 90 in the data
    assert not (d[~known] <= 90).any()
    assert (gt.loc[gt["eligible"] == 1, "death_day_if_treated"].dropna() >= 1.0).all()


def test_events_fall_inside_their_stay_and_admission(synth):
    root, _ = synth
    con = duckdb.connect()
    r = lambda t: f"read_csv('{root}/{t}.csv.gz')"          # noqa: E731 - local shorthand
    checks = {
        "chartevents": f"SELECT COUNT(*) FROM {r('icu/chartevents')} c JOIN {r('icu/icustays')} s USING (stay_id) "
                       f"WHERE c.charttime < s.intime OR c.charttime > s.outtime",
        "inputevents": f"SELECT COUNT(*) FROM {r('icu/inputevents')} c JOIN {r('icu/icustays')} s USING (stay_id) "
                       f"WHERE c.starttime < s.intime OR c.endtime > s.outtime",
        "outputevents": f"SELECT COUNT(*) FROM {r('icu/outputevents')} c JOIN {r('icu/icustays')} s USING (stay_id) "
                        f"WHERE c.charttime < s.intime OR c.charttime > s.outtime",
        "procedureevents": f"SELECT COUNT(*) FROM {r('icu/procedureevents')} c JOIN {r('icu/icustays')} s "
                           f"USING (stay_id) WHERE c.starttime < s.intime OR c.endtime > s.outtime",
        "icustays": f"SELECT COUNT(*) FROM {r('icu/icustays')} c JOIN {r('hosp/admissions')} a USING (hadm_id) "
                    f"WHERE c.intime < a.admittime OR c.outtime > a.dischtime",
        "labevents": f"SELECT COUNT(*) FROM {r('hosp/labevents')} c JOIN {r('hosp/admissions')} a USING (hadm_id) "
                     f"WHERE c.charttime < a.admittime OR c.charttime > a.dischtime",
        "prescriptions": f"SELECT COUNT(*) FROM {r('hosp/prescriptions')} c JOIN {r('hosp/admissions')} a "
                         f"USING (hadm_id) WHERE c.starttime < a.admittime OR c.starttime > a.dischtime",
        "after death": f"SELECT COUNT(*) FROM {r('hosp/admissions')} a JOIN read_csv('{root}/hosp/patients.csv.gz', "
                       f"types={{'dod': 'DATE'}}) p USING (subject_id) WHERE a.admittime >= p.dod + INTERVAL 1 DAY",
        "deathtime": f"SELECT COUNT(*) FROM {r('hosp/admissions')} WHERE deathtime IS NOT NULL AND "
                     f"(deathtime != dischtime OR hospital_expire_flag != 1)",
    }
    for name, q in checks.items():
        assert con.execute(q).fetchall()[0][0] == 0, name


# ---- exposure and decoys ------------------------------------------------------------------

def _iv_mgso4(root: Path) -> pd.DataFrame:
    """IV magnesium sulfate rows with the stay's intime/outtime, ``hours`` from intime, and the
    patient's death time (admissions.deathtime, else patients.dod at 12:00; NaT if none)."""
    return duckdb.connect().execute(f"""
        SELECT i.stay_id, i.itemid, i.orderid, i.amount, i.starttime, i.endtime, ie.intime, ie.outtime,
               epoch(i.starttime - ie.intime) / 3600.0 AS hours,
               COALESCE(a.deathtime, CAST(p.dod AS TIMESTAMP) + INTERVAL 12 HOUR) AS death
        FROM read_csv('{root}/icu/inputevents.csv.gz') i
        JOIN read_csv('{root}/icu/icustays.csv.gz') ie USING (stay_id)
        JOIN read_csv('{root}/hosp/admissions.csv.gz') a ON a.hadm_id = ie.hadm_id
        JOIN read_csv('{root}/hosp/patients.csv.gz', types={{'dod': 'DATE'}}) p ON p.subject_id = ie.subject_id
        WHERE i.itemid IN (222011, 227523)""").df()


def _check_iv_mgso4(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stays whose first IV magnesium sulfate starts within 48 h: exactly the treated stays (first
    dose 1-20 h; their further doses may come later). Stays first dosed after 48 h: late doses
    (60-144 h) of eligible stays untreated at baseline, every dose while alive and in the ICU.
    The ground truth's first dose is the first row written."""
    inp = _iv_mgso4(root)
    gt = pd.read_csv(root / "ground_truth_stays.csv").set_index("stay_id")
    first = inp.groupby("stay_id")["hours"].min()
    assert set(first.index[first < 48]) == set(gt.index[gt["treated"] == 1])
    assert first.loc[gt.index[gt["treated"] == 1]].between(1.0, 20.0).all()
    late_ids = first.index[first >= 48]
    late_gt = gt.loc[late_ids]
    assert (late_gt["treated"] == 0).all() and (late_gt["eligible"] == 1).all()
    assert first.loc[late_ids].between(60.0, 144.0).all(), first.loc[late_ids].describe()
    late = inp[inp["stay_id"].isin(late_ids)]
    assert (late["endtime"] <= late["outtime"] - pd.Timedelta(minutes=10)).all()
    assert (late["death"].isna() | (late["starttime"] < late["death"])).all()
    recorded = gt["iv_mgso4_first_dose_hours"].dropna()
    assert sorted(first.index) == sorted(recorded.index)
    np.testing.assert_allclose(recorded.loc[first.index].to_numpy(), first.to_numpy(), atol=1e-6)
    return inp, gt


def test_iv_magnesium_early_for_treated_late_for_survivors_paired_by_orderid(synth):
    root, _ = synth
    inp, gt = _check_iv_mgso4(root)
    grams = inp[inp["itemid"] == 222011].set_index("orderid")
    bolus = inp[inp["itemid"] == 227523].set_index("orderid")
    assert sorted(grams.index) == sorted(bolus.index) and grams.index.is_unique
    assert (grams["amount"] > 0).all() and (bolus["amount"] > 0).all()
    assert (grams.loc[bolus.index, "starttime"].to_numpy() == bolus["starttime"].to_numpy()).all()


def test_oral_magnesium_decoys_for_treated_and_untreated_never_as_iv(synth):
    root, _ = synth
    con = duckdb.connect()
    rx = con.execute(f"SELECT p.drug, p.route, ie.stay_id FROM read_csv('{root}/hosp/prescriptions.csv.gz') p "
                     f"JOIN read_csv('{root}/icu/icustays.csv.gz') ie ON p.hadm_id = ie.hadm_id "
                     f"AND p.starttime >= ie.intime AND p.starttime < ie.outtime "
                     f"WHERE p.drug IN ('Magnesium Oxide', 'Milk of Magnesia')").df()
    assert set(rx["drug"]) == {"Magnesium Oxide", "Milk of Magnesia"}
    assert set(rx["route"]) == {"PO"}
    gt = pd.read_csv(root / "ground_truth_stays.csv").set_index("stay_id")
    treated = gt.loc[rx["stay_id"], "treated"]
    assert (treated == 1).any() and (treated == 0).any()
    items = con.execute(f"SELECT DISTINCT itemid FROM read_csv('{root}/icu/inputevents.csv.gz') ie "
                        f"WHERE ie.stay_id IN (SELECT stay_id FROM read_csv('{root}/ground_truth_stays.csv') "
                        f"WHERE treated = 0 AND iv_mgso4_first_dose_hours IS NULL)").df()["itemid"]
    assert not set(items) & {222011, 227523, 227524}


# ---- late IV magnesium sulfate (immortal time) ---------------------------------------------

LATE_KW = dict(progress=None, chart_rows_per_stay=80, treated_share=0.5)


@pytest.fixture(scope="module")
def late_pair(tmp_path_factory) -> tuple[Path, Path]:
    """The same seed without and with late doses for every eligible stay untreated at baseline."""
    base = tmp_path_factory.mktemp("late")
    off = Path(generate(base / "off", 1200, 21, late_dose={"share": 0.0}, **LATE_KW)["out_dir"])
    on = Path(generate(base / "on", 1200, 21, late_dose={"share": 1.0}, **LATE_KW)["out_dir"])
    return off, on


def test_late_doses_follow_their_constraints_and_the_truth_records_them(late_pair):
    off, on = late_pair
    inp, gt = _check_iv_mgso4(on)
    late = gt[(gt["treated"] == 0) & gt["iv_mgso4_first_dose_hours"].notna()]
    eligible_untreated = gt[(gt["eligible"] == 1) & (gt["treated"] == 0)]
    assert len(late) >= 10 and len(late) < len(eligible_untreated)     # some were discharged or died first
    truth = json.loads((on / "ground_truth.json").read_text())
    assert truth["settings"]["late_dose"]["share"] == 1.0
    assert truth["settings"]["late_dose"]["min_hours"] == 60.0 and truth["settings"]["late_dose"]["max_hours"] == 144.0
    assert truth["counts"]["eligible_untreated_late_dosed"] == len(late)
    # late-dosed stays were alive and in the ICU at their first dose
    icu = pd.read_csv(on / "icu" / "icustays.csv.gz", parse_dates=["intime", "outtime"]).set_index("stay_id")
    los_h = (icu.loc[late.index, "outtime"] - icu.loc[late.index, "intime"]).dt.total_seconds() / 3600
    assert (late["iv_mgso4_first_dose_hours"] < los_h).all()
    assert (late["death_day_if_untreated"].isna() | (late["iv_mgso4_first_dose_hours"] / 24
                                                      < late["death_day_if_untreated"])).all()
    # without late doses: IV magnesium only for treated stays
    _, gt_off = _check_iv_mgso4(off)
    assert gt_off["iv_mgso4_first_dose_hours"].notna().eq(gt_off["treated"] == 1).all()


def test_late_doses_change_nothing_else(late_pair):
    """Own random stream: every other file is byte-identical; inputevents only gains rows; the
    truth's other columns and effects are unchanged (late doses have no effect on outcomes)."""
    off, on = late_pair
    fa, fb = _files(off), _files(on)
    assert fa.keys() == fb.keys()
    differ = {k for k in fa if fa[k] != fb[k]}
    assert differ == {"icu/inputevents.csv.gz", "ground_truth.json", "ground_truth_stays.csv"}
    rows_off = gzip.decompress(fa["icu/inputevents.csv.gz"]).decode().splitlines()
    rows_on = gzip.decompress(fb["icu/inputevents.csv.gz"]).decode().splitlines()
    it = iter(rows_on)
    assert all(any(r == s for s in it) for r in rows_off)               # rows_off is a subsequence
    added = set(rows_on) - set(rows_off)
    assert len(added) == len(rows_on) - len(rows_off) > 0
    assert {r.split(",")[7] for r in added} == {"222011", "227523"}
    g_off, g_on = pd.read_csv(off / "ground_truth_stays.csv"), pd.read_csv(on / "ground_truth_stays.csv")
    same = [c for c in TRUTH_COLUMNS if c != "iv_mgso4_first_dose_hours"]
    pd.testing.assert_frame_equal(g_off[same], g_on[same])
    t_off, t_on = (json.loads((d / "ground_truth.json").read_text()) for d in (off, on))
    assert t_off["effects"] == t_on["effects"] and t_off["observed_crude"] == t_on["observed_crude"]
    inp = duckdb.connect().execute(f"SELECT orderid FROM read_csv('{on}/icu/inputevents.csv.gz') "
                                   f"WHERE itemid != 227523").df()
    assert inp["orderid"].is_unique


def test_late_dose_only_when_alive_and_in_the_icu():
    """A picked stay gets its late dose only if it ends >= 10 min before outtime (discharge or death)."""
    P = load_params(overrides={"late_dose": {"share": 1.0, "min_hours": 60.0, "max_hours": 60.0},
                               "medication": {"mgso4_extra_doses_mean": 0.0}})
    h = 3600
    intime = 10_000 * 86400 + 17                      # seconds: the dose is on the next whole minute
    out_h = np.array([50.0, 61.0, 61.5, 100.0, 100.0, 100.0])
    st = pd.DataFrame({"intime": np.full(6, intime, np.int64), "outtime": intime + (out_h * h).astype(np.int64),
                       "eligible": [True, True, True, True, False, True], "treated": [0, 0, 0, 0, 0, 1]})
    late = icu_tables.late_mgso4_doses(st, np.random.default_rng(0), P, 10)
    start = intime - intime % 60 + 60 + 60 * h
    dur = late["dur"]
    assert set(late["stay"]) <= {2, 3} and 3 in late["stay"]            # stay 2 only if a 1-h dose fits
    assert (late["start"] == start).all()
    assert (start + dur + 600 <= st["outtime"].to_numpy()[late["stay"]]).all()
    assert (late["first"][[0, 1, 4, 5]] == -1).all() and late["first"][3] == start


def test_late_dose_parameters_are_validated():
    with pytest.raises(ValueError, match="late_dose.share"):
        load_params(overrides={"late_dose": {"share": 1.5}})
    with pytest.raises(ValueError, match="late_dose"):
        load_params(overrides={"late_dose": {"min_hours": 10.0}})
    with pytest.raises(ValueError, match="late_dose"):
        load_params(overrides={"late_dose": {"min_hours": 100.0, "max_hours": 90.0}})


def test_chartevents_volume_follows_the_option(synth):
    root, summary = synth
    assert summary["rows"]["icu/chartevents"] == round(CHART * summary["icu_stays"])
    ids = pd.read_csv(root / "icu" / "chartevents.csv.gz", usecols=["itemid"])["itemid"]
    cam = {i for form in icu_tables.CAM_FORMS for i in form} | {icu_tables.DELIRIUM_ASSESSMENT}
    filler = set(ids) - {220045, 220050, 220051, 220052, 220179, 220180, 220181, 220210, 220277, 223762, 220739,
                         223900, 223901, 226512, 226732, 223849, 223835, 220339, 227290, 224144, 224191} - cam
    assert filler <= {it for it, *_ in icu_tables.FILLER_ITEMS}


# ---- the stay-level DGP ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_sample() -> pd.DataFrame:
    return simulate_stays(20_000, 123)


def test_simulate_stays_columns_and_determinism(big_sample):
    df = big_sample
    assert list(df.columns) == list(PUBLIC_COLUMNS)
    assert len(df) == 20_000
    covs = [c for c in PUBLIC_COLUMNS if c not in ("death_day_if_treated", "death_day_if_untreated")]
    assert not df[covs].isna().any().any()
    again = simulate_stays(500, 123)
    pd.testing.assert_frame_equal(again, simulate_stays(500, 123))
    assert set(df["treated"]) == {0, 1} and df["time_days"].max() <= 28.0
    assert (df.loc[df["treated"] == 1, "death_day_if_treated"].fillna(99) <= 28).astype(int).eq(
        df.loc[df["treated"] == 1, "death_28d"]).all()


def test_treated_share_is_calibrated_and_configurable(big_sample):
    assert big_sample["treated"].mean() == pytest.approx(0.90, abs=0.01)
    assert simulate_stays(20_000, 5, treated_share=0.6)["treated"].mean() == pytest.approx(0.60, abs=0.015)


def test_potential_outcomes_differ_only_through_treatment():
    """Common random numbers: (T1 - delay) / (T0 - delay) = exp(-log_hr / shape) for every stay."""
    P = load_params()
    k, delay = P["outcome"]["weibull_shape"], P["outcome"]["delay_days"]
    for log_hr in (math.log(0.6), -1.2, 0.3):
        df = simulate_stays(3000, 9, log_hr=log_hr)
        both = df.dropna(subset=["death_day_if_treated", "death_day_if_untreated"])
        ratio = (both["death_day_if_treated"] - delay) / (both["death_day_if_untreated"] - delay)
        np.testing.assert_allclose(ratio, math.exp(-log_hr / k), rtol=1e-9)


def test_cox_on_the_true_covariates_recovers_the_planted_log_hr(big_sample):
    from lifelines import CoxPHFitter

    df = big_sample
    X = pd.DataFrame({
        "treated": df["treated"], "lactate": np.log(df["lactate"] / 2), "creatinine": np.log(df["creatinine"] / 1.2),
        "platelets": np.log(df["platelets"] / 150), "vasopressor": df["vasopressor"],
        "mechanical_ventilation": df["mechanical_ventilation"], "gcs": 15 - df["gcs_min"],
        "age": (df["age"] - 65) / 10, "magnesium": df["magnesium"] - 2, "male": df["male"], "copd": df["copd"],
        "heart_failure": df["heart_failure"], "liver_disease": df["liver_disease"], "malignancy": df["malignancy"],
        "ckd": df["ckd"], "aki": df["aki"], "diabetes": df["diabetes"],
        "time": df["time_days"], "event": df["death_28d"]})
    cph = CoxPHFitter().fit(X, duration_col="time", event_col="event")
    assert cph.params_["treated"] == pytest.approx(math.log(0.6), abs=0.12)
    assert cph.params_["lactate"] == pytest.approx(0.6, abs=0.12)


def test_confounding_biases_the_crude_comparison(big_sample):
    df = big_sample
    crude = df.loc[df["treated"] == 1, "death_28d"].mean() - df.loc[df["treated"] == 0, "death_28d"].mean()
    r1 = (df["death_day_if_treated"] <= 28).mean()
    r0 = (df["death_day_if_untreated"] <= 28).mean()
    assert r1 - r0 < -0.05            # the drug helps
    assert crude > (r1 - r0) + 0.08   # but the crude difference hides it


# ---- parameters and command line ----------------------------------------------------------

def test_unknown_parameters_are_errors_that_name_the_key(tmp_path):
    with pytest.raises(KeyError, match="outcome.nope"):
        load_params(overrides={"outcome": {"nope": 1}})
    with pytest.raises(KeyError, match="treated_shar"):
        simulate_stays(10, 1, treated_shar=0.5)
    bad = tmp_path / "p.yaml"
    bad.write_text("treatment:\n  target_treated_share: 1.5\n")
    with pytest.raises(ValueError, match="target_treated_share"):
        load_params(bad)


def test_cli_writes_a_set_and_reports_errors(tmp_path):
    out = tmp_path / "cli"
    params = tmp_path / "p.yaml"
    params.write_text("outcome:\n  weibull_shape: 1.0\n")
    cmd = [sys.executable, "-m", "icu_cohort.cli", "synth", "--patients", "120", "--seed", "2", "--out", str(out),
           "--chart-rows-per-stay", "60", "--treated-share", "0.8", "--log-hr", "-0.7", "--params", str(params),
           "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["patients"] == 120 and (out / "hosp" / "patients.csv.gz").is_file()
    s = json.loads((out / "ground_truth.json").read_text())["settings"]
    assert s["log_hr"] == -0.7 and s["treated_share_target"] == 0.8 and s["weibull_shape"] == 1.0
    bad = subprocess.run([sys.executable, "-m", "icu_cohort.cli", "synth", "--patients", "5", "--seed", "1",
                          "--out", str(tmp_path / "x"), "--treated-share", "1.5"], capture_output=True, text=True)
    assert bad.returncode == 2 and "treated-share" in bad.stderr
