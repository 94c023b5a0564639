"""SOFA (sql/score/sofa.sql, sql/firstday/first_day_sofa.sql): each organ's thresholds as in
mimic-code / Vincent 1996, the hourly clock, the 24-hour rolling maximum and the hours
computed, on hand-built stays."""

from __future__ import annotations

from datetime import timedelta

from test_cohort_support import Mimic, h, query, run_until


def _septic_stay(m: Mimic):
    """A stay with a suspected infection at +1 h (culture +1 h, antibiotic +2 h), clock at intime."""
    s = m.stay(los_hours=96)
    for k in range(0, 4):
        m.chart(s, 220045, h(k), 80.0)
    m.culture(s, h(1))
    m.rx(s, "Ceftriaxone", h(2))
    return s


def _sofa(m: Mimic, hour: int, column: str = "sofa_24hours"):
    con = m.connect()
    run_until(con, "mimiciv_derived.sofa")
    rows = query(con, f"SELECT {column} FROM mimiciv_derived.sofa WHERE hr = ?", hour)
    assert len(rows) == 1, rows
    return rows[0][0]


VASOPRESSOR_CASES = [
    # agent, itemid, rate (mcg/kg/min), cardiovascular SOFA (mimic-code thresholds)
    ("norepinephrine", 221906, 0.15, 4),   # > 0.1 -> 4
    ("norepinephrine", 221906, 0.10, 3),   # <= 0.1 -> 3
    ("epinephrine", 221289, 0.2, 4),
    ("epinephrine", 221289, 0.05, 3),
    ("dopamine", 221662, 16.0, 4),         # > 15 -> 4
    ("dopamine", 221662, 6.0, 3),          # > 5 -> 3
    ("dopamine", 221662, 4.0, 2),          # > 0 -> 2
    ("dobutamine", 221653, 5.0, 2),        # any dobutamine -> 2
]


def test_cardiovascular_sofa_from_vasopressor_rates():
    m = Mimic()
    stays = []
    for agent, itemid, rate, expected in VASOPRESSOR_CASES:
        s = _septic_stay(m)
        m.infusion(s, itemid, h(3.5), h(8), amount=1.0, amountuom="mg", rate=rate, rateuom="mcg/kg/min")
        stays.append((s["stay_id"], agent, rate, expected))
    con = m.connect()
    run_until(con, "mimiciv_derived.sofa")
    for stay_id, agent, rate, expected in stays:
        # hour 5 ends at +5 h, inside the infusion (starttime < endtime <= infusion end)
        got = query(con, "SELECT cardiovascular FROM mimiciv_derived.sofa WHERE stay_id = ? AND hr = 5", stay_id)
        assert got == [(expected,)], (agent, rate)


def test_map_65_without_pressors_scores_1_and_map_75_scores_0():
    m = Mimic()
    s = _septic_stay(m)
    m.chart(s, 220052, h(4.5), 65.0)
    m.chart(s, 220052, h(6.5), 75.0)
    con = m.connect()
    run_until(con, "mimiciv_derived.sofa")
    rows = dict(query(con, "SELECT hr, cardiovascular FROM mimiciv_derived.sofa WHERE hr IN (5, 7)"))
    assert rows == {5: 1, 7: 0}
    assert query(con, "SELECT cardiovascular_24hours FROM mimiciv_derived.sofa WHERE hr = 7") == [(1,)]


def test_infusion_counts_for_the_hours_whose_end_it_covers():
    m = Mimic()
    s = _septic_stay(m)
    m.infusion(s, 221906, h(4), h(6), amount=1.0, amountuom="mg", rate=0.3, rateuom="mcg/kg/min")
    con = m.connect()
    run_until(con, "mimiciv_derived.sofa")
    rows = dict(query(con, "SELECT hr, rate_norepinephrine FROM mimiciv_derived.sofa WHERE hr BETWEEN 3 AND 7"))
    # hour h ends at +h: covered when +4 < +h <= +6
    assert rows == {3: None, 4: None, 5: 0.3, 6: 0.3, 7: None}


