"""Tiny hand-built MIMIC-IV databases for the cohort and SQL tests (imported by the other
test_cohort_* / test_sql_* modules), and a check that an empty one has every table.

``Mimic`` collects rows per table (columns and types from ``icu_cohort.mimic_tables``) and
loads them into an in-memory DuckDB as ``mimiciv_hosp.<table>`` / ``mimiciv_icu.<table>``.
``Mimic.sae_stay`` adds a patient whose only ICU stay meets every SAE criterion by
construction (hand-checked below), which single tests then modify.
"""

from __future__ import annotations

import copy
import itertools
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from icu_cohort.sqlrun import run_file

from icu_cohort.mimic_tables import TABLES
from icu_cohort.study import Study, load_study

REPO = Path(__file__).resolve().parents[1]
SQL_DIR = REPO / "sql"
T0 = datetime(2150, 3, 1, 8, 0)  # a default ICU admission time


def h(hours: float, base: datetime = T0) -> datetime:
    """``base`` + ``hours``."""
    return base + timedelta(hours=hours)


def study(name: str = "sae_mgso4") -> dict:
    """A shipped study's validated definition, every default filled in (a fresh copy that a
    test may change before wrapping it in a :class:`Study`)."""
    if name not in _STUDIES:
        _STUDIES[name] = load_study(name, REPO / "config" / "studies").to_dict()["definition"]
    return copy.deepcopy(_STUDIES[name])


_STUDIES: dict[str, dict] = {}


