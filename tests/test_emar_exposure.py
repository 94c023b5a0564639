"""The exposure from hosp.emar (sql/cohort/exposure_event_emar.sql, then cohort/exposure.sql):
administered vs not given, route rules (the parent row carries the route, IV has none), the dose
of the formulary-dose rows, the window's edges, on hand-built stays; the same definition
computed again in pandas on the real MIMIC-IV demo; and the tables a study needs (hosp.emar is
required, checked and converted only for a study that reads it)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from icu_cohort import cohort, loader, pipeline
from icu_cohort.config import ConfigError
from icu_cohort.mimic_tables import OPTIONAL_TABLES, TABLES, table
from icu_cohort.study import Study, load_study, study_from_definition
from test_cohort_support import REPO, Mimic, h, query
from test_sources import pg_server  # noqa: F401  (the PostgreSQL server fixture)

BASE = {"name": "t", "title": "t", "question": "q"}
IV = {"source": "emar", "drug_patterns": ["^magnesium sulfate"], "excluded_routes": ["PO", "NG"]}
EMAR_KEYS = ["hosp/emar", "hosp/emar_detail"]


def emar_study(**section) -> Study:
    return study_from_definition({**BASE, "exposure": section})


class EmarMimic(Mimic):
    """:class:`Mimic` with hosp.emar / emar_detail (not in the fixture's core tables)."""

    def __init__(self) -> None:
        super().__init__()
        self.emar_rows: dict[str, list[dict]] = {k: [] for k in EMAR_KEYS}

    def given(self, stay, medication, charttime, event_txt="Administered", route=None, doses=(),
              hadm_id="stay"):
        """One emar event of ``stay``'s admission; its parent emar_detail row (``route``; the
        dose due is the sum of ``doses``, never counted) and one formulary-dose row per
        ``(dose_given, unit)`` in ``doses``; ``doses=None``: no emar_detail rows at all."""
        emar_id = f"{stay['subject_id']}-{self.next_id()}"
        self.emar_rows["hosp/emar"].append({
            "subject_id": stay["subject_id"], "hadm_id": stay["hadm_id"] if hadm_id == "stay" else hadm_id,
            "emar_id": emar_id, "charttime": charttime, "medication": medication, "event_txt": event_txt})
        if doses is None:
            return emar_id
        due = sum(float(d) for d, _ in doses if re.fullmatch(r"[0-9.]+", str(d))) or None
        rows = [(None, None if due is None else f"{due:g}", None, route)]
        rows += [(f"1.{i + 1}", None, str(d), None) for i, (d, _) in enumerate(doses)]
        units = [None] + [u for _, u in doses]
        for (ordinal, _due, dose, r), unit in zip(rows, units):
            self.emar_rows["hosp/emar_detail"].append({
                "subject_id": stay["subject_id"], "emar_id": emar_id, "parent_field_ordinal": ordinal,
                "dose_given": dose, "dose_given_unit": unit, "route": r})
        return emar_id

    def connect(self):
        con = super().connect()
        for key in EMAR_KEYS:
            spec = table(key)
            con.execute(f"CREATE TABLE {spec.qualified} (" + ", ".join(f'"{c}" {t}' for c, t in spec.columns) + ")")
            if self.emar_rows[key]:
                marks = ", ".join("?" for _ in spec.column_names)
                con.executemany(f"INSERT INTO {spec.qualified} VALUES ({marks})",
                                [[r[c] for c in spec.column_names] for r in self.emar_rows[key]])
        return con


@pytest.fixture(scope="module")
def db():
    m = EmarMimic()
    s = {name: m.stay() for name in ("none", "iv", "po", "not_given", "mixed", "unknown", "edges", "no_detail",
                                     "no_hadm")}
    # IV magnesium sulfate: no route on any row (as MIMIC-IV records IV); two 2 gm bags, 4 gm due
    m.given(s["iv"], "Magnesium Sulfate", h(5), doses=[("2", "gm"), ("2", "gm")])
    # oral: route PO on the parent row (trimmed, any case); magnesium oxide by mouth
    m.given(s["po"], "Magnesium Sulfate", h(3), route=" po", doses=[("2", "g")])
    m.given(s["po"], "Magnesium Oxide", h(4), route="PO", doses=[("400", "mg")])
    # recorded but not given: Not Given, no event_txt, Stopped (an infusion's end), Hold Dose
    m.given(s["not_given"], "Magnesium Sulfate", h(2), event_txt="Not Given", doses=[("2", "gm")])
    m.given(s["not_given"], "Magnesium Sulfate", h(4), event_txt=None, doses=[("2", "gm")])
    m.given(s["not_given"], "Magnesium Sulfate", h(6), event_txt="Stopped", doses=[("2", "gm")])
    m.given(s["not_given"], "Magnesium Sulfate", h(7), event_txt="Hold Dose", doses=[("2", "gm")])
    # given in other words: late (2000 mg), an infusion started (1 g), trailing blanks
    m.given(s["mixed"], "magnesium sulfate (premix)", h(10), event_txt="Delayed Administered",
            doses=[("2000", "mg")])
    m.given(s["mixed"], "Magnesium Sulfate", h(30), event_txt="Started ", doses=[("1", "GM")])
    # doses that are not a number, and one in mL: given, grams unknown
    m.given(s["unknown"], "Magnesium Sulfate", h(1), doses=[("see MAR", "gm"), ("1-2", "g"), ("50", "mL")])
    # window edges: at intime, 2 h before it, at +24 h, after outtime (72 h)
    m.given(s["edges"], "Magnesium Sulfate", h(0), doses=[("1", "gm")])
    m.given(s["edges"], "Magnesium Sulfate", h(-2), doses=[("1", "gm")])
    m.given(s["edges"], "Magnesium Sulfate", h(24), doses=[("1", "gm")])
    m.given(s["edges"], "Magnesium Sulfate", h(80), doses=[("1", "gm")])
    # an event without emar_detail rows: given, no route recorded, grams unknown
    m.given(s["no_detail"], "Magnesium Sulfate", h(8), doses=None)
    # an event without hadm_id is not linked to the stay, whatever its time
    m.given(s["no_hadm"], "Magnesium Sulfate", h(8), hadm_id=None, doses=[("2", "gm")])
    return m.connect(), s


def exposure(db, **section) -> dict[str, tuple]:
    con, stays = db
    cohort.run_exposure(con, emar_study(**section))
    by_id = {v["stay_id"]: k for k, v in stays.items()}
    rows = query(con, "SELECT stay_id, treated, first_dose_hours, total_dose_g FROM study.exposure")
    assert len(rows) == len(stays)  # every ICU stay, treated or not
    return {by_id[r[0]]: (r[2], None if r[3] is None else round(r[3], 9)) for r in rows if r[1]}


def test_administered_iv_events_with_their_dose_given(db):
    # iv: the two formulary doses (4 g), not the parent row's dose due as well (8 g); mixed:
    # 2000 mg + 1 g; unknown: no grams; edges: from intime (the event 2 h before does not count,
    # the one after outtime never does); no_detail: given, no route recorded, no grams
    assert exposure(db, **IV) == {
        "iv": (5.0, 4.0), "mixed": (10.0, 3.0), "unknown": (1.0, None), "edges": (0.0, 2.0),
        "no_detail": (8.0, None)}


def test_route_rules(db):
    # the oral forms only: PO recorded on the parent row
    assert exposure(db, source="emar", drug_patterns=["^magnesium"], routes=["PO"]) == {"po": (3.0, 2.4)}
    # every route: the oral magnesium sulfate counts too
    every = exposure(db, source="emar", drug_patterns=["^magnesium sulfate"], excluded_routes=[])
    assert every["po"] == (3.0, 2.0) and set(every) == {"iv", "po", "mixed", "unknown", "edges", "no_detail"}


def test_minimum_dose_and_window_edges(db):
    assert exposure(db, **IV, min_dose_g=3) == {"iv": (5.0, 4.0), "mixed": (10.0, 3.0)}
    assert exposure(db, **IV, min_dose_g=4) == {"iv": (5.0, 4.0)}
    # half-open window [0, 24): the event at intime counts, the one at +24 h does not
    assert exposure(db, **IV, window_end_hours=24)["edges"] == (0.0, 1.0)
    assert exposure(db, **IV, window_end_hours=24, min_dose_g=2) == {"iv": (5.0, 4.0), "mixed": (10.0, 2.0)}
    # from 2 h before intime, the earlier event counts
    assert exposure(db, **IV, window_start_hours=-2)["edges"] == (-2.0, 3.0)


@pytest.mark.parametrize("section, message", [
    ({"source": "emar", "drug_patterns": ["x"]}, r"source emar needs a route rule: excluded_routes"),
    ({"source": "emar", "excluded_routes": ["PO"]}, r"exposure\.drug_patterns: required for source emar"),
    ({**IV, "itemids": [1]}, r"exposure\.itemids: not read for source emar"),
    ({"source": "prescriptions", "drug_patterns": ["x"], "routes": ["IV"], "excluded_routes": ["PO"]},
     r"exposure\.excluded_routes: not read for source prescriptions \(only for emar\)"),
])
def test_emar_keys(section, message):
    with pytest.raises(ConfigError, match=message):
        emar_study(**section)


# --------------------------------------------------------------------------------------------
# The tables a study needs
# --------------------------------------------------------------------------------------------


def test_only_an_emar_study_requires_the_emar_tables():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    default = [load_study(name, REPO / "config" / "studies") for name in config["studies"]]
    assert all(st["exposure"]["source"] != "emar" for st in default)
    # the default run converts the core tables, every one of them, as before there was an emar
    # source; no study of it reads emar
    assert pipeline.required_tables(studies=default) == pipeline.required_tables() == sorted(TABLES)
    for st in default:
        assert set(cohort.required_tables(study=st)).isdisjoint(OPTIONAL_TABLES)
        assert "cohort/exposure_event_emar.sql" not in cohort.study_files(st)
    iv = emar_study(**IV)
    assert set(cohort.required_tables(study=iv)) >= set(EMAR_KEYS)
    assert cohort.study_files(iv)[len(cohort.MACROS) + len(cohort.ELIGIBILITY)] == "cohort/exposure_event_emar.sql"
    assert pipeline.required_tables(studies=default + [iv]) == sorted(set(TABLES) | set(EMAR_KEYS))


def test_the_data_check_of_an_emar_study_names_the_missing_emar_files(tmp_path, mimic_demo):
    root = tmp_path / "mimic"
    for key in TABLES:  # the demo's core files, without chartevents, emar, emar_detail
        if key != "icu/chartevents":
            (root / table(key).relpath).parent.mkdir(parents=True, exist_ok=True)
            (root / table(key).relpath).symlink_to(mimic_demo / table(key).relpath)
    keys = pipeline.required_tables(studies=[emar_study(**IV)])
    with pytest.raises(loader.MimicInputError) as err:
        loader.check_sources(root, keys, ["icu/chartevents"])
    assert "hosp/emar.csv.gz" in str(err.value) and "hosp/emar_detail.csv.gz" in str(err.value)
    # the run of the default studies does not look for them
    assert set(loader.check_sources(root, pipeline.required_tables(), ["icu/chartevents"])) == set(TABLES)


# --------------------------------------------------------------------------------------------
# The MIMIC-IV demo: the SQL against pandas
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def demo_frames(demo: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """hosp/emar, hosp/emar_detail (the columns the definition reads) and icu/icustays of the
    demo, read from the csv.gz files by pandas (text as text, empty = missing)."""
    text = {"dtype": str, "keep_default_na": False, "na_values": [""]}
    emar = pd.read_csv(demo / "hosp/emar.csv.gz", usecols=["emar_id", "hadm_id", "charttime", "medication",
                                                           "event_txt"], **text)
    det = pd.read_csv(demo / "hosp/emar_detail.csv.gz", usecols=["emar_id", "parent_field_ordinal", "dose_given",
                                                                 "dose_given_unit", "route"], **text)
    stays = pd.read_csv(demo / "icu/icustays.csv.gz", parse_dates=["intime", "outtime"])
    return emar, det, stays


def pandas_exposure(demo: Path, patterns, excluded=(), routes=(), start=0.0, end=None, min_dose=None):
    """The emar exposure of every ICU stay of the demo, computed from the csv.gz files with pandas:
    ``{stay_id: (first_dose_hours, total_dose_g or None)}`` of the treated stays."""
    emar, det, stays = demo_frames(demo)
    given = emar["event_txt"].str.strip().isin(cohort.EMAR_ADMINISTERED_EVENTS)
    named = emar["medication"].fillna("").str.lower().apply(lambda m: any(re.search(p.lower(), m) for p in patterns))
    ev = emar[given & named & emar["charttime"].notna() & emar["hadm_id"].notna()].copy()
    ev["charttime"] = pd.to_datetime(ev["charttime"])
    ev["hadm_id"] = ev["hadm_id"].astype(int)
    det = det[det["emar_id"].isin(ev["emar_id"])].copy()
    det["route_u"] = det["route"].str.strip().str.upper()
    unit = det["dose_given_unit"].str.strip().str.lower()
    factor = unit.map(lambda u: 1.0 if u in ("g", "gm", "gram", "grams") else 0.001 if u == "mg" else None)
    dose = det["dose_given"].str.strip()
    number = dose.str.fullmatch(r"[0-9]*\.?[0-9]+", na=False)  # '1-2', 'see MAR': no number
    det["grams"] = dose.where(number).astype(float) * factor.astype(float)
    det.loc[det["parent_field_ordinal"].isna(), "grams"] = float("nan")
    per = det.groupby("emar_id").agg(
        grams=("grams", lambda g: g.sum(min_count=1)),
        excluded=("route_u", lambda r: r.isin([x.upper() for x in excluded]).any()),
        listed=("route_u", lambda r: r.isin([x.upper() for x in routes]).any()))
    ev = ev.merge(per, left_on="emar_id", right_index=True, how="left")
    ev["excluded"] = ev["excluded"].fillna(False).astype(bool)
    ev["listed"] = ev["listed"].fillna(False).astype(bool)
    ev = ev[~ev["excluded"] & (ev["listed"] if routes else True)]
    x = ev.merge(stays[["stay_id", "hadm_id", "intime", "outtime"]], on="hadm_id")
    x = x[x["charttime"] < x["outtime"]]
    x["hours"] = (x["charttime"] - x["intime"]).dt.total_seconds() / 3600.0
    x = x[(x["hours"] >= start) & ((x["hours"] < end) if end is not None else True)]
    out = {}
    for stay_id, g in x.groupby("stay_id"):
        total = g["grams"].sum(min_count=1)
        if min_dose is not None and not (total >= min_dose):
            continue
        out[int(stay_id)] = (round(float(g["hours"].min()), 9), None if pd.isna(total) else round(float(total), 9))
    return out


@pytest.fixture(scope="module")
def demo_con(tmp_path_factory):
    from conftest import demo_dir

    demo = demo_dir()
    if not (demo / "hosp" / "emar_detail.csv.gz").is_file():
        pytest.skip(f"the open MIMIC-IV demo (with hosp/emar) is not at {demo}")
    out = tmp_path_factory.mktemp("emar_demo")
    keys = ["hosp/emar", "hosp/emar_detail", "icu/icustays"]
    for key in keys:
        loader.convert_table(demo / table(key).relpath, loader.parquet_path(out, key), table(key), 2, "1GB")
    return loader.connect(out, 2, "1GB", table_keys=keys), demo


@pytest.mark.parametrize("section", [
    {**IV, "excluded_routes": ["PO", "NG", "OG", "PR", "SC", "IM"]},
    {**IV, "window_end_hours": 48, "min_dose_g": 4},
    {"source": "emar", "drug_patterns": ["magnesi"], "routes": ["PO", "NG"]},
])
def test_the_demo_exposure_equals_a_pandas_computation(demo_con, section):
    con, demo = demo_con
    cohort.run_exposure(con, emar_study(**section))
    rows = query(con, "SELECT stay_id, first_dose_hours, total_dose_g FROM study.exposure WHERE treated = 1")
    got = {r[0]: (round(r[1], 9), None if r[2] is None else round(r[2], 9)) for r in rows}
    expected = pandas_exposure(demo, section["drug_patterns"], section.get("excluded_routes", ()),
                               section.get("routes", ()), section.get("window_start_hours", 0.0),
                               section.get("window_end_hours"), section.get("min_dose_g"))
    assert len(got) >= 3  # the demo has magnesium administrations: the comparison can fail
    assert got == expected
    assert query(con, "SELECT count(*) FROM study.exposure")[0][0] == 140  # every demo ICU stay


# --------------------------------------------------------------------------------------------
# The exported SQL (icu-cohort sql --dialect postgres) of an emar study, on a real server
# --------------------------------------------------------------------------------------------


def test_the_postgres_export_of_an_emar_study_gives_duckdbs_exposure(demo_con, pg_server, tmp_path):  # noqa: F811
    """The emar event and exposure statements of the study's PostgreSQL script, run on a
    PostgreSQL server over the demo's emar, emar_detail and icustays, equal DuckDB's tables row
    for row."""
    from test_sources import PG_DERIVED, PG_STUDY, PG_TYPES, _pg_into_duckdb, _pg_run

    from icu_cohort import export_sql

    import psycopg

    pg = pg_server  # skips when PostgreSQL is not installed

    con, _ = demo_con
    with psycopg.connect(pg["uri"], autocommit=True) as conn:
        for key in ("hosp/emar", "hosp/emar_detail", "icu/icustays"):
            spec = table(key)
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.schema}")
            conn.execute(f"CREATE TABLE {spec.qualified} (" + ", ".join(f"{c} {PG_TYPES[t]}" for c, t in spec.columns) + ")")
            csv = tmp_path / f"{spec.name}.csv"
            con.execute(f"COPY (SELECT * FROM {spec.qualified}) TO '{csv}' (HEADER, DELIMITER ',')")
            with conn.cursor() as cur, open(csv, "rb") as src, \
                    cur.copy(f"COPY {spec.qualified} FROM STDIN (FORMAT csv, HEADER true)") as copy:
                copy.write(src.read())
    st = emar_study(**IV, window_end_hours=72, min_dose_g=2)
    statements = [x for x in export_sql.study_statements(st)
                  if x.source in ("cohort/exposure_event_emar.sql", "cohort/exposure.sql")]
    assert [x.creates for x in statements] == ["study.exposure_event", "study.exposure"]
    _pg_run(pg["uri"], export_sql.transpile(statements, "postgres", hosp="mimiciv_hosp", icu="mimiciv_icu",
                                            derived=PG_DERIVED, study_dataset=PG_STUDY))
    cohort.run_exposure(con, st)
    for name in ("exposure_event", "exposure"):
        types = con.execute(f"DESCRIBE study.{name}").fetchall()
        _pg_into_duckdb(pg["uri"], f"{PG_STUDY}.{name}", con, "pg_copy", types)
        assert [con.execute(f"SELECT count(*) FROM ({x} EXCEPT ALL {y})").fetchone()[0]
                for x, y in ((f"FROM study.{name}", "FROM pg_copy"), ("FROM pg_copy", f"FROM study.{name}"))] == [0, 0]
    assert query(con, "SELECT count(*) FROM study.exposure WHERE treated = 1")[0][0] >= 10


def test_a_synthetic_run_of_an_emar_study_stops_naming_the_study_and_tables():
    from icu_cohort import sources

    default = {"sae_mgso4": load_study("sae_mgso4", REPO / "config" / "studies")}
    pipeline.check_synthetic_tables(default)  # the generator writes every table these read
    with pytest.raises(sources.SourceError, match=r"no hosp/emar, hosp/emar_detail \(read by study t: "
                                                  r"hosp/emar, hosp/emar_detail\)"):
        pipeline.check_synthetic_tables({**default, "t": emar_study(**IV)})


def test_snakemake_gives_the_emar_tables_to_the_emar_study_only(mimic_demo, tmp_path):
    """The DAG on the demo with an emar study beside sae_mgso4 (a dry run): the two emar tables
    are converted and are inputs of the emar study's cohort job, not of sae_mgso4's."""
    import subprocess
    import sys

    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "sae_mgso4.yaml").write_text((REPO / "config" / "studies" / "sae_mgso4.yaml").read_text())
    (studies / "emar_iv.yaml").write_text(yaml.safe_dump({**BASE, "name": "emar_iv", "exposure": IV}))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n",
         "--config", f"study_dir={studies}", 'studies=["emar_iv","sae_mgso4"]', f"mimic_dir={mimic_demo}",
         'allow_missing_tables=["icu/chartevents"]'], capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    converted = set(re.findall(r"data/parquet/[^/\s]+/((?:hosp|icu)/\w+)\.parquet", out))
    assert converted == set(TABLES) | set(EMAR_KEYS)
    inputs = {m.group(2): m.group(1) for m in re.finditer(r"rule cohort:\n\s+input: ([^\n]*)\n\s+output: results/[^/]+/(\w+)/", out)}
    assert set(inputs) == {"emar_iv", "sae_mgso4"}
    assert "hosp/emar.parquet" in inputs["emar_iv"] and "hosp/emar_detail.parquet" in inputs["emar_iv"]
    assert "cohort/exposure_event_emar.sql" in inputs["emar_iv"] and "cohort/exposure_event.sql" not in inputs["emar_iv"]
    assert "hosp/emar" not in inputs["sae_mgso4"] and "exposure_event_emar.sql" not in inputs["sae_mgso4"]
    assert "cohort/exposure_event.sql" in inputs["sae_mgso4"]