LAB_CASES = [
    # itemid, value, organ, SOFA points (Vincent 1996 / mimic-code)
    (51265, 19.0, "coagulation", 4), (51265, 49.0, "coagulation", 3), (51265, 99.0, "coagulation", 2),
    (51265, 149.0, "coagulation", 1), (51265, 150.0, "coagulation", 0),
    (50885, 12.0, "liver", 4), (50885, 6.0, "liver", 3), (50885, 2.0, "liver", 2), (50885, 1.2, "liver", 1),
    (50885, 1.1, "liver", 0),
    (50912, 5.0, "renal", 4), (50912, 3.5, "renal", 3), (50912, 2.0, "renal", 2), (50912, 1.2, "renal", 1),
    (50912, 1.1, "renal", 0),
]
GCS_CASES = [((4, 4, 6), 1), ((3, 3, 5), 2), ((2, 2, 4), 3), ((1, 1, 3), 4), ((4, 5, 6), 0)]


def test_lab_and_gcs_organ_scores():
    m = Mimic()
    checks = []
    for itemid, value, column, expected in LAB_CASES:
        s = _septic_stay(m)
        m.lab(s, itemid, h(4.5), value)
        checks.append((s["stay_id"], column, expected, (itemid, value)))
    for (eyes, verbal, motor), expected in GCS_CASES:
        s = _septic_stay(m)
        for itemid, v in ((220739, eyes), (223900, verbal), (223901, motor)):
            m.chart(s, itemid, h(4.5), v)
        checks.append((s["stay_id"], "cns", expected, (eyes, verbal, motor)))
    con = m.connect()
    run_until(con, "mimiciv_derived.sofa")
    for stay_id, column, expected, case in checks:
        got = query(con, f"SELECT {column} FROM mimiciv_derived.sofa WHERE stay_id = ? AND hr = 5", stay_id)
        assert got == [(expected,)], (column, case)


def test_respiration_uses_ventilation_status_for_pao2_fio2_below_200():
    m = Mimic()
    s = _septic_stay(m)
    # invasive ventilation from +4 h to +12 h
    for k in (4, 8, 12):
        m.chart(s, 223849, h(k), value="CMV/ASSIST")
    m.chart(s, 226732, h(20), value="Nasal cannula")
    m.chart(s, 226732, h(22), value="Nasal cannula")
    # ventilated gas at +5 h: PaO2 90 / FiO2 100 % = 90 -> 4
    m.lab(s, 52033, h(5), None, specimen_id=101, value="ART.")
    m.lab(s, 50821, h(5), 90.0, specimen_id=101)
    m.lab(s, 50816, h(5), 100.0, specimen_id=101)
    # unventilated gas at +21 h: PaO2 60 / FiO2 40 % = 150 -> 2 (not 3: not ventilated)
    m.lab(s, 52033, h(21), None, specimen_id=102, value="ART.")
    m.lab(s, 50821, h(21), 60.0, specimen_id=102)
    m.lab(s, 50816, h(21), 40.0, specimen_id=102)
    con = m.connect()
    run_until(con, "mimiciv_derived.sofa")
    rows = dict(query(con, "SELECT hr, respiration FROM mimiciv_derived.sofa WHERE hr IN (5, 21)"))
    assert rows == {5: 4, 21: 2}


def test_renal_sofa_from_24_hour_urine_output():
    m = Mimic()
    s = _septic_stay(m)
    m.chart(s, 220045, h(0), 80.0)
    for k in range(1, 25):                 # 15 mL/h -> 360 mL over 24 h -> < 500 -> 3
        m.output(s, 226559, h(k), 15.0)
    assert _sofa(m, 24, "renal") == 3


def test_24_hour_rolling_maximum_keeps_a_score_for_24_hours():
    m = Mimic()
    s = _septic_stay(m)
    # platelets 40 drawn 9.5 h before ICU admission: hour -9 (computed, not output) -> coagulation 3
    m.lab(s, 51265, h(-9.5), 40.0)
    con = m.connect()
    run_until(con, "mimiciv_derived.sofa")
    rows = dict(query(con, "SELECT hr, sofa_24hours FROM mimiciv_derived.sofa WHERE hr IN (0, 14, 15)"))
    # hour h's window is hours h-23 .. h: hour -9 counts up to hour 14
    assert rows == {0: 3, 14: 3, 15: 0}
    assert query(con, "SELECT min(hr) FROM mimiciv_derived.sofa") == [(0,)]