class Mimic:
    """Rows for a tiny MIMIC-IV, loaded into DuckDB by :meth:`connect`."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {key: [] for key in TABLES}
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    def add(self, key: str, **values) -> dict:
        spec = TABLES[key]
        unknown = set(values) - set(spec.column_names)
        if unknown:
            raise KeyError(f"{key} has no column(s) {sorted(unknown)}")
        row = {c: values.get(c) for c in spec.column_names}
        self.rows[key].append(row)
        return row

    # --- one helper per table, with the columns the SQL reads ---------------------------

    def patient(self, subject_id, gender="M", anchor_age=60, anchor_year=2150, dod=None):
        return self.add("hosp/patients", subject_id=subject_id, gender=gender, anchor_age=anchor_age,
                        anchor_year=anchor_year, anchor_year_group="2008 - 2010", dod=dod)

    def admission(self, subject_id, hadm_id, admittime, dischtime, deathtime=None, race="WHITE"):
        return self.add("hosp/admissions", subject_id=subject_id, hadm_id=hadm_id, admittime=admittime,
                        dischtime=dischtime, deathtime=deathtime, race=race,
                        hospital_expire_flag=1 if deathtime else 0, admission_type="EW EMER.")

    def icustay(self, subject_id, hadm_id, stay_id, intime, outtime):
        return self.add("icu/icustays", subject_id=subject_id, hadm_id=hadm_id, stay_id=stay_id,
                        first_careunit="Medical Intensive Care Unit (MICU)",
                        last_careunit="Medical Intensive Care Unit (MICU)", intime=intime, outtime=outtime,
                        los=(outtime - intime).total_seconds() / 86400)

    def chart(self, stay, itemid, charttime, valuenum=None, value=None):
        if value is None and valuenum is not None:
            value = f"{valuenum:g}"
        return self.add("icu/chartevents", subject_id=stay["subject_id"], hadm_id=stay["hadm_id"],
                        stay_id=stay["stay_id"], charttime=charttime, storetime=charttime, itemid=itemid,
                        value=value, valuenum=valuenum)

    def lab(self, stay, itemid, charttime, valuenum, specimen_id=None, value=None):
        return self.add("hosp/labevents", labevent_id=self.next_id(), subject_id=stay["subject_id"],
                        hadm_id=stay["hadm_id"], specimen_id=specimen_id or self.next_id(), itemid=itemid,
                        charttime=charttime, storetime=charttime,
                        value=value if value is not None else (None if valuenum is None else f"{valuenum:g}"),
                        valuenum=valuenum)

    def infusion(self, stay, itemid, starttime, endtime, amount=None, amountuom=None, rate=None,
                 rateuom=None, orderid=None, status="FinishedRunning", weight=80.0):
        orderid = orderid or self.next_id()
        return self.add("icu/inputevents", subject_id=stay["subject_id"], hadm_id=stay["hadm_id"],
                        stay_id=stay["stay_id"], starttime=starttime, endtime=endtime, storetime=starttime,
                        itemid=itemid, amount=amount, amountuom=amountuom, rate=rate, rateuom=rateuom,
                        orderid=orderid, linkorderid=orderid, patientweight=weight,
                        statusdescription=status)

    def output(self, stay, itemid, charttime, value):
        return self.add("icu/outputevents", subject_id=stay["subject_id"], hadm_id=stay["hadm_id"],
                        stay_id=stay["stay_id"], charttime=charttime, storetime=charttime, itemid=itemid,
                        value=value, valueuom="mL")

    def procedure(self, stay, itemid, starttime, endtime, value=1.0):
        return self.add("icu/procedureevents", subject_id=stay["subject_id"], hadm_id=stay["hadm_id"],
                        stay_id=stay["stay_id"], starttime=starttime, endtime=endtime, itemid=itemid,
                        value=value)

    def rx(self, stay, drug, starttime, route="IV", stoptime=None, drug_type="MAIN", dose=None, unit=None):
        return self.add("hosp/prescriptions", subject_id=stay["subject_id"], hadm_id=stay["hadm_id"],
                        pharmacy_id=self.next_id(), starttime=starttime,
                        stoptime=stoptime or starttime + timedelta(days=2), drug_type=drug_type, drug=drug,
                        route=route, dose_val_rx=dose, dose_unit_rx=unit)

    def culture(self, stay, charttime, spec_type_desc="BLOOD CULTURE", chartdate=None, org_name=None):
        when = charttime or chartdate
        return self.add("hosp/microbiologyevents", microevent_id=self.next_id(), subject_id=stay["subject_id"],
                        hadm_id=stay["hadm_id"], micro_specimen_id=self.next_id(),
                        chartdate=datetime(when.year, when.month, when.day), charttime=charttime,
                        spec_itemid=70012, spec_type_desc=spec_type_desc, test_seq=1, org_name=org_name)

    def dx(self, stay, icd_code, icd_version=10, seq_num=1):
        return self.add("hosp/diagnoses_icd", subject_id=stay["subject_id"], hadm_id=stay["hadm_id"],
                        seq_num=seq_num, icd_code=icd_code, icd_version=icd_version)

    def proc_icd(self, stay, icd_code, icd_version=10, seq_num=1):
        return self.add("hosp/procedures_icd", subject_id=stay["subject_id"], hadm_id=stay["hadm_id"],
                        seq_num=seq_num, chartdate=stay["intime"], icd_code=icd_code, icd_version=icd_version)

    # --- a stay that meets every SAE criterion -------------------------------------------

    def stay(self, subject_id=None, hadm_id=None, stay_id=None, intime=T0, los_hours=72.0, age=65,
             gender="M", race="WHITE", dod=None, deathtime=None, anchor_year=2150, new_patient=True):
        """A patient (unless ``new_patient=False``), admission and ICU stay; returns the stay row."""
        subject_id = subject_id or 10_000 + self.next_id()
        hadm_id = hadm_id or 20_000 + self.next_id()
        stay_id = stay_id or 30_000 + self.next_id()
        if new_patient:
            self.patient(subject_id, gender=gender, anchor_age=age - (intime.year - anchor_year),
                         anchor_year=anchor_year, dod=dod)
        self.admission(subject_id, hadm_id, intime - timedelta(hours=6),
                       intime + timedelta(hours=los_hours + 48), deathtime=deathtime, race=race)
        return self.icustay(subject_id, hadm_id, stay_id, intime, intime + timedelta(hours=los_hours))

    def sae_stay(self, gcs=(3, 4, 6), platelets=40.0, **kw):
        """An ICU stay meeting every SAE criterion.

        Clock: heart rate charted from intime. Suspected infection: blood culture at +1 h,
        vancomycin IV at +2 h (suspicion time +1 h). SOFA: platelets ``platelets`` at +2 h
        (40 -> coagulation 3 >= 2), inside [+1 h - 48 h, +1 h + 24 h]. Encephalopathy: GCS eyes
        3, verbal 4, motor 6 = 13 at +3 h (< 15). No diagnosis codes.
        """
        stay = self.stay(**kw)
        intime = stay["intime"]
        for k in range(0, 6):
            self.chart(stay, 220045, h(k, intime), 90.0)  # heart rate
        self.culture(stay, h(1, intime))
        self.rx(stay, "Vancomycin", h(2, intime))
        if platelets is not None:
            self.lab(stay, 51265, h(2, intime), platelets)
        if gcs is not None:
            eyes, verbal, motor = gcs
            self.chart(stay, 220739, h(3, intime), eyes)
            self.chart(stay, 223900, h(3, intime), verbal)
            self.chart(stay, 223901, h(3, intime), motor)
        return stay

    def mgso4(self, stay, hours, grams=2.0, with_bolus_row=True):
        """IV magnesium sulfate as MIMIC-IV charts it: 222011 in grams (+ 227523 mL, same order)."""
        start = h(hours, stay["intime"])
        order = self.next_id()
        self.infusion(stay, 222011, start, start + timedelta(hours=1), amount=grams, amountuom="grams",
                      orderid=order)
        if with_bolus_row:
            self.infusion(stay, 227523, start, start + timedelta(hours=1), amount=grams * 25, amountuom="ml",
                          rate=50.0, rateuom="mL/hour", orderid=order)

    # --- loading -----------------------------------------------------------------------------

    def connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        con.execute("SET threads = 1")
        for schema in ("mimiciv_hosp", "mimiciv_icu"):
            con.execute(f"CREATE SCHEMA {schema}")
        for key, spec in TABLES.items():
            cols = ", ".join(f'"{c}" {t}' for c, t in spec.columns)
            con.execute(f"CREATE TABLE {spec.qualified} ({cols})")
            rows = self.rows[key]
            if rows:
                marks = ", ".join("?" for _ in spec.column_names)
                con.executemany(f"INSERT INTO {spec.qualified} VALUES ({marks})",
                                [[r[c] for c in spec.column_names] for r in rows])
        return con


def run_until(con: duckdb.DuckDBPyConnection, table: str, study_dict: dict | None = None) -> None:
    """Run the concepts' run list, then the study layer, up to the file creating ``table``."""
    from icu_cohort import cohort, concepts

    for f in concepts.concept_files(SQL_DIR):
        for schema in concepts.SCHEMAS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        run_file(con, SQL_DIR / f.path, table=f.qualified)
        if f.qualified == table:
            return
    con.execute("CREATE SCHEMA IF NOT EXISTS study")
    st = Study(study_dict or study())
    params = cohort.sql_params(st)
    for path in cohort.MACROS:
        run_file(con, SQL_DIR / path)
    for path, name in cohort.ELIGIBILITY + (("final_stay", "study.final_stay"),) + cohort.COVARIATES:
        if path == "final_stay":
            con.execute(cohort.final_stay_sql(st))
        else:
            run_file(con, SQL_DIR / path, params, name)
        if name == table:
            return
    raise KeyError(f"no SQL step creates {table}")


def copy_sql(dst: Path) -> Path:
    """A copy of the SQL folder (every .sql file and the run list) at ``dst``, to break one file in."""
    from icu_cohort.concepts import RUN_LIST

    for p in list(SQL_DIR.rglob("*.sql")) + [SQL_DIR / RUN_LIST]:
        target = dst / p.relative_to(SQL_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(p.read_text())
    return dst


def build(con: duckdb.DuckDBPyConnection, study_dict: dict | None = None, sql_dir: Path = SQL_DIR):
    """The concepts (as tables in ``con``) and then the study layer: ``(cohort, attrition)``."""
    from icu_cohort import cohort, concepts

    concepts.build_concepts(con, sql_dir)
    return cohort.build_cohort(con, Study(study_dict or study()), sql_dir)


def query(con: duckdb.DuckDBPyConnection, sql: str, *params) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def test_an_empty_fixture_has_every_mimic_table_with_its_columns():
    con = Mimic().connect()
    for spec in TABLES.values():
        cols = [r[0] for r in con.execute(f"DESCRIBE {spec.qualified}").fetchall()]
        assert cols == spec.column_names


@pytest.fixture()
def mimic() -> Mimic:
    return Mimic()
