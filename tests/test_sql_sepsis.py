"""Suspected infection and Sepsis-3 (sql/sepsis): the culture/antibiotic windows of mimic-code's
suspicion_of_infection.sql and the [-48 h, +24 h] SOFA window of sepsis3.sql, at their edges."""

from __future__ import annotations

from datetime import timedelta

import pytest

from icu_cohort import cohort
from icu_cohort import concepts
from icu_cohort.sqlrun import run_file
from icu_cohort.study import Study
from test_cohort_support import SQL_DIR, Mimic, h, query, run_until, study


@pytest.mark.parametrize("culture_hours, expected", [
    (-71.5, ("culture", True)),    # culture 71.5 h before the antibiotic: time = culture time
    (-72.5, (None, False)),        # more than 72 h before: no suspected infection
    (23.5, ("antibiotic", True)),  # culture 23.5 h after: time = antibiotic time
    (24.5, (None, False)),         # more than 24 h after: none
])
def test_suspected_infection_windows(culture_hours, expected):
    m = Mimic()
    s = m.stay(los_hours=200, intime=h(-100))
    abx_time = h(0)
    m.rx(s, "Piperacillin-Tazobactam", abx_time)
    m.culture(s, abx_time + timedelta(hours=culture_hours))
    con = m.connect()
    run_until(con, "mimiciv_derived.suspicion_of_infection")
    rows = query(con, "SELECT suspected_infection, suspected_infection_time, stay_id "
                      "FROM mimiciv_derived.suspicion_of_infection")
    which, suspected = expected
    assert len(rows) == 1 and rows[0][0] == int(suspected) and rows[0][2] == s["stay_id"]
    if which == "culture":
        assert rows[0][1] == abx_time + timedelta(hours=culture_hours)
    elif which == "antibiotic":
        assert rows[0][1] == abx_time
    else:
        assert rows[0][1] is None


def test_culture_with_only_a_date_matches_by_date():
    m = Mimic()
    s = m.stay()
    m.culture(s, None, chartdate=h(-30))   # two days' dates before: within 3 days
    m.rx(s, "Cefepime", h(5))
    con = m.connect()
    run_until(con, "mimiciv_derived.suspicion_of_infection")
    day = h(-30).replace(hour=0, minute=0)
    assert query(con, "SELECT suspected_infection, suspected_infection_time, culture_time "
                      "FROM mimiciv_derived.suspicion_of_infection") == [(1, day, day)]


def _sepsis3_from(sofa_rows: list[tuple], suspicion_time, threshold=None):
    """Run only the study's Sepsis-3 (sql/cohort/sepsis3.sql, the rule of
    sql/sepsis/sepsis3_rule.sql with the study's window) on hand-made sofa and suspicion tables."""
    con = Mimic().connect()
    for schema in concepts.SCHEMAS + ("study",):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute("""CREATE TABLE mimiciv_derived.suspicion_of_infection AS SELECT
        1 AS subject_id, 7 AS stay_id, 11 AS hadm_id, 1 AS ab_id, 'Vancomycin' AS antibiotic,
        ?::TIMESTAMP AS antibiotic_time, 1 AS suspected_infection, ?::TIMESTAMP AS suspected_infection_time,
        ?::TIMESTAMP AS culture_time, 'BLOOD CULTURE' AS specimen, 0 AS positive_culture""",
                [suspicion_time, suspicion_time, suspicion_time])
    con.execute("""CREATE TABLE mimiciv_derived.sofa (stay_id INTEGER, hr INTEGER, starttime TIMESTAMP,
        endtime TIMESTAMP, respiration_24hours INTEGER, coagulation_24hours INTEGER, liver_24hours INTEGER,
        cardiovascular_24hours INTEGER, cns_24hours INTEGER, renal_24hours INTEGER, sofa_24hours INTEGER)""")
    for k, (endtime, score) in enumerate(sofa_rows):
        con.execute("INSERT INTO mimiciv_derived.sofa VALUES (7, ?, ?, ?, 0, ?, 0, 0, 0, 0, ?)",
                    [k, endtime - timedelta(hours=1), endtime, score, score])
    st = study()
    if threshold is not None:
        step, = (c["sepsis3"] for c in st["cohort"]["criteria"] if "sepsis3" in c)
        step["sofa_threshold"] = threshold
    run_file(con, SQL_DIR / "sepsis/sepsis3_rule.sql")
    run_file(con, SQL_DIR / "cohort/sepsis3.sql", cohort.sql_params(Study(st)), "study.sepsis3")
    got = query(con, "SELECT stay_id, sofa_time, sofa_score, sepsis3 FROM study.sepsis3")
    if threshold is None:  # the standard window: the concept gives the same rows
        run_file(con, SQL_DIR / "sepsis/sepsis3.sql", table="mimiciv_derived.sepsis3")
        assert query(con, "SELECT stay_id, sofa_time, sofa_score, sepsis3 FROM mimiciv_derived.sepsis3") == got
    return got


