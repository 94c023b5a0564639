"""Exposure from each source (sql/cohort/exposure_event.sql and exposure.sql: inputevents,
prescriptions, procedureevents; hosp.emar: tests/test_emar_exposure.py), with its window and
minimum dose, on hand-built stays; and the exposure keys each source needs
(icu_cohort.study.check_exposure)."""

from __future__ import annotations

import pytest

from icu_cohort import cohort
from icu_cohort.config import ConfigError
from icu_cohort.study import study_from_definition
from test_cohort_support import Mimic, h, query, run_until

BASE = {"name": "t", "title": "t", "question": "q"}


def exposure(con, stays, **section) -> dict[str, tuple]:
    st = study_from_definition({**BASE, "exposure": section})
    cohort.run_exposure(con, st)
    by_id = {v["stay_id"]: k for k, v in stays.items()}
    return {by_id[r[0]]: tuple(r[1:]) for r in query(
        con, "SELECT stay_id, treated, first_dose_hours, total_dose_g FROM study.exposure") if r[1]}


@pytest.fixture(scope="module")
def db():
    m = Mimic()
    s = {}
    s["none"] = m.stay()
    # prescriptions: IV magnesium sulfate 2 g at +5 h; the same drug PO; magnesium oxide PO;
    # IV piggyback 4000 mg at +30 h; IV given a dose range (unknown grams); before the stay
    s["rx_iv"] = m.stay()
    m.rx(s["rx_iv"], "Magnesium Sulfate", h(5), route="IV", dose="2", unit="gm")
    s["rx_po"] = m.stay()
    m.rx(s["rx_po"], "Magnesium Sulfate", h(5), route="PO", dose="2", unit="gm")
    m.rx(s["rx_po"], "Magnesium Oxide", h(6), route="PO", dose="400", unit="mg")
    s["rx_ivpb_late"] = m.stay()
    m.rx(s["rx_ivpb_late"], "Magnesium Sulfate (Premix)", h(30), route="IVPB ", dose="4000", unit="mg")
    s["rx_range"] = m.stay()
    m.rx(s["rx_range"], "magnesium sulfate", h(2), route="iv", dose="1-2", unit="gm")
    s["rx_after"] = m.stay(los_hours=24)
    m.rx(s["rx_after"], "Magnesium Sulfate", h(30), route="IV", dose="2", unit="gm")   # after outtime
    # inputevents 2 g at +3 h; procedureevents: an item at +12 h and another item
    s["inp"] = m.stay()
    m.mgso4(s["inp"], 3)
    s["proc"] = m.stay()
    m.procedure(s["proc"], 225802, h(12), h(20))
    m.procedure(s["proc"], 225441, h(1), h(2))
    con = m.connect()
    run_until(con, "study.outcome")
    return con, s


RX = {"source": "prescriptions", "drug_patterns": ["^magnesium sulfate"], "routes": ["IV", "IVPB", "IV DRIP"]}


def test_prescriptions_by_drug_pattern_and_route(db):
    con, s = db
    got = exposure(con, s, **RX)
    # PO never counts; upper-cased, trimmed routes; grams from g / gm / mg; a range has no grams;
    # a prescription starting after the stay's outtime does not count
    assert got == {"rx_iv": (1, 5.0, 2.0), "rx_ivpb_late": (1, 30.0, 4.0), "rx_range": (1, 2.0, None)}
    assert exposure(con, s, **{**RX, "window_end_hours": 24}) == {"rx_iv": (1, 5.0, 2.0), "rx_range": (1, 2.0, None)}
    assert exposure(con, s, **{**RX, "routes": ["PO"]}) == {"rx_po": (1, 5.0, 2.0)}
    assert exposure(con, s, **{**RX, "drug_patterns": ["magnesium oxide"], "routes": ["PO"]}) == {
        "rx_po": (1, 6.0, pytest.approx(0.4))}


def test_minimum_dose(db):
    con, s = db
    # 2 g and 4 g; the range (unknown grams) counts 0
    assert exposure(con, s, **{**RX, "min_dose_g": 3}) == {"rx_ivpb_late": (1, 30.0, 4.0)}
    assert exposure(con, s, **{**RX, "min_dose_g": 2}) == {"rx_iv": (1, 5.0, 2.0), "rx_ivpb_late": (1, 30.0, 4.0)}
    inp = {"itemids": [222011, 227523]}
    assert exposure(con, s, **inp) == {"inp": (1, 3.0, 2.0)}
    assert exposure(con, s, **inp, min_dose_g=2.5) == {}


def test_procedureevents_by_itemid_and_window(db):
    con, s = db
    assert exposure(con, s, source="procedureevents", itemids=[225802]) == {"proc": (1, 12.0, None)}
    assert exposure(con, s, source="procedureevents", itemids=[225802], window_end_hours=12) == {}
    assert exposure(con, s, source="procedureevents", itemids=[225802, 225441]) == {"proc": (1, 1.0, None)}


@pytest.mark.parametrize("section, message", [
    ({"source": "prescriptions", "routes": ["IV"]}, r"exposure\.drug_patterns: required for source prescriptions"),
    ({"source": "prescriptions", "drug_patterns": ["x"]}, r"exposure\.routes: required for source prescriptions"),
    ({"source": "inputevents"}, r"exposure\.itemids: required for source inputevents"),
    ({"itemids": [1], "routes": ["IV"]}, r"exposure\.routes: not read for source inputevents \(only for prescriptions, emar\)"),
    ({"source": "hosp_emar", "itemids": [1]}, r"exposure\.source: 'hosp_emar' is not one of"),
])
def test_each_source_names_the_keys_it_needs(section, message):
    with pytest.raises(ConfigError, match=message):
        study_from_definition({**BASE, "exposure": section})
