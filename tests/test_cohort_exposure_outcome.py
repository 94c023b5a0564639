"""Exposure (sql/cohort/exposure.sql) and outcome (sql/cohort/outcome.sql) on hand-built stays."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from icu_cohort import cohort
from icu_cohort.study import Study
from test_cohort_support import SQL_DIR, Mimic, h, query, run_until, study


def _exposure(con, study_name: str) -> dict[int, tuple]:
    st = Study(study(study_name))
    cohort.run_exposure(con, st)
    return {r[0]: r[1:] for r in query(con, "SELECT stay_id, treated, first_dose_hours, total_dose_g FROM study.exposure")}


@pytest.fixture(scope="module")
def exposure_db():
    m = Mimic()
    stays = {}
    stays["none"] = m.stay()
    # oral magnesium only (prescriptions, as in MIMIC-IV): never exposure
    stays["oral"] = m.stay()
    m.rx(stays["oral"], "Magnesium Oxide", h(5), route="PO")
    m.rx(stays["oral"], "Milk of Magnesia", h(6), route="PO/NG")
    # IV 2 g at +5 h charted as 222011 (2 grams) + 227523 (50 mL) of the same order: 2 g, not 52
    stays["early"] = m.stay()
    m.mgso4(stays["early"], 5)
    # IV only at +60 h: exposed over the whole stay, not in the first 48 h
    stays["late"] = m.stay(los_hours=100)
    m.mgso4(stays["late"], 60)
    # two orders (+10 h, +30 h), one of them documented only as a 50 mL bolus (2 g at 0.04 g/mL)
    stays["two"] = m.stay()
    m.mgso4(stays["two"], 10, grams=4.0)
    m.infusion(stays["two"], 227523, h(30), h(31), amount=50.0, amountuom="ml")
    # a row with amount 0 does not count
    stays["zero"] = m.stay()
    m.infusion(stays["zero"], 222011, h(3), h(4), amount=0.0, amountuom="grams")
    # a decoy drug (potassium chloride) does not count
    stays["decoy"] = m.stay()
    m.infusion(stays["decoy"], 225166, h(3), h(4), amount=40.0, amountuom="mEq")
    con = m.connect()
    run_until(con, "study.outcome")
    return con, stays


def test_oral_magnesium_never_counts_and_dose_is_not_double_counted(exposure_db):
    con, stays = exposure_db
    got = _exposure(con, "sae_mgso4")
    sid = {k: v["stay_id"] for k, v in stays.items()}
    assert got[sid["none"]] == (0, None, None)
    assert got[sid["oral"]] == (0, None, None)
    assert got[sid["early"]] == (1, 5.0, 2.0)
    assert got[sid["two"]] == (1, 10.0, pytest.approx(6.0))
    assert got[sid["zero"]] == (0, None, None)
    assert got[sid["decoy"]] == (0, None, None)


def test_iv_dose_at_hour_60_counts_for_the_whole_stay_study_only(exposure_db):
    con, stays = exposure_db
    late = stays["late"]["stay_id"]
    assert _exposure(con, "sae_mgso4")[late] == (1, 60.0, 2.0)
    assert _exposure(con, "sae_mgso4_48h")[late] == (0, None, None)
    # doses inside the first 48 h count in both
    assert _exposure(con, "sae_mgso4_48h")[stays["early"]["stay_id"]] == (1, 5.0, 2.0)
    # 48 h study: the +30 h bolus counts (< 48 h)
    assert _exposure(con, "sae_mgso4_48h")[stays["two"]["stay_id"]][2] == pytest.approx(6.0)


def test_excluded_statuses_do_not_count():
    m = Mimic()
    s = m.stay()
    m.infusion(s, 222011, h(2), h(3), amount=2.0, amountuom="grams", status="Rewritten")
    con = m.connect()
    run_until(con, "study.outcome")
    st = study()
    assert _exposure(con, "sae_mgso4")[s["stay_id"]][0] == 1
    st["exposure"]["excluded_statuses"] = ["Rewritten"]
    cohort.run_exposure(con, Study(st))
    assert query(con, "SELECT treated FROM study.exposure") == [(0,)]


def test_outcome_deathtime_dod_at_midday_and_censoring_at_28_days():
    m = Mimic()
    t0 = datetime(2150, 3, 1, 8, 0)
    # in-hospital death 10 days and 6 hours after ICU admission (admissions.deathtime, exact)
    hosp_death = m.stay(deathtime=t0 + timedelta(days=10, hours=6), dod=(t0 + timedelta(days=10)).date())
    # death after discharge known only by date: day 20 at 12:00 -> 20 days + 4 h
    dod_only = m.stay(dod=(t0 + timedelta(days=20)).date())
    # died on day 29: censored at 28 days
    day29 = m.stay(dod=(t0 + timedelta(days=29)).date())
    # died exactly 28 days after ICU admission (deathtime): counted
    day28 = m.stay(deathtime=t0 + timedelta(days=28))
    survivor = m.stay()
    # dod on the day of ICU admission, whose midday is before an evening intime: time 0
    evening = m.stay(intime=datetime(2150, 3, 1, 20, 0), dod=datetime(2150, 3, 1).date())
    con = m.connect()
    run_until(con, "study.outcome")
    got = {r[0]: r[1:] for r in query(con, "SELECT stay_id, death_28d, time_days, death_source FROM study.outcome")}
    assert got[hosp_death["stay_id"]] == (1, pytest.approx(10.25), "deathtime")
    assert got[dod_only["stay_id"]] == (1, pytest.approx(20 + 4 / 24), "dod")
    assert got[day29["stay_id"]] == (0, 28.0, "dod")
    assert got[day28["stay_id"]] == (1, 28.0, "deathtime")
    assert got[survivor["stay_id"]] == (0, 28.0, None)
    assert got[evening["stay_id"]] == (1, 0.0, "dod")