@pytest.mark.parametrize("offset_hours, is_sepsis", [
    (-49, False),   # SOFA >= 2 ending 49 h before the suspicion: outside the window
    (-48, True),    # the window's edges are included
    (24, True),
    (25, False),
])
def test_sepsis3_sofa_window_edges(offset_hours, is_sepsis):
    t = h(50)
    rows = _sepsis3_from([(t + timedelta(hours=offset_hours), 2)], t)
    assert bool(rows) == is_sepsis
    if is_sepsis:
        assert rows == [(7, t + timedelta(hours=offset_hours), 2, True)]


def test_sepsis3_needs_sofa_of_at_least_the_threshold_and_takes_the_earliest_row():
    t = h(50)
    assert _sepsis3_from([(t, 1)], t) == []
    rows = _sepsis3_from([(t - timedelta(hours=10), 3), (t - timedelta(hours=20), 2)], t)
    assert rows == [(7, t - timedelta(hours=20), 2, True)]
    assert _sepsis3_from([(t, 2)], t, threshold=3) == []


def test_sepsis3_end_to_end_for_the_sae_fixture():
    m = Mimic()
    yes = m.sae_stay()                     # platelets 40 at +2 h, suspicion +1 h
    no_sofa = m.sae_stay(platelets=200.0)  # no organ dysfunction
    # organ dysfunction (platelets 40) 73 h before the suspected infection: its 24-hour window
    # ends 50 h before, outside [-48 h, +24 h]
    late = m.sae_stay(platelets=None, los_hours=120)
    m.lab(late, 51265, h(1 - 73, late["intime"]), 40.0)
    # the same 20 h before ICU admission (21 h before the suspicion): its hour (-20) is in the
    # hourly grid, which starts 24 h before the first heart rate as mimic-code's, and its 24-hour
    # maximum lasts to hour 3, inside the window: counts
    early = m.sae_stay(platelets=None, los_hours=120)
    m.lab(early, 51265, h(-20, early["intime"]), 40.0)
    # 30 h before ICU admission: before the grid's hour -24, never scored (as mimic-code)
    too_early = m.sae_stay(platelets=None, los_hours=120)
    m.lab(too_early, 51265, h(-30, too_early["intime"]), 40.0)
    con = m.connect()
    run_until(con, "mimiciv_derived.sepsis3")
    got = {r[0] for r in query(con, "SELECT stay_id FROM mimiciv_derived.sepsis3 WHERE sepsis3")}
    assert got == {yes["stay_id"], early["stay_id"]}
    assert not {no_sofa["stay_id"], late["stay_id"], too_early["stay_id"]} & got


def test_antibiotic_outside_the_icu_stay_does_not_make_sepsis3_in_it():
    # mimic-code: suspicion rows need a stay_id, i.e. an antibiotic started during the ICU stay
    m = Mimic()
    s = m.stay()
    m.chart(s, 220045, h(0), 80.0)
    m.culture(s, h(-3))
    m.rx(s, "Vancomycin", h(-2))
    m.lab(s, 51265, h(1), 30.0)
    con = m.connect()
    run_until(con, "mimiciv_derived.sepsis3")
    assert query(con, "SELECT count(*) FROM mimiciv_derived.sepsis3") == [(0,)]