def test_hourly_sofa_covers_every_hour_of_every_icu_stay():
    m = Mimic()
    s = _septic_stay(m)                    # suspicion at +1 h, stay of 96 h
    other = m.stay(los_hours=96)           # no antibiotic: no suspected infection, rows all the same
    m.chart(other, 220045, h(0), 80.0)
    con = m.connect()
    run_until(con, "mimiciv_derived.sofa")
    # mimic-code's icustay_hourly: hours 0 .. ceil(96 h of stay), whatever the infection status
    for stay in (s, other):
        hours = [r[0] for r in query(con, "SELECT hr FROM mimiciv_derived.sofa WHERE stay_id = ? ORDER BY hr",
                                     stay["stay_id"])]
        assert hours == list(range(0, 97)), stay["stay_id"]


def test_clock_starts_at_the_first_heart_rate_rounded_up_to_the_hour():
    m = Mimic()
    s = m.stay(los_hours=96)
    m.chart(s, 220045, h(0.5), 80.0)       # first heart rate 08:30 -> hour 0 ends 09:00
    m.culture(s, h(1))
    m.rx(s, "Ceftriaxone", h(2))
    con = m.connect()
    run_until(con, "mimiciv_derived.sofa")
    assert query(con, "SELECT endtime FROM mimiciv_derived.sofa WHERE hr = 0") == [(h(1),)]


def test_first_day_sofa_takes_the_worst_value_of_each_organ_on_day_one():
    m = Mimic()
    s = m.stay()
    m.lab(s, 51265, h(-3), 90.0)           # platelets 90 -> 2
    m.lab(s, 50885, h(23), 6.5)            # bilirubin 6.5 -> 3
    m.lab(s, 50912, h(30), 6.0)            # creatinine on day 2: ignored
    m.infusion(s, 221906, h(2), h(5), amount=1.0, amountuom="mg", rate=0.05, rateuom="mcg/kg/min")  # -> 3
    m.chart(s, 220739, h(4), 3)
    m.chart(s, 223900, h(4), 4)
    m.chart(s, 223901, h(4), 6)            # GCS 13 -> 1
    con = m.connect()
    run_until(con, "mimiciv_derived.first_day_sofa")
    assert query(con, "SELECT sofa, respiration, coagulation, liver, cardiovascular, cns, renal "
                      "FROM mimiciv_derived.first_day_sofa") == [(2 + 3 + 3 + 1, None, 2, 3, 3, 1, None)]
    assert h(30) - h(0) > timedelta(days=1)


def test_ventilated_ratio_between_200_and_400_scores_the_same_hourly_and_on_day_one():
    """A ventilated PaO2/FiO2 of 250 scores 2 and 350 scores 1 in both SOFA tables (one rule,
    sql/score/sofa_organ_scores.sql; mimic-code's first_day_sofa.sql scored these 0)."""
    results = {}
    for ratio_po2, expected in ((100.0, 2), (140.0, 1)):   # FiO2 40 %: 250 and 350
        m = Mimic()
        s = _septic_stay(m)
        for k in (4, 8, 12):
            m.chart(s, 223849, h(k), value="CMV/ASSIST")
        m.lab(s, 52033, h(5), None, specimen_id=101, value="ART.")
        m.lab(s, 50821, h(5), ratio_po2, specimen_id=101)
        m.lab(s, 50816, h(5), 40.0, specimen_id=101)
        con = m.connect()
        run_until(con, "mimiciv_derived.first_day_sofa")
        hourly = query(con, "SELECT respiration FROM mimiciv_derived.sofa WHERE hr = 5")[0][0]
        first_day = query(con, "SELECT respiration FROM mimiciv_derived.first_day_sofa")[0][0]
        results[ratio_po2] = (hourly, first_day)
        assert hourly == first_day == expected, (ratio_po2, hourly, first_day)
    assert results == {100.0: (2, 2), 140.0: (1, 1)}
