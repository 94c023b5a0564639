"""Secondary outcomes (sql/cohort/outcome_secondary.sql): death within any horizon and
in-hospital death, each with its time to event, on hand-built stays."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from icu_cohort import cohort
from icu_cohort.sqlrun import run_file
from icu_cohort.study import study_from_definition
from test_cohort_support import SQL_DIR, Mimic, T0, h, query, run_until


@pytest.fixture(scope="module")
def db():
    m = Mimic()
    s = {}
    # dies in hospital at intime + 3 d (deathtime); the admission ends then
    s["inhosp"] = m.stay(los_hours=48, deathtime=h(72), dod=date(2150, 3, 4))
    s["inhosp"]  # admission dischtime is intime + 48 + 48 h in the fixture: death before it
    # discharged alive (admission ends at intime + 72 + 48 h = 5 d), dies at home on day 50 (dod 12:00)
    s["home"] = m.stay(dod=(T0 + timedelta(days=50)).date())
    s["alive"] = m.stay()
    con = m.connect()
    run_until(con, "study.outcome")
    return con, s


def rows(con, s, secondary) -> dict[tuple[str, str], tuple]:
    st = study_from_definition({"name": "t", "title": "t", "question": "q", "exposure": {"itemids": [222011]},
                                "outcome": {"secondary": secondary}})
    run_file(con, SQL_DIR / "cohort/outcome_secondary.sql", cohort.sql_params(st), "study.outcome_secondary")
    by_id = {v["stay_id"]: k for k, v in s.items()}
    return {(name, by_id[sid]): (event, pytest.approx(t)) for name, sid, event, t in
            query(con, "SELECT name, stay_id, event, time_days FROM study.outcome_secondary")}


def test_death_within_any_horizon_and_in_hospital_death(db):
    con, s = db
    got = rows(con, s, [{"name": "death_90d", "kind": "death_within", "horizon_days": 90},
                        {"name": "death_28d_again", "kind": "death_within", "horizon_days": 28},
                        {"name": "hospital_death", "kind": "in_hospital_death"}])
    # home: dod = T0 + 50 d taken at 12:00, T0 is 08:00: 50 d + 4 h
    home_days = 50 + 4 / 24
    assert got == {
        ("death_90d", "inhosp"): (1, 3.0), ("death_90d", "home"): (1, home_days), ("death_90d", "alive"): (0, 90.0),
        ("death_28d_again", "inhosp"): (1, 3.0), ("death_28d_again", "home"): (0, 28.0),
        ("death_28d_again", "alive"): (0, 28.0),
        # in hospital: the death at 3 d; the others censored at discharge (intime + 120 h = 5 d)
        ("hospital_death", "inhosp"): (1, 3.0), ("hospital_death", "home"): (0, 5.0),
        ("hospital_death", "alive"): (0, 5.0),
    }


def test_the_28_day_secondary_equals_the_primary_outcome(db):
    con, s = db
    got = rows(con, s, [{"name": "d28", "kind": "death_within", "horizon_days": 28}])
    primary = {sid: (d, t) for sid, d, t in query(con, "SELECT stay_id, death_28d, time_days FROM study.outcome")}
    for name, row in s.items():
        assert got[("d28", name)] == primary[row["stay_id"]]


def test_the_cohort_carries_each_secondary_outcome(db):
    con, s = db
    st = study_from_definition({"name": "t", "title": "t", "question": "q", "exposure": {"itemids": [222011]},
                                "outcome": {"secondary": [{"name": "hospital_death", "kind": "in_hospital_death"}]}})
    df, _ = cohort.build_cohort(con, st, SQL_DIR)
    by_id = {v["stay_id"]: k for k, v in s.items()}
    got = {by_id[r.stay_id]: (r.hospital_death, r.hospital_death_time_days) for r in df.itertuples()}
    assert got == {"inhosp": (1, 3.0), "home": (0, 5.0), "alive": (0, 5.0)}
    assert df["hospital_death"].dtype == "int64" and cohort.secondary_outcome_columns(st) == [
        "hospital_death", "hospital_death_time_days"]
