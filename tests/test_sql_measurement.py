"""Measurement and treatment concepts (sql/measurement, sql/treatment, sql/demographics) on
hand-built rows, with answers worked out by hand from mimic-code's rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from test_cohort_support import Mimic, h, query, run_until

GCS_EYES, GCS_VERBAL, GCS_MOTOR = 220739, 223900, 223901


def _gcs_rows(m: Mimic):
    con = m.connect()
    run_until(con, "mimiciv_derived.gcs")
    return query(con, "SELECT charttime, gcs, gcs_motor, gcs_verbal, gcs_eyes, gcs_unable "
                      "FROM mimiciv_derived.gcs ORDER BY charttime")


def test_gcs_sums_components_and_carries_missing_ones_forward_within_6_hours():
    m = Mimic()
    s = m.stay()
    m.chart(s, GCS_EYES, h(1), 3)
    m.chart(s, GCS_VERBAL, h(1), 4)
    m.chart(s, GCS_MOTOR, h(1), 5)
    m.chart(s, GCS_EYES, h(4), 2)          # 3 h later: verbal 4, motor 5 carried forward
    m.chart(s, GCS_EYES, h(12), 4)         # 8 h later: nothing carried, normal 5 and 6 assumed
    rows = _gcs_rows(m)
    assert [r[1] for r in rows] == [12, 11, 15]
    assert rows[1][2:5] == (5, 4, 2)
    assert rows[2][2:5] == (None, None, 4)


def test_gcs_of_an_intubated_patient_is_15_with_the_unable_flag():
    # mimic-code: verbal 'No Response-ETT' -> verbal 0, GCS set to 15, gcs_unable = 1
    m = Mimic()
    s = m.stay()
    m.chart(s, GCS_EYES, h(1), 1)
    m.chart(s, GCS_VERBAL, h(1), 1, value="No Response-ETT")
    m.chart(s, GCS_MOTOR, h(1), 4)
    m.chart(s, GCS_MOTOR, h(2), 3)         # verbal missing, previous verbal was ETT -> still 15
    m.chart(s, GCS_EYES, h(3), 2)          # previous row not intubated now: carried values used
    rows = _gcs_rows(m)
    assert rows[0][1] == 15 and rows[0][3] == 0 and rows[0][5] == 1
    assert rows[1][1] == 15
    # at +3 h the previous row (+2 h) had verbal NULL (not 0): eyes 2 + carried motor 3 + verbal 5
    assert rows[2][1] == 2 + 3 + 5


def test_gcs_after_an_intubated_charting_uses_current_values_with_normal_defaults():
    m = Mimic()
    s = m.stay()
    m.chart(s, GCS_VERBAL, h(1), 1, value="No Response-ETT")
    m.chart(s, GCS_MOTOR, h(1), 2)
    m.chart(s, GCS_VERBAL, h(2), 3)        # extubated: previous was ETT -> motor 6, eyes 4 assumed
    rows = _gcs_rows(m)
    assert rows[1][1] == 6 + 3 + 4


def test_first_day_gcs_is_the_lowest_gcs_between_minus_6_and_24_hours():
    m = Mimic()
    s = m.stay()
    for hours, eyes in [(-7, 1), (-5, 3), (10, 2), (25, 1)]:
        m.chart(s, GCS_EYES, h(hours), eyes)
        m.chart(s, GCS_VERBAL, h(hours), 5)
        m.chart(s, GCS_MOTOR, h(hours), 6)
    con = m.connect()
    run_until(con, "mimiciv_derived.first_day_gcs")
    assert query(con, "SELECT gcs_min, gcs_eyes FROM mimiciv_derived.first_day_gcs") == [(13, 2)]


def test_vitalsign_pivots_converts_fahrenheit_and_drops_implausible_values():
    m = Mimic()
    s = m.stay()
    m.chart(s, 220045, h(1), 110.0)        # heart rate
    m.chart(s, 220045, h(1), 400.0)        # implausible, dropped
    m.chart(s, 220181, h(1), 65.0)         # non-invasive MAP
    m.chart(s, 223761, h(1), 100.4)        # 100.4 F = 38.0 C
    m.chart(s, 220277, h(1), 93.0)
    con = m.connect()
    run_until(con, "mimiciv_derived.vitalsign")
    assert query(con, "SELECT heart_rate, mbp, mbp_ni, temperature, spo2 FROM mimiciv_derived.vitalsign") == [
        (110.0, 65.0, 65.0, 38.0, 93.0)
    ]


def test_blood_gas_pao2_fio2_uses_lab_fio2_else_charted_fio2_within_4_hours():
    m = Mimic()
    s = m.stay()
    # gas 1: PaO2 80 with lab FiO2 40 % -> 200
    m.lab(s, 52033, h(2), None, specimen_id=1, value="ART.")
    m.lab(s, 50821, h(2), 80.0, specimen_id=1)
    m.lab(s, 50816, h(2), 40.0, specimen_id=1)
    # gas 2: PaO2 90, no lab FiO2; charted FiO2 0.5 (fraction) 3 h before -> 50 % -> 180
    m.chart(s, 223835, h(7), 0.5)
    m.lab(s, 52033, h(10), None, specimen_id=2, value="ART.")
    m.lab(s, 50821, h(10), 90.0, specimen_id=2)
    # gas 3: charted FiO2 only 5 h before -> not used -> no ratio
    m.lab(s, 52033, h(12), None, specimen_id=3, value="ART.")
    m.lab(s, 50821, h(12), 100.0, specimen_id=3)
    con = m.connect()
    run_until(con, "mimiciv_derived.bg")
    rows = query(con, "SELECT specimen, po2, fio2, fio2_chartevents, pao2fio2ratio FROM mimiciv_derived.bg "
                      "ORDER BY charttime")
    assert rows == [("ART.", 80.0, 40.0, None, 200.0), ("ART.", 90.0, None, 50.0, 180.0),
                    ("ART.", 100.0, None, None, None)]


def test_urine_output_rate_sums_the_previous_24_hours_as_mimic_code():
    m = Mimic()
    s = m.stay()
    m.chart(s, 220045, h(0), 80.0)         # first heart rate: start of the first UO interval
    m.chart(s, 226512, h(0), 100.0)        # admission weight 100 kg
    for k in range(1, 27):                 # 50 mL every hour from +1 h to +26 h
        m.output(s, 226559, h(k), 50.0)
    con = m.connect()
    run_until(con, "mimiciv_derived.urine_output_rate")
    rows = dict(
        (r[0], r[1:]) for r in query(con, "SELECT charttime, urineoutput_24hr, uo_tm_24hr, uo_mlkghr_24hr "
                                          "FROM mimiciv_derived.urine_output_rate")
    )
    # at +24 h: chartings +1 .. +24 h (24 x 50 mL) covering 24 h -> 1200 mL, 0.5 mL/kg/h
    assert rows[h(24)] == (1200.0, 24.0, 0.5)
    # at +26 h: chartings +3 .. +26 h (23 h back inclusive)
    assert rows[h(26)][:2] == (1200.0, 24.0)
    # at +10 h only 10 h covered: no 24 h rate
    assert rows[h(10)] == (500.0, 10.0, None)


def test_ventilation_episode_from_endotracheal_tube_and_vent_mode():
    m = Mimic()
    s = m.stay()
    m.chart(s, 226732, h(1), value="Endotracheal tube")
    m.chart(s, 223849, h(2), value="CMV/ASSIST")
    m.chart(s, 223849, h(6), value="CMV/ASSIST")
    m.chart(s, 226732, h(8), value="Nasal cannula")
    m.chart(s, 226732, h(10), value="Nasal cannula")
    con = m.connect()
    run_until(con, "mimiciv_derived.ventilation")
    assert query(con, "SELECT starttime, endtime, ventilation_status FROM mimiciv_derived.ventilation "
                      "ORDER BY starttime") == [
        (h(1), h(8), "InvasiveVent"),
        (h(8), h(10), "SupplementalOxygen"),
    ]


def test_ventilation_gap_of_14_hours_starts_a_new_episode_and_single_chartings_are_dropped():
    m = Mimic()
    s = m.stay()
    for hours in (1, 3, 20, 22):
        m.chart(s, 223849, h(hours), value="SIMV")
    m.chart(s, 226732, h(40), value="Endotracheal tube")  # a lone charting: no episode
    con = m.connect()
    run_until(con, "mimiciv_derived.ventilation")
    assert query(con, "SELECT starttime, endtime FROM mimiciv_derived.ventilation ORDER BY starttime") == [
        (h(1), h(3)), (h(20), h(22))
    ]


def test_age_uses_the_anchor_year_shift():
    m = Mimic()
    m.patient(1, anchor_age=17, anchor_year=2150)
    m.admission(1, 11, h(0).replace(year=2150), h(10).replace(year=2150))
    m.admission(1, 12, h(0).replace(year=2152), h(10).replace(year=2152))
    con = m.connect()
    run_until(con, "mimiciv_derived.age")
    assert query(con, "SELECT hadm_id, age FROM mimiciv_derived.age ORDER BY hadm_id") == [(11, 17), (12, 19)]


def test_rrt_from_crrt_procedure_and_first_day_flag():
    m = Mimic()
    s = m.stay()
    m.procedure(s, 225802, h(5), h(30))    # Dialysis - CRRT
    m.chart(s, 224144, h(10), 150.0)       # blood flow: dialysis active
    con = m.connect()
    run_until(con, "mimiciv_derived.first_day_rrt")
    assert query(con, "SELECT dialysis_present, dialysis_active FROM mimiciv_derived.first_day_rrt") == [(1, 1)]
    types = {r[0] for r in query(con, "SELECT dialysis_type FROM mimiciv_derived.rrt")}
    assert types == {"CRRT"}


def test_weight_durations_admission_weight_starts_two_hours_before_intime():
    m = Mimic()
    s = m.stay()
    m.chart(s, 226512, h(3), 82.0)
    m.chart(s, 224639, h(30), 80.0)
    con = m.connect()
    run_until(con, "mimiciv_derived.first_day_weight")
    assert query(con, "SELECT starttime, endtime, weight FROM mimiciv_derived.weight_durations ORDER BY starttime") == [
        (h(-2), h(30), 82.0), (h(30), h(74), 80.0)
    ]
    assert query(con, "SELECT weight_admit, weight FROM mimiciv_derived.first_day_weight") == [(82.0, 82.0)]


@pytest.mark.parametrize("drug, route, expected", [
    ("Vancomycin", "IV", 1),
    ("Piperacillin-Tazobactam", "IV", 1),
    ("Erythromycin", "OU", 0),              # ophthalmic route excluded
    ("Mupirocin Ointment 2%", "TP", 0),     # topical route excluded
    ("Bacitracin Gel", "PO", 0),            # gels excluded
    ("Magnesium Sulfate", "IV", 0),
])
def test_antibiotic_list_and_route_exclusions(drug, route, expected):
    m = Mimic()
    s = m.stay()
    m.rx(s, drug, h(2), route=route)
    con = m.connect()
    run_until(con, "mimiciv_derived.antibiotic")
    assert query(con, "SELECT count(*) FROM mimiciv_derived.antibiotic")[0][0] == expected


def test_antibiotic_gets_the_icu_stay_it_started_in():
    m = Mimic()
    s = m.stay()
    m.rx(s, "Cefepime", h(-3))             # before ICU admission: no stay_id
    m.rx(s, "Cefepime", h(5))
    con = m.connect()
    run_until(con, "mimiciv_derived.antibiotic")
    assert query(con, "SELECT starttime, stay_id FROM mimiciv_derived.antibiotic ORDER BY starttime") == [
        (h(-3), None), (h(5), s["stay_id"])
    ]
    assert h(5) - h(-3) == timedelta(hours=8)
